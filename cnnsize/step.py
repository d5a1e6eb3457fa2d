"""One training step, moment by moment: the end of the forward pass, each node's backward, the
optimizer's step. The footprint of training is the moment holding the most. Pure Python.

A real loop's step (`zero_grad(set_to_none=True)`, the default, then forward, backward, step) is
planned, not the first one: the optimizer's state exists (made lazily, `zeros_like`, at the first
step), and no parameter has a gradient until backward makes it.

- As the forward pass ends: the parameters, running statistics and optimizer state, autocast's
  weight copies, the activations saved for backward and the input batch (`cnnsize.memory`).
- Backward runs the recorded nodes in reverse (the engine's ready queue orders them by sequence
  number: the reverse of the forward's order). While a node's backward runs, alive are: the
  storages saved by it and by every node before it (a storage is freed once the backward of the
  first node that saved it has run), the gradients of the parameters of the nodes after it and of
  its own being made, the gradients of values waiting for their producer (the gradient w.r.t.
  each of the node's outputs among them) and the gradients w.r.t. its inputs it makes. Then the
  engine drops the gradients the node was given and the storages it saved, and passes on what it
  made: a value read twice (a residual's input, a skip) gets its second gradient summed with the
  first into a new buffer (`old + new`, as measured on the CPU, both freed after: a moment of its
  own, holding the three). An add's backward hands every input the incoming gradient itself, a
  cat's views of it and a reshape's a view (`LayerKind.node_grad_views`): no new storage. The loss
  (`output.float().mean()`, a float32 scalar) starts backward with a scalar gradient, expanded
  into a new gradient the size of the output.
- The optimizer's step: the activations are gone; the parameters, gradients, state, the input
  batch the caller still holds, and the step's temporaries (`optimizer_temporaries`).

Under `--accumulate`, gradients persist across micro-batches: every moment holds them all, and
backward's new parameter gradients are added in place (a temporary each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from cnnsize.errors import format_path
from cnnsize.memory import BackwardStep, Bytes, Trace, total
from cnnsize.parallel import ParamTensor

FORWARD_END = "end of the forward pass"
OPTIMIZER_STEP = "optimizer step"

# bytes of adam's `state["step"]`: a float32 0-dim tensor per parameter, kept on the CPU
# (`torch.tensor(0.0, dtype=_get_scalar_dtype())`; on the parameter's device only when fused or
# capturable, neither the default)
STEP_SCALAR = 4
STEPPED = ("adam", "adamw")
LOSS = 8  # the loss (`output.float().mean()`) and the gradient backward starts from: two float32 scalars


@dataclass(frozen=True)
class Moment:
    """One moment of a step: its name, and its lines (the training breakdown's keys), each
    `fixed + per_sample * batch`."""

    name: str
    lines: dict[str, Bytes]

    @property
    def total(self) -> Bytes:
        return total(self.lines.values())


def step_scalars(optimizer: str, device: str, tensors: int) -> int:
    """Bytes of the optimizer's step counters on `device`: adam's 4 B per parameter tensor on the
    CPU; none on CUDA (they stay on the CPU) and none for sgd."""
    return STEP_SCALAR * tensors if optimizer in STEPPED and device == "cpu" else 0


def optimizer_temporaries(optimizer: str, device: str, sizes: Sequence[int]) -> int:
    """The most bytes of temporaries the optimizer's step holds at once, for parameters of `sizes`
    bytes each (in the order the network registers them), as torch 2.13's `torch.optim` runs on
    `device` by default (`foreach` on CUDA, as every parameter is there,
    `_default_to_fused_or_foreach`; a loop over the parameters on the CPU, where foreach kernels
    are not supported).

    - `sgd`, `momentum`: none: `param.add_(grad, alpha=-lr)`, `buf.mul_(momentum).add_(grad)` and
      their `_foreach_*_` forms work in place (the momentum buffer is state, made at the first step).
    - `adam`, `adamw`: `denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)`: on the CPU,
      per parameter, the square root and the quotient are alive together, and the previous
      parameter's `denom` too, until the assignment replaces it (measured): the most of
      `2 * size[i] + size[i - 1]`; on CUDA `_foreach_sqrt(exp_avg_sqs)` makes one tensor per
      parameter, all alive until `_foreach_addcdiv_` (then divided and added to in place).
    """
    if optimizer not in STEPPED or not sizes:
        return 0
    if device != "cpu":
        return sum(sizes)
    return max(2 * size + previous for size, previous in zip(sizes, [0, *sizes]))


def moments(
    trace: Trace,
    held: dict[str, Bytes],
    param_bytes: int,
    temporaries: int,
    accumulating: bool = False,
) -> list[Moment]:
    """The moments of a training step traced as `trace` (training mode), where `held` are the
    lines every moment holds (parameters, running statistics, optimizer state), `param_bytes` the
    bytes of one parameter element, `temporaries` the optimizer step's. Each moment's lines add up
    to what it holds."""
    grads_all = Bytes(param_bytes * sum(s.params for s in trace.steps), 0)
    saved = trace.saved - trace.saved_weight_copies
    input_line = Bytes() if trace.input_saved else trace.input
    base = dict(held)

    def moment(name: str, **lines: Bytes) -> Moment:
        return Moment(name, {**base, **lines})

    zero = Bytes()
    found = [
        moment(
            FORWARD_END,
            gradient_bytes=grads_all if accumulating else zero,
            weight_copy_bytes=trace.weight_copies,
            saved_activation_bytes=saved,
            input_bytes=input_line,
            activation_gradient_bytes=zero,
            optimizer_temporary_bytes=zero,
        )
    ]
    found += _backward(trace, saved, input_line, param_bytes, accumulating, grads_all, moment)
    found.append(
        moment(
            OPTIMIZER_STEP,
            gradient_bytes=grads_all,
            weight_copy_bytes=zero,
            saved_activation_bytes=zero,
            input_bytes=trace.input,  # the caller still holds the batch
            activation_gradient_bytes=zero,
            optimizer_temporary_bytes=Bytes(temporaries, 0),
        )
    )
    return found


def _backward(
    trace: Trace,
    saved: Bytes,
    input_line: Bytes,
    param_bytes: int,
    accumulating: bool,
    grads_all: Bytes,
    moment: Callable[..., Moment],
) -> list[Moment]:
    sizes: list[Bytes] = []  # gradient storages, by id
    refs: list[int] = []
    of_value: dict[int, int] = {}  # value -> its gradient's storage

    def new(size: Bytes) -> int:
        sizes.append(size)
        refs.append(1)
        return len(sizes) - 1

    def live() -> Bytes:
        return total(size for size, n in zip(sizes, refs) if n > 0)

    floats = trace.output_floats or tuple(Bytes() for _ in trace.outputs)
    for v in trace.outputs:  # the loss's backward: a gradient the size of each output
        of_value[v] = new(trace.gradients[v])
    owners = {s.index: s.params for s in trace.steps}
    made = Bytes()  # parameter gradients backward has made
    copies = trace.saved_weight_copies  # autocast's weight copies still saved
    has_grad: set[int] = set()
    found = []
    if any(f != Bytes() for f in floats):  # `output.float()`: its backward casts a float32 gradient back
        found.append(
            moment(
                "backward of the loss's cast to float32",
                gradient_bytes=grads_all if accumulating else Bytes(),
                weight_copy_bytes=copies,
                saved_activation_bytes=saved,
                input_bytes=input_line,
                activation_gradient_bytes=live() + total(floats) + Bytes(LOSS, 0),
                optimizer_temporary_bytes=Bytes(),
            )
        )
    for step in reversed(trace.steps):
        owner = step.index if step.shares is None else step.shares
        own = Bytes(owners.get(owner, 0) * param_bytes, 0)
        added = accumulating or owner in has_grad  # added in place into the existing gradient
        made_here: list[tuple[int, int]] = []
        for v, needs, view, out in zip(step.inputs, step.input_grads, step.grad_views, _outputs(step)):
            if not needs:
                continue
            if view and out in of_value:
                refs[of_value[out]] += 1
                made_here.append((v, of_value[out]))
            else:
                made_here.append((v, new(trace.gradients[v])))
        name = f"backward of {format_path(step.path)}"
        scratch = step.workspace

        lowered = step.half_grads != Bytes()
        making = step.half_grads if lowered else own  # under autocast its gradients are half ones first

        def now(name: str = name) -> Moment:
            return moment(
                name,
                gradient_bytes=(grads_all if accumulating else made + (Bytes() if added else making)),
                weight_copy_bytes=copies,
                saved_activation_bytes=saved,
                input_bytes=input_line,
                activation_gradient_bytes=live() + (making if added else Bytes()) + Bytes(LOSS, 0) + scratch,
                optimizer_temporary_bytes=Bytes(),
            )

        found.append(now())
        scratch = Bytes()
        copies -= step.copies
        for out in step.outputs:  # the engine drops the gradients it was given, and what the node saved
            if out in of_value:
                refs[of_value.pop(out)] -= 1
        saved -= step.releases
        if lowered and not added:  # then the casts: the weight's float32 gradient beside the half ones
            making = step.half_grads + step.cast
            found.append(now(f"{name}, casting its gradients to float32"))
            making = own
        for v, storage in made_here:
            old = of_value.get(v)
            if old is None:
                of_value[v] = storage
            else:  # `old + new` into a new buffer, then both freed
                total_grad = new(trace.gradients[v])
                found.append(now(f"{name}, summing two gradients of one value"))
                refs[old] -= 1
                refs[storage] -= 1
                of_value[v] = total_grad
        if not added:
            made += own
            has_grad.add(owner)
    return found


def _outputs(step: BackwardStep) -> list[int]:
    """For each input, the output whose gradient a view-passing backward hands on: the first."""
    return [step.outputs[0]] * len(step.inputs)


def zero1_tensors(tensors: Sequence[ParamTensor], ranks: int) -> list[list[ParamTensor]]:
    """The parameter tensors each rank owns under ZeroRedundancyOptimizer, in its local
    optimizer's order (as `cnnsize.parallel.zero1_partition` assigns them: largest first, stable,
    each to the emptiest rank)."""
    sizes = [0] * ranks
    owned: list[list[ParamTensor]] = [[] for _ in range(ranks)]
    for tensor in sorted(tensors, key=lambda t: t.numel, reverse=True):
        rank = sizes.index(min(sizes))
        sizes[rank] += tensor.numel
        owned[rank].append(tensor)
    return owned


def peak(found: list[Moment], batch_size: int) -> Moment:
    """The moment holding the most at `batch_size` (the earliest among equals)."""
    return max(found, key=lambda m: m.total.at(batch_size))


def named(found: list[Moment], name: Optional[str]) -> Optional[Moment]:
    return next((m for m in found if m.name == name), None)
