"""The PyTorch backend: build a spec as an `nn.Module`, measure it, time it.

Importing this package does not import torch; `build` and the backend's modules do, and a missing
torch is one clear error (`TorchMissing`) that says how to install it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from cnnsize.errors import CnnsizeError

if TYPE_CHECKING:
    from cnnsize.backend.blocks import Network
    from cnnsize.report import Report
    from cnnsize.schema import Spec

INSTALL_HINT = "pip install 'cnnsize[torch]'"


class TorchMissing(CnnsizeError, ImportError):
    """PyTorch is not installed (or cannot be imported)."""


def require_torch() -> Any:
    """The `torch` module, or `TorchMissing` with the install command."""
    try:
        import torch
    except ImportError as exc:
        raise TorchMissing(f"this needs PyTorch, which is not installed ({exc}): {INSTALL_HINT}") from None
    return torch


def build(spec: "Spec", report: Optional["Report"] = None) -> "Network":
    """`spec` as an `nn.Module` (`cnnsize.backend.blocks.Network`), float32 on the CPU.

    Submodules follow the spec: the layer at `layers[3].body[0]` is `model.layers[3].body[0]`
    (`model.module_names` maps every spec path to its module's qualified name; a layer with a
    `name` that is a Python identifier is reached by that name instead of its index). A layer that
    shares another's weights (`shares:`) is that layer's module, called again: its path maps to the
    same name.
    """
    from cnnsize.schema import require_spec

    require_spec(spec)
    require_torch()
    from cnnsize.backend.builder import build_network

    return build_network(spec, report)


__all__ = ["INSTALL_HINT", "TorchMissing", "build", "require_torch"]
