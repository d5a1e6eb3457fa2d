"""What every layer kind declares, and the registry that finds a kind by its name.

A kind is one pydantic model: its fields are the spec's fields (PyTorch's argument names), and its
methods are its rules, all in terms of one sample (the engine multiplies by the batch).

A **leaf** (one input, one output: a convolution, an activation) declares:
- `output_shape(inp)`: the shape rule; raises `LayerRuleError` for an impossible input;
- `weight_shapes(inp)` / `buffer_shapes(inp)`: trainable tensors and running statistics, from which
  parameter counts follow;
- `macs(inp, out)`: multiply-accumulates per sample (convolution and fully connected only);
- `receptive_field(field, inp)`: how the layer moves what one channel sees (`cnnsize.receptive`),
  and `mixing_groups(inp, out)`: whether output channels read their own input channel (None), or
  each of g groups of outputs its group of inputs (1: all of them);
- `torch_module(inp, tk)`: the PyTorch module that does what the spec says; `tk` brings `tk.nn`
  (torch.nn) and `tk.blocks` (cnnsize's own modules), so kinds never import torch;
- `saved_for_backward(inp, out)`: what that module's operations save for backward (a `Saved`, see
  `kinds/saving.py`), with `aliases_input`, `workspace` and `autocast_op` for the memory model.

A **join** (`Join`: add, cat, mul) takes several inputs, named in `from:`, and a **split** (`Split`:
chunk, split) gives several outputs; they declare the same rules over all their inputs and outputs,
as the graph asks every kind (the `node_*` methods, which a leaf's rules answer by default).

Defaults describe an element-wise layer with no weights; `torch_module` and `saved_for_backward`
have no default, so a kind without a PyTorch construction, or without a declaration of what it
saves, fails the registry-wide tests.
"""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Optional, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from cnnsize.errors import LayerRuleError, SpecPath
from cnnsize.kinds.saving import NOTHING, Saved, Tensor
from cnnsize.receptive import Field as RField
from cnnsize.receptive import Fields, Spatial
from cnnsize.shapes import Shape, shape_text
from cnnsize.values import is_int, show

if TYPE_CHECKING:
    from torch import nn

    from cnnsize.kinds.torchkit import TorchKit

Shapes = tuple[Shape, ...]

KINDS: dict[str, type["LayerKind"]] = {}


class _LayerItems:
    """JSON Schema of a layer list: its items are `#/$defs/Layer` (see cnnsize/spec_schema.py); the
    list's own constraints (such as `min_length`) are kept."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {**handler(core_schema), "items": {"$ref": "#/$defs/Layer"}}


# A list of layers inside a composite; validated by the spec parser, described by `$defs/Layer`.
LayerList = Annotated[list[Any], _LayerItems]

Reference = Union[str, int]
"""What `from:` names: a layer's `name` (`stem`, `halves.1` for a split's second output), `input`
(or an input's name), or a negative offset in the same list (-1: the layer before)."""


def _reference(value: Any) -> Reference:
    if isinstance(value, str) and value:
        return value
    if is_int(value) and value < 0:
        return int(value)
    raise PydanticCustomError(
        "reference",
        "must name an earlier output: a layer's name, 'input', or a negative offset (-1 is the layer before); "
        "got {got}",
        {"got": show(value)},
    )


def _references(value: Any) -> tuple[Reference, ...]:
    """One reference, or a non-empty list of them (a join's inputs, in order)."""
    if isinstance(value, list):
        if not value:
            raise PydanticCustomError("references", "must name at least one earlier output, got []")
        return tuple(_reference(v) for v in value)
    return (_reference(value),)


_REFERENCE_SCHEMA = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer", "maximum": -1}]}
OneReference = Annotated[Reference, PlainValidator(_reference), WithJsonSchema(_REFERENCE_SCHEMA)]
References = Annotated[
    tuple[Reference, ...],
    PlainValidator(_references),
    WithJsonSchema({"anyOf": [_REFERENCE_SCHEMA, {"type": "array", "items": _REFERENCE_SCHEMA, "minItems": 1}]}),
]


def positions(shape: Shape) -> tuple[int, int]:
    """(H, W) positions of a volume; a flat vector has one."""
    return (shape[1], shape[2]) if len(shape) == 3 else (1, 1)


class LayerKind(BaseModel):
    """Base of every layer kind: a leaf unless it says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, defer_build=True)

    kind: ClassVar[str] = ""
    inputs_range: ClassVar[tuple[int, Optional[int]]] = (1, 1)  # how many inputs (None: no upper bound)
    # an element-wise product with its own parameters: its output takes PyTorch's promotion of the
    # input's dtype and the parameters' (a half input under autocast gives a float32 output)
    promotes_with_parameters: ClassVar[bool] = False

    type: str
    name: Optional[str] = Field(
        None, description="Your name for the layer: shown in reports, used for module names and by `from:`."
    )
    from_: Optional[References] = Field(
        None,
        alias="from",
        description="Its input when not the previous layer's output: a name, `input`, `name.0`, -1 (the layer "
        "before)...; a join lists its inputs (docs/spec.md#graphs).",
    )
    shares: Optional[str] = Field(
        None,
        description="The name of an earlier layer whose weights this one uses: the same module called again "
        "(parameters counted once, MACs per call). `{shares: <name>}` alone repeats that layer's kind and fields; "
        "written out, they must equal its (docs/spec.md#shared-weights).",
    )

    # -- a leaf's rules ---------------------------------------------------------------------------

    def output_shape(self, inp: Shape) -> Shape:
        return inp

    def weight_shapes(self, inp: Shape) -> dict[str, Shape]:
        return {}

    def buffer_shapes(self, inp: Shape) -> dict[str, Shape]:
        return {}

    def macs(self, inp: Shape, out: Shape) -> int:
        return 0

    def receptive_field(self, field: Spatial, inp: Shape) -> RField:
        """What one channel sees after this layer, from what it saw before (default: the same)."""
        return field

    def mixing_groups(self, inp: Shape, out: Shape) -> Optional[int]:
        """None when output channel c reads input channel c alone (element-wise layers, pooling);
        g when each of g equal groups of output channels reads its group of input channels (1: every
        output reads every input). Default: apart when the channels (or features) keep their number
        and rank, else all mixed."""
        return None if len(inp) == len(out) and inp[0] == out[0] else 1

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
        (the padded input of an asymmetrically padded convolution, max pooling's indices); with
        autograd, what it saves stands for them."""
        return ()

    def autograd_workspace(self, inp: Shape, out: Shape) -> tuple[Tensor, ...]:
        """Temporaries alive while the module runs with autograd that autograd does not save
        (instance norm's bias repeated for every sample)."""
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

    # -- what the graph asks of every kind, over all its inputs and outputs -----------------------

    def node_shapes(self, ins: Shapes) -> Shapes:
        """The output shapes for inputs of `ins`; raises `LayerRuleError`."""
        return (self.output_shape(ins[0]),)

    def node_weights(self, ins: Shapes) -> dict[str, Shape]:
        return self.weight_shapes(ins[0])

    def node_buffers(self, ins: Shapes) -> dict[str, Shape]:
        return self.buffer_shapes(ins[0])

    def node_params(self, ins: Shapes) -> int:
        return sum(prod(shape) for shape in self.node_weights(ins).values())

    def node_non_trainable_params(self, ins: Shapes) -> int:
        return sum(prod(shape) for shape in self.node_buffers(ins).values())

    def node_macs(self, ins: Shapes, outs: Shapes) -> int:
        return self.macs(ins[0], outs[0])

    def node_fields(self, fields: Sequence[Fields], ins: Shapes, outs: Shapes) -> tuple[Fields, ...]:
        """What each output channel sees, from what each input channel saw."""
        inp, out = ins[0], outs[0]
        mapped = fields[0].map(lambda field: self.receptive_field(field, inp))
        groups = self.mixing_groups(inp, out)
        if groups is None:
            return (mapped,)
        return (mapped.grouped(groups, out[0], positions(out)),)

    def node_saved(self, ins: Shapes, outs: Shapes, grads: tuple[bool, ...]) -> Saved:
        """What autograd saves; `grads[i]`: whether input i needs a gradient."""
        return self.saved_for_backward(ins[0], outs[0])

    def node_views(self, training: bool, outputs: int) -> tuple[Optional[int], ...]:
        """For each of its `outputs`, the input whose storage it is (a view, in place), or None."""
        return (0,) if self.aliases_input(training) else (None,)

    def node_backward_workspace(self, ins: Shapes, outs: Shapes, grads: tuple[bool, ...]) -> tuple[Tensor, ...]:
        """Temporaries its backward holds beside the gradients it makes (`grads[i]`: whether input i
        needs one), alive until they are made: none by default."""
        return ()

    def node_grad_views(self, inputs: int) -> tuple[bool, ...]:
        """For each of its `inputs`, whether backward hands its gradient on as the output's gradient
        or a view of it (no new storage): a reshape's, an add's, a cat's slices. By default each
        input's gradient is a new tensor."""
        return (False,) * inputs

    def node_workspace(self, ins: Shapes, outs: Shapes, recorded: bool) -> tuple[Tensor, ...]:
        """Temporaries alive while it runs, with autograd recording it (`recorded`) or not."""
        if recorded:
            return self.autograd_workspace(ins[0], outs[0])
        return self.workspace(ins[0], outs[0])

    def node_module(self, ins: Shapes, tk: "TorchKit") -> "nn.Module":
        """The module, called with the inputs in `from:`'s order."""
        return self.torch_module(ins[0], tk)


class Join(LayerKind):
    """A layer that joins two or more inputs, named in order by `from:` (add, cat, mul). It declares
    its rules with the `node_*` methods; the one-input rules do not apply."""

    inputs_range: ClassVar[tuple[int, Optional[int]]] = (2, None)

    def output_shape(self, inp: Shape) -> Shape:
        raise TypeError(f"'{self.kind}' joins several inputs: ask node_shapes")

    def mixing_groups(self, inp: Shape, out: Shape) -> Optional[int]:
        return None

    def node_saved(self, ins: Shapes, outs: Shapes, grads: tuple[bool, ...]) -> Saved:
        return NOTHING

    def node_workspace(self, ins: Shapes, outs: Shapes, recorded: bool) -> tuple[Tensor, ...]:
        return ()


class Split(LayerKind):
    """A layer with one input and several outputs (chunk, split), named `name.0`, `name.1`... or by
    `names`; each output is a view of the input."""

    names: Optional[list[str]] = Field(
        None, description="A name for each output, so later layers may say `from: <name>` instead of `<layer>.<i>`."
    )

    def output_shape(self, inp: Shape) -> Shape:
        raise TypeError(f"'{self.kind}' gives several outputs: ask node_shapes")

    def node_views(self, training: bool, outputs: int) -> tuple[Optional[int], ...]:
        return (0,) * outputs  # every output is a view of the input


class Composite(LayerKind):
    """Sugar for a small graph written as a tree: layer sequences that all start from the
    composite's input, joined by `join_kind` (`add`, `cat`), or a single sequence whose output is the
    composite's (`sequential`, the join kind empty). The graph resolves them into plain nodes."""

    join_kind: ClassVar[str] = ""
    layer_fields: ClassVar[dict[str, int]] = {}  # field -> 1 (a list of layers) or 2 (a list of lists)

    def sequences(self) -> list[tuple[SpecPath, list[LayerKind]]]:
        """Each sequence with its spec path relative to this layer, e.g. `(('body',), [...])`."""
        raise NotImplementedError

    def derived_sequences(self, inp: Shape, outputs: list[Shape]) -> list[tuple[SpecPath, list[LayerKind]]]:
        """Sequences whose layers follow from the input and the `sequences()` outputs (residual's
        `shortcut: auto`); they run after `sequences()`, and their outputs join the others."""
        return []

    def merge(self, shapes: list[Shape]) -> Shape:
        """Check that the sequences' outputs can be joined, in the composite's own words; raises
        `LayerRuleError`."""
        raise NotImplementedError

    def saved_for_backward(self, inp: Shape, out: Shape) -> Saved:
        return NOTHING  # its layers and its join save, each declaring its own


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


def sample_axis(dim: int, rank: int) -> int:
    """A PyTorch dim of a batched tensor of per-sample `rank` (0 is the batch), as an index into the
    per-sample shape; raises `LayerRuleError` out of range or on the batch."""
    batched = rank + 1
    if not -batched <= dim < batched:
        raise LayerRuleError(
            f"dim must be in [{-batched}, {rank}] for a batched input of {batched} dimensions, got {dim}", field="dim"
        )
    index = dim % batched
    if index == 0:
        raise LayerRuleError("dim 0 is the batch: layers act on each sample", field="dim")
    return index - 1


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
