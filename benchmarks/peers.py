"""cnnsize beside the tools people use today to size a PyTorch CNN: torchinfo, fvcore and ptflops.

On the same networks (the zoo's resnet18, resnet50, vgg16 and mobilenet_v2, which `cnnsize.build`
makes into torchvision's models to the parameter), one run prints side by side:

1. Whole-process wall time, median of `--repeat` rounds: `cnnsize report NAME --format json`, beside
   processes that import torch and a peer, build the model with `cnnsize.build` and make the
   peer's call. Building is part of a peer's cost: its user has to build the model anyway. A
   process that only imports torch and builds the model is the floor any torch-based tool pays.
2. Time per call with the model already built, in this process after warm-up: cnnsize's `analyze`
   on a loaded spec, and each peer's call.
3. The parameters and MACs each tool reports beside cnnsize's exact figures. Each peer's figure is
   rebuilt from cnnsize's rows by that peer's own counting rule (`cnnsize.conventions`, read from
   the peer's source; `cnnsize report --convention NAME` prints it) and its terms, one per layer
   kind, are printed, so every difference is explained to the unit.

Each round of timings runs every contender in turn (interleaved), so the load of other work on a
shared machine falls on all of them. The CPU time other work took meanwhile is printed beside each
block, and a block measured while other work took more than 5% of the machine is measured again
(`--retries`), keeping the quietest attempt.

Target: a whole `cnnsize report` process at least 10x faster than a whole torchinfo process.

The peers are optional, installed only for this benchmark (never for the tests); one that is not
installed is reported and skipped:

    pip install torchinfo fvcore ptflops
    python benchmarks/peers.py [--repeat 5] [--calls 7] [--retries 5] [--models resnet18 vgg16]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import logging
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

if TYPE_CHECKING:
    from cnnsize.report import Report
    from cnnsize.schema import Spec

MODELS = ("resnet18", "resnet50", "vgg16", "mobilenet_v2")
TARGET = 10.0  # a whole cnnsize report process at least this many times faster than torchinfo's
QUIET = 0.05  # timings taken while other work used more of the machine's CPU than this are taken again
PAUSE = 15.0  # seconds to wait before taking them again

# What a peer's user runs before the peer's call: import torch, build the model, make an input.
# Every model is put in eval mode, as for inference (fvcore's batch-norm count depends on it).
BUILD = "import torch, cnnsize\nmodel = cnnsize.build(cnnsize.load({name!r})).eval()\nx = model.example_input(1)\n"


@dataclass(frozen=True)
class Peer:
    """A tool to compare with: the module it imports, its distribution (for the version) and its
    call, as source that reads `model` and `x` and sets `result = (params, macs)`; the same source
    runs in the whole-process timing and in the per-call timing."""

    name: str
    module: str
    distribution: str
    call: str
    convention: str  # its counting rule in cnnsize.conventions


PEERS = (
    Peer(
        "torchinfo",
        "torchinfo",
        "torchinfo",
        "from torchinfo import summary\n"
        "stats = summary(model, input_size=tuple(x.shape), verbose=0)\n"
        "result = (stats.total_params, stats.total_mult_adds)\n",
        "torchinfo",
    ),
    Peer(
        "fvcore",
        "fvcore",
        "fvcore",
        "from fvcore.nn import FlopCountAnalysis, parameter_count\n"
        "result = (parameter_count(model)[''], FlopCountAnalysis(model, x).total())\n",
        "fvcore",
    ),
    Peer(
        "ptflops-pytorch",  # the backend ptflops 0.7.5 takes when none is named (its README says aten)
        "ptflops",
        "ptflops",
        "from ptflops import get_model_complexity_info\n"
        "macs, params = get_model_complexity_info(model, tuple(x.shape[1:]), as_strings=False,"
        " print_per_layer_stat=False, backend='pytorch')\n"
        "result = (params, macs)\n",
        "ptflops",
    ),
    Peer(
        "ptflops-aten",
        "ptflops",
        "ptflops",
        "from ptflops import get_model_complexity_info\n"
        "macs, params = get_model_complexity_info(model, tuple(x.shape[1:]), as_strings=False,"
        " print_per_layer_stat=False, backend='aten')\n"
        "result = (params, macs)\n",
        "ptflops-aten",
    ),
)


# --- Each peer's counting rule: cnnsize.conventions ------------------------------------------------


def peer_terms(report: Report, peer: Peer) -> dict[str, int]:
    """`peer`'s count of `report`'s network by its convention (`cnnsize.conventions`), as one term
    per layer kind (kind -> count), so that every difference from cnnsize's MACs has a name."""
    from cnnsize.conventions import counted

    figures = counted(report, peer.convention)
    terms: dict[str, int] = {}
    for row in report.leaves():
        terms[row.type] = terms.get(row.type, 0) + figures.of(row)
    return terms


# --- Timing ----------------------------------------------------------------------------------------


def interleaved(runs: dict[str, Callable[[], object]], rounds: int, warmup: int = 0) -> dict[str, float]:
    """Median seconds of each run over `rounds` rounds, after `warmup` untimed rounds. A round makes
    every run in turn, the order reversed every other round, so that drift and the load of other
    work on the machine fall on all of them, not on whichever ran during a burst."""
    for _ in range(warmup):
        for run in runs.values():
            run()
    times: dict[str, list[float]] = {label: [] for label in runs}
    for i in range(rounds):
        for label in list(runs)[:: 1 if i % 2 == 0 else -1]:
            start = time.perf_counter()
            runs[label]()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in times.items()}


def process(command: list[str]) -> Callable[[], None]:
    """A run of `command` as a new process, with this checkout's cnnsize on its path."""
    env = {**os.environ, "PYTHONPATH": ROOT}

    def run() -> None:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{command[:4]} failed:\n{done.stderr[-2000:]}")

    return run


def run_call(peer: Peer, model: object, x: object) -> tuple[int, int]:
    """(params, MACs) as `peer` reports them, by its call's own source."""
    scope = {"model": model, "x": x}
    exec(peer.call, scope)
    params, macs = scope["result"]
    return int(params), int(macs)


# --- Printing --------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:10.1f} ms"


def load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def machine_cpu_seconds() -> Optional[float]:
    """CPU seconds every process on the machine has used since boot (Linux's /proc/stat), or None."""
    try:
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq = map(int, stat.readline().split()[1:8])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds this process and its finished children have used."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass(frozen=True)
class Timed:
    """Timings (label -> seconds), and the CPU seconds other work on the machine took meanwhile."""

    times: dict[str, float]
    wall: float
    others: Optional[float]

    def busy_share(self) -> float:
        """Other work's share of the machine's CPU while these timings ran (0 where unknown)."""
        return (self.others or 0.0) / (self.wall * (os.cpu_count() or 1))


def quietest(measure: Callable[[], dict[str, float]], retries: int) -> Timed:
    """`measure()`'s timings, measured again (up to `retries` more times) while other work on the
    machine took more than QUIET of its CPU meanwhile; the attempt with the least other work."""
    best: Optional[Timed] = None
    for _ in range(retries + 1):
        start = (time.perf_counter(), machine_cpu_seconds(), own_cpu_seconds())
        times = measure()
        wall, machine, own = time.perf_counter(), machine_cpu_seconds(), own_cpu_seconds()
        others = None
        if machine is not None and start[1] is not None:
            others = max(machine - start[1] - (own - start[2]), 0.0)
        timed = Timed(times, wall - start[0], others)
        if best is None or timed.busy_share() < best.busy_share():
            best = timed
        if best.busy_share() <= QUIET:
            break
        time.sleep(PAUSE)  # let a neighbour's burst pass
    assert best is not None
    return best


def show(title: str, timed: Timed) -> None:
    """Each timing and its ratio to the first one's, under `title`, with the other work meanwhile."""
    first = next(iter(timed.times.values()))
    print(f"  {title:<46}{'':>13}  x cnnsize")
    for label, seconds in timed.times.items():
        print(f"    {label:<44}{ms(seconds)}  {seconds / first:8.1f}")
    if timed.others is not None:
        share = f"{timed.busy_share():.0%} of the machine"
        print(f"    (other work on the machine meanwhile: {timed.others:.1f} CPU-s in {timed.wall:.0f} s, {share})")


def installed(peers: tuple[Peer, ...]) -> tuple[Peer, ...]:
    found = []
    for peer in peers:
        if importlib.util.find_spec(peer.module) is None:
            print(f"  {peer.name}: not installed, skipped (pip install {peer.distribution})")
        else:
            found.append(peer)
    return tuple(found)


def time_processes(name: str, peers: tuple[Peer, ...], args: argparse.Namespace) -> dict[str, float]:
    """Print and return the whole-process wall times for `name` (label -> seconds, cnnsize first)."""
    build = BUILD.format(name=name)
    commands = {
        f"cnnsize report {name} --format json": [sys.executable, "-m", "cnnsize", "report", name, "--format", "json"],
        "import torch + cnnsize.build (the floor)": [sys.executable, "-c", build],
    }
    for peer in peers:
        commands[peer.name] = [sys.executable, "-c", build + peer.call + "print(result)"]
    runs = {label: process(command) for label, command in commands.items()}
    timed = quietest(lambda: interleaved(runs, args.repeat), args.retries)
    show(f"whole process, median of {args.repeat} runs", timed)
    return timed.times


def time_calls(spec: Spec, model: object, x: object, peers: tuple[Peer, ...], args: argparse.Namespace) -> None:
    """Print the time per call, in this process, with the model built and after warm-up."""
    import cnnsize

    runs: dict[str, Callable[[], object]] = {"cnnsize analyze(spec)": lambda: cnnsize.analyze(spec)}
    for peer in peers:
        runs[peer.name] = lambda peer=peer: run_call(peer, model, x)
    timed = quietest(lambda: interleaved(runs, args.calls, args.warmup), args.retries)
    show(f"per call, model built, median of {args.calls} after {args.warmup} warm-up", timed)


def compare_counts(report: Report, model: object, x: object, peers: tuple[Peer, ...]) -> list[str]:
    """Print each tool's params and MACs beside cnnsize's, with the terms of the peer's rule that
    rebuild its figure; return the peers whose figures the rule does not rebuild."""
    print(f"  {'counts, batch 1':<32}{'params':>14}{'MACs as reported':>18}{'- cnnsize MACs':>16}")
    print(f"    {'cnnsize (exact)':<30}{report.totals.params:>14,}{report.totals.macs:>18,}")
    mismatches = []
    for peer in peers:
        params, macs = run_call(peer, model, x)
        terms = peer_terms(report, peer)
        rebuilt = sum(terms.values())
        verdict = "rebuilt by its rule to the unit:" if rebuilt == macs else f"its rule gives {rebuilt:,}: NOT rebuilt"
        print(f"    {peer.name:<30}{params:>14,}{macs:>18,}{macs - report.totals.macs:>+16,}  {verdict}")
        if params != report.totals.params:
            print(f"      params differ from cnnsize's by {params - report.totals.params:+,}")
        for label, count in terms.items():
            if count:
                print(f"{count:>52,}  {label}")  # the layers of one kind, as the peer counts them
        if rebuilt != macs or params != report.totals.params:
            mismatches.append(f"{peer.name} on {report.name}")
    stats = report.totals.non_trainable_params
    print(f"    (no tool counts the {stats:,} running statistics that cnnsize reports apart as non-trainable)")
    return mismatches


def compare_network(
    name: str, peers: tuple[Peer, ...], args: argparse.Namespace, mismatches: list[str]
) -> Optional[tuple[float, float]]:
    """Print the three comparisons for one network, add to `mismatches` each peer whose figures its
    rule does not rebuild, and return the whole-process seconds of cnnsize and of torchinfo (None
    without torchinfo)."""
    import cnnsize

    spec = cnnsize.load(name)
    report = cnnsize.analyze(spec)
    print(f"\n== {name}: {spec.description} Input {'x'.join(map(str, spec.input))}, batch 1, float32")
    walls = time_processes(name, peers, args)
    model = cnnsize.build(spec).eval()
    assert sum(p.numel() for p in model.parameters()) == report.totals.params, "build and engine disagree"
    x = model.example_input(1)
    time_calls(spec, model, x, peers, args)
    mismatches.extend(compare_counts(report, model, x, peers))
    if "torchinfo" not in walls:
        return None
    return walls[f"cnnsize report {name} --format json"], walls["torchinfo"]


def versions(peers: tuple[Peer, ...]) -> str:
    found = {peer.distribution: importlib.metadata.version(peer.distribution) for peer in peers}
    return ", ".join(f"{name} {version}" for name, version in found.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, metavar="MODEL")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of whole-process runs (median)")
    parser.add_argument("--calls", type=int, default=7, help="rounds of timed calls in this process (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds of calls before those")
    parser.add_argument(
        "--retries",
        type=int,
        default=5,
        help=f"times a block is measured again when other work took over {QUIET * 100:.0f}%% of the CPU",
    )
    args = parser.parse_args()

    if importlib.util.find_spec("torch") is None:
        sys.exit("the peers and cnnsize.build need PyTorch: pip install 'cnnsize[torch]'")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load()} (other work shares them)")
    peers = installed(PEERS)
    print(f"peers: {versions(peers) or 'none installed'}")
    logging.getLogger("fvcore").setLevel(logging.ERROR)  # its per-call warnings list unsupported ops
    baseline = quietest(
        lambda: interleaved(
            {"pass": process([sys.executable, "-c", "pass"]), "torch": process([sys.executable, "-c", "import torch"])},
            args.repeat,
        ),
        args.retries,
    ).times
    import torch

    print(f"python -c 'import torch' {ms(baseline['torch'])}   (torch {torch.__version__})")
    print(f"python -c pass           {ms(baseline['pass'])}")

    mismatches: list[str] = []
    walls = {name: compare_network(name, peers, args, mismatches) for name in args.models}
    print(f"\ntarget: a whole cnnsize report process >= {TARGET:.0f}x faster than a whole torchinfo process")
    for name, pair in walls.items():
        if pair is None:
            print(f"  {name:<14} torchinfo not installed: not measured")
            continue
        ours, theirs = pair
        verdict = "met" if theirs / ours >= TARGET else "MISSED"
        print(f"  {name:<14} cnnsize {ms(ours)}, torchinfo {ms(theirs)}: {theirs / ours:5.1f}x  {verdict}")
    print(f"load average at the end: {load()}")
    if mismatches:
        sys.exit(f"figures not rebuilt by their rule: {', '.join(mismatches)}")


if __name__ == "__main__":
    main()
