"""`cnnsize verify --nproc 2` on the CPU with gloo: every strategy PyTorch runs there (DDP, ZeRO-1,
FSDP2 as ZeRO-2 and ZeRO-3), each rank reporting what it holds, and the ways a run can go wrong.

All four strategies run from one launcher process (one torch start-up), shared by the tests of the
module; every launch is bounded by its own timeout (the run is killed past it). Timings and the
plan's accuracy are not asserted here: benchmarks/distributed_memory.py sets them side by side.
"""

from __future__ import annotations

import json
import math
from io import StringIO

import pytest
from typer.testing import CliRunner

from cnnsize.backend.distributed import FAIL_RANK, DistributedOptions, RankFailed, run_distributed, run_several
from cnnsize.cli import app
from cnnsize.errors import UsageError
from cnnsize.loader import load
from cnnsize.render_verify import render_verifications

# Odd first dimensions (5 filters, 3 classes) so that FSDP's shards of 2 ranks are uneven and padded.
TINY = """
name: tiny
input: [3, 8, 8]
layers:
  - {type: conv2d, out_channels: 5, kernel_size: 3, padding: 1}       # weight 5x3x3x3 = 135, bias 5
  - relu
  - type: residual
    body:
      - {type: conv2d, out_channels: 5, kernel_size: 3, padding: 1, bias: false}  # 5x5x3x3 = 225
      - batchnorm2d                                                   # weight 5, bias 5
  - global_avgpool2d
  - flatten
  - {type: linear, out_features: 3}                                   # weight 3x5 = 15, bias 3
"""
SHAPES = {
    "layers.0.weight": (5, 3, 3, 3),
    "layers.0.bias": (5,),
    "layers.2.body.0.weight": (5, 5, 3, 3),
    "layers.2.body.1.weight": (5,),
    "layers.2.body.1.bias": (5,),
    "layers.5.weight": (3, 5),
    "layers.5.bias": (3,),
}
ALL = 135 + 5 + 225 + 5 + 5 + 15 + 3  # 393 parameters
STRATEGIES = ("ddp", "zero1", "zero2", "fsdp")
TIMEOUT_S = 60.0


def options(strategy: str, **changes) -> DistributedOptions:
    fields = dict(nproc=2, strategy=strategy, batch_size=2, optimizer="adam", warmup=1, iterations=2)
    return DistributedOptions(**{**fields, "timeout_s": TIMEOUT_S, **changes})


@pytest.fixture(scope="module")
def tiny():
    return load(TINY)


@pytest.fixture(scope="module")
def runs(tiny):
    """strategy -> the run of 2 gloo processes, Adam, batch 2 per rank."""
    results = run_several(tiny, [options(s) for s in STRATEGIES])
    return dict(zip(STRATEGIES, results))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_rank_reports_a_peak_above_what_it_holds(runs, strategy):
    run = runs[strategy]
    assert run.strategy == strategy and run.backend == "gloo"
    assert [r.rank for r in run.ranks] == [0, 1]
    for rank in run.ranks:
        held = rank.parameter_bytes + rank.gradient_bytes + rank.optimizer_state_bytes
        assert rank.peak_bytes > held  # the step's peak holds all of these and the activations too
        assert rank.steps == 2 and rank.seconds > 0
    assert run.images_per_s > 0 and run.single_images_per_s > 0 and run.scaling_efficiency > 0


@pytest.mark.parametrize("strategy", ["ddp", "zero1"])
def test_ddp_and_zero1_hold_every_parameter_and_end_with_identical_weights(runs, strategy):
    run = runs[strategy]
    for rank in run.ranks:
        assert {p.name: (p.shape, p.local_elements) for p in rank.parameters} == {
            name: (shape, math.prod(shape)) for name, shape in SHAPES.items()
        }
        assert rank.parameter_elements == ALL
        assert rank.parameter_bytes == rank.gradient_bytes == ALL * 4  # float32
    assert run.weights_identical is True and run.passed


def test_ddp_peak_holds_the_gradient_buckets_beside_the_gradients(runs):
    # DDP keeps a flat bucket of every gradient besides param.grad (gradient_as_bucket_view=False)
    for rank in runs["ddp"].ranks:
        assert rank.peak_bytes >= rank.parameter_bytes + 2 * rank.gradient_bytes + rank.optimizer_state_bytes


def test_ddp_keeps_all_of_adams_state_on_every_rank(runs):
    for rank in runs["ddp"].ranks:
        assert rank.optimizer_state_parameters == tuple(sorted(SHAPES))
        assert rank.optimizer_state_bytes == 2 * ALL * 4 + 7 * 4  # exp_avg, exp_avg_sq; a float32 step each


def test_zero1_splits_adams_state_by_whole_parameters(runs):
    # ZeroRedundancyOptimizer: largest first, each to the rank holding the fewest elements so far:
    # 225 -> rank 0; 135, 15, 5, 5, 5, 3 -> rank 1 (135 < 225, and 150, 155, ..., 168 stay below it)
    rank0, rank1 = runs["zero1"].ranks
    assert rank0.optimizer_state_parameters == ("layers.2.body.0.weight",)
    assert set(rank1.optimizer_state_parameters) == set(SHAPES) - {"layers.2.body.0.weight"}
    assert rank0.optimizer_state_bytes == 2 * 225 * 4 + 4  # exp_avg, exp_avg_sq, step
    assert rank1.optimizer_state_bytes == 2 * 168 * 4 + 6 * 4


@pytest.mark.parametrize("strategy", ["zero2", "fsdp"])
def test_fsdp_shards_every_parameter_on_dim_0_padded(runs, strategy):
    run = runs[strategy]
    for rank in run.ranks:
        expected = {}
        padded = 0
        for name, shape in SHAPES.items():
            rows, rest = shape[0], math.prod(shape[1:])
            chunk = math.ceil(rows / 2)  # rank 0 gets ceil(rows / 2) rows, rank 1 the rest
            expected[name] = max(0, min(chunk, rows - rank.rank * chunk)) * rest
            padded += chunk * rest  # the shard's storage is padded to ceil(rows / 2) rows
        assert {p.name: p.local_elements for p in rank.parameters} == expected
        assert rank.parameter_bytes == rank.gradient_bytes == padded * 4
    # 5 rows: 3 + 2; 3 rows: 2 + 1; so rank 0 holds 81 + 3 + 135 + 3 + 3 + 10 + 2 = 237 of 393
    assert [r.parameter_elements for r in run.ranks] == [237, ALL - 237]
    assert run.weights_identical is None and run.passed  # shards: nothing to compare


def test_json_csv_and_table_show_every_rank(runs):
    out = StringIO()
    render_verifications([runs["zero1"]], "json", out)
    data = json.loads(out.getvalue())
    assert data["strategy"] == "zero1" and data["nproc"] == 2 and data["backend"] == "gloo"
    assert [r["rank"] for r in data["ranks"]] == [0, 1]
    assert data["ranks"][0]["peak_bytes"] == runs["zero1"].ranks[0].peak_bytes
    out = StringIO()
    render_verifications([runs["fsdp"]], "csv", out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1 + 2 and lines[0].startswith("network,strategy,nproc")
    out = StringIO()
    render_verifications([runs["ddp"]], "table", out)
    table = out.getvalue()
    assert "tiny: ddp on 2 processes (DistributedDataParallel), gloo on cpu" in table
    assert "Peak in" in table and "identical on every rank after training ✓" in table
    assert "PASSED: all 2 ranks trained 4 steps." in table  # 1 warm-up + 1 measured + 2 timed


def test_a_failing_rank_is_one_message_without_a_traceback(tmp_path, monkeypatch):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    monkeypatch.setenv(FAIL_RANK, "1")
    result = CliRunner().invoke(
        app, ["verify", str(spec), "--nproc", "2", "--device", "cpu", "--iterations", "1", "--timeout", "60"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"{spec}: error: ddp on 2 processes: rank 1 failed: RuntimeError: failure injected in rank 1 ({FAIL_RANK})"
    ]
    assert "Traceback" not in result.output


def test_options_are_checked_before_anything_starts(tiny):
    with pytest.raises(UsageError, match=r"^--batch-size must be an integer of at least 1 with --nproc, got 0$"):
        run_distributed(tiny, options("ddp", batch_size=0))
    with pytest.raises(UsageError, match="--timeout must be a positive number of seconds, got 0"):
        run_distributed(tiny, options("ddp", timeout_s=0))
    with pytest.raises(UsageError, match="unknown optimizer 'lion'"):
        run_distributed(tiny, options("ddp", optimizer="lion"))


def test_a_run_past_its_timeout_is_stopped(tiny):
    with pytest.raises(RankFailed, match=r"ddp on 2 processes did not finish in 1 s; stopped"):
        run_distributed(tiny, options("ddp", timeout_s=1.0))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--nproc", "0"], "Invalid value for '--nproc'"),
        (["--nproc", "100000"], "error: --nproc 100000: at most"),
        (["--nproc", "2", "--strategy", "bogus"], "'bogus' is not one of"),
        (["--nproc", "2", "--mode", "inference"], "error: --nproc runs training steps"),
        (["--nproc", "2", "--warmup", "0"], "error: --warmup must be an integer of at least 1 with --nproc"),
        (["--nproc", "2", "--compile"], "error: --compile cannot be used with --nproc"),
        (["--nproc", "2", "--device", "mps"], "error: --nproc runs on cpu (gloo) or cuda (NCCL)"),
        (["--strategy", "fsdp"], "error: --strategy needs --nproc N"),
    ],
)
def test_bad_distributed_options_exit_2_with_one_message(args, message):
    result = CliRunner().invoke(app, ["verify", "specs/toy.yaml", "--device", "cpu", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
