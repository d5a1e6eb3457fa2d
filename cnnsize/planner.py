"""Memory footprints and the largest batch that fits, from the memory model (`cnnsize.memory`).

Training's footprint is the peak of one step (`cnnsize.step`): the moment, from the forward's end
through each node's backward to the optimizer's step, holding the most of the parameters, running
statistics, the gradients made by then, the optimizer's state (`sgd`: none; `momentum`: one buffer
per parameter; `adam`/`adamw`: two), under mixed precision autocast's half-precision copies of the
weights, the activations autograd saves for backward and has not freed, the input batch (unless
autograd saves that very storage), the activation gradients alive and the optimizer's temporaries.
(`MemoryModel.lines` is the forward's end with every gradient counted, as checkpointing and FSDP2
plan.) Inference holds the
parameters, running statistics and the most bytes alive at once in a forward pass without
autograd. Every line is `fixed + per_sample * batch`, so the largest batch that fits a limit is
solved exactly: `floor((limit - fixed) / per_sample)`, over each moment of the pass for inference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional, Sequence, Union

from cnnsize.engine import analyze
from cnnsize.errors import CnnsizeError, SpecPath, UsageError
from cnnsize.graph import resolve
from cnnsize.headroom import Reserve, default_reserve, not_counted, parse_reserve, usable
from cnnsize.memory import Bytes, Precision, Segment, Trace, total, trace
from cnnsize.memory_report import Footprint, MemoryReport
from cnnsize.parallel import Layout, Parallel, check_rank, largest_rank, layout, peak_moment, rank_lines
from cnnsize.provenance import Stamp, made_at
from cnnsize.report import LayerRow, Report
from cnnsize.schema import Spec, require_spec
from cnnsize.step import Moment, moments, optimizer_temporaries, peak, step_scalars, zero1_tensors
from cnnsize.units import DTYPE_BYTES, human_bytes

OPTIMIZERS = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}  # state tensors per parameter
MODES = ("training", "inference")


class NoBatchFits(CnnsizeError):
    """The limit holds not even batch size 1 (exit code 1, as a failed budget)."""


def check_optimizer(optimizer: str) -> None:
    if optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer '{optimizer}'; choose one of {', '.join(OPTIMIZERS)}")


@dataclass(frozen=True)
class MemoryModel:
    """Everything the planner needs for one spec at one precision: both traces, and the bytes of the
    parameters and running statistics. Figures at any batch size follow without tracing again."""

    precision: Precision
    params: int
    running_stats: int
    training: Trace
    inference: Trace
    layout: Optional[Layout] = None  # the parameter tensors and FSDP units, for `parallel`
    stepwise: bool = True  # training's footprint is the step's peak moment (False: the forward's end, all gradients)

    def lines(
        self, mode: str, optimizer: str = "sgd", parallel: Optional[Parallel] = None, rank: Optional[int] = None
    ) -> dict[str, Bytes]:
        """The breakdown of `mode`, each line linear in the batch (for inference, the activations
        line is the peak moment at batch 1: use `footprint` for another batch); for training, the
        forward's end with every gradient counted (`moments` follows the step; `footprint` takes
        its peak); with `parallel`, what one rank holds (`rank`, or the rank holding the most)."""
        if parallel is not None and mode == "training":
            single = self.lines(mode, optimizer)
            model = self.layout
            assert model is not None, "model_memory gives the layout"
            which = largest_rank(parallel, model) if rank is None else rank
            check_rank(parallel, which)
            element = DTYPE_BYTES[self.precision.param_dtype]
            return rank_lines(single, model, parallel, OPTIMIZERS[optimizer], element, which)
        param_bytes = Bytes(self.params * DTYPE_BYTES[self.precision.param_dtype], 0)
        stats = Bytes(self.running_stats * DTYPE_BYTES[self.precision.param_dtype], 0)
        if mode == "inference":
            return {"parameter_bytes": param_bytes, "running_stat_bytes": stats}
        t = self.training
        return {
            "parameter_bytes": param_bytes,
            "running_stat_bytes": stats,
            "gradient_bytes": param_bytes,
            "optimizer_state_bytes": param_bytes.times(OPTIMIZERS[optimizer]),
            "weight_copy_bytes": t.weight_copies,
            "saved_activation_bytes": t.saved - t.saved_weight_copies,
            "input_bytes": Bytes() if t.input_saved else t.input,
        }

    def moments(self, optimizer: str, parallel: Optional[Parallel] = None, rank: Optional[int] = None) -> list[Moment]:
        """The moments of one training step (`cnnsize.step`), each with its lines; with `parallel`
        (DDP or ZeRO-1), what one rank holds at each. Empty where the step is not followed moment
        by moment: under checkpointing (`recompute_bytes` instead) and FSDP2 (its reduce-scatter)."""
        t = self.training
        if not self.stepwise or not t.steps or (parallel is not None and parallel.sharded):
            return []
        model = self.layout
        assert model is not None, "model_memory gives the layout"
        element = DTYPE_BYTES[self.precision.param_dtype]
        device = self.precision.device
        stepped = list(model.tensors)  # the tensors this rank's optimizer steps
        which = 0
        if parallel is not None:
            which = largest_rank(parallel, model) if rank is None else rank
            check_rank(parallel, which)
            if parallel.strategy == "zero1":  # its local optimizer: the rank's partition
                stepped = zero1_tensors(model.tensors, parallel.world)[which]
        tensors = len(stepped)
        single = self.lines("training", optimizer)
        held = {key: single[key] for key in ("parameter_bytes", "running_stat_bytes", "optimizer_state_bytes")}
        temporaries = optimizer_temporaries(optimizer, device, [t.numel * element for t in stepped])
        accumulating = parallel is not None and parallel.accumulate > 1
        found = moments(t, held, element, temporaries, accumulating)
        scalars = Bytes(step_scalars(optimizer, device, tensors), 0)
        out = []
        for m in found:
            lines = m.lines
            if parallel is not None:
                lines = rank_lines(lines, model, parallel, OPTIMIZERS[optimizer], element, which)
            out.append(Moment(m.name, {**lines, "optimizer_state_bytes": lines["optimizer_state_bytes"] + scalars}))
        return out

    def footprint(
        self,
        mode: str,
        optimizer: str,
        batch_size: int,
        parallel: Optional[Parallel] = None,
        *,
        rank: Optional[int] = None,
    ) -> "Footprint":
        """What `mode` holds at `batch_size`; with `parallel`, what one rank holds at its peak at
        that per-rank batch (`rank`, or the rank holding the most)."""
        check_optimizer(optimizer)
        found = self.moments(optimizer, parallel, rank) if mode == "training" else []
        moment = peak(found, batch_size) if found else None
        by_line = moment.lines if moment else self.lines(mode, optimizer, parallel, rank)
        lines = {key: size.at(batch_size) for key, size in by_line.items()}
        if mode == "inference":
            lines["activation_peak_bytes"] = self.inference.peak(batch_size)
        elif self.training.recomputed:  # checkpointing: a block run again in backward may hold more
            t = self.training
            saved = (t.saved - t.saved_weight_copies).at(batch_size)  # the weight copies have their line
            lines["recompute_bytes"] = max(0, *(r.at(batch_size) - saved for r in t.recomputed))
        which = None
        if parallel is not None and mode == "training":
            which = largest_rank(parallel, self.layout) if rank is None else rank  # type: ignore[arg-type]
        return Footprint(
            mode, optimizer if mode == "training" else None, batch_size, lines, which, moment.name if moment else None
        )

    def pieces(self, mode: str, optimizer: str, parallel: Optional[Parallel] = None) -> list[Bytes]:
        """Linear forms whose largest value is the footprint at any batch size: one for training;
        for inference, and for `forward` (one training-mode forward pass with autograd, no backward),
        one per moment of the pass."""
        if mode == "forward":
            base = total(self.lines("inference").values())
            return [base + moment for moment in self.training.moments]
        found = self.moments(optimizer, parallel) if mode == "training" else []
        if found:  # each moment of the step
            return [m.total for m in found]
        base = total(self.lines(mode, optimizer, parallel).values())
        if mode == "training":  # with checkpointing, also each moment a block is run again in backward
            t = self.training
            kept = base - (t.saved - t.saved_weight_copies)  # once: `saved` sums every layer's
            return [base] + [kept + r for r in t.recomputed]
        return [base + moment for moment in self.inference.moments]

    def largest_batch(self, limit: int, mode: str, optimizer: str, parallel: Optional[Parallel] = None) -> int:
        """The largest batch size whose footprint is at most `limit` bytes (per rank, with
        `parallel`); `NoBatchFits` if none."""
        check_optimizer(optimizer)
        pieces = self.pieces(mode, optimizer, parallel)
        within = f"in {human_bytes(limit)} ({limit:,} B)"
        fixed = max(p.fixed for p in pieces)
        if fixed > limit:
            if mode == "inference":
                what = "the parameters alone take"
            elif parallel is not None:
                what = f"what one rank holds before any sample ({parallel.strategy}, {parallel.world:,} ranks) takes"
            elif OPTIMIZERS[optimizer]:
                extra = " (and the step's temporaries)" if optimizer_temporaries(optimizer, "cuda", [1]) else ""
                what = f"the parameters, their gradients and {optimizer}'s state{extra} alone take"
            else:
                what = "the parameters and their gradients alone take"
            raise NoBatchFits(f"no batch size fits {within}: {what} {human_bytes(fixed)} ({fixed:,} B)")
        batch = fitting_batch(pieces, limit)
        if batch < 1:
            need = max(p.at(1) for p in pieces)
            raise NoBatchFits(
                f"not even batch size 1 fits {within}: {mode} at batch size 1 takes {human_bytes(need)} ({need:,} B)"
            )
        return batch


def fitting_batch(pieces: list[Bytes], limit: int) -> int:
    """The largest batch size at which no piece exceeds `limit` (0 when not even 1 fits): each piece
    `fixed + per_sample * n <= limit` holds up to `n = floor((limit - fixed) / per_sample)`."""
    if any(p.fixed > limit for p in pieces):
        return 0
    return min((limit - p.fixed) // p.per_sample for p in pieces if p.per_sample > 0)


def model_memory(
    spec: Spec,
    precision: Precision = Precision(),
    report: Optional[Report] = None,
    checkpointed: Sequence[Segment] = (),
) -> MemoryModel:
    """Trace `spec` in training and in inference at `precision` (`report`: the engine's analysis at
    any batch size, for its shapes; computed when not given), with `checkpointed` segments run under
    activation checkpointing in training (`cnnsize.checkpointing`)."""
    report = report or analyze(spec, 1, precision.dtype)
    graph = resolve(spec)
    return MemoryModel(
        precision=precision,
        params=report.totals.params,
        running_stats=report.totals.non_trainable_params,
        training=trace(graph, precision, training=True, checkpointed=checkpointed),
        inference=trace(graph, precision, training=False),
        layout=layout(graph),
    )


def with_memory(
    spec: Spec, report: Report, *, amp: Optional[str] = None, device: str = "cuda", optimizer: str = "sgd"
) -> Report:
    """`report` (the engine's analysis of `spec`) with its memory section, at its batch size and dtype:
    every figure computed here, so that showing it computes nothing."""
    require_spec(spec)
    if not isinstance(report, Report):
        raise TypeError(f"report must be a cnnsize.Report, as cnnsize.analyze gives; got {type(report).__name__}")
    check_optimizer(optimizer)
    precision = Precision(report.dtype, amp, device)
    model = model_memory(spec, precision, report)
    batch = report.batch_size
    by_node = {path: size.at(batch) for path, size in model.training.saved_by.items()}
    saved: dict[SpecPath, int] = {}
    for row in report.rows:
        _sum_saved(row, by_node, saved)
    memory = MemoryReport(
        device=precision.device,
        amp=precision.amp,
        described=precision.describe(),
        untrainable=None if precision.trainable else precision.untrainable_reason,
        optimizer=optimizer,
        batch_size=batch,
        training=model.footprint("training", optimizer, batch) if precision.trainable else None,
        inference=model.footprint("inference", optimizer, batch),
        saved_bytes=model.training.saved.at(batch),
        saved_by=saved,
        step=tuple((m.name, m.total.at(batch)) for m in model.moments(optimizer)) if precision.trainable else (),
    )
    return replace(report, memory=memory)


def _sum_saved(row: LayerRow, by_node: dict[SpecPath, int], into: dict[SpecPath, int]) -> int:
    """Bytes saved for backward by `row`'s layer, or by all its children, recorded for every row."""
    total = by_node.get(row.path, 0) + sum(_sum_saved(child, by_node, into) for child in row.children)
    into[row.path] = total
    return total


@dataclass(frozen=True)
class Plan:
    """The largest batch size whose footprint fits `limit` bytes less the `reserve`, with the
    footprint at that size and the total one more sample would need; with `parallel`, per rank."""

    name: str
    file: Optional[str]
    limit: int
    precision: Precision
    footprint: Footprint
    next_total: int
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (name, shape), as the report's
    checkpointing: Any = None  # a `cnnsize.checkpointing.Checkpointing`, when blocks are checkpointed
    reserve: Reserve = Reserve(0, "none")
    parallel: Optional[Parallel] = None
    peak: Optional[str] = None  # with FSDP2 (zero2, fsdp), the moment the rank's lines are of

    @property
    def batch_size(self) -> int:
        """The largest batch size that fits (per rank, with `parallel`)."""
        return self.footprint.batch_size

    @property
    def usable(self) -> int:
        """The memory the footprint may take: the limit less the reserve."""
        return self.limit - self.reserve.bytes

    @property
    def global_batch(self) -> int:
        """Samples per optimizer step: the batch, times the ranks and accumulated steps."""
        return self.parallel.global_batch(self.batch_size) if self.parallel else self.batch_size

    @property
    def not_counted(self) -> tuple[str, ...]:
        """What no line of this plan holds (`cnnsize.headroom.not_counted`)."""
        par = self.parallel
        return not_counted(self.footprint.mode, self.precision.device, checkpointed=self.checkpointing is not None,
                           sharded=bool(par and par.sharded), ranks=par.world if par else 1)  # fmt: skip

    def stamp(self) -> Stamp:
        """What the plan was made at: the input, the batch that fits, the dtype."""
        return made_at(self.inputs, self.batch_size, self.precision.dtype)

    def to_dict(self) -> dict[str, Any]:
        """What `cnnsize plan --format json` prints for one spec."""
        f = self.footprint
        return {
            "name": self.name,
            "file": self.file,
            "memory_limit_bytes": self.limit,
            **self.reserve.to_dict(),
            "usable_bytes": self.usable,
            "mode": f.mode,
            "optimizer": f.optimizer,
            "dtype": self.precision.dtype,
            "amp": self.precision.amp,
            "device": self.precision.device,
            "parallel": {**self.parallel.to_dict(), "peak": self.peak} if self.parallel else None,
            "batch_size": f.batch_size,
            "global_batch_size": self.global_batch,
            "footprint": f.to_dict(),
            "next_batch_total_bytes": self.next_total,
            "not_counted": list(self.not_counted),
            "provenance": self.stamp().to_dict(),
            **({"checkpointing": self.checkpointing.to_dict()} if self.checkpointing is not None else {}),
        }


def plan(
    spec: Spec,
    limit: int,
    *,
    mode: str = "training",
    optimizer: str = "sgd",
    dtype: Optional[str] = None,
    amp: Optional[str] = None,
    device: str = "cuda",
    parallel: Optional[Parallel] = None,
    reserve: Union[None, int, str, Reserve] = None,
) -> Plan:
    """The largest batch of `spec` whose footprint fits in `limit` bytes less `reserve` (bytes, a
    `--reserve` text such as `10%`, or None for the device's default: cnnsize.headroom); with
    `parallel`, what one rank holds, at the per-rank batch. `NoBatchFits` when none does."""
    if mode not in MODES:
        raise UsageError(f"unknown mode '{mode}'; choose one of {', '.join(MODES)}")
    check_optimizer(optimizer)
    check_limit(limit)
    check_parallel_mode(parallel, mode)
    held = reserve_of(reserve, limit, device)
    room = usable(limit, held, explicit=reserve is not None)
    report = analyze(spec, 1, dtype)
    model = model_memory(spec, Precision(report.dtype, amp, device), report)
    if mode == "training" and not model.precision.trainable:
        raise UsageError(f"{report.name}: {model.precision.untrainable_reason}; use --mode inference")
    try:
        batch = model.largest_batch(room, mode, optimizer, parallel)
    except NoBatchFits as exc:
        after = f" (--memory {human_bytes(limit)} less the reserve, {human_bytes(held.bytes)})" if held.bytes else ""
        raise NoBatchFits(f"{report.name}: {exc}{after}") from None
    return Plan(
        name=report.name,
        file=report.file,
        limit=limit,
        precision=model.precision,
        footprint=model.footprint(mode, optimizer, batch, parallel),
        next_total=model.footprint(mode, optimizer, batch + 1, parallel).total_bytes,
        inputs=report.inputs,
        reserve=held,
        parallel=parallel,
        peak=peak_moment(model.layout, parallel) if parallel and mode == "training" and model.layout else None,
    )


def check_limit(limit: int) -> None:
    """A memory limit is a positive number of bytes."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise UsageError(f"the memory limit must be a positive number of bytes, got {limit!r}")


def check_parallel_mode(parallel: Optional[Parallel], mode: str) -> None:
    """Inference on several GPUs is a whole copy per GPU: only `ddp` describes it."""
    if parallel is not None and mode == "inference" and parallel.strategy != "ddp":
        raise UsageError(
            f"--strategy {parallel.strategy} shards training state; inference on several GPUs runs a whole "
            "copy per GPU: use --strategy ddp (the default)"
        )


def reserve_of(reserve: Union[None, int, str, Reserve], limit: int, device: str) -> Reserve:
    """What `reserve` holds back of `limit` bytes: bytes, a `--reserve` text (`10%`), a `Reserve`,
    or None for the device's default (cnnsize.headroom)."""
    if reserve is None:
        return default_reserve(device, limit)
    if isinstance(reserve, Reserve):
        return reserve
    if isinstance(reserve, str):
        return parse_reserve(reserve, limit)
    if isinstance(reserve, bool) or not isinstance(reserve, int) or reserve < 0:
        raise UsageError(f"the reserve must be 0 or more bytes, got {reserve!r}")
    return Reserve(reserve, f"--reserve {human_bytes(reserve)}")
