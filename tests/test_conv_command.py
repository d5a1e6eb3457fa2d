"""`cnnsize conv`, the sizing calculator on the command line: what it prints and its exit codes
(0 solved or computed, 1 when no value gives the wanted output, 2 on bad values)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cnnsize.cli import app


def conv(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["conv", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_the_course_example() -> None:
    code, out, _ = conv("--input", "32", "--kernel", "5", "--stride", "1", "--padding", "2")
    # floor((32 + 2*2 - 5)/1) + 1 = 31 + 1 = 32
    assert code == 0
    assert out == ("output size: 32\n  out = floor((i + 2*p - k)/s) + 1\n      = floor((32 + 2*2 - 5)/1) + 1 = 32\n")


def test_transposed_with_output_padding() -> None:
    code, out, _ = conv(
        "--input", "7", "--kernel", "3", "--stride", "2", "--padding", "1", "--output-padding", "1", "--transposed"
    )
    # (7 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 14
    assert code == 0
    assert out.splitlines()[0] == "output size: 14"
    assert "(7 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 14" in out


def test_dilation() -> None:
    code, out, _ = conv("-i", "64", "-k", "3", "-s", "2", "-p", "4", "-d", "4")
    # floor((64 + 8 - 4*2 - 1)/2) + 1 = floor(63/2) + 1 = 32
    assert code == 0
    assert "floor((64 + 2*4 - 4*(3 - 1) - 1)/2) + 1 = 32" in out


@pytest.mark.parametrize(
    ("mode", "size", "shown"),
    [
        ("same", 16, "floor((32 + 0 + 1 - 3)/2) + 1 = 16"),  # ceil(32/2) = 16; total = 15*2 + 3 - 32 = 1
        ("valid", 15, "floor((32 + 2*0 - 3)/2) + 1 = 15"),  # floor(29/2) + 1 = 15
        ("full", 17, "floor((32 + 2*2 - 3)/2) + 1 = 17"),  # p = 2: floor(33/2) + 1 = 17
    ],
)
def test_padding_modes(mode: str, size: int, shown: str) -> None:
    code, out, _ = conv("--input", "32", "--kernel", "3", "--stride", "2", "--padding", mode)
    assert code == 0
    assert out.splitlines()[0] == f"output size: {size}"
    assert f"padding '{mode}'" in out and shown in out


def test_pool_with_ceil_mode() -> None:
    code, out, _ = conv("--input", "112", "--kernel", "3", "--stride", "2", "--pool", "--ceil-mode")
    # ceil((112 - 3)/2) + 1 = 55 + 1 = 56 (floor would give 55)
    assert code == 0
    assert "ceil((112 + 2*0 - 3)/2) + 1 = 56" in out
    code, out, _ = conv("--input", "112", "--kernel", "3", "--stride", "2", "--pool")
    assert "floor((112 + 2*0 - 3)/2) + 1 = 55" in out


def test_solve_padding() -> None:
    code, out, _ = conv("--input", "32", "--kernel", "5", "--solve", "padding", "--output", "32")
    # floor((32 + 2p - 5)/1) + 1 = 32  <=>  p = 2
    assert code == 0
    assert out == "padding 2 gives output 32\n  padding 2: floor((32 + 2*2 - 5)/1) + 1 = 32\n"


def test_solve_stride() -> None:
    code, out, _ = conv("--input", "224", "--kernel", "7", "--padding", "3", "--solve", "stride", "--output", "112")
    # floor((224 + 6 - 7)/s) + 1 = 112  <=>  s = 2 (223/2 = 111.5)
    assert code == 0
    assert out.splitlines()[0] == "stride 2 gives output 112"


def test_solve_kernel() -> None:
    code, out, _ = conv("--input", "32", "--stride", "1", "--solve", "kernel", "--output", "28")
    # floor((32 - k)/1) + 1 = 28  <=>  k = 5
    assert code == 0
    assert "kernel 5: floor((32 + 2*0 - 5)/1) + 1 = 28" in out


def test_no_solution_explains_and_exits_1() -> None:
    code, out, _ = conv("--input", "32", "--kernel", "5", "--solve", "padding", "--output", "33")
    # p = 2 -> 32 and p = 3 -> 34; uneven 2 + 3 -> 33
    assert code == 1
    assert out.splitlines()[:2] == ["no padding gives output 33", "  the nearest outputs are 32 and 34:"]
    assert "uneven padding would: 2 before and 3 after" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "32", "--kernel", "5", "--padding", "-1"], "--padding must be a non-negative integer"),
        (["--input", "32", "--kernel", "5", "--padding", "sme"], "got 'sme'"),
        (["--input", "8", "--kernel", "30"], "the kernel (30) is larger than the padded input"),
        (["--input", "32", "--kernel", "3", "--pool", "--padding", "2"], "at most half the kernel size"),
        (["--input", "7", "--kernel", "3", "--stride", "2", "--transposed", "--output-padding", "2"], "smaller than"),
        (["--input", "32", "--kernel", "3", "--ceil-mode"], "--ceil-mode is for pooling windows"),
        (["--input", "32", "--kernel", "3", "--output-padding", "1"], "--output-padding is for transposed"),
        (["--input", "32", "--kernel", "3", "--pool", "--transposed"], "choose one of --pool and --transposed"),
        (["--input", "32"], "missing option '--kernel'"),
        (["--input", "32", "--kernel", "3", "--output", "30"], "--output is the size that --solve aims at"),
        (["--input", "32", "--kernel", "3", "--solve", "padding"], "needs the output size it aims at"),
        (["--input", "32", "--kernel", "3", "--padding", "1", "--solve", "padding", "--output", "3"], "leave it out"),
        (["--input", "10000000", "--kernel", "3", "--solve", "stride", "--output", "3"], "too large to search"),
    ],
)
def test_bad_values_exit_2_with_one_clear_line(args: list[str], message: str) -> None:
    code, out, err = conv(*args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


@pytest.mark.parametrize(
    "args", [["--input", "0", "--kernel", "3"], ["--input", "8", "--kernel", "3", "--stride", "0"]]
)
def test_out_of_range_numbers_are_usage_errors(args: list[str]) -> None:
    code, _, err = conv(*args)
    assert code == 2
    assert "Invalid value" in err and "Traceback" not in err
