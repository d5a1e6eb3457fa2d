"""The largest square input that fits: `cnnsize plan --solve resolution`.

The spec's input `[C, H, W]` is replaced by `[C, s, s]` (as `--input` does) and the footprint at a
given batch size is computed for each size tried, one linear analysis each (resolve, trace). The
footprint does not shrink as the input grows (every map's side is a non-decreasing function of the
input's: convolutions, pooling and upsampling floor or scale it, adaptive pooling fixes it), so the
largest size that fits is found exactly by doubling, then bisection.

Some sizes are not valid for a spec at all: a U-Net's concatenations need a side divisible by 16, a
`reshape` or a fixed crop may admit one size only. A size the engine refuses (its own message kept)
is skipped: each probe takes the nearest valid size above it, up to `SCAN` sizes on; a spec with no
other valid size near its own is said to admit one size only. The search checks monotonicity on the
sizes it tries and says so if a larger size ever took less.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional, Union

from cnnsize.engine import analyze
from cnnsize.errors import SpecError, UsageError
from cnnsize.headroom import Reserve, not_counted, usable
from cnnsize.loader import with_input
from cnnsize.memory import Precision
from cnnsize.memory_report import Footprint
from cnnsize.parallel import Parallel
from cnnsize.planner import (
    MODES,
    NoBatchFits,
    check_limit,
    check_optimizer,
    check_parallel_mode,
    model_memory,
    reserve_of,
)
from cnnsize.provenance import Stamp, made_at
from cnnsize.schema import Spec
from cnnsize.units import human_bytes

SCAN = 64  # sizes tried above an invalid one before giving up on finding a valid one
MAX_SIDE = 2**31  # no probe goes further: far beyond any image (and every tensor's limit)


@dataclass(frozen=True)
class ResolutionPlan:
    """The largest square side `resolution` whose footprint at `batch_size` fits `limit`, the footprint
    there, and the next valid side's total (`next_resolution`, `next_total`), or why there is none
    (`next_note`); `notes`: what the search saw (sizes the spec refuses, one size only)."""

    name: str
    file: Optional[str]
    limit: int
    precision: Precision
    channels: int
    resolution: int
    footprint: Footprint
    next_resolution: Optional[int]
    next_total: Optional[int]
    next_note: str
    analyses: int
    notes: tuple[str, ...] = ()
    checkpoint: str = "none"
    reserve: Reserve = Reserve(0, "none")
    parallel: Optional[Parallel] = None

    @property
    def batch_size(self) -> int:
        return self.footprint.batch_size

    @property
    def not_counted(self) -> tuple[str, ...]:
        """What no line of this plan holds (`cnnsize.headroom.not_counted`)."""
        par = self.parallel
        return not_counted(self.footprint.mode, self.precision.device, checkpointed=self.checkpoint != "none",
                           sharded=bool(par and par.sharded), ranks=par.world if par else 1)  # fmt: skip

    @property
    def usable(self) -> int:
        """The memory the footprint must fit: the limit less the reserve."""
        return self.limit - self.reserve.bytes

    def stamp(self) -> Stamp:
        return made_at((("input", (self.channels, self.resolution, self.resolution)),), self.batch_size,
                       self.precision.dtype)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        f = self.footprint
        return {
            "name": self.name,
            "file": self.file,
            "solve": "resolution",
            "memory_limit_bytes": self.limit,
            "mode": f.mode,
            "optimizer": f.optimizer,
            "dtype": self.precision.dtype,
            "amp": self.precision.amp,
            "device": self.precision.device,
            "checkpoint": self.checkpoint,
            **self.reserve.to_dict(),
            "usable_bytes": self.usable,
            "parallel": self.parallel.to_dict() if self.parallel else None,
            "batch_size": f.batch_size,
            "resolution": self.resolution,
            "input": [self.channels, self.resolution, self.resolution],
            "footprint": f.to_dict(),
            "next_resolution": self.next_resolution,
            "next_resolution_total_bytes": self.next_total,
            "next_note": self.next_note,
            "analyses": self.analyses,
            "notes": list(self.notes),
            "provenance": self.stamp().to_dict(),
        }


def solve_resolution(
    spec: Spec,
    limit: int,
    *,
    batch_size: int = 1,
    mode: str = "training",
    optimizer: str = "sgd",
    dtype: Optional[str] = None,
    amp: Optional[str] = None,
    device: str = "cuda",
    checkpoint: str = "none",
    parallel: Optional[Parallel] = None,
    reserve: Union[None, int, str, Reserve] = None,
) -> ResolutionPlan:
    """The largest square input side of `spec` whose footprint at `batch_size` fits `limit` bytes
    less `reserve` (as `cnnsize.plan`'s; with `parallel`, what one rank holds at that per-rank batch;
    `checkpoint`: `none` or `all` of the top-level blocks); `NoBatchFits` when no size does."""
    if mode not in MODES:
        raise UsageError(f"unknown mode '{mode}'; choose one of {', '.join(MODES)}")
    check_optimizer(optimizer)
    check_parallel_mode(parallel, mode)
    if checkpoint not in ("none", "all"):
        raise UsageError(
            f"--solve resolution takes --checkpoint none or all, not {checkpoint}: auto picks blocks for a batch"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"the batch size must be a positive integer, got {batch_size!r}")
    check_limit(limit)
    if spec.inputs is not None:
        raise UsageError(f"--solve resolution replaces a spec's one `input`; {spec.name} has several")
    shape = tuple(spec.input or ())
    if len(shape) != 3:
        raise UsageError(
            f"--solve resolution needs an image input [C, H, W]; {spec.name}'s input is {list(shape)}, "
            "which has no height and width"
        )
    channels, own = shape[0], max(shape[1], shape[2])
    held = reserve_of(reserve, limit, device)
    room = usable(limit, held, explicit=reserve is not None)
    search = _Search(spec, channels, room, batch_size, mode, optimizer, dtype, amp, device, checkpoint, parallel)
    if shape[1] != shape[2]:  # not the spec's own input: a square of its larger side may be refused
        own = search.square_near(own, shape)
    plan = search.run(own)
    return replace(plan, limit=limit, reserve=held, parallel=parallel)


@dataclass
class _Search:
    spec: Spec
    channels: int
    limit: int
    batch_size: int
    mode: str
    optimizer: str
    dtype: Optional[str]
    amp: Optional[str]
    device: str
    checkpoint: str
    parallel: Optional[Parallel]

    def __post_init__(self) -> None:
        self.totals: dict[int, Optional[int]] = {}  # side -> total, None where the spec refuses it
        self.refusals: dict[int, str] = {}
        self.footprints: dict[int, Footprint] = {}
        self.precision: Optional[Precision] = None
        self.name = self.spec.name or "spec"

    def total(self, side: int) -> Optional[int]:
        """The footprint's total at `side`, or None where the engine refuses the size."""
        if side not in self.totals:
            try:
                self.totals[side] = self.analyse(side)
            except SpecError as error:
                self.totals[side] = None
                self.refusals[side] = "; ".join(p.message for p in error.problems)
        return self.totals[side]

    def analyse(self, side: int) -> int:
        from cnnsize.checkpointing import blocks

        spec = with_input(self.spec, (self.channels, side, side))
        report = analyze(spec, 1, self.dtype)
        self.precision = precision = Precision(report.dtype, self.amp, self.device)
        if self.mode == "training" and not precision.trainable:
            raise UsageError(f"{report.name}: {precision.untrainable_reason}; use --mode inference")
        segments: tuple = ()
        if self.checkpoint == "all" and self.mode == "training":
            from cnnsize.graph import resolve

            segments = tuple(b.segment() for b in blocks(resolve(spec), report))
        model = model_memory(spec, precision, report, segments)
        footprint = model.footprint(self.mode, self.optimizer, self.batch_size, self.parallel)
        self.footprints[side] = footprint
        return footprint.total_bytes

    def fits(self, side: int) -> bool:
        value = self.total(side)
        return value is not None and value <= self.limit

    def valid_from(self, side: int, below: int) -> Optional[int]:
        """The first side from `side` up (under `below`, at most `SCAN` on) the engine accepts."""
        for s in range(side, min(below, side + SCAN)):
            if self.total(s) is not None:
                return s
        return None

    def square_near(self, side: int, shape: tuple[int, ...]) -> int:
        """For a spec whose own input is not square: the valid square side nearest `side` (its
        larger side; above first), or a usage error quoting the engine when none is within `SCAN`."""
        found = self.valid_from(side, side + 1 + SCAN)
        if found is None:
            found = next((s for s in range(side - 1, max(0, side - 1 - SCAN), -1) if self.total(s) is not None), None)
        if found is None:
            raise UsageError(
                f"--solve resolution tries square inputs; {self.name}'s input is {shape[1]}x{shape[2]}, and no "
                f"square side from {max(1, side - SCAN)} to {side + SCAN} is valid: {self.refusals[side]}"
            )
        return found

    def run(self, own: int) -> ResolutionPlan:
        notes: list[str] = []
        self.totals[own] = self.analyse(own)  # the spec's own side: a problem there is the spec's own error
        above = self.valid_from(own + 1, own + 1 + SCAN)
        below = next((s for s in range(own - 1, max(0, own - 1 - SCAN), -1) if self.total(s) is not None), None)
        if above is None and below is None:
            notes.append(f"only the spec's own side, {own}, is valid within {SCAN} of it: the spec fixes its input")
            if not self.fits(own):
                raise NoBatchFits(self.too_big(own, "its one valid side"))
            return self.answer(own, None, "no other side is valid", notes)
        # lo: a valid side that fits; hi: a side above it at which nothing fits (or none is valid)
        lo: Optional[int] = own if self.fits(own) else None
        if lo is None:  # the answer is below `own`, which does not fit
            first = self.valid_from(1, own)
            if first is None or not self.fits(first):
                raise NoBatchFits(self.too_big(first or own, "the smallest valid side"))
            lo, hi = first, own
        else:
            hi = None
            step = own
            while hi is None:
                probe = min(lo + step, MAX_SIDE)
                found = self.valid_from(probe, MAX_SIDE + 1)
                if found is None or not self.fits(found):
                    hi = probe if found is None else found
                    if found is None:
                        why = self.refusals.get(probe, "")
                        notes.append(f"no valid side from {probe} to {probe + SCAN - 1} ({why}): searched below it")
                else:
                    lo = found
                    step *= 2
                if probe >= MAX_SIDE:
                    hi = hi or MAX_SIDE
        assert lo is not None and hi is not None
        low, high = lo, hi
        while high - low > 1:  # invariant: `low` valid and fits; nothing valid in (low, high) fits beyond
            mid = (low + high) // 2
            found = self.valid_from(mid, high)
            if found is None:
                high = mid
            elif self.fits(found):
                low = found
            else:
                high = found
        self.check_monotone(notes)
        above = self.valid_from(low + 1, low + 1 + SCAN)
        if above is None:
            return self.answer(low, None, f"no valid side from {low + 1} to {low + SCAN}", notes)
        skipped = above - low - 1
        if skipped:
            notes.append(f"sides {low + 1} to {above - 1} are not valid for this spec: {self.refusals[low + 1]}")
        return self.answer(low, above, "", notes)

    def check_monotone(self, notes: list[str]) -> None:
        seen = sorted((s, t) for s, t in self.totals.items() if t is not None)
        for (s1, t1), (s2, t2) in zip(seen, seen[1:]):
            if t2 < t1:
                notes.append(
                    f"the footprint is not monotone here: side {s2} takes {t2:,} B, less than side {s1}'s {t1:,} B; "
                    "the side found is the largest the search reached that fits, not necessarily the largest of all"
                )
                return

    def too_big(self, side: int, what: str) -> str:
        need = self.totals.get(side)
        takes = f"takes {human_bytes(need)} ({need:,} B)" if need is not None else "is refused"
        return (
            f"{self.name}: no square input fits in {human_bytes(self.limit)} ({self.limit:,} B) at batch size "
            f"{self.batch_size}: {what}, {side}x{side}, {takes}"
        )

    def answer(self, side: int, above: Optional[int], why: str, notes: list[str]) -> ResolutionPlan:
        assert self.precision is not None
        self.total(side)  # the footprint at the answer (computed already)
        return ResolutionPlan(
            name=self.name,
            file=self.spec.file,
            limit=self.limit,
            precision=self.precision,
            channels=self.channels,
            resolution=side,
            footprint=self.footprints[side],
            next_resolution=above,
            next_total=self.totals[above] if above is not None else None,
            next_note=why,
            analyses=len(self.totals),
            notes=tuple(notes),
            checkpoint=self.checkpoint,
        )


__all__ = ["ResolutionPlan", "solve_resolution"]
