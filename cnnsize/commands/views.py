"""`cnnsize report --view sharing|paths`: the lecture's views of each spec (docs/views.md), by the
rule for several specs; computing is `cnnsize.sharing`'s and `cnnsize.paths`', drawing
`cnnsize.render_views`'."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from cnnsize.commands.options import Format, View, input_shape
from cnnsize.commands.several import results_of, say

TABLE_ONLY = ("depth", "columns", "convention", "optimizer", "amp", "device")
"""`report`'s options that change the layer table or the memory panel only: refused with a view."""


def report_view(
    ctx: typer.Context,
    specs: List[str],
    view: View,
    batch_size: int,
    dtype: Optional[str],
    fmt: Format,
    input: Optional[str],
    output: Optional[Path] = None,
    params: Optional[dict[str, Any]] = None,
) -> None:
    """`report --view sharing|paths`: the view of each spec, by the rule for several specs, on
    standard output or into `output`."""
    from cnnsize.cli import deliver, write_file
    from cnnsize.engine import analyze
    from cnnsize.loader import load_argument
    from cnnsize.paths import paths
    from cnnsize.render_views import render_views
    from cnnsize.sharing import sharing

    # typer carries its own copy of click: its ParameterSource is known by name
    given = [name for name in TABLE_ONLY if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"]
    if given:
        option = "--" + given[0]
        say(f"error: {option} changes the layer table or the memory panel, which --view {view.value} does not show")
        raise typer.Exit(2)
    shape = input_shape(input)
    make = sharing if view == View.sharing else paths

    def one(path: str) -> Any:
        return make(analyze(load_argument(path, shape, params), batch_size, dtype))

    results, code = results_of(specs, one, json=fmt == Format.json)
    single = len(specs) == 1
    deliver(lambda: write_file(output, lambda out: render_views(results, fmt.value, out, one=single)), code)
