"""What other tools call our layer kinds and fields: a name that is not ours but means one of ours
(Keras's `Dense` and `filters`, the lecture's `fc` and `bn`) is suggested by meaning, where
spelling alone would find nothing or the wrong thing (`pool` is closest to `lppool2d` by spelling).

Keys are written as `spelling.closest` compares them: lower case, no underscores.
"""

KIND_MEANINGS = {
    "fc": "linear",
    "dense": "linear",
    "fullyconnected": "linear",
    "bn": "batchnorm2d",
    "batchnorm": "batchnorm2d",
    "batchnormalization": "batchnorm2d",
    "pool": "maxpool2d",
    "maxpool": "maxpool2d",
    "maxpooling2d": "maxpool2d",
    "avgpool": "avgpool2d",
    "averagepooling2d": "avgpool2d",
    "globalaveragepooling2d": "global_avgpool2d",
    "globalavgpool": "global_avgpool2d",
    "gap": "global_avgpool2d",
    "globalmaxpooling2d": "global_maxpool2d",
    "conv": "conv2d",
    "convolution": "conv2d",
    "conv2dtranspose": "conv_transpose2d",
    "deconv": "conv_transpose2d",
    "upsampling2d": "upsample",
    "layernorm": "layernorm2d",
    "layernormalization": "layernorm2d",
    "swish": "silu",
    "concatenate": "cat",
    "multiply": "mul",
}

FIELD_MEANINGS = {
    "filters": "out_channels",
    "outchannel": "out_channels",
    "units": "out_features",
    "strides": "stride",
    "poolsize": "kernel_size",
    "kernel": "kernel_size",
    "rate": "p",
    "usebias": "bias",
    "dilationrate": "dilation",
    "alpha": "negative_slope",
}

__all__ = ["FIELD_MEANINGS", "KIND_MEANINGS"]
