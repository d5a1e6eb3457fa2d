"""The importer's three features together (cnnsize/backend/importer.py): a module called again
(shared weights), functional calls and the hand-written channel shuffle in one module; units
written with functional calls folding into one block; and a ShuffleNet built by cnnsize imported
and folded through the command."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

import cnnsize
from cnnsize.backend import importer
from cnnsize.backend.importer import load_target, to_spec
from cnnsize.cli import app

MODULES = """
import torch
import torch.nn.functional as F
from torch import nn

import cnnsize
from cnnsize.loader import with_input


class Combined(nn.Module):
    # one convolution called twice, an F.interpolate, and ShuffleNet's shuffle written out
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.conv(x)
        x = F.interpolate(x, scale_factor=2)
        n, c, h, w = x.size()
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, -1, h, w)
        return self.head(x)


class Unit(nn.Module):
    # ShuffleNet v2's unit with functional calls: chunk, F.relu, torch.cat, the shuffle by hand
    def __init__(self, c):
        super().__init__()
        half = c // 2
        self.pw = nn.Conv2d(half, half, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.dw = nn.Conv2d(half, half, 3, padding=1, groups=half, bias=False)
        self.bn2 = nn.BatchNorm2d(half)

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        b = self.bn2(self.dw(F.relu(self.bn1(self.pw(b)))))
        out = torch.cat((a, b), dim=1)
        n, c, h, w = out.size()
        return out.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, -1, h, w)


class Units(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.unit1 = Unit(16)
        self.unit2 = Unit(16)
        self.unit3 = Unit(16)

    def forward(self, x):
        return self.unit3(self.unit2(self.unit1(self.stem(x))))


def shufflenet():
    return cnnsize.build(with_input(cnnsize.load("shufflenet_v2_x1_0"), (3, 32, 32)))
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("combined") / "combined.py"
    path.write_text(textwrap.dedent(MODULES), encoding="utf-8")
    return path


def figures(data: dict[str, Any]) -> tuple[Any, ...]:
    report = cnnsize.analyze(cnnsize.load(json.dumps(data)))
    return report.totals.params, report.totals.macs, report.totals.flops, report.output_shape


def measured(model: torch.nn.Module, shape: tuple[int, ...]) -> tuple[int, int]:
    """PyTorch's own count of parameters and FLOPs (one sample, eval)."""
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, *shape))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops()


def imported(target: str, shape: str, *options: str) -> dict[str, Any]:
    done = CliRunner().invoke(app, ["import", target, "--input", shape, *options])
    assert done.exit_code == 0, done.output
    return yaml.safe_load(done.stdout)


def test_a_conv_called_twice_an_interpolate_and_a_shuffle_import_together(models: Path) -> None:
    model = load_target(f"{models}:Combined")
    data = to_spec(model, (8, 6, 6), "Combined")
    assert data["layers"] == [
        {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1, "bias": False, "name": "conv"},
        {"type": "batchnorm2d", "name": "bn"},
        {"type": "relu", "name": "relu"},
        {"shares": "conv", "name": "conv_2"},
        {"type": "upsample", "scale_factor": 2, "name": "interpolate"},
        {"type": "channel_shuffle", "groups": 2, "name": "channel_shuffle"},
        {"type": "conv2d", "out_channels": 4, "kernel_size": 1, "name": "head"},
    ]
    params, macs, flops, output = figures(data)
    # conv 8*8*9 once (shared), bn 2*8, head 8*4 + 4: unshared, the conv would count 576 more
    assert params == 8 * 8 * 9 + 2 * 8 + (8 * 4 + 4) == 628
    # the conv at 6x6 twice, the head at 12x12 after the upsampling by 2
    assert macs == 2 * (8 * 8 * 9 * 6 * 6) + 8 * 4 * 12 * 12
    assert (params, flops) == measured(model, (8, 6, 6))  # and PyTorch counts the same
    assert output == (4, 12, 12)
    importer.checked(model, data)  # parameters, buffers and FLOPs against the module: no error


def test_the_combined_module_imports_the_same_through_torch_export(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_target(f"{models}:Combined")
    by_fx = to_spec(model, (8, 6, 6), "Combined")

    def refuse(*args: Any) -> None:
        raise RuntimeError("fx refused")

    monkeypatch.setattr(importer, "fx_traced", refuse)
    by_export = to_spec(model, (8, 6, 6), "Combined")
    assert by_export["description"].startswith("traced with torch.export")
    # the shared conv keeps its name and `shares:`; torch.export names the upsampling after its ATen op
    assert [layer for layer in by_export["layers"] if "shares" in layer] == [{"shares": "conv", "name": "conv_2"}]
    assert [{k: v for k, v in layer.items() if k != "name"} for layer in by_export["layers"]] == [
        {k: v for k, v in layer.items() if k != "name"} for layer in by_fx["layers"]
    ]
    assert figures(by_export) == figures(by_fx)


def test_units_written_with_functional_calls_fold_into_one_block(models: Path) -> None:
    flat = imported(f"{models}:Units", "3,8,8", "--no-fold")
    # each call is named after the unit whose forward made it: the same names below every unit
    assert [layer["name"] for layer in flat["layers"] if layer["name"].startswith("unit2.")] == [
        "unit2.chunk",
        "unit2.pw",
        "unit2.bn1",
        "unit2.relu",
        "unit2.dw",
        "unit2.bn2",
        "unit2.cat",
        "unit2.channel_shuffle",
    ]
    folded = imported(f"{models}:Units", "3,8,8")
    uses = [(layer["block"], layer["name"]) for layer in folded["layers"] if "block" in layer]
    assert uses == [("unit", "unit1"), ("unit", "unit2"), ("unit", "unit3")]
    assert [layer["type"] for layer in folded["blocks"]["unit"]["layers"]][-1] == "channel_shuffle"
    params, _, flops, _ = figures(folded)
    assert figures(folded) == figures(flat)
    # stem 3*16*9 + 16; each unit 8*8 (pw) + 8*9 (dw) + 2 * 2*8 (two batch norms) = 168
    assert params == 3 * 16 * 9 + 16 + 3 * (8 * 8 + 8 * 9 + 2 * 2 * 8) == 952
    assert (params, flops) == measured(load_target(f"{models}:Units"), (3, 8, 8))


def test_a_shufflenet_built_by_cnnsize_imports_and_folds(models: Path, one_torch_thread: None) -> None:
    flat = imported(f"{models}:shufflenet", "3,32,32", "--no-fold")
    folded = imported(f"{models}:shufflenet", "3,32,32")
    assert folded["blocks"] and len(folded["layers"]) < len(flat["layers"])
    inside = [layer.get("type") for block in folded["blocks"].values() for layer in block["layers"]]
    assert "channel_shuffle" in inside and "chunk" in inside  # the stride-1 units, folded
    assert figures(folded) == figures(flat)
    params, _, flops, _ = figures(flat)
    assert (params, flops) == measured(load_target(f"{models}:shufflenet"), (3, 32, 32))


def test_a_built_network_of_executor_modules_imports_the_same_through_torch_export(
    monkeypatch: pytest.MonkeyPatch, one_torch_thread: None
) -> None:
    """torch.export keeps whole the modules torch.fx keeps (cnnsize's split and chunk among them,
    whose pieces later layers read as ports): the same layers and names, less the stochastic depth,
    which export (in eval mode) sees pass its input on."""
    from test_import_blocks import EXECUTORS, module_figures, report_figures

    spec = cnnsize.load(EXECUTORS)
    net = cnnsize.build(spec)
    by_fx = to_spec(net, (8, 12, 12), "executors")

    def refuse(*args: Any) -> None:
        raise RuntimeError("fx refused")

    monkeypatch.setattr(importer, "fx_traced", refuse)
    by_export = to_spec(net, (8, 12, 12), "executors")
    assert by_export["description"].startswith("traced with torch.export")
    assert by_export["layers"] == [layer for layer in by_fx["layers"] if layer["type"] != "stochastic_depth"]
    assert report_figures(by_export) == module_figures(net, (8, 12, 12))
