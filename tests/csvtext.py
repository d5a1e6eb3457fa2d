"""Reading cnnsize's CSV as its users are told to (`pandas.read_csv(path, comment="#")`): the
stamp's comment lines first, then the header and the rows."""

from __future__ import annotations

import csv
import io


def data_lines(text: str) -> str:
    """`text` without its leading `# ` comment lines (the provenance stamp), which must be there."""
    lines = text.splitlines(keepends=True)
    comments = next((i for i, line in enumerate(lines) if not line.startswith("# ")), len(lines))
    assert comments >= 1, f"a CSV without its stamp: {text[:200]!r}"
    return "".join(lines[comments:])


def csv_dicts(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data_lines(text))))


def csv_lists(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data_lines(text))))
