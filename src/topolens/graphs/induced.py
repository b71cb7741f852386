"""Input-induced graphs of a network and their H0 persistence (Gebhart, Schrater, Hylton 2019).

For an input ``x``, the *induced graph* has the network's neurons as vertices (see
:mod:`topolens.graphs.unroll`) and, for every static edge ``(u, v)`` of every layer, the weight
``|c_uv * h_u(x)|``: the coefficient of the edge (a weight, ``1/divisor`` for average pooling,
1 on the arg-max edge of a max-pooling window and 0 elsewhere) times the activation that enters
the layer at ``u``. Biases are ignored.

Filtration and persistence (superlevel, as in the authors' code):

* per layer, only edges heavier than the ``percentile``-th percentile of that layer's edge
  weights (all static edges of the layer, zeros included; default 90) and heavier than 0 are
  kept: the CCFF network of Gebhart et al. has 456,676 potential edges per MNIST input and
  keeps about 45,000 (a layer's threshold may be 0 when most of its inputs are inactive);
* a vertex enters at the largest weight of its kept edges, an edge at its weight, in
  descending order; union-find with the elder rule gives the H0 pairs ``(b, d)`` with
  ``b >= d``. They are stored negated (``(-b, -d)``) in a :class:`PersistenceDiagrams`, the
  usual convention for superlevel filtrations (``metadata["negated"] = True``); zero-length
  pairs are dropped, as gudhi does; one essential class per connected component.

*Persistent subgraphs*: every H0 class is born on an edge joining two vertices that had no
edge yet (its seed), grows by the merge edges that join new vertices or younger classes to it,
and dies when an edge joins it to an older class. The edges it gathered during its life form
its subgraph, so the subgraphs partition the spanning forest of the kept edges (a subgraph is
connected together with the younger subgraphs that merged into it), and the
subgraph of a class of persistence ``b - d`` is ranked by that persistence (classes that never
die first, by birth). Gebhart et al. group the merge edges of their boundary-matrix reduction
in a similar way, keyed by creation order rather than by the elder rule.

Work: one forward pass per batch (on the model's device) records the activations entering
each layer; then, per input and in threads, the weights of a Linear layer are computed on its
*active* inputs only, a percentile by partition of the non-zero weights, one sort of the kept
edges and one union-find pass (:func:`topolens.homology.superlevel_h0`, compiled with numba
when it is installed). :func:`induced_edge_weights` gives the dense weights, the reference the
tests compare with.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..diagrams import PersistenceDiagrams
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError, TopolensWarning
from ..homology.graph import superlevel_h0
from .unroll import UnrolledNetwork, _pair, unroll

__all__ = [
    "DEFAULT_PERCENTILE",
    "InducedGraph",
    "induced_edge_weights",
    "induced_graphs",
    "subgraph_features",
]

logger = logging.getLogger(__name__)

#: the authors' default cut: keep the edges above the 90th percentile of each layer
DEFAULT_PERCENTILE = 90.0


@dataclass(frozen=True)
class InducedGraph:
    """The induced graph of one input, its H0 diagram and its persistent subgraphs.

    Attributes
    ----------
    edge_ids : int64 ndarray of shape (m,)
        Static ids (see :class:`~topolens.graphs.unroll.UnrolledNetwork`) of the kept edges,
        in increasing order.
    weights : float32 ndarray of shape (m,)
    u, v : int64 ndarray of shape (m,)
        Global vertex ids of each kept edge's endpoints.
    subgraph : int32 ndarray of shape (m,)
        Rank of the persistent subgraph each edge belongs to (0 = most persistent), -1 for
        edges that close a cycle (not in the spanning forest).
    subgraph_birth, subgraph_death : float64 ndarray of shape (n_subgraphs,)
        In weight units (birth >= death); death is ``-inf`` for a class that never dies.
    subgraph_parent : int64 ndarray of shape (n_subgraphs,)
        Rank of the subgraph each one merged into (-1 for classes that never die).
    diagram : PersistenceDiagrams
        H0, negated (see the module docstring), with the vertex pairs of each class.
    thresholds : float64 ndarray of shape (n_layers,)
        The per-layer weight cut.
    """

    edge_ids: np.ndarray
    weights: np.ndarray
    u: np.ndarray
    v: np.ndarray
    subgraph: np.ndarray
    subgraph_birth: np.ndarray
    subgraph_death: np.ndarray
    subgraph_parent: np.ndarray
    diagram: PersistenceDiagrams
    thresholds: np.ndarray

    @property
    def n_subgraphs(self) -> int:
        return int(self.subgraph_birth.size)

    @property
    def subgraph_persistence(self) -> np.ndarray:
        """``birth - death`` of each subgraph (inf for classes that never die), by rank."""
        return self.subgraph_birth - self.subgraph_death

    def subgraph_edges(self, rank: int) -> np.ndarray:
        """Positions (into ``edge_ids``) of the edges of the subgraph of the given rank."""
        if not 0 <= rank < self.n_subgraphs:
            raise InvalidInputError(f"rank must be in [0, {self.n_subgraphs}); got {rank}.")
        return np.flatnonzero(self.subgraph == rank)

    def top_edges(self, top: int | None) -> np.ndarray:
        """Static edge ids of the ``top`` most persistent subgraphs (all forest edges if None)."""
        sel = self.subgraph >= 0 if top is None else (self.subgraph >= 0) & (self.subgraph < top)
        return self.edge_ids[sel]


def _as_network(model: Any, input_shape: Sequence[int] | None, x: Any) -> UnrolledNetwork:
    if isinstance(model, UnrolledNetwork):
        return model
    if input_shape is None:
        input_shape = tuple(np.shape(x)[1:])
    return unroll(model, tuple(input_shape))


@dataclass
class _Captured:
    """What one forward pass gives: per layer the input activations and current coefficients."""

    h: list[np.ndarray]                 # (batch, n_in_k) float32 per layer
    coef: list[np.ndarray | None]       # current |coefficients| per edge (None for max pooling)
    argmax_edges: list[np.ndarray | None]  # max pooling: (batch, n_out_k) edge ids of the arg-max taps
    outputs: np.ndarray


def _capture(net: UnrolledNetwork, x: Any) -> _Captured:
    """Run the model once on a batch, recording the input of every unrolled layer."""
    import torch
    import torch.nn.functional as F

    if net.model is None or any(lay.module is None for lay in net.layers):
        raise InvalidInputError("this UnrolledNetwork holds no model; build it with unroll(model, input_shape).")
    xt = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if tuple(xt.shape[1:]) != tuple(net.input_shape):
        raise ShapeError(f"inputs must have shape (batch, {', '.join(map(str, net.input_shape))}); "
                         f"got {tuple(xt.shape)}.")
    p = next(iter(net.model.parameters()), None)
    xt = xt.to(p.device if p is not None else "cpu", dtype=p.dtype if p is not None else torch.float32)
    if not torch.isfinite(xt).all():
        raise NonFiniteError("the inputs contain NaN or inf; induced graphs need finite inputs.")
    captured: dict[int, Any] = {}
    hooks = []
    for k, lay in enumerate(net.layers):
        def hook(mod: Any, inp: Any, out: Any, k: int = k) -> None:
            captured[k] = inp[0].detach()
        hooks.append(lay.module.register_forward_hook(hook))
    was_training = net.model.training
    net.model.eval()  # dropout off, batch statistics frozen: the graph of an input is deterministic
    try:
        with torch.no_grad():
            out = net.model(xt)
    finally:
        net.model.train(was_training)
        for h in hooks:
            h.remove()
    b = xt.shape[0]
    hs, coefs, amax = [], [], []
    for k, lay in enumerate(net.layers):
        hk = captured[k].float()
        if not torch.isfinite(hk).all():
            raise NonFiniteError(f"the activations entering layer {lay.name!r} contain NaN or inf; "
                                 "check the model's weights and inputs.")
        hs.append(hk.reshape(b, -1).cpu().numpy())
        if lay.kind == "maxpool2d":
            m = lay.module
            c, hh, ww = lay.in_shape
            _, oh, ow = lay.out_shape
            (kh, kw), (sh, sw) = _pair(m.kernel_size), _pair(m.stride)
            (ph, pw), (dh, dw) = _pair(m.padding), _pair(m.dilation)
            _, idx = F.max_pool2d(hk.reshape(b, c, hh, ww), (kh, kw), (sh, sw), (ph, pw), (dh, dw),
                                  return_indices=True)
            idx = idx.reshape(b, c, oh * ow).cpu().numpy()
            pos = np.arange(oh * ow)
            a = (idx // ww + ph - (pos // ow) * sh) // dh
            bb = (idx % ww + pw - (pos % ow) * sw) // dw
            tap = (a * kw + bb) * (oh * ow) + pos
            amax.append(lay.tap_to_edge.reshape(c, -1)[np.arange(c)[None, :, None], tap].reshape(b, -1))
            coefs.append(None)
        else:
            amax.append(None)
            if lay.weight_index is not None:  # the weights now, not when the network was unrolled
                wt = lay.module.weight.detach().float().cpu().numpy().reshape(-1)
                if not np.isfinite(wt).all():
                    raise NonFiniteError(f"layer {lay.name!r} has NaN or inf weights.")
                if not wt.any():
                    raise InvalidInputError(
                        f"layer {lay.name!r} has only zero weights, so every edge of the induced graph "
                        "through it weighs 0; initialise or train the model first.")
                coefs.append(np.abs(wt[lay.weight_index]))
            else:
                coefs.append(np.abs(lay.coef))
    return _Captured(hs, coefs, amax, out.detach().float().cpu().numpy())


def induced_edge_weights(net: UnrolledNetwork, x: Any) -> tuple[list[np.ndarray], np.ndarray]:
    """Weights ``|c_uv h_u(x)|`` of every static edge for a batch of inputs (dense).

    The reference form of the induced graphs: :func:`induced_graphs` computes the same
    weights sparsely, per input, for the kept edges only.

    Parameters
    ----------
    net : UnrolledNetwork
        From :func:`~topolens.graphs.unroll.unroll`.
    x : tensor or array of shape (batch, *input_shape)

    Returns
    -------
    weights : list of float32 ndarray, one (batch, n_edges_k) per layer
    outputs : ndarray
        The model's outputs for the batch.
    """
    cap = _capture(net, x)
    weights = []
    for k, lay in enumerate(net.layers):
        h = np.abs(cap.h[k])
        if lay.kind == "maxpool2d":
            e = cap.argmax_edges[k]
            wk = np.zeros((h.shape[0], lay.n_edges), dtype=np.float32)
            rows = np.arange(h.shape[0])[:, None]
            wk[rows, e] = h[rows, lay.src[e]]
        else:
            wk = h[:, lay.src] * cap.coef[k]
        weights.append(wk)
    return weights, cap.outputs


def layer_threshold(values: np.ndarray, q: float, n_total: int | None = None) -> float:
    """``np.percentile`` (linear interpolation) of non-negative weights, faster.

    Parameters
    ----------
    values : float ndarray
        The weights, or only some of them when ``n_total`` is given: the others are zeros.
    q : float
        Percentile in [0, 100).
    n_total : int, optional
        The number of weights, zeros included.

    Only the positive entries are partitioned; zeros (inactive neurons) are counted.
    """
    nz = values[values > 0]
    n = values.size if n_total is None else int(n_total)
    z = n - nz.size
    pos = q / 100.0 * (n - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, n - 1)
    if hi < z:
        return 0.0
    part = np.partition(nz, sorted({max(lo - z, 0), hi - z}))
    a = 0.0 if lo < z else float(part[lo - z])
    b = float(part[hi - z])
    t = pos - lo
    return a + (b - a) * t if t < 0.5 else b - (b - a) * (1.0 - t)


def _kept_edges(net: UnrolledNetwork, cap: _Captured, i: int, percentile: float | None
                ) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """Layer-local ids and weights of the kept edges of input ``i``, and the thresholds."""
    ids, wts, thr = [], [], []
    for k, lay in enumerate(net.layers):
        h = cap.h[k][i]
        if lay.kind == "linear":
            # only active inputs carry weight: an (n_out, n_active) block, not (n_out, n_in)
            act = np.flatnonzero(h)
            n_out, n_in = lay.n_out, lay.n_in
            block = cap.coef[k].reshape(n_out, n_in)[:, act] * np.abs(h[act])
            cand_w = block.reshape(-1)
            t = layer_threshold(cand_w, percentile, lay.n_edges) if percentile is not None else 0.0
            sel = np.flatnonzero(cand_w > t)
            row, col = np.divmod(sel, max(act.size, 1))
            loc = row * n_in + act[col]
            w = cand_w[sel]
        elif lay.kind == "maxpool2d":
            e = cap.argmax_edges[k][i]
            we = np.abs(h[lay.src[e]])
            t = layer_threshold(we, percentile, lay.n_edges) if percentile is not None else 0.0
            keep = we > t
            loc, w = e[keep], we[keep]
            o = np.argsort(loc, kind="stable")
            loc, w = loc[o], w[o]
        else:
            wk = np.abs(h[lay.src]) * cap.coef[k]
            t = layer_threshold(wk, percentile) if percentile is not None else 0.0
            loc = np.flatnonzero(wk > t)
            w = wk[loc]
        ids.append(loc.astype(np.int64))
        wts.append(w.astype(np.float32))
        thr.append(t)
    return ids, wts, thr


def _one_graph(net: UnrolledNetwork, cap: _Captured, i: int, percentile: float | None) -> InducedGraph:
    ids, wts, thr = _kept_edges(net, cap, i, percentile)
    eid = np.concatenate([loc + net.edge_offsets[k] for k, loc in enumerate(ids)])
    u = np.concatenate([lay.src[loc] + net.offsets[k] for k, (lay, loc) in enumerate(zip(net.layers, ids, strict=True))])
    v = np.concatenate([lay.dst[loc] + net.offsets[k + 1] for k, (lay, loc) in enumerate(zip(net.layers, ids, strict=True))])
    w = np.concatenate(wts)
    sub, sb, sd, sp, dgm, pairs = superlevel_h0(u, v, w, n_vertices=net.n_vertices)
    diagram = PersistenceDiagrams([-dgm], pairs=[pairs],
                                  metadata={"filtration": "induced-graph superlevel", "negated": True,
                                            "percentile": percentile})
    return InducedGraph(eid, w, u, v, sub, sb, sd, sp, diagram, np.asarray(thr))


def induced_graphs(model: Any, x: Any, *, input_shape: Sequence[int] | None = None,
                   percentile: float | None = DEFAULT_PERCENTILE, batch_size: int = 128,
                   n_jobs: int = -1, progress: bool = False, return_outputs: bool = False
                   ) -> list[InducedGraph] | tuple[list[InducedGraph], np.ndarray]:
    """Induced graphs, H0 diagrams and persistent subgraphs of a batch of inputs.

    Parameters
    ----------
    model : torch.nn.Module or UnrolledNetwork
        A chain network (see :func:`~topolens.graphs.unroll.unroll`), or one already unrolled.
    x : tensor or array of shape (n_inputs, *input_shape)
    input_shape : tuple of int, optional
        Taken from ``x`` when omitted.
    percentile : float or None, default 90
        Keep the edges above this percentile of each layer's weights (None: every edge > 0).
    batch_size : int
        Inputs per forward pass.
    n_jobs : int, default -1
        Threads that build the graphs of a batch (-1: one per CPU core). The sorting,
        partitioning and union-find release the GIL; results do not depend on it.
    progress : bool
        Show a tqdm bar.
    return_outputs : bool
        Also return the model's outputs (e.g. logits), shape (n_inputs, ...).

    Returns
    -------
    list of InducedGraph (and the outputs)
    """
    from tqdm.auto import tqdm

    if percentile is not None and not 0.0 <= float(percentile) < 100.0:
        raise InvalidInputError(f"percentile must be in [0, 100) or None; got {percentile!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer; got {batch_size!r}.")
    n = len(x)
    if n == 0:
        raise InvalidInputError("no inputs given; x must hold at least one input.")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise InvalidInputError(f"n_jobs must be a positive integer or -1; got {n_jobs!r}.")
    workers = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    net = _as_network(model, input_shape, x)
    graphs: list[InducedGraph] = []
    outs = []
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=n, desc="induced graphs", disable=not progress, unit="input") as bar:
        for s in range(0, n, batch_size):
            cap = _capture(net, x[s:s + batch_size])
            outs.append(cap.outputs)
            graphs.extend(pool.map(lambda i, cap=cap: _one_graph(net, cap, i, percentile),
                                   range(cap.outputs.shape[0])))
            bar.update(cap.outputs.shape[0])
    empty = [i for i, g in enumerate(graphs) if g.edge_ids.size == 0]
    if empty:
        warnings.warn(f"{len(empty)} of {n} input(s) induce no edge with a positive weight (first: "
                      f"input {empty[0]}); their diagrams are empty. All activations entering the "
                      "layers are zero for them, e.g. a blank image.", TopolensWarning, stacklevel=2)
    logger.info("induced graphs of %d inputs: %.0f kept edges per input on average", n,
                np.mean([g.edge_ids.size for g in graphs]))
    if return_outputs:
        return graphs, np.concatenate(outs)
    return graphs


def subgraph_features(graphs: Sequence[InducedGraph], n_edges: int, *, top: int | None = None) -> Any:
    """Edge-indicator features of the top persistent subgraphs, as a sparse matrix.

    Row ``i`` has a 1 at every static edge id of the ``top`` most persistent subgraphs of
    ``graphs[i]`` (all spanning-forest edges when ``top`` is None): Gebhart et al.'s features
    for classifying inputs by their subgraphs.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (len(graphs), n_edges), float32
    """
    from scipy import sparse

    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise InvalidInputError(f"top must be a positive integer or None; got {top!r}.")
    cols = [g.top_edges(top) for g in graphs]
    indptr = np.concatenate([[0], np.cumsum([c.size for c in cols])]).astype(np.int64)
    idx = np.concatenate(cols) if cols else np.empty(0, np.int64)
    if idx.size and (idx.max() >= n_edges or idx.min() < 0):
        raise InvalidInputError(f"edge ids up to {int(idx.max())} do not fit n_edges={n_edges}; "
                                "pass the n_edges of the network the graphs came from.")
    mat = sparse.csr_matrix((np.ones(idx.size, np.float32), idx, indptr), shape=(len(graphs), n_edges))
    mat.sort_indices()
    return mat
