"""Counting conventions: the figure other tools print for a network, so that it can be set beside
a paper's or a peer's.

cnnsize's own FLOPs are PyTorch's (`torch.utils.flop_counter.FlopCounterMode`): 2 per
multiply-accumulate of a convolution or matrix product, nothing else. Other tools count other
things: fvcore calls one multiply-add a "flop" and counts normalisation, ptflops and thop count
biases, activations, pooling and upsampling in their own ways, DeepSpeed's profiler counts FLOPs
with biases and element-wise work. Each `Convention` here is one tool's rule, written for every
layer kind from the tool's source and checked against the tool itself by
`benchmarks/conventions.py` (kind by kind, to the unit).

What every convention assumes: the network is run in eval mode on the modules cnnsize builds for
its kinds (`cnnsize.build`, torchvision's own modules), with joins written as Python operators
(`a + b`, `x * s`, `torch.cat`), as torchvision writes them. A tool that hooks modules or patches
functions does not see an operator; the rules say what each tool sees.

Each rule gives the count for one sample; the convention multiplies by the batch, as fvcore, thop,
DeepSpeed and FlopCounterMode do (ptflops always prints one sample's figure, so at a batch of N
its figure here is N times what ptflops prints).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import prod
from typing import TYPE_CHECKING, Callable, Iterable

from cnnsize.errors import SpecPath, UsageError
from cnnsize.shapes import Shape

if TYPE_CHECKING:
    from cnnsize.graph import Member
    from cnnsize.kinds.base import LayerKind
    from cnnsize.report import LayerRow, Report

Shapes = tuple[Shape, ...]
Rule = Callable[["LayerKind", Shapes, Shapes], int]  # (layer, input shapes, output shapes) -> one sample's count


# --- What rules count --------------------------------------------------------------------------


def nothing(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    return 0


def macs(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    """Multiply-accumulates of a convolution or fully connected layer (cnnsize's MACs)."""
    return layer.node_macs(ins, outs)


def bias(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    """One addition per output element of a convolution or linear layer with a bias."""
    return prod(outs[0]) if getattr(layer, "bias", False) else 0


def linear_bias(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    """A bias counted on linear layers only (DeepSpeed's convolutions count it, its linear not)."""
    return bias(layer, ins, outs) if layer.kind != "linear" else 0


def inputs(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    """One per element of the (first) input."""
    return prod(ins[0])


def outputs(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    """One per element of the (first) output."""
    return prod(outs[0])


def parameters(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    """The layer's trainable parameters, counted once per sample."""
    return layer.node_params(ins)


def parameters_per_position(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    """torchinfo's convolution: every weight and bias element once per output position (H x W),
    which for a transposed convolution is not its multiply-accumulates."""
    return layer.node_params(ins) * prod(outs[0][1:])


def affine(layer: LayerKind) -> bool:
    """Whether a normalisation layer has a learnable weight."""
    return bool(getattr(layer, "affine", False) or getattr(layer, "elementwise_affine", False))


def plus(*rules: Rule) -> Rule:
    """The sum of `rules`."""

    def total(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
        return sum(rule(layer, ins, outs) for rule in rules)

    return total


def times(factor: int, rule: Rule) -> Rule:
    """`factor` x `rule`."""

    def scaled(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
        return factor * rule(layer, ins, outs)

    return scaled


def per_input(with_affine: int, without: int) -> Rule:
    """`with_affine` per input element when the layer has a learnable weight, else `without`."""

    def count(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
        return (with_affine if affine(layer) else without) * prod(ins[0])

    return count


def batchnorm_eval(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    """fvcore's and DeepSpeed's batch norm: in eval mode with running statistics, 2 per input
    element (1 without affine); without running statistics it normalises by the batch's own, which
    they count as training: 5 per element (4 without affine)."""
    if getattr(layer, "track_running_stats", True):
        return per_input(2, 1)(layer, ins, outs)
    return per_input(5, 4)(layer, ins, outs)


def lp_pool(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    """`F.lp_pool2d` as function patches see it: `avg_pool2d` of the input (1 per input element),
    then `relu` and `Tensor.mul` (1 per output element each)."""
    return prod(ins[0]) + 2 * prod(outs[0])


def upsample_by_mode(per_output: dict[str, int]) -> Rule:
    """A count per output element that depends on the interpolation mode."""

    def count(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
        return per_output[getattr(layer, "mode")] * prod(outs[0])

    return count


def nearest_and_bilinear(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    """fvcore: nearest 1 and bilinear 4 per output element; bicubic is an op it does not support (0)."""
    return upsample_by_mode({"nearest": 1, "bilinear": 4, "bicubic": 0})(layer, ins, outs)


def _window_sum(size: int, out: int, k: int, s: int, p: int, include_pad: bool) -> int:
    """The input positions all `out` windows of one axis cover, clipped to the input (and to its
    padding when the padding counts)."""
    lower, upper = (-p, size + p) if include_pad else (0, size)
    return sum(max(min(i * s - p + k, upper) - max(i * s - p, lower), 0) for i in range(out))


def thop_avgpool(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    """thop: one addition per input element each window reads, one division per output element."""
    (c, h, w), (_, oh, ow) = ins[0], outs[0]
    k, s, p = getattr(layer, "kernel_size"), getattr(layer, "strides"), getattr(layer, "pads")
    include = getattr(layer, "count_include_pad")
    return c * _window_sum(h, oh, k[0], s[0], p[0], include) * _window_sum(w, ow, k[1], s[1], p[1], include) + prod(
        outs[0]
    )


def thop_adaptive_avgpool(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    """thop: the elements every adaptive window reads (output j of an axis of I spans
    [j*I // O, ceil((j + 1)*I / O))), plus one division per output element."""
    read = 1
    for i, o in zip(ins[0], outs[0]):
        read *= o if i == o else sum(-(-(j + 1) * i // o) - j * i // o for j in range(o))
    return read + prod(outs[0])


def thop_softmax(layer: LayerKind, ins: Shapes, outs: Shapes) -> int:
    """thop: along `dim` of n elements, n exponentials, n - 1 additions and n divisions."""
    shape = ins[0]
    n = shape[getattr(layer, "dim") % (len(shape) + 1) - 1]  # `dim` counts the batch as 0
    return prod(shape) // n * (3 * n - 1)


# --- The conventions -----------------------------------------------------------------------------

ZERO = (
    *("add", "mul", "cat", "chunk", "split", "identity", "flatten", "unflatten", "reshape", "dropout", "dropout2d"),
    *("zeropad2d", "center_crop", "channel_shuffle", "pixel_shuffle", "pixel_unshuffle", "layer_scale"),
    *("channel_maxpool", "channel_avgpool", "stochastic_depth", "sigmoid", "tanh", "hardswish", "hardsigmoid"),
    *("relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "softmax", "maxpool2d", "avgpool2d", "lppool2d"),
    *("adaptive_maxpool2d", "adaptive_avgpool2d", "global_maxpool2d", "global_avgpool2d", "upsample"),
    *("batchnorm1d", "batchnorm2d", "groupnorm", "instancenorm2d", "layernorm2d"),
)


def _rules(counted: dict[str, Rule], **more: Rule) -> dict[str, Rule]:
    """Every kind in ZERO counts nothing unless `counted` or `more` says otherwise."""
    return {**dict.fromkeys(ZERO, nothing), **counted, **more}


WEIGHTED = ("conv2d", "conv_transpose2d", "linear")
NORMS = ("groupnorm", "instancenorm2d", "layernorm2d")
POOLS = ("maxpool2d", "avgpool2d", "adaptive_maxpool2d", "adaptive_avgpool2d", "global_maxpool2d", "global_avgpool2d")


@dataclass(frozen=True)
class Convention:
    """One tool's rule: `figure` is what the tool calls its count, `counts` says in a few words
    what it counts, `source` where the rule was read; `rules` gives one sample's count for every
    leaf kind."""

    name: str
    tool: str
    figure: str  # what the tool calls its figure
    counts: str
    source: str
    rules: dict[str, Rule]
    one_sample: bool = False  # the tool prints one sample's figure whatever the batch (ptflops)

    @property
    def heading(self) -> str:
        """The count's name in a table: `flops (fvcore)`."""
        return f"{self.figure} ({self.name})"

    def count(self, layer: LayerKind, ins: Shapes, outs: Shapes, batch_size: int) -> int:
        """This convention's figure for one layer at `batch_size`."""
        return batch_size * self.rules[layer.kind](layer, ins, outs)


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "pytorch",
            "PyTorch's FlopCounterMode",
            "FLOPs",
            "2 per multiply-accumulate of convolutions and linear layers, nothing else",
            "torch.utils.flop_counter (conv_flop, addmm_flop): biases, norms and activations are not counted",
            _rules(dict.fromkeys(WEIGHTED, times(2, macs))),
        ),
        Convention(
            "torchinfo",
            "torchinfo 1.8.0",
            "MACs",
            "MACs with biases; a layer with weights other than a convolution its parameters once per sample",
            "torchinfo/layer_info.py, LayerInfo.calculate_macs: parameters named weight or bias",
            _rules(
                {"conv2d": parameters_per_position, "conv_transpose2d": parameters_per_position},
                linear=parameters,
                # layer_scale's parameter is `gamma`, a name torchinfo does not count
                **dict.fromkeys(("batchnorm1d", "batchnorm2d", *NORMS), parameters),
            ),
        ),
        Convention(
            "fvcore",
            "fvcore 0.1.5",
            "flops",
            "1 per multiply-add (no bias), plus norms, adaptive average pooling and upsampling",
            "fvcore/nn/jit_handles.py and flop_count.py, _DEFAULT_SUPPORTED_OPS (eval mode)",
            _rules(
                dict.fromkeys(WEIGHTED, macs),
                **dict.fromkeys(NORMS, per_input(5, 4)),
                batchnorm1d=batchnorm_eval,
                batchnorm2d=batchnorm_eval,
                adaptive_avgpool2d=inputs,
                global_avgpool2d=inputs,
                upsample=nearest_and_bilinear,
            ),
        ),
        Convention(
            "ptflops",
            "ptflops 0.7.5, pytorch backend",
            "MACs",
            "MACs with biases, plus activations, norms, pooling and upsampling (some twice)",
            "ptflops/pytorch_ops.py: MODULES_MAPPING (exact module types), FUNCTIONAL_MAPPING, TENSOR_OPS_MAPPING",
            _rules(
                dict.fromkeys(WEIGHTED, plus(macs, bias)),
                # nn.ReLU, nn.ELU and nn.GELU are hooked and call F.relu, F.elu, F.gelu, patched too
                relu=times(2, outputs),
                elu=times(2, outputs),
                gelu=times(2, outputs),
                relu6=outputs,  # nn.ReLU6 calls F.hardtanh, not patched
                leaky_relu=outputs,  # F.leaky_relu is not patched
                silu=outputs,  # nn.SiLU is not hooked; F.silu is patched
                softmax=inputs,  # F.softmax
                **dict.fromkeys(POOLS, times(2, inputs)),  # module hook and the patched F.*pool2d
                lppool2d=lp_pool,
                batchnorm1d=per_input(2, 1),
                batchnorm2d=per_input(2, 1),
                groupnorm=per_input(2, 1),
                instancenorm2d=per_input(2, 1),
                upsample=times(2, outputs),  # nn.Upsample's hook and the patched F.interpolate
                # layernorm2d subclasses nn.LayerNorm, and ptflops matches exact types: not counted
            ),
            one_sample=True,
        ),
        Convention(
            "ptflops-aten",
            "ptflops 0.7.5, aten backend",
            "MACs",
            "MACs of convolutions and matrix products with biases, nothing else",
            "ptflops/aten_ops.py: ATEN_OPS_MAPPING",
            _rules(dict.fromkeys(WEIGHTED, plus(macs, bias))),
            one_sample=True,
        ),
        Convention(
            "thop",
            "ultralytics-thop 2.2.3",
            "MACs",
            "MACs without biases, plus norms, average pooling, softmax and upsampling",
            "thop/profile.py register_hooks, thop/vision/basic_hooks.py and calc_func.py",
            _rules(
                dict.fromkeys(WEIGHTED, macs),
                **dict.fromkeys(("batchnorm1d", "batchnorm2d", *NORMS), per_input(4, 2)),
                avgpool2d=thop_avgpool,
                adaptive_avgpool2d=thop_adaptive_avgpool,
                global_avgpool2d=thop_adaptive_avgpool,
                softmax=thop_softmax,
                upsample=upsample_by_mode({"nearest": 0, "bilinear": 11, "bicubic": 259}),
            ),
        ),
        Convention(
            "deepspeed",
            "DeepSpeed's flops profiler",
            "FLOPs",
            "2 per multiply-accumulate, plus convolution biases, activations, norms, pooling and upsampling",
            "deepspeed/profiling/flops_profiler/profiler.py: the patched torch.nn.functional calls",
            _rules(
                {"conv2d": plus(times(2, macs), bias), "conv_transpose2d": plus(times(2, macs), bias)},
                linear=times(2, macs),  # _linear_flops_compute leaves the bias out
                # F.relu6 is patched too, but nn.ReLU6 calls F.hardtanh, which is not
                **dict.fromkeys(("relu", "leaky_relu", "elu", "gelu", "silu"), outputs),
                softmax=inputs,
                **dict.fromkeys(POOLS, inputs),
                lppool2d=lp_pool,
                batchnorm1d=batchnorm_eval,
                batchnorm2d=batchnorm_eval,
                **dict.fromkeys(NORMS, per_input(5, 4)),
                upsample=outputs,
            ),
        ),
    )
}
DEFAULT = "pytorch"


def convention(name: str) -> Convention:
    """The convention called `name`; a UsageError naming the others when there is none."""
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise UsageError(f"unknown convention {name!r}; choose one of {', '.join(CONVENTIONS)}") from None


def leaf_kinds() -> Iterable[str]:
    """Every kind a convention must have a rule for: all but the composites, whose rows sum their members."""
    from cnnsize.kinds import KINDS  # here, not above: a stamp needs no layer kind loaded
    from cnnsize.kinds.composite import Composite

    return (name for name, kind in KINDS.items() if not issubclass(kind, Composite))


@dataclass(frozen=True)
class Counted:
    """A convention's figures for a report: by row path, and in all."""

    convention: Convention
    by_path: dict[SpecPath, int]
    total: int

    def of(self, row: LayerRow) -> int:
        return self.by_path[row.path]


def counted(report: Report, name: str = DEFAULT) -> Counted:
    """`report`'s figures under the convention `name`, for every row (a composite's is the sum of
    its members') and in all."""
    from cnnsize.graph import Group  # here, not above: choosing a convention loads no layer kind

    rule = convention(name)
    if report.graph is None:
        raise UsageError("a convention needs the report's graph (a report from cnnsize.analyze)")
    graph = report.graph
    by_path = {
        node.path: rule.count(node.layer, node.in_shapes, node.out_shapes, report.batch_size) for node in graph.nodes
    }

    def sums(member: Member) -> int:
        if isinstance(member, Group):
            by_path[member.path] = sum(sums(m) for m in member.members)
            return by_path[member.path]
        return by_path[graph.nodes[member].path]

    total = sum(sums(member) for member in graph.tree)
    return Counted(rule, by_path, total)


def with_convention(report: Report, name: str) -> Report:
    """`report` carrying its figures under the convention `name` (shown beside or instead of FLOPs)."""
    return replace(report, counted=counted(report, name))
