"""Neural persistence (Rieck et al., "Neural Persistence", ICLR 2019).

Each layer is a bipartite graph between its input and output neurons. Weights are normalised
by the largest ``|w|`` over *all* layers considered, ``w' = |w| / max |w|`` in [0, 1]. Every
vertex enters the (superlevel) filtration at 1 and an edge at its normalised weight, in
descending order; H0 of that filtration pairs each merge with a component born at 1, so the
finite lifetimes are ``1 - w'`` over the edges of a *maximum* spanning tree (a maximum
spanning forest when the graph is not connected). Then

* ``NP_p(layer) = (sum lifetimes^p)^(1/p)`` (p = 2 by default),
* normalised ``NP_p / (n - 1)^(1/p)`` with ``n`` the layer's vertices (the largest possible
  value: every lifetime 1); for a forest, its number of edges replaces ``n - 1``,
* and the network's mean normalised NP over its layers.

**Fully connected layers.** An ``nn.Linear`` layer with weight ``W`` (out, in) is the
complete bipartite graph, edge (input i, output j) of weight ``|W[j, i]|``. The spanning tree
comes from Prim's algorithm on the bipartite graph directly (no dense ``n x n`` matrix, one
vectorised update per added vertex), so an MLP 784-650-650-10 takes tens of milliseconds.

**Convolutional layers** (the ``conv`` argument). An ``nn.Conv2d`` layer with kernel ``K``
(C_out, C_in, kh, kw) is read in one of three ways:

``conv="kernel"`` (default; an approximation, independent of the input size)
    The bipartite graph of **one output position**: the complete bipartite graph between
    the ``C_in * kh * kw`` inputs of a receptive field and the ``C_out`` outputs at that
    position, i.e. ``K`` reshaped to (C_out, C_in * kh * kw) and treated exactly like a
    Linear weight. Because of weight sharing, every output position away from the padding
    has this same graph, which makes it the natural per-position summary of the layer.
    Stride, padding and dilation do not change it; grouped convolutions (``groups > 1``)
    are refused, since a position's graph is then a union of disjoint blocks.

    This is **our** approximation, not the paper's. Rieck et al. note that their
    approximation for CNNs exploits that every output neuron shares the weights of its
    filter, and give it as a closed form (their Algorithm 3); we could not reproduce that
    closed form from the sources available to us, so we do not claim to match its values.

``conv="unrolled"`` (exact; needs ``input_shape``)
    The layer's full unrolled bipartite graph for inputs of ``input_shape``: ``C_in * H * W``
    input and ``C_out * H' * W'`` output neurons, one edge per (output neuron, kernel tap that
    falls inside the image) with weight ``|K[o, c, a, b]| / max |w|``, built by
    :func:`topolens.graphs.unroll.unroll`. The lifetimes are ``1 - w'`` over a maximum
    spanning forest (``scipy.sparse.csgraph.minimum_spanning_tree`` on the cost ``2 - w'``,
    strictly positive so that no edge is mistaken for a missing one); vertices without an
    edge (pixels that no window reaches) are left out, and the normalisation divides by the
    forest's number of edges (``n - 1`` when the graph is connected).

    How the two relate: the unrolled graph is ``H' * W'`` copies of the kernel graph (fewer
    edges at the border when there is padding), glued together along the input pixels
    that neighbouring windows share. When the output is a single position and no tap falls
    on padding (e.g. a kernel as large as its input), the two graphs and hence the two
    values are identical. Otherwise they differ: the unrolled graph has ``H' * W'`` times
    as many edges (fewer with padding) and correspondingly more vertices, and its value
    depends on the input size, stride, padding and dilation, none of which the kernel mode
    sees. ``benchmarks/bench_np_regularization.py --conv-only`` measures the difference on
    a trained CNN.

``conv="skip"``
    Conv2d layers are ignored (the behaviour of earlier versions); only Linear layers count,
    and only their weights enter the global normalisation.

In the kernel and unrolled modes the global maximum ``max |w|`` is taken over the Linear and
Conv2d weights together. Biases are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import _nonfinite_report, _to_numpy
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError

__all__ = [
    "CONV_MODES",
    "NeuralPersistence",
    "NeuralPersistenceMonitor",
    "max_spanning_forest_lifetimes",
    "max_spanning_lifetimes",
    "neural_persistence",
]

#: accepted values of the ``conv`` argument
CONV_MODES = ("kernel", "unrolled", "skip")


def max_spanning_lifetimes(a: np.ndarray) -> np.ndarray:
    """Lifetimes ``1 - w'`` of the edges of a maximum spanning tree of a complete bipartite graph.

    Parameters
    ----------
    a : ndarray of shape (n_out, n_in)
        Normalised weights in [0, 1]: edge (input i, output j) has weight ``a[j, i]``.

    Returns
    -------
    ndarray of shape (n_in + n_out - 1,)
        The H0 lifetimes of the layer's superlevel filtration, in the order Prim finds them.
    """
    n_out, n_in = a.shape
    # Prim on lifetimes (a minimum spanning tree of 1 - w' is a maximum one of w'). A vertex that
    # joins the tree gets +inf in its row/column of `life`, so the running minima never pick it
    # again and the updates need no mask.
    life = 1.0 - np.asarray(a, dtype=np.float64)
    n = n_in + n_out
    out = np.empty(n - 1)
    best_out = life[:, 0].copy()  # start from input 0
    life[:, 0] = np.inf
    best_in = np.full(n_in, np.inf)
    for k in range(n - 1):
        j_out = int(np.argmin(best_out))
        j_in = int(np.argmin(best_in))
        if best_out[j_out] <= best_in[j_in]:
            out[k] = best_out[j_out]
            best_out[j_out] = np.inf
            np.minimum(best_in, life[j_out], out=best_in)
            life[j_out] = np.inf
        else:
            out[k] = best_in[j_in]
            best_in[j_in] = np.inf
            np.minimum(best_out, life[:, j_in], out=best_out)
            life[:, j_in] = np.inf
    return out


def max_spanning_forest_lifetimes(src: np.ndarray, dst: np.ndarray, weight: np.ndarray,
                                  n_in: int, n_out: int) -> np.ndarray:
    """Lifetimes ``1 - w'`` of the edges of a maximum spanning forest of a sparse bipartite graph.

    Parameters
    ----------
    src, dst : int ndarray of shape (n_edges,)
        Input neuron (``0 <= src < n_in``) and output neuron (``0 <= dst < n_out``) of each edge.
    weight : ndarray of shape (n_edges,)
        Normalised edge weights in [0, 1]. An edge listed several times counts once, with its
        largest weight.
    n_in, n_out : int
        Number of input and output neurons. Neurons without an edge are left out.

    Returns
    -------
    ndarray of shape (n_forest_edges,)
        The finite H0 lifetimes; ``n_forest_edges`` is the number of neurons with an edge minus
        the number of connected components (``n_in + n_out - 1`` for a connected graph).

    Raises
    ------
    ShapeError
        If ``src``, ``dst`` and ``weight`` are not 1-D arrays of one length.
    InvalidInputError
        If an index is out of range or a weight lies outside [0, 1].
    """
    from scipy import sparse
    from scipy.sparse.csgraph import minimum_spanning_tree

    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    w = np.asarray(weight, dtype=np.float64)
    if src.ndim != 1 or src.shape != dst.shape or src.shape != w.shape:
        raise ShapeError(
            f"src, dst and weight must be 1-D arrays of one length; got shapes {src.shape}, "
            f"{dst.shape} and {w.shape}. Pass one entry per edge."
        )
    if src.size == 0:
        return np.empty(0)
    if src.min() < 0 or src.max() >= n_in or dst.min() < 0 or dst.max() >= n_out:
        raise InvalidInputError(
            f"edge endpoints out of range: src spans [{src.min()}, {src.max()}] for n_in={n_in}, "
            f"dst spans [{dst.min()}, {dst.max()}] for n_out={n_out}; indices must be 0-based "
            "neuron indices within the layer's input and output."
        )
    if not (np.isfinite(w).all() and w.min() >= 0.0 and w.max() <= 1.0):
        raise InvalidInputError(
            f"weights must be normalised to [0, 1]; got values in [{np.nanmin(w)}, {np.nanmax(w)}]. "
            "Divide |w| by the largest |w| first."
        )
    # keep the heaviest copy of every (src, dst) pair: coo -> csr would otherwise add them up
    key = src * n_out + dst
    order = np.lexsort((-w, key))
    first = np.ones(order.size, dtype=bool)
    first[1:] = key[order[1:]] != key[order[:-1]]
    keep = order[first]
    # A minimum spanning forest of the cost 2 - w' is a maximum one of w'. The cost lies in
    # [1, 2]: strictly positive, because scipy reads a stored zero as "no edge".
    n = n_in + n_out
    g = sparse.csr_matrix((2.0 - w[keep], (src[keep], n_in + dst[keep])), shape=(n, n))
    forest = minimum_spanning_tree(g)
    return np.clip(forest.data - 1.0, 0.0, 1.0)


@dataclass(frozen=True)
class NeuralPersistence:
    """Neural persistence of a network.

    Attributes
    ----------
    layers : list of str
    values : ndarray
        NP_p of each layer.
    normalized : ndarray
        NP_p / (n - 1)^(1/p) of each layer, in [0, 1] (for an unrolled convolution whose
        graph is not connected, the forest's number of edges replaces ``n - 1``).
    p : float
    kinds : list of str or None
        How each layer was read: ``"linear"``, ``"conv2d-kernel"`` or ``"conv2d-unrolled"``
        (None for results built without it).
    """

    layers: list[str]
    values: np.ndarray
    normalized: np.ndarray
    p: float
    kinds: list[str] | None = field(default=None)

    @property
    def mean_normalized(self) -> float:
        """Mean normalised NP over the layers (the paper's summary)."""
        return float(self.normalized.mean())

    def rows(self) -> list[dict[str, Any]]:
        """One dict per layer, for tables (with a ``"kind"`` entry when :attr:`kinds` is set)."""
        kinds = self.kinds if self.kinds is not None else [None] * len(self.layers)
        out = []
        for n, k, v, z in zip(self.layers, kinds, self.values, self.normalized, strict=True):
            row: dict[str, Any] = {"layer": n}
            if k is not None:
                row["kind"] = k
            row.update({"NP": float(v), "normalized NP": float(z)})
            out.append(row)
        return out


@dataclass
class _Layer:
    name: str
    kind: str  # "linear" or "conv2d"
    weight: np.ndarray  # float64, (out, in) or (out, in, kh, kw)
    module: Any = None


def _check_conv(conv: Any) -> str:
    if not isinstance(conv, str) or conv not in CONV_MODES:
        raise InvalidInputError(
            f"conv must be one of {', '.join(repr(c) for c in CONV_MODES)}; got {conv!r}. Use "
            "'kernel' (per-position approximation), 'unrolled' (exact, needs input_shape) or "
            "'skip' (ignore Conv2d layers)."
        )
    return conv


def _layers_of_arrays(model: Sequence[Any], conv: str) -> list[_Layer]:
    out = []
    for k, w in enumerate(model):
        a = np.asarray(_to_numpy(w), dtype=np.float64)
        name = f"layer{k}"
        if a.ndim == 4 and 0 not in a.shape:
            if conv == "skip":
                continue
            if conv == "unrolled":
                raise InvalidInputError(
                    f"layer {name}: a 4-D kernel {a.shape} given as an array can only be read with "
                    "conv='kernel'; its unrolled graph needs the input size, stride and padding. "
                    "Pass the torch model with input_shape=... for conv='unrolled'."
                )
            out.append(_Layer(name, "conv2d", a))
        elif a.ndim == 2 and 0 not in a.shape:
            out.append(_Layer(name, "linear", a))
        else:
            raise InvalidInputError(
                f"layer {name}: weights must be a non-empty 2-D (out, in) matrix or a 4-D "
                f"(out, in, kh, kw) convolution kernel; got shape {a.shape}."
            )
    if not out:
        raise InvalidInputError(
            "no weight matrices given" + (" (conv='skip' dropped the 4-D kernels)" if len(model) else "")
            + "; pass at least one (out, in) array."
        )
    return out


def _layers_of_module(model: Any, conv: str) -> list[_Layer]:
    from torch import nn

    if not isinstance(model, nn.Module):
        raise InvalidInputError(
            f"expected a torch.nn.Module or a list of weight arrays, found {type(model).__name__}."
        )
    out, n_conv = [], 0
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            out.append(_Layer(name, "linear", m.weight.detach().cpu().double().numpy(), m))
        elif isinstance(m, nn.Conv2d):
            n_conv += 1
            if conv == "skip":
                continue
            if conv == "kernel" and m.groups != 1:
                raise InvalidInputError(
                    f"layer {name!r}: a grouped convolution (groups={m.groups}) has no single "
                    "complete bipartite kernel graph, which conv='kernel' needs (groups=1). Use "
                    "conv='unrolled' with input_shape=... for the exact graph, or conv='skip'."
                )
            out.append(_Layer(name, "conv2d", m.weight.detach().cpu().double().numpy(), m))
    if not out:
        kinds = sorted({type(m).__name__ for m in model.modules()} - {type(model).__name__})
        if n_conv:
            raise InvalidInputError(
                f"{type(model).__name__} has no nn.Linear layer and conv='skip' ignores its "
                f"{n_conv} nn.Conv2d layer(s); use conv='kernel' or conv='unrolled' to include them."
            )
        raise InvalidInputError(
            f"{type(model).__name__} has no nn.Linear or nn.Conv2d layer (it has: "
            f"{', '.join(kinds) or 'none'}); neural persistence is computed on fully connected and "
            "convolutional layers. Pass the weight matrices yourself to analyse other layers."
        )
    return out


def _unrolled_edges(model: Any, layers: list[_Layer], input_shape: Any) -> dict[str, Any]:
    """LayerEdges of every Conv2d layer, by name, from one trace of the model."""
    from .unroll import unroll

    convs = [lay.name for lay in layers if lay.kind == "conv2d"]
    if input_shape is None:
        raise InvalidInputError(
            f"conv='unrolled' needs input_shape, the shape of one input without the batch axis "
            f"(e.g. (1, 28, 28)), to build the full graph of the Conv2d layer(s) {', '.join(convs)}; "
            "got None. Pass input_shape=..., or use conv='kernel' (input-size free)."
        )
    try:
        net = unroll(model, tuple(input_shape))
    except (InvalidInputError, ShapeError) as exc:
        raise type(exc)(
            f"conv='unrolled' could not unroll {type(model).__name__} for input_shape "
            f"{tuple(input_shape)}: {exc} Use conv='kernel' for models that cannot be unrolled."
        ) from exc
    found = {lay.name: lay for lay in net.layers if lay.kind == "conv2d"}
    missing = [n for n in convs if n not in found]
    if missing:
        raise InvalidInputError(
            f"the Conv2d layer(s) {', '.join(missing)} did not run on an input of shape "
            f"{tuple(input_shape)}, so they have no unrolled graph; check input_shape, or use "
            "conv='kernel'."
        )
    return found


def neural_persistence(model: Any, *, p: float = 2.0, conv: str = "kernel",
                       input_shape: tuple[int, ...] | None = None) -> NeuralPersistence:
    """Neural persistence of every fully connected and convolutional layer (Rieck et al. 2019).

    Parameters
    ----------
    model : torch.nn.Module or sequence of arrays
        A network (its ``nn.Linear`` and ``nn.Conv2d`` layers, in module order) or weight
        arrays: 2-D (out, in) matrices and, for ``conv="kernel"``, 4-D (out, in, kh, kw)
        convolution kernels.
    p : float, default 2
        The norm of the lifetimes.
    conv : {"kernel", "unrolled", "skip"}, default "kernel"
        How Conv2d layers are read (see the module docstring): the graph of one output
        position (an approximation), the full unrolled graph (exact, needs ``input_shape``),
        or not at all.
    input_shape : tuple of int, optional
        Shape of one input without the batch axis, e.g. ``(1, 28, 28)``; needed by
        ``conv="unrolled"`` when the model has a Conv2d layer, ignored otherwise.

    Returns
    -------
    NeuralPersistence

    Raises
    ------
    InvalidInputError
        No Linear or Conv2d layer, a bad ``p`` or ``conv``, all-zero weights, a grouped
        convolution with ``conv="kernel"``, ``conv="unrolled"`` without ``input_shape`` or on
        a model that cannot be unrolled.
    NonFiniteError
        Weights with NaN or infinite values.
    """
    conv = _check_conv(conv)
    p = float(p)
    if not p > 0:
        raise InvalidInputError(f"p must be > 0; got {p}.")
    if isinstance(model, Sequence) and not isinstance(model, str):
        layers = _layers_of_arrays(model, conv)
    else:
        layers = _layers_of_module(model, conv)
    for lay in layers:
        if not np.isfinite(lay.weight).all():
            raise NonFiniteError(
                f"layer {lay.name}: weights contain {_nonfinite_report(lay.weight)}; neural "
                "persistence needs finite weights."
            )
    top = max(float(np.abs(lay.weight).max()) for lay in layers)
    if top == 0.0:
        raise InvalidInputError(
            "every weight is zero, so the normalisation by the largest |w| is undefined; train or "
            "initialise the network first."
        )
    edges = {}
    if conv == "unrolled" and any(lay.kind == "conv2d" for lay in layers):
        edges = _unrolled_edges(model, layers, input_shape)
    values, normalized, kinds = [], [], []
    for lay in layers:
        a = np.abs(lay.weight) / top
        if lay.kind == "linear":
            life = max_spanning_lifetimes(a)
            kinds.append("linear")
        elif conv == "kernel":
            life = max_spanning_lifetimes(a.reshape(a.shape[0], -1))
            kinds.append("conv2d-kernel")
        else:
            e = edges[lay.name]
            life = max_spanning_forest_lifetimes(e.src, e.dst, a.reshape(-1)[e.weight_index],
                                                 e.n_in, e.n_out)
            kinds.append("conv2d-unrolled")
        np_value = float(np.sum(life ** p) ** (1.0 / p))
        values.append(np_value)
        normalized.append(np_value / (life.size ** (1.0 / p)) if life.size else 0.0)
    return NeuralPersistence([lay.name for lay in layers], np.array(values), np.array(normalized), p,
                             kinds)


class NeuralPersistenceMonitor:
    """Records neural persistence during training and applies Rieck et al.'s stopping rule.

    Call :meth:`step` once per epoch (or any period) in a plain PyTorch loop; it returns True
    once the mean normalised NP has not increased by more than ``delta_min`` for ``patience``
    consecutive calls, the paper's criterion (the defaults are ours; the paper varies both).

    >>> monitor = NeuralPersistenceMonitor(model, patience=3)      # doctest: +SKIP
    >>> for epoch in range(100):                                    # doctest: +SKIP
    ...     train_one_epoch(model)
    ...     if monitor.step():
    ...         break

    Parameters
    ----------
    model : torch.nn.Module
    p : float, default 2
    patience : int, default 3
    delta_min : float, default 0.0
    conv : {"kernel", "unrolled", "skip"}, default "kernel"
        How Conv2d layers are read; see :func:`neural_persistence`.
    input_shape : tuple of int, optional
        One input's shape without the batch axis, for ``conv="unrolled"``.

    Attributes
    ----------
    history_ : list of NeuralPersistence
        One entry per call of :meth:`step`.
    best_ : float
        The largest mean normalised NP so far.
    stopped_at_ : int or None
        Index of the call that triggered the stop.
    """

    def __init__(self, model: Any, *, p: float = 2.0, patience: int = 3,
                 delta_min: float = 0.0, conv: str = "kernel",
                 input_shape: tuple[int, ...] | None = None) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise InvalidInputError(f"patience must be an integer >= 1; got {patience!r}.")
        if not np.isfinite(delta_min) or delta_min < 0:
            raise InvalidInputError(f"delta_min must be a number >= 0; got {delta_min!r}.")
        self.model = model
        self.p = p
        self.patience = patience
        self.delta_min = float(delta_min)
        self.conv = _check_conv(conv)
        self.input_shape = input_shape
        self.history_: list[NeuralPersistence] = []
        self.best_ = -np.inf
        self._waited = 0
        self.stopped_at_: int | None = None

    @property
    def mean_normalized_(self) -> list[float]:
        """Mean normalised NP of every recorded step."""
        return [h.mean_normalized for h in self.history_]

    def step(self) -> bool:
        """Record the network's NP now; True when training should stop."""
        res = neural_persistence(self.model, p=self.p, conv=self.conv, input_shape=self.input_shape)
        self.history_.append(res)
        value = res.mean_normalized
        if value > self.best_ + self.delta_min:
            self.best_ = value
            self._waited = 0
        else:
            self._waited += 1
        if self._waited >= self.patience and self.stopped_at_ is None:
            self.stopped_at_ = len(self.history_) - 1
        return self.stopped_at_ is not None
