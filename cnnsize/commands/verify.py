"""`cnnsize verify`: build a spec in PyTorch, check every shape and count against the engine,
and measure throughput and memory. torch is imported when the command runs, never before."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Callable, Optional

import typer

from cnnsize.commands.options import (
    BatchOption,
    Format,
    FormatOption,
    InputOption,
    Optimizer,
    SetOption,
    SpecArgs,
    assignments,
    input_shape,
    non_negative,
    positive,
)
from cnnsize.commands.parallel_options import Strategy
from cnnsize.errors import CnnsizeError, UsageError


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class VerifyDType(str, Enum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"


class Mode(str, Enum):
    inference = "inference"
    training = "training"


class VerifyCheckpoint(str, Enum):
    none = "none"
    all = "all"


def verify(
    specs: SpecArgs,
    device: Annotated[Device, typer.Option("--device", help="Where to run (auto: CUDA, else MPS, else CPU).")] = (
        Device.auto
    ),
    batch_size: BatchOption = 1,
    dtype: Annotated[VerifyDType, typer.Option("--dtype", help="Data type of weights and inputs.")] = (
        VerifyDType.float32
    ),
    mode: Annotated[
        Optional[Mode],
        typer.Option(
            "--mode", help="Time forward passes, or training steps (forward, backward, SGD) [default: inference]."
        ),
    ] = None,
    warmup: Annotated[
        Optional[int],
        typer.Option(
            "--warmup",
            callback=non_negative,
            metavar="N",
            help="Untimed iterations first [default: 10; 1 with --nproc].",
        ),
    ] = None,
    iterations: Annotated[
        Optional[int],
        typer.Option(
            "--iterations", callback=positive, metavar="N", help="Timed iterations [default: 50; 10 with --nproc]."
        ),
    ] = None,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="NHWC memory format.")] = False,
    compile: Annotated[bool, typer.Option("--compile", help="Time torch.compile's model (checks run eagerly).")] = (
        False
    ),
    nproc: Annotated[
        Optional[int],
        typer.Option(
            "--nproc",
            callback=positive,
            metavar="N",
            help="Train on N processes (gloo on the CPU, NCCL on CUDA) and measure each rank beside the plan.",
        ),
    ] = None,
    strategy: Annotated[
        Optional[Strategy],
        typer.Option("--strategy", help="With --nproc: how the ranks share the work [default: ddp]."),
    ] = None,
    optimizer: Annotated[
        Optional[Optimizer], typer.Option("--optimizer", help="With --nproc: the optimizer [default: sgd].")
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=1, metavar="S", help="With --nproc: seconds the whole run may take."),
    ] = 600.0,
    fmt: FormatOption = Format.table,
    input: InputOption = None,
    overrides: SetOption = None,
    checkpoint: Annotated[
        VerifyCheckpoint,
        typer.Option(
            "--checkpoint",
            help="With --mode training: time the step with every top-level block under torch.utils.checkpoint "
            "(non-reentrant), as plan --checkpoint all counts it.",
        ),
    ] = VerifyCheckpoint.none,
) -> None:
    """Build each SPEC in PyTorch; check every layer's shape and the counts against the engine; time it.

    Exits 0 when every shape, parameter count and FLOP count matches, 1 when any differs (each
    difference is listed) or the run cannot fit in memory, 2 on a usage error.

    With --nproc N, trains each SPEC on N processes instead (--strategy ddp|zero1|zero2|fsdp) and
    sets each rank's measured peak beside the plan's, with the throughput across ranks; exits 1
    when a rank fails or the run passes --timeout.
    """
    from cnnsize.cli import deliver, exit_on_user_error
    from cnnsize.commands.several import each

    try:
        from cnnsize.backend import require_torch

        require_torch()
        from cnnsize.loader import load_argument  # a command-line argument is a path, never YAML text
        from cnnsize.render_verify import progress_bar, render_verifications

        shape, params = input_shape(input), assignments(overrides)
        if nproc is not None:
            run = distributed_runner(
                nproc,
                strategy=(strategy or Strategy.ddp).value,
                optimizer=(optimizer or Optimizer.sgd).value,
                device=device.value,
                mode=mode.value if mode else None,
                batch_size=batch_size,
                dtype=dtype.value,
                warmup=1 if warmup is None else warmup,
                iterations=10 if iterations is None else iterations,
                unsupported=[
                    flag
                    for flag, on in (
                        ("--channels-last", channels_last),
                        ("--compile", compile),
                        ("--checkpoint", checkpoint != VerifyCheckpoint.none),
                    )
                    if on
                ],
                timeout=timeout,
            )

            def one(path: str) -> Any:
                return run(load_argument(path, shape, params))

        else:
            from cnnsize.backend.verifier import VerifyOptions
            from cnnsize.backend.verifier import verify as run_verify

            given = [flag for flag, value in (("--strategy", strategy), ("--optimizer", optimizer)) if value]
            if given:
                verb = "needs" if len(given) == 1 else "need"
                raise UsageError(f"{' and '.join(given)} {verb} --nproc N (a run on N processes)")
            options = VerifyOptions(
                device=device.value,
                batch_size=batch_size,
                dtype=dtype.value,
                mode=(mode or Mode.inference).value,
                warmup=10 if warmup is None else warmup,
                iterations=50 if iterations is None else iterations,
                channels_last=channels_last,
                compile=compile,
                checkpoint=checkpoint.value,
            )

            def one(path: str) -> Any:
                loaded = load_argument(path, shape, params)
                with progress_bar() as progress:
                    return run_verify(loaded, options, progress)

        verifications, _, code = each(specs, one)  # the rule for several specs: see commands/several.py
    except CnnsizeError as error:  # a usage error that is no spec's own (no torch, no such device)
        exit_on_user_error(error)
        raise  # pragma: no cover - exit_on_user_error always exits
    if not all(v.passed for v in verifications):
        code = max(code, 1)
    if not verifications and (len(specs) == 1 or fmt != Format.json):
        raise typer.Exit(code)
    deliver(lambda: render_verifications(verifications, fmt.value, one=len(specs) == 1), code)


def distributed_runner(
    nproc: int,
    *,
    strategy: str,
    optimizer: str,
    device: str,
    mode: Optional[str],
    batch_size: int,
    dtype: str,
    warmup: int,
    iterations: int,
    unsupported: list[str],
    timeout: float,
) -> Callable[[Any], Any]:
    """`--nproc N`: the options checked (a `UsageError` names the first bad one), then a function
    that runs a loaded spec on N processes, with the plan's bytes per rank beside it."""
    import torch

    from cnnsize.backend.distributed import DistributedOptions, run_distributed
    from cnnsize.rank_plan import planned_per_rank

    if mode == "inference":
        raise UsageError("--nproc runs training steps (forward, backward, optimizer step); drop --mode inference")
    if unsupported:
        raise UsageError(f"{' and '.join(unsupported)} cannot be used with --nproc")
    if device == "mps":
        raise UsageError("--nproc runs on cpu (gloo) or cuda (NCCL), not on mps")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    options = DistributedOptions(
        nproc=nproc,
        strategy=strategy,
        device=device,
        batch_size=batch_size,
        dtype=dtype,
        optimizer=optimizer,
        warmup=warmup,
        iterations=iterations,
        timeout_s=timeout,
    )
    options.check()

    def run(spec: Any) -> Any:
        planned = planned_per_rank(spec, nproc, strategy, optimizer, batch_size, dtype, device)
        return run_distributed(spec, options, planned)

    return run


__all__ = ["verify"]
