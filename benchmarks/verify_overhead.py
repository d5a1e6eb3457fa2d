"""Does `cnnsize verify` measure the speed a hand-written loop would see?

The same built module and the same input batch are timed, in one run, by
- a bare torch loop: warm-up, then `iterations` calls between two clock readings (and a device
  synchronisation), and
- verify's timing path: `inference_step`/`training_step` and `time_steps`, with the progress bar
  `cnnsize verify` draws on a terminal (here drawing into a buffer that says it is one), and
  without it (as with `--format json` or a pipe).
Many short rounds alternate between them, in alternating order, so that drift (heat, other load on
a shared machine) falls on all. Printed: images/s of each (median over rounds), verify's figure at
its median latency (what verify reports) and over its whole loop, with the progress bar and
without it (as with `--format json` or a pipe), and each one's ratio to the bare loop; a second
copy of the bare loop shows how far two identical loops differ on this machine (the noise floor).
Target: ratio >= 0.98.

    PYTHONPATH=. python benchmarks/verify_overhead.py [--spec specs/small-resnet.yaml] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from contextlib import nullcontext
from typing import Any, Callable

import torch

import cnnsize
from cnnsize.backend.builder import build_network
from cnnsize.backend.device import resolve_device, synchronize
from cnnsize.backend.timing import time_steps
from cnnsize.backend.verifier import describe, inference_step, training_step
from cnnsize.render_verify import progress_bar


def bare_loop(step: Callable[[], Any], warmup: int, iterations: int, device: torch.device) -> float:
    """Seconds for `iterations` calls of `step`, the way one would time it by hand."""
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    synchronize(device)
    return time.perf_counter() - start


class Terminal(io.StringIO):
    """A buffer that says it is a terminal, so verify's progress bar draws into it."""

    def isatty(self) -> bool:
        return True


def run(mode: str, args: argparse.Namespace, device: torch.device) -> None:
    spec = cnnsize.load(args.spec)
    torch.manual_seed(0)
    network = build_network(spec).to(device)
    x = network.example_input(args.batch_size, device=device)
    step, context = (training_step if mode == "training" else inference_step)(network, network, x)
    n = args.batch_size * args.iterations
    names = ("bare", "bare_again", "median", "loop", "median_quiet", "loop_quiet")
    rates: dict[str, list[float]] = {name: [] for name in names}

    def verify_path(with_bar: bool) -> tuple[float, float]:
        with progress_bar(Terminal()) if with_bar else nullcontext() as update:
            timing = time_steps(step, warmup=args.warmup, iterations=args.iterations, device=device, progress=update)
        return args.batch_size / statistics.median(timing.latencies), n / timing.total_seconds

    with context:
        for i in range(args.rounds):
            # alternate the order, so neither side always runs first after the other
            order = ("bare", "bar", "bare_again", "quiet") if i % 2 == 0 else ("quiet", "bare_again", "bar", "bare")
            for which in order:
                if which.startswith("bare"):
                    rates[which].append(n / bare_loop(step, args.warmup, args.iterations, device))
                else:
                    median, loop = verify_path(with_bar=which == "bar")
                    suffix = "" if which == "bar" else "_quiet"
                    rates["median" + suffix].append(median)
                    rates["loop" + suffix].append(loop)
    m = {name: statistics.median(values) for name, values in rates.items()}
    b = m["bare"]
    print(f"{mode}: {spec.title}, batch {args.batch_size}, {args.rounds} rounds x {args.iterations} iterations")
    print(f"  bare torch loop                              {b:10.1f} images/s")
    for label, key in (
        ("bare torch loop again (the noise floor)", "bare_again"),
        ("verify with progress bar, at median latency", "median"),
        ("verify with progress bar, over whole loop", "loop"),
        ("verify without bar (json/pipe), at median", "median_quiet"),
        ("verify without bar (json/pipe), whole loop", "loop_quiet"),
    ):
        print(f"  {label:<44} {m[key]:10.1f} images/s   ratio {m[key] / b:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default="specs/small-resnet.yaml")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--mode", choices=["inference", "training", "both"], default="both")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"device: {describe(device)}, torch {torch.__version__}")
    for mode in ("inference", "training") if args.mode == "both" else (args.mode,):
        run(mode, args, device)


if __name__ == "__main__":
    main()
