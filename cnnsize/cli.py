"""The `cnnsize` command line (typer). Every command turns user errors into one message per
problem and an exit code; torch is imported only by the commands that build models."""

from __future__ import annotations

import sys
from typing import Annotated, Any, List, Optional

import typer

from cnnsize import __version__
from cnnsize.commands import conv as conv_command
from cnnsize.commands import plan as plan_command
from cnnsize.commands import schema as schema_command
from cnnsize.commands import verify as verify_command
from cnnsize.commands import zoo as zoo_command
from cnnsize.commands.options import (
    AmpOption,
    BatchOption,
    DTypeOption,
    Format,
    FormatOption,
    Optimizer,
    OptimizerOption,
    Rules,
    RulesOption,
    SpecArgs,
    positive,
)
from cnnsize.errors import CnnsizeError, Problem, SpecError

app = typer.Typer(
    name="cnnsize",
    help="Size convolutional networks from a YAML spec: shapes, parameters, MACs/FLOPs, memory, receptive field.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


DepthOption = Annotated[
    Optional[int],
    typer.Option(
        "--depth",
        "-d",
        callback=positive,
        metavar="N",
        help="Rows at most N levels deep, each summing those below.",
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnnsize {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """cnnsize: size CNNs before you train them."""


def fail(problems: List[Problem], code: int) -> None:
    """Print each problem on stderr, one line each, and exit with `code`."""
    for problem in problems:
        typer.echo(str(problem), err=True)
    raise typer.Exit(code)


def exit_on_user_error(error: CnnsizeError) -> None:
    if isinstance(error, SpecError):
        fail(list(error.problems), error.exit_code)
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(error.exit_code)


@app.command()
def report(
    specs: SpecArgs,
    batch_size: BatchOption = 1,
    dtype: DTypeOption = None,
    fmt: FormatOption = Format.table,
    depth: DepthOption = None,
    optimizer: OptimizerOption = Optimizer.sgd,
    amp: AmpOption = None,
    device: RulesOption = Rules.cuda,
) -> None:
    """Per-layer shapes, parameters, MACs/FLOPs, activation memory and receptive field, with totals,
    and memory: what each layer saves for backward, the training footprint and the inference peak.

    SPEC is a file, or the name of a model of the zoo (see `cnnsize zoo`)."""
    from cnnsize.engine import analyze
    from cnnsize.loader import load_path as load  # a command-line argument is a path, never YAML text
    from cnnsize.planner import with_memory
    from cnnsize.render import render

    reports: list[Any] = []
    problems: list[Problem] = []
    code = 0
    for path in specs:
        try:
            spec = load(path)
            report = analyze(spec, batch_size, dtype.value if dtype else None)
            report = with_memory(
                spec, report, amp=amp.value if amp else None, device=device.value, optimizer=optimizer.value
            )
            reports.append(report.truncated(depth))
            problems.extend(report.warnings)
        except SpecError as error:
            problems.extend(error.problems)
            code = max(code, error.exit_code)
        except CnnsizeError as error:
            exit_on_user_error(error)
    if code:
        fail(problems, code)  # never print a partial result as if it were whole
    for warning in problems:
        typer.echo(str(warning), err=True)
    render(reports, fmt.value)


@app.command()
def check(
    specs: SpecArgs,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print problems only.")] = False,
) -> None:
    """Validate specs, their budgets and stated shapes (for CI and pre-commit).

    Prints `file:line:col: error: message` per problem; exits 0 if all pass, 1 if any fails,
    2 on a usage error (such as a missing file).
    """
    from cnnsize.budgets import check_budgets
    from cnnsize.engine import analyze
    from cnnsize.loader import load_path as load  # a command-line argument is a path, never YAML text

    code, failed = 0, 0
    for path in specs:
        try:
            spec = load(path)
            batch = spec.budgets.batch_size if spec.budgets else 1
            report = analyze(spec, batch)
            problems = check_budgets(spec, report)
            file_code = 1 if problems else 0
            problems = list(report.warnings) + problems
        except SpecError as error:
            problems, file_code = list(error.problems), error.exit_code
        for problem in problems:
            typer.echo(str(problem))
        failed += bool(file_code)
        code = max(code, file_code)
    if not quiet:
        total = len(specs)
        summary = f"{total} spec{'s' if total != 1 else ''} checked: " + (
            f"{failed} failed" if failed else "all passed"
        )
        typer.echo(summary, err=True)  # stdout carries problems only
    raise typer.Exit(code)


app.command()(conv_command.conv)
app.command()(plan_command.plan)
app.command()(schema_command.schema)
app.command(name="zoo")(zoo_command.command)
app.command()(verify_command.verify)


def run() -> None:
    """Console-script entry point (also `python -m cnnsize`, under the same name)."""
    try:
        app(prog_name="cnnsize")
    except CnnsizeError as error:  # pragma: no cover - commands handle their own
        typer.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
