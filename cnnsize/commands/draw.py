"""`cnnsize draw`: the lecture's picture of a network, as SVG."""

from __future__ import annotations

from typing import Annotated

import typer

from cnnsize.commands.options import DepthOption, InputOption, OutputOption, SetOption, assignments, input_shape


def draw(
    spec: Annotated[str, typer.Argument(metavar="SPEC", help="A spec file, a zoo model, or - for standard input.")],
    output: OutputOption = None,
    depth: DepthOption = None,
    input: InputOption = None,
    overrides: SetOption = None,
) -> None:
    """Draw each layer's output volume as a box whose sides follow H, W and C, labelled with its
    size, the kernel window between volumes, skips and joins as arcs, colours by kind with a legend.

    The same spec gives the same bytes, so drawings can be committed. Example:
    cnnsize draw resnet18 --depth 2 -o resnet18.svg
    """
    from cnnsize.cli import deliver, exit_on_user_error, refuse_output_over_a_spec, write_file
    from cnnsize.engine import analyze
    from cnnsize.errors import CnnsizeError
    from cnnsize.listing import emit
    from cnnsize.loader import load_argument
    from cnnsize.picture import picture
    from cnnsize.render_svg import svg

    refuse_output_over_a_spec(output, [spec])
    try:
        drawing = svg(picture(analyze(load_argument(spec, input_shape(input), assignments(overrides))), depth))
    except CnnsizeError as error:
        exit_on_user_error(error)
        raise  # pragma: no cover - exit_on_user_error always exits

    deliver(lambda: write_file(output, lambda out: emit(drawing, out)), 0)
