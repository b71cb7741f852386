"""The density filtration X(k, p) and max-min landmarks of point clouds (patches, filters).

Carlsson, Ishkhanov, de Silva & Zomorodian (2008, "On the local behavior of spaces of natural
images") measure the density at a point ``x`` by ``delta_k(x)``, the distance from ``x`` to its
``k``-th nearest neighbour (small ``delta_k``: high density), and keep the core subset ``X(k, p)``,
the fraction ``p`` of the points with the smallest ``delta_k``. Small ``k`` sees local density
(the three-circle model of 3x3 patches), large ``k`` a smoothed one (the primary circle).
:func:`maxmin_landmarks` picks well-spread landmarks (farthest-point sampling) so that persistence
of a large set runs on a small one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .._validation import check_choice, check_int, check_points
from ..exceptions import InvalidInputError
from ..homology.memory import check_memory
from ._patches import _fraction, _keep_count

__all__ = ["METRICS", "DensityFiltered", "density_filter", "maxmin_landmarks"]

logger = logging.getLogger(__name__)

#: the ``metric=`` choices of :func:`density_filter` (all served by scikit-learn's k-d tree)
METRICS = ("euclidean", "manhattan", "chebyshev")
#: at most this many neighbour entries (rows x (k + 1)) are held per query chunk
_CHUNK_ENTRIES = 1 << 21
#: up to this many features the k-d tree is used, brute force above. The data of this module lie
#: near low-dimensional sets (circles, the Klein bottle) in 8 or 9 coordinates, where the tree wins;
#: full-dimensional noise is its worst case. Measured on 50,000 points, 2 shared cores, k = 15
#: (tree vs brute): DCT coordinates of noisy Klein filters (8-D) 5.0 s vs 19 s (k = 100: 15 s vs
#: 20 s), unit-normalised noisy 3x3 Klein filters (9-D) 5.5 s vs 22 s, a 2-D Gaussian blob with
#: 6 thin directions (8-D) 4.2 s vs 18 s; uniform on S^7 16 s vs 14 s, a 9-D Gaussian 34 s vs 16 s
_TREE_MAX_FEATURES = 9
#: MiB of distance blocks scikit-learn's brute-force search may hold at once (its default is 1 GiB)
_WORKING_MIB = 64


@dataclass(frozen=True)
class DensityFiltered:
    """The core subset ``X(k, p)`` of :func:`density_filter`.

    Attributes
    ----------
    indices : numpy.ndarray
        ``(n_keep,)`` int64 rows of the input kept, densest first (increasing ``delta_k``; ties in
        index order).
    distances : numpy.ndarray
        ``(n_keep,)`` float64 ``delta_k`` of those rows, the distance to their ``k``-th nearest
        neighbour (the point itself not counted), aligned with ``indices`` (non-decreasing).
    radius : float
        The largest kept distance, ``distances[-1]``.
    k : int
        The neighbour rank used.
    p : float
        The fraction of points asked for.
    n_points : int
        The number of input points.
    """

    indices: np.ndarray
    distances: np.ndarray
    radius: float
    k: int
    p: float
    n_points: int

    def __len__(self) -> int:
        return len(self.indices)


def _pair_distance(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Row-wise distances of ``a`` and ``b`` (same shape) in ``metric``."""
    diff = np.abs(a - b)
    if metric == "euclidean":
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return diff.sum(axis=1) if metric == "manhattan" else diff.max(axis=1)


def _knn_distances(x: np.ndarray, k: int, metric: str = "euclidean", *, progress: bool = False) -> np.ndarray:
    """``delta_k`` of every row of a validated float64 ``x``: the distance to the ``k``-th nearest
    other row (``1 <= k < n``), exact, in chunks of queries (bounded memory).

    Each row is queried for ``k + 1`` neighbours including itself: its own distance 0 is always
    among the smallest, so the ``(k + 1)``-th smallest distance is the ``k``-th smallest to the
    *other* rows, also when some rows are duplicates (then ``delta_k`` may be 0). The distance is
    recomputed exactly from the coordinates of that neighbour (brute-force search in scikit-learn
    uses the expanded ``|a|^2 - 2ab + |b|^2`` formula, whose rounding would make duplicates ~1e-8
    apart).
    """
    from sklearn import config_context
    from sklearn.neighbors import NearestNeighbors
    from tqdm.auto import tqdm

    n, dim = x.shape
    algorithm = "kd_tree" if dim <= _TREE_MAX_FEATURES else "brute"
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm=algorithm, metric=metric).fit(x)
    step = max(1, _CHUNK_ENTRIES // (k + 1))
    out = np.empty(n)
    for start in tqdm(range(0, n, step), desc=f"{k}-NN distances", disable=not progress, leave=False):
        stop = min(n, start + step)
        with config_context(working_memory=_WORKING_MIB):  # brute force's distance blocks
            idx = nn.kneighbors(x[start:stop], n_neighbors=k + 1, return_distance=False)[:, k]
        out[start:stop] = _pair_distance(x[start:stop], x[idx], metric)
    return out


def density_filter(x: Any, k: int = 15, p: float = 0.3, *, metric: Literal["euclidean", "manhattan", "chebyshev"] = "euclidean",
                   memory_limit: int | Literal["auto"] | None = "auto", progress: bool = False) -> DensityFiltered:
    """The densest fraction ``p`` of the points by their ``k``-th nearest-neighbour distance: X(k, p).

    This is the core subset of Carlsson, Ishkhanov, de Silva & Zomorodian (2008): ``delta_k(x)`` is
    the distance from ``x`` to its ``k``-th nearest neighbour among the *other* points, and the
    ``round(p * n)`` points (halves rounded up, at least one) with the smallest ``delta_k`` are kept.

    Parameters
    ----------
    x : array-like
        ``(n, n_features)`` points, e.g. DCT coordinates of high-contrast patches
        (:func:`topolens.filters.to_dct`) or normalised filters. Duplicate points are legal (their
        ``delta_k`` can be 0).
    k : int
        Neighbour rank, ``1 <= k <= n - 1``. The paper uses k = 15 (local) to k = 300 (global).
    p : float
        Fraction in (0, 1] of the points to keep (the paper: 0.3).
    metric : {"euclidean", "manhattan", "chebyshev"}
        Distance between points.
    memory_limit : int, "auto" or None
        Budget in bytes for the neighbour index and the query chunks (``"auto"``: 80% of the available
        memory; None: no check).
    progress : bool
        A tqdm bar over the query chunks.

    Returns
    -------
    DensityFiltered
        ``indices`` (densest first), ``distances`` (their ``delta_k``), ``radius``, ``k``, ``p``.
        Exact (a k-d tree for up to 9 features, scikit-learn's chunked brute force above, whose
        distances are recomputed exactly); 50,000 DCT coordinates of filters near the Klein
        bottle (8-D) take about 5 s at k = 15 on two cores, full-dimensional noise up to 35 s.

    Raises
    ------
    ShapeError
        If ``x`` is not 2-D ``(n, n_features)``.
    NonFiniteError
        If ``x`` holds NaN or infinite values.
    InvalidInputError
        If ``k < 1`` or ``k >= n``, ``p`` is outside (0, 1] or ``metric`` is unknown.
    MemoryBudgetError
        If the neighbour search would not fit in ``memory_limit``.
    """
    x = check_points(x, name="points", min_points=1)
    n, dim = x.shape
    k = check_int(k, "k", minimum=1)
    if k >= n:
        raise InvalidInputError(
            f"k={k} needs at least k + 1 = {k + 1} points, but there are {n}: the largest legal k is "
            f"{n - 1}{' (one point has no neighbour)' if n == 1 else ''}. Lower k or pass more points."
        )
    p = _fraction(p, "p")
    metric = check_choice(metric, "metric", METRICS)
    step = max(1, _CHUNK_ENTRIES // (k + 1))
    estimate = (2 * n * dim * 8 + 3 * n * 8 + min(n, step) * ((k + 1) * 24 + 2 * dim * 8)
                + _WORKING_MIB * 2**20)
    check_memory(estimate, memory_limit, what=f"the {k}-NN distances of {n:,} points in {dim} dimensions",
                 hint="sample fewer points (a random subset or maxmin_landmarks) or use fewer features")
    delta = _knn_distances(x, k, metric, progress=progress)
    n_keep = _keep_count(p, n)
    order = np.argsort(delta, kind="stable")[:n_keep].astype(np.int64)
    dist = delta[order]
    logger.info("density filter: kept %d of %d points (k=%d, p=%g), radius %.4g", n_keep, n, k, p, dist[-1])
    return DensityFiltered(indices=order, distances=dist, radius=float(dist[-1]), k=k, p=p, n_points=n)


def maxmin_landmarks(x: Any, n_landmarks: int, *, seed: int | None = 0, return_radius: bool = False,
                     progress: bool = False) -> np.ndarray | tuple[np.ndarray, float]:
    """Greedy max-min (farthest-point) landmarks: each new landmark is the point farthest from the
    landmarks chosen so far, starting from a seeded random point.

    Parameters
    ----------
    x : array-like
        ``(n, n_features)`` points (Euclidean distance).
    n_landmarks : int
        How many landmarks (>= 1). ``n_landmarks >= n`` returns every index ``0 .. n - 1`` (covering
        radius 0).
    seed : int, optional
        Seed of ``numpy.random.default_rng`` choosing the first landmark.
    return_radius : bool
        Also return the covering radius ``max_i min_l d(x_i, x_l)``: every point lies within it of
        some landmark, and it is at most twice the best radius any ``n_landmarks`` points achieve.
    progress : bool
        A tqdm bar over the landmarks.

    Returns
    -------
    landmarks : numpy.ndarray
        ``(min(n_landmarks, n),)`` distinct int64 row indices in the order chosen. Ties go to the
        lowest index; duplicates of a landmark are chosen only once every other point is covered
        at distance 0.
    radius : float
        The covering radius (only with ``return_radius``).

    Notes
    -----
    O(n * n_landmarks * n_features) time and O(n * n_features) memory: one float64 distance update
    per landmark, never an n x n matrix.
    """
    from tqdm.auto import tqdm

    x = check_points(x, name="points", min_points=1)
    n_landmarks = check_int(n_landmarks, "n_landmarks", minimum=1)
    seed = check_int(seed, "seed", minimum=0, allow_none=True)
    n = len(x)
    if n_landmarks >= n:
        idx = np.arange(n, dtype=np.int64)
        return (idx, 0.0) if return_radius else idx
    rng = np.random.default_rng(seed)
    chosen = np.empty(n_landmarks, dtype=np.int64)
    nearest = np.full(n, np.inf)  # distance of each point to its nearest landmark so far
    current = int(rng.integers(n))
    for i in tqdm(range(n_landmarks), desc="max-min landmarks", disable=not progress, leave=False):
        chosen[i] = current
        diff = x - x[current]
        np.minimum(nearest, np.sqrt(np.einsum("ij,ij->i", diff, diff)), out=nearest)
        nearest[current] = -1.0  # never chosen again (stays below every distance)
        current = int(np.argmax(nearest))
    if return_radius:
        return chosen, float(max(nearest.max(), 0.0))
    return chosen
