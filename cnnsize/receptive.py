"""Receptive-field arithmetic per spatial axis (Araujo, Norris & Sim, Distill 2019).

A field is tracked as (size, jump, start) for each of H and W, in input pixels:
- `size`: how many input pixels one output element sees;
- `jump`: the distance in input pixels between two neighbouring outputs;
- `start`: the input coordinate of the centre of the first output's field (pixel i has centre i;
  a negative start lies in the padding).
Values are exact: `int` while they are whole, `Fraction` once upsampling, transposed convolution or
an even kernel makes them fractional (ints keep the common case fast).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Union

from cnnsize.shapes import adaptive_windows, effective_kernel

Exact = Union[int, Fraction]


@dataclass(frozen=True)
class AxisField:
    size: Exact
    jump: Exact
    start: Exact


Field = tuple[AxisField, AxisField]

INPUT_AXIS = AxisField(1, 1, 0)


def exact_div(a: Exact, b: int) -> Exact:
    """`a / b`, an int when it divides evenly."""
    if isinstance(a, int) and a % b == 0:
        return a // b
    return Fraction(a) / b


INPUT_FIELD: Field = (INPUT_AXIS, INPUT_AXIS)


def through_window(axis: AxisField, k: int, s: int = 1, p_before: int = 0, d: int = 1) -> AxisField:
    """A sliding window (convolution, pooling):
    `r += (k_eff - 1)*j`, `j *= s`, `start += ((k_eff - 1)/2 - p_before)*j`."""
    k_eff = effective_kernel(k, d)
    return AxisField(
        size=axis.size + (k_eff - 1) * axis.jump,
        jump=axis.jump * s,
        start=axis.start + (exact_div(k_eff - 1, 2) - p_before) * axis.jump,
    )


def through_transposed(axis: AxisField, k: int, s: int = 1, p: int = 0, d: int = 1) -> AxisField:
    """A transposed convolution: output o gathers input taps `(o + p - d*t)/s` for integral values,
    at most `ceil(k_eff/s)` of them, so `r += (ceil(k_eff/s) - 1)*j`, `j /= s`, and the first
    output's centre sits at input coordinate `(p - (k_eff - 1)/2)/s`."""
    k_eff = effective_kernel(k, d)
    taps = -(-k_eff // s)
    return AxisField(
        size=axis.size + (taps - 1) * axis.jump,
        jump=exact_div(axis.jump, s),
        start=axis.start + exact_div(2 * p - (k_eff - 1), 2 * s) * axis.jump,
    )


def through_upsample(axis: AxisField, factor: int) -> AxisField:
    """Nearest upsampling by an integer factor: each output copies one input, `j /= factor`."""
    return AxisField(axis.size, exact_div(axis.jump, factor), axis.start)


def through_shift(axis: AxisField, pad_before: int) -> AxisField:
    """Zero padding: outputs move `pad_before` pixels left of the input's origin."""
    return AxisField(axis.size, axis.jump, axis.start - pad_before * axis.jump)


def through_whole(axis: AxisField, n: int) -> AxisField:
    """A layer whose one output sees all `n` positions (global pooling, fully connected)."""
    return through_window(axis, n, n, 0)


def widest(a: AxisField, b: AxisField) -> AxisField:
    """Where two paths merge, the larger receptive field wins (ties keep the first)."""
    return b if b.size > a.size else a


def through_adaptive(axis: AxisField, i: int, o: int) -> AxisField:
    """Adaptive pooling from i to o positions: the widest of PyTorch's windows sets the size, the
    mean step `i/o` the jump (exact when o divides i), the first window the start."""
    windows = adaptive_windows(i, o)
    widest_window = max(end - begin for begin, end in windows)
    first = windows[0][1] - windows[0][0]
    return AxisField(
        size=axis.size + (widest_window - 1) * axis.jump,
        jump=exact_div(axis.jump * i, o),
        start=axis.start + exact_div(first - 1, 2) * axis.jump,
    )
