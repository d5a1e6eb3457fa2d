"""The parameter tensors the parallel planner shards (`cnnsize.parallel.layout`, from each kind's
`weight_shapes`) are PyTorch's: the same names, shapes and order as the built network's
`named_parameters()`, for every kind row of the kinds' PyTorch tests."""

from __future__ import annotations

import pytest
from graph_rows import GRAPHS
from test_kinds_torch import ROWS, _kind

import cnnsize
from cnnsize.backend.builder import build_network
from cnnsize.graph import resolve
from cnnsize.parallel import layout

CASES = [({"input": inp, "layers": [layer]}, _kind(layer)) for inp, layer in ROWS] + [
    (data, kind) for kind, data in GRAPHS
]


@pytest.mark.parametrize("data, kind", CASES, ids=[f"{kind}-{i}" for i, (_, kind) in enumerate(CASES)])
def test_parameter_tensors_are_named_parameters(make_spec, data, kind):
    spec = make_spec(data)
    network = build_network(spec)
    tensors = layout(resolve(spec)).tensors
    theirs = list(network.named_parameters())
    assert [t.shape for t in tensors] == [tuple(p.shape) for _, p in theirs]
    for t, (name, _) in zip(tensors, theirs):  # the layer's module, or a module inside it (a padded conv's)
        assert name.startswith(network.module_names[t.path] + ".") and name.endswith("." + t.name)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "densenet121", "convnext_tiny"])
def test_zoo_parameter_tensors_and_units_are_the_modules(name):
    spec = cnnsize.load(name)
    network = build_network(spec)
    model = layout(resolve(spec))
    ours = [(f"{network.module_names[t.path]}.{t.name}", t.shape) for t in model.tensors]
    assert ours == [(n, tuple(p.shape)) for n, p in network.named_parameters()]
    for unit in model.units[1:]:  # a unit's tensors are the parameters of its composite's module
        module = network.module_names[unit.path]
        inside = [n for n, _ in network.named_parameters() if n.startswith(module + ".")]
        assert [f"{network.module_names[t.path]}.{t.name}" for t in unit.tensors] == inside


@pytest.mark.parametrize("name, ranks", [("resnet50", 8), ("resnet18", 3), ("mobilenet_v2", 5)])
def test_zero1_partition_is_torch_s(name, ranks):
    # ZeroRedundancyOptimizer's own partitioning, run on meta tensors of the same shapes without a
    # process group: the elements each rank owns are the planner's
    import torch
    from torch.distributed.optim import ZeroRedundancyOptimizer

    from cnnsize.parallel import zero1_partition

    tensors = layout(resolve(cnnsize.load(name))).tensors
    zero = ZeroRedundancyOptimizer.__new__(ZeroRedundancyOptimizer)
    zero.param_groups = [{"params": [torch.empty(t.shape, device="meta") for t in tensors]}]
    zero.world_size = ranks
    zero._partition_parameters_cache = []
    partition = zero._partition_parameters()
    theirs = [sum(p.numel() for group in groups for p in group["params"]) for groups in partition]
    assert zero1_partition(tensors, ranks) == theirs
    if name == "resnet50":  # docs/memory.md's figures
        assert theirs == [3194472, 3194496, 3194880, 3194880, 3194880, 3194496, 3194496, 3194432]


def test_fsdp2_shards_are_torch_s():
    # torch.chunk on dim 0, as FSDP2's _chunk_with_empty: each rank's rows, and the padded chunk
    import torch

    from cnnsize.parallel import ParamTensor

    for shape, ranks in [((6, 4, 1, 1), 4), ((1000, 2048), 8), ((2,), 4), ((7, 3), 3), ((5,), 8)]:
        t = ParamTensor(("layers", 0), "weight", shape)
        chunks = torch.chunk(torch.empty(shape, device="meta"), ranks, dim=0)
        rows = [c.shape[0] for c in chunks] + [0] * (ranks - len(chunks))
        rest = t.numel // shape[0]
        assert [t.local(ranks, r) for r in range(ranks)] == [n * rest for n in rows]
        assert t.padded_shard(ranks) == chunks[0].numel()


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2"])
def test_ddp_buckets_are_torch_s(name):
    # the Reducer's rebuilt buckets: torch's own assignment over the gradients in the order they
    # become ready (the parameters reversed), capped at 1 MiB then 25 MiB
    import torch
    import torch.distributed as dist

    from cnnsize.parallel import DDP_BUCKET_CAP, DDP_FIRST_BUCKET, ddp_buckets

    tensors = layout(resolve(cnnsize.load(name))).tensors
    ready = [torch.empty(t.shape, device="meta") for t in reversed(tensors)]
    buckets, _ = dist._compute_bucket_assignment_by_size(
        ready, [DDP_FIRST_BUCKET, DDP_BUCKET_CAP], [False] * len(ready)
    )
    assert ddp_buckets(tensors, 4) == [sum(ready[i].numel() for i in bucket) for bucket in buckets]
    if name == "resnet50":  # docs/memory.md's figures
        assert ddp_buckets(tensors, 4) == [2049000, 7875584, 6563840, 6637568, 2431040]
