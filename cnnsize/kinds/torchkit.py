"""The contract between a kind and the backend that builds it: what `torch_module` is handed.

Kinds build their PyTorch modules through this kit and never import torch themselves; the backend
(`cnnsize.backend.builder.KIT`) is the one implementation. A Protocol here, so that kinds depend on
nothing above them.
"""

from __future__ import annotations

from typing import Any, Protocol


class TorchKit(Protocol):
    """`nn`: `torch.nn`; `blocks`: cnnsize's own small modules (`cnnsize.backend.blocks`)."""

    @property
    def nn(self) -> Any: ...

    @property
    def blocks(self) -> Any: ...
