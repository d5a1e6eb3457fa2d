"""Units: data types' sizes, readable counts and byte sizes, both ways.

Counts use SI prefixes (K, M, G, T = powers of 1000). Byte sizes accept B, KB/MB/GB/TB/PB/EB
(1000) and KiB/MiB/GiB/TiB/PiB/EiB (1024), and are shown in IEC units, always labelled. Readable
sizes are parsed exactly (a budget's verdict never turns on rounding), up to `MAX_DIGITS` digits.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from typing import Literal

DType = Literal["float32", "float16", "bfloat16", "float64", "int8"]

DTYPE_BYTES: dict[str, int] = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}

COUNT_PREFIXES = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
BYTE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "PB": 10**15,
    "EB": 10**18,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
    "PIB": 2**50,
    "EIB": 2**60,
}
MAX_DIGITS = 100  # in a readable size: far past any memory, well short of Python's 4,300-digit limit

_READABLE = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9]+)?(?:[eE]\+?[0-9]{1,3})?)\s*([A-Za-z]*)\s*$")
MAX_EXPONENT = 100  # `1e9` is read as 10**9; past 10**100 no size or count means anything


def _parse(text: str, units: dict[str, int], what: str, example: str) -> int:
    match = _READABLE.match(text)
    unit = match.group(2).upper() if match else ""
    if not match or unit not in units:
        raise ValueError(f"'{text}' is not a {what} (write an integer or a size like {example})")
    number = match.group(1).replace("_", "")
    mantissa, _, exponent = number.lower().partition("e")
    if exponent and int(exponent) > MAX_EXPONENT:
        raise ValueError(f"'{text}' is more than 10**{MAX_EXPONENT}: not a {what}")
    if len(number) > MAX_DIGITS:
        raise ValueError(f"'{text[:40]}...' has more than {MAX_DIGITS} digits: not a {what}")
    value = Fraction(number) * units[unit]  # exact: a decimal fraction times a whole unit
    if value.denominator != 1:
        raise ValueError(f"'{text}' is not a whole number of {'bytes' if units is BYTE_UNITS else 'units'}")
    return int(value)


def parse_count(text: str) -> int:
    """'25.5M' -> 25_500_000; K, M, G, T are powers of 1000."""
    return _parse(text, COUNT_PREFIXES, "count", "'25.5M' or '4G'")


def parse_bytes(text: str) -> int:
    """'1.5GiB' -> 1_610_612_736; KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024."""
    return _parse(text, BYTE_UNITS, "byte size", "'512MiB', '2GB' or '1024B'")


def _scaled(n: int, scales: tuple[tuple[str, int], ...], unit: str) -> str:
    """`n` in the largest unit it reaches, to two decimals (exact rounding, no float noise);
    beyond the largest unit, scientific notation of that unit."""
    for i, (name, scale) in enumerate(scales):
        if abs(n) >= scale:
            value = Decimal(n) / Decimal(scale)  # 28 significant digits: exact to the shown two decimals
            shown = f"{value:.2e}" if abs(value) >= 1000 and i == 0 else f"{value:.2f}"
            return f"{shown} {name}"
    return f"{n} {unit}".strip()


def human_count(n: int) -> str:
    """25_557_032 -> '25.56 M' (SI prefixes up to P; larger values in scientific notation of P)."""
    return _scaled(n, (("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)), "")


def human_bytes(n: int) -> str:
    """102_760_448 -> '98.00 MiB' (IEC units up to PiB)."""
    return _scaled(n, (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)), "B")
