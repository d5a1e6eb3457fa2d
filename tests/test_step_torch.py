"""A training step's peak against PyTorch on the CPU, to the byte: the most bytes of tensors alive
at once (`LiveTensors`) in a real loop's step (after a first one made the optimizer's state:
`zero_grad(set_to_none=True)`, forward, `output.float().mean().backward()`, `step()`), with the
parameters, floating-point buffers, optimizer state and input batch that existed before it, is the
planned training footprint (`cnnsize.step`)."""

from __future__ import annotations

import pytest
from oracle import spec_of

import cnnsize
from cnnsize.memory import Precision
from cnnsize.planner import model_memory

torch = pytest.importorskip("torch")

from cnnsize.backend.builder import build_network  # noqa: E402
from cnnsize.backend.probes import LiveTensors  # noqa: E402

OPTIMIZERS = {
    "sgd": lambda params: torch.optim.SGD(params, lr=1e-3),
    "momentum": lambda params: torch.optim.SGD(params, lr=1e-3, momentum=0.9),
    "adam": lambda params: torch.optim.Adam(params, lr=1e-3),
    "adamw": lambda params: torch.optim.AdamW(params, lr=1e-3),
}
TWO_CONVS = {
    "name": "two-convs",
    "input": [1, 4, 4],
    "layers": [
        {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1},
        "relu",
        {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1},
    ],
}
READ_TWICE = {
    "name": "read-twice",
    "input": [1, 4, 4],
    "layers": [
        {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1},
        {"type": "relu", "name": "r"},
        {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1},
        {"type": "add", "from": ["r", -1]},
    ],
}
SKIP_BY_CAT = {  # a skip joined by cat: its gradient is a view into the cat's, summed out of place
    "name": "skip-by-cat",
    "input": [2, 8, 8],
    "layers": [
        {"type": "conv2d", "name": "a", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "maxpool2d", "kernel_size": 2},
        {"type": "conv_transpose2d", "out_channels": 4, "kernel_size": 2, "stride": 2},
        {"type": "cat", "from": ["a", -1]},
        {"type": "conv2d", "out_channels": 2, "kernel_size": 1},
    ],
}


def measured_step_peak(spec, batch: int, optimizer: str, amp: bool = False) -> int:
    torch.manual_seed(0)
    network = build_network(spec)
    x = network.example_input(batch)
    opt = OPTIMIZERS[optimizer](network.parameters())

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss = network(x).float().mean()
        loss.backward()
        del loss  # as the planned loop: one that keeps the loss holds its 4 B through the step too
        opt.step()

    step()
    state = [t for s in opt.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    floating = [b for b in network.buffers() if b.is_floating_point()]  # as running_stat_bytes counts
    before = sum(t.untyped_storage().nbytes() for t in [*network.parameters(), *floating, x, *state])
    opt.zero_grad(set_to_none=True)
    with LiveTensors() as live:
        step()
    return before + live.peak


@pytest.mark.parametrize(
    "spec, batch, optimizer",
    [
        (TWO_CONVS, 3, "sgd"),
        (TWO_CONVS, 1, "adam"),
        (READ_TWICE, 2, "momentum"),
        (SKIP_BY_CAT, 2, "adamw"),
        ("specs/toy.yaml", 1, "adam"),  # the optimizer's step is the peak
        ("specs/small-resnet.yaml", 2, "sgd"),
        ("specs/se-block.yaml", 2, "adam"),
        ("specs/unet.yaml", 1, "sgd"),
    ],
)
def test_the_planned_peak_is_the_measured_one(spec, batch, optimizer, one_torch_thread):
    loaded = cnnsize.load(spec) if isinstance(spec, str) else spec_of(spec)
    planned = model_memory(loaded, Precision(device="cpu")).footprint("training", optimizer, batch).total_bytes
    assert planned == measured_step_peak(loaded, batch, optimizer)


@pytest.mark.parametrize(
    "spec, batch, optimizer",
    [
        (TWO_CONVS, 2, "sgd"),
        ("specs/toy.yaml", 2, "sgd"),
        ("specs/small-resnet.yaml", 4, "adam"),
        (SKIP_BY_CAT, 2, "adam"),
    ],
)
def test_under_bf16_autocast_too(spec, batch, optimizer, one_torch_thread):
    # the weight copies saved for backward are freed as it passes their layers; a layer's parameter
    # gradients are made in bfloat16, then cast to float32 by `_to_copy`'s backward
    loaded = cnnsize.load(spec) if isinstance(spec, str) else spec_of(spec)
    model = model_memory(loaded, Precision(amp="bf16", device="cpu"))
    planned = model.footprint("training", optimizer, batch).total_bytes
    assert planned == measured_step_peak(loaded, batch, optimizer, amp=True)
