"""Shared weights: a layer that is an earlier layer called again, as a PyTorch module called twice in
`forward` (its parameters counted once, its MACs at every call).

A spec writes it `{shares: <name>}` (with an optional `name` and `from`), which repeats the named
layer's kind and fields, or writes the layer out in full with `shares: <name>`, whose kind and fields
must then equal the named layer's. `SharedLayer` stands for the short form until the graph
(`cnnsize.graph`) puts the named layer in its place; `differences` is what the long form is checked
with.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cnnsize.kinds.base import LayerKind

OWN_FIELDS = frozenset({"name", "from_", "shares"})
"""What a layer that shares weights keeps of its own: the rest is the shared layer's."""

SHORT_FORM_KEYS = ("shares", "name", "from")
INFERRED = frozenset({"in_channels", "in_features", "num_features", "num_channels"})
"""Fields the input gives: left out on one side and stated on the other is no difference (the
weights' fit to the input is checked apart)."""


class SharedLayer(LayerKind):
    """`{shares: <name>}`: the layer named, called again here (not a kind: the graph resolves it to
    the named layer's kind and fields)."""

    type: str = "shares"
    shares: str = Field(description="The earlier layer called again here.")  # type: ignore[assignment]


def settings(layer: LayerKind) -> dict[str, Any]:
    """A layer's kind and fields, without what a sharing layer keeps of its own."""
    return {"type": layer.kind, **layer.model_dump(exclude=set(OWN_FIELDS) | {"type"})}


def differences(layer: LayerKind, shared: LayerKind) -> list[str]:
    """How `layer`, written out in full, differs from the layer it shares (`kernel_size 5 here, 3
    there`); empty when it is the same module."""
    if layer.kind != shared.kind:
        return [f"it is a {layer.kind}, the shared layer a {shared.kind}"]
    mine, theirs = settings(layer), settings(shared)
    return [
        f"{key} {_text(mine.get(key))} here, {_text(theirs.get(key))} there"
        for key in dict.fromkeys([*mine, *theirs])
        if mine.get(key) != theirs.get(key)
        and not (key in INFERRED and (mine.get(key) is None or theirs.get(key) is None))
    ]


def _text(value: Any) -> str:
    """As a spec writes it: `3` for a size of (3, 3), `[1, 2]` for (1, 2)."""
    if value is None:
        return "unset"
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and value[0] == value[1] and not isinstance(value[0], (tuple, list)):
            return _text(value[0])
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)


__all__ = ["INFERRED", "OWN_FIELDS", "SHORT_FORM_KEYS", "SharedLayer", "differences", "settings"]
