"""How close is the planned training footprint to a real step's peak, before and after following
the step moment by moment (`cnnsize.step`)?

For each network, batch size and optimizer, on the CPU, float32, one process: a real loop's step
(a first step makes the optimizer's state; then `zero_grad(set_to_none=True)`, forward, `loss =
output.float().mean()`, backward, `optimizer.step()`), measured two ways, each counting what
existed before it (parameters, buffers, optimizer state, the input batch):
- live: the most bytes of tensor storages alive at once (`LiveTensors`: what the memory model
  follows);
- allocator: the most bytes the CPU allocator held at once (`AllocationPeak`: kernels' scratch
  memory and the allocator's own rounding included);
beside the planned footprint before (the forward's end with every gradient: `stepwise=False`) and
after (the step's peak moment), each as planned / measured.

    PYTHONPATH=. python benchmarks/training_peak.py [--quick]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Callable, Optional

import torch

import cnnsize
from cnnsize.backend.builder import build_network
from cnnsize.backend.probes import AllocationPeak, LiveTensors
from cnnsize.loader import with_input
from cnnsize.memory import Precision
from cnnsize.planner import model_memory

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": lambda params: torch.optim.SGD(params, lr=1e-3),
    "adam": lambda params: torch.optim.Adam(params, lr=1e-3),
}
CASES = [  # (spec, input or None for the spec's own, batch)
    ("specs/small-resnet.yaml", None, 2),
    ("specs/small-resnet.yaml", None, 32),
    ("resnet18", (3, 64, 64), 4),
    ("resnet18", None, 2),
    ("specs/unet.yaml", None, 2),
]


def measure(network: torch.nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer) -> tuple[int, int]:
    """(live, allocator) peaks of one step after a first, with what existed before it counted."""

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        network(x).float().mean().backward()
        optimizer.step()

    network.train()
    step()  # the optimizer's state is made lazily at the first step: a later step is planned
    optimizer.zero_grad(set_to_none=True)
    state = [t for s in optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    before = sum(t.untyped_storage().nbytes() for t in [*network.parameters(), *network.buffers(), x, *state])
    with LiveTensors() as live:
        step()
    optimizer.zero_grad(set_to_none=True)
    with AllocationPeak() as allocated:
        step()
    return before + live.peak, before + allocated.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small networks only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, CPU, 1 thread, float32; planned / measured\n")
    print("| network | input | batch | optimizer | live | allocator | before: planned | live | allocator "
          "| after: planned | live | allocator | peak moment |")  # fmt: skip
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, shape, batch in CASES:
        if args.quick and name == "resnet18":
            continue
        spec = cnnsize.load(name)
        spec = with_input(spec, shape) if shape else spec
        model = model_memory(spec, Precision(device="cpu"))
        for optimizer, make in OPTIMIZERS.items():
            torch.manual_seed(0)
            network = build_network(spec)
            live, allocator = measure(network, network.example_input(batch), make(network.parameters()))
            before = replace(model, stepwise=False).footprint("training", optimizer, batch).total_bytes
            after = model.footprint("training", optimizer, batch)
            side = "x".join(map(str, spec.input)) if spec.input else "-"
            print(
                f"| {spec.name} | {side} | {batch} | {optimizer} | {live:,} | {allocator:,} "
                f"| {before:,} | {ratio(before, live)} | {ratio(before, allocator)} "
                f"| {after.total_bytes:,} | {ratio(after.total_bytes, live)} | {ratio(after.total_bytes, allocator)} "
                f"| {after.moment} |",
                flush=True,
            )
            del network


def ratio(planned: int, measured: Optional[int]) -> str:
    return f"{planned / measured:.4f}" if measured else "-"


if __name__ == "__main__":
    main()
