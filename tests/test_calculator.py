"""The sizing calculator: output sizes with their arithmetic, and solving for padding, stride or
kernel. Vectors come from ../shared/CONVENTIONS.md (PyTorch's docs, Dumoulin & Visin 2016, CS231n);
a grid is also checked against the shapes PyTorch itself produces."""

from __future__ import annotations

import itertools

import pytest

from cnnsize import calculator
from cnnsize.calculator import Window, parse_padding, solve

# (i, k, s, p, d) -> out: floor((i + 2p - d*(k - 1) - 1)/s) + 1
CONV_VECTORS = [
    ((227, 11, 4, 0, 1), 55),  # floor((227 - 11)/4) + 1 = 54 + 1 (AlexNet conv1)
    ((224, 11, 4, 2, 1), 55),  # floor((224 + 4 - 11)/4) + 1 = 54 + 1
    ((224, 7, 2, 3, 1), 112),  # floor((224 + 6 - 7)/2) + 1 = 111 + 1 (ResNet stem)
    ((10, 3, 2, 0, 1), 4),  # floor((10 - 3)/2) + 1 = 3 + 1
    ((64, 3, 2, 4, 4), 32),  # floor((64 + 8 - 4*2 - 1)/2) + 1 = 31 + 1
    ((15, 5, 3, 1, 2), 3),  # floor((15 + 2 - 2*4 - 1)/3) + 1 = 2 + 1
    ((5, 3, 2, 1, 1), 3),  # floor((5 + 2 - 3)/2) + 1 = 2 + 1 (CS231n padding demo)
]


@pytest.mark.parametrize(("args", "out"), CONV_VECTORS)
def test_conv_vectors(args: tuple[int, ...], out: int) -> None:
    i, k, s, p, d = args
    window = Window("conv", i, k, s, p, d)
    assert window.output() == out
    assert window.formula().endswith(f" = {out}")
    assert window.broken_rule() is None


# (i, k, s, p, output_padding, d) -> out: (i - 1)*s - 2p + d*(k - 1) + output_padding + 1
@pytest.mark.parametrize(
    ("args", "out"),
    [
        ((7, 3, 2, 1, 1, 1), 14),  # 6*2 - 2 + 2 + 1 + 1 = 14
        ((7, 3, 2, 1, 0, 1), 13),  # 6*2 - 2 + 2 + 0 + 1 = 13
        ((3, 4, 2, 1, 0, 1), 6),  # 2*2 - 2 + 3 + 0 + 1 = 6
        ((5, 3, 2, 1, 1, 2), 12),  # 4*2 - 2 + 2*2 + 1 + 1 = 12
    ],
)
def test_transposed_vectors(args: tuple[int, ...], out: int) -> None:
    i, k, s, p, op, d = args
    assert Window("transposed", i, k, s, p, d, output_padding=op).output() == out


# (i, k, s, p) -> out with ceil_mode; the last window is dropped when it starts in the right padding.
@pytest.mark.parametrize(
    ("args", "out", "floor_out"),
    [
        ((112, 3, 2, 0), 56, 55),  # ceil(109/2) + 1 = 56; floor: 54 + 1 = 55
        ((6, 3, 2, 0), 3, 2),  # ceil(3/2) + 1 = 3
        ((14, 3, 2, 1), 8, 7),  # ceil(13/2) + 1 = 8
        ((7, 2, 2, 0), 4, 3),  # ceil(5/2) + 1 = 4
        ((5, 2, 2, 1), 3, 3),  # ceil(5/2) + 1 = 4, but (4 - 1)*2 = 6 >= 5 + 1: dropped, 3
    ],
)
def test_pool_vectors(args: tuple[int, ...], out: int, floor_out: int) -> None:
    i, k, s, p = args
    assert Window("pool", i, k, s, p, ceil_mode=True).output() == out
    assert Window("pool", i, k, s, p).output() == floor_out


# `same` (TensorFlow's rule) (i, k, s, d) -> out, (before, after)
@pytest.mark.parametrize(
    ("args", "out", "pads"),
    [
        ((224, 7, 2, 1), 112, (2, 3)),  # total = max(111*2 + 7 - 224, 0) = 5
        ((224, 3, 2, 1), 112, (0, 1)),  # total = 111*2 + 3 - 224 = 1
        ((225, 3, 2, 1), 113, (1, 1)),  # total = 112*2 + 3 - 225 = 2
        ((13, 6, 5, 1), 3, (1, 2)),  # total = 2*5 + 6 - 13 = 3
        ((64, 3, 1, 2), 64, (2, 2)),  # total = 63 + 2*2 + 1 - 64 = 4
    ],
)
def test_same_padding_vectors(args: tuple[int, ...], out: int, pads: tuple[int, int]) -> None:
    i, k, s, d = args
    window = Window("conv", i, k, s, "same", d)
    assert (window.output(), window.pads()) == (out, pads)


def test_the_course_example_shows_its_arithmetic() -> None:
    window = Window("conv", input=32, kernel=5, stride=1, padding=2)
    # floor((32 + 2*2 - 5)/1) + 1 = 31 + 1 = 32
    assert window.working() == ["out = floor((i + 2*p - k)/s) + 1", "    = floor((32 + 2*2 - 5)/1) + 1 = 32"]


def test_transposed_example_shows_its_arithmetic() -> None:
    window = Window("transposed", input=7, kernel=3, stride=2, padding=1, output_padding=1)
    # (7 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 12 - 2 + 2 + 2 = 14
    assert window.working()[-1] == "    = (7 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 14"


def test_dilation_shows_the_dilated_kernel() -> None:
    # floor((64 + 2*4 - 4*(3 - 1) - 1)/2) + 1 = floor(63/2) + 1 = 32
    assert Window("conv", 64, 3, 2, 4, 4).working() == [
        "out = floor((i + 2*p - d*(k - 1) - 1)/s) + 1",
        "    = floor((64 + 2*4 - 4*(3 - 1) - 1)/2) + 1 = 32",
        # the dilated kernel reaches 4*(3 - 1) + 1 = 9 pixels: 64 + 8 - 9 = 63 is odd
        "note: (64 + 4 + 4 - 9) = 63 is not a multiple of the stride 2: the last pixel of the padded input is "
        "never covered",
    ]


def test_padding_modes_show_how_they_resolve() -> None:
    same = Window("conv", 224, 7, 2, "same").working()
    # ceil(224/2) = 112; total = (112 - 1)*2 + 1*(7 - 1) + 1 - 224 = 5 = 2 + 3
    assert same[0] == (
        "padding 'same' (TensorFlow's rule): out = ceil(224/2) = 112; "
        "total padding = max((112 - 1)*2 + 1*(7 - 1) + 1 - 224, 0) = 5 = 2 before + 3 after"
    )
    assert same[1:] == ["out = floor((i + p_before + p_after - k)/s) + 1", "    = floor((224 + 2 + 3 - 7)/2) + 1 = 112"]
    # full: p = 1*(5 - 1) = 4; floor((32 + 8 - 5)/1) + 1 = 36 = 32 + 4
    full = Window("conv", 32, 5, 1, "full").working()
    assert full[0] == "padding 'full': p = d*(k - 1) = 1*(5 - 1) = 4"
    assert full[-1].endswith("floor((32 + 2*4 - 5)/1) + 1 = 36")
    # valid: floor((32 - 5)/1) + 1 = 28
    assert Window("conv", 32, 5, 1, "valid").working()[0] == "padding 'valid': p = 0"
    assert Window("conv", 32, 5, 1, "valid").output() == 28


def test_ceil_mode_shows_the_dropped_window() -> None:
    # ceil((5 + 2 - 2)/2) + 1 = 4; the 4th window starts at (4 - 1)*2 = 6 >= 5 + 1: dropped
    assert Window("pool", 5, 2, 2, 1, ceil_mode=True).formula() == (
        "ceil((5 + 2*1 - 2)/2) + 1 - 1 = 3 (the last window would start in the right padding: "
        "(4 - 1)*2 = 6 >= 5 + 1, so it is dropped)"
    )


def test_pooling_stride_defaults_to_the_kernel() -> None:
    # floor((32 - 2)/2) + 1 = 16, as PyTorch's MaxPool2d(2)
    assert Window("pool", 32, 2).step == 2
    assert Window("pool", 32, 2).output() == 16
    assert Window("conv", 32, 2).step == 1


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (Window("conv", 8, 30), "the kernel (30) is larger than the padded input (8 + 0 + 0 = 8)"),
        (Window("conv", 8, 5, 1, 0, 3), "the dilated kernel (13) is larger than the padded input"),
        (Window("pool", 32, 3, 2, 2), "pooling padding must be at most half the kernel size"),
        (Window("pool", 32, 3, 2, "same"), "padding 'same' is for convolutions"),
        (Window("transposed", 7, 3, 2, 0, output_padding=2), "output padding must be smaller than the stride"),
        (Window("transposed", 2, 1, 1, 3), "the padding removes the whole output"),
    ],
)
def test_broken_rules_say_why(window: Window, message: str) -> None:
    assert message in (window.broken_rule() or "")


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("3", 3), ("same", "same"), ("valid", "valid")])
def test_parse_padding(text: str, value: object) -> None:
    assert parse_padding(text) == value


@pytest.mark.parametrize("text", ["-1", "sme", "1.5", ""])
def test_parse_padding_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="must be a non-negative integer or one of same, valid, full"):
        parse_padding(text)


def test_solve_padding() -> None:
    solution = solve(Window("conv", 32, 5), "padding", 32)
    # floor((32 + 2p - 5)/1) + 1 = 32  <=>  2p = 4  <=>  p = 2
    assert solution.values == [2] and not solution.open_ended
    assert solution.lines == ("padding 2 gives output 32", "  padding 2: floor((32 + 2*2 - 5)/1) + 1 = 32")


def test_solve_padding_with_stride_lists_every_answer() -> None:
    solution = solve(Window("conv", 32, 3, 3), "padding", 12)
    # floor((29 + 2p)/3) + 1 = 12  <=>  33 <= 29 + 2p <= 35  <=>  p = 2 or 3
    assert solution.values == [2, 3]
    assert solution.lines[0] == "padding 2 or 3 gives output 12"


def test_no_padding_gives_an_odd_step_but_uneven_padding_would() -> None:
    solution = solve(Window("conv", 32, 5), "padding", 33)
    # p = 2 -> 32, p = 3 -> 34: symmetric padding adds 2 per step; 2 + 3 gives floor(32 + 5 - 5) + 1 = 33
    assert not solution.found
    assert solution.lines == (
        "no padding gives output 33",
        "  the nearest outputs are 32 and 34:",
        "  padding 2: floor((32 + 2*2 - 5)/1) + 1 = 32",
        "  padding 3: floor((32 + 2*3 - 5)/1) + 1 = 34",
        "  uneven padding would: 2 before and 3 after (in a spec, padding: [2, 3, 2, 3]):",
        "    floor((32 + 2 + 3 - 5)/1) + 1 = 33",
    )


def test_padding_only_grows_the_output() -> None:
    solution = solve(Window("conv", 32, 5), "padding", 20)
    # even p = 0 gives floor(27/1) + 1 = 28 > 20
    assert not solution.found
    assert solution.lines[1:] == (
        "  every padding gives more; the least is 28:",
        "  padding 0: floor((32 + 2*0 - 5)/1) + 1 = 28",
    )


def test_solve_stride_is_open_ended_at_output_one() -> None:
    solution = solve(Window("conv", 32, 5), "stride", 1)
    # floor(27/s) + 1 = 1  <=>  s > 27
    assert solution.open_ended and solution.values[0] == 28
    assert solution.lines[0] == "stride 28 or more gives output 1"


def test_solve_stride_suggests_padding() -> None:
    solution = solve(Window("conv", 224, 7), "stride", 112)
    # s = 1 -> 218, s = 2 -> floor(217/2) + 1 = 109; with p = 3: floor((224 + 6 - 7)/2) + 1 = 112
    assert not solution.found
    assert solution.lines[-1] == "  with padding 3 it would: stride 2: floor((224 + 2*3 - 7)/2) + 1 = 112"


def test_solve_kernel() -> None:
    solution = solve(Window("conv", 32, stride=1, padding=0), "kernel", 28)
    # floor((32 - k)/1) + 1 = 28  <=>  k = 5
    assert solution.values == [5]


def test_solve_kernel_of_a_pool_whose_stride_follows_it() -> None:
    solution = solve(Window("pool", 32), "kernel", 16)
    # stride = kernel: floor((32 - k)/k) + 1 = 16  <=>  k = 2 (k = 3: floor(29/3) + 1 = 10)
    assert solution.values == [2]


def test_same_padding_makes_the_kernel_irrelevant() -> None:
    solution = solve(Window("conv", 32, stride=1, padding="same"), "kernel", 32)
    # out = ceil(32/1) = 32 for every kernel
    assert solution.open_ended and solution.values[0] == 1
    assert solution.lines[0] == "any kernel gives output 32 (it does not change the output here)"


def test_solve_transposed_padding_suggests_output_padding() -> None:
    solution = solve(Window("transposed", 7, 3, 2), "padding", 14)
    # p = 0 -> 15, p = 1 -> 13; with output_padding 1: 12 - 2 + 2 + 1 + 1 = 14
    assert not solution.found
    assert solution.lines[-1] == (
        "  with output padding 1 it would: padding 1: (7 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 14"
    )


def test_solve_transposed_stride() -> None:
    # (7 - 1)*s - 2 + 2 + 1 + 1 = 14  <=>  6s = 12  <=>  s = 2
    assert solve(Window("transposed", 7, 3, padding=1, output_padding=1), "stride", 14).values == [2]


def test_pool_padding_limit_is_explained() -> None:
    solution = solve(Window("pool", 3, 3), "padding", 10)
    assert not solution.found
    assert "  (pooling padding may be at most half the kernel: 1 here)" in solution.lines


def test_searches_too_large_are_refused() -> None:
    with pytest.raises(ValueError, match="too large to search"):
        solve(Window("conv", 10**7, 3), "stride", 7)


def _torch_size(window: Window) -> int:
    """The output length PyTorch gives for `window` on a 1 x 1 x input signal."""
    import torch
    import torch.nn.functional as F

    x = torch.zeros(1, 1, window.input)
    weight = torch.zeros(1, 1, window.kernel)
    before, after = window.pads()
    if window.operation == "transposed":
        y = F.conv_transpose1d(
            x,
            weight,
            stride=window.step,
            padding=before,
            output_padding=window.output_padding,
            dilation=window.dilation,
        )
    elif window.operation == "pool":
        y = F.max_pool1d(x, window.kernel, window.step, before, dilation=window.dilation, ceil_mode=window.ceil_mode)
    else:
        y = F.conv1d(F.pad(x, (before, after)), weight, stride=window.step, dilation=window.dilation)
    return y.shape[-1]


def _grid() -> list[Window]:
    windows = []
    for i, k, s, d in itertools.product((1, 5, 8, 13), (1, 2, 3, 4), (1, 2, 3), (1, 2)):
        for p in (0, 1, 2, "same", "full"):
            windows.append(Window("conv", i, k, s, p, d))
        for p, ceil in itertools.product((0, 1, 2), (False, True)):
            windows.append(Window("pool", i, k, s, p, d, ceil_mode=ceil))
        for p, op in itertools.product((0, 1, 2), (0, 1, 2)):
            windows.append(Window("transposed", i, k, s, p, d, output_padding=op))
    return [w for w in windows if w.broken_rule() is None]


def test_outputs_equal_pytorch_on_a_grid() -> None:
    windows = _grid()
    assert len(windows) > 500  # the grid is not filtered away
    wrong = [(w, w.output(), _torch_size(w)) for w in windows if w.output() != _torch_size(w)]
    assert wrong == []


@pytest.mark.parametrize("unknown", ["padding", "stride", "kernel"])
def test_solutions_are_exactly_what_pytorch_gives(unknown: str) -> None:
    """Every value solve finds gives the wanted size in PyTorch, and every other value it tried
    (up to a bound past the answers) does not."""
    for window, wanted in [(Window("conv", 32, 3, 2, 1), 16), (Window("pool", 13, 3, 2, 1, ceil_mode=True), 7)]:
        solution = solve(window, unknown, wanted)  # type: ignore[arg-type]
        found = set(solution.values)
        assert found, (window, unknown)
        top = min(max(found) + 5, 40) if not solution.open_ended else max(found)
        for value in range(0 if unknown == "padding" else 1, top + 1):
            candidate = Window(**{**window.__dict__, unknown: value})
            works = candidate.broken_rule() is None and _torch_size(candidate) == wanted
            assert works == (value in found), (candidate, wanted)


def test_a_solve_and_its_hints_try_at_most_the_bound(monkeypatch):
    # kernel 1000 on 2000: strides give at most 1001, never 1900. The hint would search the stride
    # again for each padding 0..1000 (1001 searches of ~12,000 candidates): past the bound, skipped.
    tried = 0
    output = calculator.Window.output

    def counted(window):
        nonlocal tried
        tried += 1
        return output(window)

    monkeypatch.setattr(calculator.Window, "output", counted)
    solution = calculator.solve(calculator.Window(input=2000, kernel=1000), "stride", 1900)
    assert not solution.found and "every stride gives less; the most is 1001:" in solution.lines[1]
    assert 0 < tried <= 3 * calculator.MAX_CANDIDATES  # the search, its nearest outputs, no hint


def test_a_search_past_the_bound_is_refused_saying_it():
    with pytest.raises(ValueError, match=f"over {calculator.MAX_CANDIDATES:,} candidates"):
        calculator.solve(calculator.Window(input=10**6, kernel=3), "padding", 10**6)


@pytest.mark.parametrize(
    "window, note",
    [
        # CS231n: input 10, kernel 3, stride 2 gives (10 - 3)/2 + 1 = 4.5, not an integer
        (Window(input=10, kernel=3, stride=2), "(10 + 0 + 0 - 3) = 7 is not a multiple of the stride 2: the last "
                                               "pixel of the padded input is never covered"),
        # 29 = 7 x 4 + 1
        (Window(input=32, kernel=5, stride=4, padding=1), "(32 + 1 + 1 - 5) = 29 is not a multiple of the stride 4: "
                                                          "the last pixel of the padded input is never covered"),
        (Window(input=9, kernel=3, stride=4), "(9 + 0 + 0 - 3) = 6 is not a multiple of the stride 4: the last 2 "
                                              "pixels of the padded input are never covered"),
    ],
)  # fmt: skip
def test_windows_that_leave_the_end_uncovered_say_so(window, note):
    assert window.uncovered() == f"note: {note}" and window.working()[-1] == f"note: {note}"


@pytest.mark.parametrize(
    "window",
    [Window(input=32, kernel=5, padding=2), Window(input=7, kernel=3, stride=2), Window(operation="pool", input=7,
     kernel=2, ceil_mode=True), Window(operation="transposed", input=4, kernel=3, stride=2)],
)  # fmt: skip
def test_windows_that_fit_exactly_have_no_note(window):
    # (32 + 4 - 5) = 31 and (7 - 3) = 4 are multiples of their strides 1 and 2
    assert window.uncovered() is None
