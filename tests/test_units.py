"""Readable sizes, both ways."""

import pytest

from cnnsize.units import DTYPE_BYTES, human_bytes, human_count, parse_bytes, parse_count


@pytest.mark.parametrize(
    "text, value",
    [
        ("1000", 1000),
        ("25M", 25_000_000),
        ("25.5M", 25_500_000),  # 25.5 * 10^6
        ("4G", 4 * 10**9),
        ("1.5T", 1_500_000_000_000),
        ("50K", 50_000),
        ("50k", 50_000),
        ("1_000_000", 1_000_000),
        (" 7 M ", 7_000_000),
    ],
)
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize(
    "text, value",
    [
        ("512B", 512),
        ("1KB", 1000),
        ("1KiB", 1024),
        ("1MiB", 1024**2),
        ("1.5GiB", 1_610_612_736),  # 1.5 * 2^30
        ("2GB", 2 * 10**9),
        ("24gib", 24 * 2**30),
        ("3", 3),
        ("1PiB", 2**50),
        ("1.5EiB", 1_729_382_256_910_270_464),  # 1.5 * 2^60
        ("2EB", 2 * 10**18),
        # 31 significant digits: a 28-digit decimal context would round the last one away
        ("1234567890123456789012345678901GiB", 1234567890123456789012345678901 * 2**30),
        ("0.0000000000000000000000000000001EB", None),  # 10^-31 * 10^18 bytes: not whole
    ],
)
def test_parse_bytes(text, value):
    if value is None:
        with pytest.raises(ValueError, match="not a whole number of bytes"):
            parse_bytes(text)
    else:
        assert parse_bytes(text) == value


def test_exact_sizes_keep_a_budget_verdict():
    # 1 KiB + 1/10^31 of a KiB is not whole bytes (rounded to 28 digits it was exactly 1 KiB)
    with pytest.raises(ValueError, match="not a whole number"):
        parse_bytes("1.0000000000000000000000000000001KiB")
    # a count one over 10^30 stays one over: it fails a budget of 10^30, as it must
    assert parse_count("1000000000000000000000000000001") > 10**30


def test_a_size_of_thousands_of_digits_is_refused_saying_the_cap():
    with pytest.raises(ValueError, match="more than 100 digits"):
        parse_bytes("1" + "0" * 5000 + "GiB")


@pytest.mark.parametrize("text", ["lots", "1.5", "1.5X", "-3M", "M", "1.0001K", ""])
def test_bad_counts(text):
    with pytest.raises(ValueError):
        parse_count(text)


@pytest.mark.parametrize("text", ["1.5B", "3 MiBs", "1Mb/s"])
def test_bad_bytes(text):
    with pytest.raises(ValueError):
        parse_bytes(text)


def test_human_forms_are_labelled():
    assert human_count(25_557_032) == "25.56 M"
    assert human_count(999) == "999"
    assert human_count(4_089_184_256) == "4.09 G"
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.50 KiB"  # 1536/1024
    assert human_bytes(102_760_448) == "98.00 MiB"  # 98 * 2^20
    assert human_bytes(1_024_000) == "1000.00 KiB"  # 1,024,000 / 1024 = 1000, still below 1 MiB: no exponent


def test_dtype_sizes():
    assert DTYPE_BYTES == {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}


@pytest.mark.parametrize(
    "text, value",
    [("1e9", 10**9), ("2.5e6", 2_500_000), ("1E+3K", 10**6), ("1e30", 10**30)],  # 1e3 x 1000 = 10**6
)
def test_scientific_notation_is_the_number_it_means(text, value):
    assert parse_count(text) == value


def test_an_exponent_past_a_hundred_is_refused_saying_so():
    with pytest.raises(ValueError, match=r"more than 10\*\*100"):
        parse_count("1e101")
