"""The topology of a filter set: persistence over Z/2 and Z/3, nearness to the primary circle, Mapper.

The points are filters or patches, the rows of an ``(n, k * k)`` array (or a
:class:`~topolens.filters.FilterSet`, whose ``points`` are used).

* :func:`filter_persistence`: Vietoris-Rips persistence of max-min landmarks of the filters, over
  several coefficient fields. Over Z/2 a Klein bottle has Betti numbers (1, 2, 1), over Z/3
  (1, 1, 0); a torus has (1, 2, 1) over both, a circle (1, 1, 0), the three-circle model (1, 5, 0)
  (Carlsson et al. 2008).
* :func:`circle_similarity` / :func:`circle_share`: how close each filter is to the primary circle
  of linear "edge" filters (the share within cosine 0.9 of a circle filter: Carlsson & Gabrielsson).
* :func:`filter_mapper`: a Mapper graph of the filters (PCA lens).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from .._validation import _to_numpy, check_choice, check_int, check_points
from ..exceptions import InvalidInputError
from ..homology.memory import check_memory
from ..homology.rips import distance_quantile, rips_persistence
from ._basis import _dct_coords, _patch_rows
from ._density import maxmin_landmarks
from ._extract import FilterSet
from ._klein import _embed, circle_filters, klein_filter

__all__ = ["AUTO_FULL_LANDMARKS", "AUTO_MIN_QUANTILE", "circle_share", "circle_similarity", "filter_mapper",
           "filter_persistence"]

logger = logging.getLogger(__name__)

#: ``threshold="auto"`` runs the full filtration (exact, nothing censored) up to this many landmarks
#: for H2 (measured: 200 points on S^7 take ~1.5 s over Z/2; H1 alone is always run in full)
AUTO_FULL_LANDMARKS = 250
#: ... and beyond it never thresholds below this quantile of the landmark distances
AUTO_MIN_QUANTILE = 0.2
_METRICS = ("euclidean", "dnorm", "cosine")


def _rows_of(points: Any, name: str = "filters") -> np.ndarray:
    """``(n, d)`` float64 rows of a FilterSet (its points) or an array; ``(n, k, k)`` is flattened."""
    if isinstance(points, FilterSet):
        return points.points
    arr = _to_numpy(points, name)
    if getattr(arr, "ndim", 0) == 3:
        arr = arr.reshape(arr.shape[0], -1)
    return check_points(arr, name=name, min_points=1)


def _metric_coordinates(x: np.ndarray, metric: str) -> np.ndarray:
    """Coordinates whose Euclidean distance orders the pairs as ``metric`` does."""
    if metric == "euclidean":
        return x
    if metric == "dnorm":  # D-distance of the mean-centred rows = Euclidean distance of these
        rows, size, _ = _patch_rows(x, "filters", None)
        return _dct_coords(rows, size)
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        raise InvalidInputError(f"{int((norms == 0).sum())} filter(s) are zero vectors, which have no cosine "
                                "distance; drop them or use metric='euclidean'.")
    return x / norms[:, None]


def _landmark_matrix(y: np.ndarray, metric: str, idx: np.ndarray) -> np.ndarray:
    from scipy.spatial.distance import pdist, squareform

    d = squareform(pdist(y[idx]))
    return np.maximum(d * d / 2.0, 0.0) if metric == "cosine" else d  # 1 - cos = |a - b|^2 / 2 on the sphere


def _auto_threshold(d: np.ndarray, max_dim: int) -> tuple[float | None, float | None]:
    """(threshold, quantile) of ``threshold="auto"``: None (the full filtration) for H1, or for H2 up to
    ``AUTO_FULL_LANDMARKS`` points; beyond, the quantile ``q`` whose expected triangle count
    ``q^3 C(m, 3)`` is that of the full run on ``AUTO_FULL_LANDMARKS`` points (at least
    ``AUTO_MIN_QUANTILE``); for H3 and up, ``AUTO_MIN_QUANTILE``."""
    m = len(d)
    if max_dim <= 1 or (max_dim == 2 and m <= AUTO_FULL_LANDMARKS):
        return None, None
    if max_dim == 2:
        q = (math.comb(AUTO_FULL_LANDMARKS, 3) / math.comb(m, 3)) ** (1 / 3)
        q = max(AUTO_MIN_QUANTILE, q)
    else:
        q = AUTO_MIN_QUANTILE
    return distance_quantile(d, q), float(q)


def _check_coeffs(coeffs: Any) -> list[int]:
    items = [coeffs] if isinstance(coeffs, (int, np.integer)) else coeffs
    if not isinstance(items, (Sequence, np.ndarray)) or isinstance(items, str) or len(items) == 0:
        raise InvalidInputError(f"coeffs must be a prime or a non-empty list of primes (e.g. (2, 3)); found {coeffs!r}.")
    out: list[int] = []
    for p in items:
        p = check_int(p, "coeffs entry", minimum=2)
        if any(p % q == 0 for q in range(2, int(p**0.5) + 1)):
            raise InvalidInputError(f"coeffs must be primes (homology over the field Z/p); found {p}.")
        if p not in out:
            out.append(p)
    return out


def filter_persistence(points: Any, *, max_dim: int = 2, coeffs: int | Sequence[int] = (2, 3),
                       n_landmarks: int | None = 200, threshold: float | Literal["auto"] | None = "auto",
                       metric: Literal["euclidean", "dnorm", "cosine"] = "euclidean", seed: int = 0,
                       memory_limit: int | Literal["auto"] | None = "auto", progress: bool = True) -> dict[int, Any]:
    """Vietoris-Rips persistence of a filter set over each coefficient field Z/p.

    Above ``n_landmarks`` points, max-min landmarks (:func:`topolens.filters.maxmin_landmarks`,
    seeded) are taken first; persistence is that of the landmarks' distance matrix, computed with
    :func:`topolens.homology.rips_persistence` once per coefficient.

    Parameters
    ----------
    points : FilterSet or array-like
        ``(n, d)`` points (a FilterSet: its ``points``); e.g. DCT coordinates
        (:func:`topolens.filters.to_dct`), where Euclidean distance is the D-distance.
    max_dim : int
        Largest homology dimension (2 tells a Klein bottle from a torus or a circle).
    coeffs : int or sequence of int
        Primes p of the fields Z/p; default (2, 3): a Klein bottle has Betti numbers (1, 2, 1) over
        Z/2 and (1, 1, 0) over Z/3.
    n_landmarks : int or None
        Landmarks taken above this many points (None: every point, the matrix budgeted first).
    threshold : "auto", float or None
        None: the full filtration (exact, nothing censored). A float: only edges up to it (classes
        alive there are *censored*: death inf, flagged in ``censored``). ``"auto"`` (default): the
        full filtration for ``max_dim <= 1`` and, for H2, up to ``AUTO_FULL_LANDMARKS`` (250)
        landmarks (a few seconds, measured ~1.5 s for 200 points on S^7); above, the quantile ``q``
        of the landmark distances at which the expected number of triangles equals that of 250
        points in full (``q = (C(250, 3) / C(m, 3))^(1/3)``, at least ``AUTO_MIN_QUANTILE`` = 0.2),
        so the cost stays about constant; for H3 and up, the 0.2 quantile. The rule and ``q`` are
        in the metadata; long bars of the model spaces (circle, Klein bottle) are born far below
        these thresholds, but may be censored.
    metric : {"euclidean", "dnorm", "cosine"}
        Between rows: Euclidean; ``"dnorm"``: the D-distance ``||a - b||_D`` of the mean-centred rows
        (square ``k * k`` rows; what Carlsson et al. use); ``"cosine"``: ``1 - cos``.
    seed : int
        Seed of the first landmark.
    memory_limit : int (bytes), "auto" or None
        Budget for the landmark matrix and each persistence run
        (:class:`~topolens.MemoryBudgetError` before allocating).
    progress : bool
        tqdm bars over the landmarks and the coefficients.

    Returns
    -------
    dict of int to PersistenceDiagrams
        Coefficient -> diagrams H0..H``max_dim``. Each metadata has (besides rips_persistence's
        ``threshold``, ``complete``, ``n_points`` = landmarks ...): ``n_filters`` (n),
        ``n_landmarks``, ``landmarks`` (row indices into ``points``), ``covering_radius`` (every point
        is within it of a landmark, in the metric's units; 0 without landmarks), ``landmark_seed``,
        ``metric``, ``threshold_rule`` ("auto", "value" or "none") and ``threshold_quantile``.
    """
    from tqdm.auto import tqdm

    max_dim = check_int(max_dim, "max_dim", minimum=0)
    primes = _check_coeffs(coeffs)
    metric = check_choice(metric, "metric", _METRICS)
    seed = check_int(seed, "seed", minimum=0)
    x = _rows_of(points)
    if len(x) < 2:
        raise InvalidInputError(f"persistence needs at least 2 filters; found {len(x)}.")
    if not (threshold is None or threshold == "auto" or (isinstance(threshold, (int, float, np.number))
                                                          and not isinstance(threshold, bool) and threshold >= 0)):
        raise InvalidInputError(f"threshold must be 'auto', a number >= 0 or None; found {threshold!r}.")
    y = _metric_coordinates(x, metric)
    n = len(y)
    m = n if n_landmarks is None else min(n, check_int(n_landmarks, "n_landmarks", minimum=2))
    check_memory(2 * 8 * m * m, memory_limit, what=f"the {m} x {m} landmark distance matrix",
                 hint="Lower n_landmarks")
    if m < n:
        idx, radius = maxmin_landmarks(y, m, seed=seed, return_radius=True, progress=progress)
        radius = radius * radius / 2.0 if metric == "cosine" else radius
        logger.info("%d max-min landmarks of %d filters (covering radius %.4g)", m, n, radius)
    else:
        idx, radius = np.arange(n), 0.0
    d = _landmark_matrix(y, metric, idx)
    if threshold == "auto":
        t, q = _auto_threshold(d, max_dim)
        rule = "auto"
    else:
        t, q, rule = threshold, None, ("none" if threshold is None else "value")
    meta = {"n_filters": n, "n_landmarks": m, "landmarks": idx.tolist(), "covering_radius": float(radius),
            "landmark_seed": seed, "metric": metric, "dissimilarity": metric, "threshold_rule": rule,
            "threshold_quantile": q}
    out = {}
    for p in tqdm(primes, desc="filter persistence", unit="field", disable=not progress, leave=False):
        out[p] = rips_persistence(d, max_dim, threshold=None if t is None else float(t), coeff=p,
                                  memory_limit=memory_limit, metadata=meta)
        logger.info("filter persistence over Z/%d: %s", p, out[p].describe())
    return out


def _embedded(points: Any, normalize: str, size: int | None) -> tuple[np.ndarray, int]:
    """Unit rows (zero for constant filters) whose dot products are the cosines of ``normalize``."""
    rows = points.points if isinstance(points, FilterSet) else points
    rows, s, _ = _patch_rows(rows, "filters", size)
    return _embed(rows, s, normalize), s


def circle_similarity(points: Any, *, n_circle: int | None = 512, normalize: Literal["dnorm", "unit"] = "dnorm",
                      size: int | None = None) -> np.ndarray:
    """Each filter's largest cosine similarity with a filter of the primary circle.

    Filters and circle filters (:func:`topolens.filters.circle_filters`) are compared mean-centred
    and normalised the same way: ``"dnorm"`` (default) in DCT coordinates, where the cosine is the
    D inner product of the D-normalised filters (Carlsson et al.); ``"unit"``: the Euclidean cosine
    of the centred filters. The sign counts: ``-f`` is a circle filter too (``theta1 + pi``).

    Parameters
    ----------
    points : FilterSet or array-like
        ``(n, k * k)`` or ``(n, k, k)`` filters (rows are the points).
    n_circle : int or None
        Circle filters ``theta1 = 2 pi j / n_circle`` compared with (the result is at most
        ``1 - cos(pi / n_circle)`` (relative) below the exact maximum). None: the exact maximum over
        the whole circle, the norm of the filter's projection on the circle's plane (the circle
        filters ``cos(t) X + sin(t) Y`` have ``X``, ``Y`` orthogonal and of equal norm in both
        geometries, by the grid's symmetries).
    normalize : {"dnorm", "unit"}
    size : int, optional
        The kernel side (checked; inferred from the row length).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` in ``[-1, 1]`` (``[0, 1]`` up to rounding); NaN for constant filters (logged).
    """
    if normalize not in ("dnorm", "unit"):
        raise InvalidInputError(f"normalize must be 'dnorm' or 'unit' (filters are compared normalised); "
                                f"found {normalize!r}.")
    v, s = _embedded(points, normalize, size)
    if n_circle is None:
        plane = _embed(klein_filter(np.array([0.0, np.pi / 2]), np.pi / 2, s), s, normalize)
        q, _ = np.linalg.qr(plane.T)
        sim = np.linalg.norm(v @ q, axis=1)
    else:
        bank = _embed(circle_filters(check_int(n_circle, "n_circle", minimum=4), s), s, normalize)
        sim = np.empty(len(v))
        step = max(1, (1 << 22) // len(bank))
        for i in range(0, len(v), step):
            sim[i:i + step] = (v[i:i + step] @ bank.T).max(axis=1)
    constant = np.linalg.norm(v, axis=1) < 0.5
    if constant.any():
        logger.warning("%d of %d filters are constant (zero contrast): circle similarity NaN",
                       int(constant.sum()), len(v))
        sim[constant] = np.nan
    return np.clip(sim, -1.0, 1.0)


def circle_share(points: Any, *, cos: float = 0.9, n_circle: int | None = 512,
                 normalize: Literal["dnorm", "unit"] = "dnorm", size: int | None = None) -> float:
    """The fraction of filters within cosine ``cos`` of some primary-circle filter.

    The share of :func:`circle_similarity` values ``>= cos`` (the issue's "share of filters within
    cosine 0.9 of some circle filter"), among the filters with contrast (constant ones have no
    direction and are left out of the count, with a logged warning).

    Raises
    ------
    InvalidInputError
        ``cos`` outside ``[-1, 1]``, or every filter constant.
    """
    if isinstance(cos, bool) or not isinstance(cos, (int, float, np.number)) or not -1.0 <= float(cos) <= 1.0:
        raise InvalidInputError(f"cos must be a cosine similarity in [-1, 1]; found {cos!r}.")
    sim = circle_similarity(points, n_circle=n_circle, normalize=normalize, size=size)
    ok = ~np.isnan(sim)
    if not ok.any():
        raise InvalidInputError(f"all {len(sim)} filters are constant (zero contrast); no share can be computed.")
    return float(np.mean(sim[ok] >= float(cos)))


def filter_mapper(points: Any, *, lens: Any = "pca2", n_intervals: Any = 8, overlap: Any = 0.3, seed: int = 0,
                  **mapper_kwargs: Any) -> Any:
    """A fitted :class:`topolens.mapper.Mapper` of the filters (the rows are the points).

    Parameters
    ----------
    points : FilterSet or array-like
        ``(n, d)`` filters (a FilterSet: its ``points``); ``(n, k, k)`` is flattened.
    lens, n_intervals, overlap :
        As in :class:`~topolens.mapper.Mapper` (default: the top two principal components, 8
        intervals per axis, 30% overlap).
    seed : int
        The Mapper's ``random_state`` (eps sample, clusterer, layout).
    **mapper_kwargs
        Any other :class:`~topolens.mapper.Mapper` parameter (``eps``, ``min_samples``, ``clusterer``...).

    Returns
    -------
    topolens.mapper.Mapper
        Fitted: ``graph_``, ``lens_``, ``cover_``; node members are row indices of ``points``
        (thumbnails: ``FilterSet.images()[members]``).
    """
    from ..mapper import Mapper

    if "random_state" in mapper_kwargs:
        raise InvalidInputError("filter_mapper takes seed=, not random_state=; pass seed=<int>.")
    import inspect

    allowed = set(inspect.signature(Mapper).parameters) - {"lens", "n_intervals", "overlap", "random_state"}
    unknown = sorted(set(mapper_kwargs) - allowed)
    if unknown:
        raise InvalidInputError(f"filter_mapper got unknown Mapper parameter(s) {unknown}; known: {sorted(allowed)}.")
    seed = check_int(seed, "seed", minimum=0)
    x = _rows_of(points)
    if len(x) < 2:
        raise InvalidInputError(f"Mapper needs at least 2 filters; found {len(x)}.")
    return Mapper(lens, n_intervals=n_intervals, overlap=overlap, random_state=seed, **mapper_kwargs).fit(x)
