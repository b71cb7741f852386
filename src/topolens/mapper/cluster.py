"""Clustering inside cover sets: DBSCAN from a shared neighbour graph, or any scikit-learn clusterer.

:func:`dbscan_labels` reproduces scikit-learn's ``DBSCAN(eps, min_samples).fit_predict`` on a
subset of the points from the global ``eps``-neighbour pairs, label for label (up to pairs at
distance exactly ``eps``, which topolens decides in exact float64 arithmetic, while scikit-learn's
GEMM-based distances, used above 15 features, may round them either way):

* a point is a core point when at least ``min_samples`` points of the subset, itself included,
  lie within ``eps`` (distance ``<= eps``);
* clusters are the connected components of core points, numbered in the order of their first
  (lowest-index) core point, which is the order scikit-learn discovers them in;
* a border point (not core, with a core neighbour) joins the cluster that scikit-learn's
  depth-first expansion reaches first: the adjacent cluster with the lowest number;
* everything else is noise (``-1``).

Noise policy in Mapper (``noise=``): ``"drop"`` (KeplerMapper, TopoAct) leaves noise points out
of every node of that cover set; ``"singletons"`` makes each noise point a node of its own, so
no input disappears from the graph; ``"together"`` puts a cover set's noise points in one node
(label -1), as giotto-tda's Mapper pipeline does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..exceptions import InvalidInputError

__all__ = ["NOISE_POLICIES", "dbscan_labels", "is_plain_dbscan"]

NOISE_POLICIES = ("drop", "singletons", "together")


def is_plain_dbscan(clusterer: Any) -> bool:
    """True for a scikit-learn DBSCAN with the Euclidean metric (the fast path reproduces it)."""
    try:
        from sklearn.cluster import DBSCAN
    except ImportError:  # pragma: no cover - scikit-learn is a core dependency
        return False
    if type(clusterer) is not DBSCAN:
        return False
    metric_ok = clusterer.metric == "euclidean" or (
        clusterer.metric == "minkowski" and (clusterer.p in (None, 2))
    )
    return bool(metric_ok and not clusterer.metric_params)


def dbscan_labels(members: np.ndarray, rows: np.ndarray, cols: np.ndarray, min_samples: int,
                  n_points: int, scratch: np.ndarray | None = None) -> np.ndarray:
    """DBSCAN labels of the points ``members`` (sorted global indices) from neighbour pairs.

    Parameters
    ----------
    members : ndarray of int, sorted
        The points of one cover set.
    rows, cols : ndarray of int
        Neighbour pairs (``i < j``) at the DBSCAN radius: all of them, or any subset holding
        every pair with both ends in ``members``.
    min_samples : int
        Core-point threshold, the point itself included (scikit-learn's convention).
    n_points : int
        Size of the whole point cloud.
    scratch : ndarray of int32, optional
        Buffer of length ``n_points`` filled with -1 (it is left so on return), to save an
        allocation per call.

    Returns
    -------
    ndarray of int64, shape (len(members),)
        Cluster labels numbered like scikit-learn's, ``-1`` for noise.
    """
    m = members.size
    labels = np.full(m, -1, dtype=np.int64)
    if m == 0:
        return labels
    local = np.full(n_points, -1, dtype=np.int32) if scratch is None else scratch
    local[members] = np.arange(m, dtype=np.int32)  # global index -> position in members
    try:
        r = local[rows]
        c = local[cols]
    finally:
        local[members] = -1
    sel = (r >= 0) & (c >= 0)
    r, c = r[sel].astype(np.int64), c[sel].astype(np.int64)
    degree = np.bincount(r, minlength=m) + np.bincount(c, minlength=m) + 1
    core = degree >= min_samples
    if not core.any():
        return labels
    cc = core[r] & core[c]
    adj = coo_matrix((np.ones(int(cc.sum()), np.int8), (r[cc], c[cc])), shape=(m, m))
    _, comp = connected_components(adj, directed=False)
    core_idx = np.flatnonzero(core)
    comp_core = comp[core_idx]
    # number the clusters by their first core point, as scikit-learn discovers them
    first = np.full(comp.max() + 1, m, dtype=np.int64)
    np.minimum.at(first, comp_core, core_idx)
    used = np.unique(comp_core)
    rank = np.full(comp.max() + 1, -1, dtype=np.int64)
    rank[used[np.argsort(first[used], kind="stable")]] = np.arange(used.size)
    labels[core_idx] = rank[comp_core]
    # border points: the lowest-numbered adjacent cluster
    border_pairs = (core[r] & ~core[c], ~core[r] & core[c])
    b_pts = np.concatenate([c[border_pairs[0]], r[border_pairs[1]]])
    b_lab = np.concatenate([labels[r[border_pairs[0]]], labels[c[border_pairs[1]]]])
    if b_pts.size:
        best = np.full(m, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, b_pts, b_lab)
        hit = np.unique(b_pts)
        labels[hit] = best[hit]
    return labels


def check_noise_policy(noise: str) -> str:
    """Return ``noise`` if it is one of :data:`NOISE_POLICIES`, else raise InvalidInputError."""
    if noise not in NOISE_POLICIES:
        raise InvalidInputError(
            f"unknown noise policy {noise!r}; use 'drop' (noise points belong to no node of that "
            "cover set, as KeplerMapper), 'singletons' (each noise point becomes its own node) or "
            "'together' (a cover set's noise points form one node, as giotto-tda)."
        )
    return noise
