"""The results of `verify --nproc`: throughput across ranks, scaling efficiency, the plan's ratio
and the weights' verdict, from figures made by hand (no torch)."""

from __future__ import annotations

from dataclasses import replace

from cnnsize.distributed_verification import DistributedVerification, ParameterShard, RankResult


def rank(index: int, seconds: float, digest: str | None = "same", peak: int = 1_000) -> RankResult:
    return RankResult(
        rank=index,
        peak_bytes=peak,
        parameters=(ParameterShard("w", (5, 3), 9 if index == 0 else 6),),  # 5 rows: 3 + 2, x 3 columns
        parameter_bytes=36,
        gradient_bytes=36,
        optimizer_state_bytes=0,
        optimizer_state_parameters=("w",),
        seconds=seconds,
        steps=10,
        weights_digest=digest,
        phase_peaks=(("forward", 600), ("backward", peak), ("optimizer step", 700)),
    )


RUN = DistributedVerification(
    name="net",
    file=None,
    strategy="ddp",
    nproc=2,
    backend="gloo",
    device="cpu",
    dtype="float32",
    optimizer="sgd",
    batch_size=4,
    warmup=1,
    iterations=10,
    threads=1,
    torch_version="2.13.0",
    peak_source="allocator",
    ranks=(rank(0, 2.0), rank(1, 2.5)),
    single_seconds=1.0,
)


def test_throughput_is_counted_at_the_slowest_rank_and_set_against_n_single_processes():
    assert RUN.images_per_s == 2 * 4 * 10 / 2.5  # world x per-rank batch x steps / slowest = 32
    assert RUN.single_images_per_s == 4 * 10 / 1.0  # 40
    assert RUN.scaling_efficiency == 32 / (2 * 40)  # 0.4


def test_the_plan_is_per_rank_and_its_ratio_is_planned_over_measured():
    assert RUN.ratio(RUN.ranks[0]) is None  # no plan
    planned = replace(RUN, planned_bytes=(1_100, 900))
    assert planned.planned(planned.ranks[1]) == 900
    assert planned.ratio(planned.ranks[0]) == 1_100 / 1_000
    assert planned.to_dict()["ranks"][1]["planned_over_measured"] == 900 / 1_000


def test_weights_identical_only_where_every_rank_holds_them_whole():
    assert RUN.weights_identical is True and RUN.passed
    differ = replace(RUN, ranks=(rank(0, 1.0, "a"), rank(1, 1.0, "b")))
    assert differ.weights_identical is False and not differ.passed
    sharded = replace(RUN, strategy="fsdp", ranks=(rank(0, 1.0, None), rank(1, 1.0, None)))
    assert sharded.weights_identical is None and sharded.passed


def test_a_rank_names_the_phase_of_its_peak_and_the_elements_it_holds():
    r = RUN.ranks[0]
    assert r.peak_phase == "backward"
    assert (r.parameter_elements, r.parameters[0].elements) == (9, 15)  # its 3 rows of 5 x 3
    assert r.to_dict()["phase_peak_bytes"] == {"forward": 600, "backward": 1_000, "optimizer step": 700}
