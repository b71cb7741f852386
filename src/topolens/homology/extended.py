"""Extended persistence of the lower-star filtration of a vertex function on a graph (with gudhi).

A graph ``G`` with a vertex function ``f`` is filtered by sublevel sets (lower star: an edge
enters at the larger value of its endpoints) and then, relative to the superlevel sets, back
down (Cohen-Steiner, Edelsbrunner and Harer 2009). Its extended persistence diagram splits into
four subdiagrams; PersLay (Carrière et al., AISTATS 2020, section 4) feeds each one to its own
layer. Conventions (checked against gudhi 3.13, ``SimplexTree.extend_filtration`` followed by
``SimplexTree.extended_persistence``):

========  ===============================  =====================  ===========================
key       gudhi subdiagram, dimension      orientation            meaning
========  ===============================  =====================  ===========================
``ord0``  Ordinary, H0                     ``birth <= death``     downward branches: a local
                                                                  minimum and the value where
                                                                  its sublevel component merges
                                                                  into an older one
``rel1``  Relative, H1                     ``birth >= death``     upward branches: a local
                                                                  maximum and the value where
                                                                  its superlevel component
                                                                  merges
``ext0``  Extended+ / Extended-, H0        ``birth <= death``     connected components:
                                                                  ``(min f, max f)`` over the
                                                                  component
``ext1``  Extended+ / Extended-, H1        ``birth >= death``     independent loops: ``(max,
                                                                  min)`` of ``f`` on the loop
========  ===============================  =====================  ===========================

gudhi files a point under Extended+ when ``birth < death`` and under Extended- otherwise, so a
zero-length ``ext0`` point (an isolated vertex, or a component on which ``f`` is constant)
comes back as Extended- in dimension 0: this module therefore sorts the points by homological
dimension, not by gudhi's sign. With ``min_persistence=-1`` nothing is dropped and

* ``len(ext0) == C`` (connected components), ``len(ext1) == E - V + C`` (cycle rank),
* ``len(ord0) == len(rel1) == V - C``;

with the default ``min_persistence=0.0`` (gudhi's default and the authors' code) the pairs of
length 0 are dropped, in every subdiagram. gudhi rescales ``f`` to ``[-2, -1]`` internally,
so its coordinates are off by a few ulps; with ``snap=True`` (default) every coordinate is
replaced by the nearest value of ``f`` (every birth and death is a vertex value).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._deps import require
from .._validation import _to_numpy, check_graph_edges
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError

__all__ = ["EXTENDED_DIAGRAMS", "extended_persistence"]

#: The four subdiagrams, in PersLay's order.
EXTENDED_DIAGRAMS = ("ord0", "rel1", "ext0", "ext1")


def _gudhi() -> Any:
    return require("gudhi", extra=None, purpose="extended persistence (topolens.homology.extended)")


def _points(pairs: list, dim: int) -> np.ndarray:
    pts = [bd for d, bd in pairs if d == dim]
    return np.asarray(pts, dtype=np.float64).reshape(-1, 2)


def _snap(points: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Replace every coordinate by the nearest entry of ``values`` (sorted, unique)."""
    if points.size == 0 or values.size == 0:
        return points
    idx = np.clip(np.searchsorted(values, points), 1, max(values.size - 1, 1))
    lo = values[idx - 1]
    hi = values[np.minimum(idx, values.size - 1)]
    return np.where(np.abs(points - lo) <= np.abs(points - hi), lo, hi)


def extended_persistence(n_nodes: int, edges: Any, f: Any, *, min_persistence: float = 0.0,
                         snap: bool = True) -> dict[str, np.ndarray]:
    """The four extended persistence diagrams of the lower-star filtration of ``f`` on a graph.

    Parameters
    ----------
    n_nodes : int
        Number of vertices (0 gives four empty diagrams).
    edges : int array-like of shape (n_edges, 2)
        Undirected edges, 0-based; direction and repetitions are ignored, self-loops refused.
    f : float array-like of shape (n_nodes,)
        Vertex function (e.g. a column of :func:`~topolens.graphs.signatures.heat_kernel_signature`).
        Must be finite.
    min_persistence : float
        Keep points with ``|death - birth| > min_persistence`` (gudhi's rule). The default 0.0
        drops the zero-length pairs; -1 keeps every pair.
    snap : bool
        Replace gudhi's coordinates (recomputed from an internal rescaling) by the nearest
        value of ``f``, so they are exactly vertex values.

    Returns
    -------
    dict
        ``{"ord0", "rel1", "ext0", "ext1"}`` -> float64 ndarray of shape (m, 2) holding (birth,
        death) rows in gudhi's orientation (see the module docstring: ``ord0`` and ``ext0``
        have birth <= death, ``rel1`` and ``ext1`` birth >= death). All values are finite.

    Raises
    ------
    MissingDependencyError
        gudhi is not installed.
    InvalidInputError, ShapeError, NonFiniteError
        Bad graph or vertex function.

    Examples
    --------
    >>> d = extended_persistence(4, [(0, 1), (1, 2), (2, 3), (0, 3)], [0.0, 1.0, 3.0, 2.0])
    >>> d["ext0"].tolist(), d["ext1"].tolist()
    ([[0.0, 3.0]], [[3.0, 0.0]])
    """
    n, e = check_graph_edges(n_nodes, edges)
    vals = np.asarray(_to_numpy(f), dtype=np.float64)
    if vals.ndim != 1 or vals.shape[0] != n:
        raise ShapeError(
            f"f must have shape (n_nodes,) = ({n},), found shape {vals.shape}. Pass one value per "
            "vertex (for several filtrations, call once per column)."
        )
    if not np.all(np.isfinite(vals)):
        raise NonFiniteError(
            f"f holds {int((~np.isfinite(vals)).sum())} non-finite value(s); the filtration needs "
            "finite vertex values. Replace NaN/inf (e.g. np.nan_to_num) before the call."
        )
    if not np.isfinite(min_persistence):
        raise InvalidInputError(f"min_persistence must be finite, found {min_persistence!r}.")
    if n == 0:
        return {k: np.zeros((0, 2)) for k in EXTENDED_DIAGRAMS}
    gd = _gudhi()
    st = gd.SimplexTree()
    st.insert_batch(np.arange(n, dtype=np.int64)[None, :], vals)
    if e.shape[0]:
        e = np.unique(np.sort(e, axis=1), axis=0)
        st.insert_batch(np.ascontiguousarray(e.T), np.maximum(vals[e[:, 0]], vals[e[:, 1]]))
    st.extend_filtration()
    ordinary, relative, ext_plus, ext_minus = st.extended_persistence(min_persistence=float(min_persistence))
    out = {
        "ord0": _points(ordinary, 0),
        "rel1": _points(relative, 1),
        "ext0": np.concatenate([_points(ext_plus, 0), _points(ext_minus, 0)]),
        "ext1": np.concatenate([_points(ext_plus, 1), _points(ext_minus, 1)]),
    }
    if snap:
        uniq = np.unique(vals)
        out = {k: _snap(v, uniq) for k, v in out.items()}
    return out
