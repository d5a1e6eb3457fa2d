"""`cnnsize plan`: the largest batch size that fits in a memory limit, with the footprint at that
size, solved exactly from the memory model (every line grows linearly with the batch)."""

from __future__ import annotations

import sys
from enum import Enum
from typing import IO, Annotated, Any, Optional, Sequence

import typer

from cnnsize.commands.options import (
    MAX_BATCH_SIZE,
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
    bounded,
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


class Checkpoint(str, Enum):
    none = "none"
    all = "all"
    auto = "auto"


class Solve(str, Enum):
    batch = "batch"
    resolution = "resolution"


CheckpointOption = Annotated[
    Checkpoint,
    typer.Option(
        "--checkpoint",
        help="Activation checkpointing of the top-level blocks (torch.utils.checkpoint, non-reentrant): none, all, "
        "or auto (cheapest recompute per byte first, until --batch-size fits, else for the largest batch).",
    ),
]
SolveOption = Annotated[
    Solve,
    typer.Option(
        "--solve",
        help="What to solve for: the largest batch, or the largest square input (H = W) at --batch-size (default 1).",
    ),
]
WantedBatchOption = Annotated[
    Optional[int],
    typer.Option(
        "--batch-size",
        "-b",
        callback=bounded(1, MAX_BATCH_SIZE),
        metavar="N",
        help="The batch to fit: for --checkpoint auto, and for --solve resolution (default 1).",
    ),
]

CSV_LINES = (
    "parameter_bytes", "running_stat_bytes", "gradient_bytes", "optimizer_state_bytes", "weight_copy_bytes",
    "saved_activation_bytes", "input_bytes", "activation_gradient_bytes", "optimizer_temporary_bytes",
    "activation_peak_bytes",
)  # fmt: skip
CSV_HEADER = (
    "network", "mode", "optimizer", "dtype", "amp", "device", "memory_limit_bytes", "batch_size", "total_bytes",
    *CSV_LINES, "next_batch_total_bytes",
    "reserve_bytes", "usable_bytes", "strategy", "gpus", "nodes", "world_size", "accumulate", "rank",
    "global_batch_size", "gradient_bucket_bytes", "unsharded_parameter_bytes", "communication_buffer_bytes",
    "not_counted",
)  # fmt: skip
CHECKPOINT_CSV = (
    "recompute_bytes", "checkpoint", "checkpointed_blocks", "checkpoint_saved_bytes", "extra_flops",
    "extra_flops_percent",
)  # fmt: skip
RESOLUTION_CSV_HEADER = (
    "network", "mode", "optimizer", "dtype", "amp", "device", "checkpoint", "memory_limit_bytes", "batch_size",
    "resolution", "total_bytes", *CSV_LINES, "recompute_bytes", "next_resolution", "next_resolution_total_bytes",
    "reserve_bytes", "usable_bytes", "strategy", "gpus", "nodes", "world_size", "accumulate", "rank",
    "global_batch_size", "gradient_bucket_bytes", "unsharded_parameter_bytes", "communication_buffer_bytes",
)  # fmt: skip


BLOCK_ROWS = 4  # lines of checkpointed blocks' labels the table and Markdown show, before `... and N more`


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
    checkpoint: CheckpointOption = Checkpoint.none,
    solve: SolveOption = Solve.batch,
    batch_size: WantedBatchOption = None,
    gpus: GpusOption = None,
    strategy: StrategyOption = None,
    nodes: NodesOption = None,
    accumulate: AccumulateOption = None,
    reserve: ReserveOption = None,
) -> None:
    """The largest batch size that fits in --memory, with the memory it takes, line by line.

    Training counts parameters, gradients, optimizer state, autocast's weight copies (--amp), the
    activations saved for backward and the input batch; inference counts parameters and the most
    tensors alive at once. --checkpoint runs top-level blocks again in backward instead of keeping
    what they save; --solve resolution finds the largest square input instead of the largest batch.
    With --gpus (and --strategy, --nodes, --accumulate), what one rank holds. --reserve (default on
    CUDA: 512MiB + 5%) is held back first. Exits 1 when not even batch size 1 fits, 2 on a usage error.
    """
    from cnnsize.cli import deliver, exit_on_user_error
    from cnnsize.commands.several import each
    from cnnsize.loader import load_argument  # a command-line argument is a path, never YAML text
    from cnnsize.planner import plan as largest_batch

    shape, params = input_shape(input), assignments(overrides)

    try:
        limit = parse_limit(memory)
        check_combination(checkpoint.value, solve.value, mode.value, batch_size)
        if accumulate is not None and mode == Mode.inference:
            raise UsageError("--accumulate is for training: inference has no gradients to accumulate")
        parallel = parallel_of(gpus, strategy, nodes, accumulate)
        check_options(limit, reserve, device.value, parallel, mode.value)

        def one(path: str) -> Any:
            spec = load_argument(path, shape, params)
            try:
                return solved(spec)
            except UsageError as error:  # the options are checked: this spec cannot take them
                raise SpecRefused(str(error)) from None

        common: dict[str, Any] = {
            "optimizer": optimizer.value,
            "dtype": dtype.value if dtype else None,
            "amp": amp.value if amp else None,
            "device": device.value,
            "parallel": parallel,
            "reserve": reserve,
        }

        def solved(spec: Any) -> Any:
            if solve == Solve.resolution:
                from cnnsize.resolution import solve_resolution

                return solve_resolution(
                    spec, limit, batch_size=batch_size or 1, mode=mode.value, checkpoint=checkpoint.value, **common
                )
            if checkpoint != Checkpoint.none:
                from cnnsize.checkpointing import plan_checkpointed

                return plan_checkpointed(spec, limit, checkpoint=checkpoint.value, batch_size=batch_size, **common)
            return largest_batch(spec, limit, mode=mode.value, **common)

        plans, _, code = each(specs, one)  # the rule for several specs: see commands/several.py
    except CnnsizeError as error:  # a usage error that is no spec's own
        exit_on_user_error(error)
        raise  # pragma: no cover - exit_on_user_error always exits
    if not plans and (len(specs) == 1 or fmt != Format.json):
        raise typer.Exit(code)
    deliver(lambda: show(plans, fmt.value, sys.stdout, one=len(specs) == 1), code)


class SpecRefused(CnnsizeError):
    """Options one spec cannot take (a flat input for --solve resolution, an integer dtype for
    training): that spec's failure, exit 2, while the other specs are still planned."""

    exit_code = 2


def check_options(limit: int, reserve: Optional[str], device: str, parallel: Any, mode: str) -> None:
    """The checks no spec changes, made once before any spec is read, so that a usage error left
    inside a spec's planning is that spec's own (`SpecRefused`)."""
    from cnnsize.headroom import usable
    from cnnsize.planner import check_parallel_mode, reserve_of

    check_parallel_mode(parallel, mode)
    usable(limit, reserve_of(reserve, limit, device), explicit=reserve is not None)


def check_combination(checkpoint: str, solve: str, mode: str, batch_size: Optional[int]) -> None:
    """Refuse options that do not go together, before any spec is read (exit 2)."""
    if checkpoint != "none" and mode != "training":
        raise UsageError(f"--checkpoint {checkpoint} is for training: inference saves nothing for backward")
    if solve == "resolution" and checkpoint == "auto":
        raise UsageError("--checkpoint auto picks blocks for a batch; with --solve resolution use none or all")
    if batch_size is not None and solve == "batch" and checkpoint != "auto":
        raise UsageError(
            "--batch-size is the batch to fit with --checkpoint auto or --solve resolution; "
            "plain plan solves for the largest batch"
        )


def show(plans: Sequence[Any], fmt: str, out: IO[str], one: bool | None = None) -> None:
    """The plans in `fmt`, drawn whole, then written to `out`; JSON as `render.write_json` (`one`)."""
    from cnnsize.listing import Document, Panel, Part, Text, write
    from cnnsize.parallel import PARALLEL_LINES
    from cnnsize.render import write_json
    from cnnsize.render_memory import DEVICE_NAMES, bytes_text, rank_lines
    from cnnsize.units import human_bytes

    if fmt == "json":
        write_json([p.to_dict() for p in plans], out, one)
        return
    if plans and getattr(plans[0], "resolution", None) is not None:
        write([resolution_document(p) for p in plans], fmt, out)
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
            steps = f" x {par.accumulate:,} steps" if par.accumulate > 1 else ""
            lines.append(("Global batch", f"{f.batch_size:,} x {par.world:,} ranks{steps} = {p.global_batch:,}"))
        settings = [p.name, f.mode, f.optimizer or "", p.precision.dtype, p.precision.amp or "", p.precision.device]
        figures = [p.limit, f.batch_size, f.total_bytes, *(f.lines.get(key, "") for key in CSV_LINES), p.next_total]
        spread = [
            par.strategy if par else "", par.gpus if par else 1, par.nodes if par else 1, par.world if par else 1,
            par.accumulate if par else 1, "" if f.rank is None else f.rank, p.global_batch,
        ]  # fmt: skip
        extra = [f.lines.get(key, "") for key in PARALLEL_LINES]
        row = settings + figures + [p.reserve.bytes, p.usable, *spread, *extra, "; ".join(p.not_counted)]
        stamp = p.stamp().text()
        title = f"At batch size {f.batch_size}" if par is None else f"Rank {f.rank} at batch size {f.batch_size}"
        parts: list[Part] = [
            Text(heading, bold=True),
            Text(stamp, stamp=True),
            Panel(title, lines),
            Text(f"Not counted in the lines (the reserve is for them): {', '.join(p.not_counted)}."),
        ]
        c = p.checkpointing
        if c is not None:
            parts.append(Panel(f"Checkpointing ({c.choice})", checkpoint_lines(c)))
        ckpt = [
            f.lines.get("recompute_bytes", ""),
            c.choice if c else "none",
            "; ".join(c.blocks) if c else "",
            c.saved_bytes if c else "",
            c.extra_flops if c else "",
            round(c.extra_percent, 2) if c else "",
        ]
        row += ckpt
        documents.append(Document(parts, CSV_HEADER + CHECKPOINT_CSV, [row], [f"{p.name}: {stamp}"]))
    write(documents, fmt, out)


def checkpoint_lines(c: Any) -> list[tuple[str, str]]:
    """The checkpointing panel: blocks, bytes saved against none, FLOPs paid. The blocks' labels
    follow the count, packed to the width of the panel's other lines, the first few of them (JSON
    and CSV list all); when every block is checkpointed the count says so instead."""
    from cnnsize.listing import packed
    from cnnsize.render_memory import bytes_text

    every = bool(c.blocks) and len(c.blocks) == c.candidates
    count = f"{len(c.blocks)} of {c.candidates}" + (" (all)" if every else ":" if c.blocks else "")
    figures = [
        ("Memory saved", f"{bytes_text(c.saved_bytes)} against no checkpointing ({bytes_text(c.unchecked_total)})"),
        ("Extra FLOPs", f"{c.extra_flops:,}: {c.extra_percent:.1f}% of a step's {c.step_flops:,} (3 x forward)"),
    ] + ([("Chosen", c.note)] if c.note else [])
    width = max(len(value) for _, value in figures)
    labels = [] if every else packed(c.blocks, width, BLOCK_ROWS)
    if len(labels) == 1 and len(count) + 1 + len(labels[0]) <= width:  # a short list: on the count's line
        return [("Blocks", f"{count} {labels[0]}"), *figures]
    return [("Blocks", count), *(("", line) for line in labels), *figures]


def resolution_document(p: Any) -> Any:
    """`--solve resolution`'s answer for one spec."""
    from cnnsize.listing import Document, Panel, Part, Text
    from cnnsize.parallel import PARALLEL_LINES
    from cnnsize.render_memory import DEVICE_NAMES, bytes_text, rank_lines
    from cnnsize.units import human_bytes

    f, par = p.footprint, p.parallel
    how = f"{f.mode} with {f.optimizer}" if f.optimizer else f.mode
    side = p.resolution
    per = "" if par is None else f" per GPU on {par.describe()}"
    heading = (
        f"{p.name}: input {p.channels}x{side}x{side} fits in {human_bytes(p.limit)} at batch size {f.batch_size}"
        f"{per}: {how}, {p.precision.describe()}, PyTorch's rules on {DEVICE_NAMES[p.precision.device]}"
        + (f", checkpointing {p.checkpoint}" if p.checkpoint != "none" else "")
    )
    spare = f"{bytes_text(f.total_bytes)}, {bytes_text(p.usable - f.total_bytes)} to spare"
    lines = rank_lines(f, par) + [
        ("Total", spare),
        ("Reserve", f"{bytes_text(p.reserve.bytes)}: {p.reserve.why}"),
        ("Usable memory", f"{bytes_text(p.usable)} of {bytes_text(p.limit)}"),
    ]
    if p.next_resolution is not None:
        lines.append((f"Side {p.next_resolution}", f"would take {bytes_text(p.next_total)}"))
    else:
        lines.append(("Next side", p.next_note))
    lines.append(("Search", f"{p.analyses} analyses (doubling, then bisection)"))
    stamp = p.stamp().text()
    parts: list[Part] = [Text(heading, bold=True), Text(stamp, stamp=True), Panel(f"At {side}x{side}", lines)]
    parts += [Text(f"Note: {note}") for note in p.notes]
    parts.append(Text(f"Not counted in the lines (the reserve is for them): {', '.join(p.not_counted)}."))
    settings = [p.name, f.mode, f.optimizer or "", p.precision.dtype, p.precision.amp or "", p.precision.device,
                p.checkpoint]  # fmt: skip
    figures = [p.limit, f.batch_size, side, f.total_bytes, *(f.lines.get(key, "") for key in CSV_LINES),
               f.lines.get("recompute_bytes", ""), p.next_resolution or "", p.next_total or ""]  # fmt: skip
    spread = [
        p.reserve.bytes, p.usable, par.strategy if par else "", par.gpus if par else 1, par.nodes if par else 1,
        par.world if par else 1, par.accumulate if par else 1, "" if f.rank is None else f.rank,
        par.global_batch(f.batch_size) if par else f.batch_size, *(f.lines.get(key, "") for key in PARALLEL_LINES),
    ]  # fmt: skip
    return Document(parts, RESOLUTION_CSV_HEADER, [settings + figures + spread], [f"{p.name}: {stamp}"])


__all__ = ["plan"]
