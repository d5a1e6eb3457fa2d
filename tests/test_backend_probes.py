"""The probes measure what PyTorch really does; each expected number is derived in a comment."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnsize.backend.probes import (
    AllocationPeak,
    FlopCount,
    LiveTensors,
    OutputShapes,
    SavedTensors,
    running_stats,
    trainable_params,
)


def test_counts_follow_sum_of_numel_and_leave_out_the_batch_counter():
    bn = nn.BatchNorm2d(4)
    # weight + bias = 2*4; running mean + var = 2*4; num_batches_tracked (int64) is not counted
    assert trainable_params(bn) == 8
    assert running_stats(bn) == 8
    frozen = nn.Linear(3, 2)
    frozen.bias.requires_grad_(False)
    assert trainable_params(frozen) == 6  # 3*2 weights; the frozen bias is not trainable


def test_output_shapes_and_flops_per_submodule():
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2, bias=False))
    with OutputShapes(model, ["0", "2", ""]) as shapes, FlopCount(model) as flops:
        model(torch.randn(4, 3))
    assert shapes.shapes == {"0": (4, 5), "2": (4, 2), "": (4, 2)}
    assert flops.of("0") == 120  # 2 * batch 4 * 3 * 5
    assert flops.of("2") == 80  # 2 * 4 * 5 * 2
    assert flops.of("1") == 0  # ReLU is not counted
    assert flops.total == 200 == flops.of("")
    assert not model._forward_hooks and not model[0]._forward_hooks  # hooks are removed on exit


def test_saved_tensors_counts_each_storage_once():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    with SavedTensors(model) as saved:
        model(torch.randn(2, 4))
    # Linear 0 saves its input x: 2*4 floats = 32 B (not its weight: x needs no gradient).
    # ReLU saves its output: 32 B; Linear 2 saves that same output (counted once) and its weight
    # (4*4 floats = 64 B, a parameter: no memory beyond the weight itself).
    assert saved.activation_bytes == 64
    assert saved.parameter_bytes == 64
    assert saved.total_bytes == 128
    assert saved.by_module == {"0": 32, "1": 32}
    assert saved.tensors == 4
    # what each module saved, shared storages included: Linear 2 saved the ReLU's 32 B output too
    assert [saved.saved_by(name) for name in ("0", "1", "2")] == [32, 32, 32]


def test_saved_tensors_sees_in_place_sharing_and_pooling_indices():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2))
    with SavedTensors(model) as saved:
        model(torch.randn(2, 1, 6, 6))
    # conv saves x: 2*1*6*6 floats = 288 B; the in-place ReLU saves its output, the conv's output
    # storage: 2*2*4*4 floats = 256 B; max pooling saves that same input (counted once) and its
    # int64 indices: 2*2*2*2 * 8 B = 128 B
    assert saved.activation_bytes == 288 + 256 + 128
    assert saved.by_module == {"0": 288, "1": 256, "2": 128}


def test_saved_tensors_without_autograd_is_zero_and_works_without_a_module():
    x = torch.randn(3, 3, requires_grad=True)
    with SavedTensors() as saved:
        with torch.no_grad():
            (x * x).sum()
    assert saved.total_bytes == 0
    with SavedTensors() as saved:
        (x * x).sum()
    assert saved.activation_bytes == 36  # mul saves x (once, for both operands): 9 floats
    assert saved.by_module == {"": 36}


def test_live_tensors_follow_each_storage_from_creation_to_its_end():
    x = torch.randn(100, 100)  # 40,000 B, alive before: not counted
    with LiveTensors() as live:
        y = x * x  # +40,000
        z = y + y  # +40,000: 80,000 alive at once
        del y  # -40,000
        view = z.t()  # a view: no new storage
        z.mul_(2)  # in place: none either
    assert (live.peak, live.live) == (80_000, 40_000)
    assert view.data_ptr() == z.data_ptr()


def test_live_tensors_see_max_pooling_indices_under_no_grad():
    # under no_grad max_pool2d arrives decomposed: output 2*3*2*2*4 = 96 B and int64 indices
    # 2*3*2*2*8 = 192 B alive at once, then the indices are dropped
    x = torch.randn(2, 3, 4, 4)
    with torch.no_grad(), LiveTensors() as live:
        out = nn.MaxPool2d(2)(x)
    assert (live.peak, live.live) == (96 + 192, 96)
    assert out.shape == (2, 3, 2, 2)


def test_allocation_peak_counts_what_the_allocator_held():
    x = torch.randn(100, 100)
    with AllocationPeak() as allocated:
        y = x * x
        z = y + y
        del y
    assert (allocated.peak, allocated.end) == (80_000, 40_000)
    assert z.shape == (100, 100)


def test_allocation_peak_within_a_marked_block_counts_what_was_allocated_before_it():
    with AllocationPeak(marks=["step"]) as allocated:
        before = torch.empty(1_000, dtype=torch.uint8)  # held from before the mark: 1,000 B
        with torch.profiler.record_function("step"):
            scratch = torch.empty(5_000, dtype=torch.uint8)
            del scratch  # freed inside the block: the peak there is 1,000 + 5,000
            kept = torch.empty(3_000, dtype=torch.uint8)  # then 1,000 + 3,000
        after = torch.empty(100_000, dtype=torch.uint8)  # outside the block: in `peak`, not `within`
    assert allocated.within("step") == 1_000 + 5_000
    assert allocated.before("step") == 1_000
    assert allocated.peak == 1_000 + 3_000 + 100_000
    assert before.numel() + kept.numel() + after.numel() == 104_000
    with pytest.raises(KeyError, match="no record_function"):
        allocated.within("other")


def test_allocation_peak_sees_only_the_thread_that_entered_it():
    # torch's profiler records the memory events of the profiled thread: a free on another thread
    # (as gloo's threads drop FSDP's communication buffers) is not seen, so `end` keeps the bytes
    import threading

    kept: list[torch.Tensor] = []
    with AllocationPeak() as allocated:
        kept.append(torch.empty(7_000, dtype=torch.uint8))
        other = threading.Thread(target=kept.clear)
        other.start()
        other.join()
    assert kept == [] and (allocated.peak, allocated.end) == (7_000, 7_000)
