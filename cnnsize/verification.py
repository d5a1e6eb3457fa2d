"""Results of `cnnsize verify`: the engine's figures beside PyTorch's, and what was measured.

Plain data that imports neither torch nor rich: the backend fills a `Measurement`, `compare` sets it
against the engine's `Report`, and the renderer shows the `Verification`. `to_dict()` is the JSON
that `cnnsize verify --format json` prints; counts and bytes are exact integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from cnnsize.errors import SpecPath, format_path
from cnnsize.report import LayerRow, Report
from cnnsize.shapes import shapes_text

Shape = tuple[int, ...]

# quantity -> (label, the engine's figure for one row)
QUANTITIES: dict[str, tuple[str, Callable[[LayerRow], int]]] = {
    "params": ("Trainable params", lambda row: row.params),
    "non_trainable_params": ("Running statistics", lambda row: row.non_trainable_params),
    "flops": ("FLOPs", lambda row: row.flops),
}


@dataclass(frozen=True)
class Figure:
    """One count by the engine and by PyTorch."""

    quantity: str
    engine: int
    measured: int

    @property
    def label(self) -> str:
        return QUANTITIES[self.quantity][0]

    @property
    def matches(self) -> bool:
        return self.engine == self.measured

    def diff_text(self) -> str:
        """`params: engine 2,304, PyTorch 2,320 (+16)`."""
        return f"{self.label}: engine {self.engine:,}, PyTorch {self.measured:,} ({self.measured - self.engine:+,})"

    def to_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "pytorch": self.measured, "match": self.matches}


@dataclass(frozen=True)
class LayerCheck:
    """One report row (a leaf layer, or a composite's `add`/`cat`) against the module built for it.

    Shapes include the batch. A merge row is checked on the composite module's output and carries
    no counts of its own (its sequences' layers carry them).
    """

    path: SpecPath
    name: Optional[str]
    type: str
    module: str
    engine_shape: Any  # a shape (batch first), or a tuple of them for a layer of several outputs
    measured_shape: Optional[Any]
    figures: tuple[Figure, ...] = ()

    @property
    def shape_matches(self) -> bool:
        return self.engine_shape == self.measured_shape

    @property
    def matches(self) -> bool:
        return self.shape_matches and all(f.matches for f in self.figures)

    @property
    def label(self) -> str:
        path = format_path(self.path)
        return f"{path} ({self.name})" if self.name else path

    def failures(self) -> list[str]:
        where = f"{self.label} [{self.type}, module {self.module}]"
        lines = []
        if not self.shape_matches:
            real = shown(self.measured_shape) if self.measured_shape is not None else "no tensor output"
            lines.append(f"{where}: output shape: engine {shown(self.engine_shape)}, PyTorch {real}")
        lines += [f"{where}: {f.diff_text()}" for f in self.figures if not f.matches]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": format_path(self.path),
            "name": self.name,
            "type": self.type,
            "module": self.module,
            "engine_shape": _listed(self.engine_shape),
            "pytorch_shape": _listed(self.measured_shape) if self.measured_shape is not None else None,
            "match": self.matches,
            **{f.quantity: f.to_dict() for f in self.figures},
        }


def batched(batch_size: int, shapes: tuple[Shape, ...]) -> Any:
    """Output shapes with the batch in front: one shape, or a tuple of them for several outputs."""
    if len(shapes) == 1:
        return (batch_size, *shapes[0])
    return tuple((batch_size, *shape) for shape in shapes)


def shown(shape: Any) -> str:
    """A shape, or several, as text."""
    return shapes_text(shape if shape and isinstance(shape[0], tuple) else (shape,))


def _listed(shape: Any) -> list[Any]:
    return [_listed(s) if isinstance(s, tuple) else s for s in shape]


@dataclass(frozen=True)
class Measurement:
    """What the backend measured in one forward pass at the verified batch size.

    `shapes` is keyed by module name, `layer_counts` by spec path (leaf layers), `totals` by
    quantity (see `QUANTITIES`); `call_shapes`, by spec path, the output shape of each call of a
    module called at several layers (shared weights), where one shape per module would not do.
    """

    shapes: dict[str, Shape]
    layer_counts: dict[SpecPath, dict[str, int]]
    totals: dict[str, int]
    call_shapes: dict[SpecPath, Shape] = field(default_factory=dict)


def compare(
    report: Report, module_names: dict[SpecPath, str], measured: Measurement
) -> tuple[tuple[LayerCheck, ...], tuple[Figure, ...]]:
    """Every leaf and merge row of `report` against `measured`, and the totals."""
    layers = []
    for row in report.leaves():
        module = module_names[row.path]
        counts = measured.layer_counts.get(row.path)
        figures = (
            () if counts is None else tuple(Figure(q, rule(row), counts[q]) for q, (_, rule) in QUANTITIES.items())
        )
        layers.append(
            LayerCheck(
                path=row.path,
                name=row.name,
                type=row.type,
                module=module,
                engine_shape=batched(report.batch_size, row.output_shapes),
                measured_shape=measured.call_shapes.get(row.path, measured.shapes.get(module)),
                figures=figures,
            )
        )
    engine_totals = {"params": report.totals.params, "non_trainable_params": report.totals.non_trainable_params}
    engine_totals["flops"] = report.totals.flops
    totals = tuple(Figure(q, engine_totals[q], measured.totals[q]) for q in QUANTITIES)
    return tuple(layers), totals


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 to 100), interpolating linearly between ranks (numpy's default)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Throughput:
    """Timed iterations of one step (`inference`: a forward pass; `training`: forward, backward and
    an SGD step) on a batch of `batch_size`. Latencies in seconds per step."""

    mode: str
    batch_size: int
    warmup: int
    iterations: int
    median_s: float
    p10_s: float
    p90_s: float
    mean_images_per_s: float
    flops_per_step: int

    @classmethod
    def from_latencies(
        cls, latencies: Sequence[float], total_seconds: float, *, mode: str, batch_size: int, warmup: int, flops: int
    ) -> "Throughput":
        """`flops` are the engine's forward FLOPs for the batch; a training step counts 3 x those
        (backward is about twice the forward: the usual convention for training FLOP/s)."""
        return cls(
            mode=mode,
            batch_size=batch_size,
            warmup=warmup,
            iterations=len(latencies),
            median_s=percentile(latencies, 50),
            p10_s=percentile(latencies, 10),
            p90_s=percentile(latencies, 90),
            mean_images_per_s=batch_size * len(latencies) / total_seconds,
            flops_per_step=flops * (3 if mode == "training" else 1),
        )

    @property
    def images_per_s(self) -> float:
        """Images per second at the median latency."""
        return self.batch_size / self.median_s

    @property
    def flops_per_s(self) -> float:
        """Achieved FLOP/s at the median latency, from the engine's FLOPs."""
        return self.flops_per_step / self.median_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "batch_size": self.batch_size,
            "warmup": self.warmup,
            "iterations": self.iterations,
            "latency_s": {"median": self.median_s, "p10": self.p10_s, "p90": self.p90_s},
            "images_per_s": self.images_per_s,
            "mean_images_per_s": self.mean_images_per_s,
            "flops_per_step": self.flops_per_step,
            "flops_per_s": self.flops_per_s,
        }


@dataclass(frozen=True)
class Memory:
    """Bytes autograd saved for backward in one training-mode forward pass (each storage once),
    beside the memory model's estimate of them (`model_saved_bytes`) and the engine's activation
    bytes; on CUDA, the peak allocated while timing beside the model's footprint of the timed mode
    (`engine_estimate_bytes`: parameters, running statistics and, for training with SGD, gradients
    and what autograd saves; for inference, the most tensors alive at once)."""

    saved_activation_bytes: int
    saved_parameter_bytes: int
    engine_activation_bytes: int
    model_saved_bytes: int
    engine_estimate_bytes: int
    peak_allocated_bytes: Optional[int] = None

    @property
    def saved_matches(self) -> bool:
        return self.model_saved_bytes == self.saved_activation_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "saved_for_backward": {
                "activation_bytes": self.saved_activation_bytes,
                "parameter_bytes": self.saved_parameter_bytes,
                "model_bytes": self.model_saved_bytes,
                "match": self.saved_matches,
                "engine_activation_bytes": self.engine_activation_bytes,
            },
            "peak_allocated_bytes": self.peak_allocated_bytes,
            "engine_estimate_bytes": self.engine_estimate_bytes,
        }


@dataclass(frozen=True)
class Verification:
    """A whole `cnnsize verify` run on one spec."""

    name: str
    file: Optional[str]
    device: str
    dtype: str
    batch_size: int
    mode: str
    torch_version: str
    layers: tuple[LayerCheck, ...]
    totals: tuple[Figure, ...]
    memory: Memory
    throughput: Optional[Throughput] = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(layer.matches for layer in self.layers) and all(f.matches for f in self.totals)

    def failures(self) -> list[str]:
        """One line per difference between the engine and PyTorch (empty when it passed)."""
        lines = [line for layer in self.layers for line in layer.failures()]
        return lines + [f"total {f.diff_text()}" for f in self.totals if not f.matches]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "device": self.device,
            "dtype": self.dtype,
            "batch_size": self.batch_size,
            "mode": self.mode,
            "torch": self.torch_version,
            "options": self.options,
            "passed": self.passed,
            "failures": self.failures(),
            "layers": [layer.to_dict() for layer in self.layers],
            "totals": {f.quantity: f.to_dict() for f in self.totals},
            "throughput": self.throughput.to_dict() if self.throughput else None,
            "memory": self.memory.to_dict(),
        }
