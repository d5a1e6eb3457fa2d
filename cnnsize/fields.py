"""Field types of the spec format: each validates one kind of value with one clear message.

Each type is `Annotated[T, PlainValidator(...), WithJsonSchema(...)]`, so pydantic reports a single
error per bad value (not one per member of a union) and the JSON Schema still describes it.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Callable, Literal, Optional, Union

from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from cnnsize.values import is_int, show

PaddingMode = Literal["valid", "same", "full"]
Padding4 = tuple[int, int, int, int]


def _fail(kind: str, expected: str, value: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, "must be {expected}, got {got}", {"expected": expected, "got": show(value)})


def _int_at_least(low: int, expected: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if not is_int(value) or value < low:
            raise _fail("int_at_least", expected, value)
        return value

    return parse


def _pair_of(low: int, expected: str) -> Callable[[Any], tuple[int, int]]:
    def parse(value: Any) -> tuple[int, int]:
        if is_int(value) and value >= low:
            return (value, value)
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(is_int(v) and v >= low for v in value):
            return (value[0], value[1])
        raise _fail("pair", f"{expected} or a pair [h, w] of them", value)

    return parse


def _number(low: float | None, high: float | None, expected: str, infinite: bool = False) -> Callable[[Any], float]:
    """A number from `low` to `high`; never NaN, and infinite only where PyTorch gives infinity a
    meaning (`infinite`, e.g. LPPool's `norm_type`)."""

    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise _fail("number", expected, value)
        if not infinite and value in (math.inf, -math.inf):
            raise _fail("number", expected, value)
        if (low is not None and value < low) or (high is not None and value > high):
            raise _fail("number", expected, value)
        return float(value)

    return parse


def _strict_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail("bool", "true or false", value)
    return value


def _explicit_padding(value: Any) -> Optional[Padding4]:
    """int, [h, w] or [top, bottom, left, right] -> (top, bottom, left, right); None otherwise."""
    if is_int(value) and value >= 0:
        return (value, value, value, value)
    if isinstance(value, (list, tuple)) and all(is_int(v) and v >= 0 for v in value):
        if len(value) == 2:
            return (value[0], value[0], value[1], value[1])
        if len(value) == 4:
            return (value[0], value[1], value[2], value[3])
    return None


_EXPLICIT = "a non-negative integer, a pair [h, w] or [top, bottom, left, right]"


def _conv_padding(value: Any) -> Union[PaddingMode, Padding4]:
    """Explicit padding, or 'valid' | 'same' | 'full'."""
    if value in ("valid", "same", "full"):
        return value  # type: ignore[no-any-return]
    padding = _explicit_padding(value)
    if padding is None:
        raise _fail("padding", _EXPLICIT + ", or 'valid', 'same' or 'full'", value)
    return padding


def _pad4(value: Any) -> Padding4:
    """Explicit padding only (zero padding layers)."""
    padding = _explicit_padding(value)
    if padding is None:
        raise _fail("padding", _EXPLICIT, value)
    return padding


DEPTHWISE = "depthwise"


def _groups(value: Any) -> Union[int, Literal["depthwise"]]:
    """A positive integer, or `depthwise`: one group per input channel, whatever their number."""
    if value == DEPTHWISE or (is_int(value) and value >= 1):
        return value
    raise _fail("groups", "a positive integer or 'depthwise'", value)


def _shape(value: Any) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)) and len(value) in (1, 3) and all(is_int(v) and v >= 1 for v in value):
        return tuple(value)
    raise _fail("shape", "[channels, height, width] or [features], each a positive integer", value)


_INT = {"type": "integer", "minimum": 1}
_NONNEG = {"type": "integer", "minimum": 0}


def _pair_schema(item: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [item, {"type": "array", "items": item, "minItems": 2, "maxItems": 2}]}


Size = Annotated[int, PlainValidator(_int_at_least(1, "a positive integer")), WithJsonSchema(_INT)]
NonNegative = Annotated[int, PlainValidator(_int_at_least(0, "a non-negative integer")), WithJsonSchema(_NONNEG)]
SizePair = Annotated[
    tuple[int, int], PlainValidator(_pair_of(1, "a positive integer")), WithJsonSchema(_pair_schema(_INT))
]
NonNegativePair = Annotated[
    tuple[int, int], PlainValidator(_pair_of(0, "a non-negative integer")), WithJsonSchema(_pair_schema(_NONNEG))
]
ConvPadding = Annotated[
    Union[PaddingMode, Padding4],
    PlainValidator(_conv_padding),
    WithJsonSchema(
        {
            "anyOf": [
                _NONNEG,
                {"type": "array", "items": _NONNEG, "minItems": 2, "maxItems": 2},
                {"type": "array", "items": _NONNEG, "minItems": 4, "maxItems": 4},
                {"enum": ["valid", "same", "full"]},
            ]
        }
    ),
]
Pad4 = Annotated[
    Padding4,
    PlainValidator(_pad4),
    WithJsonSchema(
        {
            "anyOf": [
                _NONNEG,
                {"type": "array", "items": _NONNEG, "minItems": 2, "maxItems": 2},
                {"type": "array", "items": _NONNEG, "minItems": 4, "maxItems": 4},
            ]
        }
    ),
]
Groups = Annotated[
    Union[int, Literal["depthwise"]],
    PlainValidator(_groups),
    WithJsonSchema({"anyOf": [_INT, {"const": DEPTHWISE}]}),
]
Probability = Annotated[
    float,
    PlainValidator(_number(0.0, 1.0, "a number from 0 to 1")),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1}),
]
PositiveNumber = Annotated[
    float,
    PlainValidator(_number(1e-300, None, "a positive finite number")),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0}),
]
PositiveOrInfinite = Annotated[
    float,
    PlainValidator(_number(1e-300, None, "a positive number or .inf", infinite=True)),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0}),  # YAML's .inf reads as a number
]
Number = Annotated[float, PlainValidator(_number(None, None, "a finite number")), WithJsonSchema({"type": "number"})]
Flag = Annotated[bool, PlainValidator(_strict_bool), WithJsonSchema({"type": "boolean"})]
InputShape = Annotated[
    tuple[int, ...],
    PlainValidator(_shape),
    WithJsonSchema(
        {
            "type": "array",
            "items": _INT,
            "anyOf": [{"minItems": 1, "maxItems": 1}, {"minItems": 3, "maxItems": 3}],
        }
    ),
]
