"""What one rank holds under each strategy, by hand for a tiny network, and the options' checks.

The network (TINY), float32 (4 B), every layer with a bias: a 3x3 convolution 3 -> 4 channels (the
stem), three blocks in `sequential` layers (FSDP units: a 1x1 convolution 4 -> 6, then two 3x3
convolutions 6 -> 6), global average pooling and a linear classifier 6 -> 2. On 4 ranks each
tensor is cut into ceil(rows / 4)-row chunks:

| tensor | shape | numel | rows per rank -> padded shard | rows ranks 0..3 own |
| --- | --- | ---: | --- | --- |
| stem weight, bias | 4,3,3,3; 4 | 108; 4 | 1 -> 27; 1 -> 1 | 1,1,1,1 |
| b1 weight, bias | 6,4,1,1; 6 | 24; 6 | 2 -> 8; 2 -> 2 | 2,2,2,0 |
| b2, b3 weight, bias | 6,6,3,3; 6 | 324; 6 | 2 -> 108; 2 -> 2 | 2,2,2,0 |
| fc weight, bias | 2,6; 2 | 12; 2 | 1 -> 6; 1 -> 1 | 1,1,0,0 |
"""

from __future__ import annotations

import pytest

import cnnsize
from cnnsize.errors import UsageError
from cnnsize.graph import resolve
from cnnsize.memory import Bytes, Precision
from cnnsize.parallel import (
    DDP_BUCKET_CAP,
    DDP_FIRST_BUCKET,
    Layout,
    Parallel,
    ParamTensor,
    Unit,
    ddp_buckets,
    layout,
    sharded_peak,
    zero1_partition,
)
from cnnsize.planner import NoBatchFits, model_memory, plan

THREE = {"type": "conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1}
TINY = {
    "name": "tiny",
    "input": [3, 8, 8],
    "layers": [
        {"type": "conv2d", "name": "stem", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "sequential", "name": "b1", "layers": [{"type": "conv2d", "out_channels": 6, "kernel_size": 1}]},
        {"type": "sequential", "name": "b2", "layers": [THREE]},
        {"type": "sequential", "name": "b3", "layers": [THREE]},
        "global_avgpool2d",
        "flatten",
        {"type": "linear", "name": "fc", "out_features": 2},
    ],
}
PARAMS = (108 + 4) + (24 + 6) + 2 * (324 + 6) + (12 + 2)  # 816
SHARD = (27 + 1) + (8 + 2) + 2 * (108 + 2) + (6 + 1)  # 265 elements per rank of 4, padded
ROOT = 4 * (27 + 1 + 6 + 1)  # the root unit (stem and fc) gathered, padded: 140
B1, B2 = 4 * (8 + 2), 4 * (108 + 2)  # 40, 440 (b3 as b2)


@pytest.fixture
def tiny(make_spec):
    return make_spec(TINY)


def rank(tiny, strategy, optimizer="adam", rank=None, gpus=4, nodes=1):
    model = model_memory(tiny, Precision(device="cpu"))
    single = model.footprint("training", optimizer, 3)
    f = model.footprint("training", optimizer, 3, Parallel(gpus, strategy, nodes), rank=rank)
    return single.lines, f


def test_the_layout_is_the_parameter_tensors_and_the_units(tiny):
    model = layout(resolve(tiny))
    assert sum(t.numel for t in model.tensors) == PARAMS == 816
    assert [u.name for u in model.units] == ["root", "layers[1]", "layers[2]", "layers[3]"]
    assert [u.numel for u in model.units] == [108 + 4 + 12 + 2, 24 + 6, 324 + 6, 324 + 6]
    assert [u.padded(4) for u in model.units] == [ROOT, B1, B2, B2] == [140, 40, 440, 440]
    assert model.units[0].layer_paths == (("layers", 0), ("layers", 6))  # the stem and fc
    assert model.units[2].layer_paths == (("layers", 2, "layers", 0),)
    assert sum(t.padded_shard(4) for t in model.tensors) == SHARD == 265
    assert [sum(t.local(4, r) for t in model.tensors) for r in range(4)] == [
        265,  # full rows of every tensor
        265,
        28 + 10 + 2 * 110,  # 258: fc has no third row
        28,  # the stem's row only: the blocks' 6 rows end at rank 2, fc's 2 at rank 1
    ]


def test_ddp_holds_everything_and_a_bucket_copy_of_the_gradients(tiny):
    single, f = rank(tiny, "ddp")
    p = PARAMS * 4  # 3,264 B
    assert f.lines["parameter_bytes"] == p
    assert f.lines["gradient_bytes"] == single["gradient_bytes"]  # those made by the peak moment of backward
    assert f.lines["optimizer_state_bytes"] == 2 * p + 10 * 4  # adam: exp_avg, exp_avg_sq; a 4 B step per tensor
    assert f.lines["gradient_bucket_bytes"] == p  # gradient_as_bucket_view=False: a second copy
    assert f.lines["unsharded_parameter_bytes"] == f.lines["communication_buffer_bytes"] == 0
    assert f.lines["saved_activation_bytes"] == single["saved_activation_bytes"]  # the per-rank batch's
    assert f.total_bytes == sum(single.values()) + p  # one GPU's footprint and the buckets


def test_zero1_keeps_the_optimizer_state_of_the_rank_s_partition(tiny):
    # largest first, each to the emptiest rank: 324 -> r0, 324 -> r1, 108 -> r2, 24 -> r3, then
    # 12, 6, 6, 6, 4 and 2 all to r3 (24 + 36 = 60)
    model = layout(resolve(tiny))
    assert zero1_partition(model.tensors, 4) == [324, 324, 108, 60]
    _, f = rank(tiny, "zero1")  # the rank holding the most: rank 0, the first of two
    # with adam's step counters on the CPU, 4 B for each tensor it owns: rank 0 one, rank 3 seven
    assert f.rank == 0 and f.lines["optimizer_state_bytes"] == 2 * 324 * 4 + 4  # 2,596
    assert f.lines["gradient_bucket_bytes"] == PARAMS * 4
    _, f3 = rank(tiny, "zero1", rank=3)
    assert f3.lines["optimizer_state_bytes"] == 2 * 60 * 4 + 7 * 4  # 508
    assert f.total_bytes - f3.total_bytes == 2 * (324 - 60) * 4 + (1 - 7) * 4


def test_zero2_peaks_at_the_last_unit_s_reduce_scatter(tiny):
    # backward runs b3, b2, b1, then the root. At each reduce-scatter: gathered (zero2: the root and
    # the units not yet done) + the unit's gradients and padded copy + the shards reduced before:
    #   b3: (140 + 40 + 440 + 440) + (330 + 440) + 0 = 1,830
    #   b2: (140 + 40 + 440) + (330 + 440) + 110 = 1,500
    #   b1: (140 + 40) + (30 + 40) + 220 = 470
    #   root: 140 + (126 + 140) + 230 = 636
    model = layout(resolve(tiny))
    peak = sharded_peak(model, Parallel(4, "zero2"))
    assert peak.unit.name == "layers[3]" and (peak.gathered, peak.buffers, peak.reduced) == (1060, 770, 0)
    single, f = rank(tiny, "zero2")
    assert f.lines["parameter_bytes"] == SHARD * 4  # 1,060
    assert f.lines["gradient_bytes"] == 0  # no unit's gradients are reduced yet
    assert f.lines["optimizer_state_bytes"] == 2 * 265 * 4  # rank 0 owns full rows of all
    assert f.lines["unsharded_parameter_bytes"] == (ROOT + B1 + 2 * B2) * 4 == 4 * SHARD * 4  # 4,240
    assert f.lines["communication_buffer_bytes"] == (330 + B2) * 4 == 3_080
    assert f.lines["gradient_bucket_bytes"] == 0
    forward = model_memory(tiny, Precision(device="cpu")).lines("training", "adam")  # FSDP2: the forward's lines
    assert f.lines["saved_activation_bytes"] == forward["saved_activation_bytes"].at(3)
    assert f.moment is None  # not followed moment by moment under FSDP2 (docs/memory.md)


def test_fsdp_gathers_the_root_the_unit_and_the_one_prefetched(tiny):
    # as zero2, but gathered at b3's reduce-scatter: the root, b3 and b2 (prefetched): 1,020
    _, f = rank(tiny, "fsdp")
    assert f.lines["unsharded_parameter_bytes"] == (ROOT + B2 + B2) * 4 == 4_080
    assert f.lines["parameter_bytes"] == SHARD * 4 and f.lines["communication_buffer_bytes"] == 3_080
    _, last = rank(tiny, "fsdp", rank=3)
    assert last.lines["optimizer_state_bytes"] == 2 * 28 * 4  # rank 3 owns the stem's rows only
    assert f.total_bytes - last.total_bytes == 2 * (265 - 28) * 4


def test_the_root_s_reduce_scatter_can_be_the_peak(make_spec):
    # a small 1x1 convolution block between a stem and a classifier on 4 * 4 * 4 = 64 features:
    # the root's own reduce-scatter outweighs the block's
    data = {
        "input": [3, 4, 4],
        "layers": [
            {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"type": "sequential", "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 1}]},
            "flatten",
            {"type": "linear", "out_features": 2},
        ],
    }
    model = layout(resolve(make_spec(data)))
    # root: stem 108 + 4, fc [2, 64] 128 + 2: 242 elements; padded 4 x (27 + 1 + 64 + 1) = 372
    # block: [4, 4, 1, 1] 16 + 4: 20 elements, shards of 4 + 1 = 5, padded 20. At the block's
    # reduce-scatter: gathered root and block 372 + 20, buffers 20 + 20, nothing reduced: 432; at the
    # root's: gathered 372, buffers 242 + 372 = 614, the block's 5 reduced: 991
    peak = sharded_peak(model, Parallel(4, "fsdp"))
    assert peak.unit.name == "root" and (peak.gathered, peak.buffers, peak.reduced) == (372, 614, 5)


def test_hybrid_sharding_shards_within_a_node(tiny):
    # 2 nodes x 4 GPUs: shards of 4, as on one node of 4; ranks 4..7 hold what ranks 0..3 hold
    _, one_node = rank(tiny, "fsdp", rank=3)
    _, hybrid = rank(tiny, "fsdp", rank=7, nodes=2)
    assert hybrid.lines == one_node.lines
    assert Parallel(4, "fsdp", nodes=2).world == 8 and Parallel(4, "fsdp", nodes=2).shard_ranks == 4
    assert Parallel(4, "zero1", nodes=2).shard_ranks == 1  # nothing sharded but the optimizer state


def test_ddp_buckets_close_at_one_mib_then_25():
    # in reverse order: 300K floats (1.14 MiB) close the first bucket; 7M (26.7 MiB) the next
    tensors = tuple(ParamTensor(("layers", i), "weight", (n,)) for i, n in enumerate([5, 7_000_000, 300_000]))
    assert ddp_buckets(tensors, 4) == [300_000, 7_000_000, 5]
    assert 300_000 * 4 >= DDP_FIRST_BUCKET and 7_000_000 * 4 >= DDP_BUCKET_CAP


def test_global_batch_and_description():
    p = Parallel(8, "fsdp", nodes=2, accumulate=4)
    assert p.world == 16 and p.global_batch(32) == 32 * 16 * 4
    assert p.describe() == "2 nodes x 8 GPUs, fsdp (hybrid sharding), 4 accumulated steps"
    assert Parallel(8).describe() == "8 GPUs, ddp"
    # large counts are grouped, as every other figure is (they printed 1000000 beside 1,000,000)
    assert (
        Parallel(1000, nodes=1000, accumulate=10**6).describe()
        == "1,000 nodes x 1,000 GPUs, ddp, 1,000,000 accumulated steps"
    )
    assert Parallel(10**6).describe() == "1,000,000 GPUs, ddp"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gpus": 0}, "--gpus must be a positive integer, got 0"),
        ({"nodes": -1}, "--nodes must be a positive integer, got -1"),
        ({"accumulate": 0}, "--accumulate must be a positive integer"),
        ({"strategy": "bogus"}, "--strategy: unknown strategy 'bogus'; choose one of ddp, zero1, zero2, fsdp"),
        ({"gpus": 2_000_000}, "--gpus must be at most 1,000,000"),
        ({"gpus": 1000, "nodes": 1001}, "--gpus x --nodes must be at most 1,000,000 ranks"),
    ],
)
def test_parallel_checks_itself(kwargs, message):
    with pytest.raises(UsageError, match=message):
        Parallel(**kwargs)


def test_one_rank_out_of_range_is_refused(tiny):
    with pytest.raises(UsageError, match="rank must be from 0 to 3, got 4"):
        rank(tiny, "fsdp", rank=4)


def test_the_plan_solves_the_per_rank_batch(tiny):
    answer = plan(tiny, 2**20, optimizer="adam", device="cpu", parallel=Parallel(4, "fsdp", accumulate=2))
    f = answer.footprint
    assert f.total_bytes <= 2**20 < answer.next_total
    assert answer.global_batch == f.batch_size * 4 * 2
    data = answer.to_dict()
    assert data["parallel"] == {
        "gpus": 4, "nodes": 1, "world_size": 4, "strategy": "fsdp", "accumulate": 2,
        "peak": "the reduce-scatter of layers[3] (b3)'s gradients",
    }  # fmt: skip
    assert data["footprint"]["rank"] == 0 and data["global_batch_size"] == answer.global_batch
    with pytest.raises(NoBatchFits, match=r"what one rank holds before any sample \(zero1, 4 ranks\) takes"):
        plan(tiny, 10_000, device="cpu", optimizer="adam", parallel=Parallel(4, "zero1"))  # 3 x 3,264 B + state
    with pytest.raises(UsageError, match="inference on several GPUs runs a whole copy per GPU"):
        plan(tiny, 2**20, mode="inference", parallel=Parallel(4, "fsdp"))
    inference = plan(tiny, 2**20, mode="inference", device="cpu", parallel=Parallel(4))
    assert inference.footprint == plan(tiny, 2**20, mode="inference", device="cpu").footprint


def test_one_gpu_is_unchanged_by_the_parallel_code(tiny):
    model = model_memory(tiny, Precision(device="cpu"))
    lines = model.lines("training", "adam")
    assert set(lines) == {
        "parameter_bytes", "running_stat_bytes", "gradient_bytes", "optimizer_state_bytes", "weight_copy_bytes",
        "saved_activation_bytes", "input_bytes",
    }  # fmt: skip
    assert lines["parameter_bytes"] == Bytes(PARAMS * 4, 0)
    assert model.footprint("training", "adam", 3).rank is None


# ResNet-50 on 8 GPUs, as docs/memory.md works it: torchvision's 25,557,032 parameters, float32
R50 = 25_557_032
P50 = R50 * 4  # 102,228,128 B
STATS = 53_120 * 4  # running mean and variance of 26,560 batch-norm channels: 212,480 B
# stages, by torchvision's Bottleneck: (in x width + width x width x 9 + width x out) weights, three
# batch norms (2 x (width + width + out)), and the first block's projection (in x out + 2 x out)
LAYER4 = (1024 * 512 + 512 * 512 * 9 + 512 * 2048 + 2 * (512 + 512 + 2048) + 1024 * 2048 + 2 * 2048) + 2 * (
    2048 * 512 + 512 * 512 * 9 + 512 * 2048 + 2 * (512 + 512 + 2048)
)
LAYER3 = (512 * 256 + 256 * 256 * 9 + 256 * 1024 + 2 * (256 + 256 + 1024) + 512 * 1024 + 2 * 1024) + 5 * (
    1024 * 256 + 256 * 256 * 9 + 256 * 1024 + 2 * (256 + 256 + 1024)
)
ROOT50 = 64 * 3 * 7 * 7 + 2 * 64 + 2048 * 1000 + 1000  # conv1, bn1, fc
USABLE = 80 * 2**30 - (512 * 2**20 + 80 * 2**30 * 5 // 100)  # 81,067,507,712 B after CUDA's reserve
PER_SAMPLE = 85_909_504  # what ResNet-50 saves per sample (docs/memory.md)
# The step's peak (cnnsize.step): the backward of layer4's last ReLU, the second in backward after
# the fc and the pooling: the fc's input is freed (2048 x 4 B saved less per sample), the gradients
# of the ReLU's output and input are alive (2 x 2048 x 7 x 7 x 4 B), and the fc's gradients
PEAK = "backward of layers[7].layers[2].layers[1]"
PEAK_PER_SAMPLE = PER_SAMPLE - 2048 * 4 + 2 * 2048 * 7 * 7 * 4  # 86,704,128
PEAK_GRADIENTS = (2048 * 1000 + 1000) * 4  # 8,196,000
LOSS = 8  # the loss and backward's first gradient, float32 scalars


@pytest.fixture(scope="module")
def resnet50():
    return model_memory(cnnsize.load("resnet50"), Precision())


def test_resnet50_stages_as_units(resnet50):
    assert (LAYER4, LAYER3, ROOT50) == (14_964_736, 7_098_368, 2_058_536)
    assert [u.numel for u in resnet50.layout.units] == [ROOT50, 215_808, 1_219_584, LAYER3, LAYER4]
    assert sum(u.numel for u in resnet50.layout.units) == R50
    assert all(t.shape[0] % 8 == 0 for t in resnet50.layout.tensors)  # no padding on 8 ranks


@pytest.mark.parametrize(
    "strategy, lines, batch",
    [
        (
            "ddp",
            {"parameter_bytes": P50, "gradient_bytes": P50, "optimizer_state_bytes": 2 * P50, "gradient_bucket_bytes": P50},
            930,  # at the step's peak: floor((81,067,507,712 - 417,533,480) / 86,704,128)
        ),
        (
            "zero1",  # rank 2 owns 3,194,880 elements, the most of the greedy partition
            {"parameter_bytes": P50, "gradient_bytes": P50, "optimizer_state_bytes": 2 * 3_194_880 * 4,
             "gradient_bucket_bytes": P50},
            932,  # at the step's peak: floor((81,067,507,712 - 238,636,264) / 86,704,128)
        ),
        (
            "zero2",  # at layer4's reduce-scatter: every unit gathered, no shard reduced yet
            {"parameter_bytes": P50 // 8, "gradient_bytes": 0, "optimizer_state_bytes": 2 * P50 // 8,
             "unsharded_parameter_bytes": P50, "communication_buffer_bytes": 2 * LAYER4 * 4},
            940,  # floor((81,067,507,712 - 260,706,524) / 85,909,504)
        ),
        (
            "fsdp",  # the root, layer4 and layer3 (prefetched) gathered
            {"parameter_bytes": P50 // 8, "gradient_bytes": 0, "optimizer_state_bytes": 2 * P50 // 8,
             "unsharded_parameter_bytes": (ROOT50 + LAYER4 + LAYER3) * 4,
             "communication_buffer_bytes": 2 * LAYER4 * 4},
            940,  # floor((81,067,507,712 - 254,964,956) / 85,909,504)
        ),
    ],
)  # fmt: skip
def test_resnet50_on_8_gpus_line_by_line(resnet50, strategy, lines, batch):
    parallel = Parallel(8, strategy)
    by_line = resnet50.lines("training", "adam", parallel)
    for key, value in lines.items():
        assert by_line[key] == Bytes(value, 0), key
    assert by_line["running_stat_bytes"] == Bytes(STATS, 0)
    assert by_line["saved_activation_bytes"] == Bytes(STATS, PER_SAMPLE)  # batch norm's statistics
    fixed = sum(lines.values()) + 2 * STATS
    per_sample = PER_SAMPLE
    answer = plan(cnnsize.load("resnet50"), 80 * 2**30, optimizer="adam", parallel=parallel)
    if not parallel.sharded:  # DDP, ZeRO-1: the step's peak moment (FSDP2: its reduce-scatter)
        assert answer.footprint.moment == PEAK
        fixed += PEAK_GRADIENTS - lines["gradient_bytes"] + LOSS
        per_sample = PEAK_PER_SAMPLE
    assert (USABLE - fixed) // per_sample == batch
    assert answer.usable == USABLE == 81_067_507_712
    assert answer.batch_size == batch and answer.global_batch == 8 * batch
    assert answer.footprint.total_bytes == fixed + batch * per_sample


def test_resnet50_one_gpu_fixed_bytes_and_batch(resnet50):
    fixed = P50 + STATS + P50 + 2 * P50 + STATS  # 409,337,472: the forward's end, every gradient counted
    assert sum(line.fixed for line in resnet50.lines("training", "adam").values()) == fixed == 409_337_472
    peak = P50 + STATS + 2 * P50 + PEAK_GRADIENTS + STATS + LOSS  # 315,305,352 at the step's peak
    answer = plan(cnnsize.load("resnet50"), 80 * 2**30, optimizer="adam")
    assert answer.footprint.moment == PEAK
    assert answer.batch_size == (USABLE - peak) // PEAK_PER_SAMPLE == 931
    step = resnet50.moments("adam")[-1]  # foreach adam on CUDA: a square root of every parameter at once
    assert step.lines["optimizer_temporary_bytes"] == Bytes(P50, 0)


def test_zero1_s_optimizer_steps_the_rank_s_partition_only(tiny):
    # adam on the CPU, its local optimizer's tensors largest first: rank 0 the 324 of b2's weight
    # (2 x 324 x 4 B); rank 3 24, 12, 6, 6, 6, 4, 2: at the first, 2 x 24 x 4 = 192 B, the most
    model = model_memory(tiny, Precision(device="cpu"))
    step = {r: model.moments("adam", Parallel(4, "zero1"), r)[-1].lines for r in (0, 3)}
    assert step[0]["optimizer_temporary_bytes"] == Bytes(2 * 324 * 4, 0)
    assert step[3]["optimizer_temporary_bytes"] == Bytes(2 * 24 * 4, 0)


def test_a_layer_that_shares_weights_holds_no_tensor_of_its_own(make_spec):
    # a 3x3 conv 16 -> 16 (16*16*9 + 16 = 2,320 parameters) applied twice: FSDP on 2 ranks shards
    # the one weight (16 rows -> 8 a rank: 1,152) and bias (8): 1,160 elements, 4,640 B a rank
    spec = make_spec({
        "name": "twice", "input": [16, 8, 8],
        "layers": [{"type": "conv2d", "name": "c", "out_channels": 16, "kernel_size": 3, "padding": 1},
                   "relu", {"shares": "c"}],
    })  # fmt: skip
    held = layout(resolve(spec))
    assert [t.name for t in held.tensors] == ["weight", "bias"]
    assert sum(t.numel for t in held.tensors) == 16 * 16 * 9 + 16 == 2_320
    f = model_memory(spec, Precision(device="cpu")).footprint("training", "sgd", 1, Parallel(2, "fsdp"))
    assert f.lines["parameter_bytes"] == (8 * 16 * 9 + 8) * 4 == 4_640


def test_zero1_with_more_ranks_than_tensors_leaves_the_rest_empty(tiny):
    # ten tensors on sixteen ranks: one each, largest first, ranks 10 to 15 own nothing
    sizes = zero1_partition(layout(resolve(tiny)).tensors, 16)
    assert sizes == [324, 324, 108, 24, 12, 6, 6, 6, 4, 2] + [0] * 6


@pytest.mark.parametrize("strategy", ["zero2", "fsdp"])
def test_the_sharded_peak_is_one_pass_over_the_units(monkeypatch, strategy):
    # 2,000 units of one 8-row tensor each (and a 1-row root) on 4 ranks: each unit gathered is
    # 4 * ceil(8 / 4) = 8 elements, a shard 2, the root gathered 4. zero2 at unit i holds the root and
    # units 0..i (8 each) gathered; the first in backward (the last unit) the most: 4 + 2,000 * 8, its
    # gradients and padded copy 8 + 8, nothing reduced. Each tensor's shard is asked for a bounded
    # number of times: the sum per unit it replaced asked 2,000 * 2,001 / 2 times (41 s of a plan).
    units = tuple(Unit(("layers", i), (ParamTensor(("layers", i), "weight", (8,)),)) for i in range(2000))
    root = Unit(None, (ParamTensor(("layers", -1), "weight", (1,)),))
    model = Layout(tuple(t for u in (root, *units) for t in u.tensors), (root, *units))
    calls = []
    shard = ParamTensor.padded_shard
    monkeypatch.setattr(ParamTensor, "padded_shard", lambda self, n: calls.append(1) or shard(self, n))
    peak = sharded_peak(model, Parallel(4, strategy))
    assert len(calls) <= 2 * len(model.tensors)
    if strategy == "zero2":
        assert peak.unit is units[-1] and (peak.gathered, peak.buffers, peak.reduced) == (4 + 2000 * 8, 8 + 8, 0)
    else:  # the root, unit i and unit i - 1 gathered, and the shards of units after i: unit i (i >= 1)
        # holds 4 + 8 + 8 + 16 + 2 * (1,999 - i), the most at unit 1; unit 0 4 + 8 + 16 + 2 * 1,999 = 4,026
        assert peak.unit is units[1] and (peak.gathered, peak.buffers, peak.reduced) == (4 + 8 + 8, 16, 2 * 1998)
