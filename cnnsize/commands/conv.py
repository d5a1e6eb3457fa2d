"""`cnnsize conv`: the sizing calculator of a CNN course's exercise, on one spatial axis."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Mapping, NoReturn, Optional

import typer

from cnnsize.errors import UsageError

if TYPE_CHECKING:
    from cnnsize.calculator import Window


class Solvable(str, Enum):
    padding = "padding"
    stride = "stride"
    kernel = "kernel"


def conv(
    size: Annotated[int, typer.Option("--input", "-i", min=1, help="Input size along one axis.")],
    kernel: Annotated[Optional[int], typer.Option("--kernel", "-k", min=1, help="Kernel size.")] = None,
    stride: Annotated[
        Optional[int], typer.Option("--stride", "-s", min=1, help="Stride [default: 1; pooling: the kernel size].")
    ] = None,
    padding: Annotated[
        Optional[str],
        typer.Option("--padding", "-p", help="Padding per side, or same, valid or full (convolution) [default: 0]."),
    ] = None,
    dilation: Annotated[int, typer.Option("--dilation", "-d", min=1, help="Dilation.")] = 1,
    pool: Annotated[bool, typer.Option("--pool", help="A pooling window (PyTorch MaxPool2d, AvgPool2d).")] = False,
    ceil_mode: Annotated[bool, typer.Option("--ceil-mode", help="Pooling: round up (PyTorch ceil_mode).")] = False,
    transposed: Annotated[
        bool, typer.Option("--transposed", help="A transposed convolution (PyTorch ConvTranspose2d).")
    ] = False,
    output_padding: Annotated[
        Optional[int], typer.Option("--output-padding", min=0, help="Transposed: extra size on one side.")
    ] = None,
    solve: Annotated[
        Optional[Solvable], typer.Option("--solve", help="Find the values of this that give --output.")
    ] = None,
    output: Annotated[
        Optional[int], typer.Option("--output", "-o", min=1, help="The output size --solve aims at.")
    ] = None,
    draw: Annotated[
        bool, typer.Option("--draw", help="Draw the padded input, each window position and the output, as text.")
    ] = False,
    draw_svg: Annotated[
        Optional[Path],
        typer.Option("--draw-svg", metavar="FILE", help="Draw it on a square map as SVG: a panel per output pixel."),
    ] = None,
) -> None:
    """Output size of a convolution, pooling or transposed convolution, with the formula worked out.

    With --solve padding|stride|kernel and --output N, find every value that gives N (or show the
    nearest outputs and why none does). Exits 0 when solved, 1 when nothing gives N, 2 on bad values.

    Example: cnnsize conv --input 32 --kernel 5 --stride 1 --padding 2
    """
    from cnnsize.calculator import Window, parse_padding
    from cnnsize.calculator import solve as solve_for

    given = {"padding": padding, "stride": stride, "kernel": kernel}
    problem = _flag_problem(
        solve, output, pool, transposed, ceil_mode, output_padding, given, draw or draw_svg is not None
    )
    if problem:
        _refuse(problem)
    try:
        pad = parse_padding(padding) if padding is not None else 0
    except ValueError as exc:
        _refuse(f"--padding {exc}")
    window = Window(
        operation="pool" if pool else "transposed" if transposed else "conv",
        input=size,
        kernel=kernel or 1,
        stride=stride,
        padding=pad,
        dilation=dilation,
        ceil_mode=ceil_mode,
        output_padding=output_padding or 0,
    )
    if solve is None:
        broken = window.broken_rule()
        if broken:
            _refuse(broken)
        typer.echo(f"output size: {window.output()}")
        for line in window.working():
            typer.echo(f"  {line}")
        if draw or draw_svg is not None:
            _draw(window, draw, draw_svg)
        return
    try:
        solution = solve_for(window, solve.value, output)  # type: ignore[arg-type]
    except ValueError as exc:
        _refuse(str(exc))
    for line in solution.lines:
        typer.echo(line)
    raise typer.Exit(0 if solution.found else 1)


def _flag_problem(
    solve: Optional[Solvable],
    output: Optional[int],
    pool: bool,
    transposed: bool,
    ceil_mode: bool,
    output_padding: Optional[int],
    given: Mapping[str, object],
    draw: bool = False,
) -> Optional[str]:
    """What is wrong with this combination of options, if anything."""
    if pool and transposed:
        return "choose one of --pool and --transposed"
    if ceil_mode and not pool:
        return "--ceil-mode is for pooling windows: add --pool"
    if output_padding is not None and not transposed:
        return "--output-padding is for transposed convolutions: add --transposed"
    if draw and transposed:
        return "--draw shows the windows a convolution or pooling reads; a transposed convolution scatters instead"
    if draw and solve is not None:
        return f"--draw needs every value given; draw the answer: give --{solve.value} one of the values --solve finds"
    if solve is None and output is not None:
        return "--output is the size that --solve aims at: add --solve padding|stride|kernel"
    if solve is not None and output is None:
        return f"--solve {solve.value} needs the output size it aims at: add --output N"
    if solve is not None and given[solve.value] is not None:
        return f"--{solve.value} is what --solve {solve.value} finds: leave it out"
    if given["kernel"] is None and solve is not Solvable.kernel:
        return "missing option '--kernel' (or use --solve kernel)"
    return None


def _draw(window: "Window", text: bool, path: Optional[Path]) -> None:
    """The lecture's padding-and-stride figure: as text on standard output, as SVG in `path`."""
    from cnnsize import conv_figure

    for svg in ([False] if text else []) + ([True] if path is not None else []):
        problem = conv_figure.too_large(window, svg)
        if problem:
            _refuse(problem)
    if text:
        typer.echo("")
        for line in conv_figure.text(window):
            typer.echo(line)
    if path is not None:
        try:
            path.write_text(conv_figure.svg(window), encoding="utf-8")
        except OSError as exc:
            typer.echo(f"error: cannot write {path}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None


def _refuse(message: str) -> NoReturn:
    """A bad value or combination of options: one line on stderr, exit code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(UsageError.exit_code)
