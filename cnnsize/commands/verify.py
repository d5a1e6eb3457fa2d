"""`cnnsize verify`: build a spec in PyTorch, check every shape and count against the engine,
and measure throughput and memory. torch is imported when the command runs, never before."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from cnnsize.commands.options import (
    BatchOption,
    Format,
    FormatOption,
    InputOption,
    SetOption,
    SpecArgs,
    assignments,
    input_shape,
    non_negative,
    positive,
)
from cnnsize.errors import CnnsizeError


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
        Mode, typer.Option("--mode", help="Time forward passes, or training steps (forward, backward, SGD).")
    ] = Mode.inference,
    warmup: Annotated[
        int, typer.Option("--warmup", callback=non_negative, metavar="N", help="Untimed iterations first.")
    ] = 10,
    iterations: Annotated[
        int, typer.Option("--iterations", callback=positive, metavar="N", help="Timed iterations.")
    ] = 50,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="NHWC memory format.")] = False,
    compile: Annotated[bool, typer.Option("--compile", help="Time torch.compile's model (checks run eagerly).")] = (
        False
    ),
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
    """
    from cnnsize.cli import deliver, exit_on_user_error
    from cnnsize.commands.several import each

    try:
        from cnnsize.backend import require_torch

        require_torch()
        from cnnsize.backend.verifier import VerifyOptions
        from cnnsize.backend.verifier import verify as run_verify
        from cnnsize.loader import load_argument  # a command-line argument is a path, never YAML text
        from cnnsize.render_verify import progress_bar, render_verifications

        options = VerifyOptions(
            device=device.value,
            batch_size=batch_size,
            dtype=dtype.value,
            mode=mode.value,
            warmup=warmup,
            iterations=iterations,
            channels_last=channels_last,
            compile=compile,
            checkpoint=checkpoint.value,
        )

        shape, params = input_shape(input), assignments(overrides)

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


__all__ = ["verify"]
