"""Importing what `cnnsize.build` makes (cnnsize/backend/import_blocks.py): the executor's own
modules map back to their kinds, fx traces through `Network.forward`, and for every zoo network the
imported spec counts what the built module counts (its own `sum(p.numel())`, buffers and
`FlopCounterMode`) and what the zoo spec reports, folded into blocks or not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

import cnnsize
from cnnsize import zoo
from cnnsize.backend.importer import to_spec
from cnnsize.cli import app
from cnnsize.folding import fold
from cnnsize.loader import with_input

# The smallest inputs comfortable for each network (their adaptive pooling takes any size): 32x32
# keeps five halvings >= 1 pixel; AlexNet's and SqueezeNet's stems need more. LeNet-5 at its own.
SMALL = {"lenet5": None, "alexnet": (3, 64, 64), "squeezenet1_0": (3, 64, 64), "squeezenet1_1": (3, 64, 64)}


def module_figures(net: torch.nn.Module, shape: tuple[int, ...]) -> dict[str, Any]:
    """What PyTorch itself says of `net`, for one sample of `shape`."""
    buffers = sum(b.numel() for n, b in net.named_buffers() if not n.endswith("num_batches_tracked"))
    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = net(torch.randn(1, *shape))
    return {
        "params": sum(p.numel() for p in net.parameters()),
        "non_trainable_params": buffers,  # batch norm's running mean and variance
        "flops": counter.get_total_flops(),
        "output_shape": tuple(out.shape[1:]),
    }


def report_figures(data: Any) -> dict[str, Any]:
    report = cnnsize.analyze(data if isinstance(data, cnnsize.Spec) else cnnsize.load(json.dumps(data)))
    totals = report.totals
    return {
        "params": totals.params,
        "non_trainable_params": totals.non_trainable_params,
        "flops": totals.flops,
        "output_shape": report.output_shape,
    }


def test_the_zoo_lists_21_networks() -> None:
    assert len(zoo.MODELS) == 21


@pytest.mark.parametrize("name", list(zoo.MODELS))
def test_every_zoo_network_built_by_cnnsize_imports_to_its_own_figures(name: str, one_torch_thread: None) -> None:
    spec = cnnsize.load(name)
    shape = SMALL.get(name, (3, 32, 32))
    if shape is not None:
        spec = with_input(spec, shape)
    torch.manual_seed(0)
    net = cnnsize.build(spec)
    data = to_spec(net, tuple(spec.input), name)
    measured = module_figures(net, tuple(spec.input))
    assert report_figures(data) == measured
    assert report_figures(spec) == measured  # and the zoo spec's own report
    folded = fold(data)
    assert report_figures(folded) == measured
    assert len(folded["layers"]) < len(data["layers"]) or name in ("lenet5", "alexnet")  # nothing repeats there
    # and `verify` builds the imported spec and passes: every shape, count and saved tensor measured
    from cnnsize.backend.verifier import VerifyOptions, verify

    options = VerifyOptions(device="cpu", batch_size=2, timed=False)  # batch norm in training: 2 values on 1x1 maps
    result = verify(cnnsize.load(json.dumps(folded)), options)
    assert result.passed, result.failures()


def test_names_are_the_spec_module_paths() -> None:
    spec = with_input(cnnsize.load("resnet18"), (3, 32, 32))
    net = cnnsize.build(spec)
    names = [layer["name"] for layer in to_spec(net, (3, 32, 32), "resnet18")["layers"]]
    assert names[:2] == ["conv1", "bn1"]  # the zoo spec names them so
    for name in names:
        net.layers.get_submodule(name)  # each is the path of the module built for it


EXECUTORS = """
input: [8, 12, 12]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: same, name: padded}  # 1 row/col more at the end
  - {type: split, split_size_or_sections: [3, 5], names: [a, b]}
  - {type: channel_maxpool, kernel_size: 5, from: b}
  - {type: cat, from: [a, -1]}
  - {type: layer_scale, init_value: 0.5}
  - {type: stochastic_depth, p: 0.25, mode: batch}
  - {type: center_crop, size: [4, 5]}
  - {type: reshape, shape: [4, 2, 10]}
  - {type: layernorm2d, eps: 1.0e-6, bias: false}
  - {type: chunk, chunks: 2, dim: 2, name: halves}
  - {type: mul, from: [halves.0, halves.1]}
"""


def test_each_executor_module_maps_back_to_its_kind(one_torch_thread: None) -> None:
    spec = cnnsize.load(EXECUTORS)
    net = cnnsize.build(spec)
    data = to_spec(net, (8, 12, 12), "executors")
    layers = {layer["type"]: layer for layer in data["layers"]}
    # same padding at stride 2 on 12: out 6, total padding (6 - 1) * 2 + 3 - 12 = 1, at the bottom/right
    assert layers["conv2d"]["padding"] == [0, 1, 0, 1]
    assert layers["split"]["split_size_or_sections"] == [3, 5]
    assert layers["channel_maxpool"] == {"type": "channel_maxpool", "kernel_size": 5, "name": "2", "from": "1.1"}
    assert layers["cat"]["from"] == ["1.0", "2"]
    assert layers["layer_scale"]["init_value"] == 0.5
    assert (layers["stochastic_depth"]["p"], layers["stochastic_depth"]["mode"]) == (0.25, "batch")
    assert layers["center_crop"]["size"] == [4, 5]
    assert layers["reshape"]["shape"] == [4, 2, 10]
    assert (layers["layernorm2d"]["eps"], layers["layernorm2d"]["bias"]) == (1e-6, False)
    assert (layers["chunk"]["chunks"], layers["chunk"]["dim"]) == (2, 2)
    assert layers["mul"]["from"] == ["halves.0", "halves.1"]
    assert report_figures(data) == module_figures(net, (8, 12, 12)) == report_figures(spec)


def test_a_network_of_several_inputs_is_refused_with_the_reason() -> None:
    spec = cnnsize.load("inputs: {a: [2, 4, 4], b: [2, 4, 4]}\nlayers:\n  - {type: add, from: [a, b]}\n")
    with pytest.raises(cnnsize.CnnsizeError, match="the network has 2 inputs; import takes one"):
        to_spec(cnnsize.build(spec), (2, 4, 4), "two")


def test_the_command_imports_a_built_network_and_folds_it(tmp_path: Path) -> None:
    path = tmp_path / "built.py"
    path.write_text("import cnnsize\n\n\ndef net():\n    return cnnsize.build(cnnsize.load('squeezenet1_1'))\n")
    done = CliRunner().invoke(app, ["import", f"{path}:net", "--input", "3,64,64"])
    assert done.exit_code == 0, done.output
    data = yaml.safe_load(done.stdout)
    # squeezenet1_1's eight Fire modules: squeeze, then two expands joined by a cat, one structure
    fires = [layer["name"] for layer in data["layers"] if "block" in layer]
    assert len(fires) == 8 and len(data["blocks"]) == 1
    spec = with_input(cnnsize.load("squeezenet1_1"), (3, 64, 64))
    assert report_figures(data) == report_figures(spec)


def test_function_calls_are_named_below_the_module_that_makes_them_never_as_a_module() -> None:
    from torch import nn

    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.conv(x) + x)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.relu = nn.Sequential(Pair(), Pair())  # a container named like the call below

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.relu(x))

    names = [layer["name"] for layer in to_spec(Net(), (4, 3, 3), "net")["layers"]]
    assert names == ["relu.0.conv", "relu.0.add", "relu.0.relu", "relu.1.conv", "relu.1.add", "relu.1.relu", "relu_1"]
