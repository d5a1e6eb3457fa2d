"""The analytic engine: one pass over a spec's resolved graph that infers every layer's shape and
counts its parameters, work, activation memory and receptive field. Pure Python; exact integers
throughout."""

from __future__ import annotations

from math import prod
from typing import Optional, Sequence

from cnnsize import receptive
from cnnsize.errors import UsageError, format_path
from cnnsize.graph import Graph, Group, Member, resolve
from cnnsize.kinds.base import positions
from cnnsize.receptive import Fields, Unknown
from cnnsize.report import LayerRow, ReceptiveField, Report, Totals
from cnnsize.schema import Spec, require_spec
from cnnsize.units import DTYPE_BYTES

SEVERAL_INPUTS = "the network has several inputs; a receptive field is counted in the pixels of one"


def analyze(spec: Spec, batch_size: int = 1, dtype: Optional[str] = None) -> Report:
    """Analyse `spec` for a batch of `batch_size` in `dtype` (default: the spec's own)."""
    require_spec(spec)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch size must be a positive integer, got {batch_size!r}")
    dtype = dtype or spec.dtype
    if dtype not in DTYPE_BYTES:
        raise UsageError(f"unknown dtype '{dtype}'; choose one of {', '.join(DTYPE_BYTES)}")
    graph = resolve(spec)
    rows = _Rows(graph, batch_size, DTYPE_BYTES[dtype], receptive_fields(graph))
    top = tuple(rows.member(m) for m in graph.tree)
    params = sum(row.params for row in top)
    totals = Totals(
        params=params,
        non_trainable_params=sum(row.non_trainable_params for row in top),
        macs=sum(row.macs for row in top),
        activation_bytes=sum(row.activation_bytes for row in top),
        param_bytes=params * DTYPE_BYTES[dtype],
    )
    return Report(
        name=spec.title,
        file=spec.file,
        inputs=tuple((name, graph.values[v].shape) for name, v in graph.inputs),
        outputs=tuple((name, graph.values[v].shape) for name, v in graph.outputs),
        batch_size=batch_size,
        dtype=dtype,
        rows=top,
        totals=totals,
        warnings=graph.warnings,
        named_inputs=any(node.layer.from_ is not None for node in graph.nodes) or len(graph.inputs) > 1,
        graph=graph,
    )


def receptive_fields(graph: Graph) -> Optional[list[Fields]]:
    """What each channel of every value sees of the input, by value; None when the network has a
    flat input (nothing spatial to see); `Unknown` everywhere when it has several inputs."""
    shapes = [graph.values[v].shape for _, v in graph.inputs]
    if any(len(shape) != 3 for shape in shapes):
        return None
    fields: list[Optional[Fields]] = [None] * len(graph.values)
    for _, v in graph.inputs:
        start = receptive.INPUT if len(shapes) == 1 else Unknown(SEVERAL_INPUTS)
        fields[v] = Fields.uniform(start, graph.values[v].shape[0])
    for node in graph.nodes:
        made = node.layer.node_fields([fields[v] for v in node.inputs], node.in_shapes, node.out_shapes)  # type: ignore[misc]
        for v, f in zip(node.outputs, made):
            fields[v] = f
    return fields  # type: ignore[return-value]


class _Rows:
    """The report's rows: one per node, one per composite summing its members."""

    def __init__(self, graph: Graph, batch_size: int, dtype_bytes: int, fields: Optional[list[Fields]]):
        self.graph = graph
        self.batch_size = batch_size
        self.dtype_bytes = dtype_bytes
        self.fields = fields

    def member(self, member: Member) -> LayerRow:
        return self.group(member) if isinstance(member, Group) else self.node(member)

    def node(self, index: int) -> LayerRow:
        node = self.graph.nodes[index]
        layer = node.layer
        ins, outs = node.in_shapes, node.out_shapes
        # a split's outputs see, together, what its input saw
        seen = node.outputs if len(node.outputs) == 1 else node.inputs[:1]
        field, unknown = self.field(seen)
        # weights shared with an earlier node are that node's, counted there once (torchinfo's
        # "(recursive)"); the work is done again at every call
        owner = self.graph.nodes[node.shares] if node.shares is not None else None
        own = owner is None
        return LayerRow(
            path=node.path,
            name=layer.name,
            type=layer.kind,
            input_shapes=ins,
            output_shapes=outs,
            params=layer.node_params(ins) if own else 0,
            non_trainable_params=layer.node_non_trainable_params(ins) if own else 0,
            macs=self.batch_size * layer.node_macs(ins, outs),
            activation_bytes=sum(self.activation_bytes(shape) for shape in outs),
            receptive_field=field,
            receptive_field_unknown=unknown,
            inputs=tuple(self.graph.values[v].label for v in node.inputs),
            shares=None if owner is None else owner.layer.name or format_path(owner.path),
        )

    def group(self, group: Group) -> LayerRow:
        children = tuple(self.member(m) for m in group.members)
        field, unknown = self.field((group.output,))
        return LayerRow(
            path=group.path,
            name=group.layer.name,
            type=group.layer.kind,
            input_shapes=(self.graph.values[group.input].shape,),
            output_shapes=(self.graph.values[group.output].shape,),
            params=sum(c.params for c in children),
            non_trainable_params=sum(c.non_trainable_params for c in children),
            macs=sum(c.macs for c in children),
            activation_bytes=sum(c.activation_bytes for c in children),
            receptive_field=field,
            children=children,
            receptive_field_unknown=unknown,
            inputs=(self.graph.values[group.input].label,),
            shares=group.layer.shares,
        )

    def field(self, values: Sequence[int]) -> tuple[Optional[ReceptiveField], Optional[str]]:
        """The field of these values as a whole: (size, jump, start), or why there is none."""
        if self.fields is None:
            return None, None
        n = positions(self.graph.values[values[0]].shape)
        if len(values) == 1:
            whole = self.fields[values[0]].union(n)
        else:
            whole = receptive.union_of([self.fields[v].union(positions(self.graph.values[v].shape)) for v in values], n)
        if isinstance(whole, Unknown):
            return None, whole.reason
        h, w = whole
        return ReceptiveField(size=(h.size, w.size), jump=(h.jump, w.jump), start=(h.start, w.start)), None

    def activation_bytes(self, shape: tuple[int, ...]) -> int:
        return self.batch_size * prod(shape) * self.dtype_bytes
