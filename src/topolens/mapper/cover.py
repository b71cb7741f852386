"""Covers of the lens space: uniform intervals (two conventions), balanced intervals, products.

Conventions for ``n`` intervals of a lens with range ``[m, M]`` (``R = M - m``) and overlap
fraction ``p`` (the share of an interval's length it has in common with its neighbour):

``convention="kmapper"`` (KeplerMapper 2.x)
    centres ``m + (k + 1/2) R / n``, length ``R / (n (1 - p))``, so the outer intervals stick out
    beyond ``[m, M]`` by ``R p / (2 n (1 - p))``. Computed with the very float expressions
    KeplerMapper uses, so the same points fall in the same intervals.
``convention="gtda"`` (giotto-tda 0.6)
    length ``L = R / (n - (n - 1) p)``, left ends ``m + k (1 - p) L``: the intervals span exactly
    ``[m, M]``.

Intervals are closed (``lo <= v <= hi``) by default, as in KeplerMapper. ``closed=False`` gives
open intervals ``lo < v < hi`` as giotto-tda, whose outermost ends are then at -inf/+inf (for
either convention) so that the extreme points stay covered; open intervals need an overlap > 0. A :class:`BalancedCover` puts (about) the same number of points
in each interval instead, from the ranks of the lens values.

A multi-dimensional lens is covered by the products of the per-coordinate intervals, enumerated
with the first coordinate varying slowest (``itertools.product`` order, as KeplerMapper).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import InvalidInputError

__all__ = ["BalancedCover", "CoverSets", "UniformCover", "make_cover"]

_CONVENTIONS = ("kmapper", "gtda")


@dataclass(frozen=True)
class CoverSets:
    """A fitted cover: the bounds of every cover set (a box in lens space).

    Attributes
    ----------
    lower, upper : ndarray of shape (n_sets, d)
        Bounds of each set along each lens coordinate (may be -inf/+inf for open outer sets).
    grid : ndarray of shape (n_sets, d), int
        The interval index along each coordinate (the set is the product of those intervals).
    closed : bool
        Closed sets (``lower <= v <= upper``) or open ones (``lower < v < upper``).
    kind : str
        ``"uniform/kmapper"``, ``"uniform/gtda"`` or ``"balanced"``.
    n_intervals, overlap : tuple
        The settings per lens coordinate.
    """

    lower: np.ndarray
    upper: np.ndarray
    grid: np.ndarray
    closed: bool
    kind: str
    n_intervals: tuple[int, ...]
    overlap: tuple[float, ...]

    @property
    def n_sets(self) -> int:
        """Number of cover sets."""
        return int(self.lower.shape[0])

    @property
    def n_dims(self) -> int:
        """Number of lens coordinates."""
        return int(self.lower.shape[1])

    def intervals(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n_intervals[dim]`` intervals along lens coordinate ``dim``, in order."""
        first = np.array([np.flatnonzero(self.grid[:, dim] == k)[0]
                          for k in range(self.n_intervals[dim])])
        return self.lower[first, dim], self.upper[first, dim]

    def _dim_members(self, values: np.ndarray) -> list[list[np.ndarray]]:
        out = []
        for d in range(self.n_dims):
            v = values[:, d]
            lo_d, hi_d = self.intervals(d)
            if self.closed:
                out.append([np.flatnonzero((v >= lo) & (v <= hi)) for lo, hi in zip(lo_d, hi_d, strict=True)])
            else:
                out.append([np.flatnonzero((v > lo) & (v < hi)) for lo, hi in zip(lo_d, hi_d, strict=True)])
        return out

    def members(self, values: np.ndarray) -> list[np.ndarray]:
        """Indices (sorted, int64) of the points in each cover set, for lens ``values`` (n, d)."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        if values.shape[1] != self.n_dims:
            raise InvalidInputError(
                f"the cover was fitted on a {self.n_dims}-D lens but got lens values of shape "
                f"{values.shape}; use the same lens for fitting and assigning."
            )
        per_dim = self._dim_members(values)
        sets = []
        for row in self.grid:
            idx = per_dim[0][row[0]]
            for d in range(1, self.n_dims):
                idx = np.intersect1d(idx, per_dim[d][row[d]], assume_unique=True)
            sets.append(idx.astype(np.int64, copy=False))
        return sets

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (infinities as None)."""

        def enc(a: np.ndarray) -> list:
            return [[None if not np.isfinite(x) else float(x) for x in row] for row in a]

        return {
            "kind": self.kind,
            "closed": self.closed,
            "n_intervals": list(self.n_intervals),
            "overlap": list(self.overlap),
            "lower": enc(np.where(np.isneginf(self.lower), np.nan, self.lower)),
            "upper": enc(np.where(np.isposinf(self.upper), np.nan, self.upper)),
            "grid": self.grid.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CoverSets:
        """Inverse of :meth:`to_dict`."""
        try:
            lower = np.array([[-np.inf if x is None else x for x in r] for r in d["lower"]], float)
            upper = np.array([[np.inf if x is None else x for x in r] for r in d["upper"]], float)
            return cls(
                lower=lower.reshape(len(d["grid"]), -1),
                upper=upper.reshape(len(d["grid"]), -1),
                grid=np.asarray(d["grid"], dtype=np.int64).reshape(len(d["grid"]), -1),
                closed=bool(d["closed"]),
                kind=str(d["kind"]),
                n_intervals=tuple(int(k) for k in d["n_intervals"]),
                overlap=tuple(float(p) for p in d["overlap"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"not a valid cover record ({exc!r}); expected the keys kind, closed, n_intervals, "
                "overlap, lower, upper, grid as written by CoverSets.to_dict()."
            ) from exc


def _per_dim(value: Any, d: int, name: str) -> list:
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str):
        vals = list(value)
        if len(vals) != d:
            raise InvalidInputError(
                f"{name} has {len(vals)} entries but the lens has {d} coordinate(s); give one "
                f"value or {d} values."
            )
        return vals
    return [value] * d


def _check_settings(n_intervals: Any, overlap: Any, d: int, n_points: int) -> tuple[list[int], list[float]]:
    ns = _per_dim(n_intervals, d, "n_intervals")
    ps = _per_dim(overlap, d, "overlap")
    out_n = []
    for k in ns:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InvalidInputError(f"n_intervals must be a positive integer; got {k!r}.")
        if k > n_points:
            raise InvalidInputError(
                f"n_intervals={int(k)} is more than the number of points ({n_points}); most "
                "intervals would be empty. Use at most as many intervals as points (usually far "
                "fewer, e.g. 10)."
            )
        out_n.append(int(k))
    out_p = []
    for p in ps:
        try:
            pf = float(p)
        except (TypeError, ValueError):
            raise InvalidInputError(f"overlap must be a number in [0, 1); got {p!r}.") from None
        if not 0.0 <= pf < 1.0:
            raise InvalidInputError(
                f"overlap must be in [0, 1) (the fraction of an interval shared with its "
                f"neighbour); got {p!r}."
            )
        out_p.append(pf)
    return out_n, out_p


def _as_values(values: Any) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] == 0:
        raise InvalidInputError(
            f"lens values must have shape (n_points,) or (n_points, d) with n_points >= 1; got "
            f"{np.shape(values)}."
        )
    if not np.isfinite(v).all():
        raise InvalidInputError("lens values contain NaN or infinity; the cover needs finite values.")
    return v


def _product(intervals: list[tuple[np.ndarray, np.ndarray]], closed: bool, kind: str,
             ns: list[int], ps: list[float]) -> CoverSets:
    grid = np.array(list(itertools.product(*[range(k) for k in ns])), dtype=np.int64)
    grid = grid.reshape(-1, len(ns))
    lower = np.column_stack([intervals[d][0][grid[:, d]] for d in range(len(ns))])
    upper = np.column_stack([intervals[d][1][grid[:, d]] for d in range(len(ns))])
    return CoverSets(lower, upper, grid, closed, kind, tuple(ns), tuple(ps))


def _constant_error(d: int, value: float, n: int) -> InvalidInputError:
    return InvalidInputError(
        f"lens coordinate {d} is constant ({value!r}) over all points, so it cannot be split into "
        f"{n} intervals; use n_intervals=1 for it or a lens that varies over the points."
    )


class UniformCover:
    """Overlapping intervals of equal length (a product of them for a multi-dimensional lens).

    Parameters
    ----------
    n_intervals : int or sequence of int, default 10
        Intervals per lens coordinate (KeplerMapper's ``n_cubes``).
    overlap : float or sequence of float, default 0.3
        Fraction of an interval's length shared with its neighbour, in [0, 1).
    convention : {"kmapper", "gtda"}, default "kmapper"
        Where the intervals sit relative to ``[min, max]`` of the lens (see the module docs).
    closed : bool, default True
        Closed intervals (KeplerMapper) or open ones with infinite outer ends (giotto-tda).
    limits : sequence of (low, high), optional
        Use these instead of the lens' min and max for each coordinate.

    Attributes
    ----------
    sets_ : CoverSets
        The fitted cover (after :meth:`fit`).
    """

    def __init__(self, n_intervals: int | Sequence[int] = 10, overlap: float | Sequence[float] = 0.3,
                 *, convention: str = "kmapper", closed: bool = True,
                 limits: Sequence[tuple[float, float]] | None = None) -> None:
        self.n_intervals = n_intervals
        self.overlap = overlap
        self.convention = convention
        self.closed = closed
        self.limits = limits

    def __repr__(self) -> str:
        return (f"UniformCover(n_intervals={self.n_intervals!r}, overlap={self.overlap!r}, "
                f"convention={self.convention!r}, closed={self.closed!r})")

    def fit(self, values: Any) -> UniformCover:
        """Compute the intervals from lens ``values`` of shape (n_points,) or (n_points, d)."""
        v = _as_values(values)
        if self.convention not in _CONVENTIONS:
            raise InvalidInputError(
                f"unknown cover convention {self.convention!r}; use 'kmapper' (centres at "
                "min + (k + 1/2) R/n) or 'gtda' (intervals spanning exactly [min, max])."
            )
        d = v.shape[1]
        ns, ps = _check_settings(self.n_intervals, self.overlap, d, v.shape[0])
        if not self.closed and any(p == 0 and k > 1 for k, p in zip(ns, ps, strict=True)):
            raise InvalidInputError(
                "open intervals (closed=False) with overlap 0 leave the points on the interval "
                "boundaries in no set; use overlap > 0 or closed intervals."
            )
        if self.limits is not None:
            lim = np.asarray(self.limits, dtype=np.float64).reshape(-1, 2)
            if lim.shape[0] != d or not (lim[:, 1] > lim[:, 0]).all():
                raise InvalidInputError(
                    f"limits must be {d} pair(s) (low, high) with low < high; got {self.limits!r}."
                )
            lows, highs = lim[:, 0], lim[:, 1]
        else:
            lows, highs = v.min(axis=0), v.max(axis=0)
        intervals = []
        for j in range(d):
            n, p = ns[j], ps[j]
            lo, hi = lows[j], highs[j]
            if hi == lo and n > 1:
                raise _constant_error(j, float(lo), n)
            if self.convention == "kmapper":
                # the exact float expressions of kmapper.cover.Cover.fit / transform_single
                n_arr = np.int64(n)
                rng = hi - lo
                inner = ((n_arr - 1) / n_arr) * rng
                inset = (rng - inner) / 2
                radius = rng / (2 * n_arr * (1 - p))
                centres = np.linspace(lo + inset, hi - inset, num=n)
                left, right = centres - radius, centres + radius
            else:
                length = (hi - lo) / (n - (n - 1) * p)
                last = lo + (n - 1) * (1 - p) * length
                left = np.linspace(lo, last, num=n, endpoint=True)
                right = left + length
                right[-1] = max(right[-1], hi)  # rounding must not leave the maximum out
            if n == 1 and hi == lo:
                left, right = np.array([lo], float), np.array([hi], float)
            if not self.closed:  # open sets: the outer ends go to infinity, so no point is lost
                left, right = np.array(left, float), np.array(right, float)
                left[0], right[-1] = -np.inf, np.inf
            intervals.append((np.asarray(left, float), np.asarray(right, float)))
        self.sets_ = _product(intervals, bool(self.closed), f"uniform/{self.convention}", ns, ps)
        return self


class BalancedCover:
    """Overlapping intervals holding (about) equally many points: a quantile cover.

    The uniform giotto-tda construction is applied to the ranks of the lens values (positions
    ``0 .. n_points - 1`` in sorted order), then mapped back to lens values. Closed intervals,
    so tied values always land together.

    Parameters
    ----------
    n_intervals : int or sequence of int, default 10
    overlap : float or sequence of float, default 0.3
    """

    def __init__(self, n_intervals: int | Sequence[int] = 10,
                 overlap: float | Sequence[float] = 0.3) -> None:
        self.n_intervals = n_intervals
        self.overlap = overlap

    def __repr__(self) -> str:
        return f"BalancedCover(n_intervals={self.n_intervals!r}, overlap={self.overlap!r})"

    def fit(self, values: Any) -> BalancedCover:
        """Compute the intervals from lens ``values`` of shape (n_points,) or (n_points, d)."""
        v = _as_values(values)
        n_pts, d = v.shape
        ns, ps = _check_settings(self.n_intervals, self.overlap, d, n_pts)
        intervals = []
        for j in range(d):
            s = np.sort(v[:, j])
            n, p = ns[j], ps[j]
            if s[0] == s[-1] and n > 1:
                raise _constant_error(j, float(s[0]), n)
            lo, hi = -0.5, n_pts - 0.5
            length = (hi - lo) / (n - (n - 1) * p)
            left = lo + np.arange(n) * (1 - p) * length
            right = left + length
            start = np.clip(np.ceil(left), 0, n_pts - 1).astype(np.int64)
            end = np.clip(np.floor(right), 0, n_pts - 1).astype(np.int64)
            end = np.maximum(end, start)
            intervals.append((s[start], s[end]))
        self.sets_ = _product(intervals, True, "balanced", ns, ps)
        return self


def make_cover(cover: Any = None, *, n_intervals: Any = 10, overlap: Any = 0.3) -> Any:
    """Return an unfitted cover object: ``cover`` itself, or a default :class:`UniformCover`."""
    if cover is None:
        return UniformCover(n_intervals, overlap)
    if isinstance(cover, str):
        if cover in ("uniform", "kmapper"):
            return UniformCover(n_intervals, overlap, convention="kmapper")
        if cover == "gtda":
            return UniformCover(n_intervals, overlap, convention="gtda")
        if cover == "balanced":
            return BalancedCover(n_intervals, overlap)
        raise InvalidInputError(
            f"unknown cover {cover!r}; use 'uniform' (KeplerMapper convention), 'gtda', "
            "'balanced', or a UniformCover/BalancedCover object."
        )
    if not hasattr(cover, "fit"):
        raise InvalidInputError(
            f"cover must be a UniformCover, BalancedCover or a name; got {type(cover).__name__}."
        )
    return cover
