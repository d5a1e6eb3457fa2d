"""PyTorch as the oracle: build a spec, run it once, and assert that every layer's output shape and
counts, and the totals, equal the engine's, and the bytes autograd saved for backward equal the
memory model's (used by the kind table and the differential tests)."""

from __future__ import annotations

from typing import Any

import yaml

import cnnsize
from cnnsize.backend.builder import build_network
from cnnsize.backend.verifier import measure
from cnnsize.engine import analyze
from cnnsize.errors import format_path
from cnnsize.graph import resolve
from cnnsize.memory import Precision, trace
from cnnsize.schema import Spec
from cnnsize.verification import batched


def spec_of(data: dict[str, Any]) -> Spec:
    """A spec from plain data, read as the YAML text a user would write."""
    return cnnsize.load(yaml.safe_dump(data, sort_keys=False))


def assert_engine_equals_pytorch(spec: Spec, batch_size: int = 2) -> None:
    report = analyze(spec, batch_size)
    network = build_network(spec, report)
    measured, saved = measure(network, network.example_inputs(batch_size), report)
    for row in report.leaves():
        where = f"{format_path(row.path)} ({row.type})"
        real, engine_shape = measured.shapes.get(network.module_names[row.path]), batched(batch_size, row.output_shapes)
        assert real == engine_shape, f"{where}: engine {engine_shape}, PyTorch {real}"
        counts = measured.layer_counts.get(row.path)
        if counts is not None:
            engine = {"params": row.params, "non_trainable_params": row.non_trainable_params, "flops": row.flops}
            assert counts == engine, f"{where}: PyTorch {counts}, engine {engine}"
    totals = report.totals
    engine = {"params": totals.params, "non_trainable_params": totals.non_trainable_params, "flops": totals.flops}
    assert measured.totals == engine, f"totals: PyTorch {measured.totals}, engine {engine}"
    estimated = trace(resolve(spec), Precision(report.dtype, None, "cpu"), training=True).saved.at(batch_size)
    assert saved.activation_bytes == estimated, (
        f"saved for backward: PyTorch {saved.activation_bytes}, model {estimated}"
    )
