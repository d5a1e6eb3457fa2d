"""`plan`'s options for several GPUs and headroom: `--gpus`, `--strategy`, `--nodes`, `--accumulate`
and `--reserve` (cnnsize.parallel, cnnsize.headroom), declared once."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Optional

import typer


class Strategy(str, Enum):
    ddp = "ddp"
    zero1 = "zero1"
    zero2 = "zero2"
    fsdp = "fsdp"


GpusOption = Annotated[
    Optional[int],
    typer.Option("--gpus", metavar="N", help="Train on N GPUs per node: the plan is what one rank holds."),
]
StrategyOption = Annotated[
    Optional[Strategy],
    typer.Option(
        "--strategy",
        help="ddp (DistributedDataParallel), zero1 (ZeroRedundancyOptimizer), zero2 or fsdp (FSDP2 fully_shard, "
        "reshard_after_forward False or True). Default: ddp.",
    ),
]
NodesOption = Annotated[
    Optional[int],
    typer.Option("--nodes", metavar="M", help="Nodes of --gpus GPUs each; zero2 and fsdp shard within a node."),
]
AccumulateOption = Annotated[
    Optional[int],
    typer.Option("--accumulate", metavar="K", help="Micro-batches per step: global batch = batch x ranks x K."),
]
ReserveOption = Annotated[
    Optional[str],
    typer.Option(
        "--reserve",
        metavar="SIZE|PCT",
        help="Memory held back for what is not counted (2GiB, 10%). Default on CUDA: 512MiB + 5%; on the CPU 0.",
    ),
]


def parallel_of(
    gpus: Optional[int], strategy: Optional[Strategy], nodes: Optional[int], accumulate: Optional[int]
) -> Any:
    """The `Parallel` the options ask for, or None when none of them is given (one GPU, as before)."""
    if gpus is None and strategy is None and nodes is None and accumulate is None:
        return None
    from cnnsize.parallel import Parallel

    return Parallel(
        gpus=1 if gpus is None else gpus,
        strategy=strategy.value if strategy else "ddp",
        nodes=1 if nodes is None else nodes,
        accumulate=1 if accumulate is None else accumulate,
    )
