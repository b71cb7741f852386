"""scikit-learn transformers turning collections of persistence diagrams into feature arrays.

Input ``X`` of every transformer is a list (or other sequence) of diagrams, each either

* a :class:`~topolens.PersistenceDiagrams`: the transformer uses its ``dim`` parameter to
  choose the homology dimension, or
* an array-like of shape ``(m, 2)`` of (birth, death) pairs (``dim`` is then ignored).

:class:`SummaryStatistics` summarises several dimensions at once and takes
PersistenceDiagrams (or ripser-style lists with one array per dimension) instead.

The estimators follow the scikit-learn contract: ``__init__`` only stores its parameters,
``fit`` validates them and learns the data-dependent ranges (attributes with a trailing
underscore), ``transform`` returns a float64 array of shape ``(n_diagrams, n_features)``
and fails with :class:`sklearn.exceptions.NotFittedError` before ``fit``. Infinite deaths
are treated as in :mod:`topolens.vectorize.functional`: counted as alive forever by
:class:`BettiCurve`, dropped by the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import check_choice, check_diagram_array, check_int
from ..diagrams import PersistenceDiagrams
from ..exceptions import InvalidInputError, ShapeError
from .functional import (
    Weight,
    _as_numpy,
    _check_dims,
    _check_positive,
    _check_resolution2,
    _entropy_of_lifetimes,
    _image_from_bp,
    _image_range,
    _landscape_grid,
    _landscape_on_grid,
    _range_entries,
    _weights,
    betti_curve,
    summary_feature_names,
    summary_vector,
)

__all__ = ["BettiCurve", "Entropy", "Landscape", "PersistenceImage", "SummaryStatistics"]


def _check_collection(X: Any) -> list[Any]:
    """Reject the common mistakes of passing one diagram instead of a collection."""
    if isinstance(X, PersistenceDiagrams):
        raise InvalidInputError(
            "X is a single PersistenceDiagrams; transformers take a collection of diagrams, one "
            "per sample. Wrap it in a list: [diagrams]."
        )
    if isinstance(X, np.ndarray) and X.ndim == 2:
        raise ShapeError(
            f"X is a single 2-D array of shape {X.shape}; transformers take a list of diagrams, "
            "one (m, 2) array per sample. Wrap it in a list: [dgm]."
        )
    if isinstance(X, (str, bytes)) or not hasattr(X, "__len__") or not hasattr(X, "__iter__"):
        raise InvalidInputError(
            f"X must be a list of persistence diagrams, found {type(X).__name__}."
        )
    items = list(X)
    if not items:
        raise InvalidInputError("X is empty; at least one persistence diagram is needed.")
    return items


def _extract(X: Any, dim: Any, *, finite: bool) -> list[np.ndarray]:
    """One validated (m, 2) float64 array per sample."""
    out = []
    for i, x in enumerate(_check_collection(X)):
        if isinstance(x, PersistenceDiagrams):
            arr = x[dim]
        else:
            arr = check_diagram_array(x, name=f"X[{i}]")
        out.append(arr[np.isfinite(arr[:, 1])] if finite else arr)
    return out


def _check_dim(dim: Any) -> int:
    return check_int(dim, "dim", minimum=0)  # type: ignore[return-value]


class BettiCurve(TransformerMixin, BaseEstimator):
    """Betti curves sampled on a grid (see :func:`~topolens.vectorize.betti_curve`).

    Parameters
    ----------
    dim : int, default 0
        Homology dimension taken from PersistenceDiagrams inputs.
    resolution : int, default 100
        Number of grid values when ``grid`` is not given.
    sample_range : (float or None, float or None), optional
        Ends of the grid; ``None`` entries are learned by ``fit`` (smallest birth, largest
        finite death or birth over the training diagrams) with gudhi's convention: the learned
        end points themselves are left out of the grid, so ``BettiCurve(resolution=n)`` matches
        ``gudhi.representations.BettiCurve(resolution=n)`` on diagrams with finite deaths.
    grid : array-like of shape (n,), optional
        Explicit grid; overrides ``resolution`` and ``sample_range``.

    Attributes
    ----------
    grid_ : numpy.ndarray of shape (n_features,)
        Filtration values at which the curves are evaluated.

    Notes
    -----
    Classes with an infinite death (essential or censored) are alive from their birth on.
    The output is float64 (integer-valued).

    Examples
    --------
    >>> X = [np.array([[0.0, 1.0], [0.5, 2.0]])]
    >>> BettiCurve(grid=[0.0, 0.5, 1.0, 1.5, 2.0]).fit_transform(X).tolist()
    [[1.0, 2.0, 1.0, 1.0, 0.0]]
    """

    def __init__(self, dim: int = 0, resolution: int = 100,
                 sample_range: Sequence[float | None] | None = None,
                 grid: Any = None) -> None:
        self.dim = dim
        self.resolution = resolution
        self.sample_range = sample_range
        self.grid = grid

    def fit(self, X: Any, y: Any = None) -> BettiCurve:
        """Validate the parameters and learn the grid from the diagrams ``X``.

        Parameters
        ----------
        X : list of PersistenceDiagrams or of (m, 2) arrays
        y : ignored

        Returns
        -------
        self
        """
        dim = _check_dim(self.dim)
        dgms = _extract(X, dim, finite=False)
        if self.grid is not None:
            grid = np.asarray(_as_numpy(self.grid), dtype=np.float64)
            if grid.ndim != 1 or grid.size == 0:
                raise ShapeError(f"grid must be a non-empty 1-D array, found shape {grid.shape}.")
            if np.isnan(grid).any():
                raise InvalidInputError("grid contains NaN; grid values must be numbers.")
            self.grid_ = grid.copy()
            return self
        resolution = check_int(self.resolution, "resolution", minimum=1)
        # finite ends for the automatic range: births and finite deaths
        ends = [np.column_stack([d[:, 0], np.where(np.isfinite(d[:, 1]), d[:, 1], d[:, 0])])
                for d in dgms]
        self.grid_ = _landscape_grid(self.sample_range, ends, resolution)  # type: ignore[arg-type]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Betti numbers of each diagram at ``grid_``, shape ``(n_diagrams, len(grid_))``."""
        check_is_fitted(self, "grid_")
        dgms = _extract(X, _check_dim(self.dim), finite=False)
        return np.stack([betti_curve(d, self.grid_) for d in dgms]).astype(np.float64)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Feature names ``betti_0 .. betti_{n-1}`` (grid index)."""
        check_is_fitted(self, "grid_")
        return np.array([f"betti_{i}" for i in range(self.grid_.size)], dtype=object)


class Landscape(TransformerMixin, BaseEstimator):
    """Persistence landscapes (see :func:`~topolens.vectorize.persistence_landscape`).

    Parameters
    ----------
    dim : int, default 0
        Homology dimension taken from PersistenceDiagrams inputs.
    num_landscapes : int, default 5
        Number of landscape functions.
    resolution : int, default 100
        Number of grid values per landscape.
    sample_range : (float or None, float or None), optional
        Ends of the grid; ``None`` entries are learned by ``fit`` (smallest birth, largest
        death over the finite points of the training diagrams), with gudhi's grid convention.

    Attributes
    ----------
    grid_ : numpy.ndarray of shape (resolution,)
        Grid on which the landscapes are sampled.

    Notes
    -----
    Output row = ``[lambda_1(grid_), ..., lambda_K(grid_)]`` concatenated, shape
    ``(n_diagrams, num_landscapes * resolution)``; it equals gudhi's ``Landscape`` output
    divided by ``sqrt(2)``. Points with an infinite death are dropped.
    """

    def __init__(self, dim: int = 0, num_landscapes: int = 5, resolution: int = 100,
                 sample_range: Sequence[float | None] | None = None) -> None:
        self.dim = dim
        self.num_landscapes = num_landscapes
        self.resolution = resolution
        self.sample_range = sample_range

    def fit(self, X: Any, y: Any = None) -> Landscape:
        """Validate the parameters and learn the sampling grid from the finite points of ``X``.

        Parameters
        ----------
        X : list of PersistenceDiagrams or of (m, 2) arrays
        y : ignored

        Returns
        -------
        self
        """
        check_int(self.num_landscapes, "num_landscapes", minimum=1)
        resolution = check_int(self.resolution, "resolution", minimum=1)
        dgms = _extract(X, _check_dim(self.dim), finite=True)
        self.grid_ = _landscape_grid(self.sample_range, dgms, resolution)  # type: ignore[arg-type]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Landscapes of each diagram, shape ``(n_diagrams, num_landscapes * resolution)``."""
        check_is_fitted(self, "grid_")
        k = int(self.num_landscapes)
        dgms = _extract(X, _check_dim(self.dim), finite=True)
        return np.stack([_landscape_on_grid(d, self.grid_, k).ravel() for d in dgms])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Feature names ``landscape{k}_{i}`` (landscape index from 1, grid index)."""
        check_is_fitted(self, "grid_")
        return np.array([f"landscape{k + 1}_{i}" for k in range(int(self.num_landscapes))
                         for i in range(self.grid_.size)], dtype=object)


class PersistenceImage(TransformerMixin, BaseEstimator):
    """Persistence images (see :func:`~topolens.vectorize.persistence_image`), flattened.

    Parameters
    ----------
    dim : int, default 0
        Homology dimension taken from PersistenceDiagrams inputs.
    bandwidth : float, default 1.0
        Standard deviation of the Gaussian kernel.
    weight : {"constant", "linear"} or callable, default "constant"
        Weight of each point: 1, its persistence, or ``weight([birth, persistence])``.
    resolution : (int, int), default (20, 20)
        Number of pixels ``(n_birth, n_persistence)``.
    im_range : (x_min, x_max, y_min, y_max), optional
        Image extent in (birth, persistence) coordinates; ``None`` entries are learned by
        ``fit`` from the finite points of the training diagrams (as gudhi does).

    Attributes
    ----------
    im_range_ : numpy.ndarray of shape (4,)
        The image extent used by ``transform``.

    Notes
    -----
    Output shape ``(n_diagrams, n_birth * n_persistence)``, persistence-major (row ``i`` of
    the image is persistence ``y_i``), equal to gudhi's ``PersistenceImage`` output.
    """

    def __init__(self, dim: int = 0, bandwidth: float = 1.0, weight: Weight = "constant",
                 resolution: tuple[int, int] = (20, 20),
                 im_range: Sequence[float | None] | None = None) -> None:
        self.dim = dim
        self.bandwidth = bandwidth
        self.weight = weight
        self.resolution = resolution
        self.im_range = im_range

    def _check_params(self) -> tuple[float, tuple[int, int]]:
        bandwidth = _check_positive(self.bandwidth, "bandwidth")
        res = _check_resolution2(self.resolution)
        _weights(np.zeros((0, 2)), self.weight)  # validates the weight option
        return bandwidth, res

    def fit(self, X: Any, y: Any = None) -> PersistenceImage:
        """Validate the parameters and learn the image extent from the finite points of ``X``.

        Parameters
        ----------
        X : list of PersistenceDiagrams or of (m, 2) arrays
        y : ignored

        Returns
        -------
        self
        """
        self._check_params()
        _range_entries(self.im_range, 4, "im_range")
        dgms = _extract(X, _check_dim(self.dim), finite=True)
        bps = [np.column_stack([d[:, 0], d[:, 1] - d[:, 0]]) for d in dgms]
        self.im_range_ = _image_range(self.im_range, bps)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Flattened persistence images, shape ``(n_diagrams, n_birth * n_persistence)``."""
        check_is_fitted(self, "im_range_")
        bandwidth, res = self._check_params()
        dgms = _extract(X, _check_dim(self.dim), finite=True)
        return np.stack([
            _image_from_bp(np.column_stack([d[:, 0], d[:, 1] - d[:, 0]]), self.weight,
                           bandwidth, res, self.im_range_).ravel()
            for d in dgms
        ])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Feature names ``pixel_{i}_{j}`` (persistence index, birth index)."""
        check_is_fitted(self, "im_range_")
        nx, ny = _check_resolution2(self.resolution)
        return np.array([f"pixel_{i}_{j}" for i in range(ny) for j in range(nx)], dtype=object)


class Entropy(TransformerMixin, BaseEstimator):
    """Persistent entropy (see :func:`~topolens.vectorize.persistent_entropy`).

    Parameters
    ----------
    dim : int, default 0
        Homology dimension taken from PersistenceDiagrams inputs.
    normalize : bool, default False
        Divide by ``log(n)`` (``n`` = number of positive finite lifetimes).

    Attributes
    ----------
    n_features_out_ : int
        Always 1.

    Notes
    -----
    Nothing is learned from the data; ``fit`` validates the parameters. Output shape
    ``(n_diagrams, 1)``; 0 for diagrams without positive finite lifetimes.
    """

    def __init__(self, dim: int = 0, normalize: bool = False) -> None:
        self.dim = dim
        self.normalize = normalize

    def fit(self, X: Any, y: Any = None) -> Entropy:
        """Validate the parameters and the diagrams ``X``; returns ``self``."""
        _extract(X, _check_dim(self.dim), finite=True)
        self.n_features_out_ = 1
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Entropy of each diagram, shape ``(n_diagrams, 1)``."""
        check_is_fitted(self, "n_features_out_")
        dgms = _extract(X, _check_dim(self.dim), finite=True)
        return np.array([[_entropy_of_lifetimes(d[:, 1] - d[:, 0], bool(self.normalize))]
                         for d in dgms], dtype=np.float64)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Feature names: ``["entropy"]``."""
        check_is_fitted(self, "n_features_out_")
        return np.array(["entropy"], dtype=object)


class SummaryStatistics(TransformerMixin, BaseEstimator):
    """Summary statistics of :func:`~topolens.vectorize.summary_statistics`, one row per sample.

    Parameters
    ----------
    dims : int or sequence of int, default (0, 1)
        Homology dimensions summarised.
    top_k : int, default 10
        Number of largest lifetimes per dimension.
    n_poly : int, default 3
        Number of complex-polynomial coefficients per dimension.
    poly_kind : {"R", "S", "T"}, default "R"
        Root transformation of the complex polynomial.

    Attributes
    ----------
    feature_names_ : list of str
        Names of the output columns.

    Notes
    -----
    ``X`` is a list of PersistenceDiagrams, or of ripser-style lists with one ``(m_k, 2)``
    array per dimension. Nothing is learned from the data; ``fit`` validates.
    """

    def __init__(self, dims: int | Sequence[int] = (0, 1), top_k: int = 10, n_poly: int = 3,
                 poly_kind: Literal["R", "S", "T"] = "R") -> None:
        self.dims = dims
        self.top_k = top_k
        self.n_poly = n_poly
        self.poly_kind = poly_kind

    def _rows(self, X: Any) -> np.ndarray:
        items = _check_collection(X)
        rows = []
        for x in items:
            if not isinstance(x, PersistenceDiagrams):
                if isinstance(x, np.ndarray) and x.ndim == 2:
                    raise ShapeError(
                        f"SummaryStatistics takes one PersistenceDiagrams (or a list with one "
                        f"(m, 2) array per dimension) per sample, found a 2-D array of shape "
                        f"{x.shape}. Wrap each single-dimension diagram: [dgm0]."
                    )
            rows.append(summary_vector(x, self.dims, self.top_k, n_poly=self.n_poly,
                                       poly_kind=self.poly_kind)[1])
        return np.stack(rows)

    def fit(self, X: Any, y: Any = None) -> SummaryStatistics:
        """Validate the parameters and the diagrams ``X``; returns ``self``."""
        check_choice(self.poly_kind, "poly_kind", ("R", "S", "T"))
        _check_dims(self.dims)
        names = summary_feature_names(self.dims, self.top_k, self.n_poly, self.poly_kind)
        self._rows(X)
        self.feature_names_ = names
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Summary statistics of each sample, shape ``(n_diagrams, len(feature_names_))``."""
        check_is_fitted(self, "feature_names_")
        return self._rows(X)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Same as ``fit(X).transform(X)``, computing the statistics once."""
        check_choice(self.poly_kind, "poly_kind", ("R", "S", "T"))
        rows = self._rows(X)
        self.feature_names_ = summary_feature_names(self.dims, self.top_k, self.n_poly,
                                                    self.poly_kind)
        return rows

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Feature names, e.g. ``H1_lifetime_top3`` or ``H0_entropy``."""
        check_is_fitted(self, "feature_names_")
        return np.array(self.feature_names_, dtype=object)
