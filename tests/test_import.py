"""`cnnsize import TARGET --input C,H,W` (cnnsize/backend/importer.py): a PyTorch module traced
with torch.fx into a spec whose report counts what the module counts; what it cannot map is listed
and the import fails."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cnnsize
from cnnsize.cli import app

ROOT = Path(__file__).resolve().parents[1]

MODULES = """
import torch
import torch.nn.functional as F
from torch import nn


def stack():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))


class Residual(nn.Module):
    def __init__(self, c=8):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.conv2(out) + x)


class Skip(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(3, 4, 3, padding=1)
        self.up = nn.Conv2d(4, 4, 1)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        a = self.down(x)
        return self.head(torch.cat([a, self.up(a)], dim=1))


class SE(nn.Module):
    def __init__(self, c=8):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, 2, 1)
        self.fc2 = nn.Conv2d(2, c, 1)

    def forward(self, x):
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(self.pool(x)))))
        return x * s


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(self.conv(x))


class Matmul(nn.Module):
    def forward(self, x):
        return torch.matmul(x, x)
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "models.py"
    path.write_text(textwrap.dedent(MODULES), encoding="utf-8")
    return path


def imported(models: Path, name: str, shape: str) -> dict:
    done = CliRunner().invoke(app, ["import", f"{models}:{name}", "--input", shape])
    assert done.exit_code == 0, done.output
    import yaml

    return yaml.safe_load(done.stdout)


@pytest.mark.parametrize(
    ("name", "shape", "params"),
    [
        # conv 3*8*9 + 8 = 224; batch norm 16; linear 128*10 + 10 = 1,290
        ("stack", "3,8,8", 224 + 16 + 1_290),
        # two 3x3 convolutions without bias, 8*8*9 = 576 each; batch norm 16
        ("Residual", "8,6,6", 2 * 576 + 16),
        # 3*4*9 + 4 = 112; 4*4 + 4 = 20; 8*2 + 2 = 18
        ("Skip", "3,6,6", 112 + 20 + 18),
        # 8*2 + 2 = 18; 2*8 + 8 = 24
        ("SE", "8,5,5", 18 + 24),
    ],
)
def test_modules_as_people_write_them_import_to_the_same_counts(models: Path, name: str, shape: str, params: int):
    data = imported(models, name, shape)
    report = cnnsize.analyze(cnnsize.load(json.dumps(data)))
    assert report.totals.params == params


def test_module_paths_are_layer_names_and_joins_read_their_inputs(models: Path) -> None:
    layers = imported(models, "Residual", "8,6,6")["layers"]
    assert [layer["name"] for layer in layers][:3] == ["conv1", "bn1", "relu"]
    add = next(layer for layer in layers if layer["type"] == "add")
    assert add["from"] == ["conv2", "input"]


def test_a_module_called_twice_imports_as_a_layer_that_shares_its_weights(models: Path) -> None:
    layers = imported(models, "Shared", "4,6,6")["layers"]
    assert layers[1] == {"shares": "conv", "name": "conv_2"}
    # the module has 4*4*9 + 4 = 148 parameters used twice: counted once (two layers of their own: 296)
    report = cnnsize.analyze(cnnsize.load(json.dumps(imported(models, "Shared", "4,6,6"))))
    assert report.totals.params == 148


def test_an_unmapped_node_is_listed_and_the_import_fails(models: Path) -> None:
    done = CliRunner().invoke(app, ["import", f"{models}:Matmul", "--input", "3,4,4"])
    assert done.exit_code == 1 and "no cnnsize kind for 1 node(s): matmul: call_function matmul" in done.output
    assert "at models.py:" in done.output and "return torch.matmul(x, x)" in done.output  # where it came from


SOURCES = [f"specs/{p.name}" for p in sorted((ROOT / "specs").glob("*.yaml"))]
SOURCES += ["resnet50", "mobilenet_v2", "vgg11_bn", "squeezenet1_1", "alexnet", "lenet5"]


@pytest.mark.parametrize("source", SOURCES)
def test_export_then_import_gives_the_same_report(tmp_path: Path, source: str) -> None:
    runner = CliRunner()
    path = tmp_path / "net.py"
    assert runner.invoke(app, ["export", source, "--torch", "-o", str(path)]).exit_code == 0
    spec = cnnsize.load(source)
    done = runner.invoke(app, ["import", f"{path}:Net", "--input", ",".join(map(str, spec.input))])
    assert done.exit_code == 0, done.output
    again = cnnsize.analyze(cnnsize.load(done.stdout.split("\n", 1)[1]))
    first = cnnsize.analyze(spec)
    assert (again.totals.params, again.totals.macs, again.output_shape) == (
        first.totals.params,
        first.totals.macs,
        first.output_shape,
    )


def test_bad_targets_are_one_message(tmp_path: Path) -> None:
    runner = CliRunner()
    for target in ("nocolon", f"{tmp_path}/missing.py:Net", "json:loads"):
        done = runner.invoke(app, ["import", target, "--input", "3,8,8"])
        assert done.exit_code == 2 and "Traceback" not in done.output, done.output


def test_a_target_file_that_raises_or_exits_is_one_message_naming_its_line(tmp_path: Path) -> None:
    # a file that raises on import was a traceback; one that called sys.exit(0) exited 0 writing nothing
    (tmp_path / "raises.py").write_text("import torch\nraise RuntimeError('boom')\n")
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(0)\n")
    (tmp_path / "init.py").write_text(
        "from torch import nn\nclass Net(nn.Module):\n    def __init__(self, c=3):\n        super().__init__()\n"
        "        '%d' % c\n"
    )
    runner = CliRunner()
    for target, said in (
        ("raises.py:Net", "RuntimeError: boom"),
        ("exits.py:Net", "sys.exit(0)"),
        ("init.py:Net", "TypeError"),
    ):
        args = ["import", f"{tmp_path}/{target}", "--input", "3,8,8", "--args", '{"c": "x"}']
        done = runner.invoke(app, args)
        assert done.exit_code == 2 and "Traceback" not in done.output, done.output
        line = {"raises.py:Net": 2, "exits.py:Net": 2, "init.py:Net": 5}[target]  # the line that raised
        assert said in done.output and f"line {line}" in done.output, done.output


def test_an_input_too_large_to_run_is_refused_before_it_is_made(tmp_path: Path) -> None:
    # 3,100000,100000 was a traceback (240 GB asked of the allocator); 1000000000,1,1 took 8 GB and 50 s
    (tmp_path / "models.py").write_text(textwrap.dedent(MODULES))
    runner = CliRunner()
    for sizes, values in (("3,100000,100000", 3 * 100000 * 100000), ("1000000000,1,1", 10**9)):
        done = runner.invoke(app, ["import", f"{tmp_path}/models.py:Residual", "--input", sizes])
        assert done.exit_code == 2 and "Traceback" not in done.output, done.output
        assert f"{values:,} values a sample" in done.output, done.output


def test_a_forward_that_fails_on_the_example_says_why_in_one_short_line(tmp_path: Path) -> None:
    # fx's ShapeProp error held the node's whole metadata, stack trace and all, on one line
    (tmp_path / "models.py").write_text(textwrap.dedent(MODULES))
    done = CliRunner().invoke(app, ["import", f"{tmp_path}/models.py:Residual", "--input", "3,8,8"])
    assert done.exit_code == 2 and "Traceback" not in done.output, done.output
    assert "ShapeProp" not in done.output and "stack_trace" not in done.output, done.output
    line = MODULES.splitlines().index("        out = F.relu(self.bn1(self.conv1(x)))") + 1  # conv1: 8 channels, given 3
    assert f"(at models.py:{line})" in done.output, done.output


FROZEN_AND_UNUSED = """
from torch import nn


class Frozen(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Conv2d(4, 4, 1)
        self.conv.requires_grad_(False)

    def forward(self, x):
        return self.head(self.conv(x))


class Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.spare = nn.Linear(10, 10)

    def forward(self, x):
        return self.conv(x)
"""


def test_frozen_parameters_count_and_a_module_never_called_is_named(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(FROZEN_AND_UNUSED)
    runner = CliRunner()
    # a frozen backbone failed as a mismatch ("the spec 132, the module 20": trainable ones only)
    done = runner.invoke(app, ["import", f"{tmp_path}/models.py:Frozen", "--input", "3,8,8"])
    assert done.exit_code == 0, done.output
    spec = cnnsize.load(done.output.split("\n", 1)[1])
    assert cnnsize.analyze(spec).totals.params == (3 * 4 * 9 + 4) + (4 * 4 + 4)  # conv (frozen) + head
    done = runner.invoke(app, ["import", f"{tmp_path}/models.py:Unused", "--input", "3,8,8"])
    assert done.exit_code == 1 and "Traceback" not in done.output, done.output
    assert f"the module {3 * 4 * 9 + 4 + 10 * 10 + 10:,}" in done.output  # conv + spare
    assert "not called in forward: spare" in done.output, done.output


def test_output_onto_the_module_file_is_refused_and_leaves_it(tmp_path: Path) -> None:
    # `-o models.py` for models.py:Residual wrote the spec over the module's source
    source = textwrap.dedent(MODULES)
    (tmp_path / "models.py").write_text(source)
    target = f"{tmp_path}/models.py:Residual"
    done = CliRunner().invoke(app, ["import", target, "--input", "8,6,6", "-o", f"{tmp_path}/./models.py"])
    assert done.exit_code == 2 and "would replace it" in done.output, done.output
    assert (tmp_path / "models.py").read_text() == source


NAMED = """
import torch
from torch import nn


class Named(nn.Module):
    def __init__(self):
        super().__init__()
        self.add_module("input", nn.Conv2d(4, 8, 1))
        self.add_module("1e3", nn.Conv2d(4, 4, 3, padding=1))

    def forward(self, x):
        return torch.cat([self.input(x), getattr(self, "1e3")(x)], 1)
"""


def test_module_names_the_spec_reads_otherwise_import_as_themselves(tmp_path: Path) -> None:
    # a submodule named `input` was read as the network's input (the import failed as a mismatch);
    # one named `1e3` was written plain, which cnnsize reads as the number 1000.0
    (tmp_path / "models.py").write_text(NAMED)
    done = CliRunner().invoke(app, ["import", f"{tmp_path}/models.py:Named", "--input", "4,8,8"])
    assert done.exit_code == 0, done.output
    report = cnnsize.analyze(cnnsize.load(done.output.split("\n", 1)[1]))
    assert report.totals.params == (4 * 8 + 8) + (4 * 4 * 9 + 4)  # the 1x1 `input` + the 3x3 `1e3`
    assert report.output_shape == (12, 8, 8)  # 8 + 4 channels
    assert "name: '1e3'" in done.output and "name: input_module" in done.output


def test_a_target_name_with_a_newline_stays_in_the_header_comment(tmp_path: Path) -> None:
    # the header `# imported by cnnsize from TARGET` took the file name as it was: a newline in it
    # wrote YAML after the comment (here a second `name:`, which makes the spec unreadable)
    path = tmp_path / "evil\nname: pwned\n#.py"
    path.write_text(textwrap.dedent(MODULES))
    done = CliRunner().invoke(app, ["import", f"{path}:Residual", "--input", "8,6,6"])
    assert done.exit_code == 0, done.output
    assert "\nname: pwned" not in done.output and "evil\\nname: pwned" in done.output
    assert cnnsize.load(done.output).name == "Residual"


def test_small_examples_run_in_one_thread_and_the_count_is_restored():
    import torch

    from cnnsize.backend.importer import SMALL_EXAMPLE, threads_for

    before = torch.get_num_threads()
    with threads_for((3, 32, 32)):  # 3,072 values a sample: one thread
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with threads_for((1, SMALL_EXAMPLE + 1)):  # over 2^20 values: torch's own threads
        assert torch.get_num_threads() == before


def test_tied_tensors_in_two_modules_are_named_when_the_counts_differ():
    import torch
    from torch import nn

    from cnnsize.backend.importer import Unmapped, checked, to_spec

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(2, 2, 1)
            self.b = nn.Conv2d(2, 2, 1)
            self.b.weight = self.a.weight  # the weights tied, the biases not: no whole layer is shared

        def forward(self, x):
            return self.b(torch.relu(self.a(x)))

    model = Tied()
    data = to_spec(model, (2, 4, 4), "tied")
    # PyTorch counts the tied weight once: 4 + 2 + 2 = 8; the spec two whole convolutions: 2 x 6 = 12
    with pytest.raises(Unmapped, match=r"parameters: the spec 12, the module 8 .*tied weights: b.weight is a.weight"):
        checked(model, data)
