"""The memory model against PyTorch on the CPU, to the byte: what autograd saves for backward (each
storage once, parameters and buffers left out; in all and layer by layer) for every kind, in every
precision, with and without a gradient flowing in; for the bundled specs and the zoo; and the most
bytes of tensors alive at once in a forward pass, with autograd and without, in float32 and under
bf16 autocast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graph_rows import CNBLOCK, DCGAN, GRAPHS
from memory_oracle import estimated_peak, estimated_saved, measured_peak, measured_saved
from oracle import spec_of

import cnnsize
from cnnsize.kinds import KINDS

CONV = {"type": "conv2d", "out_channels": 4, "kernel_size": 1}
POOL = {"type": "maxpool2d", "kernel_size": 3, "stride": 1, "padding": 1}

# (input shape, layer): each kind, and each variant that saves something else
ROWS: list[tuple[list[int], Any]] = [
    ([3, 6, 6], {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}),
    ([3, 6, 6], {"type": "conv2d", "out_channels": 4, "kernel_size": 2, "padding": "same"}),  # padded 7x7 copy
    ([3, 6, 6], {"type": "conv2d", "out_channels": 6, "kernel_size": 3, "stride": 2, "groups": 3, "bias": False}),
    ([4, 5, 5], {"type": "conv_transpose2d", "out_channels": 2, "kernel_size": 3, "stride": 2, "padding": 1}),
    ([12], {"type": "linear", "out_features": 5}),
    ([12], {"type": "linear", "out_features": 5, "bias": False}),
    ([3, 4, 4], "identity"),
    ([3, 4, 4], "relu"),
    ([3, 4, 4], {"type": "relu", "inplace": True}),
    ([3, 4, 4], "relu6"),
    ([3, 4, 4], {"type": "relu6", "inplace": True}),
    ([3, 4, 4], "leaky_relu"),
    ([3, 4, 4], {"type": "leaky_relu", "inplace": True}),
    ([3, 4, 4], "elu"),
    ([3, 4, 4], {"type": "elu", "inplace": True}),
    ([3, 4, 4], "gelu"),
    ([3, 4, 4], {"type": "gelu", "approximate": "tanh"}),
    ([3, 4, 4], "silu"),
    ([3, 4, 4], {"type": "silu", "inplace": True}),
    ([3, 4, 4], "sigmoid"),
    ([3, 4, 4], "tanh"),
    ([3, 4, 4], "hardswish"),
    ([3, 4, 4], {"type": "hardswish", "inplace": True}),
    ([3, 4, 4], "softmax"),
    ([12], {"type": "softmax", "dim": -1}),
    ([3, 4, 4], "dropout"),
    ([3, 4, 4], {"type": "dropout", "inplace": True}),
    ([3, 4, 4], {"type": "dropout", "p": 0}),
    ([3, 4, 4], {"type": "dropout", "p": 1}),
    ([12], "dropout"),
    ([3, 4, 4], "dropout2d"),
    ([3, 4, 4], {"type": "dropout2d", "p": 1, "inplace": True}),
    ([3, 4, 4], "batchnorm2d"),
    ([3, 4, 4], {"type": "batchnorm2d", "affine": False}),
    ([3, 4, 4], {"type": "batchnorm2d", "track_running_stats": False}),
    ([3, 4, 4], {"type": "batchnorm2d", "affine": False, "track_running_stats": False}),
    ([3, 5, 5], {"type": "maxpool2d", "kernel_size": 2, "ceil_mode": True}),
    ([3, 6, 6], {"type": "avgpool2d", "kernel_size": 3, "stride": 2, "padding": 1}),
    ([3, 6, 6], {"type": "lppool2d", "norm_type": 2, "kernel_size": 2}),
    ([3, 6, 6], {"type": "lppool2d", "norm_type": 3, "kernel_size": 1}),  # the intermediates outweigh x^p
    ([3, 6, 6], {"type": "lppool2d", "norm_type": float("inf"), "kernel_size": 2}),
    ([3, 6, 5], {"type": "adaptive_avgpool2d", "output_size": [2, 3]}),
    ([3, 6, 5], {"type": "adaptive_avgpool2d", "output_size": 1}),  # a mean: nothing saved
    ([3, 6, 5], {"type": "adaptive_maxpool2d", "output_size": 2}),
    ([3, 6, 5], "global_avgpool2d"),
    ([3, 6, 5], "global_maxpool2d"),
    ([6, 3, 3], {"type": "channel_maxpool", "kernel_size": 3}),
    ([6, 3, 3], {"type": "channel_avgpool", "kernel_size": 2}),
    ([3, 4, 4], "flatten"),
    ([3, 4, 4], {"type": "zeropad2d", "padding": [1, 0, 2, 1]}),
    ([3, 4, 5], {"type": "upsample", "scale_factor": [2, 3]}),
    ([3, 4, 5], {"type": "upsample", "scale_factor": [2, 3], "mode": "bilinear"}),
    ([3, 4, 5], {"type": "upsample", "scale_factor": 2, "mode": "bicubic", "align_corners": True}),
    ([3, 4, 4], "hardsigmoid"),
    ([3, 4, 4], {"type": "hardsigmoid", "inplace": True}),
    ([12], "batchnorm1d"),
    ([12], {"type": "batchnorm1d", "affine": False, "track_running_stats": False}),
    ([3, 4, 5], "layernorm2d"),
    ([3, 4, 5], {"type": "layernorm2d", "bias": False}),
    ([3, 4, 5], {"type": "layernorm2d", "elementwise_affine": False}),
    ([6, 4, 5], {"type": "groupnorm", "num_groups": 3}),
    ([6, 4, 5], {"type": "groupnorm", "num_groups": 2, "affine": False}),
    ([6], {"type": "groupnorm", "num_groups": 3}),
    ([3, 4, 5], "instancenorm2d"),
    ([3, 4, 5], {"type": "instancenorm2d", "affine": True}),
    ([3, 4, 5], {"type": "instancenorm2d", "track_running_stats": True}),
    ([3, 4, 5], {"type": "instancenorm2d", "affine": True, "track_running_stats": True}),
    ([3, 4, 5], "layer_scale"),
    ([12], "layer_scale"),
    ([3, 4, 5], {"type": "stochastic_depth", "p": 0.2}),
    ([3, 4, 5], {"type": "stochastic_depth", "p": 0.2, "mode": "batch"}),
    ([3, 4, 5], {"type": "stochastic_depth", "p": 0}),
    ([3, 4, 5], {"type": "stochastic_depth", "p": 1}),
    ([12], {"type": "stochastic_depth", "p": 0.5}),
    ([8, 3, 2], {"type": "pixel_shuffle", "upscale_factor": 2}),
    ([2, 6, 4], {"type": "pixel_unshuffle", "downscale_factor": 2}),
    ([6, 3, 3], {"type": "channel_shuffle", "groups": 3}),
    ([3, 7, 6], {"type": "center_crop", "size": [4, 3]}),
    ([3, 4, 4], {"type": "reshape", "shape": [4, 3, 4]}),
    ([48], {"type": "reshape", "shape": [3, -1, 4]}),
    ([48], {"type": "unflatten", "sizes": [3, 4, 4]}),
    ([4, 6, 6], {"type": "residual", "body": [CONV, "relu", CONV]}),  # x lives across the body
    ([4, 6, 6], {"type": "residual", "body": [CONV], "shortcut": [{"type": "relu", "inplace": True}]}),
    ([4, 6, 6], {"type": "residual", "shortcut": "auto", "body": [{**CONV, "out_channels": 8, "stride": 2}]}),
    ([4, 6, 6], {"type": "concat", "branches": [[CONV], [], [POOL], ["relu", CONV]]}),
    ([6], {"type": "concat", "branches": [[{"type": "linear", "out_features": 2}], [], ["sigmoid"]]}),
    ([4, 6, 6], {"type": "sequential", "layers": [CONV, {"type": "relu6", "inplace": True}]}),
    ([16], DCGAN),  # [4, 8, 8]: (4 - 1)*2 - 2 + 4 = 8
]

PRECISIONS = [("float32", None), ("float32", "bf16"), ("bfloat16", None), ("float64", None)]
MODES = [False, True]


def _kind(layer: Any) -> str:
    return layer if isinstance(layer, str) else layer["type"]


def _ids(rows: list[tuple[list[int], Any]]) -> list[str]:
    return [f"{_kind(layer)}-{i}" for i, (_, layer) in enumerate(rows)]


def _after_weights(inp: list[int], layer: Any) -> dict[str, Any]:
    """The layer after a shape-keeping layer with weights, so a gradient flows into it."""
    first = {"type": "linear", "out_features": inp[0]} if len(inp) == 1 else {**CONV, "out_channels": inp[0]}
    return {"input": inp, "layers": [first, layer]}


def assert_saved_equal(spec: Any, batch_size: int, dtype: str = "float32", amp: Any = None) -> None:
    measured, measured_by = measured_saved(spec, batch_size, dtype, amp)
    estimated, estimated_by = estimated_saved(spec, batch_size, dtype, amp)
    assert (estimated, estimated_by) == (measured, measured_by)


@pytest.mark.parametrize("dtype, amp", PRECISIONS, ids=[amp or dtype for dtype, amp in PRECISIONS])
@pytest.mark.parametrize("inp, layer", ROWS, ids=_ids(ROWS))
def test_each_kind_saves_what_the_model_says(inp, layer, dtype, amp):
    assert_saved_equal(spec_of(_after_weights(inp, layer)), 2, dtype, amp)


@pytest.mark.parametrize("amp", [None, "bf16"])
@pytest.mark.parametrize("inp, layer", ROWS, ids=_ids(ROWS))
def test_each_kind_on_the_raw_input_saves_only_for_its_weights(inp, layer, amp):
    # nothing needs a gradient before the first layer with weights: a ReLU on the input saves
    # nothing, a convolution saves the input for its weight's gradient
    assert_saved_equal(spec_of({"input": inp, "layers": [layer]}), 2, amp=amp)


GRAPH_IDS = [f"{kind}-{i}" for i, (kind, _) in enumerate(GRAPHS)]


@pytest.mark.parametrize(
    "dtype, amp", PRECISIONS + [("float32", "fp16")], ids=[a or d for d, a in PRECISIONS] + ["fp16"]
)
@pytest.mark.parametrize("kind, data", GRAPHS, ids=GRAPH_IDS)
def test_each_join_and_split_saves_what_the_model_says(kind, data, dtype, amp):
    assert_saved_equal(spec_of(data), 2, dtype, amp)


@pytest.mark.parametrize("amp", [None, "bf16", "fp16"])
@pytest.mark.parametrize("training", MODES, ids=["inference", "training"])
@pytest.mark.parametrize("kind, data", GRAPHS, ids=GRAPH_IDS)
def test_each_join_and_split_peaks_where_the_model_says(kind, data, training, amp):
    spec = spec_of(data)
    assert estimated_peak(spec, 2, training, amp) == measured_peak(spec, 2, training, amp)


def test_every_registered_kind_has_a_memory_row():
    missing = sorted(set(KINDS) - {_kind(layer) for _, layer in ROWS} - {kind for kind, _ in GRAPHS})
    assert not missing, f"add a row to ROWS (and a `saved_for_backward`) for: {', '.join(missing)}"


ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(ROOT.joinpath("specs").glob("*.yaml"))
ZOO = sorted(Path(cnnsize.__file__).parent.joinpath("zoo").glob("*.yaml"))
# At batch 8 the zoo is measured on a subset holding every kind and every kind of block the zoo
# uses: LeNet-5, AlexNet (dropout, linear), ResNet-18 (basic blocks, projection shortcuts),
# SqueezeNet 1.0 (fire modules: concat), DenseNet-121 (dense concatenation, transitions),
# MobileNetV2 (depthwise, in-place ReLU6, inverted residuals), MobileNetV3-Large (in-place
# hardswish, squeeze-and-excitation as a `mul` by a hardsigmoid gate, the skip as an `add`) and
# EfficientNet-B0 (in-place SiLU, a sigmoid gate, stochastic depth's noise); these last two take
# 1.3 s in the whole suite on two cores (5 to 13 s run alone, torch's warm-up included). The rest
# repeat these blocks (VGG is conv-ReLU-pool, GoogLeNet's inception is branches joined like fire
# modules, ResNet-34/50/101/152 more and wider blocks) and would add over a minute of CPU time on
# two cores. At batch 1 every zoo model is measured, by verify's test in test_backend_verifier.py.
# ShuffleNetV2 (chunk, channel shuffle, a split's view saved whole) adds about 1 s, ConvNeXt-T (layer
# norm over channels, GELU, layer scale, stochastic depth; the smallest model with them) about 5 s,
# on two cores (DenseNet-121 takes about 7 s).
ZOO_AT_8 = [
    "lenet5",
    "alexnet",
    "resnet18",
    "squeezenet1_0",
    "densenet121",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "shufflenet_v2_x1_0",
    "convnext_tiny",
]


@pytest.mark.parametrize("batch_size", [1, 8])
@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_bundled_specs_save_what_the_model_says(path, batch_size):
    assert_saved_equal(cnnsize.load(path), batch_size)


@pytest.mark.parametrize("name", ZOO_AT_8)
def test_the_zoo_at_batch_8_saves_what_the_model_says(name):
    assert_saved_equal(cnnsize.load(name), 8)


def test_the_zoo_subset_holds_every_kind_the_zoo_uses():
    def kinds(name: str) -> set[str]:
        return {row.type for _, row in cnnsize.analyze(cnnsize.load(name)).walk()}

    everything = set().union(*(kinds(path.stem) for path in ZOO))
    assert everything == set().union(*(kinds(name) for name in ZOO_AT_8))


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
@pytest.mark.parametrize("name", ["small-resnet", "toy"])
def test_mixed_precision_saves_half_copies_of_the_weights(name, amp):
    assert_saved_equal(cnnsize.load(ROOT / "specs" / f"{name}.yaml"), 2, amp=amp)


PEAK_SPECS = [str(p) for p in SPECS] + ["resnet18"]


@pytest.mark.parametrize("amp", [None, "bf16"])
@pytest.mark.parametrize("training", MODES, ids=["inference", "training"])
@pytest.mark.parametrize("name", PEAK_SPECS, ids=[Path(n).stem for n in PEAK_SPECS])
def test_the_peak_of_a_forward_pass_is_what_the_model_says(name, training, amp):
    # tensors alive at once, as a dispatch mode sees them (`LiveTensors`): the input batch, each
    # output until its last consumer has run, what autograd keeps, autocast's casts and weight cache
    spec = cnnsize.load(name)
    assert estimated_peak(spec, 2, training, amp) == measured_peak(spec, 2, training, amp)


def _not_counted(inp: list[int], layer: Any, training: bool, amp: Any, batch_size: int = 2) -> int:
    """Bytes PyTorch holds at the peak that the memory model does not count (the kind's docstring
    tells why); zero everywhere else: `instancenorm2d` in training under autocast, without affine
    parameters but tracking running statistics, first makes the per-channel mean in the input's
    dtype (C bfloat16 values), then its float32 copy, which the model counts."""
    fields = layer if isinstance(layer, dict) else {}
    if _kind(layer) == "instancenorm2d" and training and amp and fields.get("track_running_stats"):
        return 0 if fields.get("affine") else inp[0] * 2
    return 0


@pytest.mark.parametrize("amp", [None, "bf16"])
@pytest.mark.parametrize("training", MODES, ids=["inference", "training"])
@pytest.mark.parametrize("inp, layer", ROWS, ids=_ids(ROWS))
def test_each_kind_peaks_where_the_model_says(inp, layer, training, amp):
    spec = spec_of(_after_weights(inp, layer))
    not_counted = _not_counted(inp, layer, training, amp)
    assert estimated_peak(spec, 2, training, amp) + not_counted == measured_peak(spec, 2, training, amp)


def test_what_the_model_does_not_count_is_stated_where_it_differs():
    # instance norm tracking statistics without affine parameters, training, bf16: 3 channels * 2 B
    assert _not_counted([3, 4, 5], {"type": "instancenorm2d", "track_running_stats": True}, True, "bf16") == 6
    assert _not_counted([3, 4, 5], {"type": "instancenorm2d", "track_running_stats": True}, True, None) == 0
    assert _not_counted([12], "layer_scale", False, "bf16") == 0  # its float32 product is counted now


@pytest.mark.parametrize(
    "layers, copy",
    [
        # layernorm2d's output keeps channels-last strides, and so does the ReLU after it: flatten
        # copies the ReLU's output (saved by the ReLU), and the linear layer saves the copy,
        # 2 samples * 3*4*5 values * 4 B = 480 B more than the model's one storage
        (["layernorm2d", "relu", "flatten", {"type": "linear", "out_features": 2}], 2 * 3 * 4 * 5 * 4),
        # a crop is a slice of the convolution's output: the linear layer saves flatten's copy of
        # the 2x2 crop (2*3*2*2*4 = 96 B) where the model saves the whole 4x5 map (2*3*4*5*4 = 480 B)
        ([{"type": "center_crop", "size": 2}, "flatten", {"type": "linear", "out_features": 2}], 96 - 480),
        # a channel piece of a batch of 2 is not contiguous: group norm saves its copy of the piece
        # (2*1*4*5*4 = 160 B) where the model saves the convolution's whole map (2*3*4*5*4 = 480 B)
        (
            [{"type": "chunk", "chunks": 3, "name": "c"}, {"type": "groupnorm", "num_groups": 1, "from": "c.0"}],
            160 - 480,
        ),
        # at 1x1 the strides do not matter: flatten is a view (ConvNeXt's classifier)
        (["layernorm2d", "global_avgpool2d", "layernorm2d", "flatten", {"type": "linear", "out_features": 2}], 0),
    ],
)
def test_a_reshape_of_a_strided_map_copies_where_the_model_counts_a_view(layers, copy):
    # docs/memory.md, "Not counted": the memory model assumes NCHW-contiguous tensors
    spec = spec_of({"input": [3, 4, 5], "layers": [{**CONV, "out_channels": 3}, *layers]})
    measured, _ = measured_saved(spec, 2)
    estimated, _ = estimated_saved(spec, 2)
    assert measured - estimated == copy


@pytest.mark.parametrize("dtype, amp", PRECISIONS, ids=[amp or dtype for dtype, amp in PRECISIONS])
def test_a_convnext_block_saves_what_the_model_says(dtype, amp):
    measured, measured_by = measured_saved(spec_of(_after_weights([4, 8, 8], CNBLOCK)), 2, dtype, amp)
    estimated, estimated_by = estimated_saved(spec_of(_after_weights([4, 8, 8], CNBLOCK)), 2, dtype, amp)
    # under autocast, layer scale's product is float32, and so is the noise stochastic depth draws
    assert (estimated, estimated_by) == (measured, measured_by)


@pytest.mark.parametrize("training", MODES, ids=["inference", "training"])
def test_a_convnext_block_peaks_where_the_model_says(training):
    spec = spec_of(_after_weights([4, 8, 8], CNBLOCK))
    assert estimated_peak(spec, 2, training) == measured_peak(spec, 2, training)
