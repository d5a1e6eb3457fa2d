"""A catalogue of hostile inputs, each run as a whole `cnnsize` process the way a pre-commit hook
or CI runs it: its exit code, one message that says where and what, no traceback, and a bound on
the process's wall time and peak memory.

The contract is an answer in under 1 s and 200 MB on the project's 2-core machine; the bounds here
are looser (`SECONDS`, `MEGABYTES`) so that a loaded CI machine does not fail them, yet tight
enough that the bombs this catalogue holds (which took minutes or gigabytes before they were
fixed) fail them. The other tests of each class are beside the code that fixes it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECONDS = 5.0
MEGABYTES = 300


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]  # `{spec}` stands for the file the case writes
    text: Optional[str | bytes | Callable[[Path], None]]  # the spec's content, or what makes it
    code: int
    says: tuple[str, ...]  # fragments the output must hold
    located: bool = True  # the message carries file:line:col


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _deep(n: int) -> str:
    return "input: [3, 8, 8]\nlayers: " + "[" * n + "]" * n + "\n"


def _through_blocks(blocks: int, sequentials: int) -> str:
    """Blocks that each hold a residual whose body nests `sequentials` sequentials around the next
    block's use: composites nest about blocks * (sequentials + 2) deep."""
    lines = ["input: [4, 8, 8]", "blocks:"]
    for i in range(blocks):
        body = f"[{{block: b{i + 1}}}]" if i + 1 < blocks else "[relu]"
        for _ in range(sequentials):
            body = f"[{{type: sequential, layers: {body}}}]"
        lines += [f"  b{i}:", f"    layers: [{{type: residual, body: {body}}}]"]
    return "\n".join([*lines, "layers: [{block: b0}]", ""])


LAYER = "input: [3, 8, 8]\nlayers:\n  - {{{}}}\n"
CASES = [
    # 1. YAML construction
    Case("bad !!int", ("check", "{spec}"), LAYER.format('type: conv2d, out_channels: !!int "abc", kernel_size: 3'), 1, ("!!int",)),
    Case("bad !!float", ("check", "{spec}"), LAYER.format('type: dropout, p: !!float "x"'), 1, ("!!float",)),
    Case("bad !!bool", ("check", "{spec}"), LAYER.format('type: relu, inplace: !!bool "maybe"'), 1, ("!!bool",)),
    Case("empty !!int", ("check", "{spec}"), LAYER.format('type: conv2d, out_channels: !!int "", kernel_size: 3'), 1, ("!!int",)),
    Case("!!map on a sequence", ("check", "{spec}"), "input: !!map [3, 8, 8]\nlayers: [relu]\n", 1, ("!!map",)),
    Case("5,000-digit integer", ("check", "{spec}"), LAYER.format("type: conv2d, out_channels: 1" + "0" * 5000 + ", kernel_size: 3"), 1, ("digits",)),
    Case("alias bomb", ("check", "{spec}"),
         "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi")),
         1, ("values",)),
    Case("deep nesting", ("check", "{spec}"), _deep(5000), 1, ("deep",)),
    Case("8 MiB of empty lists", ("check", "{spec}"), "input: [3, 8, 8]\nlayers: [" + "[]," * 2_700_000 + "]\n", 1, ("values",)),
    Case("a python tag", ("check", "{spec}"), "input: !!python/object/apply:os.system ['echo hi']\nlayers: [relu]\n", 1, ("tag",)),
    Case("not UTF-8", ("check", "{spec}"), b"input: [3, 8, 8]\nlayers: [\xff]\n", 1, ("UTF-8",), located=False),
    # 2. numbers too big to print or convert
    Case("eps past a float", ("report", "{spec}"), LAYER.format("type: batchnorm2d, eps: 1" + "0" * 400), 1, ("eps",)),
    Case("eps not a number", ("report", "{spec}"), LAYER.format("type: batchnorm2d, eps: .nan"), 1, ("eps",)),
    Case("a huge input", ("report", "{spec}", "--format", "json"), "input: [3, 1" + "0" * 60 + ", 8]\nlayers: [relu]\n", 1, ("input", "2**63 - 1")),
    Case("upsampled past a tensor", ("check", "{spec}"), LAYER.format("type: upsample, scale_factor: 1" + "0" * 300), 1, ("2**63 - 1",)),
    *(Case(f"the largest tensor as {fmt}", ("report", "{spec}", "--format", fmt, "--batch-size", "1000000000"),
           f"input: [1, {2**63 - 1}, 1]\nlayers: [relu, {{type: conv2d, out_channels: 1, kernel_size: 1}}]\n", 0,
           (f"{10**9 * (2**63 - 1) * 4:{',' if fmt in ('table', 'markdown') else ''}}",), located=False)
      for fmt in ("table", "json", "csv", "markdown")),
    Case("strides past any input", ("report", "{spec}", "--format", "json"),
         "input: [3, 8, 8]\nlayers:\n" + ("  - {type: conv2d, out_channels: 3, kernel_size: 1, stride: 1" + "0" * 300 + "}\n") * 20, 0,
         ("reaches past pixel",), located=False),
    # 3. wrong types
    Case("block given a list", ("check", "{spec}"), LAYER.format("block: [a]"), 1, ("block",)),
    Case("block given a mapping", ("check", "{spec}"), LAYER.format("block: {a: 1}"), 1, ("block",)),
    # 4. recursion: composites nested through blocks, at the limits and past them
    *(Case(f"nested through blocks: {' '.join(args)}", (*args, "{spec}"), _through_blocks(16, 6), 0, (), located=False)
      for args in (("check",), ("report", "--format", "json"), ("report", "--depth", "1000"), ("plan", "--memory", "1GiB"))),
    Case("nested through blocks past the limit", ("report", "{spec}"), _through_blocks(16, 7), 1, ("more than 128 composites deep",)),
    # 5. cheap resource bombs
    Case("repeat bomb", ("check", "{spec}"), LAYER.format("type: relu, repeat: 1000000000"), 1, ("repeat",)),
    Case("adaptive pooling to 10^8", ("report", "{spec}", "--format", "json"), LAYER.format("type: adaptive_avgpool2d, output_size: 100000000"), 0, ("[3, 100000000, 100000000]",), located=False),
    Case("a FIFO as the spec", ("check", "{spec}"), _fifo, 2, ("not a regular file",), located=False),
    Case("conv --solve on a huge input", ("conv", "--input", "1" + "0" * 30, "--kernel", "3", "--solve", "stride", "--output", "7"), None, 2, ("too large",), located=False),
    Case("conv --solve whose hints would search for a minute", ("conv", "--input", "2000", "--kernel", "1000", "--solve", "stride", "--output", "1900"), None, 1, ("every stride gives less",), located=False),
    # 7. output: a name that would drive the terminal is printed escaped
    Case("control characters in a name", ("report", "{spec}", "--format", "markdown"), LAYER.format('type: relu, name: "a\\e[31mred\\x07"'), 0, ("a\\x1b[31mred\\x07",), located=False),
    # 9. arguments are paths; numeric options have bounds
    Case("a path with a colon", ("check", "missing:file.yaml"), None, 2, ("missing:file.yaml",), located=False),
    Case("--iterations 1e20", ("verify", "{spec}", "--iterations", "1" + "0" * 20), LAYER.format("type: relu"), 2, ("--iterations", "at most"), located=False),
    Case("--memory past 16 EiB", ("plan", "{spec}", "--memory", "1" + "0" * 30 + "GiB"), LAYER.format("type: relu"), 2, ("--memory", "16 EiB"), located=False),
    Case("--batch-size 1e12", ("report", "{spec}", "--batch-size", "1" + "0" * 12), LAYER.format("type: relu"), 2, ("--batch-size",), located=False),
]  # fmt: skip


# Linux keeps a process's peak resident size across exec, so a child started straight from this
# (large) test process would report this process's peak. A small launcher forks and execs cnnsize,
# and writes that grandchild's peak, as wait4 gives it, to the file named first.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "cnnsize", *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(args: list[str], tmp_path: Path) -> tuple[int, str, float, float]:
    """Exit code, output, wall seconds and peak resident megabytes of one cnnsize process (killed
    after four times the time bound)."""
    log, peak = tmp_path / "output.txt", tmp_path / "peak.txt"
    start = time.monotonic()
    with log.open("wb") as out:
        done = subprocess.run([sys.executable, "-c", LAUNCHER, str(peak), *args], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, timeout=SECONDS * 4)  # fmt: skip
    seconds = time.monotonic() - start
    return done.returncode, log.read_text(errors="replace"), seconds, int(peak.read_text()) / 1024  # KiB on Linux


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_gets_one_message_fast(case, tmp_path):
    spec = tmp_path / "spec.yaml"
    if callable(case.text):
        case.text(spec)
    elif isinstance(case.text, bytes):
        spec.write_bytes(case.text)
    elif case.text is not None:
        spec.write_text(case.text)
    code, output, seconds, megabytes = run([a.replace("{spec}", str(spec)) for a in case.args], tmp_path)
    assert "Traceback" not in output, output
    assert code == case.code, output
    for fragment in case.says:
        assert fragment in output, output
    if case.located:
        assert f"{spec}:" in output and output.split(f"{spec}:", 1)[1].split(":", 1)[0].isdigit(), output
    assert seconds < SECONDS, f"took {seconds:.2f} s"
    assert megabytes < MEGABYTES, f"took {megabytes:.0f} MB"
