"""Exact H0 of a Vietoris-Rips filtration by a vectorised O(n^2) Prim.

For a dissimilarity matrix with a zero diagonal every point is born at 0 and the H0
deaths are exactly the edge weights of a minimum spanning tree (a component dies when an
MST edge merges it into an older one). Prim's algorithm on the dense matrix does ``n``
rounds of O(n) numpy work, with no n^2 Python loop and no sort of all n^2/2 edges.
"""

from __future__ import annotations

import numpy as np

__all__ = ["h0_from_mst", "minimum_spanning_tree", "rips_h0"]


def minimum_spanning_tree(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum spanning tree of the complete graph with weights ``d`` (dense, symmetric).

    Parameters
    ----------
    d : ndarray of shape (n, n)
        Finite symmetric dissimilarities (float32 or float64); the diagonal is ignored.

    Returns
    -------
    u, v : int64 arrays of shape (n - 1,)
        Edge endpoints, in the order Prim adds them (from vertex 0).
    w : ndarray of shape (n - 1,)
        Edge weights ``d[u, v]`` in ``d``'s dtype.
    """
    n = d.shape[0]
    if n <= 1:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, d.dtype)
    u = np.empty(n - 1, dtype=np.int64)
    v = np.empty(n - 1, dtype=np.int64)
    w = np.empty(n - 1, dtype=d.dtype)
    # candidate arrays hold only the vertices not yet in the tree; compacted as they shrink
    rest = np.arange(1, n, dtype=np.int64)
    best = d[0, 1:].copy()
    parent = np.zeros(n - 1, dtype=np.int64)
    alive = np.ones(n - 1, dtype=bool)
    n_alive = n - 1
    inf = np.array(np.inf, dtype=d.dtype)
    for k in range(n - 1):
        j = int(np.argmin(best))
        x = int(rest[j])
        u[k], v[k], w[k] = parent[j], x, best[j]
        best[j] = inf
        alive[j] = False
        n_alive -= 1
        if n_alive == 0:
            break
        if n_alive * 2 < rest.shape[0] and rest.shape[0] > 64:  # compact: halve the work
            rest, best, parent = rest[alive], best[alive], parent[alive]
            alive = np.ones(rest.shape[0], dtype=bool)
        row = d[x, rest]
        closer = row < best
        closer &= alive
        best[closer] = row[closer]
        parent[closer] = x
    return u, v, w


def rips_h0(d: np.ndarray, *, return_pairs: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """H0 diagram of the Vietoris-Rips filtration of ``d`` (all points born at 0).

    Parameters
    ----------
    d : ndarray of shape (n, n)
        Validated dissimilarity matrix (symmetric, zero diagonal, finite).
    return_pairs : bool
        Also return the critical edges ``[b, b, d_u, d_v]`` of each class: ``b`` is the
        vertex that created the dying component (its smallest index: the elder rule, with
        ties between equal births broken by vertex index; gudhi may break them otherwise,
        which changes no value) and ``(d_u, d_v)`` the MST edge that kills it; the essential
        class is ``[0, 0, -1, -1]``.

    Returns
    -------
    dgm : float64 array of shape (n, 2)
        ``n - 1`` finite classes ``(0, w)`` sorted by death, then ``(0, inf)``. Zero-length
        classes ``(0, 0)`` (duplicate points, perfectly correlated neurons) are kept, so
        there is one class per point; gudhi's ``persistence()`` omits them and
        :meth:`PersistenceDiagrams.allclose` ignores them by default.
    pairs : int64 array of shape (n, 4) or None
    """
    return h0_from_mst(d.shape[0], *minimum_spanning_tree(d), return_pairs=return_pairs)


def h0_from_mst(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, *,
                return_pairs: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`rips_h0` from a minimum spanning tree ``(u, v, w)`` computed beforehand."""
    if n == 0:  # the empty complex has no homology
        return np.empty((0, 2)), (np.empty((0, 4), np.int64) if return_pairs else None)
    order = np.argsort(w, kind="stable")
    u, v, w = u[order], v[order], w[order]
    dgm = np.zeros((n, 2), dtype=np.float64)
    dgm[: n - 1, 1] = w
    dgm[n - 1, 1] = np.inf
    if not return_pairs:
        return dgm, None
    # union-find over the n - 1 sorted MST edges (O(n) Python steps, not O(n^2))
    parent = np.arange(n)
    pairs = np.empty((n, 4), dtype=np.int64)

    def find(a: int) -> int:
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return root

    for k in range(n - 1):
        ra, rb = find(int(u[k])), find(int(v[k]))
        # roots are the smallest vertex of their component: the younger one (larger) dies
        old, young = (ra, rb) if ra < rb else (rb, ra)
        parent[young] = old
        pairs[k] = (young, young, u[k], v[k])
    pairs[n - 1] = (0, 0, -1, -1)
    return dgm, pairs
