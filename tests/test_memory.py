"""The memory model without torch: storages counted once, gradients flowing from the first weights,
lifetimes across composites, dtypes by device and precision; each figure derived in a comment
(tests/test_memory_torch.py checks the same model against PyTorch)."""

from __future__ import annotations

import pytest

from cnnsize.errors import UsageError
from cnnsize.graph import resolve
from cnnsize.memory import Bytes, Precision, trace

CONV = {"type": "conv2d", "out_channels": 4, "kernel_size": 1}


def traced(make_spec, data, training=True, **precision):
    spec = make_spec(data)
    return trace(resolve(spec), Precision(**{"device": "cpu", **precision}), training)


def saved(make_spec, data, batch_size=1, **precision):
    return traced(make_spec, data, **precision).saved.at(batch_size)


def test_bytes_grow_linearly_with_the_batch():
    size = Bytes(fixed=24, per_sample=100) + Bytes(8, 50)
    assert size == Bytes(32, 150)
    assert size.at(4) == 32 + 150 * 4 == 632
    assert (size - Bytes(32, 0)).times(2) == Bytes(0, 300)


def test_the_toy_network_saves_what_backward_needs(make_spec):
    toy = {
        "input": [3, 32, 32],
        "layers": [
            {"type": "conv2d", "out_channels": 12, "kernel_size": 3, "padding": 1},
            "relu",
            {"type": "maxpool2d", "kernel_size": 2},
            "flatten",
            {"type": "linear", "out_features": 10},
        ],
    }
    t = traced(make_spec, toy)
    # conv: its input 3*32*32*4 = 12,288; relu: its output 12*32*32*4 = 49,152; max pooling: that
    # same output (counted once) and int64 indices 12*16*16*8 = 24,576; flatten: a view; linear:
    # its input, the pooled map 12*16*16*4 = 12,288 -> 98,304 per sample, nothing fixed
    assert t.saved == Bytes(0, 12_288 + 49_152 + 24_576 + 12_288)
    by_layer = {path[-1]: size.per_sample for path, size in t.saved_by.items()}
    assert by_layer == {0: 12_288, 1: 49_152, 2: 24_576, 4: 12_288}
    assert t.input_saved  # the conv keeps the very input batch


def test_nothing_is_saved_before_the_first_layer_with_weights(make_spec):
    # a ReLU on the input saves nothing (no gradient flows there); the conv after it saves its
    # input, the ReLU's output 3*4*4*4 = 192
    assert saved(make_spec, {"input": [3, 4, 4], "layers": ["relu", CONV]}) == 192
    # after the conv, a ReLU saves its output 4*4*4*4 = 256
    assert saved(make_spec, {"input": [3, 4, 4], "layers": [CONV, "relu"]}) == 192 + 256


def test_in_place_operations_share_their_input_storage(make_spec):
    layers = [CONV, "batchnorm2d", {"type": "relu", "inplace": True}, CONV]
    # conv 1 keeps the input 3*4*4*4 = 192; batch norm its input, conv 1's output 4*4*4*4 = 256,
    # and two per-channel statistics 2*4*4 = 32 (fixed); the in-place ReLU its result, batch
    # norm's output storage 256, which conv 2 keeps too (counted once)
    t = traced(make_spec, {"input": [3, 4, 4], "layers": layers})
    assert t.saved == Bytes(32, 192 + 256 + 256)
    # out of place, ReLU6 keeps its input; in place it keeps a copy taken before overwriting it
    relu6 = [CONV, {"type": "relu6", "inplace": True}]
    assert saved(make_spec, {"input": [3, 4, 4], "layers": relu6}) == 192 + 256


def test_a_residual_input_lives_across_its_body(make_spec):
    block = {"type": "residual", "body": [CONV, "relu", CONV]}
    t = traced(make_spec, {"input": [4, 4, 4], "layers": [block]}, training=False)
    # every map is 4*4*4*4 = 256 B; at the second conv: the input (held for the shortcut), the
    # ReLU's output and the conv's output; at the add: input, body output and the sum -> 768
    assert [m.per_sample for m in t.moments] == [256, 512, 768, 768, 768]
    assert t.peak(2) == 2 * 768


def test_concat_branches_live_until_the_join(make_spec):
    block = {"type": "concat", "branches": [[CONV], [CONV], []]}
    t = traced(make_spec, {"input": [4, 4, 4], "layers": [block]}, training=False)
    # the input 256, branch outputs 256 each, then the join 3*256: 256 + 2*256 + 768 = 1,536
    assert t.peak(1) == 1_536


def test_dropout_masks_differ_by_device(make_spec):
    data = {"input": [12], "layers": [{"type": "linear", "out_features": 10}, "dropout"]}
    # the linear keeps its input 12*4 = 48; dropout's mask: 10 float32 on the CPU, 10 bool on CUDA
    assert saved(make_spec, data) == 48 + 40
    assert saved(make_spec, data, device="cuda") == 48 + 10
    # in place, CUDA too runs the unfused kernel, whose mask has the input's dtype
    data["layers"][1] = {"type": "dropout", "inplace": True}
    assert saved(make_spec, data, device="cuda") == 48 + 40


def test_mixed_precision_casts_where_autocast_does(make_spec):
    data = {"input": [3, 4, 4], "layers": [CONV, {"type": "softmax", "dim": 1}]}
    t = traced(make_spec, data, amp="bf16")
    # the conv keeps a bf16 copy of the input 3*4*4*2 = 96 and of its weight 4*3*2 = 24 (fixed);
    # softmax keeps its output: bf16 on the CPU, 4*4*4*2 = 128
    assert t.saved == Bytes(24, 96 + 128)
    assert t.weight_copies == Bytes((12 + 4) * 2, 0)  # weight and bias, cached by autocast
    assert not t.input_saved  # the float32 batch itself is not saved: its copy is
    # on CUDA, softmax runs in float32: 4*4*4*4 = 256
    assert traced(make_spec, data, amp="bf16", device="cuda").saved == Bytes(24, 96 + 256)


@pytest.mark.parametrize(
    "precision, message",
    [
        ({"amp": "fp8"}, "unknown precision 'fp8' for mixed precision; choose one of bf16, fp16"),
        ({"dtype": "float16", "amp": "bf16"}, "keeps float32 master weights, but the dtype is float16"),
        ({"device": "tpu"}, "unknown device 'tpu'; choose one of cuda, cpu"),
        ({"dtype": "float8"}, "unknown dtype 'float8'"),
    ],
)
def test_bad_precisions_are_usage_errors(precision, message):
    with pytest.raises(UsageError, match=message):
        Precision(**precision)
