"""Folding repeated structures of an imported spec into blocks (cnnsize/folding.py): modules written
as people write them import to a spec whose blocks are their repeated submodules, with a parameter
where the copies differ, and which reports exactly what the flat spec (`--no-fold`) and the module
itself report."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import cnnsize
from cnnsize.cli import app
from cnnsize.folding import fold, folded

ROOT = Path(__file__).resolve().parents[1]

MODULES = """
import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):  # torchvision's, its two ReLUs as two modules
    expansion = 1

    def __init__(self, cin, width, stride=1):
        super().__init__()
        out = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class Bottleneck(nn.Module):  # torchvision's v1.5: the 3x3 convolution strides
    expansion = 4

    def __init__(self, cin, width, stride=1):
        super().__init__()
        out = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + identity)


class ResNet(nn.Module):  # torchvision's layout, at a small width
    def __init__(self, block, layers, width=8, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = width
        for i, n in enumerate(layers):
            stages = []
            for j in range(n):
                stages.append(block(cin, width * 2**i, 2 if i > 0 and j == 0 else 1))
                cin = width * 2**i * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*stages))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18():
    return ResNet(BasicBlock, [2, 2, 2, 2])


def resnet50():
    return ResNet(Bottleneck, [3, 4, 6, 3])


class ConvBNReLU(nn.Sequential):
    def __init__(self, c):
        super().__init__(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())


def three_blocks():
    return nn.Sequential(nn.Conv2d(3, 8, 1), ConvBNReLU(8), ConvBNReLU(8), ConvBNReLU(8))


def nothing_repeats():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Sequential(nn.BatchNorm2d(8), nn.ReLU()), nn.Flatten(), nn.Linear(8 * 4 * 4, 4))
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "models.py"
    path.write_text(textwrap.dedent(MODULES), encoding="utf-8")
    return path


def imported(target: str, shape: str, *options: str) -> tuple[str, dict[str, Any]]:
    done = CliRunner().invoke(app, ["import", target, "--input", shape, *options])
    assert done.exit_code == 0, done.output
    return done.stdout, yaml.safe_load(done.stdout)


def figures(data: dict[str, Any]) -> tuple[Any, ...]:
    report = cnnsize.analyze(cnnsize.load(json.dumps(data)))
    return report.totals.to_dict(), report.output_shape


def uses(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(layer["block"], layer["name"]) for layer in data["layers"] if "block" in layer]


def test_resnet18_folds_its_basic_blocks_with_and_without_downsample(models: Path) -> None:
    _, flat = imported(f"{models}:resnet18", "3,32,32", "--no-fold")
    _, data = imported(f"{models}:resnet18", "3,32,32")
    assert "blocks" not in flat and figures(data) == figures(flat)
    # five plain blocks (7 layers: conv1 bn1 relu1 conv2 bn2 add relu) save 5 * 6 - 7 = 23 entries and
    # the three strided ones with a downsample (9 layers) 3 * 8 - 9 = 15: 38 in all, more than
    # stages 2 to 4 as one block (3 * 15 - 16 = 29) and stage 1's two blocks (2 * 6 - 7 = 5)
    # named after the modules' class, BasicBlock, the second one numbered
    assert uses(data) == [
        ("basic_block", "layer1.0"),
        ("basic_block", "layer1.1"),
        ("basic_block_2", "layer2.0"),
        ("basic_block", "layer2.1"),
        ("basic_block_2", "layer3.0"),
        ("basic_block", "layer3.1"),
        ("basic_block_2", "layer4.0"),
        ("basic_block", "layer4.1"),
    ]
    plain, strided = data["blocks"]["basic_block"], data["blocks"]["basic_block_2"]
    assert [layer["name"] for layer in plain["layers"]] == ["conv1", "bn1", "relu1", "conv2", "bn2", "add", "relu"]
    assert len(strided["layers"]) == 9 and strided["layers"][2]["stride"] == 2  # each stage's first block strides
    assert strided["layers"][2]["from"] == "input"  # conv1 reads the block's input, after the downsample
    widths = [layer["out_channels"] for layer in data["layers"] if "block" in layer]
    assert widths == [8, 8, 16, 16, 32, 32, 64, 64]  # 8 * 2**i
    assert len(data["layers"]) == 4 + 8 + 3  # stem, blocks, head (avgpool, flatten, fc)


def test_resnet50_folds_its_bottlenecks_with_and_without_downsample(models: Path) -> None:
    _, flat = imported(f"{models}:resnet50", "3,32,32", "--no-fold")
    _, data = imported(f"{models}:resnet50", "3,32,32")
    assert figures(data) == figures(flat)
    found = uses(data)
    # stages of 3, 4, 6 and 3 bottlenecks: no two stages alike; the first bottleneck of each has a
    # downsample (layer1's widens 8 -> 32), the other 3 + 5 + 2 + 2 = 12 do not
    down = [name for block, name in found if block == "bottleneck"]
    plain = [name for block, name in found if block == "bottleneck_2"]
    assert down == ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    assert len(plain) == 12 and "layer3.5" in plain
    assert len(data["layers"]) == 4 + 16 + 3  # stem (conv, bn, relu, maxpool), bottlenecks, head
    bottleneck = data["blocks"]["bottleneck_2"]
    assert [layer["name"] for layer in bottleneck["layers"]][:3] == ["conv1", "bn1", "relu"]
    # layer1.1 takes 32 channels (8 * 4) to width 8 and back to 32: the second parameter is named
    # after the layer that first reads it
    first = next(layer for layer in data["layers"] if layer.get("name") == "layer1.1")
    assert bottleneck["params"] == ["out_channels", "conv3_out_channels"]
    assert (first["out_channels"], first["conv3_out_channels"]) == (8, 32)


def test_three_identical_blocks_are_one_block_used_three_times(models: Path) -> None:
    text, data = imported(f"{models}:three_blocks", "3,8,8")
    _, flat = imported(f"{models}:three_blocks", "3,8,8", "--no-fold")
    assert figures(data) == figures(flat)
    assert data["blocks"] == {
        "conv_bn_relu": {  # the modules' class, ConvBNReLU
            "description": "3 layers (conv2d, batchnorm2d, relu), used 3 times",
            "layers": [
                {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1, "bias": False, "name": "0"},
                {"type": "batchnorm2d", "name": "1"},
                {"type": "relu", "name": "2"},
            ],
        }
    }
    assert uses(data) == [("conv_bn_relu", "1"), ("conv_bn_relu", "2"), ("conv_bn_relu", "3")]
    assert "# not folded" not in text


def test_a_module_where_nothing_repeats_is_written_flat(models: Path) -> None:
    _, data = imported(f"{models}:nothing_repeats", "3,6,6")
    _, flat = imported(f"{models}:nothing_repeats", "3,6,6", "--no-fold")
    assert data == flat and "blocks" not in data
    assert fold(flat) == flat


def test_a_use_reads_what_comes_before_it_and_later_layers_read_the_use() -> None:
    data = {
        "name": "skips",
        "input": [4, 8, 8],
        "layers": [
            {"type": "conv2d", "out_channels": 4, "kernel_size": 1, "name": "stem"},
            {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "name": "a.conv"},
            {"type": "batchnorm2d", "name": "a.bn"},
            {"type": "relu", "name": "a.relu"},
            {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "name": "b.conv"},
            {"type": "batchnorm2d", "name": "b.bn"},
            {"type": "relu", "name": "b.relu"},
            {"type": "add", "name": "join", "from": ["a.relu", "b.relu"]},
        ],
    }
    result, why = folded(data)
    assert why is None
    assert result["layers"][1:] == [
        {"block": "block1", "name": "a"},
        {"block": "block1", "name": "b"},
        {"type": "add", "name": "join", "from": ["a", "b"]},  # the uses' names stand for their last layers
    ]
    assert figures(result) == figures(data)


def test_a_group_read_from_inside_or_reading_from_afar_stays_flat() -> None:
    data = {
        "name": "tangled",
        "input": [4, 8, 8],
        "layers": [
            {"type": "conv2d", "out_channels": 4, "kernel_size": 1, "name": "stem"},
            {"type": "conv2d", "out_channels": 4, "kernel_size": 1, "name": "a.conv"},
            {"type": "relu", "name": "a.relu"},
            {"type": "conv2d", "out_channels": 4, "kernel_size": 1, "name": "b.conv", "from": "stem"},
            {"type": "relu", "name": "b.relu"},
            {"type": "add", "name": "join", "from": ["a.conv", "b.relu"]},
        ],
    }
    # b reads stem, not a (what comes before it); a's convolution is read after it: neither can be
    # one use of a block, whose input is the entry before it and whose output is its last layer's
    assert fold(data) == data


def test_fields_that_differ_by_default_only_become_parameters_with_that_default() -> None:
    data = {
        "name": "strides",
        "input": [4, 16, 16],
        "layers": [
            {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "name": "a.conv"},
            {"type": "batchnorm2d", "name": "a.bn"},
            {"type": "relu", "name": "a.relu"},
            {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1, "name": "b.conv"},
            {"type": "batchnorm2d", "name": "b.bn"},
            {"type": "relu", "name": "b.relu"},
        ],
    }
    result = fold(data)
    block = result["blocks"]["block1"]
    assert block["params"] == ["out_channels"] and block["defaults"] == {"stride": 1}  # conv2d's stride
    assert block["layers"][0]["stride"] == "${stride}"
    assert result["layers"] == [
        {"block": "block1", "name": "a", "out_channels": 4},
        {"block": "block1", "name": "b", "out_channels": 8, "stride": 2},
    ]
    assert figures(result) == figures(data)


def test_the_worked_example_in_the_docs_is_what_import_writes(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "import.md").read_text()
    section = doc[doc.index("### Folding, worked through") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    written = re.search(r"```yaml\n(.*?)```", section, re.S)
    command = re.search(r"\$ cnnsize import (\S+) --input (\S+)", section)
    assert code and written and command
    (tmp_path / "models.py").write_text(code.group(1), encoding="utf-8")
    target = command.group(1).replace("models.py", str(tmp_path / "models.py"))
    text, _ = imported(target, command.group(2))
    assert text.split("\n", 1)[1] == written.group(1).split("\n", 1)[1]  # the first line names the file


def test_a_fold_that_would_report_otherwise_is_not_written(monkeypatch: pytest.MonkeyPatch) -> None:
    import cnnsize.folding as folding

    data = {
        "name": "n",
        "input": [4, 8, 8],
        "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 1, "name": "a"}],
    }
    wrong = {**data, "blocks": {"b": {"layers": ["relu"]}}, "layers": [{"block": "b"}]}  # no convolution
    monkeypatch.setattr(folding, "fold", lambda d, classes: wrong)
    assert folded(data) == (data, "the folded spec would report otherwise than the flat one")
    monkeypatch.setattr(folding, "fold", lambda d, classes: {**wrong, "layers": [{"block": "missing"}]})
    kept, why = folded(data)
    assert kept is data and why is not None and "refused" in why and "unknown block 'missing'" in why


@pytest.mark.parametrize(
    ("classes", "name"),
    [
        ({"a": "ConvBNReLU", "b": "ConvBNReLU"}, "conv_bn_relu"),
        ({"a": "InvertedResidual", "b": "InvertedResidual"}, "inverted_residual"),
        ({"a": "Down", "b": "Up"}, "block1"),  # no class in common
        ({"a": "Sequential", "b": "Sequential"}, "block1"),  # a container's says nothing
        ({"a": "Conv2d", "b": "Conv2d"}, "block1"),  # conv2d is a kind
        ({}, "block1"),
    ],
)
def test_a_block_is_named_after_the_class_its_modules_share(classes: dict[str, str], name: str) -> None:
    layers = [
        {"type": "conv2d", "out_channels": 4, "kernel_size": 1, "name": f"{group}.{layer}"}
        for group in "ab"
        for layer in ("c1", "c2", "c3")
    ]
    assert list(fold({"input": [4, 4, 4], "layers": layers}, classes)["blocks"]) == [name]


SHARED_UNITS = """
import torch.nn.functional as F
from torch import nn


class Twice(nn.Module):  # one convolution called twice: its second call shares the first's weights
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv(F.relu(self.conv(x)))


class Net(nn.Module):
    def __init__(self, again=False):
        super().__init__()
        self.again = again
        self.stem = nn.Conv2d(3, 8, 1)
        self.u1, self.u2, self.u3 = Twice(8), Twice(8), Twice(8)

    def forward(self, x):
        x = self.u3(self.u2(self.u1(self.stem(x))))
        return self.u1.conv(x) if self.again else x  # u1's convolution called from outside it too
"""


def test_units_that_share_weights_inside_fold_with_a_local_shares(tmp_path: Path) -> None:
    (tmp_path / "shared.py").write_text(SHARED_UNITS, encoding="utf-8")
    _, flat = imported(f"{tmp_path / 'shared.py'}:Net", "3,8,8", "--no-fold")
    _, data = imported(f"{tmp_path / 'shared.py'}:Net", "3,8,8")
    assert flat["layers"][3] == {"shares": "u1.conv", "name": "u1.conv_2"}
    assert data["blocks"]["twice"]["layers"][-1] == {"shares": "conv", "name": "conv_2"}  # each use's own conv
    assert uses(data) == [("twice", "u1"), ("twice", "u2"), ("twice", "u3")]
    assert figures(data) == figures(flat)
    # stem 3*8 + 8; each unit's convolution 8*8*9 counted once, though called twice
    assert figures(data)[0]["params"] == 3 * 8 + 8 + 3 * (8 * 8 * 9) == 1760


def test_a_group_whose_weights_are_shared_from_outside_stays_flat(tmp_path: Path) -> None:
    (tmp_path / "shared.py").write_text(SHARED_UNITS, encoding="utf-8")
    _, data = imported(f"{tmp_path / 'shared.py'}:Net", "3,8,8", "--args", '{"again": true}')
    # u1's convolution is called at the end as well: u1 stays flat, u2 and u3 fold
    assert uses(data) == [("twice", "u2"), ("twice", "u3")]
    assert [layer["name"] for layer in data["layers"][1:4]] == ["u1.conv", "u1.relu", "u1.conv_2"]
    assert data["layers"][-1] == {"shares": "u1.conv", "name": "u1.conv_3"}
    _, flat = imported(f"{tmp_path / 'shared.py'}:Net", "3,8,8", "--args", '{"again": true}', "--no-fold")
    assert figures(data) == figures(flat)
