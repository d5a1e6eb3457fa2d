"""The analytic engine: one pass over a spec that infers every layer's shape and counts its
parameters, work, activation memory and receptive field. Pure Python; exact integers throughout."""

from __future__ import annotations

from math import prod
from typing import Optional

from cnnsize.errors import LayerRuleError, SpecError, SpecPath, UsageError
from cnnsize.kinds import Composite, LayerKind, Shape
from cnnsize.receptive import INPUT_FIELD, Field, widest
from cnnsize.report import LayerRow, ReceptiveField, Report, Totals
from cnnsize.schema import Spec
from cnnsize.units import DTYPE_BYTES


def analyze(spec: Spec, batch_size: int = 1, dtype: Optional[str] = None) -> Report:
    """Analyse `spec` for a batch of `batch_size` in `dtype` (default: the spec's own)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch size must be a positive integer, got {batch_size!r}")
    dtype = dtype or spec.dtype
    if dtype not in DTYPE_BYTES:
        raise UsageError(f"unknown dtype '{dtype}'; choose one of {', '.join(DTYPE_BYTES)}")
    walker = _Walker(spec, batch_size, DTYPE_BYTES[dtype])
    field = INPUT_FIELD if len(spec.input) == 3 else None
    rows, output, _ = walker.sequence(spec.layers, spec.input, field, ("layers",))
    params = sum(row.params for row in rows)
    totals = Totals(
        params=params,
        non_trainable_params=sum(row.non_trainable_params for row in rows),
        macs=sum(row.macs for row in rows),
        activation_bytes=sum(row.activation_bytes for row in rows),
        param_bytes=params * DTYPE_BYTES[dtype],
    )
    return Report(spec.title, spec.file, spec.input, output, batch_size, dtype, tuple(rows), totals)


class _Walker:
    def __init__(self, spec: Spec, batch_size: int, dtype_bytes: int):
        self.spec = spec
        self.batch_size = batch_size
        self.dtype_bytes = dtype_bytes

    def sequence(
        self, layers: list[LayerKind], shape: Shape, field: Optional[Field], path: SpecPath
    ) -> tuple[list[LayerRow], Shape, Optional[Field]]:
        rows = []
        for i, layer in enumerate(layers):
            if isinstance(layer, Composite):
                row, field = self.composite(layer, shape, field, path + (i,))
            else:
                row, field = self.leaf(layer, shape, field, path + (i,))
            rows.append(row)
            shape = row.output_shape
        return rows, shape, field

    def leaf(
        self, layer: LayerKind, inp: Shape, field: Optional[Field], path: SpecPath
    ) -> tuple[LayerRow, Optional[Field]]:
        try:
            out = layer.output_shape(inp)
            if field is not None:
                field = layer.receptive_field(field, inp)
        except LayerRuleError as exc:
            raise self.error(layer, exc, path) from None
        row = LayerRow(
            path=path,
            name=layer.name,
            type=layer.kind,
            input_shape=inp,
            output_shape=out,
            params=layer.params(inp),
            non_trainable_params=layer.non_trainable_params(inp),
            macs=self.batch_size * layer.macs(inp, out),
            activation_bytes=self.activation_bytes(out),
            receptive_field=_rf(field),
        )
        return row, field

    def composite(
        self, layer: Composite, inp: Shape, field: Optional[Field], path: SpecPath
    ) -> tuple[LayerRow, Optional[Field]]:
        children: list[LayerRow] = []
        outputs, fields = [], []

        def run(sequences: list[tuple[SpecPath, list[LayerKind]]]) -> None:
            for subpath, layers in sequences:
                rows, out, sub_field = self.sequence(layers, inp, field, path + subpath)
                children.extend(rows)
                outputs.append(out)
                fields.append(sub_field)

        run(layer.sequences())
        try:
            run(layer.derived_sequences(inp, outputs))  # after the outputs they follow from
            out = layer.merge(outputs)
        except LayerRuleError as exc:
            raise self.error(layer, exc, path) from None
        if field is not None:
            field = fields[0]
            for other in fields[1:]:
                field = (widest(field[0], other[0]), widest(field[1], other[1]))  # type: ignore[index]
        if layer.merge_op:
            merged = LayerRow(
                path + (layer.merge_op,),
                None,
                layer.merge_op,
                inp,
                out,
                0,
                0,
                0,
                self.activation_bytes(out),
                _rf(field),
            )
            children.append(merged)
        row = LayerRow(
            path=path,
            name=layer.name,
            type=layer.kind,
            input_shape=inp,
            output_shape=out,
            params=sum(c.params for c in children),
            non_trainable_params=sum(c.non_trainable_params for c in children),
            macs=sum(c.macs for c in children),
            activation_bytes=sum(c.activation_bytes for c in children),
            receptive_field=_rf(field),
            children=tuple(children),
        )
        return row, field

    def activation_bytes(self, shape: Shape) -> int:
        return self.batch_size * prod(shape) * self.dtype_bytes

    def error(self, layer: LayerKind, exc: LayerRuleError, path: SpecPath) -> SpecError:
        who = f"{layer.kind} '{layer.name}'" if layer.name else layer.kind
        target = path + (exc.field,) if exc.field else path
        return SpecError.at(f"{who}: {exc.message}", self.spec.locate(target))


def _rf(field: Optional[Field]) -> Optional[ReceptiveField]:
    if field is None:
        return None
    return ReceptiveField(
        size=(field[0].size, field[1].size),
        jump=(field[0].jump, field[1].jump),
        start=(field[0].start, field[1].start),
    )
