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
