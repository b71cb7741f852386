"""The contrast norm and the DCT basis of small square patches (Lee, Pedersen & Mumford 2003).

A ``size x size`` patch is a vector of ``size * size`` pixel values, pixel ``(i, j)`` (row ``i``
from the top, column ``j`` from the left) at index ``i * size + j``. Patches and filters are the
**rows** of an ``(n, size * size)`` array: they are the points.

The *contrast* of a patch is its D-norm ``||x||_D = sqrt(x^T D x)``, where ``D`` is the graph
Laplacian of the 4-neighbour pixel grid, so ``x^T D x`` is the sum of ``(x_p - x_q)^2`` over
horizontally and vertically adjacent pixels. ``D``'s eigenvectors are the products of 1-D DCT-II
vectors; for 3x3 patches its eigenvalues are ``{0, 1, 1, 2, 3, 3, 4, 4, 6}`` (0: the constant
patch). Mean-centred patches divided by their D-norm lie on an ellipsoid; in the coordinates of
:func:`to_dct` (the DCT basis scaled by ``sqrt(eigenvalue)``) they lie on the unit sphere
``S^(size^2 - 2)``, ``S^7`` for 3x3 patches, and Euclidean distance there is the D-distance.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from .._validation import _check_real_dtype, _nonfinite_report, _to_numpy, check_choice, check_int
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError
from ..homology.memory import check_memory

__all__ = ["NORMALIZATIONS", "check_square_size", "dct_basis", "dnorm", "grid_laplacian",
           "normalize_filters", "to_dct"]

#: the ``normalize=`` choices of the filter functions (None: raw values)
NORMALIZATIONS = ("dnorm", "unit")
#: a row whose norm after centring is at most this times its largest |value| is constant
_ZERO = 1e-10


def _constant_rows(rows: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Rows with zero contrast: their norm after centring is rounding error of their own scale
    (so tiny-but-real filters are kept and all-zero rows are caught)."""
    return norms <= _ZERO * np.abs(rows).max(axis=1) * rows.shape[1]


def check_square_size(n_features: int, name: str = "patches") -> int:
    """The side ``size`` of square patches with ``n_features = size * size`` pixels (``size >= 2``).

    Raises
    ------
    ShapeError
        If ``n_features`` is not the square of an integer >= 2.
    """
    size = math.isqrt(max(0, int(n_features)))
    if size * size != n_features or size < 2:
        hint = " (a 1x1 kernel has no spatial structure)" if n_features == 1 else ""
        raise ShapeError(
            f"{name} have {n_features} values per row; expected size * size values of a square "
            f"patch with size >= 2 (4, 9, 25, ...){hint}. Flatten (n, size, size) patches row-major."
        )
    return size


def _patch_rows(x: Any, name: str, size: int | None) -> tuple[np.ndarray, int, bool]:
    """``x`` as float64 rows ``(n, size * size)``; accepts ``(size*size,)``, ``(n, size*size)`` and
    ``(n, size, size)``. Returns the rows, the size and whether a single patch was given."""
    arr = _to_numpy(x, name)
    _check_real_dtype(arr, name)
    single = arr.ndim == 1
    if arr.ndim == 3:
        if arr.shape[1] != arr.shape[2]:
            raise ShapeError(f"{name} of shape {arr.shape} are not square; expected (n, size, size).")
        arr = arr.reshape(arr.shape[0], -1)
    elif single:
        arr = arr.reshape(1, -1)
    elif arr.ndim != 2:
        raise ShapeError(f"{name} must be (n, size * size) or (n, size, size); found shape {arr.shape}.")
    arr = np.asarray(arr, dtype=np.float64)
    found = check_square_size(arr.shape[1], name)
    if size is not None and check_int(size, "size", minimum=2) != found:
        raise ShapeError(f"{name} have {arr.shape[1]} values per row, which is not size * size for "
                         f"size={size}; pass size={found} or reshape the patches.")
    if not np.isfinite(arr).all():
        raise NonFiniteError(f"{name} contain {_nonfinite_report(arr)}; {name} must be finite "
                             "(drop or replace those rows, e.g. with np.nan_to_num).")
    return arr, found, single


def grid_laplacian(size: int = 3) -> np.ndarray:
    """The Laplacian ``D`` of the ``size x size`` 4-neighbour pixel grid, ``(size^2, size^2)`` float64.

    ``D[p, p]`` is the number of neighbours of pixel ``p`` and ``D[p, q] = -1`` for adjacent pixels,
    so ``x @ D @ x`` is the sum of squared differences of adjacent pixels.
    """
    size = check_int(size, "size", minimum=2)
    check_memory(3 * 8 * size**4, "auto", what=f"the ({size**2}, {size**2}) grid Laplacian",
                 hint="use dnorm, which needs no matrix, or a smaller size")
    path = np.diag(np.r_[1.0, np.full(size - 2, 2.0), 1.0]) - np.eye(size, k=1) - np.eye(size, k=-1)
    eye = np.eye(size)
    return np.kron(path, eye) + np.kron(eye, path)


def dnorm(x: Any, *, size: int | None = None) -> np.ndarray | float:
    """The contrast (D-norm) ``sqrt(x^T D x)`` of each patch (row) of ``x``.

    Parameters
    ----------
    x : array-like
        ``(n, size * size)`` patches as rows, ``(n, size, size)``, or one patch ``(size * size,)``.
    size : int, optional
        The patch side (checked against ``x``; inferred when omitted).

    Returns
    -------
    numpy.ndarray or float
        ``(n,)`` contrasts (a float for a single patch). Computed from the pixel differences, so
        it is exactly non-negative and costs O(n size^2).
    """
    rows, s, single = _patch_rows(x, "patches", size)
    img = rows.reshape(-1, s, s)
    sq = (np.diff(img, axis=1) ** 2).sum(axis=(1, 2)) + (np.diff(img, axis=2) ** 2).sum(axis=(1, 2))
    out = np.sqrt(sq)
    return float(out[0]) if single else out


def dct_basis(size: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The DCT basis of mean-zero ``size x size`` patches: the non-constant eigenvectors of ``D``.

    Returns
    -------
    basis : numpy.ndarray
        ``(size^2 - 1, size^2)``; the rows are Euclidean-orthonormal and orthogonal to the constant
        patch, and ``D e_i = eigenvalues[i] e_i`` (so they are D-orthogonal too, with
        ``||e_i||_D = sqrt(eigenvalues[i])``). Row ``(a, b)`` is the product of the 1-D DCT-II
        vectors ``cos(pi a (i + 1/2) / size)`` down the rows and ``cos(pi b (j + 1/2) / size)``
        across the columns, with the sign flipped for odd ``b`` so that the first two rows are
        the gradients increasing to the right and upwards. For 3x3 patches: first the horizontal then the vertical gradient
        (eigenvalue 1), the "saddle" (2), the horizontal then the vertical quadratic (3), the
        two mixed ones (4) and the checkerboard-like (6).
    eigenvalues : numpy.ndarray
        ``(size^2 - 1,)`` ascending, ``(2 - 2 cos(pi a / size)) + (2 - 2 cos(pi b / size))``.
    """
    size = check_int(size, "size", minimum=2)
    check_memory(4 * 8 * size**4, "auto", what=f"the ({size**2 - 1}, {size**2}) DCT basis",
                 hint="use a smaller size")
    k = np.arange(size)
    lam1 = 2.0 - 2.0 * np.cos(np.pi * k / size)
    vec1 = np.cos(np.pi * np.outer(k, k + 0.5) / size)  # vec1[a] is the a-th 1-D DCT-II vector
    vec1 /= np.linalg.norm(vec1, axis=1, keepdims=True)
    a, b = np.meshgrid(k, k, indexing="ij")
    a, b = a.ravel()[1:], b.ravel()[1:]  # drop the constant (0, 0)
    lam = lam1[a] + lam1[b]
    # ascending eigenvalue; ties: the component varying across columns (x) first
    order = np.lexsort((a, np.round(lam, 12)))
    a, b, lam = a[order], b[order], lam[order]
    # signs: the gradients increase to the right (x) and upwards (y, row 0 at the top), as in
    # the Klein filters of topolens.filters._klein
    sign = np.where(b % 2 == 1, -1.0, 1.0)
    basis = (sign[:, None, None] * vec1[a][:, :, None] * vec1[b][:, None, :]).reshape(len(a), size * size)
    return basis, lam


def _dct_coords(rows: np.ndarray, size: int) -> np.ndarray:
    """The scaled DCT coefficients ``sqrt(lambda_i) <x - mean(x), e_i>`` of validated float64 rows:
    a linear map under which Euclidean distance is the D-distance of the mean-centred rows."""
    basis, lam = dct_basis(size)
    return ((rows - rows.mean(axis=1, keepdims=True)) @ basis.T) * np.sqrt(lam)


def to_dct(x: Any, *, size: int | None = None) -> np.ndarray:
    """DCT coordinates of patches: mean-centred, D-normalised, on the unit sphere ``S^(size^2 - 2)``.

    Coordinate ``i`` is ``sqrt(lambda_i) <x - mean(x), e_i> / ||x||_D`` for the basis of
    :func:`dct_basis`, so each row has unit Euclidean norm and the Euclidean distance of two rows
    is the D-distance of the normalised patches (the coordinates of Carlsson et al. 2008).

    Raises
    ------
    InvalidInputError
        If a patch has zero contrast (constant): it has no point on the sphere. Select patches
        with :func:`topolens.filters.high_contrast` first, or drop the constant rows.
    """
    rows, s, single = _patch_rows(x, "patches", size)
    scaled = _dct_coords(rows, s)
    norms = np.linalg.norm(scaled, axis=1)
    bad = _constant_rows(rows, norms)
    if bad.any():
        first = np.flatnonzero(bad)[:5].tolist()
        raise InvalidInputError(
            f"{int(bad.sum())} of {len(rows)} patches have zero contrast (constant rows, e.g. rows "
            f"{first}); they have no DCT coordinates. Keep the high-contrast ones "
            "(topolens.filters.high_contrast) or drop constant rows first."
        )
    out = scaled / norms[:, None]
    return out[0] if single else out


def normalize_filters(x: Any, normalize: Literal["dnorm", "unit"] | None = "dnorm", *,
                      size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean-centre each row and divide it by its D-norm (``"dnorm"``) or Euclidean norm (``"unit"``).

    Parameters
    ----------
    x : array-like
        ``(n, size * size)`` or ``(n, size, size)`` patches or filters (rows are the points).
    normalize : {"dnorm", "unit"} or None
        None returns a float64 copy of ``x`` (flattened) with norms of ones.

    Returns
    -------
    normalized : numpy.ndarray
        ``(n, size * size)``. Constant rows (whose centred norm is rounding error, at most
        ``1e-10 * size^2`` times their largest ``|value|``; all-zero rows too) come back as zero rows.
    norms : numpy.ndarray
        ``(n,)`` the norms divided by (0 for the constant rows): callers decide whether to drop
        such rows (and count them) or to refuse.
    """
    rows, s, _ = _patch_rows(x, "filters", size)
    if normalize is None:
        return rows.copy(), np.ones(len(rows))
    normalize = check_choice(normalize, "normalize", NORMALIZATIONS)
    centred = rows - rows.mean(axis=1, keepdims=True)
    norms = dnorm(centred, size=s) if normalize == "dnorm" else np.linalg.norm(centred, axis=1)
    norms = np.atleast_1d(norms)
    zero = _constant_rows(rows, norms)
    norms = np.where(zero, 0.0, norms)
    out = np.zeros_like(centred)
    np.divide(centred, norms[:, None], out=out, where=~zero[:, None])
    return out, norms
