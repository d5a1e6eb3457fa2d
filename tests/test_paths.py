"""The paths view (cnnsize.paths): a network unrolled into the paths from its input to its output
(Veit, Wilber and Belongie, 2016), counted exactly and worked by hand, and for ResNet-50 by an
enumeration of all 2^16 ways through its blocks."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from fractions import Fraction
from math import comb

import pytest

from cnnsize.engine import analyze
from cnnsize.loader import load_argument
from cnnsize.paths import Distribution, paths

CONV = {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}
HEAD = ["global_avgpool2d", "flatten", {"type": "linear", "out_features": 2}]


def view_of(make_spec, layers, **more):
    return paths(analyze(make_spec({"input": [4, 8, 8], "layers": layers, **more})))


def lengths(distribution):
    return dict(distribution.counts)


def test_a_chain_has_one_path_as_long_as_its_weighted_layers(make_spec):
    # conv, relu, conv, pool, flatten, linear: 3 weighted layers on the one path
    view = view_of(make_spec, [CONV, "relu", CONV, *HEAD])
    (out,) = view.outputs
    assert lengths(out.layers) == {3: 1}
    assert out.blocks is None  # no residual composite: no length in blocks
    assert (view.blocks, view.joins) == (0, 0)


def test_one_identity_residual_gives_two_paths(make_spec):
    # stem conv (1), then a residual: through the body conv, relu, conv (+2) or the skip (+0), then
    # the linear (1): lengths 1 + 2 + 1 = 4 and 1 + 0 + 1 = 2
    view = view_of(make_spec, [CONV, {"type": "residual", "body": [CONV, "relu", CONV]}, *HEAD])
    (out,) = view.outputs
    assert lengths(out.layers) == {2: 1, 4: 1}
    assert lengths(out.blocks) == {0: 1, 1: 1}  # the body passed through, or not
    assert (view.blocks, view.identities, view.projections, view.joins) == (1, 1, 0, 1)


def test_small_resnet(make_spec):
    # specs/small-resnet.yaml: stem conv (1); block1 and block2 each 2 convs in the body or the
    # identity (0); block3 2 convs in the body or the 1x1 projection (1); the linear (1). Lengths
    # 2 + {0, 2} + {0, 2} + {1, 2}: 2 + (1 + x^2)^2 (x + x^2) = x^3 + x^4 + 2x^5 + 2x^6 + x^7 + x^8
    view = paths(analyze(load_argument("specs/small-resnet.yaml")))
    (out,) = view.outputs
    assert lengths(out.layers) == {3: 1, 4: 1, 5: 2, 6: 2, 7: 1, 8: 1}
    assert out.layers.total == 2**3
    assert out.layers.mean == Fraction(11, 2)  # 1 + 1 + 1 + 1.5 + 1
    assert lengths(out.blocks) == {0: 1, 1: 3, 2: 3, 3: 1}  # binomial(3, 1/2) times 8
    assert (view.blocks, view.identities, view.projections) == (3, 2, 1)
    # 95% of 8 paths is 7.6: only all of them, 3 to 8 layers
    assert out.layers.most() == (3, 8, 8)


def resnet_enumerated(stages, projections_at):
    """Every way through a bottleneck ResNet, one by one: the stem conv and the fc (2), then each
    block's 3 convolutions, or its shortcut: a projection's 1 conv or an identity's 0."""
    blocks = [i in projections_at for i in range(sum(stages))]
    found = Counter()
    for through in itertools.product((False, True), repeat=len(blocks)):
        found[2 + sum(3 if body else (1 if projected else 0) for body, projected in zip(through, blocks))] += 1
    return found


def test_resnet50_against_an_enumeration_of_its_65536_paths():
    view = paths(analyze(load_argument("resnet50")))
    (out,) = view.outputs
    # stages of 3, 4, 6, 3 bottlenecks; the first of each projects (64 -> 256 channels, then strides)
    assert (view.blocks, view.projections, view.identities) == (16, 4, 12)
    starts = {0, 3, 7, 13}
    assert lengths(out.layers) == dict(resnet_enumerated((3, 4, 6, 3), starts))
    assert out.layers.total == 2**16 == 65_536
    # the shortest: stem, the 4 projections, fc; the longest: the depth of its name, 2 + 16 * 3
    assert (out.layers.shortest, out.layers.longest) == (1 + 4 + 1, 50)
    # expected: 2 + 12 * (3 + 0) / 2 + 4 * (3 + 1) / 2 = 2 + 18 + 8
    assert out.layers.mean == 28
    # in blocks, projection or not, a block is passed through or skipped: binomial(16, 1/2)
    assert lengths(out.blocks) == {k: comb(16, k) for k in range(17)}
    assert out.blocks.mean == 8


def test_resnet50s_distribution_as_a_polynomial():
    # the same count as a product of polynomials, coefficient lists multiplied by hand:
    # x^2 (1 + x^3)^12 (x + x^3)^4
    def times(a, b):
        c = [0] * (len(a) + len(b) - 1)
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                c[i + j] += x * y
        return c

    poly = [0, 0, 1]
    for _ in range(12):
        poly = times(poly, [1, 0, 0, 1])
    for _ in range(4):
        poly = times(poly, [0, 1, 0, 1])
    (out,) = paths(analyze(load_argument("resnet50"))).outputs
    assert lengths(out.layers) == {n: c for n, c in enumerate(poly) if c}


@pytest.mark.parametrize(
    "name, blocks, depth", [("resnet18", 8, 18), ("resnet34", 16, 34), ("resnet101", 33, 101), ("resnet152", 50, 152)]
)
def test_the_zoos_resnets_have_2_to_the_blocks_paths(name, blocks, depth):
    (out,) = paths(analyze(load_argument(name))).outputs
    assert out.layers.total == 2**blocks  # exact: 2^50 for ResNet-152
    assert out.layers.longest == depth
    assert lengths(out.blocks) == {k: comb(blocks, k) for k in range(blocks + 1)}
    assert out.blocks.mean == Fraction(blocks, 2)


def test_resnet101s_expected_length():
    # stages of 3, 4, 23, 3 = 33 bottlenecks, 4 projecting: 2 + 29 * 3/2 + 4 * (3 + 1)/2 = 53.5
    (out,) = paths(analyze(load_argument("resnet101"))).outputs
    assert out.layers.mean == Fraction(107, 2)
    assert (out.layers.shortest, out.layers.longest) == (6, 101)


def test_a_nested_skip(make_spec):
    # an outer residual whose body is conv, an inner residual (body: conv), conv. Through the outer
    # body: 1 + (1 or 0) + 1 = 3 or 2; its skip: 0. With the stem and the linear (2): 2, 4, 5
    inner = {"type": "residual", "body": [CONV]}
    outer = {"type": "residual", "body": [CONV, inner, CONV]}
    view = view_of(make_spec, [CONV, outer, *HEAD])
    (out,) = view.outputs
    assert lengths(out.layers) == {2: 1, 4: 1, 5: 1}
    # in blocks: the outer skipped (0), or passed (1) with the inner skipped (1) or passed (2)
    assert lengths(out.blocks) == {0: 1, 1: 1, 2: 1}
    assert view.blocks == 2


def test_a_projection_shortcut_counts_its_convolution(make_spec):
    # body: two convs to 8 channels; shortcut: a 1x1 conv to 8 channels. 1 + {2, 1} + 1
    block = {"type": "residual", "body": [{**CONV, "out_channels": 8}, {**CONV, "out_channels": 8}],
             "shortcut": [{"type": "conv2d", "out_channels": 8, "kernel_size": 1}, "batchnorm2d"]}  # fmt: skip
    view = view_of(make_spec, [CONV, block, *HEAD])
    (out,) = view.outputs
    assert lengths(out.layers) == {3: 1, 4: 1}
    assert lengths(out.blocks) == {0: 1, 1: 1}  # the projection is the shortcut: no block passed
    assert (view.identities, view.projections) == (0, 1)


def test_a_concat_gives_the_paths_of_each_branch(make_spec):
    # three branches: one conv, two convs, and the empty branch (the input itself); then the linear:
    # lengths 1 + 1, 2 + 1, 0 + 1
    block = {"type": "concat", "branches": [[CONV], [CONV, CONV], []]}
    view = view_of(make_spec, [block, *HEAD])
    (out,) = view.outputs
    assert lengths(out.layers) == {1: 1, 2: 1, 3: 1}
    assert out.blocks is None and view.blocks == 0 and view.joins == 1


def test_an_add_of_one_value_twice_counts_both_edges(make_spec):
    # x + x: two edges into the add, two paths (each of length 1: the conv)
    view = view_of(make_spec, [{**CONV, "name": "x"}, {"type": "add", "from": ["x", "x"]}, *HEAD[:2]])
    assert lengths(view.outputs[0].layers) == {1: 2}


def test_a_gate_multiplied_in(make_spec):
    # specs/se-block.yaml: conv, bn, relu, conv, bn (x: 2 layers); the gate pools x and runs two 1x1
    # convs (4 layers); mul(x, gate) gives 2 paths, of 2 and 4; the add of the input adds a path of 0
    view = paths(analyze(load_argument("specs/se-block.yaml")))
    assert lengths(view.outputs[0].layers) == {0: 1, 2: 1, 4: 1}
    assert (view.blocks, view.joins) == (0, 2)  # mul and add, no residual composite


def test_several_inputs_and_outputs(make_spec):
    spec = {
        "inputs": {"a": [4, 8, 8], "b": [4, 8, 8]},
        "layers": [
            {**CONV, "from": "a", "name": "ca"},
            {**CONV, "from": "b"},
            {**CONV, "name": "cb"},
            {"type": "add", "from": ["ca", "cb"], "name": "sum"},
            {**CONV, "name": "head"},
        ],
        "outputs": ["sum", "head", "ca"],
    }
    view = paths(analyze(make_spec(spec)))
    out = {o.output: lengths(o.layers) for o in view.outputs}
    # sum: from a through ca (1), from b through two convs (2); head: one more; ca: a's one path
    assert out == {"sum": {1: 1, 2: 1}, "head": {2: 1, 3: 1}, "ca": {1: 1}}
    assert len(view.inputs) == 2


def test_most_paths_is_the_narrowest_range_holding_95_percent():
    d = Distribution(((0, 1), (1, 3), (2, 3), (3, 1)))
    assert d.most() == (0, 3, 8)  # 95% of 8 is 7.6: all
    assert d.most(Fraction(3, 4)) == (1, 2, 6)  # 6 of 8 at lengths 1 and 2
    assert d.most(Fraction(1, 8)) == (1, 1, 3)  # one length is enough: the one holding more
    # two ranges as narrow holding as many: the shorter
    assert Distribution(((0, 5), (1, 5), (2, 5))).most(Fraction(3, 5)) == (0, 1, 10)
    # gaps count in the width: 10 and 20 hold 90% together, but 0..1 is narrower and holds as much
    assert Distribution(((0, 45), (1, 45), (10, 5), (20, 5))).most(Fraction(9, 10)) == (0, 1, 90)
    # binomial(54, 1/2), Veit et al.'s ResNet-110 (54 blocks): most paths 19 to 35 blocks long, by
    # their reading; the narrowest range holding 95% is 20 to 34
    binomial = Distribution(tuple((k, comb(54, k)) for k in range(55)))
    low, high, held = binomial.most()
    assert (low, high) == (20, 34)
    assert 20 * held >= 19 * 2**54 > 20 * (held - comb(54, 20))  # each end is needed


def test_a_deep_residual_stack_is_counted_in_well_under_a_second(make_spec):
    # 400 identity residuals: 2^400 paths, a distribution of 401 lengths at the end
    block = {"type": "residual", "body": [CONV, "relu", CONV]}
    report = analyze(make_spec({"input": [4, 8, 8], "layers": [block] * 400}))
    start = time.perf_counter()
    (out,) = paths(report).outputs
    assert time.perf_counter() - start < 1.0
    assert out.layers.total == 2**400
    assert lengths(out.layers) == {2 * k: comb(400, k) for k in range(401)}


def test_json(make_spec):
    data = view_of(make_spec, [CONV, {"type": "residual", "body": [CONV, "relu", CONV]}, *HEAD]).to_dict()
    (out,) = data["outputs"]
    assert data["view"] == "paths" and data["residual_blocks"] == 1 and data["identity_shortcuts"] == 1
    assert out["layers"]["lengths"] == [{"length": 2, "paths": 1}, {"length": 4, "paths": 1}]
    assert out["layers"]["paths"] == 2 and out["layers"]["mean"] == 3.0 and out["layers"]["mean_exact"] == [3, 1]
    assert out["layers"]["most"] == {"share": 0.95, "shortest": 2, "longest": 4, "paths": 2}
    assert out["blocks"]["lengths"] == [{"length": 0, "paths": 1}, {"length": 1, "paths": 1}]


def test_transposed_convolutions_are_weighted_layers():
    # specs/dcgan-generator.yaml: the linear projection, then four conv_transpose2d: one path of 5
    (out,) = paths(analyze(load_argument("specs/dcgan-generator.yaml"))).outputs
    assert lengths(out.layers) == {5: 1}
