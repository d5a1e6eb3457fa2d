"""A training step moment by moment (`cnnsize.step`), worked by hand on two convolutions; the
optimizers' temporaries from torch.optim's source; the peak as the footprint and the batch solved
against every moment."""

from __future__ import annotations

import pytest

import cnnsize
from cnnsize.memory import Bytes, Precision
from cnnsize.planner import model_memory
from cnnsize.step import FORWARD_END, LOSS, OPTIMIZER_STEP, optimizer_temporaries, step_scalars

# Two 3x3 convolutions (padding 1, with bias) around a ReLU, on a 1x4x4 input, float32. Per sample:
# the input x 1*4*4*4 = 64 B; the first convolution's output, the ReLU's r and the second's y
# 2*4*4*4 = 128 B each. Parameters: conv1 2*1*9 + 2 = 20 (80 B), conv2 2*2*9 + 2 = 38 (152 B).
# Saved: x (conv1, for its weight's gradient; the caller holds it), r (the ReLU's output, which
# conv2 saves too): 64 + 128 = 192 B a sample.
TWO_CONVS = """
name: two-convs
input: [1, 4, 4]
layers:
  - {type: conv2d, out_channels: 2, kernel_size: 3, padding: 1}
  - relu
  - {type: conv2d, out_channels: 2, kernel_size: 3, padding: 1}
"""
PARAMS = 80 + 152


def moments(optimizer="sgd", device="cpu"):
    model = model_memory(cnnsize.load(TWO_CONVS), Precision(device=device))
    return {m.name: m for m in model.moments(optimizer)}, model


def test_two_convolutions_moment_by_moment():
    found, _ = moments()
    assert list(found) == [
        FORWARD_END,
        "backward of layers[2]",
        "backward of layers[1]",
        "backward of layers[0]",
        OPTIMIZER_STEP,
    ]
    held = Bytes(PARAMS, 0)  # sgd: no state
    # the forward's end: no gradient yet (zero_grad set them to None), what was saved
    assert found[FORWARD_END].total == held + Bytes(0, 192)
    # conv2: y's gradient (the loss's, 128) and r's it makes (128), its parameters' gradients (152),
    # everything saved, the loss and its first gradient (8)
    conv2 = found["backward of layers[2]"].lines
    assert conv2["activation_gradient_bytes"] == Bytes(LOSS, 128 + 128)
    assert conv2["gradient_bytes"] == Bytes(152, 0)
    assert conv2["saved_activation_bytes"] == Bytes(0, 192)
    assert found["backward of layers[2]"].total == Bytes(PARAMS + 152 + 8, 192 + 256)
    # the ReLU: y's gradient is gone, r's and the ReLU's input's (threshold_backward: a new one)
    relu = found["backward of layers[1]"].lines
    assert relu["activation_gradient_bytes"] == Bytes(LOSS, 128 + 128)
    assert found["backward of layers[1]"].total == Bytes(PARAMS + 152 + 8, 192 + 256)
    # conv1: r is freed (128), one gradient in (128), none out (the input needs none), its own (80)
    conv1 = found["backward of layers[0]"]
    assert conv1.lines["saved_activation_bytes"] == Bytes(0, 64)
    assert conv1.lines["activation_gradient_bytes"] == Bytes(LOSS, 128)
    assert conv1.total == Bytes(PARAMS + 152 + 80 + 8, 64 + 128)
    # the step: parameters, their gradients, the batch the caller holds
    step = found[OPTIMIZER_STEP]
    assert step.total == Bytes(2 * PARAMS, 64) and step.lines["input_bytes"] == Bytes(0, 64)


def test_the_footprint_is_the_first_moment_holding_the_most():
    _, model = moments()
    footprint = model.footprint("training", "sgd", 3)
    # conv2's and the ReLU's backward tie at 392 + 448 n: the first is named
    assert footprint.moment == "backward of layers[2]"
    assert footprint.total_bytes == 392 + 3 * 448
    assert sum(footprint.lines.values()) == footprint.total_bytes
    assert max(p.at(3) for p in model.pieces("training", "sgd")) == footprint.total_bytes


def test_the_batch_is_solved_against_every_moment():
    _, model = moments()
    # 392 + 448 n <= 3,000 up to n = 5 (2,632); conv1's 472 + 192 n and the step's 464 + 64 n allow more
    assert model.largest_batch(3_000, "training", "sgd") == 5
    assert model.footprint("training", "sgd", 6).total_bytes == 392 + 6 * 448 > 3_000


def test_adam_s_state_step_counters_and_temporaries():
    found, _ = moments("adam")
    # two moments per parameter, and a float32 step counter for each of the 4 tensors on the CPU
    state = 2 * PARAMS + 4 * 4
    assert found[FORWARD_END].lines["optimizer_state_bytes"] == Bytes(state, 0)
    # per parameter on the CPU: exp_avg_sq.sqrt() and its quotient by the bias correction, alive
    # together, and the previous parameter's denom: at conv2's weight (36 * 4 = 144 B), after
    # conv1's bias (8 B): 2 * 144 + 8 = 296
    assert found[OPTIMIZER_STEP].lines["optimizer_temporary_bytes"] == Bytes(2 * 144 + 8, 0)
    assert found[OPTIMIZER_STEP].total == Bytes(2 * PARAMS + state + 296, 64)
    cuda, _ = moments("adam", "cuda")  # foreach: _foreach_sqrt of every exp_avg_sq at once
    assert cuda[OPTIMIZER_STEP].lines["optimizer_temporary_bytes"] == Bytes(PARAMS, 0)
    assert cuda[OPTIMIZER_STEP].lines["optimizer_state_bytes"] == Bytes(2 * PARAMS, 0)  # counters on the CPU


@pytest.mark.parametrize(
    "optimizer, device, expected",
    [
        ("sgd", "cpu", 0),  # param.add_(grad, alpha=-lr): in place
        ("momentum", "cuda", 0),  # _foreach_mul_ and _foreach_add_ on the buffers: in place
        ("adam", "cpu", 2 * 300 + 100),  # 300's square root and quotient, and the denom of 100 before it
        ("adamw", "cuda", 100 + 300 + 20),  # one square root per parameter, all at once
    ],
)
def test_optimizer_temporaries(optimizer, device, expected):
    assert optimizer_temporaries(optimizer, device, [100, 300, 20]) == expected


def test_step_counters_are_the_cpu_s():
    assert step_scalars("adam", "cpu", 10) == 40 and step_scalars("adam", "cuda", 10) == 0
    assert step_scalars("momentum", "cpu", 10) == 0


def test_a_value_read_twice_sums_its_gradients_into_a_new_buffer(make_spec):
    # x -> conv a -> relu -> add(relu, conv b(relu)): the ReLU's output r is read by b and the add.
    # Backward: the add hands its gradient g (128 B a sample) to both its inputs (no copy); b makes
    # r's second gradient; the engine sums them into a new buffer: g, b's and the sum alive at once
    spec = make_spec(
        {
            "name": "twice",
            "input": [1, 4, 4],
            "layers": [
                {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1},
                {"type": "relu", "name": "r"},
                {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1},
                {"type": "add", "from": ["r", -1]},
            ],
        }
    )
    model = model_memory(spec, Precision(device="cpu"))
    names = [m.name for m in model.moments("sgd")]
    assert names[1:4] == [
        "backward of layers[3]",
        "backward of layers[2]",
        "backward of layers[2], summing two gradients of one value",
    ]
    summing = model.moments("sgd")[3].lines
    assert summing["activation_gradient_bytes"] == Bytes(LOSS, 3 * 128)  # g, b's gradient of r, their sum


def test_accumulated_micro_batches_hold_every_gradient_throughout():
    from cnnsize.parallel import Parallel

    model = model_memory(cnnsize.load(TWO_CONVS), Precision(device="cpu"))
    found = {m.name: m for m in model.moments("sgd", Parallel(1, "ddp", accumulate=2))}
    # the gradients of the micro-batches before persist: all 232 B at the forward's end already
    assert found[FORWARD_END].lines["gradient_bytes"] == Bytes(PARAMS, 0)
    conv2 = found["backward of layers[2]"].lines
    assert conv2["gradient_bytes"] == Bytes(PARAMS, 0)
    # conv2's new gradients (152 B) are a temporary, added in place into its .grad
    assert conv2["activation_gradient_bytes"] == Bytes(LOSS + 152, 128 + 128)
    assert conv2["gradient_bucket_bytes"] == Bytes(PARAMS, 0)  # DDP's buckets, made with the model


def test_a_checkpointed_or_fsdp_step_is_planned_at_the_forward_s_end():
    from cnnsize.parallel import Parallel

    model = model_memory(cnnsize.load(TWO_CONVS), Precision(device="cpu"))
    assert model.moments("sgd", Parallel(2, "fsdp")) == []
    footprint = model.footprint("training", "sgd", 1, Parallel(2, "fsdp"))
    assert footprint.moment is None and "activation_gradient_bytes" not in footprint.lines
