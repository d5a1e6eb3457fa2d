"""Command-line options shared by cnnsize's commands, declared once."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, List, Optional

import typer

from cnnsize.units import DTYPE_BYTES


class Format(str, Enum):
    """Every reporting command prints each of these."""

    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


def positive(value: Optional[int]) -> Optional[int]:
    """Option callback: a count that must be at least 1 (exit 2 otherwise)."""
    if value is not None and value < 1:
        raise typer.BadParameter(f"must be a positive integer, got {value}")
    return value


def non_negative(value: Optional[int]) -> Optional[int]:
    """Option callback: a count that may be 0 (exit 2 below)."""
    if value is not None and value < 0:
        raise typer.BadParameter(f"must be 0 or more, got {value}")
    return value


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
BatchOption = Annotated[
    int, typer.Option("--batch-size", "-b", callback=positive, metavar="N", help="Batch size for work and memory.")
]


DType = Enum("DType", {name: name for name in DTYPE_BYTES}, type=str)  # type: ignore[misc]  # one list of dtypes


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
