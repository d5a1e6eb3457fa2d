"""A PyTorch module as a spec: traced with torch.fx (`import_trace`, through cnnsize's own
`Network` and keeping its executor modules whole: `import_blocks`), or with `torch.export` where fx
cannot (`import_export`), each node mapped to a cnnsize kind (modules here, cnnsize's executor
modules in `import_blocks`, calls in `import_functions`), module paths kept as layer names (a
module called again: `{shares: <first call>}`), a call named after the module whose `forward` made
it, written as a graph spec (`from:` where a layer does not read the one before). A node with no
kind is listed with its target and source line, and the import fails: never a spec that counts
something other than the module.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import math
import operator
import re
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

import torch
from torch import fx, nn

from cnnsize.backend import import_blocks
from cnnsize.backend import import_functions as functions
from cnnsize.backend import import_patterns as patterns
from cnnsize.backend.import_functions import pair, refuse
from cnnsize.backend.import_trace import Call, Traced, fx_traced
from cnnsize.errors import UsageError
from cnnsize.folding import SPLITS


class Unmapped(UsageError):
    """Nodes of the traced module that no cnnsize kind stands for, or a spec that would count
    otherwise than the module (exit 1: the module's problem, not the command line's)."""

    exit_code = 1


def _raised(exc: BaseException) -> str:
    """What the user's code raised, and where: the innermost frame of the traceback outside torch
    and cnnsize (the line of the user's file that raised), so that one message says what to fix."""
    ours = (str(Path(torch.__file__).parent), str(Path(__file__).parents[1]))
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename and not frame.filename.startswith(ours) and not frame.filename.startswith("<"):
            where = f" ({frame.filename}, line {frame.lineno})"
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r}){where}"
    return f"{type(exc).__name__}: {exc}{where}"


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
    except UsageError:
        raise
    except (ImportError, OSError, SyntaxError) as exc:
        raise UsageError(f"cannot import {where}: {exc}") from None
    except (Exception, SystemExit) as exc:  # the user's file, run on import: whatever it raises or exits with
        raise UsageError(f"cannot import {where}: {_raised(exc)}") from None
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
    except (Exception, SystemExit) as exc:  # the user's own code: whatever it raises is one message
        raise UsageError(f"{target}(**{kwargs!r}) failed: {_raised(exc)}") from None
    if not isinstance(made, nn.Module):
        raise UsageError(f"{target} gave a value of type {type(made).__name__}, not an nn.Module")
    return made


def _convolution(m: Any) -> dict[str, Any]:
    """`nn.Conv2d` or `nn.ConvTranspose2d` as its kind: every setting that differs from the default."""
    if isinstance(m.padding, str) or m.padding_mode != "zeros":
        raise ValueError(f"padding {m.padding!r} ({m.padding_mode})")
    transposed = isinstance(m, nn.ConvTranspose2d)
    kind = "conv_transpose2d" if transposed else "conv2d"
    layer = {"type": kind, "out_channels": m.out_channels, "kernel_size": pair(m.kernel_size)}
    settings = [("stride", m.stride, 1), ("padding", m.padding, 0), ("dilation", m.dilation, 1)]
    if transposed:
        settings.insert(2, ("output_padding", m.output_padding, 0))
    for key, value, default in settings:
        if pair(value) != default:
            layer[key] = pair(value)
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
    layer: dict[str, Any] = {"type": "upsample", "scale_factor": pair(tuple(int(f or 0) for f in factors))}
    if m.mode != "nearest":
        layer["mode"] = m.mode
    if m.align_corners:
        layer["align_corners"] = True
    return layer


def _zeropad(m: nn.ZeroPad2d) -> dict[str, Any]:
    return {"type": "zeropad2d", "padding": functions.cnnsize_padding(m.padding)}


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
        found = {"type": kind, "kernel_size": pair(m.kernel_size)}
        stride = pair(m.stride)
        if stride not in (None, found["kernel_size"]):
            found["stride"] = stride
        if pair(m.padding) != 0:
            found["padding"] = pair(m.padding)
        if m.ceil_mode:
            found["ceil_mode"] = True
        if kind == "maxpool2d" and pair(m.dilation) != 1:
            found["dilation"] = pair(m.dilation)
        if kind == "avgpool2d" and not m.count_include_pad:
            found["count_include_pad"] = False
        return found

    return layer


MODULES: dict[type, Callable[[Any], functions.Mapped]] = {
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
    nn.AdaptiveAvgPool2d: lambda m: {"type": "adaptive_avgpool2d", "output_size": pair(m.output_size)},
    nn.AdaptiveMaxPool2d: lambda m: {"type": "adaptive_maxpool2d", "output_size": pair(m.output_size)},
    nn.Linear: lambda m: {
        "type": "linear",
        "out_features": m.out_features,
        **({"bias": False} if m.bias is None else {}),
    },
    nn.Flatten: lambda m: {"type": "flatten"} if (m.start_dim, m.end_dim) == (1, -1) else refuse("flatten dims"),
    nn.Dropout: lambda m: {"type": "dropout", "p": m.p, **({"inplace": True} if m.inplace else {})},
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
MODULES.update(functions.MODULES)  # nn.Identity (no layer), nn.InstanceNorm2d, nn.LayerNorm (refused alone)
MODULES.update(import_blocks.executor_modules(_convolution))  # what `cnnsize.build` makes


def _source_line(node: fx.Node) -> str:
    """` at file.py:5: y = torch.matmul(x, x)`: where the traced code made the node, if fx kept it."""
    frames = re.findall(r'File "([^"]+)", line (\d+), in \w+\n\s*(.*)', node.meta.get("stack_trace") or "")
    torch_dir = str(Path(torch.__file__).parent)
    frames = [frame for frame in frames if not frame[0].startswith(torch_dir)]  # the user's code, not fx's
    if not frames:
        return ""
    file, line, code = frames[-1]
    return f" at {Path(file).name}:{line}: {code.strip()}"


def _module_layer(module: nn.Module) -> functions.Mapped:
    rule = MODULES.get(type(module))
    return rule(module) if rule else refuse(f"{type(module).__name__}: no kind for this module")


def _first_line(exc: BaseException) -> str:
    """What went wrong, in one line. fx's shape propagation wraps the module's own error in one line
    that holds the node's whole metadata (its stack trace among it, hundreds of characters): the
    module's error is given instead, with the source line fx recorded for the node."""
    text = str(exc).strip()
    if text.startswith("ShapeProp error") and exc.__cause__ is not None:
        where = re.search(r'File "([^"]+)", line (\d+)', text)
        at = f" (at {Path(where[1]).name}:{where[2]})" if where else ""
        return _first_line(exc.__cause__) + at
    lines = text.splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


MAX_EXAMPLE = 2**26
"""The most values one sample of the example input may hold (256 MiB in float32): the import runs a
batch of 2 through the module on the CPU, and a spec read at one size holds at another (its `input:`)."""


def traced(model: nn.Module, input_shape: tuple[int, ...], name: str) -> Traced:
    """`model` (what `import_blocks.traceable` gives for it) traced with torch.fx, keeping every
    module the importer maps whole, or where fx cannot trace it, with torch.export; one message
    naming both failures when neither can. The example input has a batch of 2, so that the batch
    stands apart from every other size of 1 in the shapes the rules read."""
    values = math.prod(input_shape)
    if values > MAX_EXAMPLE:
        sizes = ",".join(map(str, input_shape))
        raise UsageError(
            f"--input {sizes} is {values:,} values a sample; the import runs an example batch of 2 through"
            f" the module, at most {MAX_EXAMPLE:,} values a sample: import at a smaller size, then set the"
            " spec's input (or report it with --input)"
        )
    example = torch.randn(2, *input_shape)
    tracer = import_blocks.MappedTracer(MODULES)
    try:
        return fx_traced(model, example, tracer)
    except Exception as fx_error:  # fx raises many kinds on code it cannot trace
        from cnnsize.backend.import_export import exported

        try:
            found = exported(model, example, tracer)
        except Exception as export_error:  # so does export
            raise UsageError(
                f"cannot trace {name}: torch.fx: {_first_line(fx_error)}; torch.export: {_first_line(export_error)}"
            ) from None
        found.tracer = (
            f"torch.export, its Python branches taken for this input size (torch.fx: {_first_line(fx_error)})"
        )
        return found


Pattern = tuple[Any, fx.Node, Union[str, Call]]


def _patterns(found: Traced) -> tuple[dict[fx.Node, Pattern], set[fx.Node]]:
    """Calls that together are one kind (`import_patterns`: the channel shuffle, view chains, the
    channels-last layer norm): by their last node, the layer, its input, and what it is named
    after (a call's name, or the module call it is: the layer norm); and the nodes they swallow."""
    found_patterns: dict[fx.Node, Pattern] = {}
    swallowed: set[fx.Node] = set()

    def norm(node: fx.Node) -> Optional[dict[str, Any]]:
        call = found.calls.get(node)
        channels = functions.shape(node)
        return functions.layer_norm_over_channels(call.module, channels[-1] if channels else None) if call else None

    for node in found.graph.nodes:
        if node in swallowed or node.op not in ("call_function", "call_method"):
            continue
        shuffle = patterns.channel_shuffle(node)
        if shuffle is not None:
            last, layer, between = shuffle
            found_patterns[last] = (layer, node.args[0], "channel_shuffle")
            swallowed.update(between)
            continue
        chain = patterns.view_chain(node)
        if chain is not None:
            last, mapped, between = chain
            found_patterns[last] = (mapped, node.args[0], last.name)
            swallowed.update(between)
            continue
        ln = patterns.channels_last_norm(node, norm)
        if ln is not None:
            call_node, last, layer, between = ln
            found_patterns[last] = (layer, node.args[0], found.calls[call_node])
            swallowed.update([*between, call_node])
    return found_patterns, swallowed


def _tensors(value: Any) -> list[fx.Node]:
    """The nodes in an output's (nested) tuples, lists and dicts, in order."""
    if isinstance(value, fx.Node):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [node for item in value for node in _tensors(item)]
    return []


JOINS = ("add", "mul", "cat")


def _holds_node(value: Any) -> bool:
    """Whether a layer's fields hold a traced value (`kernel_size=x.size(2)`), which no spec can."""
    if isinstance(value, dict):
        return any(_holds_node(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_node(v) for v in value)
    return isinstance(value, fx.Node)


def _readable(node: fx.Node, reads: list[fx.Node], several: set[fx.Node], weights: dict[fx.Node, str]) -> None:
    """ValueError where a call reads what no layer gives: a split's pieces as one value, or a
    parameter used directly (`x * self.gamma`)."""
    whole = [r.name for r in reads if r in several]
    if whole:
        raise ValueError(f"reads all of {', '.join(whole)}'s pieces as one value (index them: a, b = ...)")
    direct = [weights[r] for r in reads if r in weights]
    if direct:
        raise ValueError(f"{functions.op_name(node)} reads {', '.join(direct)} directly: no layer owns it")


def _called_again(
    target: str, layer: functions.Mapped, module: nn.Module, calls: dict[str, list[str]], fresh: Callable[[str], str]
) -> tuple[str, functions.Mapped]:
    """The name of this call of the module at `target` (its layer name), and its layer: the
    module's path at its first call (a name taken from the start: every module path is); at the
    next ones, `target_2`, `target_3`... (through `fresh`, which gives a name no other layer has)
    and, for a module with parameters or buffers, `{shares: <first call>}` (the same weights,
    counted once; a module without any is written as its kind again, which counts the same)."""
    made = calls.setdefault(target, [])
    made.append(fresh(f"{target}_{len(made) + 1}") if made else target)
    if len(made) == 1:
        return target, layer
    has_state = any(True for _ in module.parameters()) or any(True for _ in module.buffers())
    return made[-1], ({"shares": target} if has_state else layer)


class _Walk:
    """The spec's layers, made node by node in the traced graph's order: what each node's value is
    called in the spec (`names`: a layer's name, `input`, a split's port `split.0`, or what a
    call that passes its input on reads), and the nodes no kind stands for (`unmapped`). Module
    calls are named by their paths less `prefix` (a built `Network`'s wrapper: `import_blocks`),
    a module's next calls by `_called_again`, every other call by `import_blocks.FunctionLabels`
    (after the module whose `forward` made it); all of them from its one set of names taken ("input"
    and every module path from the start, then each name given)."""

    def __init__(self, found: Traced, root: nn.Module, prefix: str) -> None:
        self.found = found
        self.prefix = prefix
        self.patterns, self.swallowed = _patterns(found)
        self.layers: list[dict[str, Any]] = []
        self.names: dict[fx.Node, str] = {}
        self.several: set[fx.Node] = set()  # chunk and split: their outputs are ports, `name.0`
        self.function_label = import_blocks.FunctionLabels(root, prefix)
        self.calls: dict[str, list[str]] = {}  # a module's layer name -> the names of its calls so far
        self.renamed: dict[str, str] = {}  # a module path the spec reserves (`input`) -> its layer name
        self.previous: Optional[str] = None
        self.unmapped: list[str] = []
        self.outputs: list[fx.Node] = []

    def visit(self, node: fx.Node) -> None:
        found = self.found
        if node in found.inputs[:1]:
            self.names[node] = self.previous = "input"
        elif node in found.inputs:
            if functions.gives_tensors(node):
                self.unmapped.append(f"{node.name}: a second input (the import traces one, of --input's shape)")
        elif node.op == "output":
            self.outputs = _tensors(node.args)
        elif node in found.weights or node in found.inside or node in self.swallowed:
            pass
        elif node.op == "call_function" and node.target is operator.getitem and node.args[0] in self.several:
            split, index = node.args[0], int(node.args[1])  # type: ignore[arg-type]
            assert isinstance(split, fx.Node)
            pieces = split.meta.get("tensor_meta", split.meta.get("val")) or ()
            self.names[node] = f"{self.names[split]}.{index % len(pieces)}"  # x.chunk(2)[-1] is chunk.1
        elif node in found.calls or node in self.patterns or functions.gives_tensors(node):
            try:
                mapped, reads, label = self.mapped(node)
            except (ValueError, KeyError, TypeError) as exc:
                self.unmapped.append(f"{node.name}: {exc}{_source_line(node)}")
                return
            if all(r in self.names for r in reads):  # else it reads an unmapped node, listed already
                self.add(node, mapped, reads, label)
        # else sizes and the arithmetic on them: no tensor, no layer

    def mapped(self, node: fx.Node) -> tuple[functions.Mapped, list[fx.Node], str]:
        """The layer(s) of a node, the tensors it reads and its name; ValueError saying why none."""
        found = self.found
        if node in found.problems:
            raise ValueError(found.problems[node])
        if node in found.calls:
            call = found.calls[node]
            sized = isinstance(call.module, nn.Upsample) and call.module.size is not None
            mapped = functions.upsample_to_size(node, call.module) if sized else _module_layer(call.module)
            label, mapped = self.module_call(call, mapped)
            reads = [r for r in call.reads if r in found.weights or functions.gives_tensors(r)]
        elif node in self.patterns:
            mapped, source, by = self.patterns[node]
            reads = [source]
            if isinstance(by, Call):  # the layer norm between permutes: a module call
                label, mapped = self.module_call(by, mapped)
            else:
                label = self.function_label(node, by)
        else:
            reads = [r for r in node.all_input_nodes if r in found.weights or functions.gives_tensors(r)]
            _readable(node, reads, self.several, {})  # the pieces first; the call names weights better
            mapped, label = functions.map_call(node), self.function_label(node)
        _readable(node, reads, self.several, found.weights)
        if not node.users:
            raise ValueError(
                "its result is not used: the spec would leave it out (an in-place call not assigned, "
                "x.relu_() or F.relu(x, inplace=True) alone? write x = x.relu_())"
            )
        if _holds_node(mapped):
            raise ValueError("an argument computed in forward")
        return mapped, reads, label

    def module_call(self, call: Call, mapped: functions.Mapped) -> tuple[str, functions.Mapped]:
        """A module call's layer name (its path as the spec's) and its layer (`{shares: ...}` when
        the module was called before)."""
        path = import_blocks.layer_name(call.path, self.prefix)
        if path == "input":  # a submodule named `input`: the spec's name for the network's input
            if path not in self.renamed:
                self.renamed[path] = self.function_label.fresh("input_module")
            path = self.renamed[path]
        return _called_again(path, mapped, call.module, self.calls, self.function_label.fresh)

    def add(self, node: fx.Node, mapped: functions.Mapped, reads: list[fx.Node], label: str) -> None:
        """The node's layers appended (joins list their inputs; another layer says `from:` where
        it does not read the one before), or its name when it passes its input on."""
        if isinstance(mapped, functions.Through):
            self.names[node] = self.names[reads[0]]
            return
        made = mapped if isinstance(mapped, list) else [mapped]
        for index, layer in enumerate(made):
            part = layer.pop("name", layer.get("type"))  # a rule may name the parts of a call: `mean_pool`
            layer["name"] = label if index == len(made) - 1 else self.function_label.fresh(f"{label}_{part}")
            if index == 0 and layer.get("type") in JOINS:
                layer["from"] = [self.names[r] for r in reads]
            elif index == 0 and reads and self.names[reads[0]] != self.previous:
                layer["from"] = self.names[reads[0]]
            self.layers.append(layer)
            self.previous = layer["name"]
        self.names[node] = label
        if made[-1].get("type") in SPLITS:  # its outputs are read as ports
            self.several.add(node)


def to_spec(model: nn.Module, input_shape: tuple[int, ...], name: str) -> dict[str, Any]:
    """The spec (as data) of `model` traced with an input of `input_shape` (one sample)."""
    try:
        root, prefix = import_blocks.traceable(model)
    except ValueError as exc:  # a built network of several inputs
        raise UsageError(f"cannot trace {name}: {exc}") from None
    found = traced(root, input_shape, name)
    walk = _Walk(found, root, prefix)
    for node in found.graph.nodes:
        walk.visit(node)
    if not walk.layers and not walk.unmapped:
        walk.unmapped.append("output: the module passes its input on, so the spec would have no layer")
    if walk.unmapped:
        raise Unmapped(f"{name}: no cnnsize kind for {len(walk.unmapped)} node(s): " + "; ".join(walk.unmapped))
    spec: dict[str, Any] = {"name": name, "description": f"traced with {found.tracer}"}
    spec.update({"input": list(input_shape), "layers": walk.layers})
    output_names = [walk.names[o] for o in walk.outputs if o in walk.names]
    if output_names != [walk.previous]:
        spec["outputs"] = output_names
    return spec


SMALL_EXAMPLE = 2**20
"""Values a sample at most for which the import's example runs use one thread."""


@contextlib.contextmanager
def threads_for(input_shape: tuple[int, ...]) -> Iterator[None]:
    """The import's runs of its small examples (a batch of 2, then 1) in one thread: torch's
    intra-op threads cost more than they give on small maps (a 1,000-convolution stack at 3x8x8
    imports in 7.0 s instead of 17.5 s on 2 cores); a larger input keeps torch's threads."""
    if math.prod(input_shape) > SMALL_EXAMPLE:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def checked(model: nn.Module, data: dict[str, Any]) -> None:
    """The spec counts what the module counts, or an error says where they differ: parameters
    (`sum(p.numel())`), floating-point buffers (running statistics; `num_batches_tracked` is an
    integer counter, left out as `verify` leaves it out) and FlopCounterMode's FLOPs for one sample."""
    from torch.utils.flop_counter import FlopCounterMode

    from cnnsize.backend.probes import running_stats
    from cnnsize.engine import analyze
    from cnnsize.loader import load

    report = analyze(load(json.dumps(data)))
    # every parameter, frozen ones too (`requires_grad=False`: a fine-tuned backbone's), which a spec
    # counts as any other: the frozen ones made a true import fail as a mismatch
    params = sum(p.numel() for p in model.parameters())
    buffers = running_stats(model)
    x = torch.randn(1, *data["input"])
    was = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    except Exception as exc:  # the user's forward, at a batch of 1 where the trace ran 2
        raise UsageError(f"{data['name']} fails on one sample: {_raised(exc)}") from None
    finally:
        model.train(was)
    problems = []
    if report.totals.params != params:
        problems.append(f"parameters: the spec {report.totals.params:,}, the module {params:,}")
    if report.totals.non_trainable_params != buffers:
        problems.append(f"buffers: the spec {report.totals.non_trainable_params:,}, the module {buffers:,}")
    if report.totals.flops != counter.get_total_flops():
        problems.append(f"FLOPs: the spec {report.totals.flops:,}, the module {counter.get_total_flops():,}")
    if problems:
        differ = "; ".join(problems) + _uncalled(model, data) + _tied(model)
        raise Unmapped(f"{data['name']}: the spec would count something other than the module: {differ}")


def _tied(model: nn.Module) -> str:
    """The parameters one tensor holds under two names (`self.b.weight = self.a.weight`): PyTorch
    counts the tensor once, while a spec shares whole layers only (`shares:`), each of its tensors."""
    first: dict[int, str] = {}
    pairs = []
    for name, tensor in model.named_parameters(remove_duplicate=False):
        if id(tensor) in first:
            pairs.append(f"{name} is {first[id(tensor)]}")
        else:
            first[id(tensor)] = name
    if not pairs:
        return ""
    shown = ", ".join(pairs[:3]) + (f" and {len(pairs) - 3} more" if len(pairs) > 3 else "")
    return f" (one tensor under two names, tied weights: {shown}; a spec shares whole layers only, `shares:`)"


def _uncalled(model: nn.Module, data: dict[str, Any]) -> str:
    """The modules holding parameters or buffers of their own that no layer is named after: most
    often a module `forward` never calls, which the module counts and a trace cannot see."""
    names = {str(layer.get("name", "")) for layer in data["layers"]}
    found = [
        name
        for name, module in model.named_modules()
        if name
        and name not in names
        and any(True for _ in module.parameters(recurse=False))
        and not any(other.startswith(f"{name}.") for other in names)
    ]
    if not found:
        return ""
    shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    return f" (holding parameters, not called in forward: {shown})"
