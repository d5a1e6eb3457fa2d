"""A PyTorch module as a spec: traced with `torch.fx.symbolic_trace`, each node mapped to a cnnsize
kind, module paths kept as layer names, written as a graph spec (`from:` where a layer does not read
the one before). A node with no kind is listed with its target, and the import fails: never a spec
that counts something other than the module.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import operator
import re
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import fx, nn

from cnnsize.backend import import_blocks
from cnnsize.errors import UsageError


class Unmapped(UsageError):
    """Nodes of the traced module that no cnnsize kind stands for, or a spec that would count
    otherwise than the module (exit 1: the module's problem, not the command line's)."""

    exit_code = 1


def load_target(target: str, args: Optional[str] = None) -> nn.Module:
    """`path/to/file.py:Name` or `package.module:name`, called with `args` (JSON keyword arguments)
    when it is a class or a factory."""
    where, _, name = target.rpartition(":")
    if not where or not name:
        raise UsageError(f"TARGET is path/to/file.py:Name or package.module:name, got {target!r}")
    try:
        if where.endswith(".py"):
            spec = importlib.util.spec_from_file_location(Path(where).stem, where)
            if spec is None or spec.loader is None:
                raise UsageError(f"cannot import {where}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except (ImportError, OSError, SyntaxError) as exc:
        raise UsageError(f"cannot import {where}: {exc}") from None
    found = getattr(module, name, None)
    if found is None:
        raise UsageError(f"{where} has no {name!r}")
    try:
        kwargs = json.loads(args) if args else {}
    except json.JSONDecodeError as exc:
        raise UsageError(f"--args is not JSON: {exc}") from None
    if not isinstance(kwargs, dict):
        raise UsageError("--args is a JSON object of keyword arguments")
    try:
        made = found if isinstance(found, nn.Module) else found(**kwargs)
    except Exception as exc:  # the user's own code: whatever it raises is one message
        raise UsageError(f"{target}(**{kwargs!r}) failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(made, nn.Module):
        raise UsageError(f"{target} gave a {type(made).__name__}, not an nn.Module")
    return made


def _pair(value: Any) -> Any:
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] == value[1]:
        return value[0]
    return list(value) if isinstance(value, tuple) else value


def _convolution(m: Any) -> dict[str, Any]:
    """`nn.Conv2d` or `nn.ConvTranspose2d` as its kind: every setting that differs from the default."""
    if isinstance(m.padding, str) or m.padding_mode != "zeros":
        raise ValueError(f"padding {m.padding!r} ({m.padding_mode})")
    transposed = isinstance(m, nn.ConvTranspose2d)
    kind = "conv_transpose2d" if transposed else "conv2d"
    layer = {"type": kind, "out_channels": m.out_channels, "kernel_size": _pair(m.kernel_size)}
    settings = [("stride", m.stride, 1), ("padding", m.padding, 0), ("dilation", m.dilation, 1)]
    if transposed:
        settings.insert(2, ("output_padding", m.output_padding, 0))
    for key, value, default in settings:
        if _pair(value) != default:
            layer[key] = _pair(value)
    if m.groups != 1:
        layer["groups"] = m.groups
    if m.bias is None:
        layer["bias"] = False
    return layer


def _upsample(m: nn.Upsample) -> dict[str, Any]:
    scale = m.scale_factor
    factors = scale if isinstance(scale, tuple) else (scale, scale)
    if m.size is not None or any(f is None or float(f) != int(f) for f in factors):
        raise ValueError("Upsample by a size or a fractional factor")
    layer: dict[str, Any] = {"type": "upsample", "scale_factor": _pair(tuple(int(f or 0) for f in factors))}
    if m.mode != "nearest":
        layer["mode"] = m.mode
    if m.align_corners:
        layer["align_corners"] = True
    return layer


def _zeropad(m: nn.ZeroPad2d) -> dict[str, Any]:
    left, right, top, bottom = m.padding  # torch's order; cnnsize's is [top, bottom, left, right]
    return {"type": "zeropad2d", "padding": [top, bottom, left, right]}


def _norm(m: nn.modules.batchnorm._BatchNorm, kind: str) -> dict[str, Any]:
    layer: dict[str, Any] = {"type": kind}
    if m.eps != 1e-5:
        layer["eps"] = m.eps
    if m.momentum != 0.1:
        layer["momentum"] = m.momentum
    if not m.affine:
        layer["affine"] = False
    if not m.track_running_stats:
        layer["track_running_stats"] = False
    return layer


def _inplace(kind: str) -> Callable[[Any], dict[str, Any]]:
    return lambda m: {"type": kind, **({"inplace": True} if getattr(m, "inplace", False) else {})}


def _pool(kind: str) -> Callable[[Any], dict[str, Any]]:
    def layer(m: Any) -> dict[str, Any]:
        found = {"type": kind, "kernel_size": _pair(m.kernel_size)}
        stride = _pair(m.stride)
        if stride not in (None, found["kernel_size"]):
            found["stride"] = stride
        if _pair(m.padding) != 0:
            found["padding"] = _pair(m.padding)
        if m.ceil_mode:
            found["ceil_mode"] = True
        if kind == "maxpool2d" and _pair(m.dilation) != 1:
            found["dilation"] = _pair(m.dilation)
        if kind == "avgpool2d" and not m.count_include_pad:
            found["count_include_pad"] = False
        return found

    return layer


MODULES: dict[type, Callable[[Any], dict[str, Any]]] = {
    nn.Conv2d: _convolution,
    nn.BatchNorm2d: lambda m: _norm(m, "batchnorm2d"),
    nn.BatchNorm1d: lambda m: _norm(m, "batchnorm1d"),
    nn.ReLU: _inplace("relu"),
    nn.ReLU6: _inplace("relu6"),
    nn.SiLU: _inplace("silu"),
    nn.Hardswish: _inplace("hardswish"),
    nn.Hardsigmoid: _inplace("hardsigmoid"),
    nn.Sigmoid: lambda m: {"type": "sigmoid"},
    nn.Tanh: lambda m: {"type": "tanh"},
    nn.GELU: lambda m: {"type": "gelu", **({"approximate": m.approximate} if m.approximate != "none" else {})},
    nn.LeakyReLU: lambda m: {"type": "leaky_relu", "negative_slope": m.negative_slope, "inplace": m.inplace},
    nn.MaxPool2d: _pool("maxpool2d"),
    nn.AvgPool2d: _pool("avgpool2d"),
    nn.AdaptiveAvgPool2d: lambda m: {"type": "adaptive_avgpool2d", "output_size": _pair(m.output_size)},
    nn.AdaptiveMaxPool2d: lambda m: {"type": "adaptive_maxpool2d", "output_size": _pair(m.output_size)},
    nn.Linear: lambda m: {
        "type": "linear",
        "out_features": m.out_features,
        **({"bias": False} if m.bias is None else {}),
    },
    nn.Flatten: lambda m: {"type": "flatten"} if (m.start_dim, m.end_dim) == (1, -1) else _refuse("flatten dims"),
    nn.Dropout: lambda m: {"type": "dropout", "p": m.p, **({"inplace": True} if m.inplace else {})},
    nn.Identity: lambda m: {"type": "identity"},
    nn.Softmax: lambda m: {"type": "softmax", "dim": m.dim},
    nn.ConvTranspose2d: _convolution,
    nn.Upsample: _upsample,
    nn.ZeroPad2d: _zeropad,
    nn.Unflatten: lambda m: {"type": "unflatten", "dim": m.dim, "sizes": list(m.unflattened_size)},
    nn.GroupNorm: lambda m: {"type": "groupnorm", "num_groups": m.num_groups, "eps": m.eps, "affine": m.affine},
    nn.PixelShuffle: lambda m: {"type": "pixel_shuffle", "upscale_factor": m.upscale_factor},
    nn.PixelUnshuffle: lambda m: {"type": "pixel_unshuffle", "downscale_factor": m.downscale_factor},
    nn.ChannelShuffle: lambda m: {"type": "channel_shuffle", "groups": m.groups},
    nn.Dropout2d: lambda m: {"type": "dropout2d", "p": m.p, **({"inplace": True} if m.inplace else {})},
    nn.ELU: lambda m: {"type": "elu", "alpha": m.alpha, **({"inplace": True} if m.inplace else {})},
}
MODULES.update(import_blocks.executor_modules(_convolution))  # what `cnnsize.build` makes
FUNCTIONS: dict[Any, Callable[[fx.Node], dict[str, Any]]] = {
    operator.add: lambda n: {"type": "add"},
    torch.add: lambda n: {"type": "add"},
    operator.mul: lambda n: {"type": "mul"},
    torch.mul: lambda n: {"type": "mul"},
    torch.cat: lambda n: {"type": "cat", "dim": n.kwargs.get("dim", n.args[1] if len(n.args) > 1 else 0)},
    torch.flatten: lambda n: (
        {"type": "flatten"}
        if n.args[1:] in ((1,), ()) and n.kwargs.get("start_dim", 1) == 1
        else _refuse("flatten dims")
    ),
    F.relu: lambda n: {"type": "relu"},
    torch.relu: lambda n: {"type": "relu"},
    torch.sigmoid: lambda n: {"type": "sigmoid"},
}


def _source_line(node: fx.Node) -> str:
    """` at file.py:5: y = torch.matmul(x, x)`: where the traced code made the node, if fx kept it."""
    frames = re.findall(r'File "([^"]+)", line (\d+), in \w+\n\s*(.*)', node.meta.get("stack_trace") or "")
    torch_dir = str(Path(torch.__file__).parent)
    frames = [frame for frame in frames if not frame[0].startswith(torch_dir)]  # the user's code, not fx's
    if not frames:
        return ""
    file, line, code = frames[-1]
    return f" at {Path(file).name}:{line}: {code.strip()}"


def _refuse(what: str) -> dict[str, Any]:
    raise ValueError(what)


def _inputs(node: fx.Node) -> list[fx.Node]:
    """The tensors a node reads, in order (a cat's list flattened)."""
    found: list[fx.Node] = []
    for arg in node.args:
        items = arg if isinstance(arg, (list, tuple)) else [arg]
        found += [a for a in items if isinstance(a, fx.Node)]
    return found


def _called_again(
    target: str, layer: dict[str, Any], module: nn.Module, calls: dict[str, list[str]], modules: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The name of this call of the module at `target`, and its layer: the module's path at its
    first call; at the next ones, `target_2`, `target_3`... and, for a module with parameters or
    buffers, `{shares: <first call>}` (the same weights, counted once; a module without any is
    written as its kind again, which counts the same)."""
    made = calls.setdefault(target, [])
    if not made:
        made.append(target)
        return target, layer
    label = f"{target}_{len(made) + 1}"
    while label in modules or any(label in names for names in calls.values()):
        label += "_"
    made.append(label)
    has_state = any(True for _ in module.parameters()) or any(True for _ in module.buffers())
    return label, ({"shares": target} if has_state else layer)


def to_spec(model: nn.Module, input_shape: tuple[int, ...], name: str) -> dict[str, Any]:
    """The spec (as data) of `model` traced with an input of `input_shape` (one sample)."""
    try:
        root, prefix = import_blocks.traceable(model)
        traced = fx.GraphModule(root, import_blocks.MappedTracer(MODULES).trace(root))
    except Exception as exc:  # fx raises many kinds on code it cannot trace
        raise UsageError(f"torch.fx cannot trace {name}: {type(exc).__name__}: {exc}") from None
    modules = dict(traced.named_modules())
    function_label = import_blocks.FunctionLabels(root, prefix)
    layers: list[dict[str, Any]] = []
    names: dict[fx.Node, str] = {}
    previous: Optional[fx.Node] = None
    unmapped: list[str] = []
    layers_of: dict[fx.Node, dict[str, Any]] = {}
    outputs: list[fx.Node] = []
    calls: dict[str, list[str]] = {}  # a module's target -> the layer names of its calls so far
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            names[node] = "input"
            previous = node
            continue
        if node.op == "output":
            outputs = _inputs(node)
            continue
        if import_blocks.is_output_of_split(node, layers_of):
            names[node] = f"{names[node.args[0]]}.{node.args[1]}"  # as `from:` reads a split's outputs
            continue
        try:
            if node.op == "call_module":
                module = modules[str(node.target)]
                rule = MODULES.get(type(module))
                layer = rule(module) if rule else _refuse(type(module).__name__)
                label, layer = _called_again(
                    import_blocks.layer_name(str(node.target), prefix), layer, module, calls, modules
                )
            elif node.op == "call_function" and node.target in FUNCTIONS:
                layer = FUNCTIONS[node.target](node)
                label = function_label(node)
            else:
                raise ValueError(f"{node.op} {getattr(node.target, '__name__', node.target)}")
        except (ValueError, KeyError) as exc:
            unmapped.append(f"{node.name}: {exc}{_source_line(node)}")
            continue
        reads = _inputs(node)
        layer["name"] = label
        if layer.get("type") in ("add", "mul", "cat"):
            layer["from"] = [names[r] for r in reads]
        elif reads and reads[0] is not previous:
            layer["from"] = names[reads[0]]
        names[node] = label
        layers_of[node] = layer
        layers.append(layer)
        previous = node
    if unmapped:
        raise Unmapped(f"{name}: no cnnsize kind for {len(unmapped)} node(s): " + "; ".join(unmapped))
    spec: dict[str, Any] = {"name": name, "input": list(input_shape), "layers": layers}
    if outputs and outputs[0] is not previous:
        spec["outputs"] = [names[o] for o in outputs]
    return spec


def checked(model: nn.Module, data: dict[str, Any]) -> None:
    """The spec counts what the module counts, or an error says where they differ: parameters
    (`sum(p.numel())`, buffers apart) and FlopCounterMode's FLOPs for one sample."""
    from torch.utils.flop_counter import FlopCounterMode

    from cnnsize.engine import analyze
    from cnnsize.loader import load

    report = analyze(load(json.dumps(data)))
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    x = torch.randn(1, *data["input"])
    was = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was)
    problems = []
    if report.totals.params != params:
        problems.append(f"parameters: the spec {report.totals.params:,}, the module {params:,}")
    if report.totals.flops != counter.get_total_flops():
        problems.append(f"FLOPs: the spec {report.totals.flops:,}, the module {counter.get_total_flops():,}")
    if problems:
        differ = "; ".join(problems)
        raise Unmapped(f"{data['name']}: the spec would count something other than the module: {differ}")
