"""H0 of graph filtrations: superlevel edge filtrations and lower-star vertex filtrations.

:func:`superlevel_h0` is the engine of the input-induced graphs (:mod:`topolens.graphs.induced`):
vertices enter with their heaviest edge, edges by descending weight; union-find with the elder
rule gives the H0 pairs, and every class's *subgraph*, the spanning-forest edges it gathered
while alive. The union-find pass is compiled with numba when it is installed
(:mod:`topolens.homology._graph_kernel`).

:func:`lower_star_h0` is the pairing behind the differentiable graph diagrams of
:mod:`topolens.nn` (TOGL-style layers): vertices enter at their value, edges at the larger
value of their endpoints; it returns which edge killed the class born at each vertex and which
edges closed a cycle, for ``k`` filtrations at once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..exceptions import InvalidInputError, ShapeError
from ._graph_kernel import h0_pass, lower_star_pass

__all__ = ["LowerStarH0", "SuperlevelH0", "lower_star_h0", "superlevel_h0"]


class SuperlevelH0(NamedTuple):
    """Result of :func:`superlevel_h0`."""

    subgraph: np.ndarray
    sub_birth: np.ndarray
    sub_death: np.ndarray
    sub_parent: np.ndarray
    dgm: np.ndarray
    pairs: np.ndarray


def superlevel_h0(u: np.ndarray, v: np.ndarray, w: np.ndarray, *, n_vertices: int | None = None) -> SuperlevelH0:
    """H0 of a weighted graph's superlevel filtration, with persistent subgraphs.

    Vertices enter at the largest weight of their edges (only vertices with an edge exist);
    edges enter at their weight, in descending order (ties: lower position first).

    Parameters
    ----------
    u, v : int ndarray of shape (m,)
        Endpoints: any integer ids, or ids in ``[0, n_vertices)`` when that is given (faster).
    w : float ndarray of shape (m,)
        Edge weights, finite and > 0, in any order.
    n_vertices : int, optional

    Returns
    -------
    SuperlevelH0, a named tuple of
    subgraph : int32 ndarray (m,)
        Subgraph rank of each edge (0 = most persistent), -1 for edges that close a cycle.
    sub_birth, sub_death : float64 ndarrays (n_subgraphs,)
        By rank; death ``-inf`` for classes that never die.
    sub_parent : int64 ndarray (n_subgraphs,)
        Rank of the subgraph each one merged into when it died (-1 for those that never die):
        a subgraph together with the subgraphs merged into it is connected.
    dgm : float64 ndarray (n_points, 2)
        ``(birth, death)`` in weight units (birth >= death), zero-length pairs dropped, death
        ``-inf`` for essential classes (one per connected component).
    pairs : int64 ndarray (n_points, 4)
        ``[b, b, d_u, d_v]``: the vertex whose entry gave birth and the edge that killed
        (``-1, -1`` for essential classes).
    """
    u = np.asarray(u, dtype=np.int64).reshape(-1)
    v = np.asarray(v, dtype=np.int64).reshape(-1)
    w = np.asarray(w).reshape(-1)
    m = w.size
    if u.size != m or v.size != m:
        raise ShapeError(f"u, v and w must have the same length; got {u.size}, {v.size}, {m}.")
    if m == 0:
        e = np.empty(0)
        return SuperlevelH0(np.empty(0, np.int32), e, e, np.empty(0, np.int64), np.empty((0, 2)),
                            np.empty((0, 4), np.int64))
    if not np.isfinite(w).all() or w.min() <= 0:
        raise InvalidInputError("edge weights must be finite and > 0 (drop zero-weight edges first).")
    if n_vertices is None:
        verts, inv = np.unique(np.concatenate([u, v]), return_inverse=True)
        uu, vv, nv = inv[:m], inv[m:], verts.size
    else:
        verts, uu, vv, nv = None, u, v, int(n_vertices)
        if uu.min() < 0 or vv.min() < 0 or max(uu.max(), vv.max()) >= nv:
            raise InvalidInputError(f"vertex ids must lie in [0, {nv}) when n_vertices={nv} is given.")
    order = _descending_order(w)
    edge_sub, sb_a, sd_a, into, pts, seen, cbirth, cvert, parent = h0_pass(
        uu[order], vv[order], w[order].astype(np.float64), nv)
    roots = np.flatnonzero((parent == np.arange(nv)) & seen)
    ess = np.column_stack([cbirth[roots], np.full(roots.size, -np.inf), cvert[roots],
                           np.full(roots.size, -1), np.full(roots.size, -1)])
    arr = np.concatenate([pts, ess])
    rank_order = np.lexsort((np.arange(sb_a.size), -sb_a, -(sb_a - sd_a)))
    rank = np.empty(sb_a.size, dtype=np.int64)
    rank[rank_order] = np.arange(sb_a.size)
    subgraph = np.full(m, -1, dtype=np.int32)
    forest = edge_sub >= 0
    subgraph[order[forest]] = rank[edge_sub[forest]]
    pairs = arr[:, [2, 2, 3, 4]].astype(np.int64)
    if verts is not None:
        keep = pairs >= 0
        pairs[keep] = verts[pairs[keep]]
    parent_rank = np.where(into >= 0, rank[np.maximum(into, 0)], -1)[rank_order] if into.size else into
    return SuperlevelH0(subgraph, sb_a[rank_order], sd_a[rank_order], parent_rank, arr[:, :2], pairs)


def _descending_order(w: np.ndarray) -> np.ndarray:
    """Stable descending argsort; for float32 by one sort of packed (weight bits, position) keys."""
    if w.dtype == np.float32 and w.size < 2**32:
        # the bits of a positive float32 order like the float; invert them for descending order
        key = (~w.view(np.uint32)).astype(np.uint64) << np.uint64(32)
        key |= np.arange(w.size, dtype=np.uint64)
        return (np.sort(key) & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return np.argsort(-w, kind="stable")


class LowerStarH0(NamedTuple):
    """Result of :func:`lower_star_h0` (``k`` filtration columns)."""

    killer: np.ndarray
    cycle: np.ndarray


def lower_star_h0(f: np.ndarray, u: np.ndarray, v: np.ndarray) -> LowerStarH0:
    """Persistence pairing of the lower-star filtrations of a graph, one per column of ``f``.

    Vertex ``i`` enters at ``f[i]``, edge ``(u, v)`` at ``max(f[u], f[v])``. Union-find in
    filtration order with the elder rule: a merging edge kills the younger class (larger
    birth; on equal births the larger vertex id, a documented choice among equally valid
    pairings). Edges with equal values are taken in the given order.

    Parameters
    ----------
    f : float ndarray of shape (n,) or (n, k)
        Vertex values; ``k`` independent filtrations.
    u, v : int ndarray of shape (m,)
        Edge endpoints in ``[0, n)``, no self-loops. A repeated edge closes a cycle, as in a
        multigraph: deduplicate first for a simple graph.

    Returns
    -------
    LowerStarH0, a named tuple of
    killer : int64 ndarray (n, k)
        The edge (position in ``u, v``) that killed the H0 class born at each vertex, ``-1``
        for the oldest vertex of each connected component (an essential class). A vertex that
        joins an older component on entry is killed by that edge at its own value: a
        zero-length pair.
    cycle : bool ndarray (m, k)
        Edges that closed a cycle: each is the birth of an essential H1 class.
    """
    f = np.asarray(f, dtype=np.float64)
    if f.ndim == 1:
        f = f[:, None]
    if f.ndim != 2:
        raise ShapeError(f"f must be (n_vertices,) or (n_vertices, k); got shape {f.shape}.")
    if not np.isfinite(f).all():
        raise InvalidInputError("vertex values f contain NaN or inf; a filtration needs finite values.")
    u = np.asarray(u, dtype=np.int64).reshape(-1)
    v = np.asarray(v, dtype=np.int64).reshape(-1)
    n, k = f.shape
    if u.size != v.size:
        raise ShapeError(f"u and v must have the same length; got {u.size} and {v.size}.")
    if u.size and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= n):
        raise InvalidInputError(f"edge endpoints must lie in [0, {n}) for {n} vertices; got ids in "
                                f"[{min(u.min(), v.min())}, {max(u.max(), v.max())}].")
    if np.any(u == v):
        raise InvalidInputError(f"{int(np.sum(u == v))} self-loop(s) found; drop edges with u == v first.")
    killer = np.empty((n, k), dtype=np.int64)
    cycle = np.empty((u.size, k), dtype=bool)
    fe = np.maximum(f[u], f[v])
    for j in range(k):
        order = np.argsort(fe[:, j], kind="stable")
        fj = np.ascontiguousarray(f[:, j])
        killer[:, j], cycle[:, j] = lower_star_pass(u, v, fj, order)
    return LowerStarH0(killer, cycle)
