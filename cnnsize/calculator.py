"""The sizing calculator: one spatial axis of a convolution, a pooling window or a transposed
convolution, its output size with the arithmetic shown, and solving for the padding, stride or
kernel size that gives a wanted output (or showing why none does).

The arithmetic is `cnnsize.shapes` (see ../shared/CONVENTIONS.md); this module only walks it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Literal, Optional, Sequence, Union

from cnnsize import shapes

Operation = Literal["conv", "pool", "transposed"]
Unknown = Literal["padding", "stride", "kernel"]
PADDING_MODES = ("same", "valid", "full")
UNKNOWNS: tuple[Unknown, ...] = ("padding", "stride", "kernel")

# How many values a solve may try (one search, or all the searches of its hints together): about
# 0.5 s on a slow machine; only inputs far beyond any image reach it.
MAX_CANDIDATES = 100_000
SHOWN = 4  # worked formulas shown for a solve with several answers


def parse_padding(text: str) -> Union[int, str]:
    """`--padding` as given: a non-negative integer per side, or `same`, `valid` or `full`."""
    if text in PADDING_MODES:
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"must be a non-negative integer or one of same, valid, full; got {text!r}")
    return value


@dataclass(frozen=True)
class Window:
    """One spatial axis of a windowed layer, with PyTorch's argument names."""

    operation: Operation = "conv"
    input: int = 1
    kernel: int = 1
    stride: Optional[int] = None  # None: PyTorch's default, 1 (pooling: the kernel size)
    padding: Union[int, str] = 0  # per side; or 'same' | 'valid' | 'full' (convolution only)
    dilation: int = 1
    ceil_mode: bool = False  # pooling only
    output_padding: int = 0  # transposed convolution only

    @property
    def step(self) -> int:
        """The stride in effect."""
        if self.stride is not None:
            return self.stride
        return self.kernel if self.operation == "pool" else 1

    def pads(self) -> tuple[int, int]:
        """(before, after) padding; a mode is resolved for this input, kernel, stride and dilation."""
        if self.padding == "same":
            return shapes.same_padding(self.input, self.kernel, self.step, self.dilation)
        if self.padding == "full":
            return (shapes.full_padding(self.kernel, self.dilation),) * 2
        if self.padding == "valid":
            return (0, 0)
        return (int(self.padding), int(self.padding))

    def output(self) -> int:
        """The output size (below 1 when nothing fits; `broken_rule` says so)."""
        size, _, args = self._arithmetic()
        return size(*args)

    def formula(self) -> str:
        """The output size's formula with the numbers put in: `floor((32 + 2*2 - 5)/1) + 1 = 32`."""
        _, text, args = self._arithmetic()
        return text(*args)

    def _arithmetic(self) -> tuple[Callable[..., int], Callable[..., str], tuple[Any, ...]]:
        """The `shapes` functions of this operation (size, formula) and their arguments."""
        i, k, s, d = self.input, self.kernel, self.step, self.dilation
        before, after = self.pads()
        if self.operation == "transposed":
            return shapes.transposed_conv_out, shapes.transposed_conv_formula, (i, k, s, before, self.output_padding, d)
        if self.operation == "pool":
            return shapes.pool_out, shapes.pool_formula, (i, k, s, before, d, self.ceil_mode)
        return shapes.conv_out, shapes.conv_formula, (i, k, s, before, after, d)

    def symbolic(self) -> str:
        """The formula in letters, as the course writes it."""
        if self.operation == "transposed":
            return "(i - 1)*s - 2*p + d*(k - 1) + output_padding + 1"
        before, after = self.pads()
        pad = "2*p" if before == after else "p_before + p_after"
        kernel = "k" if self.dilation == 1 else "d*(k - 1) - 1"
        rounding = "ceil" if self.ceil_mode else "floor"
        return f"{rounding}((i + {pad} - {kernel})/s) + 1"

    def padding_rule(self) -> Optional[str]:
        """How a padding mode resolves here, as text; None for a number."""
        if self.padding == "same":
            rule = shapes.same_padding_formula(self.input, self.kernel, self.step, self.dilation)
            return f"padding 'same' (TensorFlow's rule): {rule}"
        if self.padding == "full":
            return f"padding 'full': p = d*(k - 1) = {shapes.full_padding_formula(self.kernel, self.dilation)}"
        if self.padding == "valid":
            return "padding 'valid': p = 0"
        return None

    def working(self) -> list[str]:
        """How the output size follows: a resolved padding mode (if any), the formula in letters,
        then with the numbers put in, and a note when the windows leave input uncovered."""
        rule = self.padding_rule()
        note = self.uncovered()
        lines = ([rule] if rule else []) + [f"out = {self.symbolic()}", f"    = {self.formula()}"]
        return lines + ([note] if note else [])

    def taps(self) -> list[list[int]]:
        """For each output position, the input positions its window reads, counted in the input
        (padding before it is negative, after it `input` and up): `o*s - p_before + j*d` for j in
        0..k-1 (a ceil-mode pooling window that starts in the padding after is cut there, as
        PyTorch drops it). Convolutions and pooling only: a transposed convolution scatters."""
        if self.operation == "transposed":
            raise ValueError("a transposed convolution scatters each input into a window of the output: no taps")
        before, after = self.pads()
        s, d = self.step, self.dilation
        end = self.input + after
        return [
            [t for t in (o * s - before + j * d for j in range(self.kernel)) if t < end] for o in range(self.output())
        ]

    def uncovered(self) -> Optional[str]:
        """When (i + padding - reach) is not a multiple of the stride, the last windows stop short
        of the end: those pixels (padding included) are read by no window, as CS231n warns. None
        when the windows fit exactly, for transposed convolutions, and for ceil-mode pooling."""
        if self.operation == "transposed" or self.ceil_mode or self.output() < 1:
            return None
        before, after = self.pads()
        reach = shapes.effective_kernel(self.kernel, self.dilation)
        span = self.input + before + after - reach
        left = span % self.step
        if not left:
            return None
        pixels = f"last {left} pixels of the padded input are" if left > 1 else "last pixel of the padded input is"
        return (
            f"note: ({self.input} + {before} + {after} - {reach}) = {span} is not a multiple of the stride "
            f"{self.step}: the {pixels} never covered"
        )

    def broken_rule(self) -> Optional[str]:
        """Why PyTorch would refuse this layer, or None when it is a valid one."""
        if isinstance(self.padding, str) and self.operation != "conv":
            return f"padding '{self.padding}' is for convolutions; give {_NAMES[self.operation]} a number"
        if self.operation == "pool" and self.pads()[0] > self.kernel // 2:
            return (
                f"pooling padding must be at most half the kernel size (PyTorch's rule): "
                f"got padding {self.pads()[0]}, kernel {self.kernel}"
            )
        if self.operation == "transposed" and self.output_padding >= max(self.step, self.dilation):
            return (
                f"output padding must be smaller than the stride or the dilation (PyTorch's rule): got output "
                f"padding {self.output_padding}, stride {self.step}, dilation {self.dilation}"
            )
        if self.output() < 1:
            if self.operation == "transposed":
                return f"the padding removes the whole output: {self.formula()}"
            before, after = self.pads()
            reach = shapes.effective_kernel(self.kernel, self.dilation)
            return (
                f"the {'dilated ' if self.dilation > 1 else ''}kernel ({reach}) is larger than the padded input "
                f"({self.input} + {before} + {after} = {self.input + before + after}): {self.formula()}"
            )
        return None


_NAMES = {"conv": "convolutions", "pool": "pooling windows", "transposed": "transposed convolutions"}


@dataclass(frozen=True)
class Solution:
    """The values of `unknown` that give `wanted`, found by trying each in turn."""

    unknown: Unknown
    wanted: int
    windows: tuple[Window, ...]  # one per value that gives `wanted`, in increasing order
    open_ended: bool  # every value above the last one gives `wanted` too
    lines: tuple[str, ...]  # the answer in words, with the arithmetic

    @property
    def values(self) -> list[int]:
        return [_value(window, self.unknown) for window in self.windows]

    @property
    def found(self) -> bool:
        return bool(self.windows)


def _with(window: Window, unknown: Unknown, value: int) -> Window:
    changes: dict[str, Any] = {unknown: value}
    return replace(window, **changes)


def _value(window: Window, unknown: Unknown) -> int:
    return int(getattr(window, unknown))


def solve(window: Window, unknown: Unknown, wanted: int) -> Solution:
    """Every value of `unknown` (the window's own value of it is ignored) for which `window` is a
    valid layer with output size `wanted`; when there is none, the nearest outputs either side and
    what one more freedom would give."""
    tried, matches = _search(window, unknown, wanted)
    open_ended = bool(matches) and matches[-1] == tried[-1]
    if matches:
        lines = _answer(matches, unknown, wanted, open_ended, _value(tried[0], unknown))
    else:
        lines = _no_answer(tried, unknown, wanted)
    return Solution(unknown, wanted, tuple(matches), open_ended, tuple(lines))


def _search(window: Window, unknown: Unknown, wanted: int) -> tuple[list[Window], list[Window]]:
    """(every window tried, in increasing order of `unknown`; those valid with output `wanted`)."""
    first = 0 if unknown == "padding" else 1
    last = _search_limit(_with(window, unknown, first), wanted)
    if last - first > MAX_CANDIDATES:
        raise ValueError(f"these sizes are too large to search (over {MAX_CANDIDATES:,} candidates)")
    tried = [_with(window, unknown, v) for v in range(first, last + 1)]
    return tried, [w for w in tried if w.broken_rule() is None and w.output() == wanted]


def _search_limit(window: Window, wanted: int) -> int:
    """A value of the unknown past which no new answer appears (the output only moves away from
    `wanted`, or stays where it is); the unknown is set to its smallest value in `window`."""
    i, s, k, d = window.input, window.step, window.kernel, window.dilation
    p = window.padding if isinstance(window.padding, int) else 0
    return 2 * (i * s + wanted * s + 2 * p + 2 * d * k + window.output_padding + 4)


def _answer(matches: Sequence[Window], unknown: Unknown, wanted: int, open_ended: bool, first: int) -> list[str]:
    values = [_value(w, unknown) for w in matches]
    if open_ended and values[0] == first:
        head = f"any {unknown} gives output {wanted} (it does not change the output here)"
    else:
        head = f"{unknown} {_listing(values, open_ended)} gives output {wanted}"
    if len(matches) <= SHOWN:
        shown, rest = list(matches), []
    else:  # a run of answers: its ends (only the first when it is open-ended)
        shown, rest = [matches[0]], ([] if open_ended else [matches[-1]])
    lines = [head]
    for window in shown:
        lines += _worked(window, unknown)
    if len(shown) + len(rest) < len(matches):
        lines.append("  ...")
    for window in rest:
        lines += _worked(window, unknown)
    return lines


def _worked(window: Window, unknown: Unknown) -> list[str]:
    """`  padding 2: floor((32 + 2*2 - 5)/1) + 1 = 32`; a padding mode's resolution comes first."""
    head = f"  {unknown} {_value(window, unknown)}:"
    rule = window.padding_rule()
    if rule is None:
        return [f"{head} {window.formula()}"]
    return [head, f"    {rule}", f"    {window.formula()}"]


def _listing(values: list[int], open_ended: bool) -> str:
    """`2`, `3 or 4`, `1, 3 or 5`, `28 or more`, `2 to 6`, `2 to 6 or 9`."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    parts = [str(r[0]) if len(r) == 1 else f"{r[0]} to {r[-1]}" if len(r) > 2 else f"{r[0]}, {r[1]}" for r in runs]
    if open_ended:
        parts[-1] = f"{runs[-1][0]} or more"
    text = ", ".join(parts)
    head, sep, tail = text.rpartition(", ")
    return f"{head} or {tail}" if sep and not open_ended else text


def _no_answer(tried: list[Window], unknown: Unknown, wanted: int) -> list[str]:
    lines = [f"no {unknown} gives output {wanted}"]
    window = tried[0]
    valid = [w for w in tried if w.broken_rule() is None]
    if not valid:
        return lines + [
            f"  no {unknown} gives a valid layer; with {unknown} {_value(window, unknown)}: {window.broken_rule()}"
        ]
    below = [w for w in valid if w.output() < wanted]
    above = [w for w in valid if w.output() > wanted]
    if below and above:
        nearest_below = max(below, key=lambda w: w.output())
        nearest_above = min(above, key=lambda w: w.output())
        lines.append(f"  the nearest outputs are {nearest_below.output()} and {nearest_above.output()}:")
        for w in sorted([nearest_below, nearest_above], key=lambda w: _value(w, unknown)):
            lines += _worked(w, unknown)
    elif above:
        least = min(above, key=lambda w: w.output())
        lines.append(f"  every {unknown} gives more; the least is {least.output()}:")
        lines += _worked(least, unknown)
    else:
        most = max(below, key=lambda w: w.output())
        lines.append(f"  every {unknown} gives less; the most is {most.output()}:")
        lines += _worked(most, unknown)
    if window.operation == "pool" and unknown == "padding":
        lines.append(f"  (pooling padding may be at most half the kernel: {window.kernel // 2} here)")
    return lines + _hints(window, unknown, wanted)


def _hints(window: Window, unknown: Unknown, wanted: int) -> list[str]:
    """What gives `wanted` with one more freedom: uneven padding, another output padding, or (when
    solving for the stride or kernel) another padding."""
    if unknown == "padding" and window.operation == "conv":
        i, k, s, d = window.input, window.kernel, window.step, window.dilation
        for total in range(1, _search_limit(replace(window, padding=0), wanted), 2):
            before, after = total // 2, total - total // 2
            if shapes.conv_out(i, k, s, before, after, d) == wanted:
                return [
                    f"  uneven padding would: {before} before and {after} after "
                    f"(in a spec, padding: [{before}, {after}, {before}, {after}]):",
                    f"    {shapes.conv_formula(i, k, s, before, after, d)}",
                ]
    elif unknown == "padding" and window.operation == "transposed":
        choices = max(window.step, window.dilation)
        if choices * _search_limit(replace(window, padding=0), wanted) > MAX_CANDIDATES:
            return []  # a hint is a courtesy: not worth a search past the bound
        for output_padding in range(choices):
            if output_padding != window.output_padding:
                _, found = _search(replace(window, output_padding=output_padding), "padding", wanted)
                if found:
                    w = found[0]
                    return [f"  with output padding {output_padding} it would: padding {w.padding}: {w.formula()}"]
    elif unknown != "padding" and isinstance(window.padding, int):
        reach = shapes.effective_kernel(window.kernel, window.dilation)
        if (reach + 1) * _search_limit(window, wanted) > MAX_CANDIDATES:
            return []  # one search per padding: past the bound, no hint
        for padding in range(reach + 1):
            if padding != window.padding:
                _, found = _search(replace(window, padding=padding), unknown, wanted)
                if found:
                    w = found[0]
                    return [f"  with padding {padding} it would: {unknown} {_value(w, unknown)}: {w.formula()}"]
    return []


__all__ = ["PADDING_MODES", "UNKNOWNS", "Solution", "Window", "parse_padding", "solve"]
