"""The graph form: `from:` references and their scopes, joins and splits, several inputs and outputs,
layers that reach no output, and one located message for every way a graph can be wrong."""

from __future__ import annotations

import pytest

import cnnsize
from cnnsize.errors import SpecError
from cnnsize.graph import resolve


def report(text: str, batch_size: int = 1):
    return cnnsize.analyze(cnnsize.load(text), batch_size)


def problem(text: str) -> str:
    """The one message a bad spec gets: `line:col: error: path: message`."""
    with pytest.raises(SpecError) as caught:
        report(text)
    (found,) = caught.value.problems
    return str(found).removeprefix("<spec>:")


SE = """
input: [16, 8, 8]
layers:
  - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, name: x}
  - global_avgpool2d
  - {type: conv2d, out_channels: 4, kernel_size: 1}
  - relu
  - {type: conv2d, out_channels: 16, kernel_size: 1}
  - sigmoid
  - {type: mul, from: [x, -1]}
"""


def test_squeeze_and_excitation_multiplies_a_gate_into_its_input():
    r = report(SE)
    mul = r.rows[-1]
    assert (mul.type, mul.inputs, mul.input_shapes) == ("mul", ("x", "layers[5]"), ((16, 8, 8), (16, 1, 1)))
    assert mul.output_shape == (16, 8, 8)
    # conv 16*16*9 + 16 = 2,320; squeeze 16*4 + 4 = 68; excite 4*16 + 16 = 80
    assert r.totals.params == 2_320 + 68 + 80


def test_the_multiply_saves_both_operands():
    spec = cnnsize.load(SE)
    memory = cnnsize.with_memory(spec, cnnsize.analyze(spec), device="cpu").memory
    # x (16*8*8*4 = 4,096 B) for the gate's gradient, and the gate (16*4 = 64 B) for x's, which the
    # sigmoid saved first (its output): each storage is counted once, for the layer that saved it first
    assert memory.saved_at(("layers", 6)) == 4_096
    assert memory.saved_at(("layers", 5)) == 64


def test_a_layer_takes_the_previous_output_unless_it_says_from():
    graph = resolve(cnnsize.load(SE))
    reads = [node.inputs for node in graph.nodes]
    # values: 0 the input, then one per layer; the multiply reads x (1) and the sigmoid (6)
    assert reads == [(0,), (1,), (2,), (3,), (4,), (5,), (1, 6)]
    assert graph.consumers[1] == (1, 6)  # x is read twice: by the pool and by the multiply


def test_names_are_seen_from_inside_composites_and_input_is_the_innermost_input():
    r = report("""
input: [4, 6, 6]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 1, name: stem}
  - type: sequential
    layers:
      - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
      - {type: add, from: [stem, input, -1]}
""")
    add = r.rows[1].children[-1]
    # `stem` from the enclosing list; `input` is the sequential's input, which is stem's output too
    assert add.inputs == ("stem", "stem", "layers[1].layers[0]")


def test_a_split_gives_named_outputs():
    r = report("""
input: [8, 4, 4]
layers:
  - {type: chunk, chunks: 2, name: halves}
  - {type: conv2d, from: halves.1, out_channels: 4, kernel_size: 1}
  - {type: cat, from: [halves.0, -1]}
  - {type: split, split_size_or_sections: [2, 6], names: [small, big]}
  - {type: add, from: [small, small]}
""")
    chunk, _, cat, split, add = r.rows
    assert chunk.output_shapes == ((4, 4, 4), (4, 4, 4)) and chunk.to_dict()["output_shape"] is None
    assert cat.inputs == ("halves.0", "layers[1]") and cat.output_shape == (8, 4, 4)
    assert split.output_shapes == ((2, 4, 4), (6, 4, 4))
    assert add.inputs == ("small", "small")


def test_several_inputs_and_outputs():
    r = report("""
inputs: {image: [3, 8, 8], depth: [1, 8, 8]}
layers:
  - {type: cat, from: [image, depth], name: rgbd}
  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, name: features}
  - global_avgpool2d
  - flatten
  - {type: linear, out_features: 2, name: logits}
outputs: [logits, features]
""")
    assert r.inputs == (("image", (3, 8, 8)), ("depth", (1, 8, 8)))
    assert r.outputs == (("logits", (2,)), ("features", (4, 8, 8)))
    assert r.input_shape is None and r.output_shape is None
    data = r.to_dict()
    assert data["outputs"] == [{"name": "logits", "shape": [2]}, {"name": "features", "shape": [4, 8, 8]}]
    assert data["output_shape"] is None


def test_layers_that_reach_no_output_are_left_out_with_a_warning():
    spec = cnnsize.load("""
input: [4, 6, 6]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 1, name: a}
  - {type: conv2d, out_channels: 8, kernel_size: 1}
  - {type: relu, from: a}
""")
    r = cnnsize.analyze(spec)
    assert [row.type for row in r.rows] == ["conv2d", "relu"]
    assert r.totals.params == 4 * 4 + 4  # the 8-channel convolution is not counted
    (warning,) = r.warnings
    assert str(warning) == (
        "<spec>:5:5: warning: layers[1]: its output reaches no output of the network: left out of the totals"
    )


def test_an_in_place_layer_whose_input_another_reads_is_a_warning():
    r = report("""
input: [4, 6, 6]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 1, name: a}
  - {type: relu, inplace: true}
  - {type: add, from: [a, -1]}
""")
    assert [str(w) for w in r.warnings] == [
        "<spec>:5:27: warning: layers[1].inplace: relu is in place: it overwrites its input, which layers[2] reads too"
    ]


HEAD = "input: [4, 6, 6]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 1, name: stem}\n"


@pytest.mark.parametrize(
    "layers, message",
    [
        (
            "  - {type: add, from: [stme, -1]}\n",
            "4:24: error: layers[1].from[0]: no layer named 'stme' before this one (did you mean 'stem'?); "
            "names in reach: stem, input",
        ),
        (
            "  - {type: add, from: [stem, later]}\n  - {type: relu, name: later}\n",
            "4:30: error: layers[1].from[1]: 'later' is layers[2], which comes later: a layer can only take "
            "earlier outputs",
        ),
        (
            "  - {type: relu, name: me, from: me}\n",
            "4:34: error: layers[1].from: a layer cannot take its own output ('me' is this layer)",
        ),
        (
            "  - {type: relu, name: stem}\n  - {type: relu, from: stem}\n",
            "5:24: error: layers[2].from: 'stem' is ambiguous: layers[0] and layers[1] are both named so; rename one",
        ),
        (
            "  - {type: conv2d, out_channels: 2, kernel_size: 1}\n  - {type: add, from: [stem, -1]}\n",
            "5:23: error: layers[2].from: add: cannot add shapes [4, 6, 6], [2, 6, 6]: each dimension must be "
            "equal, or 1 where it differs (broadcast) (from stem, layers[1])",
        ),
        (
            "  - {type: cat, from: [stem, -3]}\n",
            "4:30: error: layers[1].from[1]: -3 reaches before the beginning of this list: from layer 1 of it, "
            "the furthest back is -2, the list's input",
        ),
        (
            "  - add\n",
            "4:5: error: layers[1]: add joins 2 or more inputs: name them in order with `from:` "
            "(for example `from: [stem, -1]`: the layer named stem, and the layer before)",
        ),  # fmt: skip
        (
            "  - {type: mul, from: [stem, stem, stem]}\n",
            "4:23: error: layers[1].from: mul takes 2 inputs, but `from` names 3",
        ),
        (
            "  - {type: relu, from: [stem, input]}\n",
            "4:24: error: layers[1].from: relu takes 1 input, but `from` names 2",
        ),
        (
            "  - {type: chunk, chunks: 2, name: h}\n  - relu\n",
            "5:5: error: layers[2]: layers[1] (h) gives several outputs: say which this layer takes with `from:` "
            "(`from: h.0`)",
        ),
        (
            "  - {type: chunk, chunks: 2, name: h}\n  - {type: relu, from: h}\n",
            "5:24: error: layers[2].from: 'h' gives 2 outputs: say which, 'h.0' to 'h.1'",
        ),  # fmt: skip
        (
            "  - {type: chunk, chunks: 2, name: h}\n  - {type: relu, from: h.2}\n",
            "5:24: error: layers[2].from: 'h' has no output '2': its outputs are h.0 to h.1",
        ),  # fmt: skip
        (
            "  - {type: chunk, chunks: 2, name: h}\n",
            "4:5: error: layers[1]: layers[1] (h) gives several outputs and ends the network: list them in `outputs:`",
        ),
        (
            "  - {type: relu, from: 3}\n",
            "4:24: error: layers[1].from: must name an earlier output: a layer's name, "
            "'input', or a negative offset (-1 is the layer before); got 3",
        ),  # fmt: skip
        (
            "  - {type: split, split_size_or_sections: [1, 2], name: s}\n",
            "4:43: error: layers[1].split_size_or_sections: split 's': the sections add up to 1 + 2 = 3, "
            "but the input has 4 along dim 1",
        ),
        (
            "  - {type: cat, dim: 0, from: [stem, stem]}\n",
            "4:22: error: layers[1].dim: cat: dim 0 is the batch: layers act on each sample",
        ),  # fmt: skip
    ],
)
def test_each_bad_graph_gets_one_located_message(layers, message):
    assert problem(HEAD + layers) == message


def test_outputs_name_layers_of_the_top_level_list():
    assert problem(HEAD + "outputs: [stem, nope]\n") == (
        "4:17: error: outputs[1]: no layer named 'nope' in `layers`; names in reach: stem, input"
    )
    assert (
        problem(HEAD + "outputs: [stem, stem]\n")
        == "4:17: error: outputs[1]: 'stem' names an output already listed in `outputs`"
    )


def test_several_inputs_need_a_from_where_the_input_is_not_clear():
    assert problem("inputs: {a: [3, 4, 4], b: [3, 4, 4]}\nlayers: [relu]\n") == (
        "2:10: error: layers[0]: the spec has several inputs (a, b): say which this layer takes with `from:`"
    )


def test_an_unused_input_is_a_warning():
    r = report("inputs: {a: [3, 4, 4], b: [3, 4, 4]}\nlayers: [{type: relu, from: a}]\n")
    assert [str(w) for w in r.warnings] == ["<spec>:1:27: warning: inputs.b: input 'b' reaches no output"]


def test_a_composite_list_may_not_end_in_a_split():
    text = "input: [4, 4, 4]\nlayers:\n  - type: sequential\n    layers: [{type: chunk, chunks: 2}]\n"
    assert problem(text) == (
        "4:14: error: layers[0].layers[0]: layers[0].layers[0] gives several outputs and ends the list of a "
        "composite, whose output must be one tensor"
    )


def test_the_graph_is_resolved_once_per_spec():
    spec = cnnsize.load(SE)
    assert resolve(spec) is resolve(spec)
    assert cnnsize.analyze(spec).graph is resolve(spec)


def test_composites_are_sugar_for_joins():
    graph = resolve(
        cnnsize.load(
            "input: [4, 4, 4]\nlayers:\n  - {type: residual, body: [relu]}\n  - {type: concat, branches: [[], [relu]]}\n"
        )
    )
    assert [(node.path, node.layer.kind) for node in graph.nodes] == [
        (("layers", 0, "body", 0), "relu"),
        (("layers", 0, "add"), "add"),
        (("layers", 1, "branches", 1, 0), "relu"),
        (("layers", 1, "cat"), "cat"),
    ]
    # the residual's add reads the body's output and the input; the concat's cat the add's output twice
    assert graph.nodes[1].inputs == (1, 0) and graph.nodes[3].inputs == (2, 3)


def test_an_in_place_layer_on_a_split_output_is_refused():
    # PyTorch: "Output 0 of SplitBackward0 is a view and is being modified inplace": training fails
    text = (
        HEAD
        + "  - {type: chunk, chunks: 2, name: c}\n  - {type: flatten, from: c.0}\n  - {type: relu, inplace: true}\n"
    )
    assert problem(text + "outputs: [-1, c.1]\n") == (
        "6:27: error: layers[3].inplace: relu is in place, but its input is a view made by the chunk at layers[1], "
        "which PyTorch's autograd does not let be modified in place: set `inplace: false`"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        # 3 x 10**60 x 8 elements: past 2**63 - 1 ~ 9.2e18
        ("input: [3, 1" + "0" * 60 + ", 8]\nlayers: [relu]\n", "1:8: error: input: the input is 3x~1e60x8: more than"),
        # 3 x 8 x 8 scaled by 10**9 per side: 3 x 8e9 x 8e9 = 1.92e20 elements
        (
            "input: [3, 8, 8]\nlayers: [{type: upsample, scale_factor: 1000000000}]\n",
            "2:10: error: layers[0]: the output of upsample is 3x8000000000x8000000000: more than",
        ),
    ],
)
def test_a_tensor_past_what_pytorch_sizes_hold_is_refused_where_it_is_made(text, message):
    found = problem(text)
    assert found.startswith(message) and "9,223,372,036,854,775,807 (2**63 - 1) elements" in found


def test_the_largest_tensor_is_accepted_and_counted_exactly():
    # 1 x (2**63 - 1) x 1 is the largest tensor; at a billion per batch, 4-byte floats
    data = report(f"input: [1, {2**63 - 1}, 1]\nlayers: [relu]\n", batch_size=10**9)
    assert data.totals.activation_bytes == 10**9 * (2**63 - 1) * 4


def test_an_input_that_looks_like_height_width_channels_is_a_warning():
    data = report("input: [32, 32, 3]\nlayers: [{type: conv2d, out_channels: 4, kernel_size: 3}]\n")
    (warning,) = data.warnings
    assert str(warning) == (
        "<spec>:1:8: warning: input: [32, 32, 3] looks like height, width, channels; cnnsize reads channels, "
        "height, width (PyTorch's order): for a 32x32 image of 3 channels, write [3, 32, 32]"
    )
    # a feature map of 64 channels, and an image written as PyTorch reads it, are not
    assert report("input: [64, 8, 8]\nlayers: [relu]\n").warnings == ()
    assert report("input: [3, 32, 32]\nlayers: [relu]\n").warnings == ()
