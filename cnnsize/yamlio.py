"""Read a YAML spec into plain Python data, remembering the line and column of every value.

Loading is safe and bounded by construction: the document is composed from PyYAML's event stream
by an iterative composer of our own, so
- no YAML tag outside plain data (str, int, float, bool, null, seq, map) is accepted, and nothing
  is ever constructed from a tag (`!!python/object/apply` is refused at its line);
- nesting depth and the size of the document after alias expansion are capped, so an alias bomb
  ("billion laughs") or a deeply nested document is refused quickly and in bounded memory;
- duplicate keys and merge keys (`<<`) are errors instead of silent overrides.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode

from cnnsize.errors import Location, PathArgumentError, SpecError, SpecFileError, SpecPath

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 200_000

_TAG = "tag:yaml.org,2002:"
_PLAIN_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
_COLLECTION_TAGS = {None, "!", _TAG + "seq", _TAG + "map"}
_EXPONENT_FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")


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
    `SpecError`."""
    name = os.fspath(path)
    if name == "-":
        return parse_bytes(sys.stdin.buffer.read(MAX_FILE_BYTES + 1), "<stdin>")
    if os.path.isdir(name):
        raise PathArgumentError.at("is a directory, not a spec file", Location(name, 1, 1))
    try:
        with open(name, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise PathArgumentError.at("no such file", Location(name, 1, 1)) from None
    except OSError as exc:
        raise SpecFileError.at(f"cannot read the file: {exc.strerror or exc}", Location(name, 1, 1)) from None
    return parse_bytes(raw, name)


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
    document = Document(None, file)
    try:
        _Composer(document).run(yaml.parse(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = "YAML syntax error: " + " ".join(part for part in (exc.context, exc.problem) if part)
        message += _syntax_hint(exc.problem or "")
        if mark is not None and text[max(mark.index - 1, 0) : mark.index + 1] == "${":
            message += '; inside [ ] or { } quote a block parameter: "${name}"'
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise SpecError.at(message, Location(file, line, column)) from None
    except yaml.YAMLError as exc:  # a reader error: a character YAML does not allow
        mark = getattr(exc, "position", None)
        line, column = _line_col(text.encode("utf-8"), mark) if isinstance(mark, int) else (None, None)
        raise SpecError.at(f"YAML error: {exc}", Location(file, line, column)) from None
    return document


def _syntax_hint(problem: str) -> str:
    """A plain-words hint for the YAML mistakes people make most."""
    if "'\\t'" in problem:
        return " (YAML indents with spaces, never tabs)"
    if "mapping values are not allowed" in problem:
        return " (check this line's indentation, or quote a value that holds ': ')"
    if "expected <block end>" in problem or "could not find expected ':'" in problem:
        return " (check the indentation: items of one list or mapping must line up)"
    return ""


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return line, column


@dataclass
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
        self.constructor = SafeConstructor()
        self.resolver = yaml.SafeLoader("")
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.stack: list[_Frame] = []
        self.total = 0
        self.documents = 0

    def fail(self, message: str, mark: Any, path: SpecPath = ()) -> None:
        raise SpecError.at(message, Location(self.document.file, mark.line + 1, mark.column + 1, path))

    def run(self, events: Any) -> None:
        for event in events:
            if isinstance(event, yaml.DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    self.fail("a spec file holds one YAML document; found a second one", event.start_mark)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                self.open(event)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frame = self.stack.pop()
                if frame.anchor is not None:
                    self.anchors[frame.anchor] = (frame.data, frame.size)
                self.place(frame.data, frame.size, event.start_mark, is_collection=True)
            elif isinstance(event, yaml.ScalarEvent):
                self.scalar(event)
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor not in self.anchors:
                    self.fail(
                        f"alias *{event.anchor} refers to no finished anchor (recursive or undefined)", event.start_mark
                    )
                data, size = self.anchors[event.anchor]
                self.place(data, size, event.start_mark)

    def child_path(self) -> SpecPath:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.data, dict):
            assert top.pending_key is not None  # a value of a mapping always follows its key
            return top.path + (top.pending_key,)
        return top.path + (len(top.data),)

    def open(self, event: Any) -> None:
        if event.tag not in _COLLECTION_TAGS:
            self.refuse_tag(event)
        if self.stack and isinstance(self.stack[-1].data, dict) and self.stack[-1].pending_key is None:
            self.fail("a mapping key must be a plain string, not a list or a mapping", event.start_mark)
        if len(self.stack) >= MAX_DEPTH:
            self.fail(f"the document nests deeper than {MAX_DEPTH} levels", event.start_mark)
        path = self.child_path()
        self.document.value_marks[path] = (event.start_mark.line + 1, event.start_mark.column + 1)
        data: Any = {} if isinstance(event, yaml.MappingStartEvent) else []
        self.stack.append(_Frame(data, path, event.anchor))

    def scalar(self, event: Any) -> None:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolver.resolve(ScalarNode, event.value, event.implicit)
            if tag == _TAG + "str" and event.style is None and _EXPONENT_FLOAT.fullmatch(event.value):
                tag = _TAG + "float"  # YAML 1.2 reads `1e-6` as a number; PyYAML's 1.1 rules want `1.0e-6`
        if tag == _TAG + "merge":
            self.fail("merge keys (<<) are not supported; write the fields out", event.start_mark)
        if tag == _TAG + "timestamp":
            value: Any = event.value
        elif tag in _PLAIN_SCALAR_TAGS:
            value = self.constructor.construct_object(ScalarNode(tag, event.value, style=event.style))
        else:
            self.refuse_tag(event)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1)
        top = self.stack[-1] if self.stack else None
        if top is not None and isinstance(top.data, dict) and top.pending_key is None:
            if not isinstance(value, str):
                self.fail(f"a mapping key must be a string, got {value!r}", event.start_mark)
            if value in top.data:
                self.fail(f"duplicate key '{value}'", event.start_mark, top.path + (value,))
            top.pending_key = value
            self.document.key_marks[top.path + (value,)] = (event.start_mark.line + 1, event.start_mark.column + 1)
            return
        self.document.value_marks[self.child_path()] = (event.start_mark.line + 1, event.start_mark.column + 1)
        self.place(value, 1, event.start_mark)

    def refuse_tag(self, event: Any) -> None:
        self.fail(
            f"YAML tag '{event.tag}' is not allowed: a spec is plain data, and nothing in it is constructed or run",
            event.start_mark,
        )

    def place(self, value: Any, size: int, mark: Any, is_collection: bool = False) -> None:
        """Attach a finished value to its parent, counting the document's expanded size."""
        if not is_collection:
            self.total += size
            if self.total > MAX_EXPANDED_NODES:
                self.fail(
                    f"the document expands to more than {MAX_EXPANDED_NODES:,} values through aliases (an alias bomb?)",
                    mark,
                )
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
