"""The `cnnsize` command line (typer). Every command turns user errors into one message per
problem and an exit code; torch is imported only by the commands that build models."""

from __future__ import annotations

import errno
import gc
import io
import os
import sys
from pathlib import Path
from typing import IO, Annotated, Any, Callable, List, Optional

import typer

from cnnsize import __version__
from cnnsize.commands import conv as conv_command
from cnnsize.commands import diff as diff_command
from cnnsize.commands import draw as draw_command
from cnnsize.commands import export as export_command
from cnnsize.commands import importing as import_command
from cnnsize.commands import kinds as kinds_command
from cnnsize.commands import plan as plan_command
from cnnsize.commands import schema as schema_command
from cnnsize.commands import verify as verify_command
from cnnsize.commands import zoo as zoo_command
from cnnsize.commands.options import (
    AmpOption,
    BatchOption,
    ConventionOption,
    DepthOption,
    DTypeOption,
    Format,
    FormatOption,
    InputOption,
    Optimizer,
    OptimizerOption,
    OutputOption,
    Rules,
    RulesOption,
    SetOption,
    SpecArgs,
    View,
    ViewOption,
    assignments,
    input_shape,
)
from cnnsize.commands.several import results_of, say
from cnnsize.errors import CnnsizeError, Problem, SpecError, UsageError

app = typer.Typer(
    name="cnnsize",
    help="Size convolutional networks from a YAML spec: shapes, parameters, MACs/FLOPs, memory, receptive field.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
    """Print each problem on stderr, one line each (control characters escaped), and exit with `code`."""
    for problem in problems:
        say(str(problem))
    raise typer.Exit(code)


def exit_on_user_error(error: CnnsizeError) -> None:
    if isinstance(error, SpecError):
        fail(list(error.problems), error.exit_code)
    say(f"error: {error}")
    raise typer.Exit(error.exit_code)


def deliver(show: Callable[[], None], code: int = 0) -> None:
    """Run `show` (which draws a command's output whole, then writes it) and exit with `code`; an
    output that cannot be written (disk full, an encoding without a character) is one message and
    exit 1."""
    from cnnsize.listing import OutputError

    try:
        show()
    except OutputError as error:
        _silence_stdout()
        say(f"error: {error}")
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def _silence_stdout() -> None:
    """After a failed write, stdout's buffer still holds what was not written: point the real
    stdout at the null device so that the interpreter's flush at exit does not fail again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests capture it)
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except OSError:  # pragma: no cover - nothing more can be done
        pass


@app.command()
def report(
    ctx: typer.Context,
    specs: SpecArgs,
    batch_size: BatchOption = 1,
    dtype: DTypeOption = None,
    fmt: FormatOption = Format.table,
    depth: DepthOption = None,
    optimizer: OptimizerOption = Optimizer.sgd,
    amp: AmpOption = None,
    device: RulesOption = Rules.cuda,
    input: InputOption = None,
    overrides: SetOption = None,
    convention: ConventionOption = None,
    output: OutputOption = None,
    columns: Annotated[
        Optional[str],
        typer.Option(
            "--columns",
            metavar="KEYS",
            help="The table's columns, in order: layer, type, from, output, weights, params, params%, macs, "
            "macs%, counted (with --convention), activations, rf, saved (table, markdown, latex, html).",
        ),
    ] = None,
    view: ViewOption = View.table,
) -> None:
    """Per-layer shapes, parameters, MACs/FLOPs, activation memory and receptive field, with totals,
    and memory: what each layer saves for backward, the training footprint and the inference peak.
    `--view sharing` and `--view paths` show the lecture's views instead (docs/views.md).

    SPEC is a file, or the name of a model of the zoo (see `cnnsize zoo`)."""
    refuse_output_over_a_spec(output, specs)
    if view != View.table:
        from cnnsize.commands.views import report_view

        params = assignments(overrides)
        report_view(ctx, specs, view, batch_size, dtype.value if dtype else None, fmt, input, output, params)
        return
    from cnnsize.conventions import with_convention
    from cnnsize.engine import analyze
    from cnnsize.loader import load_argument  # a command-line argument is a path, never YAML text
    from cnnsize.planner import with_memory
    from cnnsize.render import choose_columns, render

    shape, params = input_shape(input), assignments(overrides)
    keys = [k.strip() for k in columns.split(",") if k.strip()] if columns is not None else None
    if keys is not None:
        try:
            choose_columns(keys)
            if "counted" in keys and convention is None:
                raise UsageError("--columns: 'counted' is another tool's figure: choose it with --convention NAME")
        except CnnsizeError as error:
            exit_on_user_error(error)

    def one(path: str) -> Any:
        spec = load_argument(path, shape, params)
        report = analyze(spec, batch_size, dtype.value if dtype else None)
        report = with_memory(
            spec, report, amp=amp.value if amp else None, device=device.value, optimizer=optimizer.value
        )
        if convention is not None:
            report = with_convention(report, convention)
        return report.truncated(depth)

    reports, code = results_of(specs, one, json=fmt == Format.json)  # the rule for several specs: commands/several.py
    single = len(specs) == 1
    deliver(lambda: write_file(output, lambda out: render(reports, fmt.value, out, one=single, columns=keys)), code)


def refuse_output_over_a_spec(output: Optional[Path], specs: List[str]) -> None:
    """`-o` naming one of the specs read would write over it: a usage error (exit 2), before any work."""
    if output is None:
        return
    for spec in specs:
        try:
            same = spec != "-" and Path(spec).exists() and Path(spec).resolve() == output.resolve()
        except OSError:
            same = False
        if same:
            say(f"error: --output {output} is the spec {spec}: writing there would replace it; choose another file")
            raise typer.Exit(UsageError.exit_code)


def write_file(path: Optional[Path], draw: Callable[[IO[str]], None]) -> None:
    """What `draw` writes, into the file at `path` (UTF-8) or, without one, to standard output;
    a file is drawn whole first, then written, and one that cannot be written is an OutputError."""
    from cnnsize.listing import OutputError

    if path is None:
        draw(sys.stdout)
        return
    buffer = io.StringIO()
    draw(buffer)
    try:
        path.write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


@app.command()
def check(
    specs: SpecArgs,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print problems only.")] = False,
    overrides: SetOption = None,
) -> None:
    """Validate specs, their budgets and stated shapes (for CI and pre-commit).

    Prints `file:line:col: error: message` per problem; exits 0 if all pass, 1 if any fails,
    2 on a usage error (such as a missing file).
    """
    from cnnsize.budgets import check_budgets
    from cnnsize.engine import analyze
    from cnnsize.loader import load_path as load  # a command-line argument is a path, never YAML text

    code, failed = 0, 0
    params = assignments(overrides)
    for path in specs:
        try:
            spec = load(path, params=params)
            batch = spec.budgets.batch_size if spec.budgets else 1
            report = analyze(spec, batch)
            problems = check_budgets(spec, report)
            file_code = 1 if problems else 0
            problems = list(report.warnings) + problems
        except SpecError as error:
            problems, file_code = list(error.problems), error.exit_code
        for problem in problems:
            say(str(problem), err=False)
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
app.command()(diff_command.diff)
app.command()(draw_command.draw)
app.command()(export_command.export)
app.command(name="import")(import_command.import_module)
app.command(name="kinds")(kinds_command.command)
app.command()(plan_command.plan)
app.command()(schema_command.schema)
app.command(name="zoo")(zoo_command.command)
app.command()(verify_command.verify)


def run() -> None:
    """Console-script entry point (also `python -m cnnsize`, under the same name)."""
    # A run builds one spec's objects and keeps them until it exits: collecting garbage every 700
    # allocations (the default) rescans them again and again, 10% of a report on 16,000 layers.
    gc.set_threshold(10_000, 10, 10)
    try:
        app(prog_name="cnnsize")
    except CnnsizeError as error:  # pragma: no cover - commands handle their own
        say(f"error: {error}")
        sys.exit(error.exit_code)
    except UnicodeEncodeError as error:  # a write no command's own path caught (check's lines, help)
        _silence_stdout()
        bad = ascii(error.object[error.start : error.end])
        say(f"error: cannot write {bad} in the output's encoding ({error.encoding})")
        sys.exit(1)
    except OSError as error:
        if error.errno not in WRITE_ERRORS:
            raise  # a bug in cnnsize: its traceback is what a report of it needs
        _silence_stdout()
        say(f"error: cannot write the output: {error.strerror}")
        sys.exit(1)


WRITE_ERRORS = {errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EFBIG, errno.EDQUOT}
