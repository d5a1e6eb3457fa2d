"""cnnsize.conventions: each tool's counting rule, worked by hand on small networks.

The rules were read from each tool's source and are checked against the tools themselves, kind by
kind and on six zoo networks, by benchmarks/conventions.py (which needs the tools installed; these
tests need neither the tools nor torch). Its last run is in docs/conventions.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cnnsize
from cnnsize.conventions import CONVENTIONS, counted, leaf_kinds, with_convention
from cnnsize.errors import UsageError

MODELS = ("resnet18", "mobilenet_v3_large", "efficientnet_b0", "shufflenet_v2_x1_0", "convnext_tiny", "googlenet")

# conv [3, 8, 8] -> [4, 8, 8] (3x3, padding 1, bias); batch norm; relu; max pool 2 -> [4, 4, 4];
# adaptive average pool -> [4, 1, 1]; flatten; linear 4 -> 10 (bias)
SPEC = """
input: [3, 8, 8]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - batchnorm2d
  - relu
  - {type: maxpool2d, kernel_size: 2}
  - {type: adaptive_avgpool2d, output_size: 1}
  - flatten
  - {type: linear, out_features: 10}
"""
CONV_MACS = 4 * 8 * 8 * 3 * 3 * 3  # 6,912: output elements x (C_in x k x k)
LINEAR_MACS = 4 * 10  # 40
CONV_OUT = 4 * 8 * 8  # 256 elements of the conv's (and the norm's, the relu's) output
POOLED = 4 * 4 * 4  # 64 elements after max pooling


def totals(spec: str, batch_size: int = 1) -> dict[str, int]:
    report = cnnsize.analyze(cnnsize.load(spec), batch_size=batch_size)
    return {name: counted(report, name).total for name in CONVENTIONS}


def test_every_leaf_kind_has_a_rule_in_every_convention() -> None:
    for convention in CONVENTIONS.values():
        missing = sorted(set(leaf_kinds()) - set(convention.rules))
        assert not missing, f"{convention.name} has no rule for: {', '.join(missing)}"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # 2 x (6,912 + 40) = 13,904; nothing else
        ("pytorch", 2 * (CONV_MACS + LINEAR_MACS)),
        # convolution: its 112 weights and biases once per output position (64): 7,168; batch norm
        # its 8 parameters; linear its 50: 7,226
        ("torchinfo", 112 * 8 * 8 + 8 + 50),
        # multiply-adds 6,952; batch norm in eval mode 2 per element 2 x 256 = 512; adaptive average
        # pooling 1 per input element 64: 7,528
        ("fvcore", CONV_MACS + LINEAR_MACS + 2 * CONV_OUT + POOLED),
        # MACs and biases 6,952 + 256 + 10; batch norm 512; relu twice (nn.ReLU's hook, F.relu) 512;
        # max pool twice over its input 2 x 256; adaptive pool twice over its input 2 x 64: 8,370
        ("ptflops", CONV_MACS + LINEAR_MACS + CONV_OUT + 10 + 2 * CONV_OUT + 2 * CONV_OUT + 2 * CONV_OUT + 2 * POOLED),
        # convolution and addmm, with biases: 6,952 + 266 = 7,218
        ("ptflops-aten", CONV_MACS + LINEAR_MACS + CONV_OUT + 10),
        # MACs 6,952; batch norm 4 per element (affine) 1,024; adaptive pool reads 64 and divides 4
        ("thop", CONV_MACS + LINEAR_MACS + 4 * CONV_OUT + POOLED + 4),
        # 2 x MACs 13,904; conv bias 256 (linear's is left out); batch norm 512; relu 256; max pool
        # its input 256; adaptive pool its input 64: 15,248
        ("deepspeed", 2 * (CONV_MACS + LINEAR_MACS) + CONV_OUT + 2 * CONV_OUT + CONV_OUT + CONV_OUT + POOLED),
    ],
)
def test_each_convention_counts_what_its_tool_counts(name: str, expected: int) -> None:
    assert totals(SPEC)[name] == expected


def test_the_batch_multiplies_every_convention() -> None:
    one, three = totals(SPEC), totals(SPEC, batch_size=3)
    assert three == {name: 3 * figure for name, figure in one.items()}


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny"])
def test_the_pytorch_convention_is_cnnsize_own_flops(name: str) -> None:
    report = cnnsize.analyze(cnnsize.load(name))
    assert counted(report, "pytorch").total == report.totals.flops == 2 * report.totals.macs


@pytest.mark.parametrize(
    ("layer", "per_convention"),
    [
        # [3, 4, 5] -> [3, 8, 15]: 360 output elements
        (
            "{type: upsample, scale_factor: [2, 3]}",
            {"fvcore": 360, "ptflops": 2 * 360, "thop": 0, "deepspeed": 360},
        ),
        # bilinear: fvcore 4 and thop 11 per output element
        (
            "{type: upsample, scale_factor: [2, 3], mode: bilinear}",
            {"fvcore": 4 * 360, "ptflops": 2 * 360, "thop": 11 * 360, "deepspeed": 360},
        ),
        # bicubic: an op fvcore does not support (0); thop 259 per output element
        (
            "{type: upsample, scale_factor: [2, 3], mode: bicubic}",
            {"fvcore": 0, "ptflops": 2 * 360, "thop": 259 * 360, "deepspeed": 360},
        ),
        # softmax over the last axis (5 wide) of [3, 4, 5]: thop 12 rows x (5 exp + 4 add + 5 div)
        ("{type: softmax, dim: -1}", {"fvcore": 0, "ptflops": 60, "thop": 12 * 14, "deepspeed": 60}),
        # L2 pooling 2x2 -> [3, 2, 2]: avg_pool2d reads 60, relu and mul 12 each (ptflops, DeepSpeed)
        ("{type: lppool2d, norm_type: 2, kernel_size: 2}", {"fvcore": 0, "ptflops": 84, "thop": 0, "deepspeed": 84}),
        # average pooling 3x3, stride 2, padding 1 -> [3, 2, 3]; thop sums the windows each axis
        # covers, the padding counted: rows (0-1..1) 3 + (1..3) 3 = 6, columns 3 + 3 + 3 = 9, so
        # 3 x 6 x 9 = 162 additions and 18 divisions
        (
            "{type: avgpool2d, kernel_size: 3, stride: 2, padding: 1}",
            {"fvcore": 0, "ptflops": 2 * 60, "thop": 162 + 18, "deepspeed": 60},
        ),
        # group norm (affine): fvcore and DeepSpeed 5 per element, ptflops 2, thop 4
        ("{type: groupnorm, num_groups: 3}", {"fvcore": 300, "ptflops": 120, "thop": 240, "deepspeed": 300}),
        # layernorm2d subclasses nn.LayerNorm: ptflops matches exact module types and skips it
        ("layernorm2d", {"fvcore": 300, "ptflops": 0, "thop": 240, "deepspeed": 300}),
        # batch norm without running statistics normalises by the batch's: counted as training
        (
            "{type: batchnorm2d, affine: false, track_running_stats: false}",
            {"fvcore": 4 * 60, "ptflops": 60, "thop": 2 * 60, "deepspeed": 4 * 60},
        ),
        # relu6 is nn.ReLU6 (hooked by ptflops once) calling F.hardtanh, which no tool patches
        ("relu6", {"fvcore": 0, "ptflops": 60, "thop": 0, "deepspeed": 0}),
        # views, shuffles and gates count nothing anywhere
        ("{type: channel_shuffle, groups: 3}", {"fvcore": 0, "ptflops": 0, "thop": 0, "deepspeed": 0}),
    ],
)
def test_a_layer_on_a_3x4x5_input(layer: str, per_convention: dict[str, int]) -> None:
    found = totals(f"input: [3, 4, 5]\nlayers:\n  - {layer}\n")
    assert {name: found[name] for name in per_convention} == per_convention


def test_a_composite_row_sums_its_members_and_the_total_sums_the_rows() -> None:
    report = with_convention(cnnsize.analyze(cnnsize.load("resnet18")), "ptflops")
    assert report.counted is not None
    for _, row in report.walk():
        if row.children:
            assert report.counted.of(row) == sum(report.counted.of(child) for child in row.children)
    assert report.counted.total == sum(report.counted.of(row) for row in report.rows)
    truncated = report.truncated(1)  # --depth 1: a block's row stands for its layers
    assert sum(report.counted.of(row) for row in truncated.rows) == report.counted.total


def test_an_unknown_convention_names_the_known_ones() -> None:
    report = cnnsize.analyze(cnnsize.load(SPEC))
    with pytest.raises(UsageError, match="unknown convention 'flops'; choose one of pytorch, torchinfo, fvcore"):
        counted(report, "flops")


def test_json_carries_the_convention_per_layer_and_in_all() -> None:
    report = with_convention(cnnsize.analyze(cnnsize.load(SPEC), batch_size=2), "thop")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["totals"]["counted"] == 2 * totals(SPEC)["thop"]
    assert sum(layer["counted"] for layer in data["layers"]) == data["totals"]["counted"]
    assert data["provenance"]["convention"] == "thop"


# ptflops 0.7.5's README (PyPI page, section "Benchmark", torchvision table): GMACs of torchvision's
# models at 224x224 with its pytorch backend and, where given, its aten backend, to 2 decimals.
# (googlenet is left out: the README's model keeps its auxiliary classifiers, 13.00 M parameters
# against the zoo's 6.62 M, as torchvision's docs count it.)
PTFLOPS_README = [
    ("resnet18", 1.83, 1.81),
    ("resnet50", 4.13, 4.09),
    ("vgg16", 15.52, 15.48),
    ("squeezenet1_0", 0.84, 0.82),
    ("densenet121", 2.90, None),
    ("mobilenet_v2", 0.32, None),
    ("mobilenet_v3_large", 0.23, None),
    ("efficientnet_b0", 0.41, None),
    ("shufflenet_v2_x1_0", 0.15, None),
]


@pytest.mark.parametrize(("name", "pytorch_backend", "aten_backend"), PTFLOPS_README)
def test_the_ptflops_conventions_give_ptflops_published_figures(
    name: str, pytorch_backend: float, aten_backend: float | None
) -> None:
    report = cnnsize.analyze(cnnsize.load(name))
    assert round(counted(report, "ptflops").total / 1e9, 2) == pytorch_backend
    if aten_backend is not None:
        assert round(counted(report, "ptflops-aten").total / 1e9, 2) == aten_backend


DOC = Path(__file__).resolve().parents[1] / "docs" / "counting.md"


def _doc_rows(heading: str) -> dict[str, list[str]]:
    """The Markdown table under `heading` in docs/counting.md: first cell -> the others."""
    section = DOC.read_text(encoding="utf-8").split(heading, 1)[1]
    table = next(block for block in section.split("\n\n") if block.startswith("|"))
    rows = [line.strip("|").split("|") for line in table.splitlines()]
    return {cells[0].strip(" `"): [c.strip() for c in cells[1:]] for cells in rows[2:]}


def test_the_docs_resnet50_figures_are_what_cnnsize_prints() -> None:
    rows = _doc_rows("## ResNet-50, every way")
    report = cnnsize.analyze(cnnsize.load("resnet50"))
    assert rows.pop("(cnnsize's MACs)")[0] == f"{report.totals.macs:,}"
    assert {name: cells[0] for name, cells in rows.items()} == {
        name: f"{counted(report, name).total:,}" for name in CONVENTIONS
    }


def test_the_docs_zoo_table_is_what_cnnsize_counts() -> None:
    rows = _doc_rows("The zoo networks, at batch 2 (ptflops\nat 1):")
    assert list(rows) == list(MODELS)
    for name, cells in rows.items():
        report, one = (cnnsize.analyze(cnnsize.load(name), batch_size=b) for b in (2, 1))
        ours = [counted(one if c.startswith("ptflops") else report, c).total for c in CONVENTIONS]
        assert cells == [f"{n:,}" for n in ours], name
