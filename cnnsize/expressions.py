"""The expression language of block parameters: `${in * 6}`, `${max(8, c // 4)}`,
`${make_divisible(c * 0.75, 8)}`, `${stride == 1 and cin == cout}` (docs/blocks.md).

A spec is a file anyone can write and `cnnsize check` runs in pre-commit, so the language is
read by a tokenizer and a hand-written recursive-descent parser of our own (never `eval`, never
Python's `ast`), with limits that keep every answer fast and small:

- the text is at most `MAX_LENGTH` characters, and parentheses, calls, unary operators and `**`
  nest at most `MAX_NESTING` deep (the parser and the evaluator recurse only there: a long chain
  like `a + b + c + ...` is one node evaluated in a loop);
- every integer, literal or computed, stays below 2**63 in magnitude, and every float is finite,
  so `9 ** 9 ** 9` or a long product is refused at once instead of growing without bound;
- a division by zero, an operator given the wrong kind of value, and an unknown function are
  errors that name the operator or the function and its column in the expression.

Values are Python's `int`, `float`, `bool` and `str` (and any value a name holds, passed through
unchanged: `${k if wide else j}` may give a list). Arithmetic follows Python: `/` gives a float,
`//` and `%` floor, `**` binds tighter than a unary minus on its left. Unlike Python, `and`, `or`,
`not` and the condition of `a if c else b` take only true or false, arithmetic takes only numbers,
and `==` compares only values of one kind (a number with a number), so a mistake is reported
instead of being given a meaning.

This module is the "input" layer: it imports only the core errors.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

from cnnsize.errors import CnnsizeError
from cnnsize.spelling import suggest

MAX_LENGTH = 1000
"""Most characters in one expression (the text between `${` and `}`)."""

MAX_NESTING = 32
"""Most parentheses, calls, unary operators and powers inside one another."""

INT_LIMIT = 2**63
"""Every integer must stay below this in magnitude (a channel count is far below it)."""

KEYWORDS = ("and", "or", "not", "if", "else", "true", "false", "True", "False")
"""Words of the language: they cannot name a parameter used in an expression."""


class ExpressionError(CnnsizeError):
    """A mistake in an expression, or in evaluating it: `message` says what, `column` (1-based,
    counted in the expression's text) where, when one place is to blame."""

    def __init__(self, message: str, column: Optional[int] = None):
        self.message = message
        self.column = column
        super().__init__(message if column is None else f"column {column}: {message}")


# -- values ----------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    """An int or a float; true and false are not numbers here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any) -> str:
    """A value as it would be written in an expression or in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _sort(value: Any) -> str:
    """What kind of value this is, in the words the messages use."""
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _checked(value: Any, what: str, column: Optional[int]) -> Any:
    """`value` when it is within bounds: an integer below `INT_LIMIT` in magnitude, a finite float."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not -INT_LIMIT < value < INT_LIMIT:
        raise ExpressionError(f"{what} gives an integer beyond the limit of 2**63 in magnitude", column)
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError(f"{what} gives a number too large for a float", column)
    if isinstance(value, complex):
        raise ExpressionError(f"{what} gives a complex number", column)
    return value


def _number(value: Any, what: str, column: Optional[int]) -> Any:
    if not _is_number(value):
        raise ExpressionError(f"{what} takes numbers, got {_show(value)} ({_sort(value)})", column)
    return value


def _integer(value: Any, what: str, column: Optional[int]) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ExpressionError(f"{what} takes an integer, got {_show(value)}", column)
    return value


def _boolean(value: Any, what: str, column: Optional[int]) -> bool:
    if not isinstance(value, bool):
        raise ExpressionError(f"{what} takes true or false, got {_show(value)} ({_sort(value)})", column)
    return value


# -- functions -------------------------------------------------------------------------------------


def make_divisible(v: Any, divisor: Any, min_value: Any = None) -> int:
    """torchvision's `_make_divisible` (torchvision/models/_utils.py), the channel rounding of
    MobileNetV2/V3 and EfficientNet: `v` to the nearest multiple of `divisor`, at least
    `min_value` (default `divisor`), and one `divisor` more if rounding down lost over 10% of `v`."""
    v = _number(v, "make_divisible", None)
    divisor = _integer(divisor, "make_divisible's divisor", None)
    if divisor < 1:
        raise ExpressionError(f"make_divisible's divisor must be a positive integer, got {divisor}")
    least = divisor if min_value is None else _integer(min_value, "make_divisible's min_value", None)
    nearest = _checked(int(v + divisor / 2), "make_divisible", None) // divisor * divisor
    result = max(least, nearest)
    if result < 0.9 * v:  # rounding down lost more than 10% of v
        result += divisor
    return result


def _extreme(pick: Callable[..., Any], name: str) -> Callable[..., Any]:
    def extreme(*values: Any) -> Any:
        return pick(_number(v, name, None) for v in values)

    return extreme


def _round(value: Any, ndigits: Any = None) -> Any:
    """Python's `round`: to the nearest integer, halves to the even one; with `ndigits`, to that
    many decimals (a float stays a float)."""
    value = _number(value, "round", None)
    if ndigits is None:
        return round(value)
    ndigits = _integer(ndigits, "round's ndigits", None)
    if not -30 <= ndigits <= 30:  # 10 ** ndigits is computed: keep it small
        raise ExpressionError(f"round's ndigits must be from -30 to 30, got {ndigits}")
    return round(value, ndigits)


@dataclass(frozen=True)
class Function:
    """A function an expression may call: its Python implementation, how many arguments it takes
    (`most` None: any number), and the names its arguments may be given by."""

    implementation: Callable[..., Any]
    least: int
    most: Optional[int]
    keywords: tuple[str, ...] = ()

    def arity(self) -> str:
        if self.most is None:
            return f"at least {self.least} arguments"
        if self.least == self.most:
            return f"{self.least} argument{'s' if self.least > 1 else ''}"
        return f"{self.least} to {self.most} arguments"


FUNCTIONS: dict[str, Function] = {
    "max": Function(_extreme(max, "max"), 2, None),
    "min": Function(_extreme(min, "min"), 2, None),
    "abs": Function(lambda x: abs(_number(x, "abs", None)), 1, 1),
    "int": Function(lambda x: int(_number(x, "int", None)), 1, 1),  # toward zero, as Python's int
    "round": Function(_round, 1, 2, ("value", "ndigits")),
    "ceil": Function(lambda x: math.ceil(_number(x, "ceil", None)), 1, 1),  # an int, as Python's
    "floor": Function(lambda x: math.floor(_number(x, "floor", None)), 1, 1),
    "make_divisible": Function(make_divisible, 2, 3, ("v", "divisor", "min_value")),
}


# -- the parsed tree -------------------------------------------------------------------------------


class Node:
    """A parsed expression's node: `evaluate(scope)` gives its value; `size` counts its nodes (the
    work of one evaluation)."""

    size = 1

    def evaluate(self, scope: Mapping[str, Any]) -> Any:  # pragma: no cover - every node overrides
        raise NotImplementedError


@dataclass
class Constant(Node):
    value: Any

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        return self.value


@dataclass
class Name(Node):
    name: str
    column: int

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        try:
            return scope[self.name]
        except KeyError:
            raise ExpressionError(f"unknown name '{self.name}'", self.column) from None


@dataclass
class Unary(Node):
    operator: str  # '-', '+' or 'not'
    operand: Node
    column: int

    def __post_init__(self) -> None:
        self.size = 1 + self.operand.size

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        value = self.operand.evaluate(scope)
        if self.operator == "not":
            return not _boolean(value, "'not'", self.column)
        value = _number(value, f"unary '{self.operator}'", self.column)
        return _checked(-value if self.operator == "-" else value, f"unary '{self.operator}'", self.column)


def _divide(operator: str, left: Any, right: Any, column: int) -> Any:
    if right == 0:
        raise ExpressionError(f"'{operator}' divides by zero ({_show(left)} {operator} 0)", column)
    if operator == "/":
        return left / right
    return left // right if operator == "//" else left % right


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
}


@dataclass
class Arithmetic(Node):
    """`first op1 operand1 op2 operand2 ...` of one precedence level, evaluated left to right."""

    first: Node
    rest: tuple[tuple[str, int, Node], ...]

    def __post_init__(self) -> None:
        self.size = self.first.size + sum(1 + node.size for _, _, node in self.rest)

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        value = self.first.evaluate(scope)
        for operator, column, node in self.rest:
            left = _number(value, f"'{operator}'", column)
            right = _number(node.evaluate(scope), f"'{operator}'", column)
            if operator in _ARITHMETIC:
                value = _ARITHMETIC[operator](left, right)
            else:
                value = _divide(operator, left, right, column)
            value = _checked(value, f"'{operator}'", column)
        return value


@dataclass
class Power(Node):
    base: Node
    exponent: Node
    column: int

    def __post_init__(self) -> None:
        self.size = 1 + self.base.size + self.exponent.size

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        base = _number(self.base.evaluate(scope), "'**'", self.column)
        exponent = _number(self.exponent.evaluate(scope), "'**'", self.column)
        if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
            # |base| ** exponent >= 2 ** ((bits - 1) * exponent): refuse before computing a giant
            if (abs(base).bit_length() - 1) * exponent >= 63:
                raise ExpressionError("'**' gives an integer beyond the limit of 2**63 in magnitude", self.column)
        if base == 0 and exponent < 0:
            raise ExpressionError("'**' raises zero to a negative power (a division by zero)", self.column)
        try:
            return _checked(base**exponent, "'**'", self.column)
        except OverflowError:
            raise ExpressionError("'**' gives a number too large for a float", self.column) from None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass
class Comparison(Node):
    """`a < b <= c`: true when each comparison holds (Python's chains)."""

    first: Node
    rest: tuple[tuple[str, int, Node], ...]

    def __post_init__(self) -> None:
        self.size = self.first.size + sum(1 + node.size for _, _, node in self.rest)

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        left = self.first.evaluate(scope)
        for operator, column, node in self.rest:
            right = node.evaluate(scope)
            if operator in ("==", "!="):
                if _sort(left) != _sort(right):
                    raise ExpressionError(
                        f"'{operator}' compares {_sort(left)} ({_show(left)}) with {_sort(right)} ({_show(right)})",
                        column,
                    )
            else:
                _number(left, f"'{operator}'", column)
                _number(right, f"'{operator}'", column)
            if not _COMPARE[operator](left, right):
                return False
            left = right
        return True


@dataclass
class Logic(Node):
    """`a and b and ...` or `a or b or ...`, stopping at the first operand that decides."""

    operator: str
    operands: tuple[tuple[int, Node], ...]  # (column of the operator before it, or of the operand)

    def __post_init__(self) -> None:
        self.size = sum(1 + node.size for _, node in self.operands)

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        decisive = self.operator == "or"
        for column, node in self.operands:
            if _boolean(node.evaluate(scope), f"'{self.operator}'", column) is decisive:
                return decisive
        return not decisive


@dataclass
class Conditional(Node):
    """`then if condition else otherwise`."""

    then: Node
    condition: Node
    otherwise: Node
    column: int

    def __post_init__(self) -> None:
        self.size = 1 + self.then.size + self.condition.size + self.otherwise.size

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        if _boolean(self.condition.evaluate(scope), "'if'", self.column):
            return self.then.evaluate(scope)
        return self.otherwise.evaluate(scope)


@dataclass
class Call(Node):
    name: str
    function: Function
    arguments: tuple[Node, ...]
    keywords: tuple[tuple[str, Node], ...]
    column: int

    def __post_init__(self) -> None:
        self.size = 1 + sum(node.size for node in self.arguments) + sum(node.size for _, node in self.keywords)

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        positional = [node.evaluate(scope) for node in self.arguments]
        named = {name: node.evaluate(scope) for name, node in self.keywords}
        try:
            value = self.function.implementation(*positional, **named)
        except ExpressionError as error:
            raise ExpressionError(error.message, self.column) from None
        except OverflowError:
            raise ExpressionError(f"{self.name} gives a number too large", self.column) from None
        return _checked(value, self.name, self.column)


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its text, its tree, and the names it reads."""

    text: str
    tree: Node
    names: frozenset[str]

    @property
    def size(self) -> int:
        """The nodes one evaluation visits at most."""
        return self.tree.size

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """The value, with each name looked up in `scope`; an `ExpressionError` if it has none."""
        return self.tree.evaluate(scope)


# -- reading the text ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    \s*                                     # white space before a token is skipped
    (?:
      (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<string>'[^']*'|"[^"]*")
    | (?P<operator>\*\*|//|==|!=|<=|>=|[-+*/%<>(),=])
    | (?P<end>\Z)
    )
    """,
    re.VERBOSE,
)

_CONSTANTS = {"true": True, "false": False, "True": True, "False": False}
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


class Token(NamedTuple):
    kind: str  # 'number', 'name', 'string', 'operator' or 'end'
    text: str
    column: int  # 1-based
    value: Any = None

    def shown(self) -> str:
        return "the end of the expression" if self.kind == "end" else f"'{self.text}'"


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with an 'end' token; an unknown character is an error."""
    tokens = []
    position = 0
    match = _TOKEN.match
    while True:
        found = match(text, position)
        if found is None:
            position = len(text) - len(text[position:].lstrip())  # the character no token starts with
            if text[position] in "'\"":
                raise ExpressionError(f"the string opened with {text[position]} here is never closed", position + 1)
            character = text[position] if text[position].isprintable() else ascii(text[position])[1:-1]
            raise ExpressionError(f"unexpected character '{character}'", position + 1)
        kind = found.lastgroup or ""
        word = found.group(kind)
        column = found.start(kind) + 1
        if kind == "number" or kind == "string":
            tokens.append(Token(kind, word, column, _literal(kind, word, column)))
        else:
            tokens.append(Token(kind, word, column))
        if kind == "end":
            return tokens
        position = found.end()


def _literal(kind: str, text: str, column: int) -> Any:
    if kind == "string":
        return text[1:-1]
    if kind != "number":
        return None
    shown = text if len(text) <= 24 else text[:20] + "..."
    if any(c in text for c in ".eE"):
        value: Any = float(text)
        if not math.isfinite(value):
            raise ExpressionError(f"the number {shown} is too large for a float", column)
        return value
    # more than 19 digits is beyond 2**63 (and is refused before Python converts a long text)
    if len(text.lstrip("0")) > 19 or int(text) >= INT_LIMIT:
        raise ExpressionError(f"the number {shown} is beyond the limit of 2**63", column)
    return int(text)


class _Parser:
    """Recursive descent, one method per precedence level, loosest first:
    `a if c else b` < `or` < `and` < `not` < comparisons < `+ -` < `* / // %` < unary `- +` < `**`.
    `depth` counts the levels the parser has recursed into (parentheses, calls, unary operators,
    powers) and refuses more than `MAX_NESTING`."""

    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0
        self.names: set[str] = set()

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, *texts: str) -> bool:
        return self.token.kind in ("operator", "name") and self.token.text in texts

    def expect(self, text: str, opening: Optional[Token] = None) -> None:
        if self.at(text):
            self.advance()
            return
        if opening is not None and self.token.kind == "end":
            raise ExpressionError(f"'{opening.text}' at column {opening.column} is never closed", opening.column)
        raise ExpressionError(f"expected '{text}', found {self.token.shown()}", self.token.column)

    def nest(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError(
                f"the expression nests deeper than {MAX_NESTING} levels (parentheses, calls, operators)",
                token.column,
            )

    def whole(self) -> Node:
        tree = self.expression()
        if self.at("="):
            raise ExpressionError("'=' gives a function's argument by name; to compare, write '=='", self.token.column)
        if self.token.kind != "end":
            raise ExpressionError(f"unexpected {self.token.shown()}", self.token.column)
        return tree

    def expression(self) -> Node:
        self.nest(self.token)
        then = self.disjunction()
        if self.at("if"):
            column = self.advance().column
            condition = self.disjunction()
            self.expect("else")
            then = Conditional(then, condition, self.expression(), column)
        self.depth -= 1
        return then

    def disjunction(self) -> Node:
        return self.logic("or", self.conjunction)

    def conjunction(self) -> Node:
        return self.logic("and", self.negation)

    def logic(self, operator: str, operand: Callable[[], Node]) -> Node:
        column = self.token.column
        operands = [(column, operand())]
        while self.at(operator):
            column = self.advance().column
            operands.append((column, operand()))
        return operands[0][1] if len(operands) == 1 else Logic(operator, tuple(operands))

    def negation(self) -> Node:
        if not self.at("not"):
            return self.comparison()
        token = self.advance()
        self.nest(token)
        node = Unary("not", self.negation(), token.column)
        self.depth -= 1
        return node

    def comparison(self) -> Node:
        first = self.sum()
        rest = []
        while self.token.kind == "operator" and self.token.text in _COMPARISONS:
            token = self.advance()
            rest.append((token.text, token.column, self.sum()))
        return Comparison(first, tuple(rest)) if rest else first

    def sum(self) -> Node:
        return self.chain(("+", "-"), self.term)

    def term(self) -> Node:
        return self.chain(("*", "/", "//", "%"), self.unary)

    def chain(self, operators: Sequence[str], operand: Callable[[], Node]) -> Node:
        first = operand()
        rest = []
        while self.token.kind == "operator" and self.token.text in operators:
            token = self.advance()
            rest.append((token.text, token.column, operand()))
        return Arithmetic(first, tuple(rest)) if rest else first

    def unary(self) -> Node:
        if not (self.token.kind == "operator" and self.token.text in ("-", "+")):
            return self.power()
        token = self.advance()
        self.nest(token)
        node = Unary(token.text, self.unary(), token.column)
        self.depth -= 1
        return node

    def power(self) -> Node:
        base = self.primary()
        if not (self.token.kind == "operator" and self.token.text == "**"):
            return base
        token = self.advance()
        self.nest(token)
        node = Power(base, self.unary(), token.column)  # right-associative; `2 ** -1` is allowed
        self.depth -= 1
        return node

    def primary(self) -> Node:
        token = self.advance()
        if token.kind in ("number", "string"):
            return Constant(token.value)
        if token.kind == "name":
            if token.text in _CONSTANTS:
                return Constant(_CONSTANTS[token.text])
            if token.text in KEYWORDS:
                raise ExpressionError(f"expected a value, found '{token.text}'", token.column)
            if self.at("("):
                return self.call(token)
            self.names.add(token.text)  # a parameter may be named like a function: a name, unless called
            return Name(token.text, token.column)
        if token.kind == "operator" and token.text == "(":
            inner = self.expression()
            self.expect(")", token)
            return inner
        raise ExpressionError(f"expected a value (a number, a name or '('), found {token.shown()}", token.column)

    def call(self, name: Token) -> Node:
        function = FUNCTIONS.get(name.text)
        if function is None:
            raise ExpressionError(
                f"unknown function '{name.text}'{suggest(name.text, FUNCTIONS)}; "
                f"the functions are {', '.join(FUNCTIONS)}",
                name.column,
            )
        opening = self.advance()
        self.nest(opening)
        arguments: list[Node] = []
        keywords: dict[str, Node] = {}
        while not self.at(")"):
            if self.token.kind == "end":
                raise ExpressionError(f"'(' at column {opening.column} is never closed", opening.column)
            if self.token.kind == "name" and self.tokens[self.index + 1].text == "=":
                keyword = self.advance()
                self.advance()
                # a name given to an argument not already given by its position, and only once
                if keyword.text not in function.keywords[len(arguments) :] or keyword.text in keywords:
                    raise ExpressionError(f"{name.text} takes no argument named '{keyword.text}' here", keyword.column)
                keywords[keyword.text] = self.expression()
            elif keywords:
                raise ExpressionError("an argument without a name cannot follow a named one", self.token.column)
            else:
                arguments.append(self.expression())
            if not self.at(")"):
                self.expect(",", opening)
        self.advance()
        self.depth -= 1
        given = len(arguments) + len(keywords)
        if given < function.least or (function.most is not None and given > function.most):
            raise ExpressionError(f"{name.text} takes {function.arity()}, got {given}", name.column)
        missing = [k for k in function.keywords[len(arguments) : function.least] if k not in keywords]
        if missing:
            raise ExpressionError(f"{name.text} needs its argument '{missing[0]}'", name.column)
        return Call(name.text, function, tuple(arguments), tuple(keywords.items()), name.column)


@lru_cache(maxsize=1024)
def parse(text: str) -> Expression:
    """The parsed expression of `text` (the part between `${` and `}`), parsed once per distinct
    text; an `ExpressionError` says what is wrong and at which column."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ExpressionError("the expression is empty: write a parameter's name or an expression")
    parser = _Parser(text)
    tree = parser.whole()
    return Expression(text, tree, frozenset(parser.names))


def evaluate(text: str, scope: Mapping[str, Any]) -> Any:
    """Parse (once) and evaluate `text` with the names of `scope`."""
    return parse(text).evaluate(scope)


__all__ = [
    "FUNCTIONS",
    "INT_LIMIT",
    "KEYWORDS",
    "MAX_LENGTH",
    "MAX_NESTING",
    "Expression",
    "ExpressionError",
    "evaluate",
    "make_divisible",
    "parse",
]
