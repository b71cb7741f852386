"""A feed-forward network unrolled into a layered graph of neurons.

Every structural layer maps the neurons of its input to the neurons of its output through
sparse, static connections; one connection is an *edge* ``(src, dst)`` with a coefficient:

* ``nn.Linear``: the complete bipartite graph, coefficient ``W[dst, src]``;
* ``nn.Conv2d`` (any stride, padding, dilation, groups): the receptive fields, coefficient the
  kernel entry that links the two neurons (taps that fall on padding have no edge);
* ``nn.AvgPool2d``: the pooling windows, coefficient ``1 / divisor``;
* ``nn.MaxPool2d``: the pooling windows; which edge carries the signal depends on the input
  (the arg-max of each window), so its coefficient is 1 on that edge and 0 elsewhere.

Element-wise modules (activations, dropout, batch-norm is *not* element-wise here) and
reshapes (``nn.Flatten``, ``view``) are transparent: the neurons after them are the neurons
before them. Biases are ignored, as in Gebhart et al. (2019). The vertex set of the network
is the input of the first layer followed by the output of each layer; every edge of every
layer has a *static id* (its position in :attr:`UnrolledNetwork.src`), the same for every
input, which is what lets subgraphs of different inputs be compared edge by edge.

:func:`unroll` traces a model once with an example input (forward hooks on its leaf
modules) and returns an :class:`UnrolledNetwork`; the unrolled matrix of a layer times its
flattened input equals its flattened output, which the tests check against ``F.conv2d`` and
``F.avg_pool2d``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..exceptions import InvalidInputError, MemoryBudgetError, ShapeError

__all__ = [
    "LayerEdges",
    "UnrolledNetwork",
    "conv2d_edges",
    "linear_edges",
    "pool2d_edges",
    "unroll",
]

#: refuse to unroll a layer with more static edges than this (about 24 bytes per edge)
DEFAULT_MAX_EDGES = 50_000_000

_STRUCTURAL = ("Linear", "Conv2d", "MaxPool2d", "AvgPool2d")
# modules that are transparent: the neurons after them are the neurons before them
_TRANSPARENT = (
    "ReLU", "LeakyReLU", "ReLU6", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid",
    "Tanh", "Hardtanh", "Hardsigmoid", "Hardswish", "Softplus", "Softsign", "Tanhshrink",
    "LogSigmoid", "PReLU", "Identity", "Dropout", "Dropout1d", "Dropout2d", "AlphaDropout",
    "Flatten", "Unflatten", "Softmax", "LogSoftmax",
)


@dataclass(frozen=True)
class LayerEdges:
    """The static edges of one layer.

    Attributes
    ----------
    name : str
        The module's name in the model.
    kind : {"linear", "conv2d", "maxpool2d", "avgpool2d"}
    in_shape, out_shape : tuple of int
        Shapes of one input and one output, without the batch axis.
    src, dst : int64 ndarray of shape (n_edges,)
        Flat neuron indices within the layer's input and output.
    coef : float32 ndarray of shape (n_edges,)
        The coefficient of each edge (``W`` entry, ``1/divisor``, or 1 for max pooling).
    weight_index : int64 ndarray or None
        For Linear and Conv2d, the flat index into ``module.weight`` of each edge's coefficient.
    tap_to_edge : int64 ndarray or None
        For max pooling: edge id (within the layer, -1 for padding) of every window tap laid
        out as ``(channel, kh, kw, out_h, out_w)``.
    module : torch.nn.Module or None
    """

    name: str
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    src: np.ndarray
    dst: np.ndarray
    coef: np.ndarray
    weight_index: np.ndarray | None = None
    tap_to_edge: np.ndarray | None = None
    module: Any = field(default=None, repr=False, compare=False)

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def n_edges(self) -> int:
        return int(self.src.size)

    def matrix(self) -> Any:
        """The unrolled layer as a ``scipy.sparse`` matrix of shape (n_out, n_in)."""
        from scipy import sparse

        return sparse.csr_matrix((self.coef.astype(np.float64), (self.dst, self.src)),
                                 shape=(self.n_out, self.n_in))


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _check_budget(n: int, name: str, max_edges: int) -> None:
    if n > max_edges:
        raise MemoryBudgetError(
            f"layer {name!r} unrolls to {n:,} edges, more than max_edges={max_edges:,} "
            f"(about {24 * n / 2**30:.1f} GiB); use a smaller input or raise max_edges."
        )


def linear_edges(weight: np.ndarray, *, name: str = "linear", max_edges: int = DEFAULT_MAX_EDGES) -> LayerEdges:
    """Edges of a fully connected layer with weight matrix (n_out, n_in)."""
    w = np.asarray(weight)
    if w.ndim != 2 or 0 in w.shape:
        raise ShapeError(f"layer {name!r}: weight must be a non-empty (out, in) matrix; got shape {w.shape}.")
    n_out, n_in = w.shape
    _check_budget(w.size, name, max_edges)
    dst = np.repeat(np.arange(n_out, dtype=np.int64), n_in)
    src = np.tile(np.arange(n_in, dtype=np.int64), n_out)
    return LayerEdges(name, "linear", (n_in,), (n_out,), src, dst,
                      w.reshape(-1).astype(np.float32), np.arange(w.size, dtype=np.int64))


def _window_grid(in_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int], dilation: tuple[int, int]
                 ) -> tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray]:
    """Input row/col of every tap ``(kh, kw, out_h, out_w)`` and whether it is inside."""
    h, w = in_hw
    oh = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    if oh < 1 or ow < 1:
        raise ShapeError(f"a {kernel} window does not fit an input of size {in_hw} with padding {padding}.")
    a = np.arange(kernel[0])[:, None, None, None]
    b = np.arange(kernel[1])[None, :, None, None]
    r = np.arange(oh)[None, None, :, None]
    c = np.arange(ow)[None, None, None, :]
    ih = r * stride[0] - padding[0] + a * dilation[0]
    iw = c * stride[1] - padding[1] + b * dilation[1]
    ih, iw = np.broadcast_arrays(ih, iw)
    inside = (ih >= 0) & (ih < h) & (iw >= 0) & (iw < w)
    return (oh, ow), ih, iw, inside


def conv2d_edges(weight: np.ndarray, in_shape: tuple[int, int, int], *, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, name: str = "conv2d",
                 max_edges: int = DEFAULT_MAX_EDGES) -> LayerEdges:
    """Edges of a 2-D convolution with kernel ``weight`` (C_out, C_in/groups, kh, kw).

    Parameters
    ----------
    weight : ndarray
    in_shape : (C_in, H, W)
        One input, without the batch axis.
    stride, padding, dilation, groups
        As in ``torch.nn.Conv2d`` (zero padding; ``padding`` given as numbers).
    """
    wt = np.asarray(weight)
    if wt.ndim != 4:
        raise ShapeError(f"layer {name!r}: a Conv2d kernel has 4 axes (out, in/groups, kh, kw); got shape {wt.shape}.")
    c_out, cin_g, kh, kw = wt.shape
    if len(in_shape) != 3 or in_shape[0] != cin_g * groups:
        raise ShapeError(
            f"layer {name!r}: expects inputs of shape ({cin_g * groups}, H, W); got {tuple(in_shape)}."
        )
    c_in, h, w = (int(s) for s in in_shape)
    (oh, ow), ih, iw, inside = _window_grid((h, w), (kh, kw), _pair(stride), _pair(padding), _pair(dilation))
    _check_budget(c_out * cin_g * int(inside.sum()), name, max_edges)
    # taps inside the image, flattened over (kh, kw, out_h, out_w)
    tap = np.flatnonzero(inside.reshape(-1))
    a_idx, b_idx, pos = np.unravel_index(tap, (kh, kw, oh * ow))
    pix = (ih.reshape(-1)[tap] * w + iw.reshape(-1)[tap]).astype(np.int64)
    o = np.arange(c_out, dtype=np.int64)[:, None, None]
    cl = np.arange(cin_g, dtype=np.int64)[None, :, None]
    c = (o // (c_out // groups)) * cin_g + cl  # input channel of (o, cl)
    src = (c * (h * w) + pix[None, None, :])
    dst = np.broadcast_to(o * (oh * ow) + pos[None, None, :], src.shape)
    widx = ((o * cin_g + cl) * kh + a_idx[None, None, :]) * kw + b_idx[None, None, :]
    widx = np.broadcast_to(widx, src.shape).reshape(-1)
    return LayerEdges(name, "conv2d", (c_in, h, w), (c_out, oh, ow), src.reshape(-1), dst.reshape(-1).copy(),
                      wt.reshape(-1)[widx].astype(np.float32), widx.astype(np.int64))


def pool2d_edges(kind: str, in_shape: tuple[int, int, int], kernel_size: Any, *, stride: Any = None,
                 padding: Any = 0, dilation: Any = 1, count_include_pad: bool = True,
                 divisor_override: int | None = None, name: str = "pool",
                 max_edges: int = DEFAULT_MAX_EDGES) -> LayerEdges:
    """Edges of a 2-D max or average pooling layer (``kind`` "maxpool2d" or "avgpool2d")."""
    if kind not in ("maxpool2d", "avgpool2d"):
        raise InvalidInputError(f"kind must be 'maxpool2d' or 'avgpool2d'; got {kind!r}.")
    if len(in_shape) != 3:
        raise ShapeError(f"layer {name!r}: pooling expects inputs (C, H, W); got {tuple(in_shape)}.")
    c_in, h, w = (int(s) for s in in_shape)
    k = _pair(kernel_size)
    s = _pair(stride if stride is not None else kernel_size)
    p = _pair(padding)
    (oh, ow), ih, iw, inside = _window_grid((h, w), k, s, p, _pair(dilation))
    n_taps = inside.size
    _check_budget(c_in * int(inside.sum()), name, max_edges)
    tap = np.flatnonzero(inside.reshape(-1))
    _, _, pos = np.unravel_index(tap, (k[0], k[1], oh * ow))
    pix = (ih.reshape(-1)[tap] * w + iw.reshape(-1)[tap]).astype(np.int64)
    ch = np.arange(c_in, dtype=np.int64)[:, None]
    src = (ch * (h * w) + pix[None, :]).reshape(-1)
    dst = (ch * (oh * ow) + pos[None, :]).reshape(-1)
    if kind == "maxpool2d":
        coef = np.ones(src.size, dtype=np.float32)
        tap_to_edge = np.full((c_in, n_taps), -1, dtype=np.int64)
        tap_to_edge[:, tap] = np.arange(src.size, dtype=np.int64).reshape(c_in, tap.size)
        return LayerEdges(name, kind, (c_in, h, w), (c_in, oh, ow), src, dst, coef,
                          tap_to_edge=tap_to_edge.reshape(-1))
    if divisor_override:
        div = np.full(oh * ow, float(divisor_override))
    elif count_include_pad:
        # torch counts padded taps but not taps beyond the padded border (ceil_mode only)
        div = np.full(oh * ow, float(k[0] * k[1]))
    else:
        div = inside.reshape(k[0] * k[1], oh * ow).sum(axis=0).astype(np.float64)
    coef = np.tile((1.0 / div)[pos], c_in).astype(np.float32)
    return LayerEdges(name, kind, (c_in, h, w), (c_in, oh, ow), src, dst, coef)


@dataclass(frozen=True)
class UnrolledNetwork:
    """A chain network unrolled into layers of static edges (see the module docstring).

    Attributes
    ----------
    layers : list of LayerEdges
    input_shape : tuple of int
        Shape of one model input, without the batch axis.
    offsets : int64 ndarray of shape (n_layers + 1,)
        ``offsets[k]`` is the first global vertex id of the neurons *entering* layer ``k``;
        ``offsets[-1]`` is the first id of the last layer's outputs.
    edge_offsets : int64 ndarray of shape (n_layers + 1,)
        The static ids of layer ``k``'s edges are ``edge_offsets[k]:edge_offsets[k + 1]``.
    """

    layers: list[LayerEdges]
    input_shape: tuple[int, ...]
    offsets: np.ndarray
    edge_offsets: np.ndarray
    model: Any = field(default=None, repr=False, compare=False)

    @property
    def n_vertices(self) -> int:
        return int(self.offsets[-1] + self.layers[-1].n_out)

    @property
    def n_edges(self) -> int:
        return int(self.edge_offsets[-1])

    @property
    def layer_names(self) -> list[str]:
        return [lay.name for lay in self.layers]

    def edge_endpoints(self) -> tuple[np.ndarray, np.ndarray]:
        """Global vertex ids ``(u, v)`` of every static edge (u in the earlier layer)."""
        u = np.concatenate([lay.src + self.offsets[k] for k, lay in enumerate(self.layers)])
        v = np.concatenate([lay.dst + self.offsets[k + 1] for k, lay in enumerate(self.layers)])
        return u, v

    def edge_layer(self, edge_ids: np.ndarray) -> np.ndarray:
        """Index of the layer each static edge id belongs to."""
        return np.searchsorted(self.edge_offsets, np.asarray(edge_ids), side="right") - 1

    def vertex_layer(self, vertex_ids: np.ndarray) -> np.ndarray:
        """Depth of each global vertex id: 0 for the input, ``k + 1`` for layer ``k``'s outputs."""
        return np.searchsorted(self.offsets, np.asarray(vertex_ids), side="right") - 1

    def vertex_shapes(self) -> list[tuple[int, ...]]:
        """Shape of each vertex group (the input, then each layer's output)."""
        return [self.layers[0].in_shape] + [lay.out_shape for lay in self.layers]

    def describe(self) -> list[dict[str, Any]]:
        """One row per layer: name, kind, shapes and number of edges."""
        return [{"layer": lay.name, "kind": lay.kind, "in": list(lay.in_shape), "out": list(lay.out_shape),
                 "edges": lay.n_edges} for lay in self.layers]


def _module_kind(m: Any) -> str | None:
    name = type(m).__name__
    return name if name in _STRUCTURAL else None


def unroll(model: Any, input_shape: tuple[int, ...], *, max_edges: int = DEFAULT_MAX_EDGES) -> UnrolledNetwork:
    """Trace ``model`` on one zero input of ``input_shape`` and unroll its structural layers.

    Parameters
    ----------
    model : torch.nn.Module
        A chain of Linear / Conv2d / MaxPool2d / AvgPool2d layers with element-wise modules or
        functions and reshapes between them (residual or branching networks are refused).
    input_shape : tuple of int
        Shape of one input without the batch axis, e.g. ``(1, 28, 28)``.
    max_edges : int
        Refuse layers with more static edges than this.

    Raises
    ------
    InvalidInputError
        No structural layer, a layer with parameters that is not supported (e.g. BatchNorm),
        a structural layer called twice, or neurons that do not chain from one layer to the next.
    """
    import torch
    from torch import nn

    if not isinstance(model, nn.Module):
        raise InvalidInputError(f"expected a torch.nn.Module, found {type(model).__name__}.")
    shape = tuple(int(s) for s in input_shape)
    if not shape or min(shape) < 1:
        raise ShapeError(f"input_shape must be a non-empty tuple of positive sizes (no batch axis); got {input_shape!r}.")
    unsupported = sorted({type(m).__name__ for m in model.modules()
                          if not list(m.children()) and _module_kind(m) is None
                          and type(m).__name__ not in _TRANSPARENT
                          and (any(True for _ in m.parameters(recurse=False)) or "Norm" in type(m).__name__)})
    if unsupported:
        raise InvalidInputError(
            f"the model has layers with weights that cannot be unrolled: {', '.join(unsupported)}. "
            "Supported: Linear, Conv2d, MaxPool2d, AvgPool2d, with element-wise activations and "
            "reshapes between them (fold batch-norm into the preceding layer first)."
        )
    calls: list[tuple[str, Any, tuple[int, ...], tuple[int, ...]]] = []
    hooks = []
    for name, m in model.named_modules():
        if _module_kind(m) is not None:
            def hook(mod: Any, inp: Any, out: Any, name: str = name) -> None:
                calls.append((name, mod, tuple(inp[0].shape[1:]), tuple(out.shape[1:])))
            hooks.append(m.register_forward_hook(hook))
    try:
        p = next(iter(model.parameters()), None)
        x = torch.zeros((1, *shape), dtype=p.dtype if p is not None else torch.float32,
                        device=p.device if p is not None else "cpu")
        with torch.no_grad():
            model(x)
    except RuntimeError as exc:
        raise ShapeError(f"the model failed on one input of shape {shape}: {exc}. Pass the shape of one "
                         "input without the batch axis, e.g. (1, 28, 28).") from exc
    finally:
        for h in hooks:
            h.remove()
    if not calls:
        raise InvalidInputError(
            f"{type(model).__name__} ran no Linear, Conv2d, MaxPool2d or AvgPool2d layer on an "
            f"input of shape {shape}; there is no weighted graph to unroll."
        )
    names = [c[0] for c in calls]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidInputError(f"layer(s) {', '.join(dup)} ran more than once in one forward pass; "
                                "weight sharing across positions in the chain cannot be unrolled.")
    layers: list[LayerEdges] = []
    for k, (name, m, ishape, oshape) in enumerate(calls):
        n_in = int(np.prod(ishape))
        if k and n_in != layers[-1].n_out:
            raise InvalidInputError(
                f"layer {name!r} takes {n_in} neurons but the previous layer {layers[-1].name!r} gives "
                f"{layers[-1].n_out}; only chains of layers (no skips, no concatenation) can be unrolled."
            )
        if k == 0 and n_in != int(np.prod(shape)):
            raise InvalidInputError(
                f"the first layer {name!r} sees {n_in} values but the input has {int(np.prod(shape))}; "
                "the model transforms its input before the first layer in a way that cannot be unrolled."
            )
        kind = type(m).__name__
        if kind == "Linear":
            lay = linear_edges(m.weight.detach().cpu().numpy(), name=name, max_edges=max_edges)
        elif kind == "Conv2d":
            if m.padding_mode != "zeros" or isinstance(m.padding, str):
                pad = m._reversed_padding_repeated_twice if isinstance(m.padding, str) else None
                if m.padding_mode != "zeros" or pad is None or pad[0] != pad[1] or pad[2] != pad[3]:
                    raise InvalidInputError(f"layer {name!r}: only symmetric zero padding can be unrolled.")
                padding = (pad[2], pad[0])
            else:
                padding = m.padding
            lay = conv2d_edges(m.weight.detach().cpu().numpy(), ishape[-3:], stride=m.stride, padding=padding,
                               dilation=m.dilation, groups=m.groups, name=name, max_edges=max_edges)
        else:
            if getattr(m, "ceil_mode", False):
                raise InvalidInputError(f"layer {name!r}: ceil_mode=True pooling is not supported.")
            if len(ishape) != 3:
                raise ShapeError(f"layer {name!r}: pooling inputs must be (C, H, W) per sample; got {ishape}.")
            kw = {}
            if kind == "AvgPool2d":
                kw = {"count_include_pad": m.count_include_pad, "divisor_override": m.divisor_override}
            else:
                kw = {"dilation": m.dilation}
            lay = pool2d_edges(kind.lower(), ishape, m.kernel_size, stride=m.stride, padding=m.padding,
                               name=name, max_edges=max_edges, **kw)
        if lay.out_shape != tuple(oshape[-len(lay.out_shape):]) or lay.n_out != int(np.prod(oshape)):
            raise ShapeError(f"layer {name!r}: unrolled output shape {lay.out_shape} differs from the traced {oshape}.")
        layers.append(LayerEdges(lay.name, lay.kind, lay.in_shape, lay.out_shape, lay.src, lay.dst, lay.coef,
                                 lay.weight_index, lay.tap_to_edge, module=m))
    offsets = np.cumsum([0] + [lay.n_in for lay in layers]).astype(np.int64)
    edge_offsets = np.cumsum([0] + [lay.n_edges for lay in layers]).astype(np.int64)
    return UnrolledNetwork(layers, shape, offsets, edge_offsets, model)
