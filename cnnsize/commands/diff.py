"""`cnnsize diff`: what a change to a network does, layer by layer and in total, with growth gates
for CI; `--against REV` reads the old spec from git (`git show REV:SPEC`)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated, Any, Optional

import typer

from cnnsize.commands.options import (
    AmpOption,
    BatchOption,
    ConventionOption,
    DTypeOption,
    Format,
    FormatOption,
    InputOption,
    Optimizer,
    OptimizerOption,
    Rules,
    RulesOption,
    SetOption,
    assignments,
    input_shape,
)
from cnnsize.errors import CnnsizeError, UsageError


def read_at_revision(path: str, revision: str, params: Optional[dict[str, Any]] = None) -> Any:
    """The spec `path` as it is at git `revision`, located as `REV:path` in messages, with its
    parameters set to `params`."""
    from cnnsize.schema import parse_spec
    from cnnsize.yamlio import MAX_FILE_BYTES, parse_text

    folder, name = os.path.split(os.path.abspath(path))
    if revision.startswith("-"):
        raise UsageError(f"--against takes a git revision, not {revision!r}")
    try:
        done = subprocess.run(
            ["git", "show", f"{revision}:./{name}"], cwd=folder, capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UsageError(f"--against: could not run git: {error}") from None
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"--against: git cannot show {path} at {revision}: {why[0] if why else 'no reason given'}")
    if len(done.stdout) > MAX_FILE_BYTES:
        raise UsageError(f"--against: {path} at {revision} is larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        text = done.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--against: {path} at {revision} is not UTF-8 text") from None
    return parse_spec(parse_text(text, file=f"{revision}:{path}"), params)


def diff(
    old: Annotated[str, typer.Argument(metavar="OLD", help="The spec before: a file or a zoo model.")],
    new: Annotated[
        Optional[str], typer.Argument(metavar="NEW", help="The spec after (with --against: OLD as it is now).")
    ] = None,
    against: Annotated[
        Optional[str],
        typer.Option("--against", metavar="REV", help="Compare OLD as it is with OLD at git revision REV."),
    ] = None,
    fmt: FormatOption = Format.table,
    max_growth: Annotated[
        Optional[str],
        typer.Option(
            "--max-growth",
            metavar="GATES",
            help="Exit 1 when a total grows past its limit: params=5%,macs=10%,train_memory=1GiB.",
        ),
    ] = None,
    memory: Annotated[
        Optional[str],
        typer.Option("--memory", "-m", metavar="SIZE", help="Also compare the largest batch that fits in SIZE."),
    ] = None,
    batch_size: BatchOption = 1,
    dtype: DTypeOption = None,
    optimizer: OptimizerOption = Optimizer.sgd,
    amp: AmpOption = None,
    device: RulesOption = Rules.cuda,
    input: InputOption = None,
    overrides: SetOption = None,
    convention: ConventionOption = None,
) -> None:
    """What changed between two specs: each layer's parameters, MACs, activation and saved bytes,
    output shape and receptive field, and the totals with the training footprint.

    Exits 0, or 1 when a --max-growth gate is exceeded (one line each on stderr) or a spec has a
    problem, 2 on a usage error. Example: cnnsize diff old.yaml new.yaml --max-growth params=5%
    """
    from cnnsize.cli import deliver, exit_on_user_error
    from cnnsize.commands.plan import parse_limit
    from cnnsize.commands.several import say
    from cnnsize.conventions import with_convention
    from cnnsize.diff import compare, parse_gates
    from cnnsize.engine import analyze
    from cnnsize.loader import load_argument, with_input
    from cnnsize.planner import NoBatchFits, plan, with_memory
    from cnnsize.render_diff import render_diff

    try:
        if (new is None) == (against is None):
            raise UsageError("give OLD and NEW, or one SPEC and --against REV")
        gates = parse_gates(max_growth) if max_growth is not None else []
        limit = parse_limit(memory) if memory is not None else None
        shape, params = input_shape(input), assignments(overrides)
        if against is not None:
            before = read_at_revision(old, against, params)
            specs = (before if shape is None else with_input(before, shape), load_argument(old, shape, params))
        else:
            assert new is not None
            specs = (load_argument(old, shape, params), load_argument(new, shape, params))
        settings: dict[str, Any] = {
            "amp": amp.value if amp else None,
            "device": device.value,
            "optimizer": optimizer.value,
        }
        reports = [with_memory(s, analyze(s, batch_size, dtype.value if dtype else None), **settings) for s in specs]
        if convention is not None:
            reports = [with_convention(report, convention) for report in reports]
        batches: list[Optional[int]] = [None, None]
        if limit is not None:
            for i, spec in enumerate(specs):
                try:
                    batches[i] = plan(spec, limit, dtype=dtype.value if dtype else None, **settings).batch_size
                except NoBatchFits:
                    batches[i] = 0
        result = compare(reports[0], reports[1], (batches[0], batches[1]))
    except CnnsizeError as error:
        exit_on_user_error(error)
        raise  # pragma: no cover - exit_on_user_error always exits
    violations = result.violations(gates)
    for line in violations:
        say(f"error: --max-growth: {line}")
    deliver(lambda: render_diff(result, fmt.value, sys.stdout), 1 if violations else 0)
