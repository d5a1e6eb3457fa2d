"""`cnnsize conv`: the sizing calculator of a CNN course's exercise, on one spatial axis."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Mapping, NoReturn, Optional

import typer

from cnnsize.errors import UsageError


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
) -> None:
    """Output size of a convolution, pooling or transposed convolution, with the formula worked out.

    With --solve padding|stride|kernel and --output N, find every value that gives N (or show the
    nearest outputs and why none does). Exits 0 when solved, 1 when nothing gives N, 2 on bad values.

    Example: cnnsize conv --input 32 --kernel 5 --stride 1 --padding 2
    """
    from cnnsize.calculator import Window, parse_padding
    from cnnsize.calculator import solve as solve_for

    given = {"padding": padding, "stride": stride, "kernel": kernel}
    problem = _flag_problem(solve, output, pool, transposed, ceil_mode, output_padding, given)
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
) -> Optional[str]:
    """What is wrong with this combination of options, if anything."""
    if pool and transposed:
        return "choose one of --pool and --transposed"
    if ceil_mode and not pool:
        return "--ceil-mode is for pooling windows: add --pool"
    if output_padding is not None and not transposed:
        return "--output-padding is for transposed convolutions: add --transposed"
    if solve is None and output is not None:
        return "--output is the size that --solve aims at: add --solve padding|stride|kernel"
    if solve is not None and output is None:
        return f"--solve {solve.value} needs the output size it aims at: add --output N"
    if solve is not None and given[solve.value] is not None:
        return f"--{solve.value} is what --solve {solve.value} finds: leave it out"
    if given["kernel"] is None and solve is not Solvable.kernel:
        return "missing option '--kernel' (or use --solve kernel)"
    return None


def _refuse(message: str) -> NoReturn:
    """A bad value or combination of options: one line on stderr, exit code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(UsageError.exit_code)
