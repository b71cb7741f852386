"""Exact bottleneck distance between persistence diagrams (L-inf ground metric).

The reduction. Matching diagrams ``A`` (n points) and ``B`` (m points) with the diagonal is a
perfect matching of ``A + diag(B)`` with ``B + diag(A)``: a point may go to a point of the
other diagram (cost their L-inf distance) or to its own projection on the diagonal (cost
half its lifetime, ``h``), and two projections match for free. At a threshold ``t`` call a
point *big* when ``h > t`` (it cannot go to the diagonal). A perfect matching of cost
``<= t`` exists iff some matching of the graph ``A x B`` (edges of length ``<= t``) covers
every big point: the unmatched small points go to the diagonal and the projections left over
pair up for free. By the Mendelsohn-Dulmage theorem that holds iff the big points of ``A``
can be matched into ``B`` and those of ``B`` into ``A``: two Hopcroft-Karp runs on geometric
neighbour graphs of the big points only (:mod:`._matching`), never an ``n x m`` matrix.

The search. The distance is the smallest feasible *candidate*: a pair distance ``d(a, b)``
or a half-lifetime. Pair distances with ``d >= max(h_a, h_b)`` never change a matching and
are left out. Candidates are never all materialised: a scan of the pairs within the current
upper bound histograms the candidates in ``(lo, hi]``; probes at bin edges chosen to halve
the count narrow the interval (``lo`` infeasible, ``hi`` feasible) until at most
``_COLLECT`` candidates are left, which are then listed, sorted and binary-searched. The
result is always one of the candidate values, bit for bit.

Essential classes (death ``inf``) are matched among themselves by sorted birth; if the two
diagrams hold different numbers of them the distance is ``inf``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_diagram_array

__all__ = ["bottleneck_distance"]

# the kernels (:mod:`._matching`) are imported where they are used: importing numba takes
# about 0.6 s, which ``import topolens`` (PersistenceDiagrams) must not pay

_BINS = 1024  # histogram bins per scan
_COLLECT = 4096  # list the candidates once at most this many are left
_HUGE = 2.0**1020  # beyond this, differences of coordinates may overflow: rescale first


def bottleneck_distance(a: Any, b: Any) -> float:
    """Exact bottleneck distance between two diagrams of (birth, death) pairs (L-inf metric).

    Parameters
    ----------
    a, b : array-like of shape (n, 2) and (m, 2)
        (birth, death) pairs; ``death = inf`` for essential classes. Empty diagrams are fine.

    Returns
    -------
    float
        The bottleneck distance: the smallest ``t`` such that a matching of the points (and
        of points to the diagonal) moves no point by more than ``t``. Exactly one of the
        candidate values (a pairwise L-inf distance, half a lifetime, or a difference of
        essential births); ``inf`` when the numbers of essential classes differ.

    Notes
    -----
    Essential points are matched among themselves by sorted birth; finite points to finite
    points or to the diagonal (see the module docstring for the algorithm). For 3,000 points
    per diagram, after numba's one-off compilation: about 0.1-0.2 s for spread-out points,
    about 2 s for H0 diagrams (every birth 0, ties everywhere; ``benchmarks/README.md``,
    section 16). Memory is linear in the number of points plus the edges of one neighbour
    graph.

    Examples
    --------
    >>> bottleneck_distance([[0.0, 1.0], [0.0, np.inf]], [[0.0, 1.2], [0.5, np.inf]])
    0.5
    """
    a = check_diagram_array(a, "first diagram")
    b = check_diagram_array(b, "second diagram")
    ea, eb = np.sort(a[np.isinf(a[:, 1]), 0]), np.sort(b[np.isinf(b[:, 1]), 0])
    if ea.size != eb.size:
        return float("inf")
    ess = float(np.abs(ea - eb).max()) if ea.size else 0.0
    fa, fb = a[np.isfinite(a[:, 1])], b[np.isfinite(b[:, 1])]
    return max(_finite_bottleneck(fa, fb), ess)


def _finite_bottleneck(fa: np.ndarray, fb: np.ndarray) -> float:
    """Bottleneck distance of two diagrams of finite points (see the module docstring)."""
    scale = 1.0
    top = max(float(np.abs(fa).max(initial=0.0)), float(np.abs(fb).max(initial=0.0)))
    if top > _HUGE:  # a power of two: every difference and half scales exactly
        scale = 16.0
        fa, fb = fa / scale, fb / scale
    ha, hb = (fa[:, 1] - fa[:, 0]) / 2, (fb[:, 1] - fb[:, 0]) / 2
    if len(fa) == 0 or len(fb) == 0:
        return float(np.concatenate([ha, hb]).max(initial=0.0)) * scale
    return _Search(fa, ha, fb, hb).run() * scale


class _Search:
    """State of one bottleneck search: the two diagrams, their halves, and the bounds."""

    def __init__(self, fa: np.ndarray, ha: np.ndarray, fb: np.ndarray, hb: np.ndarray) -> None:
        self.a, self.ha, self.b, self.hb = fa, ha, fb, hb
        both = np.vstack([fa, fb])
        self.origin = (float(both[:, 0].min()), float(both[:, 1].min()))
        self.span = float(np.ptp(both, axis=0).max())
        self.halves = np.sort(np.concatenate([ha, hb]))
        self.lo = -1.0  # infeasible (-1: nothing known yet)
        self.hi = float(self.halves[-1])  # feasible: every point to the diagonal

    def feasible(self, t: float) -> bool:
        """Whether some matching moves no point by more than ``t``."""
        from ._matching import Grid, hopcroft_karp

        for q, hq, p in ((self.a, self.ha, self.b), (self.b, self.hb, self.a)):
            big = q[hq > t]
            if len(big) == 0:
                continue
            if len(big) > len(p):
                return False
            grid = Grid.build(p, np.zeros(len(p)), self.origin, self.span, t)
            indptr, indices, lonely = grid.neighbours(big, t)
            if lonely or hopcroft_karp(indptr, indices, len(p)) < len(big):
                return False
        return True

    def _scan(self, hist: np.ndarray, out: np.ndarray) -> int:
        """Histogram (and list into ``out``) the relevant pair distances in ``(lo, hi]``."""
        from ._matching import Grid, scan_pairs

        grid = Grid.build(self.b, self.hb, self.origin, self.span, self.hi)
        qcx, qcy = grid.cells(self.a)
        base = max(self.lo, 0.0)
        return int(scan_pairs(
            np.ascontiguousarray(self.a[:, 0]), np.ascontiguousarray(self.a[:, 1]), self.ha, qcx, qcy,
            grid.x, grid.y, grid.extra, grid.cx, grid.cy, self.lo, self.hi, base, self.hi - base, hist, out))

    def _halves_in(self) -> np.ndarray:
        h = self.halves
        return h[np.searchsorted(h, self.lo, "right"):np.searchsorted(h, self.hi, "right")]

    def run(self) -> float:
        """The smallest feasible candidate."""
        while True:
            if np.nextafter(self.lo, np.inf) >= self.hi:  # (lo, hi] holds one double: hi
                return self.hi
            hist = np.zeros(_BINS, dtype=np.int64)
            n_pairs = self._scan(hist, np.empty(0))
            halves = self._halves_in()
            if n_pairs + len(halves) <= _COLLECT:
                return self._finish(halves, n_pairs)
            before = (self.lo, self.hi)
            self._narrow(hist, halves)
            if (self.lo, self.hi) == before:  # bins too fine for the doubles: list them all
                return self._finish(halves, n_pairs)

    def _narrow(self, hist: np.ndarray, halves: np.ndarray) -> None:
        """Probe bin edges, halving the candidate count each time, down to one bin or few left."""
        base = max(self.lo, 0.0)
        width = self.hi - base
        if len(halves):
            k = np.clip(((halves - base) / width * _BINS).astype(np.int64), 0, _BINS - 1)
            hist += np.bincount(k, minlength=_BINS)
        cum = np.concatenate([[0], np.cumsum(hist)])
        klo, khi = 0, _BINS
        while khi - klo > 1 and cum[khi] - cum[klo] > _COLLECT:
            k = int(np.searchsorted(cum, (cum[klo] + cum[khi]) / 2))
            k = min(max(k, klo + 1), khi - 1)
            t = base + width * k / _BINS
            if t <= self.lo or t >= self.hi:  # rounding put the edge outside: skip it
                if t >= self.hi:
                    khi = k
                else:
                    klo = k
                continue
            if self.feasible(t):
                khi, self.hi = k, t
            else:
                klo, self.lo = k, t

    def _finish(self, halves: np.ndarray, n_pairs: int) -> float:
        """List the candidates in ``(lo, hi]`` and binary-search the smallest feasible one."""
        out = np.empty(max(n_pairs, 1))
        n = self._scan(np.zeros(1, dtype=np.int64), out)
        cand = np.unique(np.concatenate([out[:n], halves]))
        lo, hi = 0, len(cand) - 1  # cand[hi] >= the distance, so it is feasible
        while lo < hi:
            mid = (lo + hi) // 2
            if self.feasible(float(cand[mid])):
                hi = mid
            else:
                lo = mid + 1
        return float(cand[lo])
