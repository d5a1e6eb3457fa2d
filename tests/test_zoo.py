"""The zoo matches torchvision's published figures, loads by bare name, and `cnnsize zoo` lists it.

Oracles, as torchvision publishes them: each weights enum's `meta` in torchvision/models/<model>.py
(github.com/pytorch/vision, e.g. `ResNet50_Weights.IMAGENET1K_V1`: "num_params": 25557032,
"_ops": 4.089), shown on the model docs pages (pytorch.org/vision/stable/models.html, the table's
"Params" and "GFLOPS" columns; GFLOPS there counts multiply-adds, i.e. GMACs in our terms).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from cnnsize.engine import analyze
from cnnsize.errors import PathArgumentError
from cnnsize.kinds.base import Composite
from cnnsize.loader import load
from cnnsize.planner import with_memory
from cnnsize.zoo import MODELS, spec_file

REPO = Path(__file__).resolve().parents[1]

# model: (num_params, "_ops" in GMACs as written, source file in torchvision/models/)
PUBLISHED = {
    "alexnet": (61_100_840, "0.714", "alexnet.py"),
    "vgg11": (132_863_336, "7.609", "vgg.py"),
    "vgg11_bn": (132_868_840, "7.609", "vgg.py"),
    "vgg16": (138_357_544, "15.47", "vgg.py"),
    "vgg16_bn": (138_365_992, "15.47", "vgg.py"),
    "vgg19": (143_667_240, "19.632", "vgg.py"),
    "resnet18": (11_689_512, "1.814", "resnet.py"),
    "resnet34": (21_797_672, "3.664", "resnet.py"),
    "resnet50": (25_557_032, "4.089", "resnet.py"),
    "resnet101": (44_549_160, "7.801", "resnet.py"),
    "resnet152": (60_192_808, "11.514", "resnet.py"),
    "googlenet": (6_624_904, "1.498", "googlenet.py"),
    "mobilenet_v2": (3_504_872, "0.301", "mobilenetv2.py"),
    "squeezenet1_0": (1_248_424, "0.819", "squeezenet.py"),
    "squeezenet1_1": (1_235_496, "0.349", "squeezenet.py"),
    "densenet121": (7_978_856, "2.834", "densenet.py"),
    # MobileNet_V3_Large_Weights.IMAGENET1K_V2 (the default; IMAGENET1K_V1 has the same figures)
    "mobilenet_v3_large": (5_483_032, "0.217", "mobilenetv3.py"),
    # EfficientNet_B0_Weights.IMAGENET1K_V1 (older revisions of the file round "_ops" to 0.4)
    "efficientnet_b0": (5_288_548, "0.386", "efficientnet.py"),
    # ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1: 144,907,992 MACs
    "shufflenet_v2_x1_0": (2_278_604, "0.145", "shufflenetv2.py"),
    # ConvNeXt_Tiny_Weights.IMAGENET1K_V1: 4,455,531,264 MACs ("_ops": 4.456 since the metas have three
    # decimals; 4.5 in older revisions of the file; the docs' column shows 4.46)
    "convnext_tiny": (28_589_128, "4.456", "convnext.py"),
}


def cnnsize(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cnnsize", *args], capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}
    )


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_each_model_matches_torchvision_to_the_parameter(model):
    params, gmacs, _ = PUBLISHED[model]
    report = analyze(load(model))
    assert report.totals.params == params
    published = Decimal(gmacs)
    assert (Decimal(report.totals.macs) / 10**9).quantize(published) == published
    assert report.input_shape == (3, 224, 224)
    assert report.output_shape == (1000,)


def test_lenet5_is_the_pytorch_tutorials_network():
    report = analyze(load("lenet5"))
    # conv1 1*6*5*5 + 6 = 156; conv2 6*16*5*5 + 16 = 2,416; fc1 400*120 + 120 = 48,120;
    # fc2 120*84 + 84 = 10,164; fc3 84*10 + 10 = 850: 61,706 in all
    assert report.totals.params == 156 + 2_416 + 48_120 + 10_164 + 850 == 61_706
    assert (report.input_shape, report.output_shape) == ((1, 32, 32), (10,))


# model: the features its classifier's last layer reads (torchvision's `in_features` of the last
# linear layer; SqueezeNet's final 1x1 convolution reads 512 channels)
CLASSIFIER_FEATURES = {
    "alexnet": 4096, "vgg11": 4096, "vgg11_bn": 4096, "vgg16": 4096, "vgg16_bn": 4096, "vgg19": 4096,
    "resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048,
    "googlenet": 1024, "mobilenet_v2": 1280, "squeezenet1_0": 512, "squeezenet1_1": 512, "densenet121": 1024,
    "mobilenet_v3_large": 1280, "efficientnet_b0": 1280, "shufflenet_v2_x1_0": 1024, "convnext_tiny": 768,
}  # fmt: skip


def test_every_model_declares_num_classes_with_torchvisions_defaults():
    assert set(CLASSIFIER_FEATURES) == set(PUBLISHED) == set(MODELS) - {"lenet5"}
    for model in MODELS:
        widths = {"width_mult": 1.0} if model == "mobilenet_v2" else {}  # torchvision's width multiplier
        assert load(model).params == {"num_classes": 10 if model == "lenet5" else 1000, **widths}, model


@pytest.mark.parametrize("model", sorted(CLASSIFIER_FEATURES))
def test_num_classes_re_heads_the_classifier(model):
    features = CLASSIFIER_FEATURES[model]
    report = analyze(load(model, params={"num_classes": 21}))
    # the last layer's weights and biases: (features + 1) per class, 21 classes instead of 1000
    assert report.totals.params == PUBLISHED[model][0] - (features + 1) * 1000 + (features + 1) * 21
    assert report.output_shape == (21,)


def test_lenet5_takes_num_classes_too():
    # fc3: 84 x 10 + 10 = 850 becomes 84 x 2 + 2 = 170
    assert analyze(load("lenet5", params={"num_classes": 2})).totals.params == 61_706 - 850 + 170


def test_report_resnet18_with_21_classes_on_the_command_line():
    result = cnnsize("report", "resnet18", "--set", "num_classes=21", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    # torchvision's 11,689,512, less fc's 512 x 1000 weights and 1000 biases, plus 512 x 21 and 21
    assert data["totals"]["params"] == 11_689_512 - 512 * 1000 - 1000 + 512 * 21 + 21 == 11_187_285
    assert data["output_shape"] == [21]


def test_a_zoo_model_names_its_params_when_a_name_is_wrong():
    result = cnnsize("report", "resnet18", "--set", "classes=21")
    assert result.returncode == 2
    assert "cannot set 'classes': the spec declares no such parameter (did you mean 'num_classes'?)" in result.stderr
    assert result.stderr.startswith("zoo:resnet18:")


# torchvision publishes figures for MobileNetV2 at width_mult 1.0 only (its only weights). These are
# torchvision 0.28's MobileNetV2(width_mult=w) counted once on this project's machine: sum of
# p.numel() over its parameters, FlopCounterMode's FLOPs / 2 for one 3x224x224 image, and how many
# of its InvertedResidual blocks add their input back (use_res_connect).
MOBILENET_V2_WIDTHS = {
    # below 0.28, 32 and 16 channels both round to 8: the first block (t = 1) keeps the shape and
    # takes the skip; at 0.05, 160 and 320 do too
    0.05: (1_327_368, 23_746_304, 12),
    0.25: (1_519_112, 37_201_312, 11),
    0.35: (1_677_128, 59_285_808, 10),
    0.5: (1_968_680, 97_131_840, 10),
    0.75: (2_636_424, 209_069_792, 10),
    1.0: (3_504_872, 300_774_272, 10),  # torchvision's published 3,504,872
    1.4: (6_108_776, 582_195_824, 10),
}


def _residuals(layers: list[Any]) -> int:
    return sum(layer.kind == "residual" for layer in _layers(layers))


@pytest.mark.parametrize("width", sorted(MOBILENET_V2_WIDTHS))
def test_mobilenet_v2_at_any_width_is_torchvisions(width):
    params, macs, skips = MOBILENET_V2_WIDTHS[width]
    spec = load("mobilenet_v2", params={"width_mult": width})
    report = analyze(spec)
    assert (report.totals.params, report.totals.macs, _residuals(spec.layers)) == (params, macs, skips)


def test_mobilenet_v2_rounds_its_widths_as_torchvision_on_the_command_line():
    result = cnnsize("report", "mobilenet_v2", "--set", "width_mult=0.5", "--depth", "2", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    features = [layer for layer in data["layers"] if layer["path"].startswith("layers[0].layers[")]
    # _make_divisible(c * 0.5, 8): 32 -> 16 (stem), 16 -> 8, 24 -> 16 (int(12 + 4) // 8 * 8), 32 -> 16,
    # 64 -> 32, 96 -> 48, 160 -> 80, 320 -> 160; the last convolution keeps 1280 (1280 * max(1.0, 0.5))
    widths = [layer["output_shape"][0] for layer in features]
    assert widths == [16, 8, 16, 16, 16, 16, 16, 32, 32, 32, 32, 48, 48, 48, 80, 80, 80, 160, 1280]
    assert data["totals"]["params"] == MOBILENET_V2_WIDTHS[0.5][0]


def test_mobilenet_v2_at_a_small_width_builds_in_pytorch_with_every_shape_and_count_agreeing():
    pytest.importorskip("torch")
    # at 0.25 the first block takes the skip (the `if:` entries of the spec); a 64x64 input keeps it quick
    args = ("verify", "mobilenet_v2", "--set", "width_mult=0.25", "--input", "3,64,64", "--iterations", "1")
    result = cnnsize(*args, "--warmup", "0", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["passed"]


def test_the_residual_networks_have_torchvisions_running_statistics():
    # CONVENTIONS.md: for ResNet-50 Keras-style "Total params" would add 53,120 running statistics
    assert analyze(load("resnet50")).totals.non_trainable_params == 53_120


def test_every_model_has_a_spec_and_every_spec_a_model():
    files = {path.stem for path in (REPO / "cnnsize" / "zoo").glob("*.yaml")}
    assert files == set(MODELS) == set(PUBLISHED) | {"lenet5"}
    for name in MODELS:
        assert load(name).name == name


def test_the_zoo_ships_as_package_data():
    pyproject = (REPO / "pyproject.toml").read_text()
    package_data = re.search(r"\[tool\.setuptools\.package-data\]\ncnnsize = \[(.*)\]", pyproject)
    assert package_data and '"zoo/*.yaml"' in package_data.group(1)
    assert Path(spec_file("resnet50")).read_text().startswith("# ResNet-50")


def test_a_file_takes_precedence_over_a_model_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "resnet50").write_text("input: [3, 4, 4]\nlayers: [relu]\n")
    assert load("resnet50").input == (3, 4, 4)


def test_a_name_that_is_neither_a_file_nor_a_model_suggests_one():
    with pytest.raises(PathArgumentError) as caught:
        load("resnet5")
    assert str(caught.value) == "resnet5:1:1: error: no such file, and no model of the zoo is called that " \
        "(did you mean 'resnet50'?)"  # fmt: skip
    result = cnnsize("report", "resnet5")
    assert result.returncode == 2 and "did you mean 'resnet50'?" in result.stderr


def test_the_zoo_command_sorts_by_year_and_by_depth():
    by_year = json.loads(cnnsize("zoo", "--format", "json").stdout)
    assert [entry["year"] for entry in by_year] == sorted(entry["year"] for entry in by_year)
    assert by_year[0]["name"] == "lenet5" and by_year[-1]["name"] == "convnext_tiny"
    by_depth = json.loads(cnnsize("zoo", "--sort", "depth", "--format", "json").stdout)
    assert [entry["name"] for entry in by_depth][-3:] == ["resnet101", "densenet121", "resnet152"]
    resnet50 = next(entry for entry in by_depth if entry["name"] == "resnet50")
    assert resnet50 == {
        "name": "resnet50",
        "year": 2015,
        "weighted_depth": 50,
        "params": 25_557_032,
        "macs": analyze(load("resnet50")).totals.macs,
        "activation_bytes": analyze(load("resnet50")).totals.activation_bytes,
    }


def test_zoo_name_prints_the_spec_to_copy_and_it_reads_back_as_the_same_network(tmp_path):
    done = cnnsize("zoo", "resnet50")
    assert done.returncode == 0
    copy = tmp_path / "my-resnet.yaml"
    copy.write_text(done.stdout)
    assert analyze(load(str(copy))).totals.params == 25_557_032  # torchvision's resnet50


def test_zoo_with_an_unknown_name_suggests_one():
    done = cnnsize("zoo", "resnet05")
    assert done.returncode == 2
    assert "error: no model of the zoo is called 'resnet05' (did you mean 'resnet50'?)" in done.stderr


def test_a_zoo_model_is_named_portably_in_json_and_messages():
    report = analyze(load("resnet18"))
    assert report.file == "zoo:resnet18" and report.to_dict()["file"] == "zoo:resnet18"
    assert "resnet18 (the zoo)" in cnnsize("report", "resnet18").stdout


def test_the_zoo_table_has_every_model_and_its_units():
    result = cnnsize("zoo")
    assert result.returncode == 0, result.stderr
    for name in MODELS:
        assert f" {name} " in result.stdout
    assert "25,557,032 (25.56 M)" in result.stdout and "MiB" in result.stdout


def _layers(layers: list[Any]) -> Iterator[Any]:
    """Every layer of a spec's (expanded) layer list, composites before what they hold."""
    for layer in layers:
        yield layer
        if isinstance(layer, Composite):
            for _, sequence in layer.sequences():
                yield from _layers(sequence)


def test_efficientnet_b0_is_torchvisions_block_by_block():
    layers = list(_layers(load("efficientnet_b0").layers))
    # squeeze-and-excitation squeezes to max(1, in // 4) of the block's *input* channels: block 0
    # takes 32 (8), the first of each stage the stage's input (16, 24, 40, 80, 112, 192), the others
    # its output
    assert [layer.out_channels for layer in layers if layer.name == "fc1"] == [
        8, 4, 6, 6, 10, 10, 20, 20, 20, 28, 28, 28, 48, 48, 48, 48
    ]  # fmt: skip
    # stochastic depth on torchvision's linear schedule, block i of 16 at p = 0.2 * i / 16, used only
    # where the block adds its input back (stride 1, channels kept): blocks 2, 4, 6, 7, 9, 10, 12, 13, 14
    residual = (2, 4, 6, 7, 9, 10, 12, 13, 14)
    drops = [(layer.p, layer.mode) for layer in layers if layer.type == "stochastic_depth"]
    assert drops == [(0.2 * i / 16, "row") for i in residual]
    assert drops[-1][0] == pytest.approx(0.175)  # block 14; block 15 (0.1875) widens 192 -> 320, no skip
    assert sum(layer.type == "add" for layer in layers) == len(residual)
    # every SiLU in place (Conv2dNormActivation's and the SE's), the gate a sigmoid; norms PyTorch's defaults
    silus = [layer for layer in layers if layer.type == "silu"]
    assert len(silus) == 1 + 16 * 3 - 1 + 1 and all(layer.inplace for layer in silus)  # stem, 16 blocks, head
    assert {(layer.eps, layer.momentum) for layer in layers if layer.type == "batchnorm2d"} == {(1e-5, 0.1)}


def test_mobilenet_v3_large_is_torchvisions_block_by_block():
    layers = list(_layers(load("mobilenet_v3_large").layers))
    # SE squeezes to make_divisible(expanded // 4, 8): 72 // 4 = 18 rounds to 16, under 90% of 18,
    # so 24; 120 // 4 = 30 -> 32; 480 -> 120, 672 -> 168, 960 -> 240
    assert [layer.out_channels for layer in layers if layer.name == "fc1"] == [24, 32, 32, 120, 168, 168, 240, 240]
    # every batch norm: eps 0.001, momentum 0.01; stem, 2 in block 0 (no expansion), 3 in each of
    # the other 14 blocks, the last convolution
    norms = [(layer.eps, layer.momentum) for layer in layers if layer.type == "batchnorm2d"]
    assert len(norms) == 1 + 2 + 14 * 3 + 1 and set(norms) == {(0.001, 0.01)}
    # the blocks' ReLUs and hardswishes (and the classifier's) in place; the SE's ReLU and
    # hardsigmoid not (torchvision.ops.SqueezeExcitation builds them without arguments)
    in_place = {(layer.type, layer.name == "activation", layer.inplace) for layer in layers if layer.type in
                ("relu", "hardswish", "hardsigmoid")}  # fmt: skip
    assert in_place == {("relu", False, True), ("relu", True, False), ("hardswish", False, True),
                        ("hardsigmoid", False, False)}  # fmt: skip
    # the skip: 11 blocks of stride 1 (0, 2, 4, 5, 7-11, 13, 14), but block 10 widens 80 -> 112
    assert sum(layer.type == "add" for layer in layers) == 11 - 1


def test_after_the_first_squeeze_and_excitation_every_position_sees_the_whole_image():
    rows = list(analyze(load("efficientnet_b0")).leaves())
    gate = next(i for i, row in enumerate(rows) if row.type == "mul")
    # stem, 3x3 stride 2 padding 1: pixels [-1, 1], jump 2; block 0's 3x3 depthwise, padding 1:
    # [-3, 3], jump 2; the SE's global average over 112 positions: [-3, 3 + 111 * 2] = [-3, 225],
    # 229 pixels (the image and its padding), and the gate multiplies every position by it
    depthwise = rows[gate - 6]
    assert (depthwise.type, depthwise.receptive_field.size, depthwise.receptive_field.jump) == ("silu", (7, 7), (2, 2))
    for row in rows[gate:]:
        assert row.receptive_field.size == (229, 229) and row.receptive_field.jump == (0, 0), row.path
        assert row.receptive_field.start == (111, 111)  # (-3 + 225) / 2


def _saved(name: str) -> tuple[int, int]:
    """What the model saves for backward at batch 1 (float32, PyTorch's CPU rules), and how much of
    it the stochastic depth layers save."""
    spec = load(name)
    report = with_memory(spec, analyze(spec), device="cpu")
    assert report.memory is not None
    kinds = {row.path: row.type for _, row in report.walk()}
    noise = sum(saved for path, saved in report.memory.saved_by.items() if kinds[path] == "stochastic_depth")
    return report.memory.saved_bytes, noise


def test_efficientnet_b0_and_mobilenet_v3_large_save_what_torchvisions_networks_save():
    # Oracle: torchvision's architectures rebuilt in plain PyTorch, one training forward at batch 1
    # (float32, CPU) under saved_tensors_hooks, each storage once, parameters and buffers left out.
    # EfficientNet-B0 saves 88,362,080 B without stochastic depth (the issue's "faithful PyTorch
    # EfficientNet-B0"); with it, as torchvision trains, each of the 9 residual blocks also saves
    # its noise, one float32 per sample: 88,362,080 + 9 * 4 = 88,362,116 B.
    assert _saved("efficientnet_b0") == (88_362_080 + 9 * 4, 9 * 4)
    assert _saved("mobilenet_v3_large") == (44_211_552, 0)


def test_the_mbconv_of_docs_blocks_md_is_the_zoos_and_block_4_has_its_parameters():
    doc = (REPO / "docs" / "blocks.md").read_text()
    section = doc[doc.index("### Worked example: EfficientNet's MBConv") :]
    excerpt = section[section.index("```yaml\n") + len("```yaml\n") : section.index("```\n")]
    assert "  mbconv:" in excerpt and excerpt in Path(spec_file("efficientnet_b0")).read_text()
    rows = {row.path: row for _, row in analyze(load("efficientnet_b0")).walk()}
    block4 = rows[("layers", 0, "layers", 3, "layers", 1)]  # features[3]'s second block: 40 -> 40 at 28x28
    assert (block4.input_shape, block4.output_shape) == ((40, 28, 28), (40, 28, 28))
    # docs/blocks.md: 10,080 + 6,480 + 5,050 + 9,680
    assert block4.params == 31_290
