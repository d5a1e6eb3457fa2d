"""Command-line options shared by cnnsize's commands, declared once."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer


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
