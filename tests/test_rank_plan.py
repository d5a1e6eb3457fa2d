"""The plan's bytes for each rank of a `verify --nproc` run, against the one-process footprint and
the strategies' rules worked by hand (no torch)."""

from __future__ import annotations

from cnnsize.engine import analyze
from cnnsize.loader import load
from cnnsize.memory import Precision
from cnnsize.planner import model_memory
from cnnsize.rank_plan import planned_per_rank

TINY = """
name: tiny
input: [3, 8, 8]
layers:
  - {type: conv2d, out_channels: 5, kernel_size: 3, padding: 1}       # 135 + 5
  - relu
  - type: residual
    body:
      - {type: conv2d, out_channels: 5, kernel_size: 3, padding: 1, bias: false}  # 225
      - batchnorm2d                                                   # 5 + 5
  - global_avgpool2d
  - flatten
  - {type: linear, out_features: 3}                                   # 15 + 3
"""
ALL = 135 + 5 + 225 + 5 + 5 + 15 + 3  # 393 parameters


def one_process(optimizer: str) -> int:
    spec = load(TINY)
    model = model_memory(spec, Precision("float32", None, "cpu"), analyze(spec, 2, "float32"))
    return model.footprint("training", optimizer, 2).total_bytes


def test_ddp_adds_one_bucket_copy_of_the_gradients_on_every_rank():
    planned, note = planned_per_rank(load(TINY), 2, "ddp", "sgd", 2, "float32", "cpu")
    assert planned == (one_process("sgd") + ALL * 4,) * 2  # 393 float32 gradients in DDP's one bucket
    assert note.startswith("cnnsize plan --gpus 2 --strategy ddp --device cpu --optimizer sgd; not counted:")


def test_zero1_gives_each_rank_the_adam_state_of_its_own_parameters():
    planned, _ = planned_per_rank(load(TINY), 2, "zero1", "adam", 2, "float32", "cpu")
    # rank 0 owns the 225-element conv, rank 1 the other 168 (largest first, to the emptier rank);
    # adam keeps two float32 tensors per parameter, and on the CPU a 4 B step counter per tensor
    # (rank 0 one, rank 1 six)
    assert planned[0] - planned[1] == 2 * (225 - 168) * 4 + (1 - 6) * 4
    # buckets on, rank 1's state and counters off
    assert planned[0] == one_process("adam") + ALL * 4 - 2 * 168 * 4 - 6 * 4
