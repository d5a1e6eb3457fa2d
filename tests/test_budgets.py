"""Budgets: every limit that is exceeded is one problem at its line."""

from cnnsize.budgets import check_budgets
from cnnsize.engine import analyze
from cnnsize.errors import format_path
from cnnsize.loader import load

NET = """input: [3, 32, 32]
layers:
  - {type: conv2d, out_channels: 12, kernel_size: 3, padding: same}
  - flatten
  - {type: linear, out_features: 10}
budgets:
"""
# params: 12*27 + 12 = 336 and 12288*10 + 10 = 122,890 -> 123,226
# MACs: 12*32*32*27 = 331,776 and 122,880 -> 454,656


def problems_for(budget_lines):
    spec = load(NET + budget_lines)
    batch = spec.budgets.batch_size
    return [
        (p.location.line, format_path(p.location.path), p.message) for p in check_budgets(spec, analyze(spec, batch))
    ]


def test_budgets_that_hold():
    assert problems_for("  params: 123226\n  macs: 454656\n  output_shape: [10]\n") == []


def test_each_exceeded_budget_is_reported_at_its_line():
    found = problems_for("  params: 100K\n  macs: 454655\n  activation_memory: 1KiB\n  output_shape: [10, 1, 1]\n")
    assert [(line, path) for line, path, _ in found] == [
        (7, "budgets.params"),
        (8, "budgets.macs"),
        (9, "budgets.activation_memory"),
        (10, "budgets.output_shape"),
    ]
    assert found[0][2] == "trainable parameters over budget: 123,226 (123.23 K) > 100,000 (100.00 K)"
    assert found[1][2].startswith("MACs over budget at batch size 1: 454,656")
    assert found[3][2] == "the network ends with shape [10], but the budget expects [10, 1, 1]"


def test_budgets_hold_at_their_batch_size():
    # at batch 2 the MACs double: 909,312 > 500,000
    found = problems_for("  macs: 500K\n  batch_size: 2\n")
    assert found and "at batch size 2: 909,312" in found[0][2]


def test_flops_and_memory_budgets():
    found = problems_for("  flops: 909311\n  param_memory: 492903B\n  non_trainable_params: 0\n")
    # FLOPs = 2*454,656 = 909,312; param bytes = 123,226*4 = 492,904
    assert [path for _, path, _ in found] == ["budgets.flops", "budgets.param_memory"]


def test_no_budgets_no_problems():
    spec = load(NET.replace("budgets:\n", ""))
    assert check_budgets(spec, analyze(spec)) == []


# Memory of NET at batch 1, float32 (params 123,226 * 4 B = 492,904 B), a training step's peak
# (docs/memory.md, "A step, moment by moment"):
# sgd peaks in the linear's backward, the first: parameters 492,904 + the linear's gradients
# 122,890 * 4 = 491,560 + still saved, the conv's input (the input batch itself, 3*32*32*4 = 12,288,
# so no input line) and the linear's input 12*32*32*4 = 49,152 + activation gradients: the output's
# 10*4 = 40, the linear's input's 49,152 and the loss's two 4 B scalars -> 1,095,104.
# adam peaks at the optimizer's step (on CUDA, foreach: one square root per parameter): parameters,
# gradients and the temporaries 3 * 492,904, two states 2 * 492,904, the input batch 12,288
# -> 2,476,808.
# inference: parameters 492,904 + the most alive at once: input 12,288 + conv output 49,152 (viewed
# by flatten) + linear output 10*4 = 40 -> 61,480 -> 554,384
SGD = 492_904 + 122_890 * 4 + (12_288 + 49_152) + (40 + 49_152 + 8)
ADAM = 5 * 492_904 + 12_288


def test_memory_budgets_hold_exactly_at_their_figures():
    assert SGD == 1_095_104 and ADAM == 2_476_808
    assert problems_for(f"  train_memory: {SGD}\n  inference_memory: 554384\n") == []
    assert problems_for(f"  train_memory: {ADAM}\n  optimizer: adam\n") == []


def test_memory_budgets_over_by_one_byte():
    found = problems_for(f"  train_memory: {ADAM - 1}\n  inference_memory: 554383\n  optimizer: adam\n")
    assert [(line, path) for line, path, _ in found] == [(7, "budgets.train_memory"), (8, "budgets.inference_memory")]
    assert found[0][2] == (
        "training memory over budget at batch size 1 (adam): 2,476,808 (2.36 MiB) > 2,476,807 (2.36 MiB)"
    )
    assert found[1][2].startswith("inference memory over budget at batch size 1: 554,384 (541.39 KiB)")


def test_memory_budgets_follow_batch_size_and_mixed_precision():
    # bf16 at batch 2 peaks in the linear's backward, casting its gradients to float32: parameters
    # 492,904 (float32); the linear's bf16 gradients 122,890*2 = 245,780 and its weight's float32 one
    # 122,880*4 = 491,520; autocast's saved bf16 copy of the conv's weight 324*2 = 648 (the linear's
    # freed as backward passed it); still saved, the conv's bf16 copy of the input 2*3*32*32*2 =
    # 12,288; the float32 input batch 2*3*32*32*4 = 24,576; the gradient of the linear's bf16 input
    # 2*12*32*32*2 = 49,152 and the loss's 8 B -> 1,316,876
    expected = 492_904 + 245_780 + 491_520 + 648 + 12_288 + 24_576 + 49_152 + 8
    found = problems_for("  train_memory: 1KiB\n  amp: bf16\n  batch_size: 2\n")
    assert f"at batch size 2 (sgd, bf16 mixed precision): {expected:,} " in found[0][2]


def test_unknown_optimizer_in_budgets_is_a_spec_error():
    import pytest

    from cnnsize.errors import SpecError

    with pytest.raises(SpecError) as error:
        load(NET + "  optimizer: lion\n")
    assert "budgets.optimizer" in str(error.value)


def test_mixed_precision_needs_float32_weights():
    spec = load(NET.replace("input:", "dtype: float16\ninput:") + "  train_memory: 1GiB\n  amp: bf16\n")
    (problem,) = check_budgets(spec, analyze(spec))
    assert format_path(problem.location.path) == "budgets.amp" and problem.location.line == 9
    assert "keeps float32 master weights, but the dtype is float16" in problem.message


def test_training_memory_of_an_int8_network_is_one_clear_problem():
    spec = load(NET.replace("input:", "dtype: int8\ninput:") + "  train_memory: 1GiB\n")
    (problem,) = check_budgets(spec, analyze(spec))
    assert format_path(problem.location.path) == "budgets.train_memory"
    assert problem.message.startswith("int8 cannot be trained")


def test_a_budget_written_1e9_is_a_billion_not_a_float_error():
    # YAML reads 1e9 and 1e30 as floats; the budget is the number written: 10**9, and 10**30 exactly
    # (the float 1e30 is 1,000,000,000,000,000,019,884,624,838,656)
    spec = load("input: [3, 8, 8]\nlayers: [relu]\nbudgets: {params: 1e9, macs: 1e30, train_memory: 2.5e6}\n")
    assert spec.budgets is not None
    assert (spec.budgets.params, spec.budgets.macs, spec.budgets.train_memory) == (10**9, 10**30, 2_500_000)
