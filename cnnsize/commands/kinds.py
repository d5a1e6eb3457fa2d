"""`cnnsize kinds`: every layer kind a spec may use, with its fields and a line on what it is,
read from the kinds' own classes (so the list is never out of date)."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from cnnsize.commands.options import Format, FormatOption

COMMON = ("type", "name", "from_", "shares")  # every kind has these: said once, under the table


def description(cls: Any) -> str:
    """The first sentence of a kind's docstring, on one line."""
    paragraph = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
    sentence, dot, _ = paragraph.partition(". ")
    return sentence + ("." if dot or not sentence.endswith(".") else "")


def fields(cls: Any) -> list[dict[str, Any]]:
    """Each field a spec writes for this kind: its name, whether it is required, its default."""
    out = []
    for name, info in cls.model_fields.items():
        if name in COMMON:
            continue
        required = info.is_required()
        default = None if required or info.default_factory is not None else info.default
        out.append({"name": info.alias or name, "required": required, "default": default})
    return out


def field_text(field: dict[str, Any]) -> str:
    """`kernel_size` (required), `stride=1`, `out_channels` (no default)."""
    if field["required"]:
        return f"{field['name']}*"
    default = field["default"]
    if default is None:
        return field["name"]
    return f"{field['name']}={json.dumps(default) if not isinstance(default, str) else default}"


def show(fmt: Format, out: IO[str]) -> None:
    from cnnsize.kinds import KINDS
    from cnnsize.listing import Document, Listing, Text, emit, write

    kinds = [(name, KINDS[name]) for name in sorted(KINDS)]
    if fmt == Format.json:
        data = [{"kind": name, "description": description(cls), "fields": fields(cls)} for name, cls in kinds]
        emit(json.dumps(data, indent=2, default=str) + "\n", out)
        return
    rows = [[name, ", ".join(field_text(f) for f in fields(cls)), description(cls)] for name, cls in kinds]
    listing = Listing(("Kind", "Fields", "What it is"), rows, left=3, hideable=("What it is",))
    note = "* required. Every kind also takes `name`, `from` and `shares` (see docs/spec.md)."
    csv_rows = [[name, " ".join(field_text(f) for f in fields(cls)), description(cls)] for name, cls in kinds]
    write([Document([listing, Text(note)], ("kind", "fields", "description"), csv_rows)], fmt.value, out)


def command(fmt: FormatOption = Format.table) -> None:
    """List every layer kind a spec may use: its fields (* required, =default) and what it is."""
    from cnnsize.cli import deliver

    deliver(lambda: show(fmt, sys.stdout))
