"""Weighted depth: how many layers with weights (convolutions and fully connected layers) the
longest path through a network passes, the count behind "AlexNet 8 layers, VGG 19, GoogLeNet 22,
ResNet 152". Batch norm, pooling and activations do not count; parallel paths (a residual's
shortcut, a concat's branches, any skip) count their longest one only.
"""

from __future__ import annotations

from cnnsize.graph import Graph


def weighted_depth(graph: Graph) -> int:
    """The weighted depth of a resolved network (see the module's docstring): the longest path, by
    layers that multiply-accumulate, from an input to an output, over the graph in one pass."""
    depth = [0] * len(graph.values)
    for node in graph.nodes:
        weighted = 1 if node.layer.node_macs(node.in_shapes, node.out_shapes) > 0 else 0
        reach = max(depth[v] for v in node.inputs) + weighted
        for v in node.outputs:
            depth[v] = reach
    return max(depth[v] for _, v in graph.outputs)
