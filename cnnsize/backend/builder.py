"""Building a spec as a torch `nn.Module`.

Each layer kind constructs its own module (`LayerKind.torch_module`, `Composite.torch_join`) from
the input shape the engine inferred for it, so the engine and the builder read one declaration of
the kind. This module only walks the spec and names the submodules.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Optional

from torch import nn

from cnnsize.backend import blocks
from cnnsize.engine import analyze
from cnnsize.errors import SpecPath
from cnnsize.kinds import Composite, LayerKind
from cnnsize.report import LayerRow, Report
from cnnsize.schema import Spec

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TorchKit:
    """What a kind needs to build its module: `torch.nn`, and cnnsize's own `blocks`."""

    nn: ModuleType
    blocks: ModuleType


KIT = TorchKit(nn=nn, blocks=blocks)


def build_network(spec: Spec, report: Optional[Report] = None) -> blocks.Network:
    """An `nn.Module` for `spec` (float32, on the CPU, in training mode, as torch creates modules).

    `report` is the engine's analysis of `spec` at any batch size (only its shapes are read); it is
    computed when not given, so a spec the engine rejects raises the engine's `SpecError`.
    """
    report = report or analyze(spec)
    rows = {row.path: row for _, row in report.walk()}
    names: dict[SpecPath, str] = {}
    layers = _Builder(rows, names).sequence(spec.layers, ("layers",), "layers")
    return blocks.Network(layers, tuple(spec.input), names)


def module_keys(layers: list[LayerKind]) -> list[str]:
    """The submodule name of each layer in a sequence: its `name` where that is a Python identifier
    used once in the sequence and free on `nn.Sequential`, else its index."""
    named = [layer.name for layer in layers if layer.name]
    keys = []
    for i, layer in enumerate(layers):
        name = layer.name
        usable = (
            name is not None
            and _IDENTIFIER.match(name) is not None
            and not keyword.iskeyword(name)
            and named.count(name) == 1
            and not hasattr(nn.Sequential(), name)
        )
        keys.append(name if usable and name is not None else str(i))
    return keys


class _Builder:
    def __init__(self, rows: dict[SpecPath, LayerRow], names: dict[SpecPath, str]):
        self.rows = rows
        self.names = names

    def sequence(self, layers: list[LayerKind], path: SpecPath, qualname: str) -> nn.Sequential:
        sequential = nn.Sequential()
        for i, (key, layer) in enumerate(zip(module_keys(layers), layers)):
            sequential.add_module(key, self.layer(layer, path + (i,), f"{qualname}.{key}"))
        return sequential

    def layer(self, layer: LayerKind, path: SpecPath, qualname: str) -> nn.Module:
        self.names[path] = qualname
        inp = self.rows[path].input_shape
        if not isinstance(layer, Composite):
            return layer.torch_module(inp, KIT)
        self.names[path + (layer.merge_op,)] = qualname
        built = []
        sequences = layer.sequences()
        outputs = [self.rows[path + sub + (len(seq) - 1,)].output_shape if seq else inp for sub, seq in sequences]
        for subpath, layers in sequences + layer.derived_sequences(inp, outputs):
            attribute = ".".join(str(key) for key in subpath)
            built.append(self.sequence(layers, path + subpath, f"{qualname}.{attribute}"))
        return layer.torch_join(KIT, built)
