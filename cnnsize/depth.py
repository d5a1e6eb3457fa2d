"""Weighted depth: how many layers with weights (convolutions and fully connected layers) the
longest path through a network passes, the count behind "AlexNet 8 layers, VGG 19, GoogLeNet 22,
ResNet 152". Batch norm, pooling and activations do not count; parallel paths (a residual's
shortcut, a concat's branches) count their longest one only.
"""

from __future__ import annotations

from typing import Iterable

from cnnsize.report import LayerRow, Report


def weighted_depth(report: Report) -> int:
    """The weighted depth of `report`'s network (see the module's docstring)."""
    return _along(report.rows)


def _along(rows: Iterable[LayerRow]) -> int:
    """Weighted layers one after another: their depths add up."""
    return sum(_through(row) for row in rows)


def _through(row: LayerRow) -> int:
    if not row.children:
        return 1 if row.macs > 0 else 0  # only convolutions and linear layers multiply-accumulate
    # A composite's children are its sequences' rows (paths `row.path + subpath + (i,)`) and its
    # merge row (`row.path + ('add',)`): group them by sequence, and take the deepest.
    sequences: dict[tuple[object, ...], list[LayerRow]] = {}
    for child in row.children:
        sequences.setdefault(child.path[len(row.path) : -1], []).append(child)
    return max(_along(sequence) for sequence in sequences.values())
