"""LaTeX for papers: every listing as a booktabs longtable (`\\toprule`, `\\midrule`, `\\bottomrule`,
no vertical rules; it breaks across pages), each panel as a two-column one, the document's title
and stamp as the first table's caption. The output is a fragment to `\\input` into a paper whose
preamble loads booktabs and longtable.

Every cell is escaped: LaTeX's ten special characters become their commands, so a layer named
`conv_1 & 50%` prints as it is written instead of breaking the table.
"""

from __future__ import annotations

from typing import Sequence

from cnnsize.listing import Document, Listing, Panel, Text, escape

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "Δ": r"$\Delta$",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "[": "{[}",  # a row starting with `[` would read as `\\[length]`
    "]": "{]}",
    "-": "-{}",  # `--` would print an en dash
    "'": r"\textquotesingle{}",  # a curly quote otherwise
    "`": r"\textasciigrave{}",
}


def tex(text: str) -> str:
    """`text` as LaTeX that prints it: controls written out (`escape`), specials as commands, and
    every character pdflatex's default fonts lack (beyond ASCII and Latin-1's letters: a zero-width
    space, CJK, an emoji) written out as `\\u200b`, so a name cannot stop the compile."""
    return "".join(_SPECIAL.get(char, char if _printable(char) else _written_out(char)) for char in escape(text))


def _printable(char: str) -> bool:
    code = ord(char)
    return code < 0x7F or 0xC0 <= code <= 0xFF and code not in (0xD7, 0xF7)


def _written_out(char: str) -> str:
    code = ord(char)
    return r"\textbackslash{}" + (f"u{code:04x}" if code <= 0xFFFF else f"U{code:08x}")


def latex(documents: Sequence[Document]) -> str:
    """Every document's listings and panels as booktabs tables, one after another."""
    lines = ["% cnnsize: \\usepackage{booktabs,longtable} in the preamble"]
    for document in documents:
        lines += _document(document)
    return "\n".join(lines) + "\n"


def _document(document: Document) -> list[str]:
    titles = [part.text for part in document.parts if isinstance(part, Text) and not part.stamp]
    stamps = [part.text for part in document.parts if isinstance(part, Text) and part.stamp]
    caption = ". ".join(tex(text) for text in titles[:1] + stamps)
    lines: list[str] = []
    for part in document.parts:
        if isinstance(part, Listing):
            lines += _table(part.header, part.rows, part.left, part.depths, caption, part.title)
            caption = ""  # the title and stamp go with the first table only
        elif isinstance(part, Panel):
            lines += _table(["", ""], part.lines, 1, (), caption, part.title, panel=True)
            caption = ""
    for text in titles[1:]:  # prose after the title (a verdict) as a comment, never lost
        lines.append(f"% {tex(text)}")
    return lines


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    left: int,
    depths: Sequence[int],
    caption: str,
    title: str | None,
    panel: bool = False,
) -> list[str]:
    """A longtable (it breaks across pages: ResNet-152 has 600 rows), with its caption and
    heading first and the heading again on each page after."""
    columns = len(header)
    spec = "l" * min(left, columns) + "r" * max(columns - left, 0) if not panel else "ll"
    if panel:
        head = [f"\\multicolumn{{2}}{{l}}{{{tex(title or '')}}} \\\\", "\\midrule"]
    else:
        named = [f"\\multicolumn{{{columns}}}{{l}}{{{tex(title)}}} \\\\", "\\midrule"] if title else []
        head = [*named, " & ".join(tex(name) for name in header) + " \\\\", "\\midrule"]
    lines = [f"\\begin{{longtable}}{{{spec}}}"]
    if caption:
        lines.append(f"\\caption{{{caption}}} \\\\")
    lines += ["\\toprule", *head, "\\endfirsthead", "\\toprule", *head, "\\endhead"]
    for i, row in enumerate(rows):
        cells = [tex(cell) for cell in row]
        if depths and depths[i]:
            cells[0] = "\\quad " * depths[i] + cells[0]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{longtable}", ""]
    return lines
