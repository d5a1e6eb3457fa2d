"""cnnsize: size convolutional networks from a YAML spec, before anyone trains them.

spec = cnnsize.load("specs/toy.yaml")        # or YAML text
report = cnnsize.analyze(spec, batch_size=8, dtype="float16")
report.totals.params, report.to_dict()
model = cnnsize.build(spec)                  # an nn.Module (needs the `torch` extra)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from cnnsize.backend import build
    from cnnsize.engine import analyze
    from cnnsize.loader import load

__all__ = ["__version__", "analyze", "build", "load"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import cnnsize` stays cheap and never imports torch.
    if name == "load":
        from cnnsize.loader import load

        return load
    if name == "analyze":
        from cnnsize.engine import analyze

        return analyze
    if name == "build":  # torch is imported when `build` is called, not here
        from cnnsize.backend import build

        return build
    raise AttributeError(f"module 'cnnsize' has no attribute {name!r}")
