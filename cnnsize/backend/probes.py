"""What PyTorch really builds and does, measured: each probe is a context manager around a forward
pass, so several can watch the same pass.

    with OutputShapes(model, names) as shapes, FlopCount() as flops, SavedTensors(model) as saved:
        model(x)

- `OutputShapes`: the output shape of chosen submodules (forward hooks).
- `FlopCount`: FLOPs as `torch.utils.flop_counter.FlopCounterMode` counts them, per submodule too.
- `SavedTensors`: bytes of the tensors autograd saves for backward (each storage once), split into
  parameters and activations, and attributed to the innermost submodule running when each storage
  was first saved: the measurement a memory model of training is checked against.
- `trainable_params`, `running_stats`: the counts as `sum(p.numel())` gives them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Optional

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torch.utils.hooks import RemovableHandle


def trainable_params(module: nn.Module) -> int:
    """`sum(p.numel() for p in module.parameters() if p.requires_grad)`."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def running_stats(module: nn.Module) -> int:
    """Elements of floating-point buffers: batch norm's running mean and variance
    (`num_batches_tracked`, an integer counter, is bookkeeping and is left out)."""
    return sum(b.numel() for b in module.buffers() if b.is_floating_point())


class _Hooks:
    """Hook handles removed together when the `with` block ends."""

    def __init__(self) -> None:
        self.handles: list[RemovableHandle] = []

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


class OutputShapes(_Hooks):
    """`shapes[name]`: the output shape of `root`'s submodule `name` ('' is `root` itself) in the
    last forward pass inside the `with` block."""

    def __init__(self, root: nn.Module, names: Iterable[str]):
        super().__init__()
        self.root = root
        self.names = sorted(set(names))
        self.shapes: dict[str, tuple[int, ...]] = {}

    def __enter__(self) -> "OutputShapes":
        for name in self.names:
            module = self.root.get_submodule(name)
            self.handles.append(module.register_forward_hook(self._recorder(name)))
        return self

    def _recorder(self, name: str) -> Any:
        def record(module: nn.Module, args: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor):
                self.shapes[name] = tuple(output.shape)

        return record

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class FlopCount:
    """FLOPs counted by `FlopCounterMode` during the `with` block: `total`, and `of(name)` for the
    FLOPs of `root`'s submodule `name` (everything below it included)."""

    def __init__(self, root: Optional[nn.Module] = None):
        self.root_name = type(root).__name__ if root is not None else None
        self.counter = FlopCounterMode(display=False)
        self.total = 0

    def __enter__(self) -> "FlopCount":
        self.counter.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.counter.__exit__(*exc)
        self.total = self.counter.get_total_flops()

    def of(self, name: str) -> int:
        """FLOPs of submodule `name` of the root given at construction."""
        if self.root_name is None:
            raise ValueError("FlopCount needs the root module to attribute FLOPs to submodules")
        key = f"{self.root_name}.{name}" if name else self.root_name
        return sum(self.counter.get_flop_counts().get(key, {}).values())


class SavedTensors(_Hooks):
    """Bytes of the tensors autograd saves for backward during the `with` block.

    Each storage is counted once, at its full size (`untyped_storage().nbytes()`), however many
    saved tensors view it: an in-place ReLU's output and its input share one storage, as do a
    flatten's output and what it flattens. Storages of `module`'s parameters and buffers are counted
    apart (`parameter_bytes`): saving a weight for backward costs no memory beyond the weight.

    With `module`, `by_module[name]` is the activation bytes first saved while submodule `name` was
    the innermost module running ('' for the root, or outside any module): the attribution under
    which the per-module figures add up to `activation_bytes`. `saved_by(name)` is every activation
    byte that submodule saved, storages it shares with others included.
    """

    def __init__(self, module: Optional[nn.Module] = None):
        super().__init__()
        self.module = module
        self.parameter_bytes = 0
        self.activation_bytes = 0
        self.by_module: dict[str, int] = defaultdict(int)
        self.tensors = 0
        self._sizes: dict[tuple[str, int], int] = {}
        self._saved_by: dict[str, set[tuple[str, int]]] = defaultdict(set)
        self._parameters: set[tuple[str, int]] = set()
        self._stack: list[str] = []
        self._hooks: Any = None

    @property
    def total_bytes(self) -> int:
        return self.parameter_bytes + self.activation_bytes

    def saved_by(self, name: str) -> int:
        """Activation bytes submodule `name` saved while it was the innermost module running."""
        return sum(self._sizes[key] for key in self._saved_by.get(name, ()) if key not in self._parameters)

    def __enter__(self) -> "SavedTensors":
        if self.module is not None:
            tensors = [*self.module.parameters(), *self.module.buffers()]
            self._parameters = {key for key in map(_storage_key, tensors) if key is not None}
            for name, sub in self.module.named_modules():
                self.handles.append(sub.register_forward_pre_hook(self._enter_module(name)))
                self.handles.append(sub.register_forward_hook(self._leave_module))
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, _unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._hooks.__exit__(*exc)
        self.remove()
        self._stack.clear()

    def _enter_module(self, name: str) -> Any:
        def enter(module: nn.Module, args: Any) -> None:
            self._stack.append(name)

        return enter

    def _leave_module(self, module: nn.Module, args: Any, output: Any) -> None:
        if self._stack:
            self._stack.pop()

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        self.tensors += 1
        key = _storage_key(tensor)
        if key is None:  # a tensor without a plain storage: count its elements
            key, size = ("id", id(tensor)), tensor.numel() * tensor.element_size()
        else:
            size = tensor.untyped_storage().nbytes()
        where = self._stack[-1] if self._stack else ""
        self._saved_by[where].add(key)
        if key in self._sizes:
            return tensor
        self._sizes[key] = size
        if key in self._parameters:
            self.parameter_bytes += size
        else:
            self.activation_bytes += size
            self.by_module[where] += size
        return tensor


def _unpack(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def _storage_key(tensor: torch.Tensor) -> Optional[tuple[str, int]]:
    try:
        storage = tensor.untyped_storage()
    except (RuntimeError, NotImplementedError):
        return None
    return (str(tensor.device), storage.data_ptr())
