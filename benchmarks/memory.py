"""How close is each estimate of training memory to what PyTorch really holds?

For each network and batch size, on the CPU, in one run:
- measured: the bytes autograd saves for backward in one training-mode forward pass, each storage
  once, parameters and buffers left out (`SavedTensors`, the probe `cnnsize verify` uses);
- cnnsize: the memory model's estimate of the same (`cnnsize.memory.trace`, CPU rules);
- torchinfo: its "Forward/backward pass size", which is 2 x the output bytes of every leaf module
  that has parameters (torchinfo's model_statistics.py: "x2 for gradients"), from torchinfo itself
  when it is installed (`pip install torchinfo`), else from that rule applied to cnnsize's report;
each with its error against the measurement. Then, for a whole training step (forward, backward,
an SGD step, gradients set to None before it), the most bytes of tensors alive at once (parameters,
input and running statistics included; `LiveTensors`) and the most the CPU allocator held
(`AllocationPeak`: kernels' scratch memory included), beside the planner's training footprint.

    PYTHONPATH=. python benchmarks/memory.py [--models resnet18 resnet50] [--batch-sizes 1 8]
"""

from __future__ import annotations

import argparse
import io
from typing import Any, Optional

import torch

import cnnsize
from cnnsize.backend.builder import build_network
from cnnsize.backend.probes import AllocationPeak, LiveTensors, SavedTensors
from cnnsize.memory import Precision
from cnnsize.planner import model_memory
from cnnsize.render_memory import bytes_text
from cnnsize.units import human_bytes


def torchinfo_size(network: torch.nn.Module, x: torch.Tensor) -> Optional[int]:
    """torchinfo's forward/backward pass size in bytes, or None when torchinfo is not installed."""
    try:
        import torchinfo
    except ImportError:
        return None
    statistics = torchinfo.summary(network, input_data=x, verbose=0, mode="train")
    return int(statistics.total_output_bytes)


def torchinfo_rule(report: Any) -> int:
    """torchinfo's rule on cnnsize's report: 2 x the output bytes of each leaf layer with parameters."""
    return sum(2 * row.activation_bytes for row in report.leaves() if row.params + row.non_trainable_params > 0)


def training_step_peaks(network: torch.nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """(tensors, allocator): the most bytes alive at once in one training step, counting what
    existed before it (parameters, running statistics, the input batch) for both."""
    optimizer = torch.optim.SGD(network.parameters(), lr=1e-3)
    before = sum(t.untyped_storage().nbytes() for t in [*network.parameters(), *network.buffers(), x])
    network.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        network(x).float().mean().backward()
        optimizer.step()

    step()  # a first step: lazily made state is not part of the measured one
    optimizer.zero_grad(set_to_none=True)
    with LiveTensors() as live:
        step()
    optimizer.zero_grad(set_to_none=True)
    with AllocationPeak() as allocated:
        step()
    return before + live.peak, before + allocated.peak


def error(estimate: Optional[int], measured: int) -> str:
    return "-" if estimate is None else f"{(estimate - measured) / measured:+.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads, float32")
    saved_rows, step_rows = [], []
    for name in args.models:
        spec = cnnsize.load(name)
        for batch in args.batch_sizes:
            report = cnnsize.analyze(spec, batch)
            model = model_memory(spec, Precision("float32", None, "cpu"), report)
            torch.manual_seed(0)
            network = build_network(spec, report)
            x = network.example_input(batch)
            network.train()
            with SavedTensors(network) as saved:
                network(x)
            measured = saved.activation_bytes
            estimate = model.training.saved.at(batch)
            info = torchinfo_size(network, x)
            rule = torchinfo_rule(report)
            saved_rows.append((name, batch, measured, estimate, info, rule))
            tensors, allocator = training_step_peaks(network, x)
            step_rows.append((name, batch, model.footprint("training", "sgd", batch).total_bytes, tensors, allocator))
    out = io.StringIO()
    out.write("\nSaved for backward (training-mode forward pass), error against the measurement:\n\n")
    out.write("| model | batch | measured | cnnsize | error | torchinfo | error | torchinfo's rule | error |\n")
    out.write("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    for name, batch, measured, estimate, info, rule in saved_rows:
        info_text = human_bytes(info) if info is not None else "not installed"
        out.write(
            f"| {name} | {batch} | {human_bytes(measured)} | {human_bytes(estimate)} | {error(estimate, measured)} "
            f"| {info_text} | {error(info, measured)} | {human_bytes(rule)} | {error(rule, measured)} |\n"
        )
    out.write("\nA training step (SGD, gradients set to None before it): the planner's footprint against the\n")
    out.write("most tensors alive at once and the most the CPU allocator held:\n\n")
    out.write("| model | batch | planner (sgd) | tensors at the peak | error | allocator peak | error |\n")
    out.write("|---|---:|---:|---:|---:|---:|---:|\n")
    for name, batch, footprint, tensors, allocator in step_rows:
        out.write(
            f"| {name} | {batch} | {human_bytes(footprint)} | {human_bytes(tensors)} | {error(footprint, tensors)} "
            f"| {human_bytes(allocator)} | {error(footprint, allocator)} |\n"
        )
    print(out.getvalue())
    print("Exact bytes:", "; ".join(f"{n} b{b}: measured {bytes_text(m)}" for n, b, m, *_ in saved_rows))


if __name__ == "__main__":
    main()
