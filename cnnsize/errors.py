"""The errors a user can cause, each carrying where in the spec it happened.

User errors (`CnnsizeError` and its subclasses) are turned into one clear message and an exit code
at the command boundary; anything else escaping is a bug in cnnsize and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Union

PathKey = Union[str, int]
SpecPath = tuple[PathKey, ...]


def format_path(path: SpecPath) -> str:
    """`('layers', 3, 'kernel_size')` -> `layers[3].kernel_size`."""
    text = ""
    for key in path:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            text += f".{key}" if text else str(key)
    return text


@dataclass(frozen=True)
class Location:
    """A place in a spec: the file, 1-based line and column where known, and the spec path.

    `context` says, for a place inside a block's definition, which use of the block (and which
    repeat) the problem arose in; see `cnnsize.blocks`.
    """

    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: SpecPath = ()
    context: str | None = None

    def prefix(self) -> str:
        """`file:line:col` as compilers print it (unknown parts left out)."""
        parts = [self.file or "<spec>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


@dataclass(frozen=True)
class Problem:
    """One mistake (or, with `severity` "warning", something that is likely one): where, and what."""

    location: Location
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = format_path(self.location.path)
        text = f"{where}: {self.message}" if where else self.message
        if self.location.context:
            text += f" ({self.location.context})"
        return f"{self.location.prefix()}: {self.severity}: {text}"


class CnnsizeError(Exception):
    """Base of every error a user can cause; the CLI prints it without a traceback."""

    exit_code = 1


class UsageError(CnnsizeError):
    """A bad command-line option or argument (exit code 2, as click uses)."""

    exit_code = 2


class SpecError(CnnsizeError):
    """One or more problems in a spec, each with its location."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def at(cls, message: str, location: Location) -> "SpecError":
        return cls([Problem(location, message)])


class SpecFileError(SpecError):
    """The file itself cannot be read as a spec (missing, a directory, binary, not UTF-8)."""


class PathArgumentError(SpecFileError):
    """A path on the command line names no file: nothing there, or a directory (a usage error)."""

    exit_code = 2


class OverrideError(SpecError):
    """A spec parameter set from outside the spec (`--set`, `load(..., params=)`) that the spec does
    not declare, or to a value no parameter takes: a usage error (exit code 2), located at the
    spec's `params` where it has one."""

    exit_code = 2


class LayerRuleError(Exception):
    """Raised by a layer kind's shape rule; the engine adds the layer's location.

    `field` names the field the problem is best pointed at (for example `kernel_size`), if any.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
