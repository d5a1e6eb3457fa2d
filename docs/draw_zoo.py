"""Draws every zoo network into docs/zoo/NAME.svg and writes docs/zoo.md, which shows them.

    python docs/draw_zoo.py

Each network is drawn as deep as it can be in at most `cnnsize.picture.MOST_BOXES` boxes (every
layer, else its composites collapsed at depth 4, 3, 2 or 1), so that ResNet-152 still fits a page.
tests/test_draw.py fails when a drawing here is stale: run this after changing the zoo or the
drawing.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from cnnsize.engine import analyze  # noqa: E402
from cnnsize.loader import load  # noqa: E402
from cnnsize.picture import MOST_BOXES, fitted  # noqa: E402
from cnnsize.render_svg import svg  # noqa: E402
from cnnsize.zoo import MODELS  # noqa: E402


def documents() -> dict[str, str]:
    """Every file this script writes (path relative to docs/ -> text)."""
    files: dict[str, str] = {}
    lines = [
        "# The zoo, drawn",
        "",
        "_Written by `python docs/draw_zoo.py`; `tests/test_draw.py` fails when a drawing is stale._",
        "",
        "Each layer's output volume is a box whose sides follow H, W and C (log-scaled), labelled",
        "`HxWxC`; lines join each volume to the next, with the kernel's window on the volume a",
        "convolution or pooling reads; arcs are skips and joins; colours are kinds. Each network is",
        f"drawn as deep as fits in {MOST_BOXES} boxes (`cnnsize draw NAME --depth N`).",
        "",
    ]
    for name, model in MODELS.items():
        depth, found = fitted(analyze(load(name)))
        files[f"zoo/{name}.svg"] = svg(found)
        how = "every layer" if depth is None else f"`--depth {depth}`"
        lines += [
            f"## {name}",
            "",
            f"{model.paper} ({model.year}): {len(found.boxes)} boxes, {how}.",
            "",
            f"![{name}](zoo/{name}.svg)",
            "",
        ]
    files["zoo.md"] = "\n".join(lines)
    return files


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for path, text in documents().items():
        with open(os.path.join(here, path), "w", encoding="utf-8") as out:
            out.write(text)
        print(f"wrote docs/{path}")


if __name__ == "__main__":
    main()
