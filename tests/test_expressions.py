"""The expression language of block parameters alone (cnnsize/expressions.py): what each operator
and function gives, torchvision's channel rounding, each error's message, and hostile input
refused quickly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnsize.expressions import (
    FUNCTIONS,
    MAX_LENGTH,
    MAX_NESTING,
    ExpressionError,
    evaluate,
    make_divisible,
    parse,
)

SCOPE = {"in": 32, "c": 96, "stride": 1, "cin": 24, "cout": 24, "ratio": 0.25, "act": "relu", "k": [1, 3]}


def value(text: str, **scope: object) -> object:
    return evaluate(text, {**SCOPE, **scope})


def error(text: str, **scope: object) -> str:
    with pytest.raises(ExpressionError) as caught:
        value(text, **scope)
    return str(caught.value)


# -- values and types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("0.75", 0.75),
        (".5", 0.5),
        ("1e3", 1000.0),  # an exponent makes a float, as in Python
        ("2.5E-1", 0.25),
        ("true", True),
        ("False", False),
        ("'relu'", "relu"),
        ('"relu"', "relu"),
        ("in", 32),  # `in` is a Python keyword, but here just a name
        ("act", "relu"),
        ("k", [1, 3]),  # a name gives its value, whatever it is
        ("  c\n", 96),  # white space (a folded YAML line) is skipped
    ],
)
def test_literals_and_names(text: str, expected: object) -> None:
    result = value(text)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in * 6", 192),  # 32 * 6
        ("in // 4", 8),  # 32 // 4
        ("c + 4", 100),  # 96 + 4
        ("c - 100", -4),  # 96 - 100
        ("7 / 2", 3.5),  # `/` always gives a float
        ("6 / 2", 3.0),  # even when it divides evenly
        ("7 // 2", 3),
        ("-7 // 2", -4),  # `//` floors: -3.5 -> -4
        ("7.5 // 2", 3.0),  # a float stays a float: floor(3.75) = 3.0
        ("7 % 3", 1),
        ("-7 % 3", 2),  # `%` takes the sign of the divisor: -7 = -3 * 3 + 2
        ("7 % -3", -2),  # 7 = -3 * -3 - 2
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),  # a negative integer power gives a float, as in Python
        ("4 ** 0.5", 2.0),
        ("-c", -96),
        ("+c", 96),
        ("c * 0.75", 72.0),  # 96 * 0.75: an int times a float is a float
        ("c * ratio", 24.0),  # 96 * 0.25
    ],
)
def test_each_arithmetic_operator_follows_python(text: str, expected: object) -> None:
    result = value(text)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 + 3 * 4", 14),  # * before +: 2 + 12
        ("(2 + 3) * 4", 20),  # 5 * 4
        ("2 * 3 ** 2", 18),  # ** before *: 2 * 9
        ("-2 ** 2", -4),  # ** before a unary minus on its left: -(2 ** 2), as in Python
        ("(-2) ** 2", 4),
        ("2 ** 3 ** 2", 512),  # ** groups from the right: 2 ** 9
        ("10 - 4 - 3", 3),  # others from the left: (10 - 4) - 3
        ("100 // 10 // 3", 3),  # (100 // 10) // 3 = 10 // 3
        ("2 * 3 % 4", 2),  # (2 * 3) % 4 = 6 % 4
        ("1 + 2 == 3", True),  # arithmetic before comparison: 3 == 3
        ("not 1 > 2", True),  # comparison before not: not (1 > 2)
        ("not true == false", True),  # not (true == false)
        ("true or false and false", True),  # and before or: true or (false and false)
        ("(true or false) and false", False),
        ("1 if false else 2 if true else 3", 2),  # 1 if false else (2 if true else 3)
        ("c // 4 if stride == 1 else c", 24),  # the condition binds loosest: (96 // 4) if ...
    ],
)
def test_precedence_and_grouping(text: str, expected: object) -> None:
    assert value(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stride == 1 and cin == cout", True),  # MBConv's residual: 1 == 1 and 24 == 24
        ("stride == 2 or cin != cout", False),
        ("c > 64", True),
        ("c >= 96", True),
        ("c < 96", False),
        ("c <= 95", False),
        ("1 < stride + 1 < 3", True),  # a chain: 1 < 2 and 2 < 3
        ("3 > c > 2", False),  # 3 > 96 is false: the chain stops there
        ("1 == 1.0", True),  # numbers compare by value
        ("act == 'relu'", True),
        ("act != 'silu'", True),
        ("k == k", True),
        ("not false", True),
    ],
)
def test_comparisons_and_logic(text: str, expected: bool) -> None:
    assert value(text) is expected


def test_and_or_stop_at_the_operand_that_decides() -> None:
    # the right side would divide by zero; it is never evaluated
    assert value("stride == 2 and c // 0 == 1") is False
    assert value("stride == 1 or c // 0 == 1") is True
    assert value("c if true else c // 0") == 96


# -- functions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max(8, c // 4)", 24),  # max(8, 24)
        ("max(8, 16 // 4)", 8),  # max(8, 4)
        ("max(1, 2.5, 2)", 2.5),
        ("min(c, 64)", 64),
        ("min(0.5, 1)", 0.5),
        ("abs(-3)", 3),
        ("abs(-2.5)", 2.5),
        ("int(2.7)", 2),  # toward zero
        ("int(-2.7)", -2),  # toward zero, not down
        ("int(c * 0.75)", 72),  # int(72.0)
        ("round(2.5)", 2),  # Python's round: a half goes to the even neighbour
        ("round(3.5)", 4),
        ("round(-2.5)", -2),
        ("round(2.675, 2)", 2.67),  # 2.675 is 2.67499999... in binary
        ("round(1234, -2)", 1200),
        ("round(value=2.4)", 2),
        ("ceil(2.1)", 3),
        ("ceil(-2.1)", -2),
        ("ceil(4)", 4),
        ("floor(2.9)", 2),
        ("floor(-2.1)", -3),
    ],
)
def test_each_function(text: str, expected: object) -> None:
    result = value(text)
    assert result == expected and type(result) is type(expected)


# torchvision's `_make_divisible` (torchvision/models/_utils.py):
#   new_v = max(min_value or divisor, int(v + divisor / 2) // divisor * divisor)
#   and new_v + divisor if new_v < 0.9 * v
# Widths below are from torchvision/models/mobilenetv2.py (MobileNetV2.__init__: the stem's 32, each
# stage's c, the last 1280 times max(1.0, width_mult), all with round_nearest=8).
MOBILENET_V2_075 = [
    (32, 24),  # 32 * 0.75 = 24.0: int(24 + 4) // 8 * 8 = 24
    (16, 16),  # 12.0: int(16) // 8 * 8 = 16
    (24, 24),  # 18.0: int(22) // 8 * 8 = 16, but 16 < 0.9 * 18 = 16.2, so 16 + 8 = 24
    (64, 48),  # 48.0: int(52) // 8 * 8 = 48
    (96, 72),  # 72.0: int(76) // 8 * 8 = 72
    (160, 120),  # 120.0: int(124) // 8 * 8 = 120
    (320, 240),  # 240.0: int(244) // 8 * 8 = 240
]
MOBILENET_V2_140 = [
    (32, 48),  # 32 * 1.4 = 44.8: int(48.8) // 8 * 8 = 48
    (16, 24),  # 22.4: int(26.4) // 8 * 8 = 24
    (24, 32),  # 33.6: int(37.6) // 8 * 8 = 32 (>= 0.9 * 33.6 = 30.24)
    (64, 88),  # 89.6: int(93.6) // 8 * 8 = 88 (>= 80.64)
    (96, 136),  # 134.4: int(138.4) // 8 * 8 = 136
    (160, 224),  # 224.0: int(228) // 8 * 8 = 224
    (320, 448),  # 448.0: int(452) // 8 * 8 = 448
    (1280, 1792),  # the last conv: 1280 * max(1.0, 1.4) = 1792.0: int(1796) // 8 * 8 = 1792
]


@pytest.mark.parametrize(("c", "expected"), MOBILENET_V2_075)
def test_make_divisible_gives_mobilenet_v2_widths_at_075(c: int, expected: int) -> None:
    assert value("make_divisible(c * 0.75, 8)", c=c) == expected


@pytest.mark.parametrize(("c", "expected"), MOBILENET_V2_140)
def test_make_divisible_gives_mobilenet_v2_widths_at_14(c: int, expected: int) -> None:
    assert value("make_divisible(c * 1.4, 8)", c=c) == expected


# MobileNetV3's squeeze-and-excitation width (torchvision/models/mobilenetv3.py, InvertedResidual:
# `_make_divisible(cnf.expanded_channels // 4, 8)`) for the expanded widths of mobilenet_v3_large
@pytest.mark.parametrize(
    ("expanded", "expected"),
    [
        (72, 24),  # 72 // 4 = 18: int(22) // 8 * 8 = 16 < 16.2, so 24
        (120, 32),  # 30: int(34) // 8 * 8 = 32
        (480, 120),  # 120: int(124) // 8 * 8 = 120
        (672, 168),  # 168: int(172) // 8 * 8 = 168
        (960, 240),  # 240: int(244) // 8 * 8 = 240
    ],
)
def test_make_divisible_gives_mobilenet_v3_squeeze_widths(expanded: int, expected: int) -> None:
    assert value("make_divisible(e // 4, 8)", e=expanded) == expected


def test_make_divisible_min_value() -> None:
    assert value("make_divisible(3, 8)") == 8  # max(8, int(7) // 8 * 8 = 0): min_value defaults to 8
    assert value("make_divisible(3, 8, 4)") == 4  # max(4, 0) = 4, and 4 >= 0.9 * 3
    assert value("make_divisible(3, 8, min_value=16)") == 16
    assert value("make_divisible(v=20, divisor=8)") == 24  # int(24) // 8 * 8 = 24
    assert make_divisible(17.5, 8) == 16  # int(21.5) = 21; 21 // 8 * 8 = 16 >= 15.75
    assert type(make_divisible(24.0, 8)) is int


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("c * / 2", "column 5: expected a value (a number, a name or '('), found '/'"),
        ("c +", "column 4: expected a value (a number, a name or '('), found the end of the expression"),
        ("(c + 1", "column 1: '(' at column 1 is never closed"),
        ("max(c, 1", "column 4: '(' at column 4 is never closed"),
        ("c + 1)", "column 6: unexpected ')'"),
        ("c c", "column 3: unexpected 'c'"),
        ("c $ 2", "column 3: unexpected character '$'"),
        ("c\u00a0+\x00", "column 4: unexpected character '\\x00'"),  # a no-break space is white space
        ("'relu", "column 1: the string opened with ' here is never closed"),
        ("c = 2", "column 3: '=' gives a function's argument by name; to compare, write '=='"),
        ("c if stride", "column 12: expected 'else', found the end of the expression"),
        ("and c", "column 1: expected a value, found 'and'"),
        ("", "the expression is empty: write a parameter's name or an expression"),
        (
            "maxx(c, 2)",
            "column 1: unknown function 'maxx' (did you mean 'max'?); the functions are " + ", ".join(FUNCTIONS),
        ),
        ("max(c)", "column 1: max takes at least 2 arguments, got 1"),
        ("abs(1, 2)", "column 1: abs takes 1 argument, got 2"),
        ("make_divisible(c)", "column 1: make_divisible takes 2 to 3 arguments, got 1"),
        ("make_divisible(c, min_value=8)", "column 1: make_divisible needs its argument 'divisor'"),
        ("make_divisible(c, 8, divisor=8)", "column 22: make_divisible takes no argument named 'divisor' here"),
        ("round(x=1)", "column 7: round takes no argument named 'x' here"),
        ("round(ndigits=1, 2)", "column 18: an argument without a name cannot follow a named one"),
        ("99999999999999999999", "column 1: the number 99999999999999999999 is beyond the limit of 2**63"),
        ("1e999", "column 1: the number 1e999 is too large for a float"),
        ("nope", "column 1: unknown name 'nope'"),
    ],
)
def test_a_mistake_is_named_with_its_column(text: str, message: str) -> None:
    assert error(text) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("c // 0", "column 3: '//' divides by zero (96 // 0)"),
        ("c / (stride - 1)", "column 3: '/' divides by zero (96 / 0)"),
        ("c % 0.0", "column 3: '%' divides by zero (96 % 0)"),
        ("0 ** -1", "column 3: '**' raises zero to a negative power (a division by zero)"),
        ("9 ** 9 ** 9", "column 3: '**' gives an integer beyond the limit of 2**63 in magnitude"),
        ("2 ** 63", "column 3: '**' gives an integer beyond the limit of 2**63 in magnitude"),
        ("3 ** 40", "column 3: '**' gives an integer beyond the limit of 2**63 in magnitude"),  # 1.2e19
        ("2 ** 62 * 2", "column 9: '*' gives an integer beyond the limit of 2**63 in magnitude"),
        ("-(2 ** 62) - 2 ** 62", "column 12: '-' gives an integer beyond the limit of 2**63 in magnitude"),
        ("1e300 * 1e300", "column 7: '*' gives a number too large for a float"),
        ("10.0 ** 400", "column 6: '**' gives a number too large for a float"),
        ("(-8) ** 0.5", "column 6: '**' gives a complex number"),
        ("int(1e300)", "column 1: int gives an integer beyond the limit of 2**63 in magnitude"),
        ("ceil(1e300)", "column 1: ceil gives an integer beyond the limit of 2**63 in magnitude"),
        (
            "make_divisible(1e300, 8)",
            "column 1: make_divisible gives an integer beyond the limit of 2**63 in magnitude",
        ),
        ("make_divisible(c, 0)", "column 1: make_divisible's divisor must be a positive integer, got 0"),
        ("make_divisible(c, 2.5)", "column 1: make_divisible's divisor takes an integer, got 2.5"),
        ("round(2.5, 100)", "column 1: round's ndigits must be from -30 to 30, got 100"),
        ("c + true", "column 3: '+' takes numbers, got true (a boolean)"),
        ("act * 2", "column 5: '*' takes numbers, got 'relu' (a string)"),
        ("k + 1", "column 3: '+' takes numbers, got [1, 3] (a list)"),
        ("-true", "column 1: unary '-' takes numbers, got true (a boolean)"),
        ("max(c, act)", "column 1: max takes numbers, got 'relu' (a string)"),
        ("not c", "column 1: 'not' takes true or false, got 96 (a number)"),
        ("stride and true", "column 1: 'and' takes true or false, got 1 (a number)"),
        ("false or c", "column 7: 'or' takes true or false, got 96 (a number)"),
        ("1 if c else 2", "column 3: 'if' takes true or false, got 96 (a number)"),
        ("stride == true", "column 8: '==' compares a number (1) with a boolean (true)"),
        ("act == 1", "column 5: '==' compares a string ('relu') with a number (1)"),
        ("act < 'z'", "column 5: '<' takes numbers, got 'relu' (a string)"),
    ],
)
def test_an_evaluation_error_names_the_operator_and_its_column(text: str, message: str) -> None:
    assert error(text) == message


# -- parsing once, and hostile input ---------------------------------------------------------------


def test_a_text_is_parsed_once() -> None:
    assert parse("c * 2 + 1") is parse("c * 2 + 1")
    assert parse("c * 2 + 1").names == frozenset({"c"})
    assert parse("max(in, c) if flag else 3").names == frozenset({"in", "c", "flag"})  # not `max`


def refused_quickly(text: str) -> str:
    start = time.perf_counter()
    with pytest.raises(ExpressionError) as caught:
        value(text)
    assert time.perf_counter() - start < 1.0  # generous: each is a few milliseconds
    return str(caught.value)


def test_deep_nesting_is_refused_quickly() -> None:
    depth = MAX_NESTING + 1
    assert refused_quickly("(" * depth + "1" + ")" * depth).endswith(
        f"the expression nests deeper than {MAX_NESTING} levels (parentheses, calls, operators)"
    )
    assert "nests deeper" in refused_quickly("-" * 500 + "1")
    assert "nests deeper" in refused_quickly("not " * 200 + "true")
    assert "nests deeper" in refused_quickly("max(1, " * 100 + "1" + ")" * 100)
    assert "nests deeper" in refused_quickly("2 ** " * 100 + "1")
    assert value("(" * (MAX_NESTING - 1) + "1" + ")" * (MAX_NESTING - 1)) == 1  # the limit itself is fine


def test_long_and_huge_input_is_refused_quickly() -> None:
    assert refused_quickly("1" + " + 1" * 10_000_000) == f"the expression is longer than {MAX_LENGTH} characters"
    assert refused_quickly("9" * 5000).endswith("is longer than 1000 characters")
    assert refused_quickly("9" * 900).endswith("is beyond the limit of 2**63")
    assert "beyond the limit" in refused_quickly("*".join(["c"] * 300))  # 96 ** 300: stopped at 96 ** 10
    assert "beyond the limit" in refused_quickly("9 ** 9 ** 9 ** 9")


def test_the_longest_chain_allowed_evaluates_quickly() -> None:
    text = " + ".join(["c"] * 250)  # 997 characters: a flat chain, one node evaluated in a loop
    start = time.perf_counter()
    assert value(text) == 96 * 250
    assert time.perf_counter() - start < 1.0


ALPHABET = "0123456789.eE+-*/%()<>=!,'\" abcinotrufsdlxmk_"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.one_of(st.sampled_from(ALPHABET), st.characters()), max_size=60))
def test_any_text_gives_a_value_or_an_expression_error(text: str) -> None:
    """Never another exception (a traceback), and never slowly."""
    start = time.perf_counter()
    try:
        value(text)
    except ExpressionError:
        pass
    assert time.perf_counter() - start < 1.0


def arithmetic() -> st.SearchStrategy[tuple[str, int]]:
    """(text, value) of random integer expressions, the value computed with Python's operators."""
    leaves = st.integers(-50, 50).map(lambda n: (f"({n})", n))

    def combine(children: st.SearchStrategy[tuple[str, int]]) -> st.SearchStrategy[tuple[str, int]]:
        def apply(op: str, a: tuple[str, int], b: tuple[str, int]) -> tuple[str, int]:
            if op in ("//", "%") and b[1] == 0:
                return a
            results = {"+": a[1] + b[1], "-": a[1] - b[1], "*": a[1] * b[1], "//": 0, "%": 0}
            if op in ("//", "%"):
                results["//"], results["%"] = divmod(a[1], b[1])
            return f"({a[0]} {op} {b[0]})", results[op]

        return st.builds(apply, st.sampled_from(["+", "-", "*", "//", "%"]), children, children)

    return st.recursive(leaves, combine, max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(arithmetic())
def test_integer_arithmetic_agrees_with_python(case: tuple[str, int]) -> None:
    text, expected = case
    if len(text) <= MAX_LENGTH:
        assert value(text) == expected


def test_the_evaluator_is_input_layer_code_that_loads_nothing_above_it() -> None:
    """Imports point down: the evaluator needs only the core errors (no pydantic, no kinds)."""
    code = "import sys, cnnsize.expressions; print(sorted(m for m in sys.modules if m.startswith(('cnnsize', 'pydantic'))))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert result.stdout.strip() == "['cnnsize', 'cnnsize.errors', 'cnnsize.expressions', 'cnnsize.spelling']"
