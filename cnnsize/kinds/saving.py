"""How a layer kind declares the memory its forward pass holds: what autograd saves for backward,
and the temporaries it makes on the way. Plain data, read by `cnnsize.memory`, which follows the
tensors through the network (which storage each one is, who needs a gradient, which dtype).

A kind says *what* it keeps, in PyTorch's terms (its input, its output, its weight, new tensors of
a shape); the memory model turns that into bytes, storage by storage. Dtypes are named by role where
the device or precision decides them (`cnnsize.memory` resolves each role):
- `ACTIVATION`: the dtype the layer computes in;
- `INDICES`: int64 (max pooling's argmax indices);
- `DROPOUT_MASK`: `nn.Dropout`'s mask: the activation dtype on the CPU; one byte per element (bool)
  on CUDA, where the fused `native_dropout` kernel runs;
- `BATCH_STATISTICS`: batch norm's per-channel `save_mean` / `save_invstd`.
"""

from __future__ import annotations

from dataclasses import dataclass

Shape = tuple[int, ...]

ACTIVATION = "activation"
INDICES = "int64"
DROPOUT_MASK = "dropout mask"
BATCH_STATISTICS = "batch statistics"

# When a layer's weight is saved for backward (it matters for mixed precision, where autocast's
# half-precision copy of the weight is a new storage; a float32 weight is the parameter itself).
WEIGHT_NEVER = ""
WEIGHT_ALWAYS = "always"  # convolution: its backward needs the weight whatever needs a gradient
WEIGHT_FOR_INPUT_GRAD = "for the input's gradient"  # addmm/mm: only when the input needs a gradient


@dataclass(frozen=True)
class Tensor:
    """A tensor a layer makes: `shape` is per sample (the batch is prepended) unless `per_sample` is
    False (then it is the whole tensor, such as batch norm's per-channel statistics)."""

    shape: Shape
    dtype: str = ACTIVATION
    per_sample: bool = True


@dataclass(frozen=True)
class Saved:
    """What a layer's operations save for backward when autograd records them: references to its
    input and output tensors (whatever storage those are), its weight, and new tensors; a join
    names the inputs it keeps by their place in `from:` (`operands`)."""

    input: bool = False
    output: bool = False
    weight: str = WEIGHT_NEVER
    tensors: tuple[Tensor, ...] = ()
    operands: tuple[int, ...] = ()


NOTHING = Saved()
