"""Receptive fields, exact, through graphs (Araujo, Norris & Sim, "Computing Receptive Fields of
Convolutional Neural Networks", Distill 2019). Pure arithmetic on integers.

Along one spatial axis, the field of a feature map is an `AxisField(left, right, jump)`: output
position k sees the input pixels `[left + k*jump, right + k*jump]` (pixel i has coordinate i; a
coordinate below 0 or past the input lies in padding). Its `size` is `right - left + 1` and its
`start`, the centre of position 0's field, `(left + right)/2`. A `jump` of 0 means every position
sees the same pixels: after global pooling, global statistics (group and instance norm) or a
multiply by such a gate.

A tensor's channels need not see the same pixels: a `cat` joins paths with different fields, and a
later `chunk` may keep some of them. So each value carries its fields per channel (`Fields`, as
runs of equal fields); for a flat vector the channels are its features, each with a constant field.

Where paths meet (`add`, `mul`, a convolution reading channels of different fields), the union of
the fields must move by one jump from each position to the next: it does when one path's field is
the leftmost (and one the rightmost) at the first and the last position alike, both with the same
jump (a linear function's minimum over an interval sits at an end). Otherwise the field changes
shape from one position to the next, and there is no one receptive field: `Unknown`, with the
reason. The same holds after upsampling, a strided transposed convolution and adaptive pooling with
unequal windows (Distill's recurrence assumes windows of one size, sliding by one stride), unless
every position already sees the same pixels (jump 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterable, NamedTuple, Sequence, Union

from cnnsize.shapes import effective_kernel

MAX_RUNS = 4096
"""Most runs of distinct fields one value may carry; more (only hostile specs get there) is `Unknown`."""

MAX_SPREAD_CHANNELS = 1 << 16
"""Most channels a per-channel rearrangement (shuffle, pixel unshuffle) lays out one by one."""

MAX_EXTENT = 2**63 - 1
"""Largest pixel coordinate or jump followed: no input holds more pixels along an axis (a tensor
holds at most 2**63 - 1 elements), and past it strides would multiply jumps without bound."""


class AxisField(NamedTuple):
    """Position k of a feature map sees input pixels `[left + k*jump, right + k*jump]` (a tuple,
    so that comparing and hashing fields, which every layer does, runs at C speed)."""

    left: int
    right: int
    jump: int

    @property
    def size(self) -> int:
        return self.right - self.left + 1

    @property
    def start(self) -> Union[int, Fraction]:
        """The centre of position 0's field: an int, or a half (even sizes)."""
        total = self.left + self.right
        return total // 2 if total % 2 == 0 else Fraction(total, 2)


@dataclass(frozen=True)
class Unknown:
    """A field that no (size, jump, start) describes, and why."""

    reason: str


TOO_WIDE = Unknown(f"it reaches past pixel {MAX_EXTENT:,} (2**63 - 1), farther than any input a tensor holds")


Spatial = tuple[AxisField, AxisField]
"""What one channel sees, along H and along W."""

Field = Union[Spatial, Unknown]
Step = Callable[[Spatial], Field]

PIXEL = AxisField(0, 0, 1)
INPUT: Spatial = (PIXEL, PIXEL)


def window(axis: AxisField, k: int, s: int = 1, p_before: int = 0, d: int = 1) -> AxisField:
    """A sliding window (convolution, pooling): output k reads positions `k*s - p .. k*s - p + k_eff - 1`,
    so `left -= p*j`, `right += (k_eff - 1 - p)*j`, `jump *= s`."""
    k_eff = effective_kernel(k, d)
    return AxisField(axis.left - p_before * axis.jump, axis.right + (k_eff - 1 - p_before) * axis.jump, axis.jump * s)


def shift(axis: AxisField, before: int) -> AxisField:
    """Positions move by `before` (zero padding adds them before the first; a crop removes them:
    negative)."""
    return AxisField(axis.left - before * axis.jump, axis.right - before * axis.jump, axis.jump)


def spread(axis: AxisField, n: int) -> AxisField:
    """Every position sees what all `n` positions saw (global pooling, statistics over the map)."""
    return AxisField(axis.left, axis.right + (n - 1) * axis.jump, 0)


def copies(axis: AxisField, n: int, what: str) -> Union[AxisField, Unknown]:
    """Upsampling that copies or blends `n` positions into more: exact only when all positions see
    the same pixels (jump 0, or one position), since otherwise neighbours copy one input unevenly."""
    if axis.jump == 0 or n == 1:
        return AxisField(axis.left, axis.right + (n - 1) * axis.jump, 0)
    return Unknown(f"after {what}, neighbouring outputs read the same inputs unevenly, so the field changes "
                   "from one position to the next")  # fmt: skip


def transposed(axis: AxisField, n: int, k: int, s: int, p: int, d: int) -> Union[AxisField, Unknown]:
    """A transposed convolution: at stride 1 a window (output o reads inputs `o + p - d*(k - 1) .. o + p`);
    at a larger stride, upsampling."""
    if s == 1:
        return AxisField(
            axis.left + (p - effective_kernel(k, d) + 1) * axis.jump, axis.right + p * axis.jump, axis.jump
        )
    return copies(axis, n, f"a transposed convolution with stride {s}")


def adaptive(axis: AxisField, i: int, o: int) -> Union[AxisField, Unknown]:
    """Adaptive pooling from i to o positions: windows of `i/o` at stride `i/o` when o divides i,
    everything when o is 1; otherwise PyTorch's windows differ in size (`[floor(j*i/o), ceil((j+1)*i/o))`)."""
    if o == 1:
        return spread(axis, i)
    if i % o == 0:
        return window(axis, i // o, i // o)
    return copies(axis, i, f"adaptive pooling from {i} to {o} positions (windows of unequal size)")


def union(fields: Sequence[AxisField], n: int) -> Union[AxisField, Unknown]:
    """The pixels any of `fields` sees at each of `n` positions, when that moves by one jump."""
    if len(fields) == 1:
        return fields[0]
    if n == 1:
        return AxisField(min(f.left for f in fields), max(f.right for f in fields), max(f.jump for f in fields))
    last = n - 1
    lefts = [(f.left, f.left + last * f.jump, f.jump) for f in fields]
    rights = [(f.right, f.right + last * f.jump, f.jump) for f in fields]
    low0, low1 = min(a for a, _, _ in lefts), min(b for _, b, _ in lefts)
    high0, high1 = max(a for a, _, _ in rights), max(b for _, b, _ in rights)
    left = next((f for f in lefts if f[0] == low0 and f[1] == low1), None)
    right = next((f for f in rights if f[0] == high0 and f[1] == high1), None)
    if left is None or right is None or left[2] != right[2]:
        jumps = sorted({f.jump for f in fields})
        return Unknown(
            "paths meet whose fields move differently from one position to the next "
            f"(jumps {' and '.join(map(str, jumps))})" if len(jumps) > 1 else
            "paths meet whose fields do not nest: no one field describes every position"
        )  # fmt: skip
    return AxisField(low0, high0, left[2])


def union_of(fields: Iterable[Field], n: tuple[int, int]) -> Field:
    """The union of whole fields at `n` = (H, W) positions; `Unknown` if any is, or if it does not
    move by one jump."""
    distinct = list(dict.fromkeys(fields))
    if len(distinct) == 1:
        return distinct[0]
    for f in distinct:
        if isinstance(f, Unknown):
            return f
    if len(distinct) == 1:
        return distinct[0]
    spatial: list[Spatial] = distinct  # type: ignore[assignment]
    h = union([f[0] for f in spatial], n[0])
    w = union([f[1] for f in spatial], n[1])
    if isinstance(h, Unknown):
        return h
    if isinstance(w, Unknown):
        return w
    return (h, w)


def _bounded(field: Field) -> Field:
    """`field`, or `TOO_WIDE` once it reaches past `MAX_EXTENT` (what hostile strides and padding do)."""
    if isinstance(field, Unknown):
        return field
    for axis in field:
        if axis.jump > MAX_EXTENT or max(-axis.left, axis.right) > MAX_EXTENT:
            return TOO_WIDE
    return field


def each_axis(field: Spatial, step: Callable[[AxisField, int], Union[AxisField, Unknown]]) -> Field:
    """`step(axis, index)` applied to H (0) and W (1)."""
    h, w = step(field[0], 0), step(field[1], 1)
    if isinstance(h, Unknown):
        return h
    if isinstance(w, Unknown):
        return w
    return (h, w)


Run = tuple[int, Field]


@dataclass(frozen=True)
class Fields:
    """The field of every channel of one value, as runs `(count, field)` in channel order.

    `coarse`: the features of a flattened volume each see part of what their run's field says (the
    run holds the union over positions); a union over all of them is still exact, a slice is not.
    """

    runs: tuple[Run, ...]
    coarse: bool = False

    @staticmethod
    def uniform(field: Field, channels: int) -> "Fields":
        return Fields(((channels, field),))

    @staticmethod
    def of_runs(runs: Iterable[Run], coarse: bool = False) -> "Fields":
        """Runs with neighbours of one field merged; `Unknown` for all past `MAX_RUNS`."""
        merged: list[Run] = []
        for count, field in runs:
            if count == 0:
                continue
            if merged and merged[-1][1] == field:
                merged[-1] = (merged[-1][0] + count, field)
            else:
                merged.append((count, field))
        if len(merged) > MAX_RUNS:
            reason = Unknown(f"its channels see more than {MAX_RUNS:,} different fields, too many to follow")
            return Fields.uniform(reason, sum(count for count, _ in merged))
        return Fields(tuple(merged), coarse)

    @property
    def channels(self) -> int:
        return sum(count for count, _ in self.runs)

    def union(self, n: tuple[int, int]) -> Field:
        """What the value as a whole sees: every channel's field, at n = (H, W) positions."""
        if len(self.runs) == 1:
            return self.runs[0][1]
        return union_of((field for _, field in self.runs), n)

    def map(self, step: Step) -> "Fields":
        """`step` applied to each channel's field (a layer that treats channels alike and apart)."""
        if len(self.runs) == 1:
            count, field = self.runs[0]
            return Fields(((count, field if isinstance(field, Unknown) else _bounded(step(field))),), self.coarse)
        done: dict[Field, Field] = {}
        for _, field in self.runs:
            if field not in done:
                done[field] = field if isinstance(field, Unknown) else _bounded(step(field))
        return Fields.of_runs(((count, done[field]) for count, field in self.runs), self.coarse)

    def slice(self, begin: int, end: int) -> "Fields":
        """Channels `begin .. end - 1`."""
        if self.coarse and len(self.runs) > 1 or self.coarse and (begin, end) != (0, self.channels):
            reason = Unknown("part of a flattened volume: its features see different parts of the input")
            return Fields.uniform(reason, end - begin)
        out: list[Run] = []
        at = 0
        for count, field in self.runs:
            low, high = max(begin, at), min(end, at + count)
            if low < high:
                out.append((high - low, field))
            at += count
        return Fields.of_runs(out)

    def grouped(self, groups: int, out_channels: int, n: tuple[int, int]) -> "Fields":
        """Each of `groups` equal groups of outputs sees the union of its group of inputs (a grouped
        convolution; 1 group: every output sees every input channel). Linear in the runs."""
        size = self.channels // groups
        per_group = out_channels // groups
        out: list[Run] = []
        pending: list[Field] = []  # fields of the group being filled
        filled = 0
        for count, field in self.runs:
            left = count
            while left:
                if filled == 0 and left >= size:  # whole groups inside this run
                    whole = left // size
                    out.append((whole * per_group, field))
                    left -= whole * size
                    continue
                take = min(left, size - filled)
                pending.append(field)
                filled += take
                left -= take
                if filled == size:
                    out.append((per_group, union_of(pending, n)))
                    pending, filled = [], 0
        return Fields.of_runs(out, self.coarse and groups > 1)

    def laid_out(self) -> list[Field] | None:
        """One field per channel, or None past `MAX_SPREAD_CHANNELS` channels."""
        if self.channels > MAX_SPREAD_CHANNELS:
            return None
        return [field for count, field in self.runs for _ in range(count)]


def concatenated(parts: Sequence[Fields]) -> Fields:
    """The channels of `parts`, one after another (`cat` on channels)."""
    return Fields.of_runs((run for part in parts for run in part.runs), any(part.coarse for part in parts))


def rearranged(fields: Fields, order: Callable[[list[Field]], list[Field]], what: str) -> Fields:
    """Channels rearranged by `order` (a function of the per-channel list): uniform fields stay as
    they are; past `MAX_SPREAD_CHANNELS` channels of different fields, `Unknown`."""
    if len(fields.runs) == 1:
        return fields
    laid = fields.laid_out()
    if laid is None:
        return Fields.uniform(Unknown(f"{what} rearranges more than {MAX_SPREAD_CHANNELS:,} channels "
                                      "that see different fields, too many to follow"), fields.channels)  # fmt: skip
    return Fields.of_runs(((1, field) for field in order(laid)), fields.coarse)


def channelwise(operands: Sequence[Fields], channels: int, n: tuple[int, int]) -> Fields:
    """Channel c of the result sees what channel c of every operand sees (an operand of one channel
    broadcasts it to all): an element-wise join."""
    cursors = [list(o.runs) if o.channels == channels else [(channels, o.runs[0][1])] for o in operands]
    index = [0] * len(cursors)
    used = [0] * len(cursors)
    out: list[Run] = []
    done = 0
    while done < channels:
        fields = [cursor[i][1] for cursor, i in zip(cursors, index)]
        step = min(cursor[i][0] - u for cursor, i, u in zip(cursors, index, used))
        out.append((step, union_of(fields, n)))
        done += step
        for j, cursor in enumerate(cursors):
            used[j] += step
            if used[j] == cursor[index[j]][0]:
                index[j], used[j] = index[j] + 1, 0
    return Fields.of_runs(out, any(o.coarse for o in operands))


def broadcast_spatial(fields: Fields, from_n: tuple[int, int], to_n: tuple[int, int]) -> Fields:
    """A map of one position broadcast along an axis to many: every position sees the same (jump 0)."""
    if from_n == to_n:
        return fields

    def flatten_axis(field: Spatial) -> Field:
        return tuple(  # type: ignore[return-value]
            AxisField(a.left, a.right, 0) if from_n[i] == 1 and to_n[i] > 1 else a for i, a in enumerate(field)
        )

    return fields.map(flatten_axis)


def flattened(fields: Fields, n: tuple[int, int], features: int) -> Fields:
    """A volume of n = (H, W) positions laid out as `features` flat features. From one position,
    feature c is channel c; otherwise each feature sees one position of one channel, and the
    features carry their union (`coarse`)."""
    if n == (1, 1):
        return fields
    whole = fields.map(lambda f: (spread(f[0], n[0]), spread(f[1], n[1]))).union((1, 1))
    constant = len(fields.runs) == 1 and not isinstance(whole, Unknown) and all(a.jump == 0 for a in fields.runs[0][1])  # type: ignore[union-attr]
    return Fields(((features, whole),), coarse=not constant)


def unflattened(fields: Fields, channels: int, what: str) -> Fields:
    """Features (or channels and positions) rearranged into a volume of `channels`: exact when every
    feature sees the same pixels, whatever its place; otherwise positions would see different fields."""
    if len(fields.runs) == 1 and not fields.coarse:
        field = fields.runs[0][1]
        if isinstance(field, Unknown) or all(axis.jump == 0 for axis in field):
            return Fields.uniform(field, channels)
    return Fields.uniform(Unknown(f"{what} turns features that see different pixels into positions"), channels)


def depth_to_space(fields: Fields, r: int, n: tuple[int, int]) -> Fields:
    """`pixel_shuffle` by r: output channel c lays input channels c*r*r .. c*r*r + r*r - 1 out over
    r x r positions, so it is upsampling, exact only where those channels see one field that every
    position shares (jump 0, or one position)."""
    what = f"pixel_shuffle by {r}"

    def step(field: Field) -> Field:
        if isinstance(field, Unknown):
            return field
        return each_axis(field, lambda axis, a: copies(axis, n[a], what))

    block = r * r
    if len(fields.runs) == 1:
        return Fields.uniform(step(fields.runs[0][1]), fields.channels // block)
    laid = fields.laid_out()
    if laid is None:
        return Fields.uniform(Unknown(f"{what} interleaves more than {MAX_SPREAD_CHANNELS:,} channels"),
                              fields.channels // block)  # fmt: skip
    mixed = Unknown(f"{what} interleaves channels that see different fields into one channel")
    groups = (laid[g : g + block] for g in range(0, len(laid), block))
    return Fields.of_runs(((1, step(group[0]) if len(set(group)) == 1 else mixed) for group in groups), fields.coarse)


def space_to_depth(fields: Fields, r: int) -> Fields:
    """`pixel_unshuffle` by r: output channel c*r*r + i*r + j at position k reads input channel c at
    k*r + i along H (k*r + j along W): each channel's field shifted by i (and j) jumps, its jump times r."""

    def moved(axis: AxisField, offset: int) -> AxisField:
        return AxisField(axis.left + offset * axis.jump, axis.right + offset * axis.jump, axis.jump * r)

    out: list[Run] = []
    for count, field in fields.runs:
        if isinstance(field, Unknown):
            out.append((count * r * r, field))
            continue
        pattern: list[Field] = [(moved(field[0], i), moved(field[1], j)) for i in range(r) for j in range(r)]
        if len(set(pattern)) == 1:
            out.append((count * r * r, pattern[0]))
        elif count * r * r > MAX_RUNS:
            reason = Unknown(f"pixel_unshuffle by {r} gives more than {MAX_RUNS:,} channels that see different fields")
            return Fields.uniform(reason, fields.channels * r * r)
        else:
            out += [(1, p) for _ in range(count) for p in pattern]
    return Fields.of_runs(out, fields.coarse)


def reshaped(fields: Fields, inp: tuple[int, ...], out: tuple[int, ...], what: str) -> Fields:
    """A reshape from `inp` to `out` in row-major order: to a flat vector as `flatten`; to a volume,
    exact only where every feature sees the same (its positions would otherwise see different fields)."""
    if inp == out:
        return fields
    n = (inp[1], inp[2]) if len(inp) == 3 else (1, 1)
    total = 1
    for size in inp:
        total *= size
    flat = flattened(fields, n, total) if len(inp) == 3 else fields
    if len(out) == 1:
        return flat
    return unflattened(flat, out[0], what)
