"""Kernels of the exact bottleneck distance: neighbour graphs on a grid and Hopcroft-Karp.

Points live in the plane with the L-inf metric. A :class:`Grid` sorts one point set by cell
``(floor((x - x0) / s), floor((y - y0) / s))`` with a cell side ``s`` at least the search
radius, so the points within ``t <= s`` of a query lie in its 3 x 3 block of cells: each
query scans three runs of the sorted order (one per column of cells), found by binary search.
Nothing of size ``n x m`` is ever allocated.

The kernels are plain Python over preallocated arrays, compiled with numba when it imports
(the ``*_python`` functions are the uncompiled forms; the tests run both), in the style of
:mod:`topolens.homology._graph_kernel`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HAVE_NUMBA", "Grid", "hopcroft_karp", "neighbour_graph", "scan_pairs"]

_MARGIN = 1.0 + 2.0**-16  # cell side / radius: absorbs rounding in the cell indices
_MAX_CELLS = 2.0**30  # at most this many cells along an axis (keeps indices exact)


def _lower_bound_python(scx: np.ndarray, scy: np.ndarray, cx: int, cy: int) -> int:
    """First index whose cell ``(scx, scy)`` is lexicographically >= ``(cx, cy)``."""
    lo = 0
    hi = scx.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if scx[mid] < cx or (scx[mid] == cx and scy[mid] < cy):
            lo = mid + 1
        else:
            hi = mid
    return lo


_lower_bound = _lower_bound_python


def neighbour_graph_python(qx: np.ndarray, qy: np.ndarray, qcx: np.ndarray, qcy: np.ndarray,
                           px: np.ndarray, py: np.ndarray, scx: np.ndarray, scy: np.ndarray,
                           t: float, indptr: np.ndarray, indices: np.ndarray, fill: bool) -> int:
    """Count (``fill=False``: per query into ``indptr[i + 1]``) or list the points within ``t``.

    With ``fill=True``, ``indptr`` holds the CSR offsets and ``indices`` receives, per query,
    the positions (in the grid's sorted order) of the points at L-inf distance ``<= t``.
    Returns the number of queries without any neighbour.
    """
    lonely = 0
    for i in range(qx.shape[0]):
        cnt = 0
        for dx in range(-1, 2):
            c = qcx[i] + dx
            a = _lower_bound(scx, scy, c, qcy[i] - 1)
            b = _lower_bound(scx, scy, c, qcy[i] + 2)
            for j in range(a, b):
                if max(abs(qx[i] - px[j]), abs(qy[i] - py[j])) <= t:
                    if fill:
                        indices[indptr[i] + cnt] = j
                    cnt += 1
        if not fill:
            indptr[i + 1] = cnt
        if cnt == 0:
            lonely += 1
    return lonely


def scan_pairs_python(qx: np.ndarray, qy: np.ndarray, qh: np.ndarray, qcx: np.ndarray, qcy: np.ndarray,
                      px: np.ndarray, py: np.ndarray, ph: np.ndarray, scx: np.ndarray, scy: np.ndarray,
                      lo: float, hi: float, base: float, width: float, hist: np.ndarray,
                      out: np.ndarray) -> int:
    """Histogram (and, when ``out`` is not empty, list) the relevant pair distances in ``(lo, hi]``.

    A pair ``(q, p)`` at distance ``d`` is relevant when ``d < max(qh, ph)`` (``h``: half
    the lifetime): otherwise neither point can be unmatched from the diagonal at ``d`` and
    the edge never changes the matching. ``hist`` has ``nb`` bins of width ``width / nb``
    from ``base``. Returns the number of relevant pairs found.
    """
    nb = hist.shape[0]
    n = 0
    for i in range(qx.shape[0]):
        for dx in range(-1, 2):
            c = qcx[i] + dx
            a = _lower_bound(scx, scy, c, qcy[i] - 1)
            b = _lower_bound(scx, scy, c, qcy[i] + 2)
            for j in range(a, b):
                d = max(abs(qx[i] - px[j]), abs(qy[i] - py[j]))
                if lo < d <= hi and d < max(qh[i], ph[j]):
                    k = int((d - base) / width * nb) if width > 0 else 0
                    hist[min(max(k, 0), nb - 1)] += 1
                    if out.shape[0] > 0:
                        out[n] = d
                    n += 1
    return n


def hopcroft_karp_python(indptr: np.ndarray, indices: np.ndarray, n_right: int) -> int:
    """Size of a maximum matching of the bipartite graph given as CSR rows (left vertices).

    Hopcroft-Karp: a greedy start, then phases of one BFS layering from the free left
    vertices and iterative DFS augmentations along the layers.
    """
    n_left = indptr.shape[0] - 1
    inf = n_left + 1
    match_l = np.full(n_left, -1, dtype=np.int64)
    match_r = np.full(n_right, -1, dtype=np.int64)
    size = 0
    for u in range(n_left):  # greedy start
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if match_r[v] == -1:
                match_r[v] = u
                match_l[u] = v
                size += 1
                break
    dist = np.empty(n_left, dtype=np.int64)
    queue = np.empty(n_left, dtype=np.int64)
    it = np.empty(n_left, dtype=np.int64)
    stack = np.empty(n_left, dtype=np.int64)
    via = np.empty(n_left, dtype=np.int64)
    while size < n_left:
        head = 0
        tail = 0
        for u in range(n_left):
            if match_l[u] == -1:
                dist[u] = 0
                queue[tail] = u
                tail += 1
            else:
                dist[u] = inf
        found = False
        while head < tail:
            u = queue[head]
            head += 1
            for e in range(indptr[u], indptr[u + 1]):
                w = match_r[indices[e]]
                if w == -1:
                    found = True
                elif dist[w] == inf:
                    dist[w] = dist[u] + 1
                    queue[tail] = w
                    tail += 1
        if not found:
            break
        for u in range(n_left):
            it[u] = indptr[u]
        for root in range(n_left):
            if match_l[root] != -1:
                continue
            sp = 0
            stack[0] = root
            done = False
            while sp >= 0 and not done:
                u = stack[sp]
                advanced = False
                while it[u] < indptr[u + 1]:
                    v = indices[it[u]]
                    it[u] += 1
                    w = match_r[v]
                    if w == -1:  # augment along the stack
                        for k in range(sp, -1, -1):
                            x = stack[k]
                            y = v if k == sp else via[x]
                            match_l[x] = y
                            match_r[y] = x
                        size += 1
                        done = True
                        break
                    if dist[w] == dist[u] + 1:
                        via[u] = v
                        sp += 1
                        stack[sp] = w
                        advanced = True
                        break
                if not done and not advanced:
                    dist[u] = inf
                    sp -= 1
    return size


neighbour_graph = neighbour_graph_python
scan_pairs = scan_pairs_python
hopcroft_karp = hopcroft_karp_python

try:  # pragma: no cover - depends on the environment
    import numba

    _lower_bound = numba.njit(cache=True, nogil=True)(_lower_bound_python)
    neighbour_graph = numba.njit(cache=True, nogil=True)(neighbour_graph_python)
    scan_pairs = numba.njit(cache=True, nogil=True)(scan_pairs_python)
    hopcroft_karp = numba.njit(cache=True, nogil=True)(hopcroft_karp_python)
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False


@dataclass(frozen=True)
class Grid:
    """One point set sorted by grid cell, for radius queries up to ``radius``.

    Parameters
    ----------
    points : ndarray of shape (m, 2)
        The points (finite).
    extra : ndarray of shape (m,)
        A per-point value carried along in the sorted order (half-lifetimes).
    origin : tuple of float
        Lower-left corner shared with the queries.
    span : float
        Largest coordinate range of all the points involved (sets the finest cell).
    radius : float
        Largest query radius; the cell side is at least this.
    """

    x: np.ndarray
    y: np.ndarray
    extra: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    origin: tuple[float, float]
    side: float

    @classmethod
    def build(cls, points: np.ndarray, extra: np.ndarray, origin: tuple[float, float], span: float,
              radius: float) -> Grid:
        side = max(radius * _MARGIN, span / _MAX_CELLS)
        if not side > 0:
            side = 1.0
        cx, cy = _cells(points, origin, side)
        order = np.lexsort((cy, cx))
        return cls(np.ascontiguousarray(points[order, 0]), np.ascontiguousarray(points[order, 1]),
                   np.ascontiguousarray(extra[order]), cx[order], cy[order], origin, side)

    def cells(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell indices of query points in this grid."""
        return _cells(points, self.origin, self.side)

    def neighbours(self, queries: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray, int]:
        """CSR ``(indptr, indices)`` of the grid points within ``t`` of each query, and the
        number of queries without any (``t`` at most the grid's radius)."""
        qx, qy = np.ascontiguousarray(queries[:, 0]), np.ascontiguousarray(queries[:, 1])
        qcx, qcy = self.cells(queries)
        indptr = np.zeros(len(queries) + 1, dtype=np.int64)
        empty = np.empty(0, dtype=np.int64)
        lonely = neighbour_graph(qx, qy, qcx, qcy, self.x, self.y, self.cx, self.cy, t, indptr, empty, False)
        if lonely:
            return indptr, empty, int(lonely)
        np.cumsum(indptr, out=indptr)
        indices = np.empty(int(indptr[-1]), dtype=np.int64)
        neighbour_graph(qx, qy, qcx, qcy, self.x, self.y, self.cx, self.cy, t, indptr, indices, True)
        return indptr, indices, 0


def _cells(points: np.ndarray, origin: tuple[float, float], side: float) -> tuple[np.ndarray, np.ndarray]:
    cx = np.floor((points[:, 0] - origin[0]) / side).astype(np.int64)
    cy = np.floor((points[:, 1] - origin[1]) / side).astype(np.int64)
    return cx, cy
