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

import pytest

from cnnsize.engine import analyze
from cnnsize.errors import PathArgumentError
from cnnsize.loader import load
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
    assert by_year[0]["name"] == "lenet5" and by_year[-1]["name"] == "mobilenet_v2"
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


def test_the_zoo_table_has_every_model_and_its_units():
    result = cnnsize("zoo")
    assert result.returncode == 0, result.stderr
    for name in MODELS:
        assert f" {name} " in result.stdout
    assert "25,557,032 (25.56 M)" in result.stdout and "MiB" in result.stdout
