"""`cnnsize export SPEC --torch` (cnnsize/backend/export.py): the source imports with torch alone,
and the module it defines is the spec's: the same parameters, the same outputs from the same
weights, the FLOPs PyTorch counts equal to the engine's, for every kind, bundled spec and a set of
zoo networks."""

from __future__ import annotations

import builtins
import json
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from graph_rows import GRAPHS
from test_kinds_torch import ROWS
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

import cnnsize
from cnnsize.backend.export import export_torch
from cnnsize.cli import app

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(str(p) for p in (ROOT / "specs").glob("*.yaml"))
ZOO = [
    "resnet18",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "shufflenet_v2_x1_0",
    "convnext_tiny",
    "googlenet",
    "densenet121",
]


def imported(source: str) -> types.ModuleType:
    """The exported file as a module, imported where cnnsize cannot be."""
    real = builtins.__import__

    def without_cnnsize(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == "cnnsize":
            raise ImportError("the exported file must not need cnnsize")
        return real(name, *args, **kwargs)

    module = types.ModuleType("exported")
    module.__dict__["__builtins__"] = {**builtins.__dict__, "__import__": without_cnnsize}
    exec(compile(source, "exported.py", "exec"), module.__dict__)
    return module


def assert_same_network(spec: cnnsize.Spec) -> None:
    net = imported(export_torch(spec)).Net().eval()
    built = cnnsize.build(spec).eval()
    report = cnnsize.analyze(spec, batch_size=2)
    assert sum(p.numel() for p in net.parameters()) == report.totals.params
    # the same tensors in the same order: load the built model's weights and statistics
    net.load_state_dict(dict(zip(net.state_dict(), built.state_dict().values())))
    xs = built.example_inputs(2)
    with torch.no_grad():
        expected = built(*xs)
        with FlopCounterMode(display=False) as counter:
            got = net(*xs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected) and all(torch.equal(a, b) for a, b in zip(got, expected))
    assert counter.get_total_flops() == report.totals.flops  # 2 x MACs, for the batch of 2


@pytest.mark.parametrize("path", SPECS, ids=lambda p: Path(p).stem)
def test_every_bundled_spec_exports_to_the_same_network(path: str) -> None:
    assert_same_network(cnnsize.load(path))


@pytest.mark.parametrize("name", ZOO)
def test_zoo_networks_export_to_the_same_network(name: str) -> None:
    assert_same_network(cnnsize.load(name))


def _kind(layer: Any) -> str:
    return layer if isinstance(layer, str) else layer["type"]


CASES = [{"input": inp, "layers": [layer]} for inp, layer in ROWS] + [data for _, data in GRAPHS]


@pytest.mark.parametrize("data", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_every_kind_exports(data: dict[str, Any]) -> None:
    assert_same_network(cnnsize.load(json.dumps({"name": "t", **data})))


def test_the_source_reads_as_people_write_pytorch() -> None:
    source = export_torch(cnnsize.load(str(ROOT / "specs" / "small-resnet.yaml")))
    # the spec's names, and constructor arguments that differ from torch's defaults, as people write
    assert "self.stem = nn.Conv2d(in_channels=3, out_channels=16, kernel_size=3, padding=1, bias=False)" in source
    assert "block1 = block1_body_4 + relu_2  # layers[3].add" in source  # a residual's join is `+`
    assert "self.block1_add" not in source
    assert "import cnnsize" not in source and "from cnnsize" not in source


def test_the_command(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "toy.py"
    done = runner.invoke(app, ["export", "specs/toy.yaml", "--torch", "-o", str(out)])
    assert done.exit_code == 0, done.output
    net = imported(out.read_text(encoding="utf-8")).Net()
    assert net(net.example_input(3)).shape == (3, 10)
    refused = runner.invoke(app, ["export", "specs/toy.yaml"])
    assert refused.exit_code == 2 and "--torch" in refused.output
    with_set = runner.invoke(app, ["export", "resnet18", "--torch", "--set", "num_classes=21"])
    assert "nn.Linear(in_features=512, out_features=21)" in with_set.stdout


def test_names_that_python_or_nn_module_would_refuse_become_usable_names() -> None:
    # a layer named as the code's own words, nn.Module's methods, a keyword, with odd characters
    spec = cnnsize.load(
        "name: t\ninput: [3, 8, 8]\nlayers:\n"
        "  - {type: conv2d, out_channels: 4, kernel_size: 1, name: self}\n"
        "  - {type: relu, name: forward}\n"
        "  - {type: conv2d, out_channels: 4, kernel_size: 1, name: class}\n"
        "  - {type: relu, name: 'a-b é'}\n"
        "  - {type: add, from: [self, -1], name: torch}\n"
    )
    assert_same_network(spec)


HOSTILE = """
name: "Evil\\"\\"\\"\\nraise SystemExit('the title ran')\\n\\"\\"\\""
input: [3, 8, 8]
layers:
- {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, name: "a\\nraise SystemExit('the name ran')"}
- {type: conv2d, out_channels: 4, kernel_size: 1, name: example_input}
- {type: conv2d, out_channels: 4, kernel_size: 1, name: input_shapes}
"""


def test_hostile_names_stay_text_and_never_replace_the_class_own_attributes() -> None:
    # a title with `\"\"\"` closed the docstring and a name with a newline ended its comment: the
    # lines after them ran as code; layers named example_input and input_shapes replaced them
    spec = cnnsize.load(HOSTILE)
    source = export_torch(spec)
    assert "\nraise" not in source
    net = imported(source).Net()
    assert net.example_input(2).shape == (2, 3, 8, 8)
    assert net(net.example_input(2)).shape == (2, 4, 8, 8)
    assert sum(p.numel() for p in net.parameters()) == (3 * 4 * 9 + 4) + 2 * (4 * 4 + 4)  # 3x3, then two 1x1
    assert imported(source).__doc__.startswith('Evil"""\\nraise')  # the title, escaped, on one line


def test_running_the_file_prints_its_parameters_and_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    # `python model.py` did nothing at all
    source = export_torch(cnnsize.load(str(ROOT / "specs" / "fpn.yaml")))
    exec(compile(source, "model.py", "exec"), {"__name__": "__main__"})
    said = capsys.readouterr().out
    params = cnnsize.analyze(cnnsize.load(str(ROOT / "specs" / "fpn.yaml"))).totals.params
    assert f"Net: {params:,} parameters" in said
    assert "inputs:  (1, 3, 128, 128)" in said  # the spec's input, a batch of 1
    assert "outputs: (1, 256, 16, 16), (1, 256, 8, 8)" in said  # 256 channels at strides 8 and 16 of 128
