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
from cnnsize.commands.parallel_options import (
    AccumulateOption,
    GpusOption,
    NodesOption,
    ReserveOption,
    StrategyOption,
    parallel_of,
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
    "reserve_bytes", "usable_bytes", "strategy", "gpus", "nodes", "world_size", "accumulate", "rank",
    "global_batch_size", "gradient_bucket_bytes", "unsharded_parameter_bytes", "communication_buffer_bytes",
    "not_counted",
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
    gpus: GpusOption = None,
    strategy: StrategyOption = None,
    nodes: NodesOption = None,
    accumulate: AccumulateOption = None,
    reserve: ReserveOption = None,
) -> None:
    """The largest batch size that fits in --memory, with the memory it takes, line by line.

    Training counts parameters, gradients, optimizer state, autocast's weight copies (--amp), the
    activations saved for backward and the input batch; inference counts parameters and the most
    tensors alive at once. With --gpus (and --strategy, --nodes, --accumulate), what one rank holds.
    --reserve (default on CUDA: 512MiB + 5%) is held back first. Exits 1 when not even batch size 1
    fits, 2 on a usage error.
    """
    from cnnsize.cli import deliver, exit_on_user_error
    from cnnsize.commands.several import each
    from cnnsize.loader import load_argument  # a command-line argument is a path, never YAML text
    from cnnsize.planner import plan as solve

    shape, params = input_shape(input), assignments(overrides)

    try:
        limit = parse_limit(memory)
        parallel = parallel_of(gpus, strategy, nodes, accumulate)

        def one(path: str) -> Any:
            return solve(
                load_argument(path, shape, params),
                limit,
                mode=mode.value,
                optimizer=optimizer.value,
                dtype=dtype.value if dtype else None,
                amp=amp.value if amp else None,
                device=device.value,
                parallel=parallel,
                reserve=reserve,
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
    from cnnsize.headroom import NOT_COUNTED
    from cnnsize.listing import Document, Panel, Part, Text, write
    from cnnsize.parallel import PARALLEL_LINES
    from cnnsize.render import write_json
    from cnnsize.render_memory import DEVICE_NAMES, bytes_text, rank_lines
    from cnnsize.units import human_bytes

    if fmt == "json":
        write_json([p.to_dict() for p in plans], out, one)
        return
    documents = []
    for p in plans:
        f, par = p.footprint, p.parallel
        how = f"{f.mode} with {f.optimizer}" if f.optimizer else f.mode
        rules = f"{p.precision.describe()}, PyTorch's rules on {DEVICE_NAMES[p.precision.device]}"
        if par is None:
            heading = f"{p.name}: batch size {f.batch_size} fits in {human_bytes(p.limit)}: {how}, {rules}"
        else:
            heading = (
                f"{p.name}: batch size {f.batch_size} per GPU fits in {human_bytes(p.limit)} on each GPU, global batch "
                f"{p.global_batch:,}: {how} on {par.describe()}, {rules}"
            )
        lines = rank_lines(f, par) + [
            ("Total", f"{bytes_text(f.total_bytes)}, {bytes_text(p.usable - f.total_bytes)} to spare"),
            ("Reserve", f"{bytes_text(p.reserve.bytes)}: {p.reserve.why}"),
            ("Usable memory", f"{bytes_text(p.usable)} of {bytes_text(p.limit)}"),
            (f"Batch size {f.batch_size + 1}", f"would take {bytes_text(p.next_total)}"),
        ]
        if p.peak is not None:
            lines.insert(0, ("Peak", p.peak))
        if par is not None:
            steps = f" x {par.accumulate} steps" if par.accumulate > 1 else ""
            lines.append(("Global batch", f"{f.batch_size:,} x {par.world:,} ranks{steps} = {p.global_batch:,}"))
        settings = [p.name, f.mode, f.optimizer or "", p.precision.dtype, p.precision.amp or "", p.precision.device]
        figures = [p.limit, f.batch_size, f.total_bytes, *(f.lines.get(key, "") for key in CSV_LINES), p.next_total]
        spread = [
            par.strategy if par else "", par.gpus if par else 1, par.nodes if par else 1, par.world if par else 1,
            par.accumulate if par else 1, "" if f.rank is None else f.rank, p.global_batch,
        ]  # fmt: skip
        extra = [f.lines.get(key, "") for key in PARALLEL_LINES]
        row = settings + figures + [p.reserve.bytes, p.usable, *spread, *extra, "; ".join(NOT_COUNTED)]
        stamp = p.stamp().text()
        title = f"At batch size {f.batch_size}" if par is None else f"Rank {f.rank} at batch size {f.batch_size}"
        parts: list[Part] = [
            Text(heading, bold=True),
            Text(stamp, stamp=True),
            Panel(title, lines),
            Text(f"Not counted in the lines (the reserve is for them): {', '.join(NOT_COUNTED)}."),
        ]
        documents.append(Document(parts, CSV_HEADER, [row], [f"{p.name}: {stamp}"]))
    write(documents, fmt, out)


__all__ = ["plan"]
