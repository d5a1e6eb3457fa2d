"""The plan's figure for each rank of a distributed run, set beside what `verify --nproc` measures."""

from __future__ import annotations

from cnnsize.engine import analyze
from cnnsize.headroom import not_counted
from cnnsize.memory import Precision
from cnnsize.parallel import Parallel
from cnnsize.planner import model_memory
from cnnsize.schema import Spec


def planned_per_rank(
    spec: Spec, nproc: int, strategy: str, optimizer: str, batch_size: int, dtype: str, device: str
) -> tuple[tuple[int, ...], str]:
    """The memory plan's training footprint of each rank of this run (`cnnsize plan --gpus N
    --strategy S` at this per-rank batch, `device`'s PyTorch rules), and what it leaves out."""
    report = analyze(spec, batch_size, dtype)
    model = model_memory(spec, Precision(dtype, None, device), report)
    parallel = Parallel(gpus=nproc, strategy=strategy)
    planned = tuple(
        model.footprint("training", optimizer, batch_size, parallel, rank=rank).total_bytes for rank in range(nproc)
    )
    plan = f"cnnsize plan --gpus {nproc} --strategy {strategy} --device {device} --optimizer {optimizer}"
    left = not_counted("training", device, checkpointed=False, sharded=parallel.sharded, ranks=parallel.world)
    return planned, f"{plan}; not counted: {', '.join(left)}"
