"""A hypothesis strategy that writes random valid specs: chains, trees (composites) and graphs
(named skips, joins, splits, several inputs and outputs). Used by the differential test against
PyTorch (test_differential.py) and by the receptive-field measurement (test_receptive_torch.py).

The generator knows the shape of every value as it writes, and asks each kind's own rule
(`KINDS[kind].model_validate(...).node_shapes(...)`) whether a drawn layer fits; a layer that does
not fit is replaced by a simpler one of the same kind, so no example is thrown away. Tensors stay
tiny (at most 8 channels drawn, 16 pixels a side).

**Adding a kind** is one entry in `MAKERS` (below the makers), kind name -> maker:

- `Leaf(make, weight)` for a layer of one input and one output: `make(draw, shape)` returns the
  layer (a kind name or a mapping) for an input of `shape`, or a tuple of layers from most to least
  interesting (the first that fits is used, so end with one that always fits), or None when the
  kind does not apply to that shape (a flat vector, too few channels);
- `Structure(make, weight)` for kinds that need more than their input (joins, splits,
  composites): `make(draw, writer)` writes its layers through the `Writer` and returns whether it
  did.

For example, a normalisation over groups of channels:

    "groupnorm": Leaf(volume_only(lambda draw, shape: {
        "type": "groupnorm", "num_groups": draw(st.sampled_from(divisors(shape[0])))})),

`test_differential.py`'s registry guard fails, naming them, for registered kinds with no entry,
and checks that the generator really writes every kind it declares. A kind whose output may be its
input or a view of it (reshape, unflatten) also goes in `ALIASING`, and one whose output is a view
that is not contiguous (a crop) in `STRIDED`: the generator keeps in-place layers and `flatten`
off such values, where PyTorch or the memory model fail (see test_differential.py). The
receptive-field test asks one more thing of a kind: its monotone form, in
test_receptive_torch.py's `MONOTONE`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence, Union

from hypothesis import strategies as st

from cnnsize.errors import LayerRuleError
from cnnsize.kinds import KINDS

Shape = tuple[int, ...]
Layer = Any  # a spec entry: a kind name or a mapping
Draw = Callable[[st.SearchStrategy[Any]], Any]
Candidates = Union[Layer, tuple[Layer, ...], None]

MAX_SIDE = 16
MAX_CHANNELS = 8  # the most a layer draws; joins (cat) may give up to MAX_JOINED
MAX_JOINED = 16
MAX_DEPTH = 2  # composites inside composites
# may give their input itself, or a view of it
ALIASING = {"identity", "flatten", "dropout", "dropout2d", "reshape", "unflatten", "stochastic_depth"}
STRIDED = {"center_crop"}  # kinds whose output is a view that is not contiguous (a crop)
CHANNELS_LAST = {"layernorm2d"}  # kinds whose output has channels-last strides, kept by the layers after
# kinds that copy an input that is not NCHW-contiguous where the memory model counts the input
# itself (docs/memory.md, "Not counted"): the generator keeps them off strided values
COPY_STRIDED = {"flatten", "reshape", "unflatten", "instancenorm2d", "groupnorm"}
ACTIVATIONS = ["relu", "relu6", "silu", "sigmoid", "tanh", "hardswish", "identity", "gelu", "elu", "leaky_relu"]


# -- shapes by each kind's own rule ----------------------------------------------------------------


def kind_of(layer: Layer) -> str:
    return layer if isinstance(layer, str) else layer["type"]


def shapes_of(layer: Layer, ins: Sequence[Shape]) -> tuple[Shape, ...]:
    """The output shapes a leaf, join or split gives for inputs of `ins`, by its kind's own rule
    (raises `LayerRuleError`). `from` is left out: the generator writes it."""
    fields = {"type": layer} if isinstance(layer, str) else {k: v for k, v in layer.items() if k != "from"}
    return KINDS[fields["type"]].model_validate(fields).node_shapes(tuple(ins))


def small(shape: Shape) -> bool:
    return len(shape) != 3 or (shape[1] <= MAX_SIDE and shape[2] <= MAX_SIDE and shape[0] <= MAX_JOINED)


def fits(layer: Layer, ins: Sequence[Shape]) -> Optional[tuple[Shape, ...]]:
    """The output shapes, or None if the layer does not fit or makes too large a tensor."""
    try:
        outs = shapes_of(layer, ins)
    except LayerRuleError:
        return None
    return outs if all(small(s) for s in outs) else None


def output_of(layer: Layer, shape: Shape) -> Shape:
    """The shape a leaf gives for an input of `shape` (raises `LayerRuleError`)."""
    return shapes_of(layer, [shape])[0]


def _split_axis(layer: Layer, shape: Shape) -> int:
    """The per-sample axis a split cuts (0: channels or features)."""
    dim = layer.get("dim", 1) if isinstance(layer, dict) else 1
    return dim % (len(shape) + 1) - 1


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def pair(draw: Draw, low: int, high: int) -> Any:
    """An int, or an [h, w] pair."""
    return draw(st.one_of(st.integers(low, high), st.lists(st.integers(low, high), min_size=2, max_size=2)))


def reshaper(shape: Shape, target: Shape) -> Optional[list[Layer]]:
    """Layers that turn `shape` into `target`: a strided 1x1 convolution where one fits, else
    adaptive pooling then a 1x1 convolution (flatten and a linear layer for a flat target); None
    from a flat vector to a volume."""
    if shape == target:
        return []
    if len(target) == 1:
        return ([] if len(shape) == 1 else ["flatten"]) + [{"type": "linear", "out_features": target[0]}]
    if len(shape) == 1:
        return None
    for stride in range(1, 5):
        conv = {"type": "conv2d", "out_channels": target[0], "kernel_size": 1, "stride": stride}
        if output_of(conv, shape) == target:
            return [conv]
    pool = {"type": "adaptive_avgpool2d", "output_size": list(target[1:])}
    return [pool, {"type": "conv2d", "out_channels": target[0], "kernel_size": 1}]


# -- the values and lists being written --------------------------------------------------------------


@dataclass(eq=False)
class Value:
    """A tensor the spec makes: its shape, and where it is written (`position` in `scope`'s layers,
    -1 for the list's input; `port` for a split's outputs; `name` for a spec's named input)."""

    shape: Shape
    scope: "Scope"
    position: int
    port: Optional[int] = None
    name: Optional[str] = None
    uses: int = 0
    joined: int = 0  # how many joins read it
    overwritten: bool = False  # an in-place layer wrote over it: no later layer may read it
    view: bool = False  # (a view of) a split's output, which PyTorch's autograd refuses to modify in place
    strided: bool = False  # (a view of) a piece split along H or W, or a crop: not contiguous
    channels_last: bool = False  # made from a layernorm2d's output: channels-last strides

    def copied_by(self, kind: str) -> bool:
        """Whether `kind` copies this value where the memory model counts it: the normalisations
        copy any map that is not NCHW-contiguous, a split's piece too (a channel piece is not, for
        more than one sample); a reshape copies a strided map of more than one position."""
        if kind in ("instancenorm2d", "groupnorm"):
            return self.strided or self.channels_last or self.view
        if kind not in COPY_STRIDED or not (self.strided or self.channels_last):
            return False
        return self.shape[1:] != (1, 1)


@dataclass(eq=False)
class Scope:
    """A list of layers being written, inside the list (`parent`) that holds its composite at `at`."""

    layers: list[Layer]
    parent: Optional["Scope"] = None
    at: int = 0
    input: Optional[Value] = None
    entries: list[list[Value]] = field(default_factory=list)


class Writer:
    """Writes one spec: the lists of layers, with the shape of every value, and the names, `from:`
    references and offsets by which later layers take earlier values."""

    def __init__(self, draw: Draw, graph: bool, inputs: dict[str, Shape]):
        self.draw = draw
        self.graph = graph  # False: chains and trees only (no `from:`, joins or splits)
        self.count = 0
        self.depth = 0
        self.top = Scope([])
        self.scope = self.top
        self.named_inputs: list[Value] = []
        if len(inputs) == 1:
            self.top.input = Value(next(iter(inputs.values())), self.top, -1)
        else:
            self.named_inputs = [Value(shape, self.top, -1, name=name) for name, shape in inputs.items()]

    # what a layer can take

    def current(self) -> Optional[Value]:
        """The value a layer without `from:` takes: the previous layer's (None after a split or at
        the start of a spec of several inputs)."""
        if not self.scope.entries:
            return self.scope.input
        last = self.scope.entries[-1]
        return last[0] if len(last) == 1 else None

    def visible(self) -> list[Value]:
        """Every value a layer written now may name: its list's input and earlier layers, the
        layers before its composite in the lists around it, and the spec's named inputs."""
        found: list[Value] = []
        scope: Optional[Scope] = self.scope
        upto = len(self.scope.entries)
        while scope is not None:
            if scope is self.scope and scope.input is not None:
                found.append(scope.input)  # an enclosing list's input is shadowed by `input` here
            for entry in scope.entries[:upto]:
                found += entry
            upto, scope = scope.at, scope.parent
        found += self.named_inputs
        return [v for v in found if not v.overwritten]

    def pick(self, accept: Callable[[Value], bool] = lambda v: True) -> Optional[Value]:
        """An input for the next layer: mostly the previous layer's output; in graphs, often an
        earlier value, preferring one nothing reads yet (a split's other outputs, a skip)."""
        cur = self.current()
        if cur is not None and accept(cur) and (not self.graph or self.draw(st.integers(0, 2)) > 0):
            return cur
        return self.pick_other(accept)

    def pick_other(self, accept: Callable[[Value], bool] = lambda v: True) -> Optional[Value]:
        """Any value in reach that `accept`s: one nothing reads yet, one a join reads already (so
        that skips cross: one output read by two later joins), or any."""
        values = [v for v in self.visible() if accept(v)]
        if not values:
            return None
        unused = [v for v in values if v.uses == 0]
        joined = [v for v in values if v.joined]
        pool = self.draw(st.sampled_from([unused, joined, values]))
        return self.draw(st.sampled_from(pool or values))

    # how a layer names what it takes

    def fresh_name(self) -> str:
        self.count += 1
        return f"n{self.count}"

    def name_of(self, value: Value) -> str:
        """The name by which `value` is found: its layer is named on first need."""
        if value.name is not None:
            return value.name
        layers = value.scope.layers
        layer = layers[value.position]
        if isinstance(layer, str):
            layer = layers[value.position] = {"type": layer}
        if "name" not in layer:
            layer["name"] = self.fresh_name()
        if value.port is None:
            return layer["name"]
        if "names" in layer:
            return layer["names"][value.port]
        return f"{layer['name']}.{value.port}"

    def ref(self, value: Value) -> Union[str, int]:
        """A reference to `value` from the next layer of the current list: a name, `input`, or a
        negative offset (within the list only)."""
        here = len(self.scope.layers)
        if value.scope is self.scope and value.name is None:
            if value.position == -1:
                return self.draw(st.sampled_from(["input", -(here + 1)]))
            if value.port is None and self.draw(st.booleans()):
                return value.position - here
        return self.name_of(value)

    # writing layers

    def append(
        self,
        layer: Layer,
        inputs: list[Value],
        outs: tuple[Shape, ...],
        join: bool = False,
        view: Optional[bool] = None,
        strided: Optional[bool] = None,
        channels_last: Optional[bool] = None,
    ) -> list[Value]:
        """Write `layer`, taking `inputs` (named in `from:` where they are not the previous layer's
        output), giving values of `outs` (`view`, `strided`, `channels_last`: as `Value` says, for a
        composite)."""
        if join or inputs != [self.current()] or (self.graph and self.draw(st.integers(0, 7)) == 0):
            refs = [self.ref(v) for v in inputs]
            layer = {"type": layer} if isinstance(layer, str) else dict(layer)
            layer["from"] = refs if join and (len(refs) > 1 or self.draw(st.booleans())) else refs[0]
        inplace = isinstance(layer, dict) and layer.get("inplace", False)
        if inplace and (inputs[0].uses or inputs[0].view or inputs[0].scope is not self.scope):
            # Not in place over a value another layer reads, nor over (a view of) a split's
            # output: PyTorch's autograd refuses to modify those in place (the engine accepts
            # them: see the report of the graph generator's branch).
            layer = {k: v for k, v in layer.items() if k != "inplace"}
            inplace = False
        if inplace:
            inputs[0].overwritten = True
        aliasing = kind_of(layer) in ALIASING or inplace
        if view is None:  # splits give views; aliasing layers give their input (or a view of it)
            view = len(outs) > 1 or aliasing and inputs[0].view
        if strided is None:
            spatial_split = len(outs) > 1 and _split_axis(layer, inputs[0].shape) > 0
            strided = spatial_split or kind_of(layer) in STRIDED or (aliasing and inputs[0].strided)
        if channels_last is None:  # contagious: the layers after a channels-last map keep its strides
            channels_last = kind_of(layer) in CHANNELS_LAST or any(v.channels_last for v in inputs)
        for v in inputs:
            v.uses += 1
            v.joined += join
        position = len(self.scope.layers)
        self.scope.layers.append(layer)
        made = [
            Value(
                shape,
                self.scope,
                position,
                port=i if len(outs) > 1 else None,
                view=view,
                strided=strided,
                channels_last=channels_last and len(shape) == 3,
            )
            for i, shape in enumerate(outs)
        ]
        self.scope.entries.append(made)
        return made

    def leaf(self, candidates: Candidates, value: Value) -> Optional[Value]:
        """The first of `candidates` that fits `value`, written; None if none does."""
        if candidates is None:
            return None
        for layer in candidates if isinstance(candidates, tuple) else (candidates,):
            if value.copied_by(kind_of(layer)):
                continue  # see test_differential.py::test_flatten_of_a_piece_split_along_h_or_w
            outs = fits(layer, [value.shape])
            if outs is not None:
                return self.append(layer, [value], outs)[0]
        return None

    def chain(self, layers: list[Layer], value: Value) -> Value:
        """`layers` one after another from `value` (each must fit)."""
        for layer in layers:
            value = self.append(layer, [value], shapes_of(layer, [value.shape]))[0]
        return value

    def reshaped(self, value: Value, target: Shape) -> Optional[Value]:
        """`value` made into `target` by layers written now (None if no layers can)."""
        layers = reshaper(value.shape, target)
        if layers is None or value.copied_by("flatten") and "flatten" in layers:
            return None
        return self.chain(layers, value)

    # lists

    def nested(self, layers: list[Layer], value: Value) -> "_Nested":
        """A composite's list from `value`, written inside the current one (`with writer.nested(...)`)."""
        return _Nested(self, layers, value)

    def write_list(self, longest: int) -> None:
        for _ in range(self.draw(st.integers(1, longest))):
            self.step()

    def step(self) -> None:
        """One drawn kind of layer (or a few layers: a gate, a reshaped skip), written."""
        draw = self.draw
        for _ in range(4):
            kind = draw(st.sampled_from(self.choices()))
            maker = MAKERS[kind]
            if isinstance(maker, Structure):
                if maker.make(draw, self):
                    return
                continue
            value = self.pick()
            if value is not None and self.leaf(maker.make(draw, value.shape), value) is not None:
                return
        value = self.pick()
        assert value is not None
        self.leaf("identity", value)

    def choices(self) -> list[str]:
        """Kinds to draw from, each as often as its weight."""
        return CHOICES[(self.graph, self.depth < MAX_DEPTH)]

    def single_output(self) -> Value:
        """The list's output, made one value when its last layer is a split (a composite's list
        must give one tensor): the split's pieces joined back, or one of them."""
        cur = self.current()
        if cur is not None:
            return cur
        pieces, split = self.scope.entries[-1], self.scope.layers[-1]
        layer: Layer = {"type": "cat"}
        if split.get("dim", 1) != 1:
            layer["dim"] = split["dim"]
        outs = fits(layer, [v.shape for v in pieces])
        if outs is not None and self.draw(st.booleans()):
            return self.append(layer, pieces, outs, join=True)[0]
        piece = self.draw(st.sampled_from(pieces))
        return self.append("identity", [piece], (piece.shape,))[0]


class _Nested:
    def __init__(self, writer: Writer, layers: list[Layer], value: Value):
        self.writer = writer
        outer = writer.scope
        self.scope = Scope(layers, outer, len(outer.layers))
        self.scope.input = Value(
            value.shape, self.scope, -1, view=value.view, strided=value.strided, channels_last=value.channels_last
        )

    def __enter__(self) -> Writer:
        self.saved = (self.writer.scope, self.writer.depth)
        self.writer.scope = self.scope
        self.writer.depth += 1
        return self.writer

    def __exit__(self, *exc: object) -> None:
        self.writer.scope, self.writer.depth = self.saved


# -- makers of leaves: (draw, input shape) -> the layer, candidates, or None ------------------------


def volume_only(make: Callable[[Draw, Shape], Candidates]) -> Callable[[Draw, Shape], Candidates]:
    """A maker for kinds that need a (C, H, W) input."""

    def maker(draw: Draw, shape: Shape) -> Candidates:
        return make(draw, shape) if len(shape) == 3 else None

    maker.__name__ = make.__name__
    return maker


def plain(kind: str, *variants: dict[str, Any], volume: bool = False) -> Callable[[Draw, Shape], Candidates]:
    """A maker of `kind` as a bare name, or with one of `variants` of its fields."""

    def maker(draw: Draw, shape: Shape) -> Candidates:
        if volume and len(shape) != 3:
            return None
        chosen = draw(st.sampled_from([{}, *variants]))
        return ({"type": kind, **chosen} if chosen else kind, kind)

    maker.__name__ = kind
    return maker


@volume_only
def conv2d(draw: Draw, shape: Shape) -> Candidates:
    groups = draw(st.sampled_from(divisors(shape[0])))
    layer = {
        "type": "conv2d",
        "out_channels": groups * draw(st.integers(1, max(1, MAX_CHANNELS // groups))),
        "kernel_size": pair(draw, 1, 4),
        "stride": pair(draw, 1, 3),
        "dilation": pair(draw, 1, 2),
        "groups": groups,
        "bias": draw(st.booleans()),
        "padding": draw(
            st.one_of(
                st.sampled_from(["same", "valid", "full"]),
                st.integers(0, 2),
                st.lists(st.integers(0, 2), min_size=2, max_size=2),
                st.lists(st.integers(0, 3), min_size=4, max_size=4),
            )
        ),
    }
    if draw(st.integers(0, 9)) == 0:
        layer = {"type": "conv2d", "groups": "depthwise", "kernel_size": 3, "padding": 1}
    return layer, {**layer, "padding": "same", "dilation": 1}


@volume_only
def conv_transpose2d(draw: Draw, shape: Shape) -> Candidates:
    groups = draw(st.sampled_from(divisors(shape[0])))
    stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, max(1, MAX_CHANNELS // groups)))
    layer = {
        "type": "conv_transpose2d",
        "out_channels": out_channels,
        "kernel_size": pair(draw, 1, 3),
        "stride": stride,
        "dilation": dilation,
        "padding": pair(draw, 0, 2),
        "output_padding": draw(st.integers(0, max(stride, dilation) - 1)),
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    return layer, {"type": "conv_transpose2d", "out_channels": out_channels, "kernel_size": 1, "groups": groups}


def window_pool(kind: str) -> Callable[[Draw, Shape], Candidates]:
    @volume_only
    def maker(draw: Draw, shape: Shape) -> Candidates:
        kernel = draw(st.integers(1, 4))
        layer: dict[str, Any] = {"type": kind, "kernel_size": kernel, "ceil_mode": draw(st.booleans())}
        if draw(st.booleans()):
            layer["stride"] = pair(draw, 1, 3)
        if kind == "maxpool2d":
            layer.update(padding=draw(st.integers(0, kernel // 2)), dilation=pair(draw, 1, 2))
        elif kind == "avgpool2d":
            layer.update(padding=draw(st.integers(0, kernel // 2)), count_include_pad=draw(st.booleans()))
        else:
            layer["norm_type"] = draw(st.sampled_from([1, 2, 3.5]))
        fallback = {"type": kind, "kernel_size": 1}
        if kind == "lppool2d":
            fallback["norm_type"] = layer["norm_type"]
        return layer, fallback

    maker.__name__ = kind
    return maker


def adaptive(kind: str) -> Callable[[Draw, Shape], Candidates]:
    @volume_only
    def maker(draw: Draw, shape: Shape) -> Candidates:
        # mostly smaller than the input (windows of equal size where the size divides), sometimes larger
        size = [draw(st.integers(1, min(MAX_SIDE, side + 2))) for side in shape[1:]]
        return {"type": kind, "output_size": draw(st.sampled_from([size, size[0], 1]))}

    maker.__name__ = kind
    return maker


def channel_pool(kind: str) -> Callable[[Draw, Shape], Candidates]:
    @volume_only
    def maker(draw: Draw, shape: Shape) -> Candidates:
        return {"type": kind, "kernel_size": draw(st.sampled_from(divisors(shape[0])))}

    maker.__name__ = kind
    return maker


@volume_only
def zeropad2d(draw: Draw, shape: Shape) -> Candidates:
    padding = draw(st.one_of(st.integers(0, 2), st.lists(st.integers(0, 2), min_size=4, max_size=4)))
    return {"type": "zeropad2d", "padding": padding}, {"type": "zeropad2d", "padding": 0}


@volume_only
def upsample(draw: Draw, shape: Shape) -> Candidates:
    mode = draw(st.sampled_from([{}, {"mode": "bilinear"}, {"mode": "bicubic", "align_corners": True}]))
    return {"type": "upsample", "scale_factor": pair(draw, 1, 2), **mode}, {"type": "upsample", "scale_factor": 1}


def softmax(draw: Draw, shape: Shape) -> Candidates:
    # PyTorch's numbering, the batch as dim 0: over features, channels, H or W (or, seldom, the batch)
    return {"type": "softmax", "dim": draw(st.integers(-len(shape) - 1, len(shape)))}


def linear(draw: Draw, shape: Shape) -> Candidates:
    if len(shape) != 1:
        return None
    return {"type": "linear", "out_features": draw(st.integers(1, 12)), "bias": draw(st.booleans())}


def flat_only(make: Callable[[Draw, Shape], Candidates]) -> Callable[[Draw, Shape], Candidates]:
    """A maker for kinds that need a flat [features] input."""

    def maker(draw: Draw, shape: Shape) -> Candidates:
        return make(draw, shape) if len(shape) == 1 else None

    maker.__name__ = make.__name__
    return maker


@flat_only
def batchnorm1d(draw: Draw, shape: Shape) -> Candidates:
    chosen = draw(st.sampled_from([{}, {"affine": False}, {"track_running_stats": False}, {"momentum": 0.3}]))
    return {"type": "batchnorm1d", **chosen}


def groupnorm(draw: Draw, shape: Shape) -> Candidates:
    return {"type": "groupnorm", "num_groups": draw(st.sampled_from(divisors(shape[0]))), "affine": draw(st.booleans())}


@volume_only
def instancenorm2d(draw: Draw, shape: Shape) -> Candidates:
    return {"type": "instancenorm2d", "affine": draw(st.booleans()), "track_running_stats": draw(st.booleans())}


@volume_only
def layernorm2d(draw: Draw, shape: Shape) -> Candidates:
    chosen = draw(st.sampled_from([{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 1e-6}]))
    return {"type": "layernorm2d", **chosen}


@volume_only
def center_crop(draw: Draw, shape: Shape) -> Candidates:
    return {"type": "center_crop", "size": [draw(st.integers(1, shape[1])), draw(st.integers(1, shape[2]))]}


@volume_only
def channel_shuffle(draw: Draw, shape: Shape) -> Candidates:
    return {"type": "channel_shuffle", "groups": draw(st.sampled_from(divisors(shape[0])))}


@volume_only
def pixel_shuffle(draw: Draw, shape: Shape) -> Candidates:
    factors = [r for r in (2, 3) if shape[0] % (r * r) == 0]
    return (
        {"type": "pixel_shuffle", "upscale_factor": draw(st.sampled_from(factors or [1]))},
        {"type": "pixel_shuffle", "upscale_factor": 1},
    )


@volume_only
def pixel_unshuffle(draw: Draw, shape: Shape) -> Candidates:
    factors = [r for r in (2, 3, 4) if shape[1] % r == 0 and shape[2] % r == 0]
    return {"type": "pixel_unshuffle", "downscale_factor": draw(st.sampled_from(factors or [1]))}


def _sizes(draw: Draw, count: int, volume: bool) -> list[int]:
    """[features], or [C, H, W] holding `count` values; now and then one entry -1 (inferred)."""
    if volume:
        c = draw(st.sampled_from(divisors(count)))
        h = draw(st.sampled_from(divisors(count // c)))
        sizes = [c, h, count // c // h]
    else:
        sizes = [count]
    if draw(st.integers(0, 3)) == 0:
        sizes[draw(st.integers(0, len(sizes) - 1))] = -1
    return sizes


def reshape(draw: Draw, shape: Shape) -> Candidates:
    count = 1
    for side in shape:
        count *= side
    return (
        {"type": "reshape", "shape": _sizes(draw, count, draw(st.booleans()))},
        {"type": "reshape", "shape": list(shape)},
    )


@flat_only
def unflatten(draw: Draw, shape: Shape) -> Candidates:
    return (
        {
            "type": "unflatten",
            "sizes": _sizes(draw, shape[0], draw(st.integers(0, 3)) > 0),
            "dim": draw(st.sampled_from([1, -1])),
        },
        {"type": "unflatten", "sizes": [shape[0]]},
    )


def stochastic_depth(draw: Draw, shape: Shape) -> Candidates:
    return {
        "type": "stochastic_depth",
        "p": draw(st.sampled_from([0.0, 0.2, 0.5])),
        "mode": draw(st.sampled_from(["row", "batch"])),
    }


# -- makers of joins, splits and composites: (draw, writer) -> whether they wrote ----------------------


def join_inputs(draw: Draw, w: Writer, base: Value, count: int, rule: str) -> list[Value]:
    """`base` and `count - 1` other values for an `add` or `mul` that keeps `base`'s shape: each one
    as it is when it broadcasts with the others, else reshaped by layers written now to `base`'s
    shape or to one that broadcasts to it ([C, 1, 1], [1, H, W], ...); a value may come twice."""
    inputs = [base]
    for _ in range(count - 1):
        other = w.pick_other(lambda v: v is not base) or base
        if fits({"type": rule}, [v.shape for v in inputs] + [other.shape]) is None:
            target = base.shape
            if len(target) == 3 and draw(st.integers(0, 3)) == 0:
                c, h, wide = target
                target = draw(st.sampled_from([(c, 1, 1), (1, h, wide), (c, 1, wide), (c, h, 1)]))
            other = w.reshaped(other, target)
            if other is None:
                continue
        inputs.append(other)
    return inputs


def add(draw: Draw, w: Writer) -> bool:
    base = w.pick()
    if base is None:
        return False
    inputs = join_inputs(draw, w, base, draw(st.integers(2, 3)), "add")
    if len(inputs) < 2:
        inputs.append(base)
    outs = shapes_of("add", [v.shape for v in inputs])
    w.append("add", draw(st.permutations(inputs)), outs, join=True)
    return True


def mul(draw: Draw, w: Writer) -> bool:
    """An element-wise product: a squeeze-and-excitation gate ([C, 1, 1]: global pooling, 1x1
    convolutions, sigmoid), a spatial gate ([1, H, W]: channel pooling), or two values of one shape."""
    base = w.pick()
    if base is None:
        return False
    c = base.shape[0]
    style = draw(st.sampled_from(["excite", "spatial", "product"])) if len(base.shape) == 3 else "product"
    if style == "excite":
        squeeze = draw(
            st.sampled_from(["global_avgpool2d", "global_maxpool2d", {"type": "adaptive_avgpool2d", "output_size": 1}])
        )
        gate = w.chain(
            [
                squeeze,
                {"type": "conv2d", "out_channels": draw(st.integers(1, max(1, c // 2))), "kernel_size": 1},
                draw(st.sampled_from(["relu", "silu"])),
                {"type": "conv2d", "out_channels": c, "kernel_size": 1},
                draw(st.sampled_from(["sigmoid", "hardswish"])),
            ],
            base,
        )
    elif style == "spatial":
        gate = w.chain(
            [{"type": draw(st.sampled_from(["channel_avgpool", "channel_maxpool"])), "kernel_size": c}, "sigmoid"], base
        )
    else:
        inputs = join_inputs(draw, w, base, 2, "mul")
        gate = inputs[-1]
    inputs = draw(st.permutations([base, gate]))
    w.append("mul", inputs, shapes_of("mul", [v.shape for v in inputs]), join=True)
    return True


def cat(draw: Draw, w: Writer) -> bool:
    """A join along channels (features), or along H or W where the sizes allow; 1 to 3 inputs,
    reshaped where their other dimensions differ."""
    base = w.pick()
    if base is None:
        return False
    rank = len(base.shape)
    axis = draw(st.sampled_from([0, 0, 1, 2])) if rank == 3 else 0  # in the per-sample shape
    dims = {0: [1, -rank], 1: [2, -2], 2: [3, -1]}[axis]
    room = (MAX_JOINED if axis == 0 else MAX_SIDE) - base.shape[axis]
    inputs = [base]
    for _ in range(draw(st.integers(0, 2))):
        other = w.pick_other(lambda v: v is not base) or base
        if rank == 1:
            size = other.shape[0] if len(other.shape) == 1 else draw(st.integers(1, 4))
        else:
            size = other.shape[axis] if len(other.shape) == 3 else 1
        size = min(size, room)
        if size < 1:
            break
        target = base.shape[:axis] + (size,) + base.shape[axis + 1 :]
        other = w.reshaped(other, target)
        if other is None:
            continue
        inputs.append(other)
        room -= size
    layer = {"type": "cat"}
    dim = draw(st.sampled_from(dims))
    if dim != 1 or draw(st.booleans()):
        layer["dim"] = dim
    w.append(layer, inputs, shapes_of(layer, [v.shape for v in inputs]), join=True)
    return True


def split_of(kind: str) -> Callable[[Draw, Writer], bool]:
    """`chunk` or `split` along an axis of at least 2, its outputs named `name.i` or by `names`."""

    def maker(draw: Draw, w: Writer) -> bool:
        base = w.pick(lambda v: max(v.shape) >= 2)
        if base is None:
            return False
        rank = len(base.shape)
        axes = [a for a in range(rank) if base.shape[a] >= 2]
        axis = draw(st.sampled_from(axes))
        size = base.shape[axis]
        layer: dict[str, Any] = {"type": kind}
        if kind == "chunk":
            layer["chunks"] = draw(st.integers(2, 3))
        elif draw(st.booleans()):
            layer["split_size_or_sections"] = draw(st.integers(1, size - 1))
        else:
            cut = sorted(draw(st.sets(st.integers(1, size - 1), min_size=1, max_size=2)))
            layer["split_size_or_sections"] = [b - a for a, b in zip([0, *cut], [*cut, size])]
        if axis != 0 or draw(st.booleans()):
            layer["dim"] = draw(st.sampled_from([axis + 1, axis - rank]))
        outs = shapes_of(layer, [base.shape])
        if len(outs) > 4:
            return False
        if draw(st.booleans()):
            layer["names"] = [w.fresh_name() for _ in outs]
        w.append(layer, [base], outs)
        return True

    maker.__name__ = kind
    return maker


def _body(draw: Draw, w: Writer, value: Value, longest: int) -> tuple[list[Layer], Value]:
    """A composite's list from `value`, written in its own scope; its layers and output (marked
    channels-last when any value inside is: a join of a channels-last map and another keeps
    strides PyTorch chooses, so the generator assumes the worst)."""
    layers: list[Layer] = []
    nested = w.nested(layers, value)
    with nested as inner:
        inner.write_list(longest)
        out = inner.single_output()
    out.channels_last = any(v.channels_last for entry in nested.scope.entries for v in entry) and len(out.shape) == 3
    return layers, out


def residual(draw: Draw, w: Writer) -> bool:
    value = w.pick(lambda v: not v.copied_by("flatten"))  # its shortcut or a branch may flatten it
    if value is None:
        return False
    shape = value.shape
    if len(shape) == 1:
        body: list[Layer] = [{"type": "linear", "out_features": shape[0]}, draw(st.sampled_from(ACTIVATIONS))]
        w.append({"type": "residual", "body": body}, [value], (shape,))
        return True
    body, made = _body(draw, w, value, 3)
    out = made.shape
    if len(out) != 3:  # a body that flattened: finish it with a classifier-sized linear
        out = (draw(st.integers(1, 8)),)
        body.append({"type": "linear", "out_features": out[0]})
    layer: dict[str, Any] = {"type": "residual", "body": body}
    shortcut = reshaper(shape, out)
    assert shortcut is not None
    if shortcut or draw(st.booleans()):
        layer["shortcut"] = shortcut + (["batchnorm2d"] if len(out) == 3 and draw(st.booleans()) else [])
        if not layer["shortcut"]:
            layer["shortcut"] = ["identity"]
    w.append(layer, [value], (out,), channels_last=made.channels_last or value.channels_last)
    return True


def concat(draw: Draw, w: Writer) -> bool:
    value = w.pick(lambda v: not v.copied_by("flatten"))  # its shortcut or a branch may flatten it
    if value is None:
        return False
    shape = value.shape
    first, made = _body(draw, w, value, 3)
    out = made.shape
    branches, channels, channels_last = [first], out[0], made.channels_last or value.channels_last
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            branch, branch_out = [], shape  # the input itself
        else:
            branch, made = _body(draw, w, value, 2)
            branch_out = made.shape
            if made.copied_by("flatten") and len(out) == 1 and len(branch_out) == 3:
                continue  # its tail would flatten a channels-last map
            channels_last = channels_last or made.channels_last
        if len(out) == 1:  # join flat features: any width, from a flat or flattened branch
            target = branch_out if len(branch_out) == 1 else (draw(st.integers(1, 8)),)
        else:  # join volumes: the first branch's height and width
            if len(branch_out) == 1:
                branch, branch_out = [], shape
                if len(shape) == 1:
                    continue
            target = (branch_out[0], *out[1:])
        tail = reshaper(branch_out, target)
        assert tail is not None
        branches.append(branch + tail)
        channels += target[0]
    w.append({"type": "concat", "branches": branches}, [value], ((channels, *out[1:]),), channels_last=channels_last)
    return True


def sequential(draw: Draw, w: Writer) -> bool:
    value = w.pick()
    if value is None:
        return False
    layers, out = _body(draw, w, value, 3)
    w.append(
        {"type": "sequential", "layers": layers},
        [value],
        (out.shape,),
        view=out.view,
        strided=out.strided,
        channels_last=out.channels_last,
    )
    return True


# -- the registry of makers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """A kind of one input and one output: `make(draw, shape)` gives the layer for an input of
    `shape`, candidates from most to least interesting, or None where the kind does not apply."""

    make: Callable[[Draw, Shape], Candidates]
    weight: int = 1


@dataclass(frozen=True)
class Structure:
    """Joins, splits (`graph`: only in graph specs) and composites (`composite`: not past
    MAX_DEPTH): `make(draw, writer)` writes through the `Writer`, returning whether it did."""

    make: Callable[[Draw, Writer], bool]
    weight: int = 1
    graph: bool = False
    composite: bool = False


MAKERS: dict[str, Union[Leaf, Structure]] = {
    # convolutions
    "conv2d": Leaf(conv2d, 8),
    "conv_transpose2d": Leaf(conv_transpose2d, 2),
    # pooling
    "maxpool2d": Leaf(window_pool("maxpool2d"), 2),
    "avgpool2d": Leaf(window_pool("avgpool2d")),
    "lppool2d": Leaf(window_pool("lppool2d")),
    "adaptive_avgpool2d": Leaf(adaptive("adaptive_avgpool2d")),
    "adaptive_maxpool2d": Leaf(adaptive("adaptive_maxpool2d")),
    "global_avgpool2d": Leaf(plain("global_avgpool2d", volume=True)),
    "global_maxpool2d": Leaf(plain("global_maxpool2d", volume=True)),
    "channel_maxpool": Leaf(channel_pool("channel_maxpool")),
    "channel_avgpool": Leaf(channel_pool("channel_avgpool")),
    # element-wise
    "identity": Leaf(plain("identity")),
    "relu": Leaf(plain("relu", {"inplace": True}), 2),
    "relu6": Leaf(plain("relu6", {"inplace": True})),
    "leaky_relu": Leaf(plain("leaky_relu", {"negative_slope": 0.2}, {"inplace": True})),
    "elu": Leaf(plain("elu", {"alpha": 0.5}, {"inplace": True})),
    "gelu": Leaf(plain("gelu", {"approximate": "tanh"})),
    "silu": Leaf(plain("silu", {"inplace": True})),
    "sigmoid": Leaf(plain("sigmoid")),
    "tanh": Leaf(plain("tanh")),
    "hardswish": Leaf(plain("hardswish", {"inplace": True})),
    "softmax": Leaf(softmax),
    "dropout": Leaf(plain("dropout", {"p": 0.2}, {"p": 0.0}, {"inplace": True})),
    "dropout2d": Leaf(plain("dropout2d", {"p": 0.3}, volume=True)),
    "batchnorm2d": Leaf(
        plain("batchnorm2d", {"affine": False}, {"track_running_stats": False}, {"eps": 0.001}, volume=True), 2
    ),
    "hardsigmoid": Leaf(plain("hardsigmoid", {"inplace": True})),
    "layer_scale": Leaf(plain("layer_scale", {"init_value": 0.5})),
    "stochastic_depth": Leaf(stochastic_depth),
    # normalisations
    "batchnorm1d": Leaf(batchnorm1d),
    "groupnorm": Leaf(groupnorm),
    "instancenorm2d": Leaf(instancenorm2d),
    "layernorm2d": Leaf(layernorm2d),
    # shape changes
    "flatten": Leaf(plain("flatten"), 2),
    "linear": Leaf(linear, 4),
    "zeropad2d": Leaf(zeropad2d),
    "upsample": Leaf(upsample),
    "center_crop": Leaf(center_crop),
    "reshape": Leaf(reshape),
    "unflatten": Leaf(unflatten),
    "channel_shuffle": Leaf(channel_shuffle),
    "pixel_shuffle": Leaf(pixel_shuffle),
    "pixel_unshuffle": Leaf(pixel_unshuffle),
    # joins and splits
    "add": Structure(add, 8, graph=True),
    "mul": Structure(mul, 6, graph=True),
    "cat": Structure(cat, 5, graph=True),
    "chunk": Structure(split_of("chunk"), 4, graph=True),
    "split": Structure(split_of("split"), 4, graph=True),
    # composites
    "residual": Structure(residual, 2, composite=True),
    "concat": Structure(concat, 2, composite=True),
    "sequential": Structure(sequential, 1, composite=True),
}


def _choices(graph: bool, nest: bool) -> list[str]:
    chosen = []
    for kind, maker in MAKERS.items():
        if isinstance(maker, Structure) and (maker.graph and not graph or maker.composite and not nest):
            continue
        chosen += [kind] * maker.weight
    return chosen


CHOICES = {(graph, nest): _choices(graph, nest) for graph in (False, True) for nest in (False, True)}


# -- whole specs ------------------------------------------------------------------------------------


def _input_shape(draw: Draw, flat: bool) -> Shape:
    if flat:
        return (draw(st.integers(1, 16)),)
    return (draw(st.integers(1, 4)), draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, MAX_SIDE)))


@st.composite
def specs_and_outputs(
    draw: Draw, graphs: Optional[bool] = None, flat: bool = True, several_inputs: bool = True
) -> tuple[dict[str, Any], list[Shape]]:
    """A spec's data and the shapes of its outputs. `graphs`: only graphs (True), only chains and
    trees (False), or both (None); `flat`: a flat input now and then; `several_inputs`: now and
    then a spec of several inputs."""
    graph = draw(st.integers(0, 9)) >= 4 if graphs is None else graphs
    count = 2 if graph and several_inputs and draw(st.integers(0, 9)) == 0 else 1
    names = ["image", "extra"][:count] if count > 1 else ["input"]
    inputs = {name: _input_shape(draw, flat and draw(st.integers(0, 9)) == 0) for name in names}
    w = Writer(draw, graph, inputs)
    w.write_list(6)
    data: dict[str, Any] = (
        {"input": list(inputs["input"])} if count == 1 else {"inputs": {k: list(v) for k, v in inputs.items()}}
    )
    data["layers"] = w.top.layers
    last = w.current()
    if last is None or (graph and draw(st.integers(0, 2)) == 0):
        chosen = [last] if last is not None else list(w.scope.entries[-1])
        top = [v for entry in w.top.entries for v in entry if v.uses == 0 and v not in chosen]
        chosen += draw(st.lists(st.sampled_from(top), max_size=2, unique=True)) if top else []
        chosen = draw(st.permutations(chosen))
        data["outputs"] = [w.name_of(v) for v in chosen]
        return data, [v.shape for v in chosen]
    return data, [last.shape]


def specs(
    graphs: Optional[bool] = None, flat: bool = True, several_inputs: bool = True
) -> st.SearchStrategy[dict[str, Any]]:
    """Random valid specs (see `specs_and_outputs`)."""
    return specs_and_outputs(graphs, flat, several_inputs).map(lambda pair: pair[0])


# -- what a spec holds, for the tests that the generator reaches everything ------------------------


def walk(layers: list[Layer]) -> Iterator[tuple[Layer, int]]:
    """Every layer, composites' included, with its nesting depth."""

    def go(layers: list[Layer], depth: int) -> Iterator[tuple[Layer, int]]:
        for layer in layers:
            yield layer, depth
            if isinstance(layer, dict):
                for key in ("body", "layers"):
                    if isinstance(layer.get(key), list):
                        yield from go(layer[key], depth + 1)
                if isinstance(layer.get("shortcut"), list):
                    yield from go(layer["shortcut"], depth + 1)
                for branch in layer.get("branches", []):
                    yield from go(branch, depth + 1)

    return go(layers, 0)


def kinds_in(data: dict[str, Any]) -> set[str]:
    return {kind_of(layer) for layer, _ in walk(data["layers"])}


def features_in(data: dict[str, Any]) -> set[str]:
    """The graph features a spec uses, read from its data and its resolved graph (for the test that
    the generator reaches each)."""
    from oracle import spec_of

    from cnnsize.graph import resolve

    found: set[str] = set()

    def scan(layers: list[Layer], outer: set[str]) -> None:
        own: set[str] = set()
        for layer in layers:
            if not isinstance(layer, dict):
                continue
            raw = layer.get("from")
            for ref in raw if isinstance(raw, list) else [] if raw is None else [raw]:
                if isinstance(ref, int):
                    found.add("negative offset")
                    continue
                base = ref.rsplit(".", 1)[0]
                if ref in outer - own or base in outer - own:
                    found.add("a name from outside the composite")
                if ref != base and base in own | outer:
                    found.add("a split's output as name.i")
                if ref == "input":
                    found.add("input by name")
            if "names" in layer:
                found.add("a split's outputs by names")
            for key in ("body", "layers", "shortcut"):
                if isinstance(layer.get(key), list):
                    scan(layer[key], outer | own)
            for branch in layer.get("branches", []):
                scan(branch, outer | own)
            own.update([layer.get("name", ""), *layer.get("names", [])])

    scan(data["layers"], set())
    graph = resolve(spec_of(data))
    if len(graph.inputs) > 1:
        found.add("several inputs")
    if len(graph.outputs) > 1:
        found.add("several outputs")
    for readers in graph.consumers:
        if sum(graph.nodes[n].layer.kind in ("add", "mul", "cat") for n in readers) > 1:
            found.add("a value read by two joins")
    for node in graph.nodes:
        kind, ins = node.layer.kind, node.in_shapes
        volume = len(ins[0]) == 3
        if kind == "add" and len(ins) == 3:
            found.add("add of three")
        if kind in ("add", "mul") and len(set(ins)) > 1:
            found.add(f"{kind} broadcasting")
        if kind == "mul" and volume and any(s[1:] == (1, 1) and s[0] > 1 for s in ins):
            found.add("mul by a [C, 1, 1] gate")
        if kind == "mul" and volume and any(s[0] == 1 and s[1:] != (1, 1) for s in ins) and len(set(ins)) > 1:
            found.add("mul by a [1, H, W] gate")
        if kind == "cat" and volume and node.layer.dim % 4 in (2, 3):
            found.add("cat along H or W")
        if kind in ("chunk", "split") and volume and node.layer.dim % 4 in (2, 3):
            found.add("split along H or W")
    return found
