"""Small graphs for the kinds that need more than one layer to be tried: joins (which name their
inputs with `from:`) and splits (whose outputs later layers name). The kind tables of
test_kinds_torch.py and test_memory_torch.py run each against PyTorch, and test_kinds.py counts them
towards "every kind has a row"."""

from __future__ import annotations

from typing import Any

CONV = {"type": "conv2d", "out_channels": 4, "kernel_size": 1}
CONV3 = {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}

CNBLOCK = {  # a ConvNeXt block, its linear layers as 1x1 convolutions
    "type": "residual",
    "body": [
        {"type": "conv2d", "kernel_size": 7, "padding": 3, "groups": "depthwise"},
        {"type": "layernorm2d", "eps": 0.001},
        {"type": "conv2d", "out_channels": 16, "kernel_size": 1},
        "gelu",
        {"type": "conv2d", "out_channels": 4, "kernel_size": 1},
        "layer_scale",
        {"type": "stochastic_depth", "p": 0.1},
    ],
}
DCGAN = {  # a DCGAN generator's start: features to a 4x4 map, then up
    "type": "sequential",
    "layers": [
        {"type": "linear", "out_features": 128, "bias": False},
        {"type": "unflatten", "sizes": [8, 4, 4]},
        "batchnorm2d",
        {"type": "relu", "inplace": True},
        {"type": "conv_transpose2d", "out_channels": 4, "kernel_size": 4, "stride": 2, "padding": 1, "bias": False},
        "tanh",
    ],
}

# (kind tried, spec data)
GRAPHS: list[tuple[str, dict[str, Any]]] = [
    ("add", {"input": [3, 6, 6], "layers": [{**CONV, "name": "a"}, "relu", {"type": "add", "from": ["a", -1]}]}),
    (
        "add",  # three inputs: the sum before the last one lives beside the output
        {
            "input": [4, 6, 6],
            "layers": [
                {**CONV3, "name": "a"},
                {**CONV, "name": "b"},
                {"type": "add", "from": ["input", "a", "b"]},
            ],
        },
    ),
    (
        "add",  # broadcast: [4, 6, 6] + [4, 1, 1]
        {"input": [3, 6, 6], "layers": [{**CONV, "name": "a"}, "global_avgpool2d", {"type": "add", "from": ["a", -1]}]},
    ),
    (
        "mul",  # squeeze-and-excitation: x * sigmoid(fc(pool(x))) saves x and the gate
        {
            "input": [3, 6, 6],
            "layers": [
                {**CONV3, "name": "x"},
                "global_avgpool2d",
                {"type": "conv2d", "out_channels": 2, "kernel_size": 1},
                "relu",
                {"type": "conv2d", "out_channels": 4, "kernel_size": 1},
                "sigmoid",
                {"type": "mul", "from": ["x", -1]},
            ],
        },
    ),
    (
        "mul",  # the input needs no gradient: only the input is kept, for the other operand's gradient
        {"input": [4, 5, 5], "layers": [CONV, {"type": "mul", "from": ["input", -1]}]},
    ),
    ("mul", {"input": [12], "layers": [{"type": "linear", "out_features": 12}, {"type": "mul", "from": [-1, -1]}]}),
    (
        "cat",
        {
            "input": [3, 6, 6],
            "layers": [{**CONV, "name": "a"}, {**CONV3, "from": "input"}, {"type": "cat", "from": ["a", -1, "input"]}],
        },
    ),
    (
        "cat",  # along the height
        {
            "input": [3, 6, 6],
            "layers": [{**CONV, "name": "a"}, {**CONV, "stride": [2, 1]}, {"type": "cat", "dim": 2, "from": ["a", -1]}],
        },
    ),
    (
        "chunk",  # ShuffleNetV2's unit: half passes, half is transformed, then both are joined and shuffled
        {
            "input": [8, 6, 6],
            "layers": [
                CONV3 | {"out_channels": 8},
                {"type": "chunk", "chunks": 2, "name": "halves"},
                {**CONV, "from": "halves.1"},
                "relu",
                {"type": "cat", "from": ["halves.0", -1]},
            ],
        },
    ),
    (
        "chunk",  # 5 channels in chunks of ceil(5/3) = 2: sizes 2, 2, 1
        {
            "input": [5, 4, 4],
            "layers": [
                {"type": "chunk", "chunks": 3, "name": "c"},
                {"type": "conv2d", "from": "c.2", "out_channels": 2, "kernel_size": 1},
                {"type": "add", "from": ["c.0", "c.1", -1]},
            ],
        },
    ),
    (
        "split",
        {
            "input": [4, 6, 6],
            "layers": [
                CONV3,
                {"type": "split", "split_size_or_sections": [1, 3], "names": ["gate", "rest"]},
                {"type": "mul", "from": ["rest", "gate"]},
            ],
        },
    ),
    (
        "split",  # along the width, pieces of 4: 4 and 2
        {
            "input": [2, 6, 6],
            "layers": [
                CONV3,
                {"type": "split", "split_size_or_sections": 4, "dim": 3, "name": "s"},
                {"type": "conv2d", "from": "s.0", "out_channels": 4, "kernel_size": [1, 3]},
                {"type": "cat", "dim": 3, "from": ["s.1", -1]},
            ],
        },
    ),
]
