"""What changed between two specs: layers matched by name or by kind and place, their deltas, the
totals' deltas and the growth gates (cnnsize/diff.py)."""

from __future__ import annotations

import pytest

from cnnsize.diff import compare, parse_gates
from cnnsize.engine import analyze
from cnnsize.errors import UsageError
from cnnsize.loader import load
from cnnsize.planner import with_memory

OLD = """name: net
input: [3, 8, 8]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - relu
  - {type: maxpool2d, kernel_size: 2}
  - flatten
  - {type: linear, out_features: 10}
"""


def diff(old: str, new: str, **kwargs):
    reports = [with_memory(s, analyze(s, 1), device="cpu") for s in (load(old), load(new))]
    return compare(reports[0], reports[1], **kwargs)


def test_the_same_spec_changes_nothing():
    result = diff(OLD, OLD)
    assert result.changed() == []
    assert all(total.delta == 0 for total in result.totals)


def test_a_layer_inserted_does_not_shift_the_layers_after_it():
    new = OLD.replace("  - relu\n", "  - relu\n  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n")
    result = diff(OLD, new)
    # the new conv is the second conv2d at the top level: added. The pooling, flatten and linear
    # after it are matched by kind and place, not by index: changed (their receptive fields grow by
    # the new 3x3), never removed and added again
    assert [(c.label, c.status) for c in result.changed()] == [
        ("layers[2]", "added"),
        ("layers[3]", "changed"),
        ("layers[4]", "changed"),
        ("layers[5]", "changed"),
    ]
    assert [c.old.row.path for c in result.changed()[1:]] == [("layers", 2), ("layers", 3), ("layers", 4)]
    added = result.changed()[0]
    # 4 x 4 x 3 x 3 + 4 = 148 parameters; 4 x 3 x 3 = 36 MACs per output element, 4 x 8 x 8 of them
    assert added.delta("params") == 148
    assert added.delta("macs") == 36 * 4 * 8 * 8  # 9,216
    assert result.total("params").delta == 148
    assert result.total("params").relative == 148 / (4 * 3 * 9 + 4 + 64 * 10 + 10)  # 148 / 762


def test_a_wider_layer_changes_what_follows_and_a_removed_one_is_shown_where_it_was():
    new = OLD.replace("out_channels: 4", "out_channels: 8").replace("  - relu\n", "")
    result = diff(OLD, new)
    statuses = [(c.label, c.status) for c in result.changed()]
    # relu removed right after the conv; the linear reads 8 x 4 x 4 = 128 features instead of 64
    assert statuses == [
        ("layers[0]", "changed"),
        ("layers[1]", "removed"),
        ("layers[1]", "changed"),
        ("layers[2]", "changed"),
        ("layers[3]", "changed"),
    ]
    linear = result.changed()[-1]
    assert linear.delta("params") == (128 * 10 + 10) - (64 * 10 + 10)  # +640


def test_named_layers_match_by_name_wherever_they_move():
    old = OLD.replace("kernel_size: 2}", "kernel_size: 2, name: pool}")
    new = old.replace("  - relu\n", "").replace("  - flatten\n", "  - relu\n  - flatten\n")
    result = diff(old, new)
    pool = [c for c in result.rows if c.label.endswith("(pool)")]
    assert len(pool) == 1 and pool[0].old is not None and pool[0].new is not None
    assert (pool[0].old.row.path, pool[0].new.row.path) == (("layers", 2), ("layers", 1))


@pytest.mark.parametrize(
    "gates, lines",
    [
        ("params=5%", ["params grew by 148 (762 -> 910), +19.42%: more than 5%"]),  # 148 / 762 = 19.42%
        ("params=20%", []),
        ("params=147", ["params grew by 148 (762 -> 910): more than 147"]),
        ("params=148,macs=1M", []),
        ("macs=9215", ["macs grew by 9,216 (7,552 -> 16,768): more than 9215"]),  # 7,552 + 9,216
    ],
)
def test_gates_name_each_total_that_grew_past_its_limit(gates, lines):
    # old MACs: the conv's 3 x 3 x 3 = 27 per output element x 4 x 8 x 8 = 256 of them (6,912),
    # the linear's 64 x 10 (640): 7,552
    new = OLD.replace("  - relu\n", "  - relu\n  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n")
    result = diff(OLD, new)
    assert result.total("macs").old == 27 * 256 + 64 * 10
    assert result.violations(parse_gates(gates)) == lines


@pytest.mark.parametrize("text", ["params", "size=5%", "params=-1%", "train_memory=lots", "", "params=nan%"])
def test_a_bad_gate_is_a_usage_error(text):
    with pytest.raises(UsageError, match="max-growth"):
        parse_gates(text)


def test_memory_gates_read_bytes():
    (gate,) = parse_gates("train_memory=1GiB")
    assert gate.limit == 2**30 and not gate.relative
