"""Each counting convention of `cnnsize.conventions` against the tool it names, kind by kind.

For every row of the kind tables the tests run against PyTorch (`tests/test_kinds_torch.py` and
`tests/graph_rows.py`: every layer kind, in small networks) and for a few zoo networks, the model is
built with `cnnsize.build`, put in eval mode, and each installed tool counts it; cnnsize's figure under
that tool's convention is printed beside it, and every difference is listed. Exit status 1 when any
differs.

The tools are optional, installed only for this check (never for the tests); one that is not
installed is reported and skipped:

    pip install torchinfo fvcore ptflops ultralytics-thop deepspeed
    python benchmarks/conventions.py [--models resnet18 mobilenet_v3_large]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import logging
import os
import sys
import warnings
from typing import Any, Callable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import cnnsize  # noqa: E402
from cnnsize.conventions import CONVENTIONS, counted  # noqa: E402

MODELS = ("resnet18", "mobilenet_v3_large", "efficientnet_b0", "shufflenet_v2_x1_0", "convnext_tiny", "googlenet")
BATCH = 2  # every tool but ptflops counts the batch it is given; ptflops always counts one sample


def _built(spec: cnnsize.Spec, batch: int) -> tuple[Any, Any]:
    model = cnnsize.build(spec).eval()
    return model, model.example_input(batch)


def _pytorch(spec: cnnsize.Spec) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    model, x = _built(spec, BATCH)
    with FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def _torchinfo(spec: cnnsize.Spec) -> int:
    from torchinfo import summary

    model, x = _built(spec, BATCH)
    return int(summary(model, input_data=x, verbose=0).total_mult_adds)


def _fvcore(spec: cnnsize.Spec) -> int:
    from fvcore.nn import FlopCountAnalysis

    model, x = _built(spec, BATCH)
    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(analysis.total())


def _ptflops(backend: str) -> Callable[[cnnsize.Spec], int]:
    def count(spec: cnnsize.Spec) -> int:
        from ptflops import get_model_complexity_info

        model, x = _built(spec, 1)
        with contextlib.redirect_stdout(io.StringIO()):
            macs, _ = get_model_complexity_info(
                model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False, backend=backend
            )
        if macs is None:
            raise RuntimeError("ptflops gave no figure (it prints the model's error and returns None)")
        return int(macs)

    return count


def _thop(spec: cnnsize.Spec) -> int:
    from thop import profile

    model, x = _built(spec, BATCH)
    with contextlib.redirect_stdout(io.StringIO()):
        ops, _ = profile(model, inputs=(x,), verbose=False)
    return int(ops)


def _deepspeed(spec: cnnsize.Spec) -> int:
    from deepspeed.profiling.flops_profiler import get_model_profile

    model, x = _built(spec, BATCH)
    with contextlib.redirect_stdout(io.StringIO()):
        flops, _, _ = get_model_profile(model, args=[x], print_profile=False, as_string=False)
    return int(flops)


# convention -> (the module it needs, its count of a spec, the batch it counts)
TOOLS: dict[str, tuple[str, Callable[[cnnsize.Spec], int], int]] = {
    "pytorch": ("torch", _pytorch, BATCH),
    "torchinfo": ("torchinfo", _torchinfo, BATCH),
    "fvcore": ("fvcore", _fvcore, BATCH),
    "ptflops": ("ptflops", _ptflops("pytorch"), 1),
    "ptflops-aten": ("ptflops", _ptflops("aten"), 1),
    "thop": ("thop", _thop, BATCH),
    "deepspeed": ("deepspeed", _deepspeed, BATCH),
}


def cases(models: tuple[str, ...]) -> list[tuple[str, cnnsize.Spec]]:
    """(label, spec) for every kind row of the tests, then the zoo networks asked for."""
    from graph_rows import GRAPHS
    from test_kinds_torch import ROWS

    def kind(layer: Any) -> str:
        return layer if isinstance(layer, str) else layer["type"]

    data = [(kind(layer), {"input": inp, "layers": [layer]}) for inp, layer in ROWS] + list(GRAPHS)
    found = [(f"{label} #{i}", cnnsize.load(json.dumps({"name": label, **d}))) for i, (label, d) in enumerate(data)]
    return found + [(name, cnnsize.load(name)) for name in models]


def measure(count: Callable[[cnnsize.Spec], int], spec: cnnsize.Spec) -> Optional[int]:
    try:
        return count(spec)
    except Exception as error:  # a tool that cannot count a model says so; the row is not compared
        print(f"    ({type(error).__name__}: {str(error)[:100]})")
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--conventions", nargs="*", default=list(CONVENTIONS))
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    warnings.filterwarnings("ignore")
    differences, compared = [], 0
    tools = {}
    for name in args.conventions:
        module, count, batch = TOOLS[name]
        if importlib.util.find_spec(module) is None:
            print(f"{name}: {module} is not installed, skipped")
        else:
            tools[name] = (count, batch)
    print(f"{'network':<28}" + "".join(f"{name:>32}" for name in tools))
    for label, spec in cases(tuple(args.models)):
        cells = []
        for name, (count, batch) in tools.items():
            ours = counted(cnnsize.analyze(spec, batch_size=batch), name).total
            theirs = measure(count, spec)
            if theirs is None:
                cells.append(f"{ours:,} / failed")
                continue
            compared += 1
            cells.append(f"{ours:,} {'=' if ours == theirs else '!='} {theirs:,}")
            if ours != theirs:
                differences.append(f"{label}, {name}: cnnsize {ours:,}, the tool {theirs:,}")
        print(f"{label:<28}" + "".join(f"{cell:>32}" for cell in cells), flush=True)
    print(f"\n{compared} figures compared (cnnsize = the tool), {len(differences)} differ")
    for line in differences:
        print("  " + line)
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
