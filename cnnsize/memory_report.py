"""The memory section of a report: plain figures, computed by the planner (`cnnsize.planner`)
before anything is shown, read by the renderers and by `check`'s budgets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from cnnsize.errors import SpecPath

# (key in JSON, label): the lines of each mode's breakdown, in order
TRAINING_LINES = (
    ("parameter_bytes", "Parameters"),
    ("running_stat_bytes", "Running statistics"),
    ("gradient_bytes", "Gradients"),
    ("optimizer_state_bytes", "Optimizer state"),
    ("gradient_bucket_bytes", "Gradient buckets (DDP)"),
    ("unsharded_parameter_bytes", "Gathered parameters (FSDP)"),
    ("communication_buffer_bytes", "Communication buffers"),
    ("weight_copy_bytes", "Weight copies (autocast)"),
    ("saved_activation_bytes", "Saved activations"),
    ("input_bytes", "Input batch"),
    ("activation_gradient_bytes", "Activation gradients (backward)"),
    ("optimizer_temporary_bytes", "Optimizer step temporaries"),
    ("recompute_bytes", "Recomputed block (backward)"),
)
INFERENCE_LINES = (
    ("parameter_bytes", "Parameters"),
    ("running_stat_bytes", "Running statistics"),
    ("activation_peak_bytes", "Tensors alive at the peak"),
)


@dataclass(frozen=True)
class Footprint:
    """One mode's breakdown at one batch size, exact bytes by line; `total_bytes` sums them."""

    mode: str
    optimizer: Optional[str]
    batch_size: int
    lines: dict[str, int]
    rank: Optional[int] = None  # on several GPUs, the rank these lines are (cnnsize.parallel)
    moment: Optional[str] = None  # training: the moment of the step the lines are (cnnsize.step)

    @property
    def total_bytes(self) -> int:
        """The sum of the lines."""
        return sum(self.lines.values())

    def labelled(self) -> list[tuple[str, int]]:
        """(label, bytes) for each line of the breakdown, in order."""
        labels = TRAINING_LINES if self.mode == "training" else INFERENCE_LINES
        return [(label, self.lines[key]) for key, label in labels if key in self.lines]

    def to_dict(self) -> dict[str, Any]:
        """`total_bytes` and each line's bytes, by its JSON key."""
        rank = {} if self.rank is None else {"rank": self.rank}
        moment = {} if self.moment is None else {"peak_moment": self.moment}
        return {"total_bytes": self.total_bytes, **rank, **moment, **self.lines}


@dataclass(frozen=True)
class MemoryReport:
    """The memory section of a report at its batch size: both footprints (training's is None where
    autograd cannot train, with `untrainable` saying why), and what each layer saves for backward
    (`saved_by`: by the spec path of every row, composites summing their layers)."""

    device: str
    amp: Optional[str]
    described: str  # the precision, as a person reads it: `float32`, `bf16 mixed precision (float32 weights)`
    untrainable: Optional[str]
    optimizer: str
    batch_size: int
    training: Optional[Footprint]
    inference: Footprint
    saved_bytes: int
    saved_by: dict[SpecPath, int]
    step: tuple[tuple[str, int], ...] = ()  # training: each moment of a step and what it holds (cnnsize.step)

    @property
    def trainable(self) -> bool:
        """Whether autograd can train at this precision (not int8)."""
        return self.untrainable is None

    def saved_at(self, path: SpecPath) -> int:
        """Bytes saved for backward by the layer at `path` (a spec path), or by all the layers below it."""
        return self.saved_by.get(path, 0)

    def to_dict(self) -> dict[str, Any]:
        """The report's `memory` in JSON: settings, bytes saved for backward, both footprints."""
        return {
            "device": self.device,
            "amp": self.amp,
            "optimizer": self.optimizer,
            "saved_for_backward_bytes": self.saved_bytes if self.trainable else None,
            "training": self.training.to_dict() if self.training is not None else None,
            "inference": self.inference.to_dict(),
        }
