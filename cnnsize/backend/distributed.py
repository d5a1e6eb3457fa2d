"""Data-parallel training of a spec on N processes, measured per rank: `cnnsize verify --nproc N`.

The run, from the outside in:

1. `run_distributed` (the caller's process) writes the spec and options to a temporary folder and
   starts `python -m cnnsize.backend.distributed FOLDER` in a session of its own, with cnnsize on its
   `PYTHONPATH`; the whole run is bounded by `timeout_s` (on expiry the session is killed: no hang).
2. That launcher starts N ranks with torch.distributed's elastic launcher (`LaunchConfig` +
   `elastic_launch`, what torchrun runs; a c10d rendezvous on 127.0.0.1 at a port the store picks,
   no restarts; on the CPU the ranks are forked, so torch starts once for them all; CUDA, which
   cannot be forked once used, spawns them), then times the same training steps in one plain
   process as the baseline, and writes the results (or the failure) back. Its stdout and stderr
   (the agent's logs, a failed rank's traceback) are captured, never shown: a failure comes back
   as one message.
3. Each rank (`rank_main`) joins the process group (gloo on the CPU, NCCL on CUDA), builds the
   network (the same seed on every rank), wraps it for the strategy, runs a warm-up step (the
   optimizer's state then exists, as in a real loop), measures one steady step's peak, then times
   `iterations` steps between barriers.

Strategies, as PyTorch runs them:
- `ddp`: `DistributedDataParallel` (defaults: gradient buckets of 25 MiB);
- `zero1`: DDP with `torch.distributed.optim.ZeroRedundancyOptimizer` (each rank keeps the
  optimizer state of its share of whole parameters, then broadcasts them);
- `zero2` and `fsdp` (ZeRO-3): FSDP2, `fully_shard(..., reshard_after_forward=False / True)` on
  each top-level composite layer of the spec (a residual unit, a block: the modules the network
  runs for its layers, as one unit) and then on the root.
  The older `FullyShardedDataParallel` wrapper needs an accelerator and is not used; FSDP2 runs on
  the CPU with gloo.

The peak of the measured step counts everything the rank holds: on the CPU from `AllocationPeak`
entered before the network is built (parameters or their shards, gradients, optimizer state,
buffers, communication buffers such as DDP's gradient buckets, activations, kernels' scratch); on
CUDA `torch.cuda.max_memory_allocated` after `reset_peak_memory_stats`.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Optional, Sequence

import torch
import torch.distributed as dist
from torch import nn

from cnnsize.backend.builder import build_network
from cnnsize.backend.device import resolve_dtype
from cnnsize.backend.verifier import scalar_loss
from cnnsize.distributed_verification import STRATEGIES, DistributedVerification, ParameterShard, RankResult
from cnnsize.engine import analyze
from cnnsize.errors import CnnsizeError, UsageError
from cnnsize.planner import OPTIMIZERS
from cnnsize.schema import Spec

MEASURED_STEP = "cnnsize.measured_step"
PHASES = ("forward", "backward", "optimizer step")
HELD_AFTER = "held after the step"
FAIL_RANK = "CNNSIZE_FAIL_RANK"  # fault injection for tests: the rank that raises after joining
MAX_CPU_PROCESSES = 64  # on the CPU, at most this many ranks, and no more than the machine's cores
LEARNING_RATE = 1e-4


class RankFailed(CnnsizeError):
    """A rank of a distributed run failed, or the run did not finish in time."""


@dataclass(frozen=True)
class DistributedOptions:
    nproc: int
    strategy: str = "ddp"
    device: str = "cpu"  # cpu (gloo) or cuda (NCCL, one GPU per rank)
    batch_size: int = 1  # per rank
    dtype: str = "float32"
    optimizer: str = "sgd"
    warmup: int = 1
    iterations: int = 5
    timeout_s: float = 600.0

    def check(self) -> None:
        """Each bad option is a `UsageError` that names it."""
        for flag, value, low in (
            ("--nproc", self.nproc, 1),
            ("--batch-size", self.batch_size, 1),
            ("--iterations", self.iterations, 1),
            ("--warmup", self.warmup, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                why = " (a warm-up step makes the optimizer's state first, as a training loop does)"
                raise UsageError(
                    f"{flag} must be an integer of at least {low} with --nproc{why if flag == '--warmup' else ''}, "
                    f"got {value!r}"
                )
        if not self.timeout_s > 0:
            raise UsageError(f"--timeout must be a positive number of seconds, got {self.timeout_s!r}")
        if self.strategy not in STRATEGIES:
            raise UsageError(f"unknown strategy '{self.strategy}'; choose one of {', '.join(STRATEGIES)}")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer '{self.optimizer}'; choose one of {', '.join(OPTIMIZERS)}")
        if self.device not in ("cpu", "cuda"):
            raise UsageError(f"--nproc runs on cpu (gloo) or cuda (NCCL), not '{self.device}'")
        if self.device == "cuda":
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if count == 0:
                raise UsageError("--device cuda: no CUDA device is available")
            if self.nproc > count:
                raise UsageError(f"--nproc {self.nproc}: one GPU per process, and {count} are visible")
        else:
            bound = min(MAX_CPU_PROCESSES, os.cpu_count() or 1)
            if self.nproc > bound:
                raise UsageError(f"--nproc {self.nproc}: at most {bound} processes on this CPU (one core each)")
        resolve_dtype(self.dtype)

    @property
    def backend(self) -> str:
        return "nccl" if self.device == "cuda" else "gloo"

    @property
    def threads(self) -> Optional[int]:
        """CPU threads per rank: the machine's cores shared out (the baseline gets as many)."""
        return max(1, (os.cpu_count() or 1) // self.nproc) if self.device == "cpu" else None


def run_distributed(
    spec: Spec, options: DistributedOptions, planned: tuple[tuple[int, ...], Optional[str]] = ((), None)
) -> DistributedVerification:
    """Train `spec` on `options.nproc` processes as `options.strategy` says, and measure each rank;
    `planned`: the plan's bytes of each rank (empty: none) and a note on it."""
    return run_several(spec, [options], [planned])[0]


def run_several(
    spec: Spec,
    runs: Sequence[DistributedOptions],
    planned: Optional[Sequence[tuple[tuple[int, ...], Optional[str]]]] = None,
) -> list[DistributedVerification]:
    """`run_distributed` for each of `runs` in turn, from one launcher process (torch is started
    once); bounded by the sum of their timeouts. The first run that fails raises `RankFailed`."""
    for options in runs:
        options.check()
    plans = list(planned) if planned is not None else [((), None)] * len(runs)
    with tempfile.TemporaryDirectory(prefix="cnnsize-ddp-") as folder:
        with open(Path(folder, "request.pickle"), "wb") as file:
            pickle.dump((spec, list(runs)), file)
        _launch(folder, runs)
        with open(Path(folder, "result.pickle"), "rb") as file:
            outcomes = pickle.load(file)
    results = []
    for options, outcome, plan in zip(runs, outcomes, plans):
        if outcome[0] == "error":
            raise RankFailed(f"{options.strategy} on {options.nproc} processes: {outcome[1]}")
        results.append(_verification(spec, options, outcome, plan))
    return results


def _verification(
    spec: Spec, options: DistributedOptions, outcome: tuple[Any, ...], planned: tuple[tuple[int, ...], Optional[str]]
) -> DistributedVerification:
    _, ranks, single_seconds, peak_source, device = outcome
    report = analyze(spec, options.batch_size, options.dtype)
    return DistributedVerification(
        name=report.name,
        file=report.file,
        strategy=options.strategy,
        nproc=options.nproc,
        backend=options.backend,
        device=device,
        dtype=options.dtype,
        optimizer=options.optimizer,
        batch_size=options.batch_size,
        warmup=options.warmup,
        iterations=options.iterations,
        threads=options.threads,
        torch_version=torch.__version__,
        peak_source=peak_source,
        ranks=tuple(sorted(ranks, key=lambda r: r.rank)),
        single_seconds=single_seconds,
        planned_bytes=planned[0],
        plan_note=planned[1],
    )


def _launch(folder: str, runs: Sequence[DistributedOptions]) -> None:
    """Run the launcher process; `RankFailed` when it times out or leaves no result."""
    first = runs[0]
    what = f"{first.strategy} on {first.nproc} processes" if len(runs) == 1 else f"{len(runs)} distributed runs"
    root = str(Path(__file__).resolve().parents[2])  # the folder holding the cnnsize package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    command = [sys.executable, "-m", "cnnsize.backend.distributed", folder]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True
    )
    timeout = sum(options.timeout_s for options in runs)
    try:
        _, errors = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the launcher and every rank: one session
        process.communicate()
        raise RankFailed(f"{what} did not finish in {timeout:g} s; stopped") from None
    if not Path(folder, "result.pickle").exists():
        lines = [line for line in errors.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit code {process.returncode}"
        raise RankFailed(f"{what}: the launcher failed: {last}")


def launcher_main(folder: str) -> int:
    """The launcher process: for each run, N ranks through the elastic launcher, then the
    one-process baseline; the outcomes are written back in order, up to the first failure."""
    import torch._dynamo  # noqa: F401  # optimizers import it when made: once here, not in every forked rank

    with open(Path(folder, "request.pickle"), "rb") as file:
        spec, runs = pickle.load(file)
    outcomes = []
    for options in runs:
        outcome = launch_one(spec, options, folder)
        outcomes.append(outcome)
        if outcome[0] == "error":
            break
    with open(Path(folder, "result.pickle"), "wb") as file:
        pickle.dump(outcomes, file)
    return 0


def launch_one(spec: Spec, options: DistributedOptions, folder: str) -> tuple[Any, ...]:
    """One run: ("ok", rank results, the baseline's seconds, how the peak was measured, the
    device), or ("error", the first failure)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    timeout = max(1, int(options.timeout_s))
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=options.nproc,
        run_id=f"cnnsize-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",  # the store picks a free port (torchrun --standalone)
        rdzv_configs={"timeout": timeout, "join_timeout": timeout},
        max_restarts=0,
        monitor_interval=0.1,
        start_method="spawn" if options.device == "cuda" else "fork",  # fork: the ranks inherit torch, started
        local_addr="127.0.0.1",
    )
    for stale in Path(folder).glob("rank*.error"):
        stale.unlink()
    try:
        returned = elastic_launch(config, rank_main)(spec, options, folder)
    except ChildFailedError as exc:
        return ("error", _first_failure(folder, exc))
    single = single_process_seconds(spec, options)
    return ("ok", list(returned.values()), single, _peak_source(options), _device_text(options))


def _first_failure(folder: str, exc: Any) -> str:
    """The earliest error a rank recorded (the cause; later ones are its peers losing it), or how the
    first failed process ended."""
    recorded = []
    for path in Path(folder).glob("rank*.error"):
        stamp, _, message = path.read_text().partition(" ")
        recorded.append((float(stamp), message))
    if recorded:
        return min(recorded)[1]
    rank, failure = exc.get_first_failure()
    how = f"signal {failure.signal_name()}" if failure.exitcode < 0 else f"exit code {failure.exitcode}"
    return f"rank {rank} ended with {how}"


def _peak_source(options: DistributedOptions) -> str:
    if options.device == "cuda":
        return "torch.cuda.max_memory_allocated, reset before each phase of the step"
    if options.strategy in ("zero2", "fsdp"):  # see measure_training
        return "the CPU allocator (AllocationPeak), rebased on what the rank holds as the step begins"
    return "the CPU allocator (AllocationPeak), watched from before the network was built"


def _device_text(options: DistributedOptions) -> str:
    if options.device == "cuda":
        return f"cuda ({torch.cuda.get_device_name(0)})"
    threads = options.threads
    return f"cpu ({threads} thread{'s' if threads != 1 else ''} per process)"


def rank_main(spec: Spec, options: DistributedOptions, folder: str) -> RankResult:
    """One rank: its failure is recorded (time and one line) for the launcher, then raised."""
    rank = int(os.environ["RANK"])
    try:
        return train_rank(spec, options, rank, int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]), folder)
    except Exception as exc:
        record_failure(folder, rank, exc)
        raise


def record_failure(folder: str, rank: int, exc: BaseException) -> None:
    """`rankN.error`: when the rank failed and one line saying how (the first record is kept)."""
    path = Path(folder, f"rank{rank}.error")
    if not path.exists():
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        path.write_text(f"{time.time()} rank {rank} failed: {type(exc).__name__}: {text}")


def train_rank(
    spec: Spec, options: DistributedOptions, rank: int, world: int, local_rank: int, folder: str
) -> RankResult:
    device = torch.device("cuda", local_rank) if options.device == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(options.threads or 1)
    dist.init_process_group(options.backend, timeout=timedelta(seconds=max(1.0, options.timeout_s)))
    try:
        if os.environ.get(FAIL_RANK) == str(rank):
            raise RuntimeError(f"failure injected in rank {rank} ({FAIL_RANK})")
        return _train(spec, options, rank, world, device)
    except Exception as exc:
        record_failure(folder, rank, exc)  # before the group is torn down and the peers fail in turn
        raise
    finally:
        dist.destroy_process_group()


def _train(spec: Spec, options: DistributedOptions, rank: int, world: int, device: torch.device) -> RankResult:
    dtype = resolve_dtype(options.dtype)
    report = analyze(spec, options.batch_size, options.dtype)
    made: dict[str, Any] = {}

    def setup() -> tuple[nn.Module, Any, tuple[torch.Tensor, ...]]:
        torch.manual_seed(0)  # the same initial weights on every rank
        network = build_network(spec, report).to(device=device, dtype=dtype)
        made["network"], made["names"] = network, {id(p): name for name, p in network.named_parameters()}
        model, optimizer = wrap(network, options, world, device)
        torch.manual_seed(1 + rank)  # each rank its own batch
        return model, optimizer, network.example_inputs(options.batch_size, dtype=dtype, device=device)

    named = named_bytes if options.strategy in ("zero2", "fsdp") else None  # see measure_training
    peaks, model, optimizer, xs = measure_training(setup, device, options.warmup, named)
    network = made["network"]
    held = holdings(network, optimizer, made["names"])
    step = training_step(model, optimizer, xs)
    dist.barrier()
    start = time.perf_counter()
    for _ in range(options.iterations):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    dist.barrier()
    seconds = time.perf_counter() - start
    return RankResult(
        rank=rank,
        peak_bytes=peaks[MEASURED_STEP],
        held_after_bytes=peaks[HELD_AFTER],
        phase_peaks=tuple((phase, peaks[phase]) for phase in PHASES),
        seconds=seconds,
        steps=options.iterations,
        weights_digest=weights_digest(network),
        **held,
    )


def measure_training(
    setup: Callable[[], tuple[nn.Module, Any, tuple[torch.Tensor, ...]]],
    device: torch.device,
    warmup: int,
    held_now: Optional[Callable[[nn.Module, Any, tuple[torch.Tensor, ...]], int]] = None,
) -> tuple[dict[str, int], nn.Module, Any, tuple[torch.Tensor, ...]]:
    """`setup()` makes the model, its optimizer and the batch; after `warmup` steps, one measured
    step. Returns the peak bytes of the measured step (key `MEASURED_STEP`), of each of its phases
    (`PHASES`) and the bytes still held after it (`HELD_AFTER`), with what `setup` made. On the
    CPU the allocator is watched from before `setup` (everything made counts); on CUDA
    `max_memory_allocated` counts all that is allocated, reset before each phase.

    On the CPU the profiler sees the allocations and frees of the training thread only. Under
    FSDP2, gloo's threads release some of FSDP's communication buffers (whichever thread drops the
    last reference frees it): those frees are missed, and the count drifts up by an amount that
    varies with timing. `held_now(model, optimizer, xs)`, when given, is what the rank provably
    holds when the measured step begins (its storages, each once); the figures are then rebased
    on it, so that only frees missed inside the measured step can still over-count. DDP's and
    ZeRO-1's buffers are freed, or kept, on the training thread: no rebasing is needed there."""
    from cnnsize.backend.probes import AllocationPeak

    marks = {phase: f"cnnsize.{phase}" for phase in PHASES}
    peaks: dict[str, int] = {}
    if device.type == "cuda":

        @contextmanager
        def phase(name: str) -> Iterator[None]:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            yield
            torch.cuda.synchronize(device)
            peaks[name] = torch.cuda.max_memory_allocated(device)

        model, optimizer, xs = setup()
        for _ in range(warmup):
            training_step(model, optimizer, xs)()
        training_step(model, optimizer, xs, phase)()
        peaks[MEASURED_STEP] = max(peaks.values())
        peaks[HELD_AFTER] = torch.cuda.memory_allocated(device)
        return peaks, model, optimizer, xs
    with AllocationPeak(marks=[MEASURED_STEP, *marks.values()]) as allocations:
        model, optimizer, xs = setup()
        for _ in range(warmup):
            training_step(model, optimizer, xs)()
        start = held_now(model, optimizer, xs) if held_now is not None else None
        with torch.profiler.record_function(MEASURED_STEP):
            training_step(model, optimizer, xs, lambda name: torch.profiler.record_function(marks[name]))()
    # rebased: what the rank provably held when the step began, then the allocator's changes in it
    shift = 0 if start is None else start - allocations.before(MEASURED_STEP)
    peaks = {phase: allocations.within(mark) + shift for phase, mark in marks.items()}
    peaks[MEASURED_STEP] = allocations.within(MEASURED_STEP) + shift
    peaks[HELD_AFTER] = allocations.end + shift
    return peaks, model, optimizer, xs


def named_bytes(model: nn.Module, optimizer: Any, xs: tuple[torch.Tensor, ...]) -> int:
    """Bytes of every storage the rank can name: its parameters (or their padded shards),
    gradients, optimizer state, buffers and input batch, each storage once."""
    inner = getattr(optimizer, "optim", optimizer)
    state = [t for s in inner.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    tensors = [*model.parameters(), *(p.grad for p in model.parameters() if p.grad is not None), *state]
    return _storage_bytes([_local(t) for t in [*tensors, *model.buffers(), *xs]])


def make_optimizer(parameters: Any, name: str) -> torch.optim.Optimizer:
    """`sgd`, `momentum` (0.9), `adam`, `adamw`, as `cnnsize plan --optimizer` names them."""
    cls, kwargs = optimizer_class(name)
    return cls(parameters, **kwargs)


def optimizer_class(name: str) -> tuple[type[torch.optim.Optimizer], dict[str, Any]]:
    table: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any]]] = {
        "sgd": (torch.optim.SGD, {"lr": LEARNING_RATE}),
        "momentum": (torch.optim.SGD, {"lr": LEARNING_RATE, "momentum": 0.9}),
        "adam": (torch.optim.Adam, {"lr": LEARNING_RATE}),
        "adamw": (torch.optim.AdamW, {"lr": LEARNING_RATE}),
    }
    return table[name]


def wrap(network: nn.Module, options: DistributedOptions, world: int, device: torch.device) -> tuple[nn.Module, Any]:
    """The model to call and its optimizer, for the strategy."""
    if options.strategy in ("ddp", "zero1"):
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        model = DistributedDataParallel(network, device_ids=ids)
        if options.strategy == "ddp":
            return model, make_optimizer(network.parameters(), options.optimizer)
        from torch.distributed.optim import ZeroRedundancyOptimizer

        cls, kwargs = optimizer_class(options.optimizer)
        return model, ZeroRedundancyOptimizer(network.parameters(), optimizer_class=cls, **kwargs)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (world,))
    reshard = options.strategy == "fsdp"
    for unit in top_level_blocks(network):
        fully_shard(unit, mesh=mesh, reshard_after_forward=reshard)  # type: ignore[call-overload]
    fully_shard(network, mesh=mesh, reshard_after_forward=reshard)
    return network, make_optimizer(network.parameters(), options.optimizer)


def top_level_blocks(network: Any) -> list[list[nn.Module]]:
    """For each of the spec's top-level composite layers (a residual unit, a block), in order, the
    modules with parameters that the network runs for its layers. The network runs its leaf layers'
    modules one by one (never the composite's own forward), so each block is one FSDP unit of
    several modules, `fully_shard([...])`: gathered before the first of them runs."""
    names = network.module_names
    composite = sorted({path[1] for path in names if len(path) > 2 and path[0] == "layers"})
    run = {id(step.module) for step in network.steps}
    units = []
    for index in composite:
        prefix = names[("layers", index)] + "."
        modules = [
            network.get_submodule(name)
            for path, name in sorted(names.items(), key=lambda item: item[1])
            if name.startswith(prefix) and id(network.get_submodule(name)) in run
        ]
        with_parameters = [m for m in modules if any(True for _ in m.parameters())]
        if with_parameters:
            units.append(with_parameters)
    return units


def training_step(
    model: nn.Module,
    optimizer: Any,
    xs: tuple[torch.Tensor, ...],
    phase: Callable[[str], ContextManager[Any]] = lambda name: nullcontext(),
) -> Callable[[], None]:
    """Forward, backward of the outputs' mean, an optimizer step (each inside `phase(name)`, named
    as in `PHASES`); gradients set to None first."""
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with phase("forward"):
            loss = scalar_loss(model(*xs))
        with phase("backward"):
            loss.backward()
        del loss
        with phase("optimizer step"):
            optimizer.step()

    return step


def _local(tensor: torch.Tensor) -> torch.Tensor:
    """The part of a (possibly sharded, `DTensor`) tensor that this rank holds."""
    to_local = getattr(tensor, "to_local", None)
    return to_local() if callable(to_local) else tensor


def _storage_bytes(tensors: list[torch.Tensor]) -> int:
    """Bytes of the storages behind `tensors`, each once (a shard's padded storage in full)."""
    seen: dict[int, int] = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def holdings(network: nn.Module, optimizer: Any, names: dict[int, str]) -> dict[str, Any]:
    """What the rank holds after a step: its parameters (or shards), gradients, optimizer state."""
    parameters = list(network.named_parameters())
    shards = tuple(ParameterShard(name, tuple(p.shape), _local(p).numel()) for name, p in parameters)
    inner = getattr(optimizer, "optim", optimizer)  # ZeroRedundancyOptimizer keeps its shard's optimizer
    state = [_local(t) for s in inner.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    by_id = {id(p): name for name, p in parameters}
    owned = tuple(sorted(by_id.get(id(p), names.get(id(p), "?")) for p in inner.state))
    return {
        "parameters": shards,
        "parameter_bytes": _storage_bytes([_local(p) for _, p in parameters]),
        "gradient_bytes": _storage_bytes([_local(p.grad) for _, p in parameters if p.grad is not None]),
        "optimizer_state_bytes": _storage_bytes(state),
        "optimizer_state_parameters": owned,
    }


def weights_digest(network: nn.Module) -> Optional[str]:
    """A hash of every full parameter's bytes, or None when the rank holds only shards."""
    digest = hashlib.sha256()
    for _, p in sorted(network.named_parameters()):
        if hasattr(p, "to_local"):
            return None
        digest.update(p.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def single_process_seconds(spec: Spec, options: DistributedOptions) -> float:
    """Seconds for `iterations` plain training steps (no wrapper, no process group) in one process
    at the per-rank batch, with one rank's threads: the baseline of the scaling efficiency."""
    device = torch.device("cuda", 0) if options.device == "cuda" else torch.device("cpu")
    if options.threads:
        torch.set_num_threads(options.threads)
    dtype = resolve_dtype(options.dtype)
    torch.manual_seed(0)
    network = build_network(spec, analyze(spec, options.batch_size, options.dtype)).to(device=device, dtype=dtype)
    xs = network.example_inputs(options.batch_size, dtype=dtype, device=device)
    step = training_step(network, make_optimizer(network.parameters(), options.optimizer), xs)
    for _ in range(options.warmup + 1):  # as the ranks: the warm-up, then the measured step
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(options.iterations):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


if __name__ == "__main__":
    from cnnsize.backend.distributed import launcher_main as main  # the ranks' code by its module's name

    code = main(sys.argv[1])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the result is written: skip the interpreter's slow teardown of torch
