"""Every layer kind, registered by name in `KINDS` (importing this package registers them all)."""

from cnnsize.kinds import (  # noqa: F401  (registers)
    branch,
    channels,
    composite,
    conv,
    elementwise,
    joins,
    norm,
    pool,
    reshape,
    views,
)
from cnnsize.kinds.base import KINDS, Composite, Join, LayerKind, Shape, Split

__all__ = ["KINDS", "Composite", "Join", "LayerKind", "Shape", "Split"]
