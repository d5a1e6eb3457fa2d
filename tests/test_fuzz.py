"""A mutation fuzz of the command line, bounded in time: text and tree mutations of every bundled
spec and zoo model, each run through one command. Allowed: exit 0 with output whose figures add up,
or exit 1 or 2 with a message and no traceback; each run within a time bound.

The run stops at `CNNSIZE_FUZZ_SECONDS` (default 20) or after `CNNSIZE_FUZZ_EXAMPLES` examples
(default 600), whichever comes first; the random generator is seeded, so a run is repeatable, and
`CNNSIZE_FUZZ_SEED` starts it elsewhere. A failure prints the seed and the mutated spec.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from typer.testing import CliRunner

from cnnsize.cli import app

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted(ROOT.joinpath("specs").glob("*.yaml")) + sorted(ROOT.joinpath("cnnsize", "zoo").glob("*.yaml"))
SECONDS = float(os.environ.get("CNNSIZE_FUZZ_SECONDS", "20"))
EXAMPLES = int(os.environ.get("CNNSIZE_FUZZ_EXAMPLES", "600"))
FIRST_SEED = int(os.environ.get("CNNSIZE_FUZZ_SEED", "0"))
PER_RUN_SECONDS = 5  # the contract is 1 s on this machine; the bound leaves room for a loaded CI machine

# pieces of text a hand, a merge or an attacker puts into a spec
TOKENS = [
    "0", "-1", "1e400", "99999999999999999999999999", "1" + "0" * 5000, ".inf", ".nan", "2.5", "true",
    "null", "~", "!!int", "!!float", '!!int "x"', "!!map", "!!seq", "!!binary", "!python/object:os.system",
    "&a", "*a", "<<: *a", "[", "]", "{", "}", ":", "- ", "'", '"', "#", "|", ">", "\t", "\x1b[2J", "\x00",
    "\u202e", "${", "${x}", "${1 // 0}", "${2 ** 4096}", "same", "depthwise", "auto", "from: -1",
    "repeat: 1000000000", "block: [a]", "output_size: 100000000", "name: x", "if: ${false}",
]  # fmt: skip
VALUES: list[Any] = [
    None, 0, -1, 1, 3, 2**31, 2**64, 10**40, 1.5, -0.0, float("inf"), float("nan"), True, "", "x", "x" * 300,
    [], {}, [0], [[]], {"a": 1}, [3, 8, 8], "${missing}", "${1 // 0}", "\x1b[31mred", "a|b\nc", "same",
]  # fmt: skip


class TooSlow(BaseException):
    """Raised by the alarm: a base exception, so no `except Exception` in the code under test eats it."""


def _alarm(signum: int, frame: Any) -> None:
    raise TooSlow


# -- mutations ------------------------------------------------------------------------------------


def mutate_text(rng: random.Random, text: str) -> str:
    lines = text.splitlines(keepends=True) or ["\n"]
    i = rng.randrange(len(lines))
    choice = rng.randrange(8)
    if choice >= 6:  # a mild one, that often leaves a valid spec: another small number
        numbers = list(re.finditer(r"\d+", lines[i]))
        if numbers:
            m = rng.choice(numbers)
            lines[i] = lines[i][: m.start()] + str(rng.choice([1, 2, 3, 4, 7, 8, 16])) + lines[i][m.end() :]
    elif choice == 0:
        del lines[i]
    elif choice == 1:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif choice == 2:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif choice == 3:
        cut = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:cut] + rng.choice(TOKENS) + lines[i][cut:]
    elif choice == 4:  # replace a number by another token
        words = lines[i].split(" ")
        k = rng.randrange(len(words))
        words[k] = rng.choice(TOKENS) + ("\n" if words[k].endswith("\n") else "")
        lines[i] = " ".join(words)
    else:
        return "".join(lines)[: rng.randrange(len(text) + 1)]
    return "".join(lines)


def _places(data: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _places(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _places(value, path + (index,))
    return found


def mutate_tree(rng: random.Random, data: Any) -> Any:
    path = rng.choice(_places(data))
    if not path:
        return rng.choice(VALUES)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    choice = rng.randrange(4)
    if choice == 0:
        parent[key] = rng.choice(VALUES)
    elif choice == 1:
        del parent[key]
    elif choice == 2 and isinstance(parent, list):
        parent.insert(key, parent[rng.randrange(len(parent))])
    elif isinstance(parent, dict):
        parent[rng.choice(["type", "name", "from", "repeat", "block", "groups", "stride", "zzz"])] = rng.choice(VALUES)
    else:
        parent[key] = rng.choice(VALUES)
    return data


def mutated(rng: random.Random) -> str:
    text = rng.choice(SEEDS).read_text()
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        if rng.random() < 0.5:
            text = mutate_text(rng, text)
        else:
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError:
                continue
            text = yaml.safe_dump(mutate_tree(rng, data), allow_unicode=True, width=1_000_000)
    return text


# -- what the output must hold ----------------------------------------------------------------------


def report_adds_up(output: str) -> None:
    """The JSON report's totals are the sums of its layers; the memory lines sum to their totals."""
    data = json.loads(output)
    layers, totals = data["layers"], data["totals"]
    for key in ("params", "non_trainable_params", "macs", "flops", "activation_bytes"):
        assert totals[key] == sum(layer[key] for layer in layers), key
    memory = data.get("memory")
    if memory:
        for mode in ("training", "inference"):
            footprint = memory.get(mode)
            if footprint:
                lines = {k: v for k, v in footprint.items() if k not in ("total_bytes", "rank", "peak_moment")}
                assert footprint["total_bytes"] == sum(lines.values()), mode
        if memory["saved_for_backward_bytes"] is not None:
            assert memory["saved_for_backward_bytes"] == sum(layer["saved_bytes"] for layer in layers)


COMMANDS: list[tuple[list[str], Callable[[str], None] | None]] = [
    (["report", "--format", "json"], report_adds_up),
    (["report", "--format", "table"], None),
    (["report", "--format", "markdown"], None),
    (["report", "--format", "csv", "--depth", "1"], None),
    (["check"], None),
    (["plan", "--memory", "1GiB", "--format", "json"], None),
]


def run_one(runner: CliRunner, path: Path, seed: int, codes: dict[int, int]) -> str | None:
    """Why the example with `seed` broke the contract, or None; counts its exit code in `codes`."""
    rng = random.Random(seed)
    text = mutated(rng)
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    words, holds = rng.choice(COMMANDS)
    signal.setitimer(signal.ITIMER_REAL, PER_RUN_SECONDS)
    try:
        result = runner.invoke(app, [*words, str(path)])
    except TooSlow:
        return f"took more than {PER_RUN_SECONDS} s"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if isinstance(result.exception, TooSlow):
        return f"took more than {PER_RUN_SECONDS} s"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"raised {type(result.exception).__name__}: {result.exception}"
    output = result.output
    codes[result.exit_code] = codes.get(result.exit_code, 0) + 1
    if "Traceback" in output:
        return "printed a traceback"
    if result.exit_code not in (0, 1, 2):
        return f"exit code {result.exit_code}"
    if result.exit_code and "error" not in output:
        return f"exit {result.exit_code} without an error message: {output[:300]!r}"
    if result.exit_code == 0 and holds is not None:
        try:
            holds(result.stdout)
        except (AssertionError, ValueError, KeyError, TypeError) as exc:
            return f"output does not add up ({type(exc).__name__}: {exc})"
    return None


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs a POSIX alarm to bound each run")
def test_mutated_specs_get_an_answer_or_one_message(tmp_path):
    runner = CliRunner()
    path = tmp_path / "mutated.yaml"
    previous = signal.signal(signal.SIGALRM, _alarm)
    failures = []
    codes: dict[int, int] = {}
    start = time.monotonic()
    seed = FIRST_SEED
    try:
        while seed - FIRST_SEED < EXAMPLES and time.monotonic() - start < SECONDS:
            why = run_one(runner, path, seed, codes)
            if why is not None:
                failures.append(f"seed {seed}: {why}\n--- spec ---\n{path.read_text(errors='replace')[:2000]}")
                if len(failures) >= 5:
                    break
            seed += 1
    finally:
        signal.signal(signal.SIGALRM, previous)
    print(f"fuzz: {seed - FIRST_SEED} examples in {time.monotonic() - start:.1f} s, exit codes {sorted(codes.items())}")
    assert seed - FIRST_SEED >= min(EXAMPLES, 20), "the fuzz ran too few examples to mean anything"
    assert codes.get(0, 0) and codes.get(1, 0), "mutations should give both accepted and refused specs"
    assert not failures, "\n\n".join(failures)
