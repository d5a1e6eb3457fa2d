"""The model zoo: specs of well-known CNNs as torchvision defines them (224x224 inputs, 1000
classes; LeNet-5 as PyTorch's tutorial has it), shipped as package data and addressable by name:
`cnnsize report resnet50`."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Optional

from cnnsize.spelling import suggest


@dataclass(frozen=True)
class Model:
    """A model of the zoo: its spec's name, and the year and paper of the architecture."""

    name: str
    year: int
    paper: str


_VGG = "Simonyan & Zisserman, Very deep convolutional networks for large-scale image recognition"
_RESNET = "He et al., Deep residual learning for image recognition"
_EFFICIENTNET = "Tan & Le, EfficientNet: rethinking model scaling for convolutional neural networks"

MODELS: dict[str, Model] = {
    model.name: model
    for model in (
        Model("lenet5", 1998, "LeCun et al., Gradient-based learning applied to document recognition"),
        Model("alexnet", 2012, "Krizhevsky et al., ImageNet classification with deep convolutional neural networks"),
        Model("vgg11", 2014, _VGG),
        Model("vgg11_bn", 2014, _VGG + ", with batch normalisation"),
        Model("vgg16", 2014, _VGG),
        Model("vgg16_bn", 2014, _VGG + ", with batch normalisation"),
        Model("vgg19", 2014, _VGG),
        Model("googlenet", 2014, "Szegedy et al., Going deeper with convolutions"),
        Model("resnet18", 2015, _RESNET),
        Model("resnet34", 2015, _RESNET),
        Model("resnet50", 2015, _RESNET),
        Model("resnet101", 2015, _RESNET),
        Model("resnet152", 2015, _RESNET),
        Model("squeezenet1_0", 2016, "Iandola et al., SqueezeNet: AlexNet-level accuracy with 50x fewer parameters"),
        Model("squeezenet1_1", 2016, "Iandola et al., SqueezeNet v1.1 (the SqueezeNet repository)"),
        Model("densenet121", 2016, "Huang et al., Densely connected convolutional networks"),
        Model("mobilenet_v2", 2018, "Sandler et al., MobileNetV2: inverted residuals and linear bottlenecks"),
        Model(
            "shufflenet_v2_x1_0",
            2018,
            "Ma et al., ShuffleNet V2: practical guidelines for efficient CNN architecture design",
        ),
        Model("mobilenet_v3_large", 2019, "Howard et al., Searching for MobileNetV3"),
        Model("efficientnet_b0", 2019, _EFFICIENTNET),
        Model("convnext_tiny", 2022, "Liu et al., A ConvNet for the 2020s"),
    )
}


PREFIX = "zoo:"
"""How a model of the zoo is named as a file: `zoo:resnet50` (in messages and JSON's `file`)."""


def spec_file(name: str) -> Optional[str]:
    """The path of the zoo's spec called `name`, or None when the zoo has no such model."""
    if name not in MODELS:
        return None
    return str(resources.files(__name__).joinpath(f"{name}.yaml"))


def hint(name: str) -> str:
    """For a name that is neither a file nor a model: the closest model's name, if any."""
    close = suggest(name, MODELS)
    return f", and no model of the zoo is called that{close or ' (see `cnnsize zoo`)'}"
