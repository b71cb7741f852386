"""The union-find pass of :func:`topolens.homology.graph.superlevel_h0`, compiled when numba is present.

One plain-Python function over preallocated arrays; :func:`h0_pass` is its numba-compiled form
when numba imports (about 100x faster) and the function itself otherwise. The tests run both.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HAVE_NUMBA", "h0_pass", "h0_pass_python", "lower_star_pass", "lower_star_pass_python"]


def _find_python(parent: np.ndarray, a: int) -> int:
    """Root of ``a``, compressing the path to it."""
    r = a
    while parent[r] != r:
        r = parent[r]
    while parent[a] != r:
        nxt = parent[a]
        parent[a] = r
        a = nxt
    return r


_find = _find_python


def h0_pass_python(u: np.ndarray, v: np.ndarray, w: np.ndarray, nv: int
                   ) -> tuple[np.ndarray, ...]:
    """Kruskal with the elder rule over edges already in filtration order (weight descending).

    Returns ``edge_sub`` (class id per edge, -1 for cycle edges), per class ``sub_birth``,
    ``sub_death`` (-inf while alive) and ``sub_into`` (the class it merged into, -1), the points ``(birth, death, birth vertex, u, v)`` of the
    finite pairs with positive persistence, and the ``seen``, ``cbirth``, ``cvert`` and
    ``parent`` arrays of the final forest (roots: ``parent[r] == r`` and ``seen[r]``).
    """
    m = w.shape[0]
    parent = np.arange(nv)
    seen = np.zeros(nv, dtype=np.bool_)
    cbirth = np.zeros(nv)
    cvert = np.arange(nv)
    csub = np.full(nv, -1, dtype=np.int64)
    edge_sub = np.full(m, -1, dtype=np.int64)
    sub_b = np.empty(m)
    sub_d = np.empty(m)
    sub_into = np.empty(m, dtype=np.int64)
    pts = np.empty((m, 5))
    n_sub = 0
    n_pts = 0
    for k in range(m):
        a = u[k]
        b = v[k]
        we = w[k]
        # a vertex enters with its heaviest edge, the first one seen in this order
        if not seen[a]:
            seen[a] = True
            cbirth[a] = we
        if not seen[b]:
            seen[b] = True
            cbirth[b] = we
        ra = _find(parent, a)
        rb = _find(parent, b)
        if ra == rb:
            continue
        sa = csub[ra]
        sb = csub[rb]
        # elder rule: the class born earlier (larger birth) survives; on ties the one that
        # already has a subgraph, then the older subgraph
        if cbirth[ra] > cbirth[rb] or (cbirth[ra] == cbirth[rb] and (sb == -1 or (sa != -1 and sa < sb))):
            old, young, so, sy = ra, rb, sa, sb
        else:
            old, young, so, sy = rb, ra, sb, sa
        if so == -1:  # two lone vertices: a class and its subgraph are born on this edge
            so = n_sub
            sub_b[n_sub] = cbirth[old]
            sub_d[n_sub] = -np.inf
            sub_into[n_sub] = -1
            n_sub += 1
        if sy != -1:
            sub_d[sy] = we
            sub_into[sy] = so
        if cbirth[young] > we:
            pts[n_pts, 0] = cbirth[young]
            pts[n_pts, 1] = we
            pts[n_pts, 2] = cvert[young]
            pts[n_pts, 3] = u[k]
            pts[n_pts, 4] = v[k]
            n_pts += 1
        edge_sub[k] = so
        parent[young] = old
        csub[old] = so
    return edge_sub, sub_b[:n_sub], sub_d[:n_sub], sub_into[:n_sub], pts[:n_pts], seen, cbirth, cvert, parent


def lower_star_pass_python(u: np.ndarray, v: np.ndarray, fv: np.ndarray, order: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Kruskal with the elder rule for a lower-star (vertex) filtration, one filtration column.

    ``order`` lists the edges by ascending value ``max(fv[u], fv[v])``. Every vertex is born
    at ``fv``; an edge joining two components kills the younger one (larger birth; on ties
    the larger vertex id). Returns ``killer`` (n,): the edge that killed the class born at
    each vertex (-1 for the oldest vertex of a component) and ``cycle`` (m,): edges that
    closed a cycle. Each component's root is its oldest vertex.
    """
    n = fv.shape[0]
    parent = np.arange(n)
    killer = np.full(n, -1, dtype=np.int64)
    cycle = np.zeros(u.shape[0], dtype=np.bool_)
    for i in range(order.shape[0]):
        e = order[i]
        ra = _find(parent, u[e])
        rb = _find(parent, v[e])
        if ra == rb:
            cycle[e] = True
            continue
        if fv[ra] < fv[rb] or (fv[ra] == fv[rb] and ra < rb):
            old, young = ra, rb
        else:
            old, young = rb, ra
        killer[young] = e
        parent[young] = old
    return killer, cycle


try:  # pragma: no cover - depends on the environment
    import numba

    _find = numba.njit(cache=True, nogil=True)(_find_python)
    h0_pass = numba.njit(cache=True, nogil=True)(h0_pass_python)
    lower_star_pass = numba.njit(cache=True, nogil=True)(lower_star_pass_python)
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    h0_pass = h0_pass_python
    lower_star_pass = lower_star_pass_python
    HAVE_NUMBA = False
