"""What PyTorch really builds and does, measured: each probe is a context manager around a forward
pass, so several can watch the same pass.

    with OutputShapes(model, names) as shapes, FlopCount() as flops, SavedTensors(model) as saved:
        model(x)

- `OutputShapes`: the output shape of chosen submodules (forward hooks).
- `FlopCount`: FLOPs as `torch.utils.flop_counter.FlopCounterMode` counts them, per submodule too.
- `SavedTensors`: bytes of the tensors autograd saves for backward (each storage once), split into
  parameters and activations, and attributed to the innermost submodule running when each storage
  was first saved: the measurement a memory model of training is checked against.
- `LiveTensors`: the most bytes of tensors alive at once during the block, counting each storage
  an operation creates from its creation to its end: the measurement of tensor lifetimes that the
  memory model's peaks are checked against.
- `AllocationPeak`: the most bytes the CPU allocator held at once during the block, operators'
  scratch memory (convolution workspaces) included.
- `trainable_params`, `running_stats`: the counts as `sum(p.numel())` gives them.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from typing import Any, Iterable, Optional

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
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
        self.shapes: dict[str, Any] = {}  # a shape, or a tuple of shapes for a module of several outputs

    def __enter__(self) -> "OutputShapes":
        for name in self.names:
            module = self.root.get_submodule(name)
            self.handles.append(module.register_forward_hook(self._recorder(name)))
        return self

    def _recorder(self, name: str) -> Any:
        def record(module: nn.Module, args: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor):
                self.shapes[name] = tuple(output.shape)
            elif isinstance(output, (tuple, list)) and all(isinstance(o, torch.Tensor) for o in output):
                self.shapes[name] = tuple(tuple(o.shape) for o in output)  # type: ignore[assignment]

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


class Calls(_Hooks):
    """For each of `root`'s submodules `names` (modules called more than once: shared weights),
    each call in order: its output shape and the FLOPs `flops` counted while it ran, so that every
    call is measured apart (`FlopCounterMode` sums a module's calls under its one name)."""

    def __init__(self, root: nn.Module, names: Iterable[str], flops: FlopCount):
        super().__init__()
        self.root = root
        self.names = sorted(set(names))
        self.flops = flops
        self.calls: dict[str, list[tuple[Any, int]]] = defaultdict(list)
        self._started: dict[str, list[int]] = defaultdict(list)

    def __enter__(self) -> "Calls":
        for name in self.names:
            module = self.root.get_submodule(name)
            self.handles.append(module.register_forward_pre_hook(self._starter(name)))
            self.handles.append(module.register_forward_hook(self._recorder(name)))
        return self

    def _starter(self, name: str) -> Any:
        def start(module: nn.Module, args: Any) -> None:
            self._started[name].append(self.flops.counter.get_total_flops())

        return start

    def _recorder(self, name: str) -> Any:
        def record(module: nn.Module, args: Any, output: Any) -> None:
            flops = self.flops.counter.get_total_flops() - self._started[name].pop()
            if isinstance(output, torch.Tensor):
                shape: Any = tuple(output.shape)
            else:
                shape = tuple(tuple(o.shape) for o in output)
            self.calls[name].append((shape, flops))

        return record

    def __exit__(self, *exc: Any) -> None:
        self.remove()


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


class LiveTensors(TorchDispatchMode):
    """`peak`: the most bytes of storages created during the `with` block that were alive at once
    (tensors alive before it, such as the parameters and the input batch, are not counted); `live`:
    those still alive when it ends.

    A dispatch mode sees every ATen operation below autograd: a storage is counted when an operation
    returns one that none of its inputs has (views and in-place results share their input's), and
    uncounted when the storage is freed (a finalizer on its Python object, which PyTorch keeps as
    long as the storage lives). Scratch memory an operator allocates and frees inside its kernel
    (convolution workspaces) is not seen. Under `torch.no_grad()`, composite operations arrive
    decomposed (max pooling as `max_pool2d_with_indices`, whose indices are then seen); under
    `torch.inference_mode()` they do not.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._tracked: set[int] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage()._cdata for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            key = storage._cdata
            if key in inputs or key in self._tracked or storage.nbytes() == 0:
                continue
            self._tracked.add(key)
            self.live += storage.nbytes()
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._freed, key, storage.nbytes())
        return out

    def _freed(self, key: int, size: int) -> None:
        self._tracked.discard(key)
        self.live -= size


class AllocationPeak:
    """`peak`: the most bytes allocated on the CPU at once during the `with` block, counted from
    what was allocated when it began (so tensors alive before it, such as the parameters and the
    input batch, are not in it); `end`: what is still allocated when it ends, counted the same way.

    Read from `torch.profiler` with `profile_memory=True`: every allocation and free through
    PyTorch's CPU allocator, in time order, from the profiler's event tree (as torch's own memory
    profiler reads them; per-operator memory figures would net out a temporary freed inside its
    operator, such as the indices max pooling drops).

    Only the thread that entered the block is watched: memory another thread allocates or frees
    (a communication library's worker) is not seen.

    `within(mark)`: the most bytes held at once while a `torch.profiler.record_function(mark)` block
    ran inside the `with` block, counted the same way (from what was allocated when it began), for
    a mark named in `marks`: the peak of one step, with everything made before it still counted.
    """

    def __init__(self, marks: Iterable[str] = ()) -> None:
        self.profiler = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
        self.marks = frozenset(marks)
        self.peak = 0
        self.end = 0
        self._changes: list[tuple[int, int]] = []
        self._windows: dict[str, tuple[int, int]] = {}

    def __enter__(self) -> "AllocationPeak":
        self.profiler.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.profiler.__exit__(*exc)
        from torch._C._profiler import _EventType

        changes: list[tuple[int, int]] = []
        results = self.profiler.profiler.kineto_results if self.profiler.profiler else None
        assert results is not None, "the profiler ran"
        nodes = list(results.experimental_event_tree())
        while nodes:
            node = nodes.pop()
            if node.typed[0] == _EventType.Allocation:
                changes.append((node.start_time_ns, node.typed[1].alloc_size))
            elif node.name in self.marks and node.start_time_ns >= self._windows.get(node.name, (-1, -1))[0]:
                self._windows[node.name] = (node.start_time_ns, node.end_time_ns)  # the last such block
            nodes.extend(node.children)
        self._changes = sorted(changes, key=lambda c: c[0])
        held = 0
        for _, change in self._changes:
            held += change
            self.peak = max(self.peak, held)
        self.end = held

    def within(self, mark: str) -> int:
        """The most bytes held at once during the last `record_function(mark)` block."""
        start, end = self._window(mark)
        held = self.before(mark)
        peak = held
        for time, change in self._changes:
            if start <= time <= end:
                held += change
                peak = max(peak, held)
        return peak

    def before(self, mark: str) -> int:
        """The bytes held when the last `record_function(mark)` block began."""
        start, _ = self._window(mark)
        return sum(change for time, change in self._changes if time < start)

    def _window(self, mark: str) -> tuple[int, int]:
        if mark not in self._windows:
            raise KeyError(f"no record_function({mark!r}) block was seen (is it named in marks?)")
        return self._windows[mark]


def _unpack(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def _storage_key(tensor: torch.Tensor) -> Optional[tuple[str, int]]:
    try:
        storage = tensor.untyped_storage()
    except (RuntimeError, NotImplementedError):
        return None
    return (str(tensor.device), storage.data_ptr())
