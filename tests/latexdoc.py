"""Compiling cnnsize's `--format latex` as a paper would: the fragment `\\input` into a document
that loads booktabs and longtable, by pdflatex (installed by .ci/run; tests skip without it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

needs_pdflatex = pytest.mark.skipif(
    shutil.which("pdflatex") is None, reason="pdflatex is not installed (.ci/run installs it)"
)


def compiles(body: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """pdflatex's run on a paper that inputs `body` (returncode 0: it compiled)."""
    (folder / "body.tex").write_text(body, encoding="utf-8")
    (folder / "paper.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs,longtable}\n\\usepackage[a3paper,landscape,margin=1cm]{geometry}\n"
        "\\begin{document}\n\\input{body}\n\\end{document}\n",
        encoding="utf-8",
    )
    return subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
