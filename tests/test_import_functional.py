"""`cnnsize import` of modules written with functional calls and tensor methods
(cnnsize/backend/import_functions.py), through torch.export where torch.fx cannot trace
(cnnsize/backend/import_export.py), and without torch: each imported spec counts what the module
counts (`sum(p.numel())`, its buffers, FlopCounterMode), passes `verify`, and, with the module's
weights, computes what the module computes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

import cnnsize
from cnnsize.backend import importer
from cnnsize.backend.importer import Unmapped, checked, load_target, to_spec
from cnnsize.backend.verifier import VerifyOptions, verify
from cnnsize.cli import app
from cnnsize.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]

STYLES = """
import torch
import torch.nn.functional as F
from torch import nn


class ShuffleUnit(nn.Module):
    # ShuffleNet v2's unit: half the channels through a branch, cat, then the shuffle by hand
    # (a function of the module's file, torch.transpose; ShapeBranch writes it with methods)
    def __init__(self, c=8):
        super().__init__()
        half = c // 2
        self.pw1 = nn.Conv2d(half, half, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.dw = nn.Conv2d(half, half, 3, padding=1, groups=half, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.pw2 = nn.Conv2d(half, half, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(half)

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        b = F.relu(self.bn1(self.pw1(b)), inplace=True)
        b = self.bn2(self.dw(b))
        b = F.relu(self.bn3(self.pw2(b)))
        return channel_shuffle(torch.cat((a, b), dim=1), 2)


def channel_shuffle(x, groups):
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(n, -1, h, w)


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.enc2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.mid = nn.Conv2d(16, 16, 3, padding=1)
        self.dec2 = nn.Conv2d(32, 8, 3, padding=1)
        self.dec1 = nn.Conv2d(16, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 2, 1)
        self.up = nn.Upsample(size=(32, 32), mode="bilinear", align_corners=True)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        m = F.relu(self.mid(F.max_pool2d(e2, 2)))
        up = F.interpolate(m, scale_factor=2, mode="bilinear", align_corners=False)
        d2 = F.relu(self.dec2(torch.cat([up, e2], dim=1)))
        d1 = F.relu(self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[2:]), e1], 1)))
        return self.head(self.up(d1))


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.norm = nn.InstanceNorm2d(8, affine=True, track_running_stats=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.gate = nn.Identity()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu6(self.norm(self.conv(x)))
        y = F.gelu(F.silu(self.conv2(x)))
        y = F.hardswish(y) * torch.sigmoid(y)
        x = torch.add(x, y)
        x += F.hardsigmoid(x)
        x = x.relu().mul(x.sigmoid())
        x = F.dropout(x, 0.2, training=self.training)
        x = self.gate(F.avg_pool2d(x, 2))
        return self.fc(x.mean((2, 3)))


class Flat(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(torch.relu(self.conv(x)), 6)
        return self.fc(x.view(x.size(0), -1))


class SplitNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 2, 1)
        self.b = nn.Conv2d(4, 4, 1)
        self.ln = nn.LayerNorm(6)

    def forward(self, x):
        p, q = torch.split(x, [2, 4], dim=1)
        x = torch.cat([self.a(p), self.b(q)], dim=1).mean([2, 3], keepdim=True)
        x = self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x.reshape(x.shape[0], -1)


class SE(nn.Module):
    def __init__(self, c=8):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3, padding=1)
        self.fc1 = nn.Conv2d(c, 2, 1)
        self.fc2 = nn.Conv2d(2, c, 1)

    def forward(self, x):
        x = F.silu(self.conv(x))
        s = x.mean((2, 3), keepdim=True)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * s


class SELinear(nn.Module):
    # squeeze-and-excitation with linear layers: squeezes and unsqueezes through a 3-D view
    def __init__(self, c=8):
        super().__init__()
        self.fc1 = nn.Linear(c, 2)
        self.fc2 = nn.Linear(2, c)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1).squeeze(-1).squeeze(-1)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * s.unsqueeze(-1).unsqueeze(-1)


class SEExpand(SELinear):
    # squeeze-and-excitation as torchvision-era code writes it: the gate expanded to the input's shape
    def forward(self, x):
        b, c, _, _ = x.size()
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1).view(b, c)))))
        return x * s.view(b, c, 1, 1).expand_as(x)


class ExpandRead(SELinear):
    # the expanded gate read by a layer: it would see the gate's [8, 1, 1], not [8, 5, 5]
    def forward(self, x):
        b, c, _, _ = x.size()
        s = self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1).view(b, c))))
        return torch.sigmoid(s.view(b, c, 1, 1).expand_as(x)) * x


class Computed(nn.Module):
    # sizes computed from the input's: read from the shapes the trace recorded
    def forward(self, x):
        c = x.size(1)
        a, b = x.split([c // 4, c - c // 4], dim=1)
        h = x.shape[2] // 2
        return torch.cat([F.adaptive_avg_pool2d(b, (h, None)), F.adaptive_max_pool2d(a, (h, x.size(3)))], 1)


class KernelComputed(nn.Module):
    def forward(self, x):
        return F.max_pool2d(x, x.size(2))


class Padded(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        x = F.softmax(self.conv(F.pad(x, (1, 1, 2, 0))), dim=1)
        return F.leaky_relu(x, 0.2) * F.elu(x)


class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        y = self.a(x)
        return y, self.b(y)


class ShapeBranch(nn.Module):
    # Python control flow on a size: torch.fx cannot trace it, torch.export can
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        if x.shape[-1] > 8:
            x = F.max_pool2d(x, 2)
        a, b = x.chunk(2, dim=1)
        x = torch.cat([b, a], dim=1)
        y = F.relu(self.bn(self.conv(x))) + x
        n, c, h, w = y.shape
        y = y.view(n, 4, c // 4, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        y = F.interpolate(F.relu6(y), scale_factor=2)
        return torch.flatten(y.mean((2, 3)), 1)


class DataBranch(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x


class Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 3, 3, 3))
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        y = F.conv2d(x, self.weight)
        z = self.conv(x).transpose(2, 3)
        return y, z * 2


class Unassigned(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        x = self.conv(x)
        x.relu_()
        F.hardswish(x, inplace=True)
        return x


class Lone(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm([3, 4, 4])

    def forward(self, x):
        return self.ln(x).view(x.size(0), 3, 2, 2, 4)


class Gamma(nn.Module):
    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(3, 1, 1))

    def forward(self, x):
        return x * self.gamma


class Whole(nn.Module):
    def forward(self, x):
        return torch.cat(x.chunk(2, 1), 1)


class Mished(nn.Module):
    def __init__(self):
        super().__init__()
        self.act = nn.Mish()

    def forward(self, x):
        return self.act(x)


class ExportOdd(nn.Module):
    def forward(self, x):
        if x.shape[1] == 3:
            x = torch.matmul(x, x)
        return x
"""


@pytest.fixture(scope="module")
def styles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("styles") / "styles.py"
    path.write_text(textwrap.dedent(STYLES), encoding="utf-8")
    return path


def flops_of(model: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


def with_weights_of(model: torch.nn.Module, data: dict) -> torch.nn.Module:
    """The spec built by cnnsize, each named layer given the weights of the module at that path."""
    built = cnnsize.build(cnnsize.load(json.dumps(data)))
    for index, layer in enumerate(data["layers"]):
        try:
            state = model.get_submodule(layer["name"]).state_dict()  # a module path; a call's name is none
        except AttributeError:
            continue
        target = built.get_submodule(built.module_names[("layers", index)])
        target.load_state_dict(dict(zip(target.state_dict(), state.values())))
    return built.eval()


# (name, input, parameters, buffers), each figure from the module's own definition
STYLED = [
    # 1x1 4*4, depthwise 4*9, 1x1 4*4 without bias; three batch norms of 4: 2*4 weights, 2*4 buffers each
    ("ShuffleUnit", (8, 6, 6), 16 + 36 + 16 + 3 * 8, 3 * 8),
    # 3*8*9+8, 8*16*9+16, 16*16*9+16, 32*8*9+8, 16*8*9+8, 8*2+2; batch norms 2*8 and 2*16 (buffers the same)
    ("UNet", (3, 16, 16), 224 + 1168 + 2320 + 2312 + 1160 + 18 + 16 + 32, 16 + 32),
    # 3*8*9+8, instance norm 2*8 (and 2*8 running statistics), 8*8*9+8, linear 8*4+4
    ("Functional", (3, 16, 16), 224 + 16 + 584 + 36, 16),
    # 3*4*9+4, linear 144*3+3
    ("Flat", (3, 14, 14), 112 + 435, 0),
    # 2*2+2, 4*4+4, layer norm 2*6
    ("SplitNorm", (6, 4, 4), 6 + 20 + 12, 0),
    # 3*8*9+8, 8*2+2, 2*8+8
    ("SE", (3, 6, 6), 224 + 18 + 24, 0),
    # linear 8*2+2, 2*8+8
    ("SELinear", (8, 5, 5), 18 + 24, 0),
    # the same linear layers, 8*2+2 and 2*8+8 (expand_as was unmapped)
    ("SEExpand", (8, 5, 5), 18 + 24, 0),
    ("Computed", (8, 4, 4), 0, 0),
    # 3*4*9+4
    ("Padded", (3, 6, 6), 112, 0),
    # 3*4+4, 4*4+4
    ("Heads", (3, 6, 6), 16 + 20, 0),
    # 8*8*9 without bias, batch norm 2*8 (and 2*8 running statistics)
    ("ShapeBranch", (8, 12, 12), 576 + 16, 16),
    ("ShapeBranch", (8, 6, 6), 576 + 16, 16),
]


@pytest.mark.parametrize(("name", "shape", "params", "buffers"), STYLED)
def test_an_imported_module_counts_and_computes_what_the_module_does(styles, name, shape, params, buffers):
    model = load_target(f"{styles}:{name}")
    data = to_spec(model, shape, name)
    checked(model, data)
    report = cnnsize.analyze(cnnsize.load(json.dumps(data)))
    assert report.totals.params == sum(p.numel() for p in model.parameters()) == params
    assert report.totals.non_trainable_params == buffers
    x = torch.randn(1, *shape)
    model.eval()
    assert report.totals.flops == flops_of(model, x)
    with torch.no_grad():
        assert same(with_weights_of(model, data)(x), model(x))
    verified = verify(cnnsize.load(json.dumps(data)), VerifyOptions(device="cpu", batch_size=2, timed=False))
    assert verified.passed, "\n".join(verified.failures())


def same(a, b) -> bool:
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "shape", "params", "buffers"),
    [s for s in STYLED if s[0] in ("UNet", "Functional", "SplitNorm", "SELinear", "SEExpand")],
)
def test_torch_export_maps_the_same_calls(styles, monkeypatch, name, shape, params, buffers):
    """Each style imported through torch.export (as if fx had failed) gives the spec fx gives,
    less the names torch.export chose otherwise."""
    model = load_target(f"{styles}:{name}")
    by_fx = to_spec(model, shape, name)

    def refuse(*args):
        raise RuntimeError("fx refused")

    monkeypatch.setattr(importer, "fx_traced", refuse)
    by_export = to_spec(model, shape, name)
    assert "torch.export" in by_export["description"] and "fx refused" in by_export["description"]
    keep = ("name", "from")
    # fx traces the module as it is (training: F.dropout(x, 0.2, self.training) is a dropout),
    # export in eval mode (the dropout passes its input on, no layer)
    assert [{k: v for k, v in layer.items() if k not in keep} for layer in by_export["layers"]] == [
        {k: v for k, v in layer.items() if k not in keep} for layer in by_fx["layers"] if layer["type"] != "dropout"
    ]
    checked(model, by_export)
    x = torch.randn(1, *shape)
    model.eval()
    with torch.no_grad():
        assert same(with_weights_of(model, by_export)(x), model(x))


def layers_of(styles: Path, name: str, shape: tuple[int, ...]) -> list[dict]:
    return to_spec(load_target(f"{styles}:{name}"), shape, name)["layers"]


def test_chunk_outputs_are_ports_and_the_hand_written_shuffle_is_one_layer(styles):
    layers = layers_of(styles, "ShuffleUnit", (8, 6, 6))
    assert layers[0] == {"type": "chunk", "chunks": 2, "name": "chunk"}
    assert layers[1]["from"] == "chunk.1"  # b = the second half
    assert next(layer for layer in layers if layer["type"] == "cat")["from"] == ["chunk.0", "relu_1"]
    assert layers[-1] == {"type": "channel_shuffle", "groups": 2, "name": "channel_shuffle"}
    assert not any(layer["type"] in ("reshape", "flatten") for layer in layers)


def test_interpolate_by_factor_or_by_size_is_upsampling(styles):
    ups = [layer for layer in layers_of(styles, "UNet", (3, 16, 16)) if layer["type"] == "upsample"]
    # 4x4 -> 8x8 by scale_factor=2, bilinear; 8x8 -> 16x16 by size=e1.shape[2:], nearest;
    # nn.Upsample(size=(32, 32)) of 16x16
    assert ups == [
        {"type": "upsample", "scale_factor": 2, "mode": "bilinear", "name": "interpolate"},
        {"type": "upsample", "scale_factor": 2, "name": "interpolate_1"},
        {"type": "upsample", "scale_factor": 2, "mode": "bilinear", "align_corners": True, "name": "up"},
    ]


def test_functional_calls_and_methods_become_their_kinds(styles):
    layers = layers_of(styles, "Functional", (3, 16, 16))
    kinds = [layer["type"] for layer in layers]
    assert kinds[:3] == ["conv2d", "instancenorm2d", "relu6"]
    assert layers[1] == {"type": "instancenorm2d", "affine": True, "track_running_stats": True, "name": "norm"}
    # dropout while training, the identity dropped, x.mean((2, 3)) a global pooling and a flatten
    assert kinds[-5:] == ["dropout", "avgpool2d", "global_avgpool2d", "flatten", "linear"]
    assert "identity" not in kinds and kinds.count("add") == 2 and kinds.count("mul") == 2


def test_views_through_ranks_a_spec_cannot_hold_are_one_layer(styles):
    layers = layers_of(styles, "SELinear", (8, 5, 5))
    # (N, 8, 1, 1) -> (N, 8, 1) -> (N, 8) is one flatten; (N, 8) -> (N, 8, 1) -> (N, 8, 1, 1) one reshape
    assert [layer["type"] for layer in layers] == [
        *("adaptive_avgpool2d", "flatten", "linear", "relu", "linear", "sigmoid", "reshape", "mul")
    ]
    assert layers[6]["shape"] == [8, 1, 1] and layers[7]["from"] == ["input", layers[6]["name"]]


def test_sizes_computed_in_forward_are_read_from_the_trace(styles):
    layers = layers_of(styles, "Computed", (8, 4, 4))
    # [c // 4, c - c // 4] of 8 channels; (h, None) and (h, x.size(3)) of 4x4: 2x4
    assert layers[0]["split_size_or_sections"] == [2, 6]
    assert [layer["output_size"] for layer in layers[1:3]] == [[2, 4], [2, 4]]


def test_several_outputs_are_listed(styles):
    data = to_spec(load_target(f"{styles}:Heads"), (3, 6, 6), "Heads")
    assert data["outputs"] == ["a", "b"]


def test_zero_padding_is_in_cnnsizes_order(styles):
    pad = layers_of(styles, "Padded", (3, 6, 6))[0]
    # F.pad's (left, right, top, bottom) = (1, 1, 2, 0) is [top, bottom, left, right] = [2, 0, 1, 1]
    assert pad == {"type": "zeropad2d", "padding": [2, 0, 1, 1], "name": "pad"}


def test_views_split_and_channels_last_layer_norm(styles):
    flat = layers_of(styles, "Flat", (3, 14, 14))
    assert [layer["type"] for layer in flat] == ["conv2d", "relu", "adaptive_avgpool2d", "flatten", "linear"]
    split = layers_of(styles, "SplitNorm", (6, 4, 4))
    assert split[0] == {"type": "split", "split_size_or_sections": [2, 4], "name": "split"}
    assert [layer["type"] for layer in split[3:]] == ["cat", "global_avgpool2d", "layernorm2d", "flatten"]
    assert split[5]["name"] == "ln"


def test_torch_export_traces_what_fx_cannot_and_the_spec_says_so(styles):
    model = load_target(f"{styles}:ShapeBranch")
    big, small = to_spec(model, (8, 12, 12), "ShapeBranch"), to_spec(model, (8, 6, 6), "ShapeBranch")
    assert big["description"].startswith("traced with torch.export")
    assert "torch.fx: TraceError" in big["description"]
    # the branch taken for 12x12 pools first; for 6x6 it does not
    assert [layer["type"] for layer in big["layers"]][:2] == ["maxpool2d", "chunk"]
    assert [layer["type"] for layer in small["layers"]][:1] == ["chunk"]
    kinds = [layer["type"] for layer in big["layers"]]
    assert kinds[-5:] == ["channel_shuffle", "relu6", "upsample", "global_avgpool2d", "flatten"]
    conv = next(layer for layer in big["layers"] if layer["type"] == "conv2d")
    assert conv["name"] == "conv" and "from" not in conv  # the module's path, from nn_module_stack
    assert next(layer for layer in big["layers"] if layer["type"] == "add")["from"] == ["relu", "cat"]


def test_an_exported_spec_comes_back_the_same_through_torch_export(tmp_path, monkeypatch):
    """`cnnsize export` then import through torch.export: the U-Net's transposed convolutions,
    batch norms and `torch.cat` skips give the spec's own figures."""
    path = tmp_path / "net.py"
    assert CliRunner().invoke(app, ["export", "specs/unet.yaml", "--torch", "-o", str(path)]).exit_code == 0
    spec = cnnsize.load(ROOT / "specs" / "unet.yaml")
    monkeypatch.setattr(importer, "fx_traced", lambda *args: _refuse())
    data = to_spec(load_target(f"{path}:Net"), tuple(spec.input), "Net")
    assert data["description"].startswith("traced with torch.export")
    again, first = cnnsize.analyze(cnnsize.load(json.dumps(data))), cnnsize.analyze(spec)
    assert (again.totals.params, again.totals.macs, again.output_shape) == (
        first.totals.params,
        first.totals.macs,
        first.output_shape,
    )


def _refuse():
    raise RuntimeError("fx refused")


def test_when_neither_tracer_can_one_message_names_both(styles):
    with pytest.raises(UsageError) as caught:
        to_spec(load_target(f"{styles}:DataBranch"), (3, 4, 4), "DataBranch")
    message = str(caught.value)
    assert message.startswith("cannot trace DataBranch: torch.fx: TraceError: ")
    assert "; torch.export: " in message and "\n" not in message


def test_unmapped_calls_are_listed_with_their_reason_and_source_line(styles):
    with pytest.raises(Unmapped) as caught:
        to_spec(load_target(f"{styles}:Odd"), (3, 8, 8), "Odd")
    message = str(caught.value)
    assert "no cnnsize kind for 3 node(s)" in message
    assert "F.conv2d with weights passed in" in message and "y = F.conv2d(x, self.weight)" in message
    assert "transpose alone has no kind" in message and "z = self.conv(x).transpose(2, 3)" in message
    assert "mul with a constant (2)" in message and "return y, z * 2" in message


@pytest.mark.parametrize(
    ("name", "shape", "says"),
    [
        ("Unassigned", (3, 4, 4), "2 node(s): relu_: its result is not used"),
        ("Lone", (3, 4, 4), "LayerNorm over [3, 4, 4]: only a layer norm over the channels"),
        ("ExportOdd", (3, 4, 4), "matmul: call_function matmul at styles.py:"),
        ("Gamma", (3, 4, 4), "mul reads gamma directly: no layer owns it"),
        ("Mished", (3, 4, 4), "act: Mish: no kind for this module at styles.py:"),
        ("KernelComputed", (3, 4, 4), "max_pool2d: an argument computed in forward at styles.py:"),
        ("Whole", (4, 2, 2), "cat: reads all of chunk's pieces as one value"),
        ("ExpandRead", (8, 5, 5), "expand_as read by sigmoid: only + or * with a tensor of its shape"),
    ],
)
def test_what_no_kind_stands_for_fails_the_import(styles, name, shape, says):
    with pytest.raises(Unmapped, match="no cnnsize kind") as caught:
        to_spec(load_target(f"{styles}:{name}"), shape, name)
    assert says in str(caught.value)


def test_the_command_writes_the_spec_and_fails_on_unmapped_calls(styles):
    runner = CliRunner()
    done = runner.invoke(app, ["import", f"{styles}:ShuffleUnit", "--input", "8,6,6"])
    assert done.exit_code == 0, done.output
    assert "description: traced with torch.fx" in done.stdout
    assert cnnsize.analyze(cnnsize.load(done.stdout)).output_shape == (8, 6, 6)
    done = runner.invoke(app, ["import", f"{styles}:Odd", "--input", "3,8,8"])
    assert done.exit_code == 1 and "Traceback" not in done.output


# A fresh interpreter where `import torch` fails, as where cnnsize is installed without its extra
NO_TORCH = """
import sys, runpy
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
sys.meta_path.insert(0, Refuse())
sys.argv = ["cnnsize"] + sys.argv[1:]
runpy.run_module("cnnsize", run_name="__main__")
"""


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["import", "net.py:Net", "--input", "3,8,8"], "cnnsize import"),
        (["export", "specs/toy.yaml", "--torch"], "cnnsize export --torch"),
    ],
)
def test_without_torch_the_command_says_how_to_install_it(args, command):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr == f"error: {command} needs PyTorch: pip install 'cnnsize[torch]'\n"
