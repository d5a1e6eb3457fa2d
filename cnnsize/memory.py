"""The memory model: which tensors a forward pass holds, and for how long. Pure Python.

It follows every tensor through the network the way PyTorch runs the module cnnsize builds: which
storage each tensor is (a view, an in-place operation and a pass-through share their input's), its
dtype (under mixed precision, autocast casts where PyTorch's op lists say), and whether it needs a
gradient (nothing does before the first layer with weights, so a ReLU on the raw input saves
nothing). From each kind's declaration (`cnnsize/kinds/saving.py`) it finds:

- in training mode, the storages autograd saves for backward, each counted once and attributed to
  the layer that saved it first; parameters and buffers (running statistics) are not counted,
  since saving them costs no memory beyond themselves, but autocast's half-precision copies of the
  weights are, as they are new storages;
- in every mode, the bytes alive at each moment of the forward pass, node by node over the resolved
  graph (`cnnsize.graph`): a tensor lives until its last reader has run (a residual's input across
  its body and shortcut, a skip until the layer that takes it); the input batch lives throughout,
  as the caller holds it, and the outputs to the end.

Every figure is linear in the batch size, `Bytes(fixed, per_sample)`, so a planner can solve for
the batch size exactly. The model follows CPU PyTorch as measured, and CUDA where its source differs
(see `DEVICES` and the tables below): the tests check it against the CPU, byte for byte.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from math import prod
from typing import Iterable, Optional, Sequence

from cnnsize.errors import SpecPath, UsageError
from cnnsize.graph import Graph, Node
from cnnsize.kinds import Join, LayerKind
from cnnsize.kinds.saving import (
    ACTIVATION,
    BATCH_STATISTICS,
    DROPOUT_MASK,
    INDICES,
    WEIGHT_ALWAYS,
    WEIGHT_FOR_INPUT_GRAD,
    Tensor,
)
from cnnsize.shapes import Shape
from cnnsize.units import DTYPE_BYTES

DEVICES = ("cuda", "cpu")
AMP = {"bf16": "bfloat16", "fp16": "float16"}  # --amp: the dtype autocast computes in
BYTES = {**DTYPE_BYTES, INDICES: 8, "bool": 1}
HALF = ("bfloat16", "float16")

# Autocast's policies for the first operation of each layer that autocast touches, per device, from
# PyTorch's lists (aten/src/ATen/autocast_mode.h: AT_FORALL_LOWER_PRECISION_FP, AT_FORALL_FP32,
# AT_FORALL_FP32_SET_OPT_DTYPE, registered for CUDA; the CPU's own list has none of our fp32 ops,
# as measured: softmax, pow and nearest upsampling stay in bfloat16 on the CPU; AT_FORALL_PROMOTE's
# `cat` on both, measured on the CPU: narrower inputs are cast to the widest, as copies).
LOWER = "lower"  # inputs cast to the half dtype; weights too, as copies cached for the forward pass
FLOAT32 = "float32"  # inputs cast to float32
FLOAT32_RESULT = "float32 result"  # computed into float32 straight from the input (softmax's `dtype`)
PROMOTE = "promote"  # inputs of narrower dtypes cast to the widest among them (cat)
AUTOCAST: dict[str, dict[str, str]] = {
    "cpu": {"conv2d": LOWER, "conv_transpose2d": LOWER, "linear": LOWER, "cat": PROMOTE},
    "cuda": {
        "cat": PROMOTE,
        "conv2d": LOWER,
        "conv_transpose2d": LOWER,
        "linear": LOWER,
        "softmax": FLOAT32_RESULT,
        "pow": FLOAT32,
        "upsample_nearest2d": FLOAT32,
        "upsample_bilinear2d": FLOAT32,
        "upsample_bicubic2d": FLOAT32,
        "layer_norm": FLOAT32,
        "group_norm": FLOAT32,
    },
}


@dataclass(frozen=True)
class Bytes:
    """A size that grows linearly with the batch: `fixed + per_sample * batch_size`."""

    fixed: int = 0
    per_sample: int = 0

    def at(self, batch_size: int) -> int:
        return self.fixed + self.per_sample * batch_size

    def __add__(self, other: "Bytes") -> "Bytes":
        return Bytes(self.fixed + other.fixed, self.per_sample + other.per_sample)

    def __sub__(self, other: "Bytes") -> "Bytes":
        return Bytes(self.fixed - other.fixed, self.per_sample - other.per_sample)

    def times(self, factor: int) -> "Bytes":
        return Bytes(self.fixed * factor, self.per_sample * factor)


def total(sizes: Iterable[Bytes]) -> Bytes:
    result = Bytes()
    for size in sizes:
        result += size
    return result


@dataclass(frozen=True)
class Precision:
    """`dtype`: of parameters and activations; with `amp` (`bf16` or `fp16`), parameters stay
    float32 (the master weights) and autocast computes convolutions and linear layers in the half
    dtype. `device` picks PyTorch's rules where the CPU and CUDA differ."""

    dtype: str = "float32"
    amp: Optional[str] = None
    device: str = "cuda"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_BYTES:
            raise UsageError(f"unknown dtype '{self.dtype}'; choose one of {', '.join(DTYPE_BYTES)}")
        if self.amp is not None and self.amp not in AMP:
            raise UsageError(f"unknown precision '{self.amp}' for mixed precision; choose one of {', '.join(AMP)}")
        if self.amp is not None and self.dtype != "float32":
            raise UsageError(
                f"mixed precision (--amp {self.amp}) keeps float32 master weights, but the dtype is {self.dtype} "
                "(from --dtype or the spec's `dtype`); use float32"
            )
        if self.device not in DEVICES:
            raise UsageError(f"unknown device '{self.device}'; choose one of {', '.join(DEVICES)}")

    @property
    def trainable(self) -> bool:
        """Whether autograd can train at this precision (it needs floating-point tensors: not int8)."""
        return self.dtype != "int8"

    @property
    def untrainable_reason(self) -> str:
        return "int8 cannot be trained: autograd needs floating-point tensors"

    @property
    def param_dtype(self) -> str:
        return "float32" if self.amp else self.dtype

    @property
    def half(self) -> Optional[str]:
        """The dtype autocast computes in, or None without mixed precision."""
        return AMP[self.amp] if self.amp else None

    def describe(self) -> str:
        """`float32`, or `bf16 mixed precision (float32 weights)`."""
        return f"{self.amp} mixed precision (float32 weights)" if self.amp else self.dtype


@dataclass(frozen=True)
class Segment:
    """Nodes `first` to `last` (indices, in execution order) run under activation checkpointing
    (`torch.utils.checkpoint`, non-reentrant): they save nothing for backward; the values they read
    from outside (`inputs`) are kept instead, attributed to the block at `path`, and backward runs
    them again (`cnnsize.checkpointing`)."""

    path: SpecPath
    first: int
    last: int
    inputs: tuple[int, ...]


@dataclass(frozen=True)
class BackwardStep:
    """One node autograd recorded, as backward meets it (`cnnsize.step` walks them in reverse):
    the values it read (`inputs`, those needing a gradient flagged in `input_grads`) and made
    (`outputs`), whether each input's gradient is the output's gradient or a view of it
    (`grad_views`, the kind's `node_grad_views`), the elements of its own parameters (`params`;
    a shared call's gradient is added to its owner's, `shares`), and the bytes of the storages it
    was the first to save, freed once its backward has run (`releases`; the input batch excepted,
    as the caller holds it)."""

    index: int
    path: SpecPath
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    input_grads: tuple[bool, ...]
    grad_views: tuple[bool, ...]
    params: int
    shares: Optional[int]
    releases: Bytes
    workspace: Bytes = Bytes()  # what its backward holds beside the gradients (`node_backward_workspace`)
    copies: Bytes = Bytes()  # autocast's weight copy it saved first, freed once its backward has run
    half_grads: Bytes = Bytes()  # under autocast: its parameters' gradients in the half dtype
    cast: Bytes = Bytes()  # and the first cast to float32 (the weight's), made beside them


@dataclass(frozen=True)
class Trace:
    """One forward pass, followed tensor by tensor.

    `saved`: bytes autograd keeps for backward (each storage once; training only), `saved_by` the
    same split by the layer that saved each storage first (spec paths of leaf layers);
    `weight_copies`: autocast's half-precision copies of convolution and linear weights (and biases),
    cached for the whole pass (of which `saved_weight_copies` are saved for backward too);
    `moments`: the bytes alive while each layer runs, the input batch and weight copies included;
    `input`: the input batch, and `input_saved` whether autograd saves that very storage;
    `recomputed`: with checkpointed segments, for each, the bytes saved for backward while backward
    runs it again: all that was saved before it (its inputs included), and what it saves when run
    again (the nodes after it have released theirs by then), autocast's weight copies saved before
    it left out (they are among `weight_copies`), those it saves when run again counted;
    `savers`: who saves what, when the trace was asked to record it (`Savers`).
    """

    training: bool
    saved_by: dict[SpecPath, Bytes]
    weight_copies: Bytes
    saved_weight_copies: Bytes
    moments: tuple[Bytes, ...]
    input: Bytes
    input_saved: bool
    recomputed: tuple[Bytes, ...] = ()
    steps: tuple[BackwardStep, ...] = ()  # training without checkpointing: every recorded node
    gradients: tuple[Bytes, ...] = ()  # for each value, the bytes of its gradient
    outputs: tuple[int, ...] = ()  # the network's outputs needing a gradient
    output_floats: tuple[Bytes, ...] = ()  # for each, its float32 copy's bytes where it is not float32
    savers: Optional["Savers"] = None

    @property
    def saved(self) -> Bytes:
        """Every byte saved for backward: what `SavedTensors` measures as activation bytes."""
        return total(self.saved_by.values())

    def peak(self, batch_size: int) -> int:
        """The most bytes alive at once at `batch_size`."""
        return max(moment.at(batch_size) for moment in self.moments)


@dataclass(frozen=True)
class Savers:
    """Who saves what, recorded by a training trace without checkpointing (`trace(..., record=True)`):
    for `cnnsize.checkpoint_search` to tell what any set of checkpointed blocks would save without
    tracing again. `sizes[s]`: each storage's bytes; `by_storage[s]`: the indices of the nodes that
    ask autograd to save storage `s`, in order (several may: counted once); `copies[holder]`: the
    nodes that save autocast's copy of `holder`'s weight, with its bytes (`(node, Bytes)`);
    `value_storage[v]`: the storage each value of the graph is; `inputs`: the network's inputs';
    `born[s]`: the index of the node that made storage `s` (-1: before the first, the inputs)."""

    sizes: tuple[Bytes, ...]
    by_storage: dict[int, tuple[int, ...]]
    copies: dict[SpecPath, tuple[tuple[int, Bytes], ...]]
    value_storage: tuple[int, ...]
    inputs: tuple[int, ...]
    born: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Value:
    storage: int
    dtype: str
    grad: bool  # requires grad


def trace(
    graph: Graph, precision: Precision, training: bool, checkpointed: Sequence[Segment] = (), record: bool = False
) -> Trace:
    """Follow `graph` (a resolved spec) through one forward pass, in training mode with autograd
    (`training`) or in eval mode without it, as the module cnnsize builds runs it: node by node, each
    value released once its last reader has run (the network's inputs are held by the caller, its
    outputs returned). `checkpointed`: segments run under activation checkpointing (training only);
    `record`: keep who saves what (`Trace.savers`), for a trace without segments."""
    if record and checkpointed:
        raise ValueError("record who saves what in a trace without checkpointed segments")
    return _Tracer(graph, precision, training, tuple(checkpointed), record=record).run()


@dataclass
class _Tracer:
    graph: Graph
    precision: Precision
    training: bool
    checkpointed: tuple[Segment, ...] = ()
    sizes: list[Bytes] = field(default_factory=list)
    refs: Counter = field(default_factory=Counter)
    live: Bytes = Bytes()
    saved: dict[int, SpecPath] = field(default_factory=dict)
    saved_copies: dict[SpecPath, Bytes] = field(default_factory=dict)
    copies_saved: set[SpecPath] = field(default_factory=set)  # whose weight copies are saved (shared: once)
    copies: Bytes = Bytes()
    moments: list[Bytes] = field(default_factory=list)
    saved_total: Bytes = Bytes()  # the bytes of `saved`, as it grows
    segment: Optional[Segment] = None  # the checkpointed segment running, if any
    shadow: dict[int, None] = field(default_factory=dict)  # what it would save, each storage once
    shadow_copies: Bytes = Bytes()
    recomputed: list[Bytes] = field(default_factory=list)
    saved_node: dict[int, int] = field(default_factory=dict)  # storage -> the node that saved it first
    steps: list[tuple[Node, int, tuple[bool, ...], Bytes]] = field(default_factory=list)
    copy_node: dict[int, Bytes] = field(default_factory=dict)  # node -> the weight copy it saved first
    half_grads: dict[int, tuple[Bytes, Bytes]] = field(default_factory=dict)  # BackwardStep.half_grads, cast
    record: bool = False  # who saves what, kept as the pass runs:
    saver_nodes: dict[int, list[int]] = field(default_factory=dict)
    copy_events: dict[SpecPath, list[tuple[int, Bytes]]] = field(default_factory=dict)
    storage_of: list[int] = field(default_factory=list)  # each value's storage
    born: list[int] = field(default_factory=list)  # the node that made each storage
    index: int = -1  # the node running

    def run(self) -> Trace:
        graph = self.graph
        values: list[Optional[_Value]] = [None] * len(graph.values)
        first = self.precision.dtype  # the caller's batch: float32 under mixed precision too
        grads = [False] * len(graph.values)
        values_dtype = [first] * len(graph.values)
        gradients = [Bytes()] * len(graph.values)
        inputs = []
        for _, v in graph.inputs:
            x = _Value(self.alloc(graph.values[v].shape, first), first, grad=False)
            self.hold(x.storage)  # the caller holds the input throughout
            self.hold(x.storage)  # and the network, until its last reader
            values[v] = x
            inputs.append(x)
        self.storage_of = [-1] * len(graph.values)
        for (_, v), x in zip(graph.inputs, inputs):
            self.storage_of[v] = x.storage
        self.moment()
        starts = {s.first: s for s in self.checkpointed} if self.training else {}
        for index, (node, frees) in enumerate(zip(graph.nodes, graph.frees())):
            if index in starts:  # checkpoint keeps the segment's inputs, to run it again in backward
                self.segment = starts[index]
                for v in self.segment.inputs:
                    self.save(values[v].storage, self.segment.path)  # type: ignore[union-attr]
                before = self.saved_total
            self.index = index
            xs = [values[v] for v in node.inputs]
            made = self.node(node, xs)  # type: ignore[arg-type]
            if made and made[0].grad and self.training:
                grads_in = tuple(x.grad for x in xs)  # type: ignore[union-attr]
                scratch = node.layer.node_backward_workspace(node.in_shapes, node.out_shapes, grads_in)
                workspace = total(
                    Bytes(0, prod(t.shape) * BYTES[made[0].dtype if t.dtype == ACTIVATION else t.dtype])
                    if t.per_sample
                    else Bytes(prod(t.shape) * BYTES[made[0].dtype if t.dtype == ACTIVATION else t.dtype], 0)
                    for t in scratch
                )
                self.steps.append((node, index, grads_in, workspace))
            for v, value in zip(node.outputs, made):
                values[v] = value
                grads[v] = value.grad
                values_dtype[v] = value.dtype
                self.storage_of[v] = value.storage
                gradients[v] = Bytes(0, prod(graph.values[v].shape) * BYTES[value.dtype])
            if self.segment is not None and index == self.segment.last:
                again = total(self.sizes[s] for s in self.shadow if s not in self.saved)
                self.recomputed.append(before + again + self.shadow_copies)
                self.segment, self.shadow, self.shadow_copies = None, {}, Bytes()
            for v in frees:
                self.drop(values[v].storage)  # type: ignore[union-attr]
                values[v] = None
        saved_by: dict[SpecPath, Bytes] = {}
        for storage, path in self.saved.items():
            saved_by[path] = saved_by.get(path, Bytes()) + self.sizes[storage]
        for path, size in self.saved_copies.items():
            saved_by[path] = saved_by.get(path, Bytes()) + size
        savers = None
        if self.record:
            savers = Savers(
                sizes=tuple(self.sizes),
                by_storage={s: tuple(nodes) for s, nodes in self.saver_nodes.items()},
                copies={h: tuple(events) for h, events in self.copy_events.items()},
                value_storage=tuple(self.storage_of),
                inputs=tuple(x.storage for x in inputs),
                born=tuple(self.born),
            )
        return Trace(
            training=self.training,
            saved_by=saved_by,
            weight_copies=self.copies,
            saved_weight_copies=total(self.saved_copies.values()),
            moments=tuple(self.moments),
            input=total(self.sizes[x.storage] for x in inputs),
            input_saved=any(x.storage in self.saved for x in inputs),
            recomputed=tuple(self.recomputed),
            savers=savers,
            steps=() if self.checkpointed else self.backward_steps({x.storage for x in inputs}),
            gradients=tuple(gradients),
            outputs=tuple(v for _, v in graph.outputs if grads[v]),
            output_floats=tuple(
                Bytes() if values_dtype[v] == "float32" else Bytes(0, prod(graph.values[v].shape) * 4)
                for _, v in graph.outputs
                if grads[v]
            ),
        )

    def backward_steps(self, held: set[int]) -> tuple[BackwardStep, ...]:
        """The recorded nodes, with what each frees once its backward has run (`held`: storages
        the caller keeps)."""
        releases: dict[int, Bytes] = {}
        for storage, index in self.saved_node.items():
            if storage not in held:
                releases[index] = releases.get(index, Bytes()) + self.sizes[storage]
        return tuple(
            BackwardStep(
                index=index,
                path=node.path,
                inputs=node.inputs,
                outputs=node.outputs,
                input_grads=input_grads,
                grad_views=node.layer.node_grad_views(len(node.inputs)),
                params=node.layer.node_params(node.in_shapes) if node.shares is None else 0,
                shares=node.shares,
                releases=releases.get(index, Bytes()),
                workspace=workspace,
                copies=self.copy_node.get(index, Bytes()),
                half_grads=self.half_grads.get(index, (Bytes(), Bytes()))[0],
                cast=self.half_grads.get(index, (Bytes(), Bytes()))[1],
            )
            for node, index, input_grads, workspace in self.steps
        )

    # storages: allocated, held by references, alive while any reference remains

    def alloc(self, shape: Shape, dtype: str, per_sample: bool = True) -> int:
        size = prod(shape) * BYTES[dtype]
        self.sizes.append(Bytes(0, size) if per_sample else Bytes(size, 0))
        if self.record:
            self.born.append(self.index)
        return len(self.sizes) - 1

    def hold(self, storage: int) -> None:
        if self.refs[storage] == 0:
            self.live += self.sizes[storage]
        self.refs[storage] += 1

    def drop(self, storage: int) -> None:
        self.refs[storage] -= 1
        if self.refs[storage] == 0:
            self.live -= self.sizes[storage]

    def save(self, storage: int, path: SpecPath) -> None:
        """Autograd keeps `storage` for backward (alive to the end of the pass); inside a checkpointed
        segment it keeps nothing, and the storage only counts for when the segment runs again."""
        if self.record:
            self.saver_nodes.setdefault(storage, []).append(self.index)
        if self.segment is not None and path != self.segment.path:
            self.shadow[storage] = None
        elif storage not in self.saved:
            self.saved[storage] = path
            self.saved_node[storage] = self.index
            self.saved_total += self.sizes[storage]
            self.hold(storage)

    def moment(self) -> None:
        self.moments.append(self.live + self.copies)

    # one node

    def node(self, node: Node, xs: list[_Value]) -> list[_Value]:
        """Run `node` on `xs`; returns its outputs, each held once."""
        layer = node.layer
        ins, outs = node.in_shapes, node.out_shapes
        joins = isinstance(layer, Join)
        x = xs[0]
        policy = AUTOCAST[self.precision.device].get(layer.autocast_op(), "") if self.precision.half else ""
        params = layer.node_params(ins)
        if joins:
            compute = _promoted(v.dtype for v in xs)
        elif layer.promotes_with_parameters and params:
            compute = _promoted((x.dtype, self.precision.param_dtype))
        else:
            compute = (self.precision.half if policy == LOWER else "float32" if policy else x.dtype) or x.dtype
        temporaries = []
        source = x.storage  # what a leaf's operation reads: the input, or autocast's copy of it
        if not joins and policy not in ("", FLOAT32_RESULT, PROMOTE) and compute != x.dtype:
            source = self.alloc(ins[0], compute)
            temporaries.append(source)
        if policy == PROMOTE:  # autocast casts the narrower inputs to the widest before joining
            temporaries += [self.alloc(shape, compute) for v, shape in zip(xs, ins) if v.dtype != compute]
        if policy == LOWER and node.shares is None:  # autocast's weight copies stay cached until the pass
            self.copies += Bytes(params * BYTES[compute], 0)  # ends: a shared layer's call reuses them
        recorded = self.training and (any(v.grad for v in xs) or params > 0)
        ys = []
        for view, shape in zip(layer.node_views(self.training, len(outs)), outs):
            if view is not None:
                y = _Value(xs[view].storage, xs[view].dtype, recorded)
            else:
                y = _Value(self.alloc(shape, compute), compute, recorded)
            self.hold(y.storage)
            ys.append(y)
        if recorded:  # what autograd saves stays alive: a leaf's workspace is among it
            self.save_for_backward(node, xs, ys, source, compute, policy == LOWER)
        if recorded and policy == LOWER and params:  # backward makes the weight copies' gradients in
            # the half dtype; `_to_copy`'s backward casts each to float32 after (the weight's first)
            weight = prod(layer.node_weights(ins).get("weight", ()))
            self.half_grads[self.index] = (
                Bytes(params * BYTES[compute], 0),
                Bytes(weight * BYTES[self.precision.param_dtype], 0),
            )
        for tensor in layer.node_workspace(ins, outs, recorded):
            temporaries.append(
                self.alloc(tensor.shape, self.dtype_of(tensor, layer, ins[0], compute), tensor.per_sample)
            )
        for storage in temporaries:
            self.hold(storage)
        self.moment()
        for storage in temporaries:
            self.drop(storage)
        return ys

    def save_for_backward(
        self, node: Node, xs: list[_Value], ys: list[_Value], source: int, compute: str, lowered: bool
    ) -> None:
        layer, path, inp = node.layer, node.path, node.in_shapes[0]
        saved = layer.node_saved(node.in_shapes, node.out_shapes, tuple(v.grad for v in xs))
        if saved.input:
            self.save(source, path)
        for operand in saved.operands:
            self.save(xs[operand].storage, path)
        if saved.output:
            self.save(ys[0].storage, path)
        for tensor in saved.tensors:
            self.save(self.alloc(tensor.shape, self.dtype_of(tensor, layer, inp, compute), tensor.per_sample), path)
        # a float32 weight saved is the parameter itself; autocast's half copy of it is a new storage
        weight_saved = saved.weight == WEIGHT_ALWAYS or (saved.weight == WEIGHT_FOR_INPUT_GRAD and xs[0].grad)
        holder = self.graph.nodes[node.shares].path if node.shares is not None else path  # whose weights
        if self.record and lowered and weight_saved:
            size = Bytes(prod(layer.node_weights(node.in_shapes)["weight"]) * BYTES[compute], 0)
            self.copy_events.setdefault(holder, []).append((self.index, size))
        if lowered and weight_saved and self.segment is not None:
            self.shadow_copies += Bytes(prod(layer.node_weights(node.in_shapes)["weight"]) * BYTES[compute], 0)
        elif lowered and weight_saved and holder not in self.copies_saved:  # one cached copy, saved once
            self.copies_saved.add(holder)
            self.saved_copies[path] = Bytes(prod(layer.node_weights(node.in_shapes)["weight"]) * BYTES[compute], 0)
            self.copy_node[self.index] = self.saved_copies[path]

    def dtype_of(self, tensor: Tensor, layer: LayerKind, inp: Shape, compute: str) -> str:
        """The dtype a declared tensor has, on this device and at this precision."""
        if tensor.dtype == ACTIVATION:
            return compute
        if tensor.dtype == DROPOUT_MASK:  # CUDA's fused native_dropout keeps a bool mask
            return "bool" if self.precision.device == "cuda" else compute
        if tensor.dtype == BATCH_STATISTICS:
            if self.precision.device == "cuda":  # kept in the accumulate type: float32 for half inputs
                return "float32" if compute in HALF else compute
            has_own = layer.weight_shapes(inp) or layer.buffer_shapes(inp)  # the CPU: its parameters' dtype
            return self.precision.param_dtype if has_own else compute
        return tensor.dtype


def _promoted(dtypes: Iterable[str]) -> str:
    """PyTorch's type promotion among the dtypes cnnsize uses (bfloat16 with float16 gives float32)."""
    found = set(dtypes)
    if len(found) == 1:
        return found.pop()
    return "float64" if "float64" in found else "float32"  # bfloat16 with float16 gives float32 too
