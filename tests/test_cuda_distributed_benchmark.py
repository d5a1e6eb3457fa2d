"""benchmarks/cuda_distributed.py without a GPU: the section it appends to docs/benchmarks.md (the
GPU named, planned beside measured per rank, the 10% target) and its refusal to run without CUDA.
The runs themselves need a GPU machine; these results are made by hand."""

from __future__ import annotations

import pytest
import torch

from benchmarks.cuda_distributed import append, main, section
from benchmarks.distributed_memory import Row, rows_of
from cnnsize.distributed_verification import DistributedVerification, ParameterShard, RankResult


def rank(index: int, peak: int) -> RankResult:
    return RankResult(
        rank=index,
        peak_bytes=peak,
        parameters=(ParameterShard("w", (4, 2), 8),),
        parameter_bytes=32,
        gradient_bytes=32,
        optimizer_state_bytes=0,
        optimizer_state_parameters=("w",),
        seconds=0.5,
        steps=10,
        phase_peaks=(("forward", peak - 10), ("backward", peak), ("optimizer step", peak - 20)),
    )


RUN = DistributedVerification(
    name="net",
    file=None,
    strategy="fsdp",
    nproc=2,
    backend="nccl",
    device="cuda (NVIDIA H100 80GB HBM3)",
    dtype="float32",
    optimizer="adam",
    batch_size=4,
    warmup=1,
    iterations=10,
    threads=None,
    torch_version="2.13.0",
    peak_source="max_memory_allocated",
    ranks=(rank(0, 1_000_000), rank(1, 800_000)),
    single_seconds=0.25,
    planned_bytes=(1_050_000, 1_050_000),
)


def test_rows_set_each_ranks_plan_beside_its_peak_and_mark_the_10_percent_target():
    rows = rows_of("net", RUN)
    assert [(r.rank, r.planned, r.measured, r.phase) for r in rows] == [
        (0, 1_050_000, 1_000_000, "backward"),
        (1, 1_050_000, 800_000, "backward"),
    ]
    assert rows[0].ratio == 1.05 and rows[0].verdict(0.10) == "met"  # 1,050,000 / 1,000,000
    assert rows[1].ratio == 1.3125 and rows[1].verdict(0.10) == "missed"  # 1,050,000 / 800,000


def test_the_section_names_the_gpu_and_counts_the_targets_met():
    rows = rows_of("net", RUN)
    text = section("NVIDIA H100 80GB HBM3", 2, "2.13.0", "batch 4", rows, [("net", RUN)], "2026-12-04")
    assert text.startswith("### Distributed training on 2 x NVIDIA H100 80GB HBM3 (2026-12-04)")
    assert (
        "| net | fsdp | 0 | 1.00 MiB (1,050,000 B) | 976.56 KiB (1,000,000 B) | backward | 1.050 (+5.0%) | met |"
        in text
    )
    assert "| net | fsdp | 1 |" in text and "1.312 (+31.2%) | missed |" in text
    # 2 ranks x 4 images x 10 steps in 0.5 s = 160 images/s; one process 4 x 10 / 0.25 = 160; 160 / (2 x 160)
    assert "| net | fsdp | 160.0 | 160.0 | 50.0% |" in text
    assert "Within 10%: 1 of 2 ranks." in text


def test_append_adds_the_section_at_the_end_and_keeps_the_rest(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nbefore\n\n")
    append(doc, "### new\n")
    assert doc.read_text() == "# Benchmarks\n\nbefore\n\n### new\n"


def test_row_ratio_is_planned_over_measured():
    assert Row("s", "ddp", 0, 110, 100, "backward").verdict(0.10) == "met"  # +10% exactly
    assert Row("s", "ddp", 0, 111, 100, "backward").verdict(0.10) == "missed"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_without_a_gpu_it_exits_with_one_message(tmp_path):
    doc = tmp_path / "benchmarks.md"
    with pytest.raises(SystemExit, match="no CUDA device is visible"):
        main(["--doc", str(doc)])
    assert not doc.exists()
