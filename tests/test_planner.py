"""The planner: footprints line by line, the largest batch that fits solved exactly (checked here
against the footprint itself, batch by batch), and one clear error when nothing fits."""

from __future__ import annotations

from pathlib import Path

import pytest

import cnnsize
from cnnsize.errors import UsageError
from cnnsize.memory import Bytes, Precision
from cnnsize.planner import NoBatchFits, fitting_batch, model_memory, plan, with_memory
from cnnsize.zoo import MODELS

TOY = "specs/toy.yaml"  # 31,066 params: 124,264 B in float32; saves 98,304 B per sample


def toy_model(**precision):
    return model_memory(cnnsize.load(TOY), Precision(**{"device": "cpu", **precision}))


# The toy, per sample in float32: input 3*32*32*4 = 12,288; conv and ReLU outputs 12*32*32*4 =
# 49,152 each; pooled 12*16*16*4 = 12,288, its indices 12*16*16*8 = 24,576 (int64); scores 40.
# Saved: the input (conv), the ReLU's output (ReLU, max pool), the indices, the pooled map (linear):
# 12,288 + 49,152 + 24,576 + 12,288 = 98,304. Parameters: conv 12*3*3*3 + 12 = 336 (1,344 B),
# linear 3,072*10 + 10 = 30,730 (122,920 B). Backward runs linear, flatten, max pool, ReLU, conv:
# at the ReLU's backward the linear's input (12,288) and the indices (24,576) are freed (61,440
# saved left), the gradient of its output (49,152) and of its input (49,152) are alive, and the
# linear's gradients (122,920): 61,440 + 98,304 = 159,744 per sample, the most of any moment.
RELU_MOMENT = 61_440 + 2 * 49_152  # per sample: saved + the two activation gradients
LOSS = 8  # the loss and the gradient backward starts from: two float32 scalars


@pytest.mark.parametrize("optimizer, state", [("sgd", 0), ("momentum", 124_264), ("adam", 248_528), ("adamw", 248_528)])
def test_the_peak_of_a_step_is_the_relu_s_backward(optimizer, state):
    footprint = toy_model().footprint("training", optimizer, 4)
    lines = footprint.lines
    scalars = 4 * 4 if optimizer.startswith("adam") else 0  # adam's step counters: 4 tensors, 4 B each on the CPU
    assert footprint.moment == "backward of layers[1]"
    assert lines["parameter_bytes"] == 31_066 * 4 == 124_264
    assert lines["gradient_bytes"] == 122_920  # the linear's; the conv's is made after
    assert lines["optimizer_state_bytes"] == state + scalars  # momentum: 1 x the parameters; adam: 2 x
    assert lines["saved_activation_bytes"] == 4 * 61_440
    assert lines["activation_gradient_bytes"] == 4 * 2 * 49_152 + LOSS
    assert lines["input_bytes"] == 0  # the conv saves the input batch itself
    assert lines["optimizer_temporary_bytes"] == 0
    assert footprint.total_bytes == 124_264 + 122_920 + state + scalars + 4 * RELU_MOMENT + LOSS


def test_adam_s_step_holds_two_temporaries_of_the_largest_parameter_on_the_cpu():
    model = toy_model()
    step = model.moments("adam")[-1]
    assert step.name == "optimizer step"
    # denom = (exp_avg_sq.sqrt() / c).add_(eps): the square root and the quotient, for the linear's
    # weight, and the denom of the parameter before it, the conv's bias (12 * 4 B)
    assert step.lines["optimizer_temporary_bytes"] == Bytes(2 * 30_720 * 4 + 48, 0)
    assert step.lines["input_bytes"] == Bytes(0, 12_288)  # the caller holds the batch; nothing saved is left
    assert step.lines["saved_activation_bytes"] == step.lines["activation_gradient_bytes"] == Bytes()
    cuda = toy_model(device="cuda").moments("adam")[-1]  # foreach: one square root per parameter, all at once
    assert cuda.lines["optimizer_temporary_bytes"] == Bytes(124_264, 0)
    assert cuda.lines["optimizer_state_bytes"] == Bytes(248_528, 0)  # the step counters stay on the CPU


def test_inference_is_parameters_and_the_peak():
    footprint = toy_model().footprint("inference", "sgd", 2)
    # the peak is at the ReLU: input 3*32*32*4 = 12,288 + conv output and ReLU output 2*49,152
    assert footprint.lines == {
        "parameter_bytes": 124_264,
        "running_stat_bytes": 0,
        "activation_peak_bytes": 2 * (12_288 + 2 * 49_152),
    }
    assert footprint.optimizer is None


@pytest.mark.parametrize("mode", ["training", "inference"])
@pytest.mark.parametrize("name", ["resnet18", "squeezenet1_1", TOY])
def test_the_solved_batch_is_the_largest_that_fits(name, mode):
    model = model_memory(cnnsize.load(name), Precision(amp="bf16"))
    for limit in (300 * 2**20, 3 * 2**30, 24 * 2**30 + 12_345):
        batch = model.largest_batch(limit, mode, "adam")
        assert model.footprint(mode, "adam", batch).total_bytes <= limit
        assert model.footprint(mode, "adam", batch + 1).total_bytes > limit


def test_fitting_batch_takes_the_tightest_piece():
    # 100 + 10n <= 1000 up to n = 90; 400 + 5n <= 1000 up to n = 120: 90 fits both
    assert fitting_batch([Bytes(100, 10), Bytes(400, 5)], 1000) == 90
    assert fitting_batch([Bytes(1001, 0), Bytes(0, 1)], 1000) == 0


def test_no_batch_fits_below_the_parameters():
    model = toy_model()
    with pytest.raises(NoBatchFits, match=r"no batch size fits in 200.00 KiB \(204,800 B\): the parameters and their"):
        model.largest_batch(200 * 1024, "training", "sgd")  # parameters + gradients: 248,528 B
    with pytest.raises(NoBatchFits, match=r"the parameters, their gradients and adam's state \(and the step's tempor"):
        model.largest_batch(400 * 1024, "training", "adam")  # 4 * 124,264 + 16 + 2 * 122,880 + 48 = 742,960 B
    with pytest.raises(NoBatchFits, match="the parameters alone take"):
        model.largest_batch(100_000, "inference", "sgd")


def test_not_even_batch_one_fits_between_the_parameters_and_one_sample():
    # training with sgd, at the ReLU's backward: 124,264 + 122,920 + 8 B fixed + 159,744 B per sample
    with pytest.raises(NoBatchFits, match=r"not even batch size 1 fits .*: training at batch size 1 takes .*406,936 B"):
        toy_model().largest_batch(300_000, "training", "sgd")


def test_plan_names_the_network_and_checks_its_options():
    spec = cnnsize.load(TOY)
    answer = plan(spec, 2**20, optimizer="momentum", device="cpu")
    # the ReLU's backward: 2 * 124,264 + 122,920 + 8 = 371,456 fixed; (1,048,576 - 371,456) // 159,744 = 4
    assert answer.batch_size == 4 and answer.name == "cs231n-toy"
    assert answer.next_total == 371_456 + 5 * RELU_MOMENT
    assert answer.to_dict()["footprint"]["total_bytes"] == 371_456 + 4 * RELU_MOMENT
    assert answer.to_dict()["footprint"]["peak_moment"] == "backward of layers[1]"
    with pytest.raises(NoBatchFits, match="^cs231n-toy: no batch size fits"):
        plan(spec, 1000, reserve=0)
    for kwargs, message in [
        ({"mode": "eval"}, "unknown mode 'eval'; choose one of training, inference"),
        ({"optimizer": "lion"}, "unknown optimizer 'lion'; choose one of sgd, momentum, adam, adamw"),
        ({"amp": "fp8"}, "unknown precision 'fp8'"),
    ]:
        with pytest.raises(UsageError, match=message):
            plan(spec, 2**20, reserve=0, **kwargs)
    with pytest.raises(UsageError, match="positive number of bytes"):
        plan(spec, 0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_plan_answers_for_every_zoo_model(name):
    answer = plan(cnnsize.load(name), 24 * 2**30, optimizer="adam", amp="bf16")
    usable = 24 * 2**30 - (512 * 2**20 + 24 * 2**30 * 5 // 100)  # less CUDA's default reserve: 512 MiB + 5%
    assert answer.usable == usable
    assert answer.batch_size >= 1 and answer.footprint.total_bytes <= usable < answer.next_total


def test_a_report_with_memory_sums_layers_to_the_total():
    spec = cnnsize.load("resnet18")
    report = with_memory(spec, cnnsize.analyze(spec, 2), optimizer="adam", device="cpu")
    data = report.to_dict()
    assert sum(layer["saved_bytes"] for layer in data["layers"]) == data["memory"]["saved_for_backward_bytes"]
    grouped = report.truncated(1).to_dict()  # rows standing for groups sum what they hold
    assert sum(layer["saved_bytes"] for layer in grouped["layers"]) == data["memory"]["saved_for_backward_bytes"]
    # adam's two moments, and its step counters on the CPU: 62 tensors (20 convs, 20 batch norms'
    # weights and biases, the fc's weight and bias), 4 B each
    assert data["memory"]["training"]["optimizer_state_bytes"] == 2 * data["totals"]["param_bytes"] + 62 * 4
    assert set(data["memory"]) == {"device", "amp", "optimizer", "saved_for_backward_bytes", "training", "inference"}


def test_int8_is_planned_for_inference_only():
    # autograd needs floating point: an int8 network cannot train, so a training plan is a usage
    # error, the JSON has no training footprint, and inference still plans
    spec = cnnsize.load(Path(__file__).resolve().parent.parent / "specs" / "toy.yaml")
    with pytest.raises(UsageError, match="int8 cannot be trained"):
        plan(spec, 2**30, dtype="int8")
    assert plan(spec, 2**30, mode="inference", dtype="int8").batch_size > 0
    memory = with_memory(spec, cnnsize.analyze(spec, 1, "int8")).to_dict()["memory"]
    assert memory["training"] is None and memory["inference"]["total_bytes"] > 0
