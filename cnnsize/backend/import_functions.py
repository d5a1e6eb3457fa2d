"""The calls of a traced `forward` as cnnsize kinds: torch functions and tensor methods (torch.fx's
`call_function` and `call_method` nodes), ATen operators (torch.export's nodes), and the `torch.nn`
modules the importer's own table leaves out. What people write with several calls (ShuffleNet's
view-transpose-view channel shuffle) is `import_patterns`.

A rule reads a node's arguments and the shapes the trace recorded (`shape`), and gives the node's
layer (a dict, or a list when one call is two kinds: `x.mean((2, 3))` is a global average pooling
then a flatten), `THROUGH` when the call passes its input on unchanged (`contiguous`, dropout
outside training, `nn.Identity`), or raises `ValueError` saying why no kind stands for it: a
refused call is listed by the importer, never counted as something else.
"""

from __future__ import annotations

import operator
from typing import Any, Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import fx

aten = torch.ops.aten


class Through:
    """A call that passes its input on unchanged: no layer."""


THROUGH = Through()
Mapped = Union[dict[str, Any], list[dict[str, Any]], Through]
Rule = Callable[[fx.Node], Mapped]


def shape(value: Any) -> Optional[tuple[int, ...]]:
    """The shape (batch first) of the tensor a node gives, as fx's ShapeProp (`tensor_meta`) or
    torch.export (`val`) recorded it; None for a node that gives no tensor (a size, a tuple)."""
    if not isinstance(value, fx.Node):
        return None
    meta = value.meta.get("tensor_meta")
    found = getattr(meta, "shape", None)
    if found is None and isinstance(value.meta.get("val"), torch.Tensor):
        found = value.meta["val"].shape
    return tuple(int(size) for size in found) if found is not None else None


def gives_tensors(node: fx.Node) -> bool:
    """Whether a node gives a tensor or a tuple of them (chunk, split): what a layer stands for.
    Sizes, shapes and the arithmetic on them give none, and have no layer."""
    if shape(node) is not None:
        return True
    values = node.meta.get("tensor_meta", node.meta.get("val"))
    return isinstance(values, (tuple, list)) and any(isinstance(v, torch.Tensor) or hasattr(v, "shape") for v in values)


def arg(node: fx.Node, index: int, key: str, default: Any = None) -> Any:
    """Argument `key` of a call, given by keyword or at `index` (the input, or `self`, is 0)."""
    if key in node.kwargs:
        return node.kwargs[key]
    return node.args[index] if len(node.args) > index else default


def op_name(node: fx.Node) -> str:
    """`view`, `transpose`, `relu_`...: a tensor method's name, a function's, or an ATen operator's."""
    if node.op == "call_method":
        return str(node.target)
    if isinstance(node.target, torch._ops.OpOverload):
        return str(node.target._opname)
    return str(getattr(node.target, "__name__", node.target))


def refuse(why: str) -> Any:
    """Raises ValueError(why): no kind stands for the call or module (a rule may be an expression)."""
    raise ValueError(why)


def pair(value: Any) -> Any:
    """2 for (2, 2) or [2, 2]; a list for two different sizes; an int as it is."""
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            return value[0]
        if len(value) == 2 and value[0] == value[1]:
            return value[0]
        return list(value)
    return value


def _dim(node: fx.Node, dim: int, what: str) -> int:
    """`dim` counted from the front (-3 of a 4-D tensor is 1); the batch (0) is refused."""
    rank = len(shape(node.args[0] if isinstance(node.args[0], fx.Node) else node) or ())
    found = dim + rank if dim < 0 else dim
    return found if found > 0 else refuse(f"{what} along the batch (dim {dim})")


def _inplace(node: fx.Node, index: Optional[int] = 1) -> bool:
    """Whether the call writes into its input: `F.relu(x, inplace=True)`, `x.relu_()`, `aten.relu_`."""
    if op_name(node).endswith("_") and not op_name(node).startswith("_"):
        return True
    return bool(arg(node, index, "inplace", False)) if index is not None else False


def _activation(kind: str, index: Optional[int] = 1) -> Rule:
    def rule(node: fx.Node) -> Mapped:
        return {"type": kind, **({"inplace": True} if _inplace(node, index) else {})}

    return rule


def _gelu(node: fx.Node) -> Mapped:
    approximate = arg(node, 1, "approximate", "none")
    return {"type": "gelu", **({"approximate": approximate} if approximate != "none" else {})}


def _elu(node: fx.Node) -> Mapped:
    layer: dict[str, Any] = {"type": "elu", "alpha": float(arg(node, 1, "alpha", 1.0))}
    return {**layer, "inplace": True} if _inplace(node, 2) else layer


def _leaky_relu(node: fx.Node) -> Mapped:
    layer: dict[str, Any] = {"type": "leaky_relu", "negative_slope": float(arg(node, 1, "negative_slope", 0.01))}
    return {**layer, "inplace": True} if _inplace(node, 2) else layer


def _hardtanh(node: fx.Node) -> Mapped:
    """`F.relu6` reaches ATen as `hardtanh(x, 0, 6)`; other bounds have no kind."""
    low, high = arg(node, 1, "min_val", -1.0), arg(node, 2, "max_val", 1.0)
    if (low, high) != (0, 6):
        refuse(f"hardtanh between {low} and {high} (only relu6's 0 and 6 is a kind)")
    return {"type": "relu6", **({"inplace": True} if _inplace(node, 3) else {})}


def _softmax(node: fx.Node) -> Mapped:
    dim = arg(node, 1, "dim")
    if dim is None:
        refuse("softmax without dim (PyTorch guesses it)")
    return {"type": "softmax", "dim": _dim(node, dim, "softmax")}


def _dropout(kind: str, training_index: int = 2, train_key: str = "training") -> Rule:
    """`F.dropout(x, p, training)`: outside training it passes the input on (no layer)."""

    def rule(node: fx.Node) -> Mapped:
        if not arg(node, training_index, train_key, True):
            return THROUGH
        layer: dict[str, Any] = {"type": kind, "p": float(arg(node, 1, "p", 0.5))}
        return {**layer, "inplace": True} if _inplace(node, 3) else layer

    return rule


def _tensor_operands(node: fx.Node, count: int) -> None:
    operands = [node.args[i] if len(node.args) > i else node.kwargs.get("other") for i in range(count)]
    constants = [repr(a) for a in operands if shape(a) is None]
    if constants:
        refuse(f"{op_name(node)} with a constant ({', '.join(constants)}): no kind scales or shifts by a number")


def _join(kind: str) -> Rule:
    """`a + b`, `torch.add(a, b)`, `a.add_(b)`, `x *= s`: both operands tensors, `alpha` 1."""

    def rule(node: fx.Node) -> Mapped:
        _tensor_operands(node, 2)
        if arg(node, 2, "alpha", 1) != 1:
            refuse(f"{op_name(node)} with alpha={arg(node, 2, 'alpha')}")
        return {"type": kind}

    return rule


def _cat(node: fx.Node) -> Mapped:
    tensors = arg(node, 0, "tensors")
    dim = arg(node, 1, "dim", 0)
    rank = len(shape(node) or ())
    dim = dim + rank if dim < 0 else dim
    if dim <= 0 or not isinstance(tensors, (list, tuple)):
        refuse(f"cat along dim {arg(node, 1, 'dim', 0)} (the batch)")
    return {"type": "cat", **({"dim": dim} if dim != 1 else {})}


def _chunk(node: fx.Node) -> Mapped:
    dim = _dim(node, arg(node, 2, "dim", 0), "chunk")
    return {"type": "chunk", "chunks": arg(node, 1, "chunks"), **({"dim": dim} if dim != 1 else {})}


def _split(node: fx.Node) -> Mapped:
    sizes = node.kwargs.get("split_size_or_sections", node.kwargs.get("split_size", node.kwargs.get("split_sizes")))
    if sizes is None:
        sizes = node.args[1]
    dim = _dim(node, arg(node, 2, "dim", 0), "split")
    sizes = list(sizes) if isinstance(sizes, (list, tuple)) else sizes
    if isinstance(sizes, fx.Node) or (isinstance(sizes, list) and any(isinstance(n, fx.Node) for n in sizes)):
        pieces = node.meta.get("tensor_meta", node.meta.get("val")) or ()  # sizes computed in forward
        sizes = [int(piece.shape[dim]) for piece in pieces]
    return {"type": "split", "split_size_or_sections": sizes, **({"dim": dim} if dim != 1 else {})}


def _reshape(node: fx.Node) -> Mapped:
    """`view`, `reshape`, `flatten`, `squeeze`...: read from the shapes before and after, since
    the sizes are often computed (`x.view(x.size(0), -1)`). (N, C, H, W) to (N, F) is a flatten;
    a (N, F) or (N, C, H, W) result a reshape; other ranks have no kind."""
    before, after = shape(node.args[0]), shape(node)
    if before is None or after is None:
        return refuse(f"{op_name(node)} of a value whose shape the trace did not record")
    if not after or after[0] != before[0]:
        return refuse(f"{op_name(node)} from {list(before)} to {list(after)} reshapes the batch")
    if after == before:
        return THROUGH
    if len(after) == 2 and len(before) == 4:
        return {"type": "flatten"}
    if len(after) in (2, 4):
        return {"type": "reshape", "shape": list(after[1:])}
    return refuse(
        f"{op_name(node)} from {list(before)} to {list(after)}: no kind for a {len(after)}-D result "
        "(a channel shuffle is view, transpose(1, 2), view)"
    )


def _mean(node: fx.Node) -> Mapped:
    """`x.mean((2, 3))` is global average pooling, then a flatten unless `keepdim=True`."""
    dims = arg(node, 1, "dim")
    rank = len(shape(node.args[0]) or ())
    if dims is None:
        return refuse("mean over every dimension, the batch too")
    found = sorted(d + rank if d < 0 else d for d in (dims if isinstance(dims, (list, tuple)) else [dims]))
    if rank != 4 or found != [2, 3]:
        return refuse(f"mean over dims {dims} (only over H and W, (2, 3), is a kind)")
    pool: dict[str, Any] = {"type": "global_avgpool2d", "name": "pool"}
    return [pool] if arg(node, 2, "keepdim", False) else [pool, {"type": "flatten"}]


def _stride(value: Any, kernel: Any) -> Any:
    return None if value in (None, [], ()) or pair(value) == kernel else pair(value)


def _max_pool(node: fx.Node) -> Mapped:
    if arg(node, 6, "return_indices", False):
        refuse("max pooling that returns indices")
    layer: dict[str, Any] = {"type": "maxpool2d", "kernel_size": pair(arg(node, 1, "kernel_size"))}
    for key, index, default, value in [
        ("stride", 2, None, _stride(arg(node, 2, "stride"), layer["kernel_size"])),
        ("padding", 3, 0, pair(arg(node, 3, "padding", 0))),
        ("dilation", 4, 1, pair(arg(node, 4, "dilation", 1))),
        ("ceil_mode", 5, False, arg(node, 5, "ceil_mode", False)),
    ]:
        if value != default:
            layer[key] = value
    return layer


def _avg_pool(node: fx.Node) -> Mapped:
    if arg(node, 6, "divisor_override") is not None:
        refuse("average pooling with divisor_override")
    layer: dict[str, Any] = {"type": "avgpool2d", "kernel_size": pair(arg(node, 1, "kernel_size"))}
    for key, default, value in [
        ("stride", None, _stride(arg(node, 2, "stride"), layer["kernel_size"])),
        ("padding", 0, pair(arg(node, 3, "padding", 0))),
        ("ceil_mode", False, arg(node, 4, "ceil_mode", False)),
        ("count_include_pad", True, arg(node, 5, "count_include_pad", True)),
    ]:
        if value != default:
            layer[key] = value
    return layer


def _adaptive(kind: str) -> Rule:
    def rule(node: fx.Node) -> Mapped:
        if kind == "adaptive_maxpool2d" and arg(node, 2, "return_indices", False):
            refuse("adaptive max pooling that returns indices")
        after = shape(node)  # the output's size: output_size may be computed, or None (keep that size)
        size = list(after[2:]) if after is not None and len(after) == 4 else arg(node, 1, "output_size")
        return {"type": kind, "output_size": pair(size)}

    return rule


INTERPOLATED = ("nearest", "bilinear", "bicubic")


def _upsampled(node: fx.Node, mode: str, align_corners: Any) -> Mapped:
    """Upsampling by whole factors, read from the shapes (`size=` or `scale_factor=` alike: PyTorch
    computes the same output either way when the factor is whole)."""
    before, after = shape(node.args[0]), shape(node)
    if before is None or after is None or len(before) != 4:
        return refuse(f"interpolate of a {len(before or ())}-D value (only (N, C, H, W) is a kind)")
    if mode not in INTERPOLATED:
        return refuse(f"interpolate mode {mode!r} (the kinds: {', '.join(INTERPOLATED)})")
    factors = [after[i] // before[i] for i in (2, 3)]
    if any(after[i] % before[i] for i in (2, 3)):
        return refuse(f"interpolate from {list(before[2:])} to {list(after[2:])}: not a whole factor")
    layer: dict[str, Any] = {"type": "upsample", "scale_factor": pair(factors)}
    if mode != "nearest":
        layer["mode"] = mode
    if align_corners:
        layer["align_corners"] = True
    return layer


def _interpolate(node: fx.Node) -> Mapped:
    if arg(node, 6, "antialias", False):
        refuse("interpolate with antialias")
    scale = arg(node, 2, "scale_factor")
    if scale is not None and not all(
        float(s) == int(s) for s in (scale if isinstance(scale, (tuple, list)) else [scale])
    ):
        refuse(f"interpolate by a fractional scale_factor {scale}")
    return _upsampled(node, arg(node, 3, "mode", "nearest"), arg(node, 4, "align_corners"))


def upsample_to_size(node: fx.Node, module: Any) -> Mapped:
    """`nn.Upsample(size=...)` (whose module alone does not say the factor) by the traced shapes."""
    return _upsampled(node, module.mode, module.align_corners)


def _aten_upsample(mode: str) -> Rule:
    """`aten.upsample_nearest2d.vec(x, size, scales)`, `upsample_bilinear2d.vec(x, size, align_corners, scales)`."""
    return lambda node: _upsampled(node, mode, arg(node, 2, "align_corners") if mode != "nearest" else None)


def cnnsize_padding(torch_order: Any) -> list[int]:
    """Padding in torch's order, (left, right, top, bottom), as cnnsize's: [top, bottom, left, right]."""
    left, right, top, bottom = torch_order
    return [top, bottom, left, right]


def _pad(node: fx.Node) -> Mapped:
    """`F.pad(x, (left, right, top, bottom))` with zeros: cnnsize's order is [top, bottom, left, right]."""
    pad = list(arg(node, 1, "pad"))
    mode = arg(node, 2, "mode", "constant") if op_name(node) == "pad" else "constant"
    value = arg(node, 3 if op_name(node) == "pad" else 2, "value", 0) or 0
    if mode != "constant" or value != 0 or len(pad) not in (2, 4) or min(pad) < 0:
        return refuse(f"pad {pad} ({mode}, value {value}): only zero padding of H and W is a kind")
    padding = cnnsize_padding([*pad, 0, 0][:4])
    return {"type": "zeropad2d", "padding": pair(padding) if len(set(padding)) == 1 else padding}


def _weighted(node: fx.Node) -> Mapped:
    module = f"nn.{_MODULE_OF.get(op_name(node), 'Conv2d')}"
    if any(isinstance(a, fx.Node) for a in node.all_input_nodes[1:]):
        refuse(
            f"F.{op_name(node)} with weights passed in: no module holds them, so no layer can own and "
            f"count them (write it as the nn.Module, {module})"
        )
    return refuse(f"F.{op_name(node)} called without a module (write it as {module})")


_MODULE_OF = {
    "conv1d": "Conv1d",
    "conv2d": "Conv2d",
    "conv3d": "Conv3d",
    "conv_transpose2d": "ConvTranspose2d",
    "linear": "Linear",
    "batch_norm": "BatchNorm2d",
    "layer_norm": "LayerNorm",
    "group_norm": "GroupNorm",
    "instance_norm": "InstanceNorm2d",
    "embedding": "Embedding",
}

_NOT_ALONE = (
    "{} alone has no kind: only the channel shuffle (view to (N, g, C/g, H, W), transpose(1, 2), view "
    "back) and a layer norm between permute(0, 2, 3, 1) and permute(0, 3, 1, 2) are"
)


def _alone(node: fx.Node) -> Mapped:
    return refuse(_NOT_ALONE.format(op_name(node)))


def _through(node: fx.Node) -> Mapped:
    return THROUGH


_BROADCASTING = {operator.add, operator.iadd, torch.add, operator.mul, operator.imul, torch.mul}
_BROADCASTING_NAMES = {"add", "add_", "mul", "mul_"}  # Tensor methods, and ATen's packets by name


def _expand(node: fx.Node) -> Mapped:
    """`y.expand_as(x)`, `y.expand(n, c, h, w)`: a view that broadcasts, as `+` and `*` do by
    themselves; so it passes its input on where each reader is a `+` or `*` whose other operand has
    the expanded shape (squeeze-and-excitation's `x * y.expand_as(x)`), else it is refused (a
    layer reading it would see the smaller value)."""
    full = shape(node)
    for user in node.users:
        target = user.target
        name = str(getattr(target, "overloadpacket", target)).rpartition(".")[2]  # aten.mul.Tensor: mul
        joins = name in _BROADCASTING_NAMES if isinstance(target, (str, torch._ops.OpOverload)) else False
        joins = joins or any(target is f for f in _BROADCASTING)
        if not joins or full not in [shape(a) for a in user.all_input_nodes if a is not node]:
            refuse(f"{op_name(node)} read by {op_name(user)}: only + or * with a tensor of its shape broadcast alike")
    return THROUGH


# torch.fx's call_function targets: torch functions, torch.nn.functional, operators
FUNCTIONS: dict[Any, Rule] = {
    operator.add: _join("add"),
    operator.iadd: _join("add"),
    torch.add: _join("add"),
    operator.mul: _join("mul"),
    operator.imul: _join("mul"),
    torch.mul: _join("mul"),
    torch.cat: _cat,
    torch.concat: _cat,
    torch.concatenate: _cat,
    torch.chunk: _chunk,
    torch.split: _split,
    torch.flatten: _reshape,
    torch.reshape: _reshape,
    torch.squeeze: _reshape,
    torch.unsqueeze: _reshape,
    torch.mean: _mean,
    torch.transpose: _alone,
    torch.permute: _alone,
    F.relu: _activation("relu"),
    F.relu_: _activation("relu"),
    torch.relu: _activation("relu"),
    torch.relu_: _activation("relu"),
    F.relu6: _activation("relu6"),
    F.hardtanh: _hardtanh,
    F.silu: _activation("silu"),
    F.gelu: _gelu,
    F.hardswish: _activation("hardswish"),
    F.hardsigmoid: _activation("hardsigmoid"),
    F.elu: _elu,
    F.leaky_relu: _leaky_relu,
    torch.sigmoid: _activation("sigmoid", None),
    F.sigmoid: _activation("sigmoid", None),
    torch.tanh: _activation("tanh", None),
    F.tanh: _activation("tanh", None),
    F.softmax: _softmax,
    torch.softmax: _softmax,
    F.dropout: _dropout("dropout"),
    F.dropout2d: _dropout("dropout2d"),
    F.max_pool2d: _max_pool,
    F.avg_pool2d: _avg_pool,
    F.adaptive_avg_pool2d: _adaptive("adaptive_avgpool2d"),
    F.adaptive_max_pool2d: _adaptive("adaptive_maxpool2d"),
    F.interpolate: _interpolate,
    F.pad: _pad,
    F.pixel_shuffle: lambda n: {"type": "pixel_shuffle", "upscale_factor": arg(n, 1, "upscale_factor")},
    F.pixel_unshuffle: lambda n: {"type": "pixel_unshuffle", "downscale_factor": arg(n, 1, "downscale_factor")},
    **{getattr(F, name): _weighted for name in _MODULE_OF if hasattr(F, name)},
}

# torch.fx's call_method targets: Tensor methods by name
METHODS: dict[str, Rule] = {
    "add": _join("add"),
    "add_": _join("add"),
    "mul": _join("mul"),
    "mul_": _join("mul"),
    "chunk": _chunk,
    "split": _split,
    "view": _reshape,
    "reshape": _reshape,
    "flatten": _reshape,
    "squeeze": _reshape,
    "unsqueeze": _reshape,
    "contiguous": _through,
    "expand_as": _expand,
    "expand": _expand,
    "mean": _mean,
    "transpose": _alone,
    "permute": _alone,
    "relu": _activation("relu"),
    "relu_": _activation("relu"),
    "sigmoid": _activation("sigmoid", None),
    "sigmoid_": _activation("sigmoid", None),
    "tanh": _activation("tanh", None),
    "softmax": _softmax,
}

# torch.export's ATen operators (the training IR torch.export.export gives), by overload packet
ATEN: dict[Any, Rule] = {
    aten.add: _join("add"),
    aten.add_: _join("add"),
    aten.mul: _join("mul"),
    aten.mul_: _join("mul"),
    aten.cat: _cat,
    aten.chunk: _chunk,
    aten.split: _split,
    aten.split_with_sizes: _split,
    aten.view: _reshape,
    aten.reshape: _reshape,
    aten._unsafe_view: _reshape,
    aten.flatten: _reshape,
    aten.squeeze: _reshape,
    aten.unsqueeze: _reshape,
    aten.contiguous: _through,
    aten.expand: _expand,
    aten.expand_as: _expand,
    aten.mean: _mean,
    aten.transpose: _alone,
    aten.permute: _alone,
    aten.relu: _activation("relu", None),
    aten.relu_: _activation("relu", None),
    aten.relu6: _activation("relu6", None),
    aten.hardtanh: _hardtanh,
    aten.hardtanh_: _hardtanh,
    aten.silu: _activation("silu", None),
    aten.silu_: _activation("silu", None),
    aten.gelu: _gelu,
    aten.hardswish: _activation("hardswish", None),
    aten.hardswish_: _activation("hardswish", None),
    aten.hardsigmoid: _activation("hardsigmoid", None),
    aten.hardsigmoid_: _activation("hardsigmoid", None),
    aten.sigmoid: _activation("sigmoid", None),
    aten.sigmoid_: _activation("sigmoid", None),
    aten.tanh: _activation("tanh", None),
    aten.elu: lambda n: {"type": "elu", "alpha": float(arg(n, 1, "alpha", 1.0))},
    aten.leaky_relu: lambda n: {"type": "leaky_relu", "negative_slope": float(arg(n, 1, "negative_slope", 0.01))},
    aten.softmax: _softmax,
    aten._softmax: _softmax,
    aten.dropout: _dropout("dropout", 2, "train"),
    aten.max_pool2d: _max_pool,
    aten.avg_pool2d: _avg_pool,
    aten.adaptive_avg_pool2d: _adaptive("adaptive_avgpool2d"),
    aten._adaptive_avg_pool2d: _adaptive("adaptive_avgpool2d"),
    aten.upsample_nearest2d: _aten_upsample("nearest"),
    aten.upsample_bilinear2d: _aten_upsample("bilinear"),
    aten.upsample_bicubic2d: _aten_upsample("bicubic"),
    aten.constant_pad_nd: _pad,
    aten.pixel_shuffle: lambda n: {"type": "pixel_shuffle", "upscale_factor": arg(n, 1, "upscale_factor")},
    aten.pixel_unshuffle: lambda n: {"type": "pixel_unshuffle", "downscale_factor": arg(n, 1, "downscale_factor")},
    **{getattr(aten, name): _weighted for name in _MODULE_OF if hasattr(aten, name)},
}


def rule_for(node: fx.Node) -> Optional[Rule]:
    """The rule for a call node of either tracer, or None when no table has its target."""
    if node.op == "call_method":
        return METHODS.get(str(node.target))
    if isinstance(node.target, torch._ops.OpOverload):
        return ATEN.get(node.target.overloadpacket)
    try:
        return FUNCTIONS.get(node.target)
    except TypeError:  # an unhashable target
        return None


def map_call(node: fx.Node) -> Mapped:
    """The layer(s) of one call node, THROUGH, or ValueError naming the call."""
    rule = rule_for(node)
    if rule is None:
        refuse(f"{node.op} {op_name(node)}")
    assert rule is not None
    return rule(node)


def _instance_norm(m: Any) -> Mapped:
    layer: dict[str, Any] = {"type": "instancenorm2d"}
    for key, value, default in [
        ("eps", m.eps, 1e-5),
        ("momentum", m.momentum, 0.1),
        ("affine", m.affine, False),
        ("track_running_stats", m.track_running_stats, False),
    ]:
        if value != default:
            layer[key] = value
    return layer


def layernorm2d(m: Any) -> dict[str, Any]:
    """A layer norm over the channels (cnnsize's `LayerNorm2d`, or an `nn.LayerNorm(C)` between
    permutes) as `layernorm2d`: every setting that differs from the default."""
    layer: dict[str, Any] = {"type": "layernorm2d"}
    if m.eps != 1e-5:
        layer["eps"] = m.eps
    if not m.elementwise_affine:
        layer["elementwise_affine"] = False
    elif m.bias is None:
        layer["bias"] = False
    return layer


def layer_norm_over_channels(m: Any, channels: Optional[int]) -> Optional[dict[str, Any]]:
    """`nn.LayerNorm(C)` over the channels of a channels-last map as `layernorm2d`, else None."""
    if not isinstance(m, torch.nn.LayerNorm) or tuple(m.normalized_shape) != (channels,):
        return None
    return layernorm2d(m)


def _layer_norm_alone(m: Any) -> Mapped:
    return refuse(
        f"LayerNorm over {list(m.normalized_shape)}: only a layer norm over the channels, between "
        "x.permute(0, 2, 3, 1) and .permute(0, 3, 1, 2), is a kind (layernorm2d)"
    )


# more torch.nn modules (nn.Identity makes no layer, nn.LayerNorm one only between permutes),
# which importer.MODULES holds too
MODULES: dict[type, Callable[[Any], Mapped]] = {
    torch.nn.Identity: lambda m: THROUGH,
    torch.nn.InstanceNorm2d: _instance_norm,
    torch.nn.LayerNorm: _layer_norm_alone,
}


__all__ = [
    "ATEN",
    "MODULES",
    "FUNCTIONS",
    "METHODS",
    "THROUGH",
    "Mapped",
    "Through",
    "arg",
    "cnnsize_padding",
    "gives_tensors",
    "layer_norm_over_channels",
    "layernorm2d",
    "map_call",
    "op_name",
    "pair",
    "refuse",
    "rule_for",
    "shape",
    "upsample_to_size",
]
