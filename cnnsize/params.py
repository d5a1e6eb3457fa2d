"""Spec parameters: a spec's top-level `params:` (names with values, read by `${...}` anywhere in
the spec), and values set for them from outside the spec (`--set NAME=VALUE`,
`cnnsize.load(spec, params={...})`).

    name: net
    params: {num_classes: 1000, width: 64}
    input: [3, 224, 224]
    layers:
      - {type: conv2d, out_channels: "${width}", kernel_size: 3}
      - ...
      - {type: linear, out_features: "${num_classes}"}

Substitution is the block expansion's own (`cnnsize.blocks`): the spec's parameters are the
outermost scope, read by every value outside `params` and `blocks`, and by every block's layers,
where a block's parameter of the same name shadows the spec's. This module says what a parameter's
name and value may be, and reads the `NAME=VALUE` the command line gives.
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional

from cnnsize.errors import SpecError
from cnnsize.expressions import INT_LIMIT, KEYWORDS
from cnnsize.values import is_int, show
from cnnsize.yamlio import MAX_DEPTH, parse_text

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""What a parameter's name is: letters, digits and _, not first a digit."""

VALUE_KINDS = "a number, true or false, a string, or a list of these"
"""What a parameter's value may be, as messages say it."""


def name_problem(name: Any) -> Optional[str]:
    """Why `name` cannot name a parameter (a spec's or a block's), or None when it can."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        return f"a parameter name is letters, digits and _, not {show(name)}"
    if name in KEYWORDS:
        return f"'{name}' is a word of the expression language; name the parameter otherwise"
    return None


def value_problem(value: Any, depth: int = 0) -> Optional[str]:
    """Why `value` cannot be a spec parameter's value, or None when it can: a finite number (an
    integer below 2**63 in magnitude, as expressions keep them), true or false, a string without
    `${...}` (a parameter is a plain value), or a list of such values."""
    if isinstance(value, bool) or (isinstance(value, str) and "${" not in value):
        return None
    if is_int(value):
        return None if abs(value) < INT_LIMIT else f"an integer must stay below 2**63 in magnitude, got {value}"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"a number must be finite, got {show(value)}"
    if isinstance(value, str):
        return f"a parameter's value is plain: compute from it where it is used (`${{width * 2}}`), not {show(value)}"
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            return f"lists nest at most {MAX_DEPTH} deep"
        return next((p for p in (value_problem(item, depth + 1) for item in value) if p is not None), None)
    return f"a parameter's value is {VALUE_KINDS}, not {_shown(value)}"


def _shown(value: Any) -> str:
    """A value for a message: as YAML writes it where it is data, else its Python type."""
    if value is None or isinstance(value, (dict, int, float)):
        return "null" if value is None else show(value)
    return f"a {type(value).__name__}"


def parse_assignment(text: str) -> tuple[str, Any]:
    """`NAME=VALUE`, as `--set` takes it: the name, and the value read as a YAML scalar (`21`,
    `0.5`, `relu`, `true`; `[3, 5]` gives a list). A `ValueError` says what is wrong."""
    name, equals, written = text.partition("=")
    name = name.strip()
    if not equals:
        raise ValueError(f"write NAME=VALUE (like num_classes=21), got {text[:60]!r}")
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(f"in {text[:60]!r}, {problem}")
    if not written.strip():
        raise ValueError(f"{name}= gives no value: write {name}=VALUE")
    try:
        value = parse_text(written, file="--set").data
    except SpecError as error:
        raise ValueError(f"{name}={written[:60]}: VALUE is not YAML: {error.problems[0].message}") from None
    problem = value_problem(value)
    if problem is not None:
        raise ValueError(f"{name}={written[:60]}: {problem}")
    return name, value


def parse_assignments(texts: Optional[list[str]]) -> dict[str, Any]:
    """Every `--set NAME=VALUE`, by name (a name set twice takes its last value)."""
    return dict(parse_assignment(text) for text in texts or ())


__all__ = ["IDENTIFIER", "name_problem", "parse_assignment", "parse_assignments", "value_problem"]
