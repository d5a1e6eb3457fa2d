"""cnnsize: size convolutional networks from a YAML spec, before anyone trains them.

spec = cnnsize.load("specs/toy.yaml")        # or YAML text, or a zoo model's name
cnnsize.load("resnet18", params={"num_classes": 21})   # a spec's `params:` set, as --set does
report = cnnsize.analyze(spec, batch_size=8, dtype="float16")
report.totals.params, report.to_dict()
model = cnnsize.build(spec)                  # an nn.Module (needs the `torch` extra)
cnnsize.plan(spec, 24 * 2**30, optimizer="adam").batch_size   # the largest batch that fits
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # what type checkers see; `x as x` marks a re-export
    from cnnsize.backend import build as build
    from cnnsize.engine import analyze as analyze
    from cnnsize.errors import CnnsizeError as CnnsizeError
    from cnnsize.errors import Problem as Problem
    from cnnsize.errors import SpecError as SpecError
    from cnnsize.loader import load as load
    from cnnsize.memory_report import Footprint as Footprint
    from cnnsize.memory_report import MemoryReport as MemoryReport
    from cnnsize.planner import Plan as Plan
    from cnnsize.planner import plan as plan
    from cnnsize.planner import with_memory as with_memory
    from cnnsize.report import LayerRow as LayerRow
    from cnnsize.report import ReceptiveField as ReceptiveField
    from cnnsize.report import Report as Report
    from cnnsize.report import Totals as Totals
    from cnnsize.schema import Spec as Spec

# Public name -> the module defining it, imported on first use so that `import cnnsize` stays cheap
# and never imports torch.
_LAZY = {
    "load": "cnnsize.loader",
    "analyze": "cnnsize.engine",
    "build": "cnnsize.backend",  # torch is imported when `build` is called, not here
    "Spec": "cnnsize.schema",
    "Report": "cnnsize.report",
    "LayerRow": "cnnsize.report",
    "Totals": "cnnsize.report",
    "ReceptiveField": "cnnsize.report",
    "CnnsizeError": "cnnsize.errors",
    "SpecError": "cnnsize.errors",
    "Problem": "cnnsize.errors",
    "plan": "cnnsize.planner",
    "with_memory": "cnnsize.planner",
    "Plan": "cnnsize.planner",
    "MemoryReport": "cnnsize.memory_report",
    "Footprint": "cnnsize.memory_report",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cnnsize' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
