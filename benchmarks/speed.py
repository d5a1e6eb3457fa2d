"""Speed of the torch-free path, printed beside its baselines in one run (not a timed test).

1. Whole-process wall time of `cnnsize check` over every bundled spec, beside `python -c pass`
   (the interpreter's own start-up) and beside `python -c "import torch"` when torch is installed.
   Target on a 2-core machine: the check process under 0.5 s.
2. The engine's time on generated chains of 100, 1,000 and 10,000 layers, per layer, to show
   linear growth. Target: under 20 microseconds per layer. Parsing (YAML + validation) is timed
   beside it, since a user pays for both. The engine's time includes resolving the spec into its
   graph (once per spec).
3. Whole-process wall time of `cnnsize report` (JSON and table, memory included) on generated
   graphs of 1,000 to 16,000 layers, with a skip joined by an `add` every four layers, beside the
   engine's time per layer on the same graphs. Targets: JSON on 16,000 layers within 9x its time
   on 2,000 (8x is linear), and at most 30 us per extra layer for the whole process.

Run: python benchmarks/speed.py [--repeat N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wall(cmd: list[str], repeat: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, check=False, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def chain(n: int) -> str:
    lines = ["input: [8, 16, 16]", "layers:"]
    for i in range(n):
        if i % 2 == 0:
            lines.append("  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: same}")
        else:
            lines.append("  - relu")
    return "\n".join(lines) + "\n"


def graph(n: int) -> str:
    """`n` layers: three 3x3 convolutions, then an `add` of the output three layers back, repeated."""
    lines = ["input: [8, 16, 16]", "layers:"]
    for i in range(n):
        if i % 4 == 3:
            lines.append(f"  - {{type: add, from: [l{i - 3}, -1], name: l{i}}}")
        else:
            lines.append(f"  - {{type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, name: l{i}}}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    specs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").glob("*.yaml"))
    print(f"1. whole process, median of {args.repeat} runs")
    baseline = wall([sys.executable, "-c", "pass"], args.repeat)
    check = wall([sys.executable, "-m", "cnnsize", "check", "--quiet", *specs], args.repeat)
    print(f"   python -c pass                      {baseline * 1000:8.1f} ms   1.00x")
    print(
        f"   cnnsize check ({len(specs)} bundled specs)     {check * 1000:8.1f} ms   {check / baseline:5.2f}x"
        f"   target < 500 ms: {'met' if check < 0.5 else 'MISSED'}"
    )
    if importlib.util.find_spec("torch"):
        torch = wall([sys.executable, "-c", "import torch"], args.repeat)
        print(f"   python -c 'import torch'            {torch * 1000:8.1f} ms   {torch / baseline:5.2f}x")

    from cnnsize.engine import analyze
    from cnnsize.loader import load

    print("\n2. engine on generated chains (best of 3)")
    print(f"   {'layers':>7} {'parse ms':>10} {'engine ms':>10} {'engine us/layer':>16}")
    per_layer = []
    for n in (100, 1_000, 10_000):
        text = chain(n)
        parse_times, engine_times = [], []
        for _ in range(3):
            start = time.perf_counter()
            spec = load(text)
            parse_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            analyze(spec)
            engine_times.append(time.perf_counter() - start)
        best = min(engine_times)
        per_layer.append(best / n * 1e6)
        print(f"   {n:>7} {min(parse_times) * 1000:>10.1f} {best * 1000:>10.1f} {best / n * 1e6:>16.2f}")
    growth = per_layer[-1] / per_layer[0]
    print(
        f"   per-layer time 10,000 vs 100 layers: {growth:.2f}x (1.0 = linear)"
        f"; target < 20 us/layer: {'met' if max(per_layer) < 20 else 'MISSED'}"
    )

    print(f"\n3. cnnsize report on generated graphs, median of {args.repeat} runs")
    print(f"   {'layers':>7} {'json ms':>9} {'vs pass':>8} {'table ms':>9} {'engine us/layer':>16}")
    sizes = (1_000, 2_000, 8_000, 16_000)
    json_ms: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            path = Path(folder) / f"graph{n}.yaml"
            path.write_text(graph(n))
            command = [sys.executable, "-m", "cnnsize", "report", str(path)]
            json_ms[n] = wall([*command, "--format", "json"], args.repeat)
            table = wall([*command, "--format", "table"], max(1, args.repeat // 2))
            engine = []
            for _ in range(3):
                spec = load(path)
                start = time.perf_counter()
                analyze(spec)
                engine.append(time.perf_counter() - start)
            print(
                f"   {n:>7} {json_ms[n] * 1000:>9.1f} {json_ms[n] / baseline:>7.1f}x {table * 1000:>9.1f}"
                f" {min(engine) / n * 1e6:>16.2f}"
            )
    growth = json_ms[16_000] / json_ms[2_000]
    extra = (json_ms[16_000] - json_ms[2_000]) / 14_000 * 1e6
    print(
        f"   json, 16,000 vs 2,000 layers: {growth:.2f}x"
        f" (8x = linear; target <= 9x: {'met' if growth <= 9 else 'MISSED'})"
        f"; {extra:.0f} us per extra layer (target <= 30 us: {'met' if extra <= 30 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
