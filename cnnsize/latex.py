"""LaTeX for papers: every listing as a booktabs table (`\\toprule`, `\\midrule`, `\\bottomrule`, no
vertical rules), each panel as a two-column table, the document's title and stamp as the first
table's caption. The output is a fragment to `\\input` into a paper whose preamble loads booktabs.

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
}


def tex(text: str) -> str:
    """`text` as LaTeX that prints it: controls written out (`escape`), specials as commands."""
    return "".join(_SPECIAL.get(char, char) for char in escape(text))


def latex(documents: Sequence[Document]) -> str:
    """Every document's listings and panels as booktabs tables, one after another."""
    lines = ["% cnnsize: \\usepackage{booktabs} in the preamble"]
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
    columns = len(header)
    spec = "l" * min(left, columns) + "r" * max(columns - left, 0) if not panel else "ll"
    lines = ["\\begin{table}[htbp]", "\\centering"]
    if caption:
        lines.append(f"\\caption{{{caption}}}")
    lines += [f"\\begin{{tabular}}{{{spec}}}", "\\toprule"]
    if panel:
        lines += [f"\\multicolumn{{2}}{{l}}{{{tex(title or '')}}} \\\\", "\\midrule"]
    else:
        if title:
            lines += [f"\\multicolumn{{{columns}}}{{l}}{{{tex(title)}}} \\\\", "\\midrule"]
        lines += [" & ".join(tex(name) for name in header) + " \\\\", "\\midrule"]
    for i, row in enumerate(rows):
        cells = [tex(cell) for cell in row]
        if depths and depths[i]:
            cells[0] = "\\quad " * depths[i] + cells[0]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return lines
