"""Headroom: the part of a GPU's memory a plan leaves to what the memory model does not count.

`--reserve SIZE|PCT` (`2GiB`, `10%` of `--memory`) is taken off the memory before the batch is
solved. On CUDA the default is `CUDA_CONTEXT` plus `CUDA_FRACTION` percent of the memory: the CUDA
context (the driver's and the libraries' code and state, made by the first CUDA call and counted
by no PyTorch allocator statistic), and the caching allocator's rounding and fragmentation and the
kernels' workspaces (cuDNN's convolution workspace, cuBLAS's), which grow with the card and the
batch; docs/memory.md#headroom says where these figures come from. On the CPU the default is 0.
`--reserve 0` turns it off.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnsize.errors import UsageError
from cnnsize.units import human_bytes, parse_bytes

CUDA_CONTEXT = 512 * 2**20  # bytes
CUDA_FRACTION = 5  # percent of the memory

NOT_COUNTED = (
    "activation gradients and the optimizer's temporaries under --checkpoint and FSDP2 (zero2, fsdp)",
    "batch norm's num_batches_tracked (8 B each)",
    "kernels' scratch memory",
    "communication libraries' own buffers",
    "allocator rounding and fragmentation",
    "the CUDA context",
)
"""What no line of a footprint holds, named under every plan (docs/memory.md#not-counted); the
reserve is there for them."""


@dataclass(frozen=True)
class Reserve:
    """Bytes held back from the memory, and where the figure comes from (`why`)."""

    bytes: int
    why: str

    def to_dict(self) -> dict[str, object]:
        return {"reserve_bytes": self.bytes, "reserve": self.why}


def not_counted(mode: str, device: str, *, checkpointed: bool, sharded: bool, ranks: int) -> tuple[str, ...]:
    """`NOT_COUNTED`, less what cannot occur in this plan: a step's backward and optimizer outside
    training planned at the forward's end (checkpointed, or sharded by FSDP2), communication on one
    rank, a CUDA context on the CPU."""
    step, _, _, comms, _, cuda = NOT_COUNTED
    left = {step: mode == "training" and (checkpointed or sharded), comms: ranks > 1, cuda: device == "cuda"}
    return tuple(item for item in NOT_COUNTED if left.get(item, True))


def default_reserve(device: str, limit: int) -> Reserve:
    """The reserve when `--reserve` is not given: on CUDA the context and a share of the memory for
    the allocator and workspaces; nothing on the CPU."""
    if device != "cuda":
        return Reserve(0, "none on the CPU")
    size = CUDA_CONTEXT + limit * CUDA_FRACTION // 100
    return Reserve(
        size,
        f"CUDA's default: {human_bytes(CUDA_CONTEXT)} context + {CUDA_FRACTION}%",
    )


def parse_reserve(text: str, limit: int) -> Reserve:
    """`--reserve`'s value: a byte size, or a percentage of `limit` (from 0 to below 100)."""
    given = text.strip()
    if len(given) > 64:
        raise UsageError(f"--reserve: '{given[:20]}...' is not a byte size or a percentage (at most 64 characters)")
    if given.endswith("%"):
        number = given[:-1].strip()
        try:
            percent = float(number)
        except ValueError:
            raise UsageError(f"--reserve: '{text}' is not a percentage, such as 10%") from None
        if not 0 <= percent < 100:
            raise UsageError(f"--reserve must be from 0% to below 100% of --memory, got '{text}'")
        return Reserve(int(limit * percent / 100), f"--reserve {given} of the memory")
    try:
        size = parse_bytes(given)
    except ValueError as exc:
        raise UsageError(f"--reserve: {exc}; or a percentage of --memory, such as 10%") from None
    if size < 0:
        raise UsageError(f"--reserve must be 0 or more, got '{text}'")
    return Reserve(size, f"--reserve {given}")


def usable(limit: int, reserve: Reserve, explicit: bool) -> int:
    """The memory left for the footprint: `limit` less the reserve; a usage error when nothing is
    left, naming `--reserve` (`explicit`: given on the command line) or the default."""
    left = limit - reserve.bytes
    if left < 1:
        if explicit:
            raise UsageError(
                f"--reserve ({human_bytes(reserve.bytes)}, {reserve.bytes:,} B) leaves nothing of --memory "
                f"({human_bytes(limit)}, {limit:,} B); give a smaller --reserve"
            )
        raise UsageError(
            f"the default reserve on CUDA ({human_bytes(reserve.bytes)}, {reserve.bytes:,} B: the context and "
            f"{CUDA_FRACTION}% of the memory) leaves nothing of --memory ({human_bytes(limit)}, {limit:,} B); "
            "give --reserve 0 or a smaller --reserve"
        )
    return left
