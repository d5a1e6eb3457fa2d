"""Read a YAML spec into plain Python data, remembering the line and column of every value.

Loading is safe and bounded by construction: the document is composed from a YAML event stream
by an iterative composer of our own, so
- no YAML tag outside plain data (str, int, float, bool, null, seq, map) is accepted, and nothing
  is ever constructed from a tag (`!!python/object/apply` is refused at its line); a plain tag
  that contradicts its value (`!!int "abc"`, `!!map` on a list) is refused at its line too;
- nesting depth, the number of values, lists and mappings after alias expansion, and the size of
  an integer are capped, so an alias bomb ("billion laughs"), megabytes of `[]` or a deeply nested
  document is refused quickly and in bounded memory;
- duplicate keys and merge keys (`<<`) are errors instead of silent overrides;
- only regular files are read (a FIFO or a device given as a path would block or never end).

The events come from libyaml's C parser when PyYAML was built with it (`yaml.__with_libyaml__`),
else from PyYAML's pure-Python parser; both give the same data and positions. Measured reading a
spec of flow-mapping layers (`- {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1,
name: l5}`), 2-core machine, Python 3.11, PyYAML 6.0.3:

    layers   pure-Python parser + old composer   libyaml + this composer   pure-Python + this
     1,000        359 ms                               25 ms                     290 ms
    10,000      3,680 ms                              255 ms                   2,920 ms

The value cap bounds what a hostile file costs: 8 MiB of `[[],[],...]` is refused after 200,000
lists in about 0.7 s (it took 80 s and 850 MB when lists did not count), 200,000 lines of
`kN: {}` (600,000 events, libyaml's share about half) in about 1.5 s; the whole process stays
under 140 MB.
"""

from __future__ import annotations

import math
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, NoReturn

import yaml
from yaml.resolver import Resolver

from cnnsize.errors import Location, PathArgumentError, SpecError, SpecFileError, SpecPath

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 200_000
# Every integer a spec holds converts to a float (floats end near 1.8e308) and prints (Python
# refuses to turn integers of more than 4,300 digits into text): at most 308 decimal digits.
MAX_INTEGER_DIGITS = 308
_INTEGER_BOUND = 10**MAX_INTEGER_DIGITS
_MAX_INTEGER_TEXT = 1100  # no integer under the bound is written longer (in binary: 1,024 digits)


def _libyaml_parser() -> Any:
    """libyaml's C parser, when PyYAML was built with it; else None."""
    if not getattr(yaml, "__with_libyaml__", False):
        return None
    try:
        from yaml.cyaml import CParser
    except ImportError:  # pragma: no cover - PyYAML says it has libyaml, then has not
        return None
    return CParser


_LIBYAML_PARSER: Any = _libyaml_parser()

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_SEQ, _MAP, _MERGE = _TAG + "seq", _TAG + "map", _TAG + "merge"
_EXPONENT_FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")
_BOOL_VALUES = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}
_MISSING = object()


def _implicit_patterns() -> dict[str, list[re.Pattern[str]]]:
    """The patterns YAML 1.1 (as PyYAML reads it) gives each plain-scalar tag."""
    patterns: dict[str, list[re.Pattern[str]]] = {}
    for resolvers in Resolver.yaml_implicit_resolvers.values():
        for tag, pattern in resolvers:
            if pattern not in patterns.setdefault(tag, []):
                patterns[tag].append(pattern)
    return patterns


_PATTERNS = _implicit_patterns()
_RESOLVED_FIRST = frozenset(Resolver.yaml_implicit_resolvers)  # first characters some rule reads
assert None not in Resolver.yaml_implicit_resolvers  # no rule for every first character
_RESOLVE = Resolver().resolve


@dataclass
class Document:
    """Plain data read from YAML, with the position of every value and mapping key."""

    data: Any
    file: str | None = None
    value_marks: dict[SpecPath, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[SpecPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: SpecPath, *, key: bool = False) -> Location:
        """The location of `path`, or of its nearest enclosing value when it has none of its own.

        With `key=True` the mapping key that introduces `path` is preferred (for an unknown field).
        """
        if key and path in self.key_marks:
            line, column = self.key_marks[path]
            return Location(self.file, line, column, path)
        for cut in range(len(path), -1, -1):
            mark = self.value_marks.get(path[:cut])
            if mark is not None:
                return Location(self.file, mark[0], mark[1], path)
        return Location(self.file, None, None, path)


def read_file(path: str | os.PathLike[str]) -> Document:
    """Read and parse a spec file (`-` is standard input); every way a file can be unusable is a
    `SpecError`. Only a regular file is opened for reading: a FIFO, a socket or a device is refused
    before a byte is read, and no more than `MAX_FILE_BYTES` (+1, to know it is too large) are."""
    name = os.fspath(path)
    if name == "-":
        return parse_bytes(sys.stdin.buffer.read(MAX_FILE_BYTES + 1), "<stdin>")
    where = Location(name, 1, 1)
    if os.path.isdir(name):
        raise PathArgumentError.at("is a directory, not a spec file", where)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; the kind is checked on the open
        # file itself, so a path swapped after a check cannot slip through.
        descriptor = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise PathArgumentError.at("no such file", where) from None
    except OSError as exc:
        raise SpecFileError.at(f"cannot read the file: {exc.strerror or exc}", where) from None
    except ValueError:  # a NUL character: no file has such a name
        raise PathArgumentError.at("no such file (the path holds a NUL character)", where) from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise PathArgumentError.at(
                f"is {_file_kind(mode)}, not a regular file: a spec is read from a file, or from standard "
                "input given as `-`",
                where,
            )
        with os.fdopen(descriptor, "rb") as handle:
            descriptor = -1
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SpecFileError.at(f"cannot read the file: {exc.strerror or exc}", where) from None
    finally:
        if descriptor >= 0:
            os.close(descriptor)
    return parse_bytes(raw, name)


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "a special file"


def parse_bytes(raw: bytes, file: str | None = None) -> Document:
    """Decode UTF-8 (refusing binary and oversized input), then parse."""
    if len(raw) > MAX_FILE_BYTES:
        raise SpecFileError.at(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB", Location(file, 1, 1))
    if b"\0" in raw:
        line, column = _line_col(raw, raw.index(b"\0"))
        raise SpecFileError.at(
            "this is a binary file (it holds a NUL byte), not a YAML spec", Location(file, line, column)
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _line_col(raw, exc.start)
        message = f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} cannot be decoded)"
        raise SpecFileError.at(message, Location(file, line, column)) from None
    return parse_text(text, file)


def parse_text(text: str, file: str | None = None) -> Document:
    """Parse YAML text into a `Document`; syntax errors and refused constructs are `SpecError`s."""
    if not isinstance(text, str):
        raise TypeError(f"parse_text() needs YAML text as a str, not {type(text).__name__}")
    if len(text) > MAX_FILE_BYTES:
        raise SpecError.at(f"the text is longer than {MAX_FILE_BYTES // (1024 * 1024)} MiB", Location(file, 1, 1))
    if "\0" in text:
        where = _text_line_col(text, text.index("\0"))
        raise SpecError.at("the text holds a NUL character, which YAML does not allow", Location(file, *where))
    document = Document(None, file)
    try:
        _Composer(document).run(_events(text, file))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = "YAML syntax error: " + " ".join(part for part in (exc.context, exc.problem) if part)
        line: int | None = mark.line + 1 if mark else None
        column: int | None = mark.column + 1 if mark else None
        message += _syntax_hint(exc.problem or "", text, line, column)
        raise SpecError.at(message, Location(file, line, column)) from None
    except yaml.YAMLError as exc:  # a reader error: a character YAML does not allow
        raise SpecError.at(f"YAML error: {_reader_problem(exc)}", _reader_location(exc, text, file)) from None
    return document


def _events(text: str, file: str | None) -> Iterator[Any]:
    """The YAML events of `text`, from libyaml's C parser where PyYAML has it."""
    if _LIBYAML_PARSER is not None:
        try:
            parser = _LIBYAML_PARSER(text)
        except UnicodeEncodeError as exc:  # a lone surrogate, only possible in text given to the API
            line, column = _text_line_col(text, exc.start)
            raise SpecError.at(
                f"the text holds U+{ord(text[exc.start]):04X}, a lone surrogate, which is not a character",
                Location(file, line, column),
            ) from None
    else:
        parser = yaml.SafeLoader(text)  # reader, scanner and parser; its constructor is never used
    return iter(parser.get_event, None)  # both parsers give None after the stream's end


def _reader_problem(exc: yaml.YAMLError) -> str:
    """A reader error's words without its position (the location says where)."""
    if isinstance(exc, yaml.reader.ReaderError):
        character = exc.character  # a str from PyYAML's reader, a code point from libyaml's
        code = ord(character) if isinstance(character, str) and len(character) == 1 else character
        if isinstance(code, int) and code >= 0:
            return f"unacceptable character #x{code:04x}: {exc.reason}"
        return str(exc.reason)
    return str(exc).split("\n")[0]


def _reader_location(exc: yaml.YAMLError, text: str, file: str | None) -> Location:
    """Where a reader error is: libyaml counts UTF-8 bytes, PyYAML's reader characters."""
    position = getattr(exc, "position", None)
    if not isinstance(position, int):
        return Location(file, None, None)
    if _LIBYAML_PARSER is not None:  # counted in UTF-8 bytes: count characters, as everywhere else
        position = len(text.encode("utf-8", "surrogatepass")[:position].decode("utf-8", "ignore"))
    line, column = _text_line_col(text, position)
    return Location(file, line, column)


def _syntax_hint(problem: str, text: str, line: int | None, column: int | None) -> str:
    """A plain-words hint for the YAML mistakes people make most (in both parsers' words)."""
    row = ""
    if line is not None and column is not None:
        rows = text.split("\n", line)
        row = rows[line - 1] if len(rows) >= line else ""
    at = row[column - 1 : column] if column is not None else ""
    hint = ""
    if "'\\t'" in problem or ("cannot start any token" in problem and at == "\t"):
        hint = " (YAML indents with spaces, never tabs)"
    elif "mapping values are not allowed" in problem:
        hint = " (check this line's indentation, or quote a value that holds ': ')"
    elif any(
        words in problem
        for words in (
            "expected <block end>",
            "did not find expected key",
            "did not find expected '-'",
            "could not find expected ':'",
        )
    ):
        hint = " (check the indentation: items of one list or mapping must line up)"
    if column is not None and row[max(column - 2, 0) : column] == "${":
        hint += '; inside [ ] or { } quote a block parameter: "${name}"'
    return hint


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return line, column


def _text_line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _show(text: str, limit: int = 40) -> str:
    """A value for a message: quoted, and cut short when long (a value may be megabytes)."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text):,} characters)"


@dataclass(slots=True)
class _Frame:
    """A collection being composed."""

    data: Any
    path: SpecPath
    anchor: str | None
    size: int = 1
    pending_key: str | None = None


class _Composer:
    """Turns a YAML event stream into plain data, iteratively (no recursion, bounded work)."""

    def __init__(self, document: Document):
        self.document = document
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.stack: list[_Frame] = []
        self.total = 0
        self.aliased = False
        self.documents = 0
        self.plain: dict[str, Any] = {}  # each plain scalar's value, by its text (one resolution each)

    def fail(self, message: str, mark: Any, path: SpecPath | None = None) -> NoReturn:
        """A `SpecError` at `mark`, by default at the spec path of the value being read."""
        if path is None:
            path = self.here()
        raise SpecError.at(message, Location(self.document.file, mark.line + 1, mark.column + 1, path))

    def here(self) -> SpecPath:
        """The spec path of the value being read (of its mapping, while a key is read)."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.data, dict):
            return top.path if top.pending_key is None else top.path + (top.pending_key,)
        return top.path + (len(top.data),)

    def run(self, events: Any) -> None:
        scalar, open_, close, alias = self.scalar, self.open, self.close, self.alias
        for event in events:
            kind = type(event)
            if kind is yaml.ScalarEvent:
                scalar(event)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                open_(event)
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                close(event)
            elif kind is yaml.AliasEvent:
                alias(event)
            elif kind is yaml.DocumentStartEvent:
                self.documents += 1
                if self.documents > 1:
                    self.fail("a spec file holds one YAML document; found a second one", event.start_mark)

    def count(self, size: int, mark: Any) -> None:
        """Count values, lists and mappings as the document would hold them with aliases expanded."""
        self.total += size
        if self.total > MAX_EXPANDED_NODES:
            if self.aliased:
                message = (
                    f"the document expands to more than {MAX_EXPANDED_NODES:,} values through aliases (an alias bomb?)"
                )
            else:
                message = f"the document holds more than {MAX_EXPANDED_NODES:,} values, lists and mappings"
            self.fail(message, mark)

    def child_path(self) -> SpecPath:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.data, dict):
            assert top.pending_key is not None  # a value of a mapping always follows its key
            return top.path + (top.pending_key,)
        return top.path + (len(top.data),)

    def open(self, event: Any) -> None:
        is_mapping = type(event) is yaml.MappingStartEvent
        tag = event.tag
        if tag is not None and tag != "!" and tag != (_MAP if is_mapping else _SEQ):
            self.refuse_tag(event, "a mapping" if is_mapping else "a list")
        stack = self.stack
        mark = event.start_mark
        if stack:
            top = stack[-1]
            if type(top.data) is dict:
                if top.pending_key is None:
                    self.fail("a mapping key must be a plain string, not a list or a mapping", mark)
                path = top.path + (top.pending_key,)
            else:
                path = top.path + (len(top.data),)
            if len(stack) >= MAX_DEPTH:
                self.fail(f"the document nests deeper than {MAX_DEPTH} levels", mark)
        else:
            path = ()
        self.total += 1
        if self.total > MAX_EXPANDED_NODES:
            self.count(0, mark)
        self.document.value_marks[path] = (mark.line + 1, mark.column + 1)
        stack.append(_Frame({} if is_mapping else [], path, event.anchor))

    def close(self, event: Any) -> None:
        stack = self.stack
        frame = stack.pop()
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (frame.data, frame.size)
        if not stack:
            self.document.data = frame.data
            return
        top = stack[-1]  # a collection is never a key (`open` refuses it), so its parent awaits it
        top.size += frame.size
        if type(top.data) is dict:
            top.data[top.pending_key] = frame.data
            top.pending_key = None
        else:
            top.data.append(frame.data)

    def alias(self, event: Any) -> None:
        if event.anchor not in self.anchors:
            self.fail(
                f"alias *{event.anchor[:40]} refers to no finished anchor (recursive or undefined)", event.start_mark
            )
        self.aliased = True
        data, size = self.anchors[event.anchor]
        self.count(size, event.start_mark)
        self.place(data, size, event.start_mark)

    def scalar(self, event: Any) -> None:
        # The hot path of a large spec: plain values already seen and a parent that is a list or
        # a mapping waiting for a value take no call beyond the lookup.
        text = event.value
        if event.tag is None and event.implicit[0]:
            if text and text[0] not in _RESOLVED_FIRST:
                value = text  # plain text that no YAML 1.1 rule reads as anything else
            else:
                value = self.plain.get(text, _MISSING)
                if value is _MISSING:
                    value = self.scalar_value(event)
        else:
            value = self.scalar_value(event)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1)
        mark = event.start_mark
        if not self.stack:
            self.count(1, mark)
            self.document.value_marks[()] = (mark.line + 1, mark.column + 1)
            self.document.data = value
            return
        top = self.stack[-1]
        data = top.data
        if type(data) is dict:
            key = top.pending_key
            if key is None:
                if not isinstance(value, str):
                    self.fail(f"a mapping key must be a string, got {_show(repr(value))}", mark)
                if value in data:
                    self.fail(f"duplicate key {_show(value)}", mark, top.path + (value,))
                top.pending_key = value
                self.document.key_marks[top.path + (value,)] = (mark.line + 1, mark.column + 1)
                return
            path = top.path + (key,)
            data[key] = value
            top.pending_key = None
        else:
            path = top.path + (len(data),)
            data.append(value)
        top.size += 1
        self.total += 1
        if self.total > MAX_EXPANDED_NODES:
            self.count(0, mark)
        self.document.value_marks[path] = (mark.line + 1, mark.column + 1)

    def scalar_value(self, event: Any) -> Any:
        """A scalar's value: a plain one is resolved as YAML 1.1 does (once per distinct text), a
        tagged one is checked against its tag."""
        tag, text = event.tag, event.value
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return text  # quoted, or a block scalar: text
            value = self.plain.get(text, _MISSING)
            if value is _MISSING:
                tag = _RESOLVE(yaml.ScalarNode, text, (True, False))
                if tag == _STR and _EXPONENT_FLOAT.fullmatch(text):
                    tag = _FLOAT  # YAML 1.2 reads `1e-6` as a number; PyYAML's 1.1 rules want `1.0e-6`
                elif tag == _MERGE:
                    self.fail("merge keys (<<) are not supported; write the fields out", event.start_mark)
                elif tag not in (_INT, _FLOAT, _BOOL, _NULL):
                    tag = _STR  # a date, `=`: text
                value = self.plain[text] = self.construct(tag, text, event, explicit=False)
            return value
        if tag in (_STR, _INT, _FLOAT, _BOOL, _NULL):
            if tag != _STR and not self.fits(tag, text):
                self.fail(f"not a valid {_short_tag(tag)}: {_show(text)}", event.start_mark)
            return self.construct(tag, text, event, explicit=True)
        if tag == _MERGE:
            self.fail("merge keys (<<) are not supported; write the fields out", event.start_mark)
        self.refuse_tag(event, "a scalar value")

    @staticmethod
    def fits(tag: str, text: str) -> bool:
        """Whether `text` is written as a value of `tag` (an integer is a fine `!!float`)."""
        tags = (_FLOAT, _INT) if tag == _FLOAT else (tag,)
        if tag == _FLOAT and _EXPONENT_FLOAT.fullmatch(text):
            return True
        return any(pattern.match(text) for t in tags for pattern in _PATTERNS.get(t, ()))

    def construct(self, tag: str, text: str, event: Any, *, explicit: bool) -> Any:
        if tag == _STR:
            return text
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return _BOOL_VALUES[text.lower()]
        try:
            return _integer(text) if tag == _INT else _float(text)
        except _TooLarge:
            if tag == _INT:
                self.fail(
                    f"integer too large: {_show(text)} has more than {MAX_INTEGER_DIGITS} digits (cnnsize reads "
                    "only integers a float can hold)",
                    event.start_mark,
                )
            self.fail(f"number too large: {_show(text)} is beyond the largest float (about 1.8e308)", event.start_mark)
        except (ValueError, ArithmeticError):
            kind = _short_tag(tag) if explicit else ("integer" if tag == _INT else "number")
            hint = "" if explicit else " (quote it to keep it as text)"
            self.fail(f"not a valid {kind}: {_show(text)}{hint}", event.start_mark)

    def refuse_tag(self, event: Any, node: str) -> NoReturn:
        tag = _short_tag(event.tag)
        shown = tag if len(tag) <= 60 else tag[:60] + "..."
        if event.tag in (_STR, _INT, _FLOAT, _BOOL, _NULL, _SEQ, _MAP):
            self.fail(f"YAML tag '{shown}' does not fit {node}", event.start_mark)
        self.fail(
            f"YAML tag '{shown}' is not allowed: a spec is plain data, and nothing in it is constructed or run",
            event.start_mark,
        )

    def place(self, value: Any, size: int, mark: Any) -> None:
        """Attach a finished value to its parent."""
        if not self.stack:
            self.document.data = value
            return
        top = self.stack[-1]
        top.size += size
        if isinstance(top.data, dict):
            if top.pending_key is None:
                self.fail("a mapping key must be a plain string", mark)
            top.data[top.pending_key] = value
            top.pending_key = None
        else:
            top.data.append(value)


class _TooLarge(Exception):
    pass


def _integer(text: str) -> int:
    """A YAML 1.1 integer (`0b`, `0x`, leading-0 octal, `1:30` base 60), refused past the cap
    before any conversion that could take long (Python's own limit is 4,300 decimal digits)."""
    digits = text.replace("_", "")
    sign = -1 if digits[:1] == "-" else 1
    if digits[:1] in ("-", "+"):
        digits = digits[1:]
    if len(digits.lstrip("0")) > _MAX_INTEGER_TEXT:
        raise _TooLarge
    if digits == "0":
        return 0
    if digits.startswith("0b"):
        value = int(digits[2:], 2)
    elif digits.startswith("0x"):
        value = int(digits[2:], 16)
    elif digits.startswith("0"):
        value = int(digits, 8)
    elif ":" in digits:
        value = _base_60(digits, int)
    else:
        value = int(digits)
    if value >= _INTEGER_BOUND:
        raise _TooLarge
    return sign * value


def _base_60(digits: str, number: Callable[[str], Any]) -> Any:
    """YAML 1.1's sexagesimal form (`1:30` is 90), each part read by `number` (int or float)."""
    value, base = number("0"), 1
    for part in reversed(digits.split(":")):
        value += number(part) * base
        base *= 60
    return value


def _float(text: str) -> float:
    """A YAML 1.1 float (`.inf`, `.nan`, `1:30.5` base 60), or a number in exponent form."""
    digits = text.replace("_", "").lower()
    sign = -1.0 if digits[:1] == "-" else 1.0
    if digits[:1] in ("-", "+"):
        digits = digits[1:]
    if digits == ".inf":
        return sign * math.inf
    if digits == ".nan":
        return math.nan
    if ":" in digits:
        value = _base_60(digits, float)
    else:
        value = float(digits)
    if math.isinf(value):
        raise _TooLarge
    return sign * value


class _SpecDumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting the strings this reader would read as something else: PyYAML
    quotes what YAML 1.1 resolves (`yes`, `null`, `1.5`), but not `1e3`, which this reader takes
    for a number (`_EXPONENT_FLOAT`)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "'" if _EXPONENT_FLOAT.fullmatch(value) else None
    return dumper.represent_scalar(_STR, value, style=style)


_SpecDumper.add_representer(str, _represent_str)


def dump_text(data: Any, width: int = 120) -> str:
    """`data` as YAML that `parse_text` reads back the same (layers as flow mappings, keys in order)."""
    flow = {"sort_keys": False, "default_flow_style": None, "width": width, "allow_unicode": True}
    return yaml.dump(data, Dumper=_SpecDumper, **flow)
