"""Shape arithmetic as small pure functions of one spatial axis (see ../shared/CONVENTIONS.md).

Every function takes and returns exact Python integers. None of them validates: a result below 1
is returned as it is, and the caller decides what that means. `*_formula` functions give the same
arithmetic as text with the numbers put in, for error messages and the sizing calculator.
"""

from __future__ import annotations


def effective_kernel(k: int, d: int = 1) -> int:
    """The extent a dilated kernel covers: `d*(k - 1) + 1`."""
    return d * (k - 1) + 1


def conv_out(i: int, k: int, s: int = 1, p_before: int = 0, p_after: int | None = None, d: int = 1) -> int:
    """`floor((i + p_before + p_after - d*(k - 1) - 1)/s) + 1` (symmetric padding when p_after is None)."""
    if p_after is None:
        p_after = p_before
    return (i + p_before + p_after - d * (k - 1) - 1) // s + 1


def conv_formula(i: int, k: int, s: int = 1, p_before: int = 0, p_after: int | None = None, d: int = 1) -> str:
    """`conv_out` as text: `floor((32 + 2*2 - 5)/1) + 1 = 32`."""
    pad = f"2*{p_before}" if p_after is None or p_after == p_before else f"{p_before} + {p_after}"
    return f"floor(({i} + {pad} - {_kernel_text(k, d)})/{s}) + 1 = {conv_out(i, k, s, p_before, p_after, d)}"


def _kernel_text(k: int, d: int) -> str:
    """The subtracted kernel term: `k` without dilation, else `d*(k - 1) - 1` (i.e. `- d*(k-1) - 1`)."""
    return str(k) if d == 1 else f"{d}*({k} - 1) - 1"


def same_padding(i: int, k: int, s: int = 1, d: int = 1) -> tuple[int, int]:
    """TensorFlow's `same` padding as (before, after); the odd pixel goes after (bottom/right).

    `out = ceil(i/s)`, `total = max((out - 1)*s + d*(k - 1) + 1 - i, 0)`.
    """
    out = -(-i // s)
    total = max((out - 1) * s + effective_kernel(k, d) - i, 0)
    return total // 2, total - total // 2


def same_padding_formula(i: int, k: int, s: int = 1, d: int = 1) -> str:
    """`same_padding` as text: `ceil(224/2) = 112; max((112 - 1)*2 + 1*(7 - 1) + 1 - 224, 0) = 5 = 2 + 3`."""
    out = -(-i // s)
    before, after = same_padding(i, k, s, d)
    return (
        f"out = ceil({i}/{s}) = {out}; total padding = max(({out} - 1)*{s} + {d}*({k} - 1) + 1 - {i}, 0)"
        f" = {before + after} = {before} before + {after} after"
    )


def full_padding(k: int, d: int = 1) -> int:
    """`full` padding on each side: `d*(k - 1)`."""
    return d * (k - 1)


def full_padding_formula(k: int, d: int = 1) -> str:
    """`full_padding` as text: `1*(5 - 1) = 4`."""
    return f"{d}*({k} - 1) = {full_padding(k, d)}"


def transposed_conv_out(i: int, k: int, s: int = 1, p: int = 0, output_padding: int = 0, d: int = 1) -> int:
    """`(i - 1)*s - 2*p + d*(k - 1) + output_padding + 1` (PyTorch `ConvTranspose2d`)."""
    return (i - 1) * s - 2 * p + d * (k - 1) + output_padding + 1


def transposed_conv_formula(i: int, k: int, s: int = 1, p: int = 0, output_padding: int = 0, d: int = 1) -> str:
    """`transposed_conv_out` as text."""
    out = transposed_conv_out(i, k, s, p, output_padding, d)
    return f"({i} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {output_padding} + 1 = {out}"


def pool_out(i: int, k: int, s: int, p: int = 0, d: int = 1, ceil_mode: bool = False) -> int:
    """Pooling output size (PyTorch `MaxPool2d`/`AvgPool2d`), floor or ceil mode.

    In ceil mode the last window is dropped when it would start in the right padding:
    if `(out - 1)*s >= i + p` then `out -= 1`.
    """
    span = i + 2 * p - effective_kernel(k, d)
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= i + p:
        out -= 1
    return out


def pool_formula(i: int, k: int, s: int, p: int = 0, d: int = 1, ceil_mode: bool = False) -> str:
    """`pool_out` as text; in ceil mode a dropped last window is shown with the rule that drops it."""
    rounding = "ceil" if ceil_mode else "floor"
    text = f"{rounding}(({i} + 2*{p} - {_kernel_text(k, d)})/{s}) + 1"
    out = pool_out(i, k, s, p, d, ceil_mode)
    rounded = -(-(i + 2 * p - effective_kernel(k, d)) // s) + 1
    if ceil_mode and rounded != out:
        return (
            f"{text} - 1 = {out} (the last window would start in the right padding: "
            f"({rounded} - 1)*{s} = {(rounded - 1) * s} >= {i} + {p}, so it is dropped)"
        )
    return f"{text} = {out}"


def adaptive_windows(i: int, o: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows: output j pools `[floor(j*i/o), ceil((j+1)*i/o))`."""
    return [((j * i) // o, -(-((j + 1) * i) // o)) for j in range(o)]


Shape = tuple[int, ...]
"""A tensor's shape for one sample: (C, H, W) for a volume, (features,) for a flat vector."""


def shape_text(shape: Shape) -> str:
    """`[12, 32, 32]`: a shape as it is written in a spec."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def broadcast(shapes: list[Shape]) -> Shape | None:
    """PyTorch's broadcasting of per-sample shapes of one rank (a size of 1 stretches to the
    others'), or None when they do not broadcast. Shapes of different ranks do not: with the batch
    in front, PyTorch would align the batch of one with a dimension of the other."""
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        return None
    out = []
    for axis in range(rank):
        sizes = {s[axis] for s in shapes}
        sizes.discard(1)
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def shapes_text(shapes: tuple[Shape, ...]) -> str:
    """`[12, 32, 32]` for one shape, `[58, 28, 28], [58, 28, 28]` for several."""
    return ", ".join(shape_text(s) for s in shapes)
