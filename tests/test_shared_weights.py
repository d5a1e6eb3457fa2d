"""Shared weights end to end: a layer that calls an earlier layer's module again (`shares:`,
cnnsize/kinds/shared.py) is resolved by the graph, counted by the engine (parameters once, MACs at
every call), built as one module called twice, written as one submodule by `export --torch`, and
made from a module called twice by `import`; PyTorch's own counts are the oracle: `sum(p.numel())`
counts a shared parameter once, `FlopCounterMode` counts every call."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch
import yaml
from memory_oracle import estimated_peak, estimated_saved, measured_peak, measured_saved
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnsize
from cnnsize.backend.export import export_torch
from cnnsize.backend.importer import checked, to_spec
from cnnsize.backend.verifier import VerifyOptions, verify
from cnnsize.errors import SpecError
from cnnsize.memory import Precision
from cnnsize.planner import model_memory, with_memory
from cnnsize.render import document
from cnnsize.spec_schema import json_schema

# a 3x3 convolution 16 -> 16 on a 16x8x8 input, applied twice with a ReLU between
TWICE = """\
input: [16, 8, 8]
layers:
  - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, name: c}
  - relu
  - {shares: c, name: again}
"""
CONV_PARAMS = 16 * 16 * 9 + 16  # weight C_out * C_in * k * k, bias C_out: 2,320
CONV_MACS = 16 * 16 * 9 * 8 * 8  # C_out * C_in * k * k per output position, 8 * 8 positions: 147,456


def load(text: str) -> cnnsize.Spec:
    return cnnsize.load(text)


def problem(text: str) -> tuple[int, int, str]:
    """(line, column, message) of the one problem in the spec `text`."""
    with pytest.raises(SpecError) as info:
        cnnsize.analyze(cnnsize.load(text))
    (found,) = info.value.problems
    return found.location.line or 0, found.location.column or 0, found.message


def measured(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """PyTorch's own counts: parameters (`sum(p.numel())`, a shared one once) and FLOPs (every call)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops()


# -- the engine ----------------------------------------------------------------------------------


def test_a_conv_applied_twice_counts_its_parameters_once_and_its_macs_twice() -> None:
    report = cnnsize.analyze(load(TWICE))
    first, relu, again = report.leaves()
    assert (first.params, first.macs, first.shares) == (CONV_PARAMS, CONV_MACS, None)
    assert (again.params, again.macs, again.shares) == (0, CONV_MACS, "c")  # its weights are c's
    assert report.totals.params == 2_320  # 16*16*9 + 16, once
    assert report.totals.macs == 2 * 147_456  # per call: 16*16*9 * 8*8
    assert report.totals.param_bytes == 2_320 * 4  # float32
    assert sum(row.params for row in report.leaves()) == report.totals.params  # the column sums to the total
    # receptive field unchanged by sharing: two 3x3 convolutions see 5x5
    assert again.receptive_field is not None and again.receptive_field.size == (5, 5)


def test_the_long_form_is_the_same_module_and_counts_the_same() -> None:
    long = TWICE.replace(
        "{shares: c, name: again}", "{type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, shares: c}"
    )
    short = cnnsize.analyze(load(TWICE))
    written = cnnsize.analyze(load(long))
    assert written.totals == short.totals
    assert [r.shares for r in written.leaves()] == [None, None, "c"]


def test_a_layer_without_weights_may_be_shared_and_counts_nothing_more() -> None:
    report = cnnsize.analyze(load("input: [4, 6, 6]\nlayers:\n  - {type: relu, name: act}\n  - {shares: act}\n"))
    assert report.totals.params == 0 and [r.shares for r in report.leaves()] == [None, "act"]


def test_a_shared_layer_may_read_another_input_with_from() -> None:
    text = TWICE + "  - {type: add, from: [c, again]}\n"
    report = cnnsize.analyze(load(text))
    assert report.totals.params == CONV_PARAMS and report.totals.macs == 2 * CONV_MACS


def test_a_shared_convolution_on_a_smaller_map_does_less_work() -> None:
    # the same weights fit any map of 16 channels: the second call, after 2x2 pooling, is on 4x4
    text = TWICE.replace("  - relu\n", "  - {type: maxpool2d, kernel_size: 2}\n")
    report = cnnsize.analyze(load(text))
    assert report.totals.macs == CONV_MACS + 16 * 16 * 9 * 4 * 4  # 147,456 + 36,864
    assert report.totals.params == CONV_PARAMS


BLOCK_TWICE = """\
input: [8, 6, 6]
layers:
  - type: sequential
    name: blk
    layers:
      - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
      - batchnorm2d
      - relu
  - {shares: blk}
"""


def test_a_whole_block_called_twice_shares_every_layer_in_it() -> None:
    report = cnnsize.analyze(load(BLOCK_TWICE))
    block, again = report.rows
    # conv 8*8*9 = 576 without bias, batch norm 2*8 = 16 (and 2*8 running statistics), once
    assert (block.params, block.non_trainable_params) == (576 + 16, 16)
    assert (again.params, again.non_trainable_params, again.shares) == (0, 0, "blk")
    assert [leaf.shares for leaf in again.children] == [
        "layers[0].layers[0]",
        "layers[0].layers[1]",
        "layers[0].layers[2]",
    ]
    assert report.totals.macs == 2 * 8 * 8 * 9 * 6 * 6  # per call: 8*8*9 weights at 6*6 positions


def test_sharing_works_inside_blocks_each_use_sharing_within_itself() -> None:
    text = """\
input: [4, 5, 5]
blocks:
  twice:
    layers:
      - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, name: c}
      - {shares: c}
layers:
  - {block: twice, repeat: 2}
"""
    report = cnnsize.analyze(load(text))
    assert report.totals.params == 2 * (4 * 4 * 9 + 4)  # two uses, each its own 148 parameters
    assert report.totals.macs == 4 * (4 * 4 * 9 * 5 * 5)  # four calls of 3,600 MACs


def test_when_the_shared_layer_is_left_out_its_first_kept_call_counts_the_weights() -> None:
    text = """\
input: [4, 5, 5]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 1, name: c}
  - {shares: c, from: input}
"""
    report = cnnsize.analyze(load(text))  # c's own output reaches no output: left out, with a warning
    assert [r.path for r in report.leaves()] == [("layers", 1)]
    assert report.totals.params == 4 * 4 + 4 and report.leaves().__next__().shares is None
    assert any("reaches no output" in w.message for w in report.warnings)
    model = cnnsize.build(load(text))
    assert measured(model, model.example_input()) == (report.totals.params, report.totals.flops)


def test_reports_mark_the_sharing_row_in_every_format() -> None:
    report = cnnsize.analyze(load(TWICE))
    layers = report.to_dict()["layers"]
    assert [layer["shares"] for layer in layers] == [None, None, "c"] and layers[2]["params"] == 0
    table = document(report)
    listing = next(part for part in table.parts if hasattr(part, "rows"))
    assert listing.rows[2][listing.header.index("Params")] == "0 (shares c)"  # type: ignore[attr-defined]
    csv = document(report, "csv")
    assert csv.csv_header[-1] == "shares" and csv.csv_rows[2][-1] == "c"


def test_the_json_schema_takes_the_short_form_and_refuses_other_fields() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    assert list(validator.iter_errors(yaml.safe_load(TWICE))) == []
    bad = yaml.safe_load(TWICE.replace("name: again}", "name: again, kernel_size: 5}"))
    assert list(validator.iter_errors(bad))


# -- validation: each mistake located at its line and column ------------------------------------


@pytest.mark.parametrize(
    ("last", "at", "message"),
    [
        ("{shares: cc}", "cc}", "no layer named 'cc' before this one to share weights with (did you mean 'c'?)"),
        ("{shares: later}\n  - {type: relu, name: later}", "later}", "'later' is layers[3], which comes later"),
        ("{shares: me, name: me}", "me,", "a layer cannot share its own weights"),
        ("{shares: c, kernel_size: 5}", "kernel_size", "unknown field 'kernel_size' for a layer that shares weights"),
        ("{type: linear, out_features: 3, shares: c}", "c}", "but it is a linear, the shared layer a conv2d"),
        (
            "{type: conv2d, out_channels: 16, kernel_size: 5, padding: 1, shares: c}",
            "c}",
            "but kernel_size 5 here, 3 there",
        ),
        ("{type: conv2d, out_channels: 8, kernel_size: 1}\n  - {shares: c}", "c}", "do not fit the input here"),
    ],
    ids=["unknown", "later", "itself", "extra-field", "other-kind", "other-fields", "input-channels"],
)
def test_each_mistake_is_located_and_says_what_is_wrong(last: str, at: str, message: str) -> None:
    text = TWICE.replace("{shares: c, name: again}", last)
    line, column, said = problem(text)
    assert message in said
    # the line of the `shares:` entry (the first line of `last`), the column of `at` in it (1-based)
    lines = text.splitlines()
    entry = next(n for n, written in enumerate(lines) if "shares" in written)
    assert (line, column) == (entry + 1, lines[entry].index(at) + 1)


def test_weights_that_do_not_fit_say_both_shapes() -> None:
    text = TWICE.replace("  - relu\n", "  - {type: conv2d, out_channels: 8, kernel_size: 1}\n")
    _, _, said = problem(text)
    # c's weight is 16x16x3x3 (C_out, C_in, k, k); on an 8-channel input it would be 16x8x3x3
    assert "its weight is [16, 16, 3, 3] for an input of [16, 8, 8]" in said
    assert "an input of [8, 8, 8] needs [16, 8, 3, 3]" in said


def test_an_ambiguous_name_and_the_enclosing_composite_are_refused() -> None:
    two = TWICE.replace("  - relu\n", "  - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, name: c}\n")
    assert "'c' is ambiguous" in problem(two)[2]
    inside = BLOCK_TWICE.replace("      - relu\n", "      - {shares: blk}\n")
    assert "holds this layer: a layer cannot share the weights of the composite it is in" in problem(inside)[2]


# -- PyTorch: the built module, verify, export and import ---------------------------------------

SPECS = {
    "twice": TWICE,
    "block": BLOCK_TWICE,
    "pooled": TWICE.replace("  - relu\n", "  - {type: maxpool2d, kernel_size: 2}\n"),
}


@pytest.mark.parametrize("name", SPECS)
def test_the_built_module_is_one_module_called_twice_and_pytorch_counts_as_the_engine(name: str) -> None:
    spec = load(SPECS[name])
    report = cnnsize.analyze(spec)
    model = cnnsize.build(spec)
    assert measured(model, model.example_input()) == (report.totals.params, report.totals.flops)


def test_the_builder_maps_both_paths_to_one_module() -> None:
    model = cnnsize.build(load(TWICE))
    assert model.module_at(("layers", 2)) is model.module_at(("layers", 0))
    assert model.module_names[("layers", 2)] == model.module_names[("layers", 0)] == "layers.c"


@pytest.mark.parametrize("name", SPECS)
def test_verify_measures_every_call_apart_and_matches(name: str) -> None:
    result = verify(load(SPECS[name]), VerifyOptions(device="cpu", timed=False))
    assert all(figure.matches for figure in result.totals)
    for layer in result.layers:
        assert layer.engine_shape == layer.measured_shape, layer.path
        assert all(figure.matches for figure in layer.figures), layer.path


def _exported(spec: cnnsize.Spec) -> nn.Module:
    source = export_torch(spec)
    namespace: dict[str, Any] = {}
    exec(compile(source, "exported.py", "exec"), namespace)  # noqa: S102 - the file just written
    return namespace["Net"]()


def test_export_writes_one_submodule_called_twice() -> None:
    source = export_torch(load(TWICE))
    assert source.count("self.c = nn.Conv2d(") == 1
    assert "again = self.c(" in source  # the second call, in forward
    spec = load(TWICE)
    model = _exported(spec)
    report = cnnsize.analyze(spec)
    assert measured(model, torch.randn(1, 16, 8, 8)) == (report.totals.params, report.totals.flops)


@pytest.mark.parametrize("name", SPECS)
def test_export_then_import_gives_the_same_report(name: str) -> None:
    spec = load(SPECS[name])
    model = _exported(spec)
    data = to_spec(model, (16, 8, 8) if name != "block" else (8, 6, 6), name)
    checked(model, data)  # the imported spec counts what the module counts
    again = cnnsize.analyze(cnnsize.load(json.dumps(data)))
    original = cnnsize.analyze(spec)
    assert again.totals == original.totals
    # a module with weights called again is imported as `shares:`; a ReLU is written as a ReLU again
    weighted = [row.path for row in original.leaves() if row.shares and row.type != "relu"]
    assert sum(1 for row in again.leaves() if row.shares) == len(weighted) > 0


MODULES = """
from torch import nn


class ConvTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.conv(self.act(self.conv(x)))


class BlockTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.head(self.block(self.block(x)))
"""


@pytest.fixture(scope="module")
def modules() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(MODULES), "models.py", "exec"), namespace)  # noqa: S102 - the test's own source
    return namespace


@pytest.mark.parametrize(
    ("name", "params", "shared"),
    [
        ("ConvTwice", 4 * 4 * 9 + 4, [{"shares": "conv", "name": "conv_2"}]),  # 148, once
        # conv 4*4*9 = 144, batch norm 2*4 = 8, head 4*2 + 2 = 10; the ReLU is written as a ReLU again
        (
            "BlockTwice",
            144 + 8 + 10,
            [{"shares": "block.0", "name": "block.0_2"}, {"shares": "block.1", "name": "block.1_2"}],
        ),
    ],
)
def test_a_hand_written_module_called_twice_imports_with_shares(
    modules: dict[str, Any], name: str, params: int, shared: list[dict[str, str]]
) -> None:
    model = modules[name]()
    data = to_spec(model, (4, 6, 6), name)
    assert [layer for layer in data["layers"] if "shares" in layer] == shared
    checked(model, data)
    report = cnnsize.analyze(cnnsize.load(json.dumps(data)))
    assert report.totals.params == params
    assert measured(model.eval(), torch.randn(1, 4, 6, 6)) == (report.totals.params, report.totals.flops)


def test_the_import_command_writes_the_shares_form(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cnnsize.cli import app

    path = tmp_path / "models.py"
    path.write_text("import torch\n" + textwrap.dedent(MODULES), encoding="utf-8")
    done = CliRunner().invoke(app, ["import", f"{path}:ConvTwice", "--input", "4,6,6"])
    assert done.exit_code == 0, done.output
    assert "{shares: conv, name: conv_2}" in done.stdout


# -- memory: parameters, gradients and optimizer state once; what autograd saves, per call ------


def test_the_memory_model_counts_parameters_once() -> None:
    spec = load(TWICE)
    lines = model_memory(spec, Precision("float32", None, "cpu")).footprint("training", "adam", 1).lines
    assert lines["parameter_bytes"] == 2_320 * 4  # float32, once
    assert lines["gradient_bytes"] == 2_320 * 4
    # Adam: two moments per parameter, and a 4 B step counter per tensor on the CPU (the shared
    # conv's weight and bias, once)
    assert lines["optimizer_state_bytes"] == 2 * 2_320 * 4 + 2 * 4
    assert with_memory(spec, cnnsize.analyze(spec)).memory is not None


@pytest.mark.parametrize("amp", [None, "bf16"])
@pytest.mark.parametrize("name", SPECS)
def test_what_autograd_saves_and_the_peak_are_what_pytorch_measures(name: str, amp: Any) -> None:
    spec = load(SPECS[name])
    # autograd saves each call's input; under autocast the one cached bf16 copy of a shared weight
    assert estimated_saved(spec, 2, amp=amp)[0] == measured_saved(spec, 2, amp=amp)[0]
    for training in (False, True):
        assert estimated_peak(spec, 2, training, amp) == measured_peak(spec, 2, training, amp)


def test_the_sharing_view_counts_a_shared_convolutions_weights_once() -> None:
    from cnnsize.sharing import sharing

    view = sharing(cnnsize.analyze(load(TWICE)))
    assert [row.params for row in view.rows] == [CONV_PARAMS, 0]  # 2,320 at c, none again
    assert view.params == 2_320
