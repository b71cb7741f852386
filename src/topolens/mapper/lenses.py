"""Lenses (filter functions) for Mapper: one value, or a few, per point.

The points are the rows of ``X`` (for activations: the inputs, ``(n_inputs, n_neurons)``).
A lens maps each row to ``d`` numbers; the cover is built on those numbers.

Every built-in lens is *1-Lipschitz in each coordinate* for the Euclidean metric
(``|f(x) - f(y)| <= ||x - y||``): the L2 norm (reverse triangle inequality), a column, and a
projection on a unit vector (PCA). Mapper's DBSCAN step uses that: two points whose lens
values differ by more than ``eps`` can never be neighbours, so they are never compared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import _nonfinite_report, _to_numpy
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError

__all__ = ["Lens", "LensValues", "compute_lens", "describe_lens"]

#: what ``lens=`` accepts: a name, a column index or several, a callable, or a fitted-on-call
#: scikit-learn transformer (anything with ``fit_transform``)
Lens = str | int | Sequence[int] | Callable[[np.ndarray], Any] | Any

_NAMED = ("l2norm", "pca", "pca1", "pca2", "pca3", "mean")


@dataclass(frozen=True)
class LensValues:
    """Lens values of the points and what is known about the lens.

    Attributes
    ----------
    values : ndarray of shape (n_points, d), float64
        One row per point.
    name : str
        A readable description (``"l2norm"``, ``"column 3"``, ``"pca(2)"``, ``"callable my_f"``).
    lipschitz : bool
        True when every coordinate is 1-Lipschitz for the Euclidean metric on the rows of ``X``.
    """

    values: np.ndarray
    name: str
    lipschitz: bool

    @property
    def n_dims(self) -> int:
        return int(self.values.shape[1])


def describe_lens(lens: Lens) -> str:
    """A short human-readable name for ``lens`` (used in graph metadata and reports)."""
    if isinstance(lens, str):
        return lens
    if isinstance(lens, (int, np.integer)):
        return f"column {int(lens)}"
    if isinstance(lens, Sequence) and all(isinstance(i, (int, np.integer)) for i in lens):
        return "columns " + ",".join(str(int(i)) for i in lens)
    if hasattr(lens, "fit_transform"):
        return type(lens).__name__
    return f"callable {getattr(lens, '__name__', type(lens).__name__)}"


def _pca(x: np.ndarray, k: int) -> np.ndarray:
    """Scores on the top ``k`` principal axes (eigenvectors of the covariance, float64).

    Signs are fixed so that each axis's largest-magnitude loading is positive, which makes the
    lens deterministic across BLAS builds and runs.
    """
    if k > x.shape[1]:
        raise InvalidInputError(
            f"lens 'pca{k}' asks for {k} principal components but the points have only "
            f"{x.shape[1]} coordinate(s); ask for at most {x.shape[1]}."
        )
    xc = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    cov = xc.T @ xc
    w, v = np.linalg.eigh(cov)
    axes = v[:, np.argsort(w)[::-1][:k]]
    flip = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(k)])
    flip[flip == 0] = 1.0
    return xc @ (axes * flip)


def compute_lens(x: Any, lens: Lens = "l2norm") -> LensValues:
    """Evaluate a lens on the rows of ``x``.

    Parameters
    ----------
    x : array-like of shape (n_points, n_features)
        The points (for activations: ``(n_inputs, n_neurons)``, the inputs are the points).
    lens : str, int, sequence of int, callable or transformer
        - ``"l2norm"`` (default, TopoAct's lens): the Euclidean norm of each row.
        - ``"pca"``/``"pca1"``, ``"pca2"``, ``"pca3"``: scores on the top principal axes.
        - ``"mean"``: the mean of each row (1/sqrt(n_features)-scaled, so 1-Lipschitz).
        - an int or a sequence of ints: those columns.
        - a callable ``f(x) -> (n_points,)`` or ``(n_points, d)``.
        - an object with ``fit_transform`` (e.g. ``sklearn.decomposition.PCA(2)``, UMAP).

    Returns
    -------
    LensValues
        Values of shape ``(n_points, d)`` in float64, with the lens' name and Lipschitz flag.

    Raises
    ------
    InvalidInputError
        For an unknown lens name, a column out of range, or a callable returning the wrong shape.
    NonFiniteError
        When the lens produces NaN or infinite values.
    """
    x = _to_numpy(x)
    if x.ndim != 2:
        raise ShapeError(f"the points must be a 2-D array (n_points, n_features); got shape {x.shape}.")
    n, m = x.shape
    name = describe_lens(lens)
    lipschitz = False
    if isinstance(lens, str):
        key = lens.lower()
        if key == "l2norm":
            values = np.linalg.norm(x.astype(np.float64, copy=False), axis=1)
            lipschitz = True
        elif key in ("pca", "pca1", "pca2", "pca3"):
            k = 1 if key == "pca" else int(key[3:])
            values = _pca(x, k)
            name = f"pca({k})"
            lipschitz = True
        elif key == "mean":
            values = x.astype(np.float64, copy=False).sum(axis=1) / np.sqrt(m)
            name = "mean (scaled by 1/sqrt(n_features))"
            lipschitz = True
        else:
            raise InvalidInputError(
                f"unknown lens {lens!r}; use one of {', '.join(_NAMED)}, a column index, a list of "
                "columns, a callable f(points) -> values, or an object with fit_transform."
            )
    elif isinstance(lens, (int, np.integer)) or (
        isinstance(lens, Sequence) and not isinstance(lens, str) and len(lens) > 0
        and all(isinstance(i, (int, np.integer)) for i in lens)
    ):
        cols = np.atleast_1d(np.asarray(lens, dtype=np.int64))
        bad = cols[(cols < -m) | (cols >= m)]
        if bad.size:
            raise InvalidInputError(
                f"lens column(s) {bad.tolist()} out of range for points with {m} column(s); "
                f"use indices in [0, {m - 1}]."
            )
        values = x[:, cols].astype(np.float64)
        lipschitz = True
    elif hasattr(lens, "fit_transform"):
        values = _to_numpy(lens.fit_transform(x))
    elif callable(lens):
        values = _to_numpy(lens(x))
    else:
        raise InvalidInputError(
            f"lens {lens!r} is not a name, column index, callable or transformer; use e.g. "
            "lens='l2norm', lens=3, lens=[0, 1], lens=lambda a: a.max(axis=1)."
        )
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != n:
        raise ShapeError(
            f"lens {name!r} returned shape {values.shape}; expected ({n},) or ({n}, d), one row "
            "per point."
        )
    if values.shape[1] == 0:
        raise ShapeError(f"lens {name!r} returned no coordinates (shape {values.shape}).")
    if not np.isfinite(values).all():
        raise NonFiniteError(
            f"lens {name!r} produced {_nonfinite_report(values)}; every point needs a finite lens "
            "value. Check the points for NaN/inf or use another lens."
        )
    return LensValues(np.ascontiguousarray(values), name, lipschitz)
