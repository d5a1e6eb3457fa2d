"""`cnnsize verify` without its command line: build the spec, check every layer and count against
the engine in one measured forward pass, then time it.

Order of work, so that nothing large is allocated before it is known to fit: options are checked,
the engine analyses the spec, the memory planner's estimate of the run is set against the device's
free memory, and only then is the network built and run. Out-of-memory errors become one clear
message.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from torch import nn

from cnnsize.backend.blocks import Network
from cnnsize.backend.builder import build_network
from cnnsize.backend.device import (
    free_bytes,
    is_out_of_memory,
    release_cached,
    resolve_device,
    resolve_dtype,
    synchronize,
)
from cnnsize.backend.probes import Calls, FlopCount, OutputShapes, SavedTensors, running_stats, trainable_params
from cnnsize.backend.timing import Progress, time_steps
from cnnsize.engine import analyze
from cnnsize.errors import CnnsizeError, UsageError
from cnnsize.memory import Bytes, Precision
from cnnsize.planner import MemoryModel, fitting_batch, model_memory
from cnnsize.report import Report
from cnnsize.schema import Spec
from cnnsize.units import human_bytes
from cnnsize.verification import Measurement, Memory, Throughput, Verification, compare

MODES = ("inference", "training")


@dataclass(frozen=True)
class VerifyOptions:
    device: str = "auto"
    batch_size: int = 1
    dtype: str = "float32"
    mode: str = "inference"
    warmup: int = 10
    iterations: int = 50
    channels_last: bool = False
    compile: bool = False
    timed: bool = True  # False: shapes, counts and saved tensors only
    checkpoint: str = "none"  # "all": the timed training step runs every top-level block under checkpointing

    def check(self) -> None:
        """Each bad option is a `UsageError` that names it."""
        for flag, value, low in (
            ("--batch-size", self.batch_size, 1),
            ("--iterations", self.iterations, 1),
            ("--warmup", self.warmup, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UsageError(f"{flag} must be an integer of at least {low}, got {value!r}")
        if self.mode not in MODES:
            raise UsageError(f"unknown mode '{self.mode}'; choose one of {', '.join(MODES)}")
        if self.checkpoint not in ("none", "all"):
            raise UsageError(f"unknown checkpointing '{self.checkpoint}' for verify; choose none or all")
        if self.checkpoint != "none" and self.mode != "training":
            raise UsageError("--checkpoint all checkpoints the blocks of a training step: use --mode training")
        resolve_dtype(self.dtype)


class OutOfMemory(CnnsizeError):
    """The run needs more memory than the device has (refused beforehand, or caught)."""


def verify(spec: Spec, options: VerifyOptions = VerifyOptions(), progress: Optional[Progress] = None) -> Verification:
    """Check `spec` in PyTorch against the engine and time it, as `options` say."""
    options.check()
    device, dtype = resolve_device(options.device), resolve_dtype(options.dtype)
    flat = [name for name, shape in spec.named_inputs if len(shape) != 3]
    if options.channels_last and flat:
        raise UsageError(f"--channels-last needs (C, H, W) inputs; this spec's input '{flat[0]}' is a flat vector")
    report = analyze(spec, options.batch_size, options.dtype)
    precision = Precision(options.dtype, None, "cuda" if device.type == "cuda" else "cpu")
    model = model_memory(spec, precision, report)
    checkpointed = checkpointable(spec, options)
    timed_model = model_memory(spec, precision, report, [b.segment() for b in checkpointed]) if checkpointed else model
    refuse_if_too_large(model, report, options, device, timed_model)
    phase = "building the network"
    try:
        torch.manual_seed(0)
        network = build_network(spec, report).to(device=device, dtype=dtype)
        xs = network.example_inputs(options.batch_size, dtype=dtype, device=device)
        if options.channels_last:
            network = network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs lack it
            xs = tuple(x.contiguous(memory_format=torch.channels_last) for x in xs)
        phase = "running the measured forward pass"
        measurement, saved = measure(network, xs, report)
        layers, totals = compare(report, network.module_names, measurement)
        throughput, peak = None, None
        if options.timed:
            phase = "timing"
            if checkpointed:  # the same blocks the planner checkpoints, under torch.utils.checkpoint
                from cnnsize.backend.checkpointing import checkpoint_blocks

                checkpoint_blocks(network, checkpointed)
            throughput, peak = _time(network, xs, report, options, device, progress)
    except Exception as exc:
        raise _explain(exc, phase, options, device) from None
    batch = options.batch_size
    memory = Memory(
        saved_activation_bytes=saved.activation_bytes,
        saved_parameter_bytes=saved.parameter_bytes,
        engine_activation_bytes=report.totals.activation_bytes,
        model_saved_bytes=model.training.saved.at(batch),
        engine_estimate_bytes=timed_model.footprint(options.mode, "sgd", batch).total_bytes,
        peak_allocated_bytes=peak,
    )
    return Verification(
        name=report.name,
        file=report.file,
        device=describe(device),
        dtype=options.dtype,
        batch_size=options.batch_size,
        mode=options.mode,
        torch_version=torch.__version__,
        layers=layers,
        totals=totals,
        memory=memory,
        throughput=throughput,
        options={
            name: getattr(options, name)
            for name in ("warmup", "iterations", "channels_last", "compile", "checkpoint")
            if name != "checkpoint" or options.checkpoint != "none"
        },
    )


def measure(network: Network, xs: tuple[torch.Tensor, ...], report: Report) -> tuple[Measurement, SavedTensors]:
    """One forward pass in training mode with autograd on: every built module's output shape, the
    counts per leaf layer and in all, and what autograd saves for backward."""
    names = set(network.module_names.values())
    leaves = list(report.leaves())
    uses = Counter(network.module_names[row.path] for row in leaves)
    shared = [name for name, count in uses.items() if count > 1]  # a module called again: shared weights
    network.train()
    with torch.enable_grad():
        with OutputShapes(network, names) as shapes, FlopCount(network) as flops, SavedTensors(network) as saved:
            with Calls(network, shared, flops) as calls:
                network(*xs)
    layer_counts = {}
    call_shapes = {}
    for row in leaves:
        name = network.module_names[row.path]
        call: Optional[tuple[Any, int]] = calls.calls[name].pop(0) if name in calls.calls else None
        if call is not None:
            call_shapes[row.path] = call[0]
        if isinstance(row.path[-1], int):  # a layer (a composite's join row's path ends in `add`/`cat`)
            module = network.get_submodule(name)
            own = row.shares is None  # a module's weights count at its first call, as torchinfo counts them
            layer_counts[row.path] = {
                "params": trainable_params(module) if own else 0,
                "non_trainable_params": running_stats(module) if own else 0,
                "flops": flops.of(name) if call is None else call[1],
            }
    totals = {
        "params": trainable_params(network),
        "non_trainable_params": running_stats(network),
        "flops": flops.total,
    }
    return Measurement(shapes.shapes, layer_counts, totals, call_shapes), saved


def checkpointable(spec: Spec, options: VerifyOptions) -> list[Any]:
    """The blocks `--checkpoint all` wraps in the timed training step (none without it)."""
    if options.checkpoint == "none":
        return []
    from cnnsize.checkpointing import blocks
    from cnnsize.graph import resolve

    return blocks(resolve(spec), analyze(spec, 1, options.dtype))


def run_pieces(model: MemoryModel, options: VerifyOptions, timed_model: Optional[MemoryModel] = None) -> list[Bytes]:
    """What a verify run holds at its worst, linear in the batch: the measured training-mode forward
    pass (autograd keeps what backward would need), then, when timed, the mode's own steps (for
    training, SGD: parameters, gradients and what autograd saves; `timed_model` with checkpointing)."""
    pieces = model.pieces("forward", "sgd")
    return pieces + (timed_model or model).pieces(options.mode, "sgd") if options.timed else pieces


def refuse_if_too_large(
    model: MemoryModel,
    report: Report,
    options: VerifyOptions,
    device: torch.device,
    timed_model: Optional[MemoryModel] = None,
) -> None:
    """`OutOfMemory` before anything is allocated when the memory planner's estimate of the run
    exceeds free memory, with the largest batch size that would fit."""
    free = free_bytes(device)
    pieces = run_pieces(model, options, timed_model)
    need = max(piece.at(report.batch_size) for piece in pieces)
    if free is None or need <= free:
        return
    fits = fitting_batch(pieces, free)
    hint = f"; at most --batch-size {fits} would fit" if fits >= 1 else "; not even batch size 1 fits"
    raise OutOfMemory(
        f"the memory planner estimates {human_bytes(need)} for batch size {report.batch_size} in {report.dtype} "
        f"({options.mode}), but only {human_bytes(free)} is free on {device.type}{hint}"
    )


def _time(
    network: Network,
    xs: tuple[torch.Tensor, ...],
    report: Report,
    options: VerifyOptions,
    device: torch.device,
    progress: Optional[Progress],
) -> tuple[Throughput, Optional[int]]:
    model: Any = torch.compile(network) if options.compile else network
    step, context = (
        training_step(network, model, xs) if options.mode == "training" else inference_step(network, model, xs)
    )
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with context:
        timing = time_steps(
            step, warmup=options.warmup, iterations=options.iterations, device=device, progress=progress
        )
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    throughput = Throughput.from_latencies(
        timing.latencies,
        timing.total_seconds,
        mode=options.mode,
        batch_size=options.batch_size,
        warmup=options.warmup,
        flops=report.totals.flops,
    )
    return throughput, peak


def inference_step(network: Network, model: nn.Module, xs: tuple[torch.Tensor, ...]) -> tuple[Callable[[], Any], Any]:
    """A forward pass in eval mode, run inside `torch.inference_mode()` (the returned context)."""
    network.eval()
    return (lambda: model(*xs)), torch.inference_mode()


def training_step(network: Network, model: nn.Module, xs: tuple[torch.Tensor, ...]) -> tuple[Callable[[], Any], Any]:
    """Forward, backward of the outputs' mean, and an SGD step, in training mode."""
    network.train()
    optimizer = torch.optim.SGD(network.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        scalar_loss(model(*xs)).backward()
        optimizer.step()

    return step, torch.enable_grad()


def scalar_loss(outputs: Any) -> torch.Tensor:
    """The mean of the output, or the sum of the outputs' means: something to run backward from."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float().mean()
    losses = [o.float().mean() for o in outputs]
    total = losses[0]
    for loss in losses[1:]:
        total = total + loss
    return total


def describe(device: torch.device) -> str:
    """`cpu (16 threads)`, `cuda:0 (NVIDIA H100 80GB HBM3)`, `mps`."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
    return device.type


def _explain(exc: Exception, phase: str, options: VerifyOptions, device: torch.device) -> Exception:
    """A user's error for what torch raised, or the original exception when it is a bug."""
    if isinstance(exc, CnnsizeError):
        return exc
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    at = f"at batch size {options.batch_size} in {options.dtype}"
    if is_out_of_memory(exc):
        release_cached(device)
        return OutOfMemory(
            f"out of memory on {device.type} while {phase} {at}: {first_line}; try a smaller --batch-size"
        )
    if isinstance(exc, RuntimeError) and "not implemented for" in first_line:
        return UsageError(f"--dtype {options.dtype} cannot run on {device.type}: {first_line}")
    if isinstance(exc, ValueError) and phase != "timing":
        return UsageError(f"PyTorch refused the forward pass {at}: {first_line}")
    if options.compile and phase == "timing":
        return CnnsizeError(f"--compile failed: {type(exc).__name__}: {first_line}")
    return exc
