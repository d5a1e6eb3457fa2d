"""Comparing the engine with a measurement, and the statistics of a timing (pure, no torch)."""

from __future__ import annotations

import pytest

from cnnsize.engine import analyze
from cnnsize.verification import (
    Figure,
    Measurement,
    Throughput,
    compare,
    percentile,
)

TOY = {
    "input": [3, 8, 8],
    "layers": [
        {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "residual", "body": ["batchnorm2d"]},
        "flatten",
        {"type": "linear", "out_features": 2},
    ],
}
NAMES = {
    ("layers", 0): "layers.0",
    ("layers", 1): "layers.1",
    ("layers", 1, "body", 0): "layers.1.body.0",
    ("layers", 1, "add"): "layers.1",
    ("layers", 2): "layers.2",
    ("layers", 3): "layers.3",
}


def _exact_measurement(report):
    shapes = {NAMES[row.path]: (report.batch_size, *row.output_shape) for row in report.leaves()}
    counts = {
        row.path: {"params": row.params, "non_trainable_params": row.non_trainable_params, "flops": row.flops}
        for row in report.leaves()
        if isinstance(row.path[-1], int)
    }
    t = report.totals
    totals = {"params": t.params, "non_trainable_params": t.non_trainable_params, "flops": t.flops}
    return Measurement(shapes, counts, totals)


def test_an_exact_measurement_matches_everywhere(make_spec):
    report = analyze(make_spec(TOY), batch_size=2)
    layers, totals = compare(report, NAMES, _exact_measurement(report))
    assert [layer.module for layer in layers] == ["layers.0", "layers.1.body.0", "layers.1", "layers.2", "layers.3"]
    assert all(layer.matches for layer in layers) and all(f.matches for f in totals)
    merge = layers[2]
    assert merge.type == "add" and merge.figures == ()  # the add is checked on the residual's output
    assert layers[0].engine_shape == (2, 4, 8, 8)


def test_differences_are_listed_one_per_line(make_spec):
    report = analyze(make_spec(TOY), batch_size=2)
    exact = _exact_measurement(report)
    shapes = {**exact.shapes, "layers.1": (2, 4, 7, 7)}
    counts = {**exact.layer_counts, ("layers", 3): {**exact.layer_counts[("layers", 3)], "params": 500}}
    totals = {**exact.totals, "params": exact.totals["params"] + 14}
    layers, figures = compare(report, NAMES, Measurement(shapes, counts, totals))
    failures = [line for layer in layers for line in layer.failures()]
    # linear: 4*8*8 = 256 inputs * 2 outputs + 2 biases = 514 params
    assert failures == [
        "layers[1].add [add, module layers.1]: output shape: engine [2, 4, 8, 8], PyTorch [2, 4, 7, 7]",
        "layers[3] [linear, module layers.3]: Trainable params: engine 514, PyTorch 500 (-14)",
    ]
    params = figures[0]
    assert not params.matches and params.diff_text().endswith("(+14)")


def test_percentile_interpolates_like_numpy():
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 50) == 2.5  # rank 0.5*3 = 1.5, between 2 and 3
    assert percentile(values, 10) == pytest.approx(1.3)  # rank 0.3: 1 + 0.3*(2 - 1)
    assert percentile(values, 90) == pytest.approx(3.7)  # rank 2.7: 3 + 0.7*(4 - 3)
    assert percentile([5.0], 90) == 5.0


def test_throughput_figures():
    t = Throughput.from_latencies([0.02, 0.01, 0.03], 0.06, mode="inference", batch_size=8, warmup=1, flops=1_000_000)
    assert t.median_s == 0.02
    assert t.images_per_s == pytest.approx(400)  # 8 images / 0.02 s
    assert t.mean_images_per_s == pytest.approx(400)  # 8 * 3 / 0.06 s
    assert t.flops_per_s == pytest.approx(5e7)  # 1e6 FLOPs / 0.02 s
    # p10: rank 0.2 between 0.01 and 0.02 -> 0.012; p90: rank 1.8 between 0.02 and 0.03 -> 0.028
    assert t.to_dict()["latency_s"] == {"median": 0.02, "p10": pytest.approx(0.012), "p90": pytest.approx(0.028)}
    # a training step counts forward + backward as 3 x the forward FLOPs
    training = Throughput.from_latencies([0.02], 0.02, mode="training", batch_size=8, warmup=0, flops=10)
    assert training.flops_per_step == 30


def test_figure_label_and_dict():
    f = Figure("flops", 10, 10)
    assert f.label == "FLOPs" and f.to_dict() == {"engine": 10, "pytorch": 10, "match": True}
