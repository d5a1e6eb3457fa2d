"""Reading YAML safely, with positions: one test per kind of bad file."""

import time
import tracemalloc

import pytest

from cnnsize.errors import PathArgumentError, SpecError, SpecFileError
from cnnsize.yamlio import MAX_DEPTH, dump_text, parse_bytes, parse_text, read_file


def problem(exc):
    (p,) = exc.value.problems
    return p


def test_values_and_keys_carry_line_and_column():
    doc = parse_text("name: x\ninput: [3, 32, 32]\nlayers:\n  - relu\n  - {type: conv2d, out_channels: 3}\n", "f.yaml")
    assert doc.data["layers"][1] == {"type": "conv2d", "out_channels": 3}
    assert doc.value_marks[("input", 1)] == (2, 12)
    assert doc.value_marks[("layers", 1, "out_channels")] == (5, 34)
    assert doc.key_marks[("layers", 1, "out_channels")] == (5, 20)
    # a path without a mark of its own falls back to its nearest enclosing value
    loc = doc.locate(("layers", 1, "kernel_size"))
    assert (loc.line, loc.column, loc.file) == (5, 5, "f.yaml")


def test_syntax_error_has_line_and_column():
    with pytest.raises(SpecError) as exc:
        parse_text("input: [3, 32\nlayers: []\n", "f.yaml")
    p = problem(exc)
    assert p.location.line == 2 and "YAML syntax error" in p.message


@pytest.mark.parametrize(
    "text",
    [
        "x: !!python/object/apply:os.system ['echo hacked']",
        "x: !!python/name:os.system",
        "x: !custom 3",
        "x: !!binary aGVsbG8=",
        "x: !!set {a, b}",
    ],
)
def test_tags_are_refused_and_nothing_is_constructed(text):
    with pytest.raises(SpecError) as exc:
        parse_text(text, "f.yaml")
    p = problem(exc)
    assert "is not allowed" in p.message and "nothing in it is constructed or run" in p.message
    assert (p.location.line, p.location.column) == (1, 4)


def test_alias_bomb_is_refused_fast_in_bounded_memory():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):  # 9 levels of 9 aliases: 9**10 ~ 3.5e9 strings if expanded
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(SpecError) as exc:
        parse_text("\n".join(lines), "bomb.yaml")
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "alias bomb" in problem(exc).message
    assert elapsed < 2.0  # generous: it stops at the cap (about 200,000 values), not at 3.5e9
    assert peak < 50 * 1024 * 1024


def test_aliases_within_the_cap_are_fine():
    doc = parse_text("conv: &c {type: conv2d, out_channels: 3, kernel_size: 3}\nlayers: [*c, *c]\n")
    assert doc.data["layers"] == [doc.data["conv"], doc.data["conv"]]


def test_recursive_alias_is_refused():
    with pytest.raises(SpecError, match="recursive or undefined"):
        parse_text("a: &a [*a]")


def test_deep_nesting_is_refused():
    depth = MAX_DEPTH + 10
    with pytest.raises(SpecError, match=f"deeper than {MAX_DEPTH}"):
        parse_text("[" * depth + "]" * depth)


def test_very_deep_nesting_is_refused_without_recursion_error():
    with pytest.raises(SpecError, match="deeper than"):
        parse_text("[" * 100_000 + "]" * 100_000)


def test_duplicate_keys_are_errors():
    with pytest.raises(SpecError) as exc:
        parse_text("input: [1]\ninput: [2]\n")
    assert "duplicate key 'input'" in problem(exc).message and problem(exc).location.line == 2


def test_merge_keys_are_refused():
    with pytest.raises(SpecError, match="merge keys"):
        parse_text("base: &b {a: 1}\nx:\n  <<: *b\n")


def test_non_string_keys_are_refused():
    with pytest.raises(SpecError, match="must be a string"):
        parse_text("3: x")
    with pytest.raises(SpecError, match="plain string"):
        parse_text("? [a]\n: 1")


def test_second_document_is_refused():
    with pytest.raises(SpecError, match="one YAML document"):
        parse_text("a: 1\n---\nb: 2\n")


def test_empty_text_gives_no_data():
    assert parse_text("# only a comment\n").data is None


def test_binary_file(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_bytes(b"input: [1]\n\x00\x01\x02")
    with pytest.raises(SpecFileError) as exc:
        read_file(path)
    p = problem(exc)
    assert "binary" in p.message and (p.location.line, p.location.column) == (2, 1)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(SpecFileError) as exc:
        read_file(path)
    p = problem(exc)
    assert "not UTF-8" in p.message and "0xe9" in p.message and (p.location.line, p.location.column) == (1, 10)


def test_utf8_bom_is_accepted():
    assert parse_bytes("\ufeffa: 1\n".encode("utf-8")).data == {"a": 1}


def test_missing_file(tmp_path):
    with pytest.raises(PathArgumentError) as exc:
        read_file(tmp_path / "nope.yaml")
    assert problem(exc).message == "no such file" and exc.value.exit_code == 2


def test_directory(tmp_path):
    with pytest.raises(SpecFileError, match="is a directory"):
        read_file(tmp_path)


def test_control_characters_are_refused():
    with pytest.raises(SpecError, match="YAML"):
        parse_text("a: \x07\n")


def test_oversized_file_is_refused():
    from cnnsize.yamlio import MAX_FILE_BYTES

    with pytest.raises(SpecFileError, match="larger than"):
        parse_bytes(b" " * (MAX_FILE_BYTES + 1))


def test_an_exponent_without_a_dot_is_a_number_as_yaml_1_2_reads_it():
    data = parse_text("a: 1e-6\nb: -2E+3\nc: .5e1\nd: '1e-6'\ne: 1e\nf: e5\n").data
    # 1e-6 = 0.000001; -2E+3 = -2000.0; .5e1 = 5.0; quoted or malformed stays text
    assert data == {"a": 1e-06, "b": -2000.0, "c": 5.0, "d": "1e-6", "e": "1e", "f": "e5"}


def test_dump_text_quotes_what_this_reader_reads_as_a_number() -> None:
    # PyYAML left `1e3` plain (YAML 1.1 wants a dot), which this reader takes for the float 1000.0
    data = {"layers": [{"name": name} for name in ("1e3", "-2E+5", ".5e1", "yes", "null", "café", "a: b")]}
    text = dump_text(data)
    assert "'1e3'" in text and "café" in text  # quoted; unicode left readable
    assert parse_text(text).data == data
