"""PyTorch as the oracle of memory: what autograd saves for backward in one training-mode forward
pass (each storage once, parameters and buffers left out), per layer too, and the most bytes the
CPU allocator holds at once during a forward pass, with or without autograd."""

from __future__ import annotations

import contextlib
from typing import Any, Optional

import torch

from cnnsize.backend.builder import build_network
from cnnsize.backend.probes import LiveTensors, SavedTensors
from cnnsize.errors import SpecPath
from cnnsize.graph import resolve
from cnnsize.memory import Precision, trace
from cnnsize.schema import Spec

HALF = {"bf16": torch.bfloat16, "fp16": torch.float16}


def network(spec: Spec, batch_size: int, dtype: str = "float32") -> tuple[Any, tuple[torch.Tensor, ...]]:
    torch.manual_seed(0)
    model = build_network(spec).to(getattr(torch, dtype))
    return model, model.example_inputs(batch_size, dtype=getattr(torch, dtype))


def autocast(amp: Optional[str]) -> Any:
    return torch.autocast("cpu", dtype=HALF[amp]) if amp else contextlib.nullcontext()


def measured_saved(
    spec: Spec, batch_size: int, dtype: str = "float32", amp: Optional[str] = None
) -> tuple[int, dict[SpecPath, int]]:
    """Bytes saved for backward in all, and by the spec path of the layer that saved each first."""
    model, xs = network(spec, batch_size, dtype)
    model.train()
    with autocast(amp), SavedTensors(model) as saved:
        model(*xs)
    paths = {name: path for path, name in model.module_names.items() if isinstance(path[-1], int)}
    by_path: dict[SpecPath, int] = {}
    for name, size in saved.by_module.items():
        owner = max((n for n in paths if name == n or name.startswith(n + ".")), key=len)  # padded conv: '.conv'
        by_path[paths[owner]] = by_path.get(paths[owner], 0) + size
    return saved.activation_bytes, {path: size for path, size in by_path.items() if size}


def estimated_saved(
    spec: Spec, batch_size: int, dtype: str = "float32", amp: Optional[str] = None
) -> tuple[int, dict[SpecPath, int]]:
    t = trace(resolve(spec), Precision(dtype, amp, "cpu"), training=True)
    by_path = {path: size.at(batch_size) for path, size in t.saved_by.items() if size.at(batch_size)}
    return t.saved.at(batch_size), by_path


def measured_peak(spec: Spec, batch_size: int, training: bool, amp: Optional[str] = None) -> int:
    """The most bytes of tensors alive at once in a forward pass (the input batch included): in
    training mode with autograd, or in eval mode under `torch.no_grad()`."""
    model, xs = network(spec, batch_size)
    model.train(training)
    with torch.enable_grad() if training else torch.no_grad(), autocast(amp):
        with LiveTensors() as live:
            model(*xs)
    return live.peak + sum(x.numel() * x.element_size() for x in xs)


def estimated_peak(spec: Spec, batch_size: int, training: bool, amp: Optional[str] = None) -> int:
    t = trace(resolve(spec), Precision("float32", amp, "cpu"), training)
    return t.peak(batch_size)
