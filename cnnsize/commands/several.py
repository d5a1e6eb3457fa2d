"""The one rule every command that takes several specs follows when some of them fail.

Every spec is processed, in the order given. Each that succeeds gives its result on stdout; each
that fails gives its located problems on stderr (`file:line:col: error: ...`, or `file: error: ...`
for a failure without a line, such as no batch size fitting), and nothing on stdout. The exit code
is the worst of the failures (1 for a spec's problem, 2 for a usage error such as a missing file),
0 when all succeed. With `--format json`, one spec prints its object, and several always print one
list holding the results of those that succeeded (`[]` when none did). A usage error that is no
spec's own (a bad option) stops everything before any output, exit 2.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import typer

from cnnsize.errors import CnnsizeError, Problem, SpecError, UsageError

T = TypeVar("T")


def say(line: str, err: bool = True) -> None:
    """One line of a message, its control characters escaped (a message may quote a spec)."""
    from cnnsize.listing import escape

    typer.echo(escape(line), err=err)


def each(specs: Sequence[str], work: Callable[[str], T]) -> tuple[list[T], list[Problem], int]:
    """`work(path)` for every spec: the results of those that succeeded, their warnings (to print
    with the results), and the exit code so far. Each failure is printed on stderr as it happens."""
    results: list[T] = []
    warnings: list[Problem] = []
    code = 0
    for path in specs:
        try:
            result = work(path)
        except SpecError as error:
            for problem in error.problems:
                say(str(problem))
            code = max(code, error.exit_code)
        except UsageError:
            raise
        except CnnsizeError as error:
            say(f"{path}: error: {error}")
            code = max(code, error.exit_code)
        else:
            results.append(result)
            warnings.extend(getattr(result, "warnings", ()))
    return results, warnings, code


def results_of(specs: Sequence[str], work: Callable[[str], T], json: bool) -> tuple[list[T], int]:
    """`each`, with what a printing command does around it: a usage error that is no spec's own
    exits at once (exit 2), the warnings go to stderr, and when there is nothing to print (no
    result, except JSON's list for several specs) the command exits with the code. Returns the
    results and the code to exit with once they are printed."""
    from cnnsize.cli import exit_on_user_error

    try:
        results, warnings, code = each(specs, work)
    except CnnsizeError as error:  # a usage error that is no spec's own
        exit_on_user_error(error)
        raise  # pragma: no cover - exit_on_user_error always exits
    for warning in warnings:
        say(str(warning))
    if not results and (len(specs) == 1 or not json):
        raise typer.Exit(code)
    return results, code
