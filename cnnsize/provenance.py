"""The provenance stamp every output carries: which cnnsize counted, at what input resolution,
batch size and dtype, and by which counting convention, so that a figure copied into a paper or a
pull request says what it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from cnnsize.conventions import CONVENTIONS, DEFAULT, Convention
from cnnsize.shapes import shape_text

if TYPE_CHECKING:
    from cnnsize.report import Report


Inputs = tuple[tuple[str, tuple[int, ...]], ...]  # (name, shape) of each input, as a report's


@dataclass(frozen=True)
class Stamp:
    """What a report's figures depend on besides the spec."""

    version: str
    inputs: Inputs
    batch_size: int
    dtype: str
    convention: Optional[Convention]  # None where no work is counted (a memory plan)

    def text(self) -> str:
        """`cnnsize 0.1.0, input 3x224x224, batch 1, float32, convention pytorch (...)`: one
        line, ASCII only (it goes wherever the output goes)."""
        if len(self.inputs) == 1:
            inputs = f"input {_size(self.inputs[0][1])}"
        else:
            inputs = "inputs " + ", ".join(f"{name} {_size(shape)}" for name, shape in self.inputs)
        text = f"cnnsize {self.version}, {inputs}, batch {self.batch_size}, {self.dtype}"
        if self.convention is None:
            return text
        return f"{text}, convention {self.convention.name} ({self.convention.tool})"

    def to_dict(self) -> dict[str, Any]:
        """The stamp as JSON fields."""
        data: dict[str, Any] = {
            "cnnsize": self.version,
            "inputs": [{"name": name, "shape": list(shape)} for name, shape in self.inputs],
            "batch_size": self.batch_size,
            "dtype": self.dtype,
        }
        if self.convention is not None:
            data["convention"] = self.convention.name
            data["convention_counts"] = self.convention.counts
        return data


def _size(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else shape_text(shape)


def made_at(inputs: Inputs, batch_size: int, dtype: str, convention: Optional[Convention] = None) -> Stamp:
    """The stamp of figures counted at these inputs, batch size, dtype (and convention)."""
    from cnnsize import __version__  # the package's own: its top is the commands' layer

    return Stamp(__version__, inputs, batch_size, dtype, convention)


def stamp(report: Report) -> Stamp:
    """`report`'s stamp; its convention is the one it was counted by (`--convention`), else PyTorch's."""
    convention = report.counted.convention if report.counted is not None else CONVENTIONS[DEFAULT]
    return made_at(report.inputs, report.batch_size, report.dtype, convention)


def compared(old: Report, new: Report) -> str:
    """The stamp of a comparison: one line when both reports were counted alike (the names
    aside), else each side's."""
    before, after = stamp(old).text(), stamp(new).text()
    return after if before == after else f"old: {before}; new: {after}"
