"""Activation checkpointing measured in PyTorch (CPU): the built network's top-level blocks wrapped in
`torch.utils.checkpoint.checkpoint(..., use_reentrant=False)` (`cnnsize.backend.checkpointing`), and
what it really holds compared with the memory model's figures, for small-resnet and the U-Net at
batch 2, every block checkpointed:

- at the forward's end, the tensors alive (`LiveTensors`) are exactly what the model says is saved
  (the input batch excepted, which was alive before) and the network's output;
- while backward runs a block again (recomputation to its end: early stop off), the tensors it makes
  are exactly what the model says the block saves when run again (and its output, unless the block
  itself saves that);
- the whole moment: what is alive then, parameter gradients and the gradients flowing back aside,
  is the model's figure for that moment. small-resnet: exact, with the gradient flowing into the
  block (its output's size). The U-Net also holds gradients of its skips (a view of the whole
  gradient of the concatenation that split them), which the model does not count: its figure is
  a lower bound there, as activation gradients are left out of every footprint.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.utils.checkpoint import set_checkpoint_early_stop  # noqa: E402

import cnnsize  # noqa: E402
from cnnsize.backend.builder import build_network  # noqa: E402
from cnnsize.backend.checkpointing import Checkpointed, checkpoint_blocks  # noqa: E402
from cnnsize.backend.probes import LiveTensors, SavedTensors  # noqa: E402
from cnnsize.checkpointing import blocks  # noqa: E402
from cnnsize.engine import analyze  # noqa: E402
from cnnsize.graph import resolve  # noqa: E402
from cnnsize.memory import Precision, trace  # noqa: E402

BATCH = 2
# (spec, whether each block's output is a storage the block saves itself: U-Net's blocks end in an
# in-place ReLU, which saves its result; small-resnet's end in an add, which saves nothing)
SPECS = [("specs/small-resnet.yaml", False), ("specs/unet.yaml", True)]


def measure(path):
    spec = cnnsize.load(path)
    graph = resolve(spec)
    found = blocks(graph, analyze(spec, 1))
    model = trace(graph, Precision(device="cpu"), True, [b.segment() for b in found])
    torch.manual_seed(0)
    net = checkpoint_blocks(build_network(spec), found)
    wrapped = [step.module for step in net.steps if isinstance(step.module, Checkpointed)]
    assert len(wrapped) == len(found)
    x = net.example_input(BATCH)
    moments = {}  # block index -> (alive when run again begins, alive at its end, parameter gradients)

    def watch(index, module, run):
        def again(*xs):
            if torch.is_grad_enabled() and index in calls:  # the second call: backward runs it again
                entry = live.live
                out = run(*xs)
                grads = sum(p.grad.untyped_storage().nbytes() for p in net.parameters() if p.grad is not None)
                moments[index] = (entry, live.live, grads, out.untyped_storage().nbytes())
                return out
            calls.add(index)
            return run(*xs)

        return again

    calls: set[int] = set()
    for index, module in enumerate(wrapped):
        module.run = watch(index, module, module.run)
    with set_checkpoint_early_stop(False), LiveTensors() as live, SavedTensors(net) as saved:
        out = net(x)
        forward_end = live.live
        out.sum().backward()
    return spec, graph, found, model, forward_end, saved, moments, out.untyped_storage().nbytes()


@pytest.fixture(scope="module", params=SPECS, ids=lambda p: p[0].split("/")[-1])
def measured(request):
    return request.param, measure(request.param[0])


def test_the_forward_end_holds_what_the_model_saves(measured):
    (_, _), (spec, graph, found, model, forward_end, saved, _, out_bytes) = measured
    batch_input = model.input.at(BATCH) if model.input_saved else 0  # alive before: not measured
    assert forward_end == model.saved.at(BATCH) - batch_input + out_bytes
    # autograd's hooks outside the blocks see no more than the model keeps (the blocks' inputs
    # are kept by checkpoint itself, not through those hooks)
    assert saved.activation_bytes <= model.saved.at(BATCH)


def before_block(graph, model, found, k):
    """The model's bytes saved before block k runs again: by the nodes before it, and the kept inputs
    of the blocks up to it."""
    first = found[k].first
    order = {node.path: i for i, node in enumerate(graph.nodes)}
    kept = {b.path for b in found if b.first <= first}
    return sum(
        size.at(BATCH)
        for path, size in model.saved_by.items()
        if path in kept or (path in order and order[path] < first)
    )


def test_a_block_run_again_makes_what_the_model_says_it_saves(measured):
    (_, output_saved), (spec, graph, found, model, _, _, moments, _) = measured
    assert sorted(moments) == list(range(len(found)))
    for k, block in enumerate(found):
        entry, end, _, block_out = moments[k]
        inner = model.recomputed[k].at(BATCH) - before_block(graph, model, found, k)
        assert end - entry == inner + (0 if output_saved else block_out), block.label


def test_the_moment_a_block_runs_again(measured):
    (path, output_saved), (spec, graph, found, model, _, _, moments, out_bytes) = measured
    batch_input = model.input.at(BATCH) if model.input_saved else 0
    loss = 4 + 4  # the loss, a float32 scalar, and its gradient
    for k, block in enumerate(found):
        _, end, grads, block_out = moments[k]
        incoming = block_out  # the gradient flowing into the block: its output's size
        held = end - grads - out_bytes - loss - incoming - (0 if output_saved else block_out)
        figure = model.recomputed[k].at(BATCH) - batch_input
        if "small-resnet" in path:
            assert held == figure, block.label
        else:  # the skips' gradients are alive too: the model's figure is below
            assert held >= figure, block.label


def test_verify_times_the_checkpointed_step_against_the_checkpointed_footprint():
    from cnnsize.backend.verifier import VerifyOptions, verify
    from cnnsize.errors import UsageError
    from cnnsize.planner import model_memory

    spec = cnnsize.load("specs/small-resnet.yaml")
    options = VerifyOptions(device="cpu", batch_size=2, mode="training", warmup=0, iterations=1, checkpoint="all")
    result = verify(spec, options)
    report = analyze(spec, 2)
    segments = [b.segment() for b in blocks(resolve(spec), report)]
    checked = model_memory(spec, Precision(device="cpu"), report, segments).footprint("training", "sgd", 2)
    assert result.passed and result.options["checkpoint"] == "all"
    assert result.memory.engine_estimate_bytes == checked.total_bytes
    assert result.memory.saved_matches  # the measured forward pass is the plain network's
    with pytest.raises(UsageError, match="use --mode training"):
        verify(spec, VerifyOptions(device="cpu", checkpoint="all"))


def test_under_bf16_autocast_the_forward_end_holds_what_the_model_says():
    # (the U-Net matches too, in 9 s more: 63,059,460 B at batch 2) alive at the forward's end, inside autocast: what is saved (less autocast's weight copies
    # saved, which are among the cached copies, and less the input batch, alive before), every
    # cached weight copy, and the output
    spec = cnnsize.load("specs/small-resnet.yaml")
    graph = resolve(spec)
    found = blocks(graph, analyze(spec, 1))
    model = trace(graph, Precision("float32", "bf16", "cpu"), True, [b.segment() for b in found])
    torch.manual_seed(0)
    net = checkpoint_blocks(build_network(spec), found)
    x = net.example_input(BATCH)
    with torch.autocast("cpu", dtype=torch.bfloat16), LiveTensors() as live:
        out = net(x)
        forward_end = live.live
    batch_input = model.input.at(BATCH) if model.input_saved else 0
    expected = model.saved - model.saved_weight_copies + model.weight_copies
    assert forward_end == expected.at(BATCH) - batch_input + out.untyped_storage().nbytes()
