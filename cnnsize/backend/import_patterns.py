"""What people write with several calls that together are one cnnsize kind: ShuffleNet's channel
shuffle (`view`, `transpose(1, 2)`, `view` back), views through ranks a spec cannot hold
(`squeeze(-1).squeeze(-1)`), and ConvNeXt's layer norm over the channels between two permutes.
Each finder starts at a node and gives the last node of the pattern, its layer, and the nodes it
swallows, or None; a node in between must be read only by the next, so nothing else sees a value
the spec does not have.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from torch import fx

from cnnsize.backend.import_functions import THROUGH, Mapped, arg, op_name, shape


def _only_user(node: fx.Node) -> Optional[fx.Node]:
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _is(node: Optional[fx.Node], *names: str) -> bool:
    return node is not None and node.op in ("call_method", "call_function") and op_name(node) in names


RESHAPES = ("view", "reshape", "_unsafe_view", "flatten")
VIEWS = (*RESHAPES, "squeeze", "unsqueeze")


def _order(node: fx.Node) -> list[int]:
    """A permute's order, given as `x.permute(0, 2, 3, 1)`, `x.permute([0, 2, 3, 1])` or `dims=`."""
    order: Any = node.args[1:] if len(node.args) > 2 else arg(node, 1, "dims")
    return [int(d) for d in order]


def _swaps_1_and_2(node: fx.Node) -> bool:
    """`transpose(1, 2)` (or (2, 1)) or `permute(0, 2, 1, 3, 4)` of a 5-D tensor."""
    if op_name(node) == "transpose":
        dims = {arg(node, 1, "dim0"), arg(node, 2, "dim1")}
        return dims in ({1, 2}, {-4, -3}, {1, -3}, {-4, 2})
    return [d % 5 for d in _order(node)] == [0, 2, 1, 3, 4]


def channel_shuffle(first: fx.Node) -> Optional[tuple[fx.Node, dict[str, Any], list[fx.Node]]]:
    """ShuffleNet v2's shuffle starting at `first`: `x.view(N, g, C // g, H, W)`, `.transpose(1, 2)`,
    optionally `.contiguous()`, `.view(N, C, H, W)` (or reshape, or flatten(1, 2)). Gives the last
    node, the layer, and the nodes in between (which make no layer of their own)."""
    if not _is(first, *RESHAPES) or not isinstance(first.args[0], fx.Node):
        return None
    before, split = shape(first.args[0]), shape(first)
    if before is None or split is None or len(before) != 4 or len(split) != 5:
        return None
    n, c, h, w = before
    groups = split[1]
    if split != (n, groups, c // groups, h, w) or c % groups:
        return None
    swap = _only_user(first)
    if not _is(swap, "transpose", "permute") or swap is None or not _swaps_1_and_2(swap):
        return None
    between = [first, swap]
    last = _only_user(swap)
    if _is(last, "contiguous") and last is not None:
        between.append(last)
        last = _only_user(last)
    if not _is(last, *RESHAPES) or last is None or shape(last) != before:
        return None
    return last, {"type": "channel_shuffle", "groups": groups}, between


def view_chain(first: fx.Node) -> Optional[tuple[fx.Node, Mapped, list[fx.Node]]]:
    """Views one after another through ranks a spec cannot hold (`x.squeeze(-1).squeeze(-1)`,
    `s.unsqueeze(-1).unsqueeze(-1)`, `x.view(n, c, -1).view(n, -1)`): one reshape from the first's
    input to the last, when every view but the last is read only by the next. Gives the last node,
    its layer (`_reshape`'s rule on the whole) and the nodes before it."""
    if not _is(first, *VIEWS) or len(shape(first) or ()) in (2, 4) or not isinstance(first.args[0], fx.Node):
        return None
    chain, last = [first], _only_user(first)
    while last is not None and _is(last, *VIEWS) and len(shape(last) or ()) not in (2, 4):
        chain.append(last)
        last = _only_user(last)
    if last is None or not _is(last, *VIEWS):
        return None
    before, after = shape(first.args[0]), shape(last)
    if before is None or after is None or not after or after[0] != before[0]:
        return None
    if after == before:
        return last, THROUGH, chain
    flat = (len(before), len(after)) == (4, 2)
    return last, {"type": "flatten"} if flat else {"type": "reshape", "shape": list(after[1:])}, chain


def _permutes(node: Optional[fx.Node], order: list[int]) -> bool:
    if not _is(node, "permute") or node is None:
        return False
    return [d % 4 for d in _order(node)] == order


def channels_last_norm(
    first: fx.Node, is_norm: Callable[[fx.Node], Optional[dict[str, Any]]]
) -> Optional[tuple[fx.Node, fx.Node, dict[str, Any], list[fx.Node]]]:
    """ConvNeXt's layer norm over the channels: `x.permute(0, 2, 3, 1)`, a layer norm over the last
    dim (`is_norm` gives its layer, None if the node is no such norm), `.permute(0, 3, 1, 2)`. Gives
    the norm node (for the name), the last node, the layer, and the permutes."""
    norm = _only_user(first) if _permutes(first, [0, 2, 3, 1]) else None
    layer = is_norm(norm) if norm is not None else None
    last = _only_user(norm) if norm is not None and layer is not None else None
    if last is None or layer is None or not _permutes(last, [0, 3, 1, 2]):
        return None
    return norm, last, layer, [first]  # type: ignore[return-value]


__all__ = ["channel_shuffle", "channels_last_norm", "view_chain"]
