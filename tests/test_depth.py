"""Weighted depth: layers with weights on the longest path ("AlexNet 8, VGG 19, GoogLeNet 22, ResNet 152")."""

from __future__ import annotations

import pytest

from cnnsize.depth import weighted_depth
from cnnsize.engine import analyze
from cnnsize.loader import load


def depth_of(layers: str) -> int:
    return weighted_depth(analyze(load(f"input: [4, 8, 8]\nlayers:\n{layers}")).graph)


def test_only_convolutions_and_linear_layers_count():
    # conv, bn, relu, pool, flatten, linear: 2 weighted layers
    layers = (
        "  - {type: conv2d, out_channels: 4, kernel_size: 3}\n  - batchnorm2d\n  - relu\n"
        "  - {type: maxpool2d, kernel_size: 2}\n  - flatten\n  - {type: linear, out_features: 2}\n"
    )
    assert depth_of(layers) == 2


def test_parallel_paths_count_their_longest():
    # body: 2 convs; the auto shortcut's 1x1 projection is beside it, not after it
    residual = (
        "  - type: residual\n    shortcut: auto\n    body:\n"
        "      - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}\n"
        "      - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}\n"
    )
    assert depth_of(residual) == 2
    # branches of 1, 3 and 0 convs joined: 3
    conv = "{type: conv2d, out_channels: 2, kernel_size: 1}"
    assert depth_of(f"  - type: concat\n    branches: [[{conv}], [{conv}, {conv}, {conv}], []]\n") == 3


@pytest.mark.parametrize(
    "model, depth",
    [
        # the counts of the papers: LeNet-5, AlexNet 8, VGG 11/16/19, GoogLeNet 22 (Szegedy et al.: "22 layers deep
        # when counting only layers with parameters"), ResNet 18...152, SqueezeNet 18, DenseNet 121, MobileNetV2 53
        ("lenet5", 5),
        ("alexnet", 8),
        ("vgg11", 11),
        ("vgg16_bn", 16),
        ("vgg19", 19),
        ("googlenet", 22),
        ("resnet18", 18),
        ("resnet34", 34),
        ("resnet50", 50),
        ("resnet101", 101),
        ("resnet152", 152),
        ("squeezenet1_1", 18),
        ("densenet121", 121),
        ("mobilenet_v2", 53),
        # no paper counts these; the longest path runs through each squeeze-and-excitation's two 1x1
        # convolutions, the gate being multiplied back in. MobileNetV3-Large: stem 1; blocks 0-14
        # 2 (dw, project) + 2 * 3 (+ expand) + 3 * 5 (+ SE) + 4 * 3 + 5 * 5 = 60; last conv 1; two
        # linear layers: 64. EfficientNet-B0: stem 1; block 0 4 (dw, SE, project), blocks 1-15 5 each
        # (+ expand): 79; head conv 1; linear 1: 82
        ("mobilenet_v3_large", 64),
        ("efficientnet_b0", 82),
    ],
)
def test_the_zoo_has_the_depths_its_names_say(model, depth):
    assert weighted_depth(analyze(load(model)).graph) == depth
