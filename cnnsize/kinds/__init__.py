"""Every layer kind, registered by name in `KINDS` (importing this package registers them all)."""

from cnnsize.kinds import composite, conv, elementwise, pool, reshape  # noqa: F401  (registers)
from cnnsize.kinds.base import KINDS, Composite, LayerKind, Shape

__all__ = ["KINDS", "Composite", "LayerKind", "Shape"]
