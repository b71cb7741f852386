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

``threshold=None`` (the full diagram) is computed, for ``max_dim == 1`` and from
``CERTIFY_MIN_POINTS`` points on, through an *exact certificate* (:mod:`.certify`): no H1
class is born after the largest edge that no third point dominates, so a run at a threshold
above it that leaves no class alive has the full diagram. The threshold comes from a lower
bound on the last death and from small pilot runs near the bars that are likely to die
last; if the run leaves a class alive, a higher threshold (then the full filtration) is
tried. The result is always the full diagram (``metadata["complete"]`` is True,
``metadata["certificate"]`` records what was found). ``certify=False`` turns it off.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np

from .._deps import require
from .._validation import (
    _square_matrix,
    _to_numpy,
    check_choice,
    check_distance_matrix,
    check_int,
    check_points,
)
from ..diagrams import PersistenceDiagrams
from ..exceptions import InvalidInputError, NonFiniteError
from .certify import h1_certificate, pilot_deaths
from .h0 import h0_from_mst, minimum_spanning_tree
from .memory import check_memory, estimate_certificate_memory, estimate_rips_memory

__all__ = ["AUTO_QUANTILES", "BACKENDS", "CERTIFY_MIN_POINTS", "distance_quantile", "enclosing_radius",
           "rips_persistence"]

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "native", "gudhi", "ripser", "giotto")
#: quantiles tried in turn by ``threshold="auto"`` (after ``auto_start``), then the full run
AUTO_QUANTILES = (0.2, 0.35, 0.5, 0.75)
#: ``threshold=None`` uses the H1 certificate (``certify="auto"``) from this many points on
CERTIFY_MIN_POINTS = 1500
#: pilots run by the certified mode (bars with the largest lower bounds), and their size
_PILOT_EDGES = 10
_PILOT_SIZE = 200
#: pilots re-run at twice the size when theirs is the largest estimate
_PILOT_REFINE = 3
#: pilots never have fewer points than this (nor more than n / 8, resp. n / 4, above it)
_PILOT_MIN = 30
#: nearest neighbours tried first as witnesses of domination
_DOMINATION_K = 8
#: the certificate's exhaustive O(n) check is done for at most this many edges per point
_CERT_CHECKED_PER_POINT = 64
_CERT_CHECKED_MIN = 10_000


def enclosing_radius(d: Any) -> float:
    """``min_i max_j d[i, j]``: above it the Rips complex is a cone (contractible).

    ``d`` is a square dissimilarity matrix (0 for fewer than two points).

    Raises
    ------
    ShapeError
        If ``d`` is not square.
    NonFiniteError
        If a row holds NaN or inf (found through the row maxima, without a scan of its own).
    """
    d = _square_matrix(d)
    if d.shape[0] < 2:
        return 0.0
    rows = d.max(axis=1)
    if not np.isfinite(rows).all():
        raise NonFiniteError(
            f"distance matrix has NaN or infinite entries in {int((~np.isfinite(rows)).sum())} row(s); "
            "validate it with rips_persistence or fix the computation that produced it."
        )
    return float(rows.min())


def distance_quantiles(d: np.ndarray, qs: Any, *, max_exact: int = 20_000_000, seed: int = 0) -> np.ndarray:
    """The ``qs``-quantiles of the off-diagonal entries of a symmetric matrix ``d``.

    Exact up to ``max_exact`` matrix entries: one ``np.partition`` of a copy of the matrix
    (each off-diagonal value appears twice after the ``n`` diagonal zeros, so the k-th
    smallest pair sits at position ``n + 2k``), with no index arrays. Beyond that, estimated
    from ``max_exact`` entries sampled with a fixed seed (an error of order
    ``1 / sqrt(max_exact)`` in the quantile level).
    """
    try:
        qs = np.atleast_1d(np.asarray(qs, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"threshold quantiles must be numbers in (0, 1], found {qs!r}.") from exc
    if qs.ndim != 1 or (~np.isfinite(qs) | (qs <= 0) | (qs > 1)).any():
        raise InvalidInputError(f"threshold quantiles must lie in (0, 1], found {qs.tolist()}.")
    max_exact = check_int(max_exact, "max_exact", minimum=1)
    d = _square_matrix(d)
    n = d.shape[0]
    m = n * (n - 1) // 2
    if m == 0:
        return np.zeros(len(qs))
    ks = np.clip(np.ceil(qs * m).astype(np.int64) - 1, 0, m - 1)
    if n * n <= max_exact:
        # float64 copy (at most max_exact entries): the diagonal must be zero for pos = n + 2k
        flat = np.array(d, dtype=np.float32 if d.dtype == np.float32 else np.float64, copy=True)
        np.fill_diagonal(flat, 0.0)
        flat = flat.ravel()
        pos = n + 2 * ks
        vals, out = flat, np.partition(flat, np.unique(pos))[pos]
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, n, size=max_exact)
        j = rng.integers(0, n - 1, size=max_exact)
        j = j + (j >= i)
        vals = np.asarray(d[i, j], dtype=np.float64)
        pos = np.clip(np.ceil(qs * len(vals)).astype(np.int64) - 1, 0, len(vals) - 1)
        out = np.partition(vals, np.unique(pos))[pos]
    if not np.isfinite(vals).all():  # NaN sorts last and would pass unseen
        raise NonFiniteError("distance matrix has NaN or infinite entries; its quantiles are undefined.")
    return out.astype(np.float64)


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


def _gudhi_full() -> Any:
    """gudhi's dense Ripser (``gudhi._ripser_ext._full``, the engine behind ``RipsPersistence``
    for full matrices), or None if this gudhi lacks it.

    Called directly because ``RipsPersistence`` converts a thresholded matrix to a sparse
    one first, which costs as much time and runs about 15% slower when two resamples share
    two cores (measured in ``benchmarks/README.md``, section 6).
    """
    try:
        from gudhi._ripser_ext import _full
    except ImportError:  # pragma: no cover - older or newer gudhi
        return None
    return _full


def _dense_threshold(d: np.ndarray, t: float) -> float:
    """The threshold for gudhi's dense engine: at most the enclosing radius (as gudhi's own
    wrapper does), and for float32 matrices the largest float32 ``<= t`` (the engine compares
    in the matrix's precision, so edges above ``t`` stay out)."""
    t = min(float(t), enclosing_radius(d))
    if d.dtype == np.float32:
        t32 = np.float32(t)
        if float(t32) > t:
            t32 = np.nextafter(t32, np.float32(-np.inf))
        t = float(t32)
    return t


def _higher_gudhi(d: np.ndarray, max_dim: int, t: float, coeff: int, pairs: bool):
    """Dimensions 1..max_dim with gudhi. Returns (dgms, pairs or None)."""
    gudhi = require("gudhi", purpose="Vietoris-Rips persistence")
    # past the enclosing radius the complex is a cone (one point sees all others), so every class
    # of dimension >= 1 has died: cutting there is exact and spares the simplex tree (ripser and
    # giotto-ph cut there by themselves, and take a slower sparse path when given a threshold)
    t = min(t, enclosing_radius(d))
    if not pairs and max_dim == 1:
        full = _gudhi_full()
        if full is not None:
            res = full(d, max_dimension=1, max_edge_length=_dense_threshold(d, t), homology_coeff_field=coeff)
            # the engine lists only the dimensions it reached (none above 0 for n <= 2)
            h1 = res[1] if len(res) > 1 else np.empty((0, 2))
            return [np.asarray(h1, dtype=np.float64).reshape(-1, 2)], None
    if not pairs:
        from gudhi.sklearn.rips_persistence import RipsPersistence

        rp = RipsPersistence(
            homology_dimensions=list(range(1, max_dim + 1)), threshold=t,
            input_type="full distance matrix", homology_coeff_field=coeff, n_jobs=1,
        )
        out = list(rp.fit_transform([d])[0])
        out += [np.empty((0, 2))] * (max_dim - len(out))
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
    s = _float32_scale(d)
    if np.isfinite(t):
        # ripser compares in float32; cut the edges here, in the matrix's precision, as gudhi does
        from scipy.sparse import coo_matrix

        i, j = np.nonzero(np.triu(d <= t, 1))
        d = coo_matrix((d[i, j].astype(np.float64) * s, (i, j)), shape=d.shape)
        t = float("inf")
    elif s != 1.0:
        d = d * s
    res = ripser.ripser(d, maxdim=max_dim, thresh=t, coeff=coeff, distance_matrix=True)
    return [x / s for x in _dims(res["dgms"], max_dim)], None


#: the float32 engines (ripser, giotto-ph) get matrices whose largest entry is within 2^+-64
_FLOAT32_SPAN = 64


def _float32_scale(d: np.ndarray) -> float:
    """A power of two ``s`` for the engines that compute in float32 (ripser, giotto-ph): the
    diagram of ``d`` is that of ``d * s`` divided by ``s``, exactly (Rips persistence commutes
    with scaling, and a power of two changes no mantissa). 1.0 unless the largest entry lies
    outside ``[2^-64, 2^64]``: in float32, entries above 3.4e38 would overflow to inf and those
    below 1.4e-45 vanish, both silently."""
    hi = float(d.max()) if d.size else 0.0
    if hi == 0.0 or 2.0 ** -_FLOAT32_SPAN <= hi <= 2.0 ** _FLOAT32_SPAN:
        return 1.0
    return float(np.ldexp(1.0, -int(np.frexp(hi)[1])))


def _dims(dgms: Any, max_dim: int) -> list[np.ndarray]:
    """Dimensions ``1..max_dim`` of an engine's per-dimension list (missing ones empty)."""
    return [np.asarray(dgms[k] if k < len(dgms) else np.empty((0, 2)), dtype=np.float64).reshape(-1, 2)
            for k in range(1, max_dim + 1)]


def _higher_giotto(d, max_dim, t, coeff, pairs, n_threads=1):
    gph = require("gph", purpose="the 'giotto' persistence backend (giotto-ph, AGPL licensed)")
    s = _float32_scale(d)  # giotto-ph computes in float32 (its generators index d itself)
    res = gph.ripser_parallel(d if s == 1.0 else d * s, maxdim=max_dim, thresh=t * s, coeff=coeff,
                              metric="precomputed", n_threads=n_threads, return_generators=pairs)
    if not pairs:
        return [x / s for x in _dims(res["dgms"], max_dim)], None
    gens = res["gens"]
    return _from_generators(d, max_dim, gens[1], gens[3])


_ENGINES = {"gudhi": _higher_gudhi, "ripser": _higher_ripser, "giotto": _higher_giotto}


def rips_persistence(
    X: Any,
    max_dim: int = 1,
    *,
    metric: Literal["precomputed", "euclidean"] = "precomputed",
    threshold: float | Literal["auto", "certified"] | None = None,
    threshold_quantile: float | None = None,
    certify: bool | Literal["auto"] = "auto",
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
        zero diagonal, finite, non-negative; rounding errors up to ``1e-6`` of the largest
        entry are repaired once, by :func:`topolens._validation.check_distance_matrix`, so
        that every engine sees an exactly symmetric matrix; 0, 1 or 2 points give H0 and
        empty higher dimensions); with ``metric="euclidean"`` a ``(n_points, n_features)``
        point cloud whose **rows** are the points (distances computed exactly in float64;
        for activations with many features, :func:`topolens.dissimilarity.euclidean_distances`
        is a faster float32 GEMM).
    max_dim : int, default 1
        Largest homology dimension.
    threshold : float, "auto", "certified" or None
        ``None``: the full diagram (of the full filtration). A float: only edges
        ``<= threshold``. ``"auto"``: see the module docstring. Classes alive at a finite
        threshold are *censored*. ``"certified"``: the same as ``None`` with
        ``certify=True``.
    threshold_quantile : float in (0, 1], optional
        Threshold at this quantile of the off-diagonal dissimilarities (instead of a value).
    certify : bool or "auto"
        With ``threshold=None`` and ``max_dim == 1``: compute the full diagram from a
        truncated filtration whose threshold is *certified* (:mod:`topolens.homology.certify`:
        no H1 class is born after the largest undominated edge, and the run is checked to
        leave no class alive), falling back to a higher threshold and finally to the full run.
        The diagrams are the full ones, exactly; on ``1 - |corr|`` matrices of a few thousand
        neurons it is about twice as fast (``benchmarks/README.md``, section 6). ``"auto"``
        (default): when ``n >= CERTIFY_MIN_POINTS``;
        ``True``: whenever ``max_dim == 1``; ``False``: never.
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
        ``"auto"``: 80% of the available memory; ``None``: no check. Checked from the
        input's shape before it is read or converted (the matrix and its validation), before
        the certificate's dense temporaries, and before each engine run.
    metadata : dict, optional
        Extra entries stored in the result's metadata (e.g. the dissimilarity's name).

    Returns
    -------
    PersistenceDiagrams
        ``metadata`` holds ``threshold`` (the value used, or None), ``threshold_mode``,
        ``complete`` (True when the result is the full diagram), ``enclosing_radius``,
        ``backend``, ``n_points``, for auto mode ``auto_thresholds`` (values tried), and for
        the certified mode (``threshold_mode == "certified"``, ``threshold`` None: the
        result is the full diagram) ``certificate``: ``birth_bound`` (no H1 class is born
        after it), ``death_lower_bound``, ``pilot_estimate``, ``thresholds`` (the engine's
        runs, None for a full run), ``n_birth_edges`` and the domination counts.

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
    if certify not in (True, False, "auto"):
        raise InvalidInputError(f"certify must be True, False or 'auto'; found {certify!r}.")
    if threshold == "certified":
        if certify is False:
            raise InvalidInputError("threshold='certified' contradicts certify=False.")
        threshold, certify = None, True
    if certify is True and (threshold is not None or threshold_quantile is not None):
        raise InvalidInputError("certify=True applies to threshold=None (the full diagram) only.")
    if certify is True and max_dim != 1:
        raise InvalidInputError(
            f"the certificate covers H1 only (max_dim=1); found max_dim={max_dim}. Use "
            "threshold=None with certify='auto' or False."
        )
    if threshold is not None and threshold != "auto" and not (
        isinstance(threshold, (int, float, np.number)) and not isinstance(threshold, bool)
        and float(threshold) >= 0
    ):
        raise InvalidInputError(
            f"threshold must be a number >= 0, 'auto', 'certified' or None; found {threshold!r}."
        )
    if threshold_quantile is not None and not isinstance(threshold_quantile, (int, float, np.number)):
        raise InvalidInputError(f"threshold_quantile must be a number in (0, 1]; found {threshold_quantile!r}.")

    d = _input_matrix(X, metric, memory_limit)
    n = d.shape[0]
    r_enc = enclosing_radius(d)

    mode = "none"
    if threshold == "auto":
        mode = "auto"
    elif threshold_quantile is not None:
        mode, threshold = "quantile", distance_quantile(d, float(threshold_quantile))
    elif threshold is not None:
        mode, threshold = "value", float(threshold)

    mst = minimum_spanning_tree(d)
    dgm0, pairs0 = h0_from_mst(n, *mst, return_pairs=return_pairs)
    meta: dict[str, Any] = {
        "filtration": "vietoris-rips", "n_points": n, "max_dim": max_dim, "coeff": coeff,
        "backend": backend, "threshold_mode": mode, "enclosing_radius": r_enc,
        "dissimilarity": "euclidean" if metric == "euclidean" else "precomputed",
    }
    if metadata:
        meta.update(metadata)

    if max_dim == 0 or n < 3:
        # fewer than 3 points span no cycle (nor any higher class): H0 is all there is
        t_used = None if mode in ("none", "auto") else float(threshold)  # type: ignore[arg-type]
        meta.update(threshold=t_used, complete=True)
        if mode == "auto":
            meta["auto_thresholds"] = []
        empty = [np.empty((0, 2))] * max_dim
        return PersistenceDiagrams([dgm0, *empty], pairs=None if pairs0 is None else
                                   [pairs0, *[np.empty((0, 4), np.int64)] * max_dim], metadata=meta)

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
    elif mode == "none" and max_dim == 1 and (certify is True or (certify == "auto" and n >= CERTIFY_MIN_POINTS)):
        # validation made d exactly symmetric, as the certificate (which reads both triangles) needs
        dgms, prs, cert_meta = _certified(d, coeff, engine, run, r_enc, mst, return_pairs, memory_limit)
        meta.update(threshold_mode="certified", certificate=cert_meta)
        t_final, full = None, True
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


def _input_matrix(X: Any, metric: str, memory_limit: Any) -> np.ndarray:
    """The validated, exactly symmetric distance matrix of :func:`rips_persistence`.

    The dense matrix and its validation are budgeted from the input's shape alone, before
    anything is converted, copied or even read (a float16 memory map is refused unread).
    """
    shape = getattr(X, "shape", None)
    if shape is None:  # a nested sequence: numpy's copy is no larger than the lists themselves
        X = _to_numpy(X, "X")
        shape = X.shape
    if len(shape) == 2:
        n = int(shape[0])
        what = f"Vietoris-Rips persistence of {n} points (the {n} x {n} distance matrix and its validation)"
        extra = 8 * n * int(shape[1]) if metric == "euclidean" else 0  # float64 copy of the points
        check_memory(estimate_rips_memory(n, 0) + extra, memory_limit, what=what)
    if metric == "euclidean":
        # exact float64 distances: the GEMM formula loses distances far below the data's spread
        from scipy.spatial.distance import pdist, squareform

        pts = check_points(X, min_points=0)
        if pts.shape[0] == 0:
            return np.zeros((0, 0))
        return squareform(pdist(pts))
    return check_distance_matrix(X, min_points=0, memory_limit=memory_limit)


def _certified(d: np.ndarray, coeff: int, engine: Any, run: Any, r_enc: float,
               mst: tuple[np.ndarray, np.ndarray, np.ndarray], return_pairs: bool,
               memory_limit: Any = None):
    """H1 of the full filtration from certified threshold runs (see :mod:`.certify`).

    Returns (dgms, pairs, metadata). Every threshold tried is at least the birth bound, and a
    run is accepted only when it leaves no class alive: then its diagram is the full one.
    The certificate's dense temporaries are budgeted before it starts; when ties leave too
    many edges for its exhaustive check it is skipped (a full run, ``info["skipped"]``).
    """
    mu, mv, _ = mst
    n = d.shape[0]
    max_checked = _CERT_CHECKED_PER_POINT * n + _CERT_CHECKED_MIN
    check_memory(estimate_certificate_memory(n, d.dtype.itemsize, max_checked=max_checked), memory_limit,
                 what=f"the H1 certificate of {n} points (threshold=None, certify)",
                 hint="Sample fewer points, or pass a threshold (threshold='auto' or a value) "
                      "instead of the full diagram")
    cert = h1_certificate(d, mu, mv, k=_DOMINATION_K, max_checked=max_checked)
    if cert is None:  # ties everywhere: the check would cost O(n^3); the full run is exact too
        logger.info("H1 certificate skipped: more than %d edges to check exhaustively", max_checked)
        dgms, prs, _ = run(None)
        return dgms, prs, {"skipped": "too many tied edges to check", "thresholds": [None]}
    info: dict[str, Any] = cert.summary()
    if cert.i.size == 0:  # every edge outside the tree is dominated: H1 is empty at every scale
        info.update(pilot_estimate=None, thresholds=[])
        return ([np.empty((0, 2))], [np.empty((0, 4), np.int64)] if return_pairs else None, info)
    # pilots of at most n / 8 points (n / 4 for the bigger ones): each costs a small fraction
    # of the run they save, also on data whose every point carries many bars
    size = min(_PILOT_SIZE, max(n // 8, _PILOT_MIN))
    big = min(2 * _PILOT_SIZE, max(n // 4, _PILOT_MIN))
    top = np.argsort(-cert.m, kind="stable")[:_PILOT_EDGES]
    edges = [(int(cert.i[e]), int(cert.j[e])) for e in top]
    ests = np.array([np.nan if x is None else x for x in
                     pilot_deaths(d, edges, mu, mv, engine, coeff, size=size)])
    # each pilot bounds its own bar's death from above: tighten the largest with bigger pilots
    refined: set[int] = set()
    while np.isfinite(ests).any() and len(refined) < (_PILOT_REFINE if big > size else 0):
        k = int(np.nanargmax(ests))
        if k in refined:
            break
        refined.add(k)
        better = pilot_deaths(d, [edges[k]], mu, mv, engine, coeff, size=big)[0]
        if better is not None:
            ests[k] = min(ests[k], better)
    est = float(np.nanmax(ests)) if np.isfinite(ests).any() else None
    info["pilot_estimate"] = est
    t: float | None = max(cert.birth_bound, cert.death_lower_bound, -np.inf if est is None else est)
    tried: list[float | None] = []
    while True:
        if t is not None and t >= r_enc:
            t = None
        dgms, prs, full = run(t)
        tried.append(t)
        alive = np.isinf(dgms[0][:, 1])
        if full or not alive.any():
            break
        # classes alive at t: pilot the edges that start them (larger), then the full run
        logger.info("certified threshold %.4g left %d class(es) alive; raising it", t, int(alive.sum()))
        t_next = None
        if len(tried) == 1:
            births = dgms[0][alive, 0]
            close = np.abs(cert.length[None, :] - births[:, None]) <= 1e-6 * np.maximum(1.0, np.abs(births[:, None]))
            if close.any(axis=1).all():
                edges = [(int(cert.i[e]), int(cert.j[e])) for e in np.flatnonzero(close.any(axis=0))]
                more = pilot_deaths(d, edges, mu, mv, engine, coeff, size=big)
                if all(x is not None for x in more) and max(more) > t:  # type: ignore[type-var]
                    t_next = float(max(more))  # type: ignore[type-var]
        t = t_next
    info["thresholds"] = [None if x is None else float(x) for x in tried]
    return dgms, prs, info


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
