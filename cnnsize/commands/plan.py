"""`cnnsize plan`: the largest batch size that fits in a memory limit, with the footprint at that
size, solved exactly from the memory model (every line grows linearly with the batch)."""

from __future__ import annotations

import sys
from enum import Enum
from typing import IO, Annotated, Any, Sequence

import typer

from cnnsize.commands.options import (
    MAX_BYTES,
    AmpOption,
    DTypeOption,
    Format,
    FormatOption,
    InputOption,
    Optimizer,
    OptimizerOption,
    Rules,
    RulesOption,
    SetOption,
    SpecArgs,
    assignments,
    input_shape,
)
from cnnsize.errors import CnnsizeError, UsageError


class Mode(str, Enum):
    training = "training"
    inference = "inference"


MemoryOption = Annotated[
    str,
    typer.Option(
        "--memory", "-m", metavar="SIZE", help="The memory to fit in: 24GiB, 80GB, 512MiB or bytes (GiB = 1024^3)."
    ),
]
ModeOption = Annotated[
    Mode, typer.Option("--mode", help="A training step (forward, backward, optimizer), or inference.")
]

CSV_LINES = (
    "parameter_bytes", "running_stat_bytes", "gradient_bytes", "optimizer_state_bytes", "weight_copy_bytes",
    "saved_activation_bytes", "input_bytes", "activation_peak_bytes",
)  # fmt: skip
CSV_HEADER = (
    "network", "mode", "optimizer", "dtype", "amp", "device", "memory_limit_bytes", "batch_size", "total_bytes",
    *CSV_LINES, "next_batch_total_bytes",
)  # fmt: skip


def parse_limit(text: str) -> int:
    """`--memory`'s value in bytes; a usage error when it is no size or not positive."""
    from cnnsize.units import parse_bytes

    if len(text) > 64:  # no size is written in more: refused before any conversion
        raise UsageError(f"--memory: '{text[:20]}...' is not a byte size (at most 64 characters)")
    try:
        limit = parse_bytes(text)
    except ValueError as exc:
        raise UsageError(f"--memory: {exc}") from None
    if limit < 1:
        raise UsageError(f"--memory must be more than 0 bytes, got '{text}'")
    if limit > MAX_BYTES:
        raise UsageError(f"--memory must be at most 16 EiB ({MAX_BYTES:,} bytes), got '{text}'")
    return limit


def plan(
    specs: SpecArgs,
    memory: MemoryOption,
    optimizer: OptimizerOption = Optimizer.sgd,
    mode: ModeOption = Mode.training,
    amp: AmpOption = None,
    dtype: DTypeOption = None,
    device: RulesOption = Rules.cuda,
    fmt: FormatOption = Format.table,
    input: InputOption = None,
    overrides: SetOption = None,
) -> None:
    """The largest batch size that fits in --memory, with the memory it takes, line by line.

    Training counts parameters, gradients, optimizer state, autocast's weight copies (--amp), the
    activations saved for backward and the input batch; inference counts parameters and the most
    tensors alive at once. Exits 1 when not even batch size 1 fits, 2 on a usage error.
    """
    from cnnsize.cli import deliver, exit_on_user_error
    from cnnsize.commands.several import each
    from cnnsize.loader import load_argument  # a command-line argument is a path, never YAML text
    from cnnsize.planner import plan as solve

    shape, params = input_shape(input), assignments(overrides)

    try:
        limit = parse_limit(memory)

        def one(path: str) -> Any:
            return solve(
                load_argument(path, shape, params),
                limit,
                mode=mode.value,
                optimizer=optimizer.value,
                dtype=dtype.value if dtype else None,
                amp=amp.value if amp else None,
                device=device.value,
            )

        plans, _, code = each(specs, one)  # the rule for several specs: see commands/several.py
    except CnnsizeError as error:  # a usage error that is no spec's own
        exit_on_user_error(error)
        raise  # pragma: no cover - exit_on_user_error always exits
    if not plans and (len(specs) == 1 or fmt != Format.json):
        raise typer.Exit(code)
    deliver(lambda: show(plans, fmt.value, sys.stdout, one=len(specs) == 1), code)


def show(plans: Sequence[Any], fmt: str, out: IO[str], one: bool | None = None) -> None:
    """The plans in `fmt`, drawn whole, then written to `out`; JSON as `render.write_json` (`one`)."""
    from cnnsize.listing import Document, Panel, Part, Text, write
    from cnnsize.render import write_json
    from cnnsize.render_memory import DEVICE_NAMES, breakdown_lines, bytes_text
    from cnnsize.units import human_bytes

    if fmt == "json":
        write_json([p.to_dict() for p in plans], out, one)
        return
    documents = []
    for p in plans:
        f = p.footprint
        how = f"{f.mode} with {f.optimizer}" if f.optimizer else f.mode
        heading = (
            f"{p.name}: batch size {f.batch_size} fits in {human_bytes(p.limit)}: "
            f"{how}, {p.precision.describe()}, PyTorch's rules on {DEVICE_NAMES[p.precision.device]}"
        )
        lines = breakdown_lines(f) + [
            ("Total", f"{bytes_text(f.total_bytes)}, {bytes_text(p.limit - f.total_bytes)} to spare"),
            (f"Batch size {f.batch_size + 1}", f"would take {bytes_text(p.next_total)}"),
        ]
        settings = [p.name, f.mode, f.optimizer or "", p.precision.dtype, p.precision.amp or "", p.precision.device]
        figures = [p.limit, f.batch_size, f.total_bytes, *(f.lines.get(key, "") for key in CSV_LINES), p.next_total]
        stamp = p.stamp().text()
        parts: list[Part] = [
            Text(heading, bold=True),
            Text(stamp, stamp=True),
            Panel(f"At batch size {f.batch_size}", lines),
        ]
        documents.append(Document(parts, CSV_HEADER, [settings + figures], [f"{p.name}: {stamp}"]))
    write(documents, fmt, out)


__all__ = ["plan"]
