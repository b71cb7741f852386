"""Vietoris-Rips persistence with pluggable engines and honest threshold semantics.

:func:`rips_persistence` computes H0 exactly with the native Prim path (:mod:`.h0`) and
H1 and up with an exact engine: gudhi (default; its ``RipsPersistence``), ripser.py or
giotto-ph (optional extras; giotto-ph is AGPL and never required).

Thresholds
----------
A threshold ``t`` builds the Rips complex only from edges of length ``<= t``. The
persistence of that truncated filtration equals the full persistence restricted to
``[0, t]``: every class born at or before ``t`` that dies at or before ``t`` is exact.
A class still alive at ``t`` has an unknown death ``>= t``; it is reported with death
``inf`` **and flagged** in :attr:`PersistenceDiagrams.censored`, never passed off as an
essential class. Classes born after ``t`` are not computed at all.

H0 is always exact and complete, whatever the threshold (Prim on the full matrix costs
O(n^2), less than reading the matrix twice), so thresholds only affect dimensions >= 1.

Above the *enclosing radius* ``r = min_i max_j d_ij`` the complex is a cone, so nothing
of dimension >= 1 is alive or born after ``r``: a threshold ``>= r`` gives the full
diagram (``metadata["complete"] = True``).

``threshold="auto"`` first computes the full filtration of a random subsample of
``auto_pilot`` points (cheap) and starts at 1.05 times its last finite death, or at the
``auto_start`` quantile if that is higher; it then raises the threshold along the
quantiles (0.2, 0.35, 0.5, 0.75, then the enclosing radius) until no class of dimension
>= 1 is censored. What is guaranteed: every bar born at or before the final threshold is
exact, and none is cut. What is not: a class *born* after the final threshold would be
missed; if ``metadata["complete"]`` is False that cannot be ruled out (the benchmarks
measured how often it happens on real activations: see ``benchmarks/README.md``). How
much ``auto`` saves depends on the data: when every bar of ``1 - |corr|`` dies early (the
15% quantile has been reported for some networks) it runs once at a low threshold, several
times faster and smaller than the full run; when bars live to the median distance, as in
the demo CNN's first layer, it saves little, and ``threshold=None`` (exact and complete)
is the better choice.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np

from .._deps import require
from .._validation import check_choice, check_distance_matrix, check_int, check_points
from ..diagrams import PersistenceDiagrams
from ..exceptions import InvalidInputError
from .h0 import rips_h0
from .memory import check_memory, estimate_rips_memory

__all__ = ["AUTO_QUANTILES", "BACKENDS", "distance_quantile", "enclosing_radius", "rips_persistence"]

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "native", "gudhi", "ripser", "giotto")
#: quantiles tried in turn by ``threshold="auto"`` (after ``auto_start``), then the full run
AUTO_QUANTILES = (0.2, 0.35, 0.5, 0.75)


def enclosing_radius(d: np.ndarray) -> float:
    """``min_i max_j d[i, j]``: above it the Rips complex is a cone (contractible)."""
    return float(d.max(axis=1).min())


def distance_quantiles(d: np.ndarray, qs: Any, *, max_exact: int = 20_000_000, seed: int = 0) -> np.ndarray:
    """The ``qs``-quantiles of the off-diagonal entries of a symmetric matrix ``d``.

    Exact up to ``max_exact`` matrix entries: one ``np.partition`` of a copy of the matrix
    (each off-diagonal value appears twice after the ``n`` diagonal zeros, so the k-th
    smallest pair sits at position ``n + 2k``), with no index arrays. Beyond that, estimated
    from ``max_exact`` entries sampled with a fixed seed (an error of order
    ``1 / sqrt(max_exact)`` in the quantile level).
    """
    qs = np.atleast_1d(np.asarray(qs, dtype=np.float64))
    if (~np.isfinite(qs) | (qs <= 0) | (qs > 1)).any():
        raise InvalidInputError(f"threshold quantiles must lie in (0, 1], found {qs.tolist()}.")
    n = d.shape[0]
    m = n * (n - 1) // 2
    if m == 0:
        return np.zeros(len(qs))
    ks = np.clip(np.ceil(qs * m).astype(np.int64) - 1, 0, m - 1)
    if n * n <= max_exact:
        flat = np.array(d, copy=True).ravel()
        pos = n + 2 * ks
        return np.partition(flat, np.unique(pos))[pos].astype(np.float64)
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=max_exact)
    j = rng.integers(0, n - 1, size=max_exact)
    j = j + (j >= i)
    vals = d[i, j]
    pos = np.clip(np.ceil(qs * len(vals)).astype(np.int64) - 1, 0, len(vals) - 1)
    return np.partition(vals, np.unique(pos))[pos].astype(np.float64)


def distance_quantile(d: np.ndarray, q: float, **kwargs: Any) -> float:
    """The ``q``-quantile of the off-diagonal entries of ``d`` (see :func:`distance_quantiles`)."""
    return float(distance_quantiles(d, [q], **kwargs)[0])


def _pilot_death(d: np.ndarray, max_dim: int, coeff: int, engine: Any, size: int, seed: int) -> float | None:
    """Largest finite death (dims >= 1) of the full filtration of ``size`` random points.

    Sparser points make cycles live at larger scales, so on a subsample the last deaths tend
    to come later than on all points: a cheap, usually conservative first guess for auto.
    """
    n = d.shape[0]
    if n <= size:
        return None
    idx = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    dgms, _ = engine(np.ascontiguousarray(d[np.ix_(idx, idx)]), max_dim, float("inf"), coeff, False)
    deaths = np.concatenate([x[np.isfinite(x[:, 1]), 1] for x in dgms])
    return float(deaths.max()) if deaths.size else None


def _sort_dim(dgm: np.ndarray, pairs: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    order = np.lexsort((dgm[:, 1], dgm[:, 0]))
    return dgm[order], (None if pairs is None else pairs[order])


def _higher_gudhi(d: np.ndarray, max_dim: int, t: float, coeff: int, pairs: bool):
    """Dimensions 1..max_dim with gudhi. Returns (dgms, pairs or None)."""
    gudhi = require("gudhi", purpose="Vietoris-Rips persistence")
    if not pairs:
        from gudhi.sklearn.rips_persistence import RipsPersistence

        rp = RipsPersistence(
            homology_dimensions=list(range(1, max_dim + 1)), threshold=t,
            input_type="full distance matrix", homology_coeff_field=coeff, n_jobs=1,
        )
        out = rp.fit_transform([d])[0]
        return [np.asarray(x, dtype=np.float64).reshape(-1, 2) for x in out], None
    rc = gudhi.RipsComplex(distance_matrix=d, max_edge_length=t)
    st = rc.create_simplex_tree(max_dimension=max_dim + 1)
    st.compute_persistence(homology_coeff_field=coeff, persistence_dim_max=True)
    _, fin, _, ess = st.flag_persistence_generators()
    return _from_generators(d, max_dim, fin, ess)


def _from_generators(d, max_dim, fin, ess):
    dgms, prs = [], []
    for k in range(1, max_dim + 1):
        f = np.asarray(fin[k - 1], dtype=np.int64).reshape(-1, 4) if k - 1 < len(fin) else np.empty((0, 4), np.int64)
        e = np.asarray(ess[k - 1], dtype=np.int64).reshape(-1, 2) if k - 1 < len(ess) else np.empty((0, 2), np.int64)
        born = np.concatenate([d[f[:, 0], f[:, 1]], d[e[:, 0], e[:, 1]]]).astype(np.float64)
        died = np.concatenate([d[f[:, 2], f[:, 3]].astype(np.float64), np.full(len(e), np.inf)])
        keep = died > born  # engines differ on zero-length pairs; drop them everywhere
        p = np.vstack([f, np.hstack([e, -np.ones_like(e)])])
        dgms.append(np.column_stack([born, died])[keep])
        prs.append(p[keep])
    return dgms, prs


def _higher_ripser(d, max_dim, t, coeff, pairs):
    if pairs:
        raise InvalidInputError(
            "backend='ripser' cannot return persistence pairs; use backend='gudhi' or 'giotto' "
            "with return_pairs=True."
        )
    ripser = require("ripser", purpose="the 'ripser' persistence backend")
    if np.isfinite(t):
        # ripser compares in float32; cut the edges here, in the matrix's precision, as gudhi does
        from scipy.sparse import coo_matrix

        i, j = np.nonzero(np.triu(d <= t, 1))
        d = coo_matrix((d[i, j].astype(np.float64), (i, j)), shape=d.shape)
        t = float("inf")
    res = ripser.ripser(d, maxdim=max_dim, thresh=t, coeff=coeff, distance_matrix=True)
    return [np.asarray(res["dgms"][k], dtype=np.float64).reshape(-1, 2) for k in range(1, max_dim + 1)], None


def _higher_giotto(d, max_dim, t, coeff, pairs, n_threads=1):
    gph = require("gph", purpose="the 'giotto' persistence backend (giotto-ph, AGPL licensed)")
    res = gph.ripser_parallel(d, maxdim=max_dim, thresh=t, coeff=coeff, metric="precomputed",
                              n_threads=n_threads, return_generators=pairs)
    if not pairs:
        return [np.asarray(res["dgms"][k], dtype=np.float64).reshape(-1, 2) for k in range(1, max_dim + 1)], None
    gens = res["gens"]
    return _from_generators(d, max_dim, gens[1], gens[3])


_ENGINES = {"gudhi": _higher_gudhi, "ripser": _higher_ripser, "giotto": _higher_giotto}


def rips_persistence(
    X: Any,
    max_dim: int = 1,
    *,
    metric: Literal["precomputed", "euclidean"] = "precomputed",
    threshold: float | Literal["auto"] | None = None,
    threshold_quantile: float | None = None,
    auto_start: float = AUTO_QUANTILES[0],
    auto_pilot: int = 300,
    backend: str = "auto",
    return_pairs: bool = False,
    coeff: int = 2,
    memory_limit: int | Literal["auto"] | None = "auto",
    metadata: dict[str, Any] | None = None,
) -> PersistenceDiagrams:
    """Persistent homology (H0..H``max_dim``) of the Vietoris-Rips filtration.

    Parameters
    ----------
    X : array-like
        With ``metric="precomputed"`` (default) a square dissimilarity matrix (symmetric,
        zero diagonal, finite); with ``metric="euclidean"`` a ``(n_points, n_features)``
        point cloud whose **rows** are the points (distances computed exactly in float64;
        for activations with many features, :func:`topolens.dissimilarity.euclidean_distances`
        is a faster float32 GEMM).
    max_dim : int, default 1
        Largest homology dimension.
    threshold : float, "auto" or None
        ``None``: the full filtration. A float: only edges ``<= threshold``. ``"auto"``: see
        the module docstring. Classes alive at a finite threshold are *censored*.
    threshold_quantile : float in (0, 1], optional
        Threshold at this quantile of the off-diagonal dissimilarities (instead of a value).
    auto_start : float
        Lowest quantile tried first by ``threshold="auto"``.
    auto_pilot : int
        ``threshold="auto"`` first computes the full filtration of this many random points
        and starts at 1.05 times its last finite death if that is higher than ``auto_start``
        (0: no pilot).
    backend : {"auto", "native", "gudhi", "ripser", "giotto"}
        Engine for dimensions >= 1 (``"auto"``: native if ``max_dim == 0``, else gudhi).
        H0 always comes from the native Prim path.
    return_pairs : bool
        Also return critical edges per class (gudhi's simplex tree or giotto-ph; slower).
    coeff : int
        Prime p of the coefficient field Z/p (at most 251).
    memory_limit : int (bytes), "auto" or None
        Refuse (:class:`~topolens.MemoryBudgetError`) before allocating more than this;
        ``"auto"``: 80% of the available memory; ``None``: no check.
    metadata : dict, optional
        Extra entries stored in the result's metadata (e.g. the dissimilarity's name).

    Returns
    -------
    PersistenceDiagrams
        ``metadata`` holds ``threshold`` (the value used, or None), ``threshold_mode``,
        ``complete`` (True when the result is the full diagram), ``enclosing_radius``,
        ``backend``, ``n_points``, and for auto mode ``auto_thresholds`` (values tried).

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    >>> circle = np.c_[np.cos(t), np.sin(t)]
    >>> dg = rips_persistence(circle, max_dim=1, metric="euclidean")
    >>> len(dg.finite(1)), bool(dg.lifetimes(1).max() > 1.0)
    (1, True)
    """
    max_dim = check_int(max_dim, "max_dim", minimum=0)
    check_choice(backend, "backend", BACKENDS)
    check_choice(metric, "metric", ("precomputed", "euclidean"))
    coeff = check_int(coeff, "coeff", minimum=2)
    if any(coeff % p == 0 for p in range(2, int(coeff**0.5) + 1)):
        raise InvalidInputError(f"coeff must be a prime (homology over the field Z/p); found {coeff}.")
    if coeff > 251:  # giotto-ph needs < 256 and ripser packs coefficients in few bits
        raise InvalidInputError(f"coeff must be a prime <= 251 for the Rips engines; found {coeff}.")
    auto_pilot = check_int(auto_pilot, "auto_pilot", minimum=0)
    if not (isinstance(auto_start, (int, float)) and 0 < auto_start <= 1):
        raise InvalidInputError(f"auto_start must be a quantile in (0, 1]; found {auto_start!r}.")
    if backend == "auto":
        backend = "native" if max_dim == 0 else "gudhi"
    if backend == "native" and max_dim > 0:
        raise InvalidInputError(
            f"backend='native' computes H0 only, but max_dim={max_dim}. Use max_dim=0 or "
            "backend='gudhi' (or 'auto')."
        )
    if threshold is not None and threshold_quantile is not None:
        raise InvalidInputError("give either threshold or threshold_quantile, not both.")
    if threshold is not None and threshold != "auto" and not (
        isinstance(threshold, (int, float, np.number)) and not isinstance(threshold, bool)
        and float(threshold) >= 0
    ):
        raise InvalidInputError(
            f"threshold must be a number >= 0, 'auto' or None; found {threshold!r}."
        )
    if threshold_quantile is not None and not isinstance(threshold_quantile, (int, float, np.number)):
        raise InvalidInputError(f"threshold_quantile must be a number in (0, 1]; found {threshold_quantile!r}.")

    if metric == "euclidean":
        # exact float64 distances: the GEMM formula loses distances far below the data's spread
        from scipy.spatial.distance import pdist, squareform

        pts = check_points(X)
        check_memory(estimate_rips_memory(pts.shape[0], 0, 1.0), memory_limit,
                     what=f"the {pts.shape[0]} x {pts.shape[0]} distance matrix")
        d = squareform(pdist(pts))
    else:
        d = check_distance_matrix(X)
    n = d.shape[0]
    r_enc = enclosing_radius(d)

    mode = "none"
    if threshold == "auto":
        mode = "auto"
    elif threshold_quantile is not None:
        mode, threshold = "quantile", distance_quantile(d, float(threshold_quantile))
    elif threshold is not None:
        mode, threshold = "value", float(threshold)

    dgm0, pairs0 = rips_h0(d, return_pairs=return_pairs)
    meta: dict[str, Any] = {
        "filtration": "vietoris-rips", "n_points": n, "max_dim": max_dim, "coeff": coeff,
        "backend": backend, "threshold_mode": mode, "enclosing_radius": r_enc,
        "dissimilarity": "euclidean" if metric == "euclidean" else "precomputed",
    }
    if metadata:
        meta.update(metadata)

    if max_dim == 0:
        t_used = None if mode in ("none", "auto") else float(threshold)  # type: ignore[arg-type]
        meta.update(threshold=t_used, complete=True)
        return PersistenceDiagrams([dgm0], pairs=None if pairs0 is None else [pairs0], metadata=meta)

    engine = _ENGINES[backend]

    def run(t: float | None) -> tuple[list[np.ndarray], list[np.ndarray] | None, bool]:
        full = t is None or t >= r_enc
        t_eff = float("inf") if full else float(t)
        check_memory(estimate_rips_memory(n, max_dim, _edge_fraction(d, t_eff, r_enc)), memory_limit,
                     what=f"H0..H{max_dim} of {n} points"
                     + ("" if full else f" up to threshold {t_eff:.4g}"))
        dg, pr = engine(d, max_dim, t_eff, coeff, return_pairs)
        return dg, pr, full

    if mode == "auto":
        levels = [q for q in AUTO_QUANTILES if q > auto_start]
        qvals = distance_quantiles(d, [auto_start, *levels])
        first = float(qvals[0])
        pilot = _pilot_death(d, max_dim, coeff, engine, auto_pilot, seed=0) if auto_pilot else None
        if pilot is not None:
            first = max(first, pilot * 1.05)
        schedule = [first] + [float(t) for t in qvals[1:] if t > first] + [None]
        tried: list[float] = []
        meta["auto_pilot_death"] = pilot
        for t in schedule:
            if t is not None and t >= r_enc:
                t = None
            tried.append(r_enc if t is None else t)
            dgms, prs, full = run(t)
            n_cut = sum(int(np.isinf(x[:, 1]).sum()) for x in dgms)
            if full or n_cut == 0:
                break
            logger.info("auto threshold %.4g cut %d class(es); raising it", t, n_cut)
        meta["auto_thresholds"] = tried
        t_final = None if full else tried[-1]
    else:
        t_final = None if mode == "none" else float(threshold)  # type: ignore[arg-type]
        dgms, prs, full = run(t_final)
        if full:
            t_final = None if mode == "none" else t_final

    meta.update(threshold=t_final, complete=bool(full))
    out_d, out_c, out_p = [dgm0], [np.zeros(n, dtype=bool)], [pairs0]
    for k in range(max_dim):
        dk, pk = _sort_dim(dgms[k], None if prs is None else prs[k])
        out_d.append(dk)
        # below the enclosing radius a class of dim >= 1 alive at t is censored, never essential
        out_c.append(np.isinf(dk[:, 1]) if not full else np.zeros(len(dk), dtype=bool))
        out_p.append(pk)
    return PersistenceDiagrams(out_d, censored=out_c, pairs=None if prs is None else out_p, metadata=meta)


def _edge_fraction(d: np.ndarray, t: float, r_enc: float) -> float:
    """Fraction of the n(n-1)/2 edges an engine will hold at threshold ``t`` (sampled)."""
    if not np.isfinite(t) or t >= r_enc:
        return 1.0
    n = d.shape[0]
    rng = np.random.default_rng(0)
    m = min(200_000, n * n)
    i, j = rng.integers(0, n, size=m), rng.integers(0, n, size=m)
    off = i != j
    return float((d[i[off], j[off]] <= t).mean()) if off.any() else 1.0
