"""Mapper: lens -> cover -> clustering in each cover set -> nerve.

:class:`Mapper` follows scikit-learn's contract (``__init__`` stores, ``fit`` validates and
computes, learned state ends in ``_``). :func:`mapper_graph` is the one-call function.

With the default clusterer (scikit-learn's DBSCAN, Euclidean) the clusters come from one shared
neighbour graph (:mod:`topolens.mapper.neighbours`) and :func:`~topolens.mapper.cluster.dbscan_labels`,
which reproduces scikit-learn's labels exactly; refitting with another cover or a smaller ``eps``
(:meth:`Mapper.refit`, :func:`~topolens.mapper.sweep.stability_sweep`) reuses that graph. Any
other scikit-learn clusterer is fitted on each cover set separately (a fresh clone per set, run
in ``n_jobs`` threads); both paths give the same graph for any ``n_jobs``.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np

from .._validation import _to_numpy, check_activations
from ..exceptions import InvalidInputError
from .cluster import check_noise_policy, dbscan_labels, is_plain_dbscan
from .cover import CoverSets, make_cover
from .graph import MapperGraph
from .lenses import Lens, LensValues, compute_lens
from .neighbours import RadiusGraph, _radix_order, kdistances, radius_graph

__all__ = ["DEFAULT_EPS_QUANTILE", "DEFAULT_MIN_SAMPLES", "Mapper", "mapper_graph"]

logger = logging.getLogger(__name__)

#: DBSCAN's min_samples when no clusterer is given (the point itself included)
DEFAULT_MIN_SAMPLES = 5
#: eps = this quantile of the distances to the (min_samples - 1)-th nearest neighbour. On MNIST
#: MLP activations (benchmarks/README.md) 0.5 leaves ~38% of the inputs out as noise and a graph
#: of many small components, 0.9 merges nearly everything into one component; 0.7 keeps ~80%.
DEFAULT_EPS_QUANTILE = 0.7


def _check_points(x: Any) -> np.ndarray:
    arr = _to_numpy(x)
    # float16 widens exactly to float32 (half the copy of float64); integers need float64 to stay exact
    dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else (
        np.float32 if arr.dtype == np.float16 else np.float64)
    if getattr(arr, "ndim", 0) == 2 and arr.shape[0] == 1:
        raise InvalidInputError(
            "Mapper needs at least 2 points (rows) but got 1; record activations for more inputs."
        )
    return check_activations(arr, name="Mapper points (n_inputs, n_neurons)", min_inputs=2,
                             dtype=dtype)


def _min_cluster_samples(clusterer: Any) -> int:
    """Smallest cover set worth clustering, as KeplerMapper decides it."""
    params = clusterer.get_params() if hasattr(clusterer, "get_params") else {}
    for name in ("n_clusters", "min_cluster_size", "min_samples"):
        value = params.get(name)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value:
            return int(value)
    return 2


def _slack(eps: float) -> float:
    return eps * (1.0 + 1e-9) + 1e-300


class _Neighbourhoods:
    """The shared neighbour graph of one point cloud, rebuilt only when a larger one is needed."""

    def __init__(self, x: np.ndarray, key: np.ndarray, lipschitz: bool, device: Any) -> None:
        self.x, self.key, self.lipschitz, self.device = x, key, lipschitz, device
        self.graph: RadiusGraph | None = None
        self._sorted: dict[float, tuple[np.ndarray, ...]] = {}

    def band_for(self, eps: float, extent: float) -> float:
        """Largest key difference of a needed pair. For a 1-Lipschitz key that is eps, with a
        little slack: the rounded key difference of a pair at distance exactly eps may exceed
        eps by an ulp."""
        return min(_slack(eps), extent) if self.lipschitz else extent

    def _covers(self, eps: float, band: float, ranges: np.ndarray | None) -> bool:
        g = self.graph
        if g is None or g.eps < eps or g.band < band:
            return False
        if g.ranges is None:
            return True
        if ranges is None:
            return False
        inside = (g.ranges[None, :, 0] <= ranges[:, None, 0]) & (ranges[:, None, 1] <= g.ranges[None, :, 1])
        return bool(inside.any(axis=1).all())

    def ensure(self, eps: float, band: float, ranges: np.ndarray | None = None) -> RadiusGraph:
        """A graph complete for these needs. The first one is cut to the cover's sets (least
        work); once another cover or a larger eps is asked for, the user is exploring, so the
        rebuilt graph serves every cover: all pairs within the key band."""
        if self._covers(eps, band, ranges):
            return self.graph
        old = self.graph
        if old is not None:
            eps = max(eps, old.eps)
            band = _slack(eps) if self.lipschitz else max(band, old.band)
            ranges = None
        self.graph = radius_graph(self.x, eps, key=self.key, band=band, ranges=ranges,
                                  device=self.device)
        self._sorted.clear()
        return self.graph

    def pairs(self, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs within eps sorted by the smaller key of the two ends, and those keys."""
        if eps not in self._sorted:
            rows, cols = self.graph.pairs_within(eps)
            # sort the pairs by the key rank of their lower end: an integer below n_points, so
            # numpy's O(pairs) radix sort on 16-bit digits does it (two passes above 65,536)
            rank = np.empty(self.key.size, dtype=np.int64)
            rank[np.argsort(self.key, kind="stable")] = np.arange(self.key.size)
            order = _radix_order(np.minimum(rank[rows], rank[cols]))
            pmin = np.minimum(self.key[rows[order]], self.key[cols[order]])
            self._sorted[eps] = (rows[order], cols[order], pmin)
        return self._sorted[eps]


def _set_extent(sets: CoverSets, values: np.ndarray) -> float:
    lo = np.maximum(sets.lower[:, 0], values[:, 0].min())
    hi = np.minimum(sets.upper[:, 0], values[:, 0].max())
    return float(np.max(hi - lo)) if sets.n_sets else 0.0


def _nodes_from_labels(labels: np.ndarray, members: np.ndarray, noise: str
                       ) -> list[tuple[int, np.ndarray]]:
    out = []
    if labels.size:
        for lab in np.unique(labels[labels >= 0]):
            out.append((int(lab), members[labels == lab]))
        noisy = np.flatnonzero(labels < 0)
        if noise == "singletons":
            out.extend((-1, members[i:i + 1]) for i in noisy)
        elif noise == "together" and noisy.size:
            out.append((-1, members[noisy]))
    return out


class Mapper:
    """Mapper graph of a point cloud (for activations: the inputs are the points).

    Parameters
    ----------
    lens : str, int, sequence of int, callable or transformer, default "l2norm"
        See :func:`~topolens.mapper.lenses.compute_lens`. TopoAct's lens is the L2 norm.
    cover : UniformCover, BalancedCover or {"uniform", "gtda", "balanced"}, optional
        Default: ``UniformCover(n_intervals, overlap)`` with KeplerMapper's convention.
    clusterer : scikit-learn clusterer, optional
        Default: ``DBSCAN(eps, min_samples)``. Any object with ``fit_predict`` works; noise is
        the label -1.
    n_intervals, overlap : int, float
        Used when ``cover`` is None or a name.
    eps : float, optional
        DBSCAN radius for the default clusterer. Default: the ``eps_quantile`` quantile of the
        distances from each point to its ``(min_samples - 1)``-th nearest neighbour, computed once
        on the whole point cloud (a seeded sample of 2,000 points).
    min_samples : int, default 5
        DBSCAN's core-point threshold (the point itself included).
    eps_quantile : float, default 0.7
        See :data:`DEFAULT_EPS_QUANTILE`.
    noise : {"drop", "singletons", "together"}, default "drop"
        What becomes of points a cover set's clustering calls noise: left out of that set's nodes
        (KeplerMapper, TopoAct), one node each, or one node per cover set (giotto-tda).
    min_shared : int, default 1
        Nodes sharing at least this many points are joined by an edge.
    triangles : bool, default False
        Also record 2-simplices (node triples with a common point).
    n_jobs : int, default 1
        Threads for per-set clustering with a custom clusterer. The graph never depends on it.
    device : torch device, optional
        Where distance GEMMs run; default CUDA when present. The graph never depends on it.
    random_state : int, default 0
        Seeds the eps sample, clusterers that take a random_state, and the layout.

    Attributes
    ----------
    graph_ : MapperGraph
    lens_ : LensValues
    cover_ : CoverSets
    eps_ : float or None
        The DBSCAN radius used (None for a custom clusterer).
    """

    def __init__(self, lens: Lens = "l2norm", cover: Any = None, clusterer: Any = None, *,
                 n_intervals: Any = 10, overlap: Any = 0.3, eps: float | None = None,
                 min_samples: int = DEFAULT_MIN_SAMPLES,
                 eps_quantile: float = DEFAULT_EPS_QUANTILE, noise: str = "drop",
                 min_shared: int = 1, triangles: bool = False, n_jobs: int = 1,
                 device: Any = None, random_state: int = 0, progress: bool = False) -> None:
        self.lens = lens
        self.cover = cover
        self.clusterer = clusterer
        self.n_intervals = n_intervals
        self.overlap = overlap
        self.eps = eps
        self.min_samples = min_samples
        self.eps_quantile = eps_quantile
        self.noise = noise
        self.min_shared = min_shared
        self.triangles = triangles
        self.n_jobs = n_jobs
        self.device = device
        self.random_state = random_state
        self.progress = progress

    # ---------------------------------------------------------------- fitting
    def fit(self, x: Any, y: Any = None, *, lens_values: Any = None) -> Mapper:
        """Build the graph of the rows of ``x``.

        Parameters
        ----------
        x : array-like of shape (n_points, n_features)
        y : ignored
        lens_values : array-like of shape (n_points,) or (n_points, d), optional
            Precomputed lens values (then ``lens`` only names them).
        """
        self._setup(x, lens_values)
        self.graph_ = self.refit()
        self.cover_ = self.graph_.cover
        self.eps_ = self.graph_.params.get("eps")
        return self

    def _setup(self, x: Any, lens_values: Any = None) -> None:
        """Validate the points and compute the lens (fit without building a graph)."""
        self.x_ = _check_points(x)
        n = self.x_.shape[0]
        if lens_values is None:
            self.lens_ = compute_lens(self.x_, self.lens)
        else:
            try:
                v = np.asarray(_to_numpy(lens_values), dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"lens_values must be numbers; {exc}.") from None
            v = v[:, None] if v.ndim == 1 else v
            if v.ndim != 2 or v.shape[0] != n or v.shape[1] == 0 or not np.isfinite(v).all():
                raise InvalidInputError(
                    f"lens_values must be finite with shape ({n},) or ({n}, d); got "
                    f"{np.shape(lens_values)}."
                )
            self.lens_ = LensValues(np.ascontiguousarray(v), "precomputed", False)
        check_noise_policy(self.noise)
        self._neighbourhoods = None
        self._kdist: dict[int, np.ndarray] = {}

    def _dbscan_params(self, eps: float | None, min_samples: int | None) -> tuple[float, int] | None:
        """(eps, min_samples) for the fast path, or None for a custom clusterer."""
        if self.clusterer is not None and not is_plain_dbscan(self.clusterer):
            return None
        if self.clusterer is not None:
            base_eps, base_ms = float(self.clusterer.eps), int(self.clusterer.min_samples)
        else:
            base_eps, base_ms = self.eps, self.min_samples
        ms = min_samples if min_samples is not None else base_ms
        if isinstance(ms, bool) or not isinstance(ms, (int, np.integer)) or ms < 1:
            raise InvalidInputError(f"min_samples must be an integer >= 1; got {ms!r}.")
        ms = int(ms)
        e = eps if eps is not None else base_eps
        if e is not None and (isinstance(e, bool) or not isinstance(e, (int, float, np.number))):
            raise InvalidInputError(f"eps must be a number >= 0; got {e!r}.")
        if e is None:
            e = self.eps_from_quantile(float(self.eps_quantile), ms)
        if not np.isfinite(e) or e < 0:
            raise InvalidInputError(f"eps must be a finite number >= 0; got {e!r}.")
        return float(e), ms

    def eps_from_quantile(self, quantile: float, min_samples: int | None = None) -> float:
        """DBSCAN eps as a quantile of the fitted points' k-distances (computed once, cached)."""
        if not hasattr(self, "x_"):
            raise InvalidInputError("call fit(x) first; the Mapper has no data yet.")
        if not 0.0 <= quantile <= 1.0:
            raise InvalidInputError(f"eps_quantile must be in [0, 1]; got {quantile!r}.")
        ms = int(self.min_samples if min_samples is None else min_samples)
        cache = self.__dict__.setdefault("_kdist", {})
        if ms not in cache:
            cache[ms] = kdistances(self.x_, ms, seed=self.random_state, device=self.device)
        d = cache[ms]
        value = float(np.quantile(d, quantile)) if d.size else 0.0
        logger.info("Mapper eps from the %.2f quantile of %d-distances: %.5g", quantile, ms - 1, value)
        return value

    def refit(self, *, cover: Any = None, n_intervals: Any = None, overlap: Any = None,
              eps: float | None = None, min_samples: int | None = None,
              noise: str | None = None) -> MapperGraph:
        """A graph for other cover/DBSCAN settings, reusing the fitted lens and neighbour graph.

        Arguments left as None keep the estimator's settings. The fitted state (``graph_``,
        ``cover_``, ``eps_``) is left as it is; the new graph records its own cover and eps.
        """
        if not hasattr(self, "lens_"):
            raise InvalidInputError("call fit(x) before refit(); the Mapper has no data yet.")
        noise = check_noise_policy(noise or self.noise)
        ni = self.n_intervals if n_intervals is None else n_intervals
        ov = self.overlap if overlap is None else overlap
        base = self.cover if cover is None else cover
        if base is not None and not isinstance(base, str) and (
                n_intervals is not None or overlap is not None):
            cov = type(base)(**_cover_kwargs(base, ni, ov))
        else:
            cov = copy.copy(make_cover(base, n_intervals=ni, overlap=ov))
        sets = cov.fit(self.lens_.values).sets_
        members = sets.members(self.lens_.values)
        params: dict[str, Any] = {"lens": self.lens_.name, "noise": noise,
                                  "min_shared": int(self.min_shared), "cover": repr(cov)}
        dbp = self._dbscan_params(eps, min_samples)
        if dbp is not None:
            e, ms = dbp
            params.update({"clusterer": "DBSCAN", "eps": e, "min_samples": ms,
                           "eps_quantile": None if (eps is not None or self._explicit_eps())
                           else float(self.eps_quantile)})
            per_set = self._fast_clusters(sets, members, e, ms, noise)
        else:
            params["clusterer"] = repr(self.clusterer)
            per_set = self._generic_clusters(members, noise)
        node_members, cube, cluster = [], [], []
        for s, nodes in enumerate(per_set):
            for lab, mem in nodes:
                node_members.append(mem)
                cube.append(s)
                cluster.append(lab)
        graph = MapperGraph.from_nodes(node_members, self.x_.shape[0], cube=cube, cluster=cluster,
                                       cover=sets, min_shared=self.min_shared,
                                       triangles=self.triangles, params=params)
        logger.info("Mapper graph: %d nodes, %d edges", graph.n_nodes, graph.n_edges)
        return graph

    def _explicit_eps(self) -> bool:
        return self.eps is not None or self.clusterer is not None

    def _neigh(self) -> _Neighbourhoods:
        if self._neighbourhoods is None:
            self._neighbourhoods = _Neighbourhoods(self.x_, self.lens_.values[:, 0],
                                                   self.lens_.lipschitz, self.device)
        return self._neighbourhoods

    def prepare(self, eps: float, extent: float) -> None:
        """Build the neighbour graph for radius ``eps`` and cover sets as long as ``extent``
        along the first lens coordinate (a sweep calls this once with its largest values)."""
        nb = self._neigh()
        nb.ensure(eps, nb.band_for(eps, extent))

    def _fast_clusters(self, sets: CoverSets, members: list[np.ndarray], eps: float,
                       min_samples: int, noise: str) -> list[list[tuple[int, np.ndarray]]]:
        nb = self._neigh()
        key = self.lens_.values[:, 0]
        ranges = np.unique(np.column_stack([np.maximum(sets.lower[:, 0], key.min()),
                                            np.minimum(sets.upper[:, 0], key.max())]), axis=0)
        nb.ensure(eps, nb.band_for(eps, _set_extent(sets, self.lens_.values)), ranges)
        rows, cols, pmin = nb.pairs(eps)
        n = self.x_.shape[0]
        scratch = np.full(n, -1, dtype=np.int32)
        out = []
        it = _progress(range(sets.n_sets), self.progress, "Mapper cover sets")
        for s in it:
            mem = members[s]
            if mem.size < min_samples:
                labels = np.full(mem.size, -1, dtype=np.int64)
            else:
                lo, hi = sets.lower[s, 0], sets.upper[s, 0]
                a = np.searchsorted(pmin, lo, side="left")
                b = np.searchsorted(pmin, hi, side="right")
                labels = dbscan_labels(mem, rows[a:b], cols[a:b], min_samples, n, scratch)
            out.append(_nodes_from_labels(labels, mem, noise))
        return out

    def _generic_clusters(self, members: list[np.ndarray], noise: str
                          ) -> list[list[tuple[int, np.ndarray]]]:
        from joblib import Parallel, delayed
        from sklearn.base import clone

        if not hasattr(self.clusterer, "fit_predict") and not hasattr(self.clusterer, "fit"):
            raise InvalidInputError(
                f"clusterer {self.clusterer!r} has no fit_predict/fit; pass a scikit-learn clusterer."
            )
        smallest = _min_cluster_samples(self.clusterer)
        x = self.x_

        def one(mem: np.ndarray) -> np.ndarray:
            if mem.size < smallest:
                return np.full(mem.size, -1, dtype=np.int64)
            try:
                est = clone(self.clusterer)
            except TypeError:  # not a scikit-learn estimator: a deep copy per cover set
                est = copy.deepcopy(self.clusterer)
            params = est.get_params() if hasattr(est, "get_params") else {}
            if "random_state" in params and params["random_state"] is None:
                est.set_params(random_state=self.random_state)
            if hasattr(est, "fit_predict"):
                lab = est.fit_predict(x[mem])
            else:
                lab = est.fit(x[mem]).labels_
            lab = np.asarray(lab)
            if lab.shape != (mem.size,) or not np.issubdtype(lab.dtype, np.number):
                raise InvalidInputError(
                    f"clusterer {self.clusterer!r} returned {lab.shape} labels of dtype "
                    f"{lab.dtype} for {mem.size} points; expected one integer label per point "
                    "(-1 for noise)."
                )
            return np.where(np.isnan(lab.astype(float)), -1, lab).astype(np.int64)

        jobs = max(1, int(self.n_jobs or 1))
        labels = Parallel(n_jobs=jobs, backend="threading")(delayed(one)(m) for m in members)
        return [_nodes_from_labels(lab, mem, noise) for lab, mem in zip(labels, members, strict=True)]

    def layout(self, seed: int | None = None) -> np.ndarray:
        """Seeded layout of ``graph_`` (see :meth:`MapperGraph.layout`)."""
        return self.graph_.layout(seed=self.random_state if seed is None else seed)


def _cover_kwargs(cover: Any, n_intervals: Any, overlap: Any) -> dict[str, Any]:
    kw = {"n_intervals": n_intervals, "overlap": overlap}
    for name in ("convention", "closed", "limits"):
        if hasattr(cover, name):
            kw[name] = getattr(cover, name)
    return kw


def _progress(it: Any, enabled: bool, desc: str) -> Any:
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, unit="set")


def mapper_graph(x: Any, lens: Lens = "l2norm", *, cover: Any = None, clusterer: Any = None,
                 n_intervals: Any = 10, overlap: Any = 0.3, eps: float | None = None,
                 min_samples: int = DEFAULT_MIN_SAMPLES,
                 eps_quantile: float = DEFAULT_EPS_QUANTILE, noise: str = "drop",
                 min_shared: int = 1, triangles: bool = False, n_jobs: int = 1,
                 device: Any = None, random_state: int = 0,
                 lens_values: Any = None) -> MapperGraph:
    """The Mapper graph of the rows of ``x`` in one call (see :class:`Mapper` for parameters)."""
    m = Mapper(lens, cover, clusterer, n_intervals=n_intervals, overlap=overlap, eps=eps,
               min_samples=min_samples, eps_quantile=eps_quantile, noise=noise,
               min_shared=min_shared, triangles=triangles, n_jobs=n_jobs, device=device,
               random_state=random_state)
    return m.fit(x, lens_values=lens_values).graph_

