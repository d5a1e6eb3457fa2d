"""What every layer kind declares, and the registry that finds a kind by its name.

A kind is one pydantic model: its fields are the spec's fields (PyTorch's argument names), and its
methods are its rules, all in terms of one sample (the engine multiplies by the batch):
- `output_shape(inp)`: the shape rule; raises `LayerRuleError` for an impossible input;
- `weight_shapes(inp)` / `buffer_shapes(inp)`: trainable tensors and running statistics, from which
  parameter counts follow;
- `macs(inp, out)`: multiply-accumulates per sample (convolution and fully connected only);
- `receptive_field(field, inp)`: how the layer moves the receptive field;
- `torch_module(inp, tk)`: the PyTorch module that does what the spec says (composites:
  `torch_join(tk, sequences)`). `tk` brings `tk.nn` (torch.nn) and `tk.blocks` (cnnsize's own
  modules), so kinds never import torch: only the backend does, when it builds;
- `saved_for_backward(inp, out)`: what that module's operations save for backward (a `Saved`, see
  `kinds/saving.py`), with `aliases_input`, `workspace` and `autocast_op` for the memory model.
Defaults describe an element-wise layer with no weights; `torch_module` and `saved_for_backward`
have no default, so a kind without a PyTorch construction, or without a declaration of what it
saves, fails the registry-wide tests.
"""

from __future__ import annotations

from difflib import get_close_matches
from math import prod
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Optional

from pydantic import BaseModel, ConfigDict, Field

from cnnsize.errors import LayerRuleError, SpecPath
from cnnsize.kinds.saving import NOTHING, Saved, Tensor
from cnnsize.receptive import Field as RField

if TYPE_CHECKING:
    from torch import nn

    from cnnsize.backend.builder import TorchKit

Shape = tuple[int, ...]

KINDS: dict[str, type["LayerKind"]] = {}


class _LayerItems:
    """JSON Schema of a layer list: its items are `#/$defs/Layer` (see cnnsize/spec_schema.py); the
    list's own constraints (such as `min_length`) are kept."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {**handler(core_schema), "items": {"$ref": "#/$defs/Layer"}}


# A list of layers inside a composite; validated by the spec parser, described by `$defs/Layer`.
LayerList = Annotated[list[Any], _LayerItems]


class LayerKind(BaseModel):
    """Base of every layer kind."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, defer_build=True)

    kind: ClassVar[str] = ""
    type: str
    name: Optional[str] = Field(None, description="Your name for the layer (shown in reports, used for module names).")

    def output_shape(self, inp: Shape) -> Shape:
        return inp

    def weight_shapes(self, inp: Shape) -> dict[str, Shape]:
        return {}

    def buffer_shapes(self, inp: Shape) -> dict[str, Shape]:
        return {}

    def macs(self, inp: Shape, out: Shape) -> int:
        return 0

    def receptive_field(self, field: RField, inp: Shape) -> RField:
        return field

    def torch_module(self, inp: Shape, tk: "TorchKit") -> "nn.Module":
        """The module for an input of `inp` (one sample)."""
        raise NotImplementedError(f"layer kind '{self.kind}' has no PyTorch construction")

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        """What the module's operations save for backward in training mode, when autograd records
        them (the input, or the layer's weights, needs a gradient)."""
        raise NotImplementedError(f"layer kind '{self.kind}' does not declare what it saves for backward")

    def aliases_input(self, training: bool) -> bool:
        """True when the output is the input's own storage: a view, an in-place operation, or a
        pass-through (dropout outside training)."""
        return False

    def workspace(self, inp: Shape, out: Shape) -> tuple[Tensor, ...]:
        """Temporaries alive, beside the input and the output, while the module runs without autograd
        (the padded input of an asymmetrically padded convolution, max pooling's indices)."""
        return ()

    def autocast_op(self) -> str:
        """The first operation autocast sees (`conv2d`, `linear`, `softmax`...), which decides the
        dtype the layer computes in under mixed precision; empty when autocast leaves it alone."""
        return ""

    def params(self, inp: Shape) -> int:
        """Trainable parameters: the elements of every weight tensor."""
        return sum(prod(shape) for shape in self.weight_shapes(inp).values())

    def non_trainable_params(self, inp: Shape) -> int:
        """Running statistics (batch norm's mean and variance)."""
        return sum(prod(shape) for shape in self.buffer_shapes(inp).values())


class Composite(LayerKind):
    """A layer made of layer sequences that all start from the composite's input; `merge_op` names
    the operation that joins their outputs (`add`, `cat`), or is empty for a single sequence whose
    output is the composite's (`sequential`)."""

    merge_op: ClassVar[str] = ""
    layer_fields: ClassVar[dict[str, int]] = {}  # field -> 1 (a list of layers) or 2 (a list of lists)

    def sequences(self) -> list[tuple[SpecPath, list[LayerKind]]]:
        """Each sequence with its spec path relative to this layer, e.g. `(('body',), [...])`."""
        raise NotImplementedError

    def derived_sequences(self, inp: Shape, outputs: list[Shape]) -> list[tuple[SpecPath, list[LayerKind]]]:
        """Sequences whose layers follow from the input and the `sequences()` outputs (residual's
        `shortcut: auto`); they run after `sequences()`, and their outputs join the merge."""
        return []

    def merge(self, shapes: list[Shape]) -> Shape:
        """The shape that joining the sequences' outputs gives; raises `LayerRuleError`."""
        raise NotImplementedError

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        """The join saves nothing: the backward of `add` and `cat` needs only shapes."""
        return NOTHING

    def torch_join(self, tk: "TorchKit", sequences: list["nn.Sequential"]) -> "nn.Module":
        """The module joining the built `sequences` (in the order of `sequences()`); it holds each
        one under its spec path (`body`, `branches.0`), so module names follow the spec."""
        raise NotImplementedError(f"layer kind '{self.kind}' has no PyTorch construction")


def register(cls: type[LayerKind]) -> type[LayerKind]:
    """Class decorator: add a kind to the registry under its `type` literal, refusing duplicates."""
    name = cls.model_fields["type"].default
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} must give `type` a default: its kind name")
    if name in KINDS:
        raise TypeError(f"layer kind '{name}' is registered twice ({KINDS[name].__name__}, {cls.__name__})")
    cls.kind = name
    KINDS[name] = cls
    return cls


def closest(word: str, choices: Any) -> Optional[str]:
    """The choice `word` most likely meant: equal but for case and underscores (PyTorch's
    `LeakyReLU` for `leaky_relu`), else the closest spelling, else None."""
    choices = list(choices)
    folded = {c.replace("_", "").lower(): c for c in choices}
    exact = folded.get(word.replace("_", "").lower())
    if exact is not None:
        return exact
    close = get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: str, choices: Any) -> str:
    """` (did you mean 'x'?)` when a likely match exists, else an empty string."""
    match = closest(word, choices)
    return f" (did you mean '{match}'?)" if match else ""


def shape_text(shape: Shape) -> str:
    """`[12, 32, 32]`: a shape as it is written in a spec."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def volume(inp: Shape, layer: LayerKind) -> tuple[int, int, int]:
    """The input as (C, H, W); a flat input is an error that says so."""
    if len(inp) != 3:
        raise LayerRuleError(f"needs a (C, H, W) volume but its input is the flat vector {shape_text(inp)}")
    return inp[0], inp[1], inp[2]


def check_stated(stated: Optional[int], inferred: int, field: str) -> None:
    """A stated `in_channels`/`in_features`/`num_features` must equal the inferred one."""
    if stated is not None and stated != inferred:
        raise LayerRuleError(f"{field} is {stated}, but the layer's input has {inferred}", field=field)


def check_groups(groups: int, in_channels: int, out_channels: int) -> None:
    """Grouped convolutions need both channel counts divisible by `groups` (Keras's wording)."""
    for what, count in (("input channels", in_channels), ("output channels", out_channels)):
        if count % groups:
            raise LayerRuleError(
                f"the number of {what} must be evenly divisible by groups. Received: groups={groups}, {what}={count}",
                field="groups",
            )
