"""Devices: choosing one, its free memory, waiting for it, and recognising its out-of-memory errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import torch

from cnnsize.errors import UsageError

DEVICES = ("auto", "cpu", "cuda", "mps")

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA, else MPS, else the CPU; asking for a device that is absent is a usage error."""
    if name not in DEVICES:
        raise UsageError(f"unknown device '{name}'; choose one of {', '.join(DEVICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        built = "built without CUDA" if torch.version.cuda is None else "finds no CUDA device"
        raise UsageError(f"--device cuda: no CUDA device is available (torch {torch.__version__} {built})")
    if name == "mps" and not _mps_available():
        raise UsageError("--device mps: Apple's Metal (MPS) backend is not available on this machine")
    return torch.device(name)


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise UsageError(f"unknown dtype '{name}'; choose one of {', '.join(DTYPES)}")
    return DTYPES[name]


def synchronize(device: torch.device) -> None:
    """Wait until the device has finished the work queued on it (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def free_bytes(device: torch.device) -> Optional[int]:
    """Memory that can still be allocated on `device`, in bytes, or None where it cannot be known."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "mps":
        return max(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory(), 0)
    return host_free_bytes()


def host_free_bytes() -> Optional[int]:
    """The smaller of the kernel's `MemAvailable` and what this process's cgroup may still use."""
    candidates = []
    meminfo = _read("/proc/meminfo")
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            candidates.append(int(line.split()[1]) * 1024)
    limit, usage = _read("/sys/fs/cgroup/memory.max").strip(), _read("/sys/fs/cgroup/memory.current").strip()
    if limit.isdigit() and usage.isdigit():
        candidates.append(max(int(limit) - int(usage), 0))
    if not candidates and hasattr(os, "sysconf"):
        try:
            candidates.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError):
            pass
    return min(candidates) if candidates else None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the errors torch raises when an allocation fails, on any device."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
    )


def release_cached(device: torch.device) -> None:
    """Give the caching allocator's free blocks back (after an out-of-memory error)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
