"""A spec as PyTorch source code: one `nn.Module` class with a named submodule per layer and a
`forward` that follows the graph, needing torch and nothing of cnnsize at run time.

Each layer's module is the one `cnnsize.build` makes (the kind's own construction); the source
says how to construct it: a `torch.nn` module by its constructor as its repr writes it, checked by
constructing it again and comparing (a module whose repr does not construct it is an error naming
the layer, never a silently different model); cnnsize's own small modules (`backend/blocks.py`:
the joins, layer scale, ConvNeXt's channel layer norm, ...) by their arguments, their classes'
source copied into the file.
"""

from __future__ import annotations

import inspect
import keyword
import re
from typing import Any

import torch
from torch import nn

from cnnsize import __version__
from cnnsize.backend import blocks
from cnnsize.backend.builder import KIT, qualified_names
from cnnsize.errors import UsageError, format_path
from cnnsize.graph import resolve
from cnnsize.schema import Spec

# cnnsize's modules an exported file defines, with how to read each one's constructor arguments
_OWN: dict[type, Any] = {
    blocks.Add: lambda m: [],
    blocks.Mul: lambda m: [],
    blocks.Cat: lambda m: [m.dim],
    blocks.Chunk: lambda m: [m.chunks, m.dim],
    blocks.Split: lambda m: [m.split_size_or_sections, m.dim],
    blocks.ChannelPool: lambda m: [m.kernel_size, m.mode],
    blocks.LayerScale: lambda m: [tuple(m.gamma.shape), float(m.gamma.detach().flatten()[0])],
    blocks.StochasticDepth: lambda m: [m.p, m.mode],
    blocks.CenterCrop: lambda m: [tuple(m.size)],
    blocks.Reshape: lambda m: [tuple(m.shape)],
}


_RESERVED = {"self", "torch", "nn", "F", "Literal", "super"}  # names the generated code itself uses


def _identifier(text: str) -> str:
    """`text` as a Python name: other characters as `_`, and `m_` before a digit, a keyword or a
    name the generated code uses."""
    name = re.sub(r"\W", "_", text, flags=re.ASCII)
    usable = name and not name[0].isdigit() and not keyword.iskeyword(name) and name not in _RESERVED
    return name if usable else f"m_{name}"


_OWN_ATTRIBUTES = {"input_shapes", "example_input"}  # what the generated class defines besides forward


def _fresh(name: str, taken: set[str]) -> str:
    """`name`, or with `_` added until no other value, submodule, nn.Module attribute or attribute of
    the generated class has it (a layer named `example_input` replaced the method)."""
    while name in taken or hasattr(nn.Module, name) or name in _OWN_ATTRIBUTES:
        name += "_"
    taken.add(name)
    return name


def _comment(text: str) -> str:
    """`text` on one line of source: each character that is not printable (a newline, a carriage
    return, a null) written as its escape, so that a name in a spec never ends a comment (and
    writes code after it)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _docstring_text(text: str) -> str:
    """`text` inside a triple-quoted docstring: on one line, its backslashes and quotes escaped, so
    that a spec's title never closes the docstring (and writes code after it)."""
    return _comment(text).replace("\\", "\\\\").replace('"', '\\"')


def _construction(module: nn.Module, where: str) -> tuple[str, set[type]]:
    """Source that constructs `module` and the cnnsize classes it uses."""
    kind = type(module)
    if isinstance(module, blocks.PaddedConv2d):
        pad, used_pad = _construction(module.pad, where)
        conv, used_conv = _construction(module.conv, where)
        return f"PaddedConv2d({pad}, {conv})", {kind, *used_pad, *used_conv}
    if isinstance(module, blocks.LayerNorm2d):
        shape, eps = tuple(module.normalized_shape), module.eps
        affine, bias = module.elementwise_affine, module.bias is not None
        return f"LayerNorm2d({shape!r}, eps={eps!r}, elementwise_affine={affine}, bias={bias})", {kind}
    if kind in _OWN:
        return f"{kind.__name__}({', '.join(repr(a) for a in _OWN[kind](module))})", {kind}
    if kind.__module__.startswith("torch.nn"):
        text = f"nn.{kind.__name__}({', '.join(_arguments(module))})"
        again = eval(text, {"nn": nn, "torch": torch})  # noqa: S307 - the constructor just written
        if _state(again) == _state(module):
            return text, set()
    raise UsageError(f"{where}: cannot write {type(module).__name__} as source: its repr does not construct it")


_SKIPPED = {"self", "device", "dtype"}


def _arguments(module: nn.Module) -> list[str]:
    """`name=value` for each constructor argument of a torch.nn module that differs from its
    default, read from the attribute of the same name (a parameter attribute such as `bias`: whether
    there is one)."""
    arguments = []
    for name, parameter in inspect.signature(type(module).__init__).parameters.items():
        if name in _SKIPPED or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if not hasattr(module, name):
            raise UsageError(f"{type(module).__name__} keeps no `{name}` to write it from")
        value = _plain(getattr(module, name))
        if isinstance(value, torch.Tensor) or (value is None and name == "bias"):
            value = value is not None
        if parameter.default is parameter.empty or value != parameter.default:
            arguments.append(f"{name}={value!r}")
    return arguments


def _plain(value: Any) -> Any:
    """A pair of equal integers as the one integer torch also takes (`kernel_size=3`)."""
    if isinstance(value, tuple) and value and all(type(v) is int and v == value[0] for v in value):
        return value[0]
    return value


def _state(module: nn.Module) -> tuple[Any, ...]:
    """What two modules of a kind must share to be the same layer: their settings and the shapes
    of their parameters and buffers."""
    settings = {k: _plain(v) for k, v in vars(module).items() if not k.startswith("_") and k != "training"}
    shapes = [(n, tuple(t.shape)) for n, t in [*module.named_parameters(), *module.named_buffers()]]
    return type(module), repr(sorted(settings.items())), shapes


def _operator(module: nn.Module) -> Any:
    """How a join or split reads as an expression of its inputs' names, as people write it
    (`a + b`, `torch.cat([a, b], dim=1)`); None for a module called as a submodule."""
    kind = type(module)
    if kind is blocks.Add:
        return lambda args: " + ".join(args)
    if kind is blocks.Mul:
        return lambda args: " * ".join(args)
    if kind is blocks.Cat:
        return lambda args: f"torch.cat([{', '.join(args)}], dim={module.dim})"
    if kind is blocks.Chunk:
        return lambda args: f"torch.chunk({args[0]}, {module.chunks}, dim={module.dim})"
    if kind is blocks.Split:
        return lambda args: f"torch.split({args[0]}, {module.split_size_or_sections!r}, dim={module.dim})"
    return None


def export_torch(spec: Spec, class_name: str = "Net") -> str:
    """`spec` as the source of a module: `class Net(nn.Module)` with `example_input(batch)`."""
    graph = resolve(spec)
    names = qualified_names(graph)
    used: set[type] = set()
    inits, body = [], []
    value_name = {v: _identifier(name) for name, v in graph.inputs}
    taken = set(value_name.values())
    attributes: set[str] = set()
    attribute_of: dict[int, str] = {}  # node -> its submodule's attribute
    for index, node in enumerate(graph.nodes):
        where = format_path(node.path)
        module = node.layer.node_module(node.in_shapes, KIT)
        label = node.layer.name or where
        expression = _operator(module)
        if expression is None and node.shares is not None:  # the shared layer's submodule, called again
            attribute = attribute_of[node.shares]
            label += f" (shares {attribute})"
        elif expression is None:
            attribute = _identifier(names[node.path].replace(".", "_").removeprefix("layers_"))
            if attribute.startswith("m_") and attribute[2:].isdigit():  # unnamed, at the top: kind and place
                attribute = f"{node.layer.kind}_{attribute[2:]}"
            attribute = _fresh(attribute, attributes)
            text, classes = _construction(module, where)
            used |= classes
            inits.append(f"        self.{attribute} = {text}  # {_comment(label)}: {node.layer.kind}")
        if expression is None:
            attribute_of[index] = attribute
        outs = []
        for v in node.outputs:
            label_text = graph.values[v].label.replace(".", "_").replace("[", "_").replace("]", "")
            single = len(node.outputs) == 1 and expression is None and not node.layer.name
            name = _fresh(attribute if single else _identifier(label_text), taken)
            value_name[v] = name
            outs.append(name)
        args = [value_name[v] for v in node.inputs]
        call = expression(args) if expression is not None else f"self.{attribute}({', '.join(args)})"
        body.append(f"        {', '.join(outs)}{',' if len(outs) > 1 else ''} = {call}  # {_comment(label)}")
    results = [value_name[v] for _, v in graph.outputs]
    inputs = ", ".join(value_name[v] for _, v in graph.inputs)
    shapes = [tuple(graph.values[v].shape) for _, v in graph.inputs]
    heading = f"{spec.title}: written by cnnsize {__version__} from {spec.file or 'a spec'}"
    sources = "\n\n".join(inspect.getsource(cls) for cls in sorted(used, key=lambda c: c.__name__))
    return "\n".join(
        [
            f'"""{_docstring_text(heading)}; needs only torch."""',
            "",
            "from __future__ import annotations",
            "",
            *(["from typing import Literal", ""] if "Literal" in sources else []),
            "import torch",
            *(["import torch.nn.functional as F"] if "F." in sources else []),
            "from torch import nn",
            "",
            "",
            *([sources, "", ""] if sources else []),
            f"class {class_name}(nn.Module):",
            f"    input_shapes = {shapes!r}",
            "",
            "    def __init__(self) -> None:",
            "        super().__init__()",
            *inits,
            "",
            f"    def forward(self, {inputs}):",
            *body,
            f"        return {', '.join(results)}",
            "",
            "    def example_input(self, batch_size: int = 1) -> torch.Tensor:",
            "        return torch.randn(batch_size, *self.input_shapes[0])",
            "",
            "",
            *_MAIN.replace("Net", class_name).splitlines(),
            "",
        ]
    )


# `python model.py`: the module run once on random inputs, with its parameter count and shapes
# (a file that did nothing when run left its reader to guess whether it worked)
_MAIN = """if __name__ == "__main__":
    net = Net().eval()
    inputs = [torch.randn(1, *shape) for shape in net.input_shapes]
    with torch.no_grad():
        outputs = net(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    print(f"{type(net).__name__}: {sum(p.numel() for p in net.parameters()):,} parameters")
    print("inputs: ", ", ".join(str(tuple(x.shape)) for x in inputs))
    print("outputs:", ", ".join(str(tuple(y.shape)) for y in outputs))"""
