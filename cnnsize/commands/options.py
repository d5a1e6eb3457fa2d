"""Command-line options shared by cnnsize's commands, declared once."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, List, Optional

import typer

from cnnsize.units import DTYPE_BYTES


class Format(str, Enum):
    """Every reporting command prints each of these."""

    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"
    latex = "latex"
    html = "html"


# Upper bounds of the numeric options: far beyond any real use, low enough that every figure they
# lead to is computed and printed at once (a usage error, exit 2, saying the bound, above them)
MAX_BATCH_SIZE = 1_000_000_000
MAX_DEPTH = 1_000  # rows nest far less deep: a spec's YAML nests at most 64 levels
MAX_ITERATIONS = 1_000_000
MAX_BYTES = 2**64  # --memory: 16 EiB, a 64-bit address space


def bounded(low: int, high: int) -> Callable[[Optional[int]], Optional[int]]:
    """Option callback: an integer from `low` to `high` (exit 2 outside, saying the bound)."""

    def check(value: Optional[int]) -> Optional[int]:
        if value is None:
            return value
        if value < low:
            raise typer.BadParameter(
                f"must be a positive integer, got {value}" if low == 1 else f"must be {low} or more, got {value}"
            )
        if value > high:
            raise typer.BadParameter(f"must be at most {high:,}, got {value}")
        return value

    return check


positive = bounded(1, MAX_ITERATIONS)
non_negative = bounded(0, MAX_ITERATIONS)


def input_shape(text: Optional[str]) -> Optional[tuple[int, ...]]:
    """`--input`'s value: `C,H,W` (or `C,L`, `F`), positive integers, as a shape."""
    if text is None:
        return None
    parts = text.replace(" ", "").split(",")
    if len(text) > 100 or not 1 <= len(parts) <= 3 or not all(p.isdigit() and len(p) <= 18 for p in parts):
        raise typer.BadParameter(f"must be C,H,W (or C,L or F): 1 to 3 positive integers, got {text[:40]!r}")
    shape = tuple(int(p) for p in parts)
    if min(shape) < 1:
        raise typer.BadParameter(f"sizes must be positive, got {text!r}")
    return shape


InputOption = Annotated[
    Optional[str],
    typer.Option(
        "--input",
        "-i",
        callback=lambda text: input_shape(text) and text,  # refused while options are read, named
        metavar="C,H,W",
        help="Use this input instead of the spec's (3,512,512): every size and figure follows it.",
    ),
]


def assignments(texts: Optional[List[str]]) -> dict[str, Any]:
    """`--set`'s values by name, each VALUE read as YAML (`num_classes=21`, `width=0.5`,
    `act=relu`); a bad one is a usage error (exit 2) naming the option."""
    from cnnsize.params import parse_assignments

    try:
        return parse_assignments(texts)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="'--set'") from None


def _checked_assignments(texts: Optional[List[str]]) -> Optional[List[str]]:
    """Option callback: `--set`'s values, as given, once each reads (refused while options are read)."""
    assignments(texts)
    return texts


SetOption = Annotated[
    Optional[List[str]],
    typer.Option(
        "--set",
        callback=_checked_assignments,
        metavar="NAME=VALUE",
        help="Set a parameter the spec declares in `params:` (VALUE read as YAML: --set num_classes=21). Repeatable.",
    ),
]
DepthOption = Annotated[
    Optional[int],
    typer.Option(
        "--depth",
        "-d",
        callback=bounded(1, MAX_DEPTH),
        metavar="N",
        help="At most N levels of composites: one at the last level is one row (one box in a drawing) "
        f"summing those below (N at most {MAX_DEPTH:,}).",
    ),
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
OutputOption = Annotated[
    Optional[Path],
    typer.Option("--output", "-o", metavar="FILE", help="Write to FILE instead of standard output."),
]
BatchOption = Annotated[
    int,
    typer.Option(
        "--batch-size",
        "-b",
        callback=bounded(1, MAX_BATCH_SIZE),
        metavar="N",
        help=f"Batch size for work and memory (at most {MAX_BATCH_SIZE:,}).",
    ),
]


DType = Enum("DType", {name: name for name in DTYPE_BYTES}, type=str)  # type: ignore[misc]  # one list of dtypes


CONVENTION_NAMES = "pytorch, torchinfo, fvcore, ptflops, ptflops-aten, thop, deepspeed"  # tested against the rules


def convention_name(text: Optional[str]) -> Optional[str]:
    """`--convention`'s value, checked against `cnnsize.conventions`, which is loaded only when one
    is given: every command's start-up (`check`'s in pre-commit) stays without the rule tables."""
    if text is None:
        return None
    from cnnsize.conventions import CONVENTIONS

    if text not in CONVENTIONS:
        raise typer.BadParameter(f"unknown convention {text!r}; choose one of {', '.join(CONVENTIONS)}")
    return text


ConventionOption = Annotated[
    Optional[str],
    typer.Option(
        "--convention",
        metavar="NAME",
        callback=convention_name,
        help=f"Also count as this tool does ({CONVENTION_NAMES}), to compare with a paper's or the tool's "
        "own figure (cnnsize's FLOPs are pytorch's: FlopCounterMode, 2 x MACs). See docs/counting.md.",
    ),
]


class Optimizer(str, Enum):
    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"
    adamw = "adamw"


class Amp(str, Enum):
    bf16 = "bf16"
    fp16 = "fp16"


class Rules(str, Enum):
    cuda = "cuda"
    cpu = "cpu"


SpecArgs = Annotated[
    List[str], typer.Argument(help="Spec files (YAML), zoo names, or - for standard input.", metavar="SPEC")
]
DTypeOption = Annotated[Optional[DType], typer.Option("--dtype", help="Data type (default: the spec's, else float32).")]
OptimizerOption = Annotated[
    Optimizer,
    typer.Option("--optimizer", help="Optimizer state for training: none (sgd), 1x (momentum), 2x (adam, adamw)."),
]
AmpOption = Annotated[
    Optional[Amp], typer.Option("--amp", help="Mixed precision: half activations, float32 master weights.")
]
RulesOption = Annotated[
    Rules,
    typer.Option("--device", help="Whose PyTorch rules the memory figures follow (dropout masks and autocast differ)."),
]


class View(str, Enum):
    """What `report` shows: the layer table, or one of the lecture's views (docs/views.md)."""

    table = "table"
    sharing = "sharing"
    paths = "paths"


ViewOption = Annotated[
    View,
    typer.Option(
        "--view",
        help="table: the layers and totals; sharing: each convolution against a locally and a fully connected "
        "layer; paths: the network unrolled into paths and their lengths (docs/views.md).",
    ),
]
