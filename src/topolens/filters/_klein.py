"""The circle and Klein-bottle models of patches and filters (Carlsson et al. 2008; Carlsson &
Gabrielsson 2018), in closed form.

A point ``(theta1, theta2)`` of the Klein bottle is the polynomial on the square ``[-1, 1]^2``

    F(theta1, theta2)(x, y) = sin(theta2) u + cos(theta2) (2 u^2 - 1),   u = cos(theta1) x + sin(theta1) y,

(``x`` to the right, ``y`` up). Its ``size x size`` filter holds the integral of ``F`` over each
pixel's square: pixel ``(i, j)`` (row ``i`` from the top) covers
``x in [-1 + j h, -1 + (j + 1) h]``, ``y in [1 - (i + 1) h, 1 - i h]`` with ``h = 2 / size``. The
integrals of ``x, y, x^2, xy, y^2`` over a rectangle are exact polynomials in its corners, so
the filters are exact (no quadrature).

``u -> -u`` (``theta1 + pi``) flips the sign of the linear term only, so
``F(theta1 + pi, theta2) = F(theta1, 2 pi - theta2)``: with that identification the square
``[0, pi) x [0, 2 pi)`` is a fundamental domain, and the parameter space is a Klein bottle.
``theta2 = pi / 2`` gives the linear "edge" filters ``u`` of the *primary circle* (all of
``theta1 in [0, 2 pi)``); ``theta1 = 0`` and ``theta1 = pi / 2`` give the two *secondary circles*
(filters depending on ``x`` alone, or on ``y`` alone), which meet the primary circle in two points
each: the three-circle model, whose first Betti number is 5.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .._validation import _to_numpy, check_int
from ..exceptions import InvalidInputError, ShapeError
from ._basis import _patch_rows, dct_basis, normalize_filters

__all__ = ["KleinCoordinates", "circle_filters", "klein_canonical", "klein_coordinates", "klein_filter",
           "klein_filters", "three_circle_filters"]

logger = logging.getLogger(__name__)

Normalize = Literal["dnorm", "unit"] | None
_TWO_PI = 2.0 * np.pi


def _pixel_moments(size: int) -> np.ndarray:
    """``(size^2, 6)``: the integrals of ``x, y, x^2, xy, y^2, 1`` over each pixel's square."""
    h = 2.0 / size
    edges = -1.0 + h * np.arange(size + 1)
    x0, x1 = edges[:-1], edges[1:]               # column j
    y1, y0 = 1.0 - h * np.arange(size), 1.0 - h * np.arange(1, size + 1)  # row i (top first)
    mx, mxx = (x1**2 - x0**2) / 2, (x1**3 - x0**3) / 3
    my, myy = (y1**2 - y0**2) / 2, (y1**3 - y0**3) / 3
    one_x, one_y = x1 - x0, y1 - y0
    cols = [np.outer(one_y, mx), np.outer(my, one_x), np.outer(one_y, mxx), np.outer(my, mx),
            np.outer(myy, one_x), np.outer(one_y, one_x)]
    return np.stack([c.ravel() for c in cols], axis=1)


def _angles(theta: Any, name: str) -> np.ndarray:
    arr = np.asarray(_to_numpy(theta, name), dtype=np.float64)
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"{name} must be finite angles (radians); found NaN or inf.")
    return arr


def klein_filter(theta1: Any, theta2: Any, size: int = 3, *, normalize: Normalize = None) -> np.ndarray:
    """The ``size x size`` filters of the Klein-bottle points ``(theta1, theta2)``.

    Parameters
    ----------
    theta1, theta2 : float or array-like
        Angles in radians (broadcast against each other; any real values, no wrapping needed).
    size : int
        Filter side (>= 2).
    normalize : {"dnorm", "unit"} or None
        None (default): the raw pixel integrals. ``"dnorm"``/``"unit"``: mean-centred and divided
        by the D-norm or the Euclidean norm (:func:`topolens.filters.normalize_filters`).

    Returns
    -------
    numpy.ndarray
        ``(n, size * size)`` rows, one per broadcast angle pair, pixel ``(i, j)`` at ``i * size + j``.
    """
    size = check_int(size, "size", minimum=2)
    t1, t2 = np.broadcast_arrays(_angles(theta1, "theta1"), _angles(theta2, "theta2"))
    t1, t2 = t1.ravel(), t2.ravel()
    c, s, lin, quad = np.cos(t1), np.sin(t1), np.sin(t2), np.cos(t2)
    coef = np.stack([lin * c, lin * s, 2 * quad * c * c, 4 * quad * c * s, 2 * quad * s * s, -quad], axis=1)
    out = coef @ _pixel_moments(size).T
    if normalize is None:
        return out
    return normalize_filters(out, normalize, size=size)[0]


def klein_canonical(theta1: Any, theta2: Any) -> tuple[np.ndarray, np.ndarray]:
    """The representative of ``(theta1, theta2)`` in the fundamental domain ``[0, pi) x [0, 2 pi)``,
    under ``(theta1 + pi, theta2) ~ (theta1, 2 pi - theta2)`` and 2 pi periodicity in both angles."""
    t1 = np.mod(_angles(theta1, "theta1"), _TWO_PI)
    t2 = np.mod(_angles(theta2, "theta2"), _TWO_PI)
    t1, t2 = np.broadcast_arrays(t1, t2)
    flip = t1 >= np.pi
    t1 = np.where(flip, t1 - np.pi, t1)
    t2 = np.mod(np.where(flip, _TWO_PI - t2, t2), _TWO_PI)
    # rounding can leave t1 at pi or t2 at 2 pi exactly
    t1 = np.where(t1 >= np.pi, 0.0, t1)
    t2 = np.where(t2 >= _TWO_PI, 0.0, t2)
    return t1, t2


def klein_filters(n_theta1: int, n_theta2: int, size: int = 3, *, normalize: Normalize = None,
                  return_angles: bool = False) -> Any:
    """Klein-bottle filters on the grid ``theta1 = pi k / n_theta1``, ``theta2 = 2 pi l / n_theta2``.

    The grid covers the fundamental domain ``[0, pi) x [0, 2 pi)`` once; row ``k * n_theta2 + l``
    is the point ``(k, l)``.

    Returns
    -------
    filters : numpy.ndarray
        ``(n_theta1 * n_theta2, size * size)``.
    (theta1, theta2) : numpy.ndarray, numpy.ndarray
        With ``return_angles=True``: the angles of each row.
    """
    n1 = check_int(n_theta1, "n_theta1", minimum=1)
    n2 = check_int(n_theta2, "n_theta2", minimum=1)
    t1, t2 = np.meshgrid(np.pi * np.arange(n1) / n1, _TWO_PI * np.arange(n2) / n2, indexing="ij")
    t1, t2 = t1.ravel(), t2.ravel()
    out = klein_filter(t1, t2, size, normalize=normalize)
    return (out, (t1, t2)) if return_angles else out


def circle_filters(n: int, size: int = 3, *, normalize: Normalize = None, return_angles: bool = False) -> Any:
    """``n`` filters of the primary circle: the linear filters ``u`` at ``theta1 = 2 pi k / n``
    (the Klein filters at ``theta2 = pi / 2``; an edge of orientation ``theta1 + pi / 2``).

    Returns ``(n, size * size)`` filters, and the angles ``theta1`` with ``return_angles=True``.
    """
    n = check_int(n, "n", minimum=1)
    t1 = _TWO_PI * np.arange(n) / n
    out = klein_filter(t1, np.pi / 2, size, normalize=normalize)
    return (out, t1) if return_angles else out


def three_circle_filters(n_primary: int, n_secondary: int, size: int = 3, *, normalize: Normalize = None,
                         return_angles: bool = False) -> Any:
    """The three-circle model: ``n_primary`` primary-circle filters, then the filters of each secondary
    circle (``theta1 = 0``, then ``theta1 = pi / 2``) at ``theta2 = 2 pi l / n_secondary``.

    Where a secondary circle meets the primary one (``theta2 = pi / 2`` or ``3 pi / 2``, when
    ``n_secondary`` is a multiple of 4) the point is left out of the secondary part, so no filter is
    repeated: each secondary circle contributes ``n_secondary`` filters, or ``n_secondary - 2``.

    Returns ``(n, size * size)`` filters, and ``(theta1, theta2)`` with ``return_angles=True``.
    """
    n_p = check_int(n_primary, "n_primary", minimum=1)
    n_s = check_int(n_secondary, "n_secondary", minimum=1)
    sec = _TWO_PI * np.arange(n_s) / n_s
    sec = sec[np.abs(np.cos(sec)) > 1e-9]
    t1 = np.r_[_TWO_PI * np.arange(n_p) / n_p, np.zeros(len(sec)), np.full(len(sec), np.pi / 2)]
    t2 = np.r_[np.full(n_p, np.pi / 2), sec, sec]
    out = klein_filter(t1, t2, size, normalize=normalize)
    return (out, (t1, t2)) if return_angles else out


@dataclass(frozen=True)
class KleinCoordinates:
    """Where filters sit on the Klein bottle (:func:`klein_coordinates`); one entry per filter.

    ``theta1`` in ``[0, pi)``, ``theta2`` in ``[0, 2 pi)`` (the fundamental domain); ``residual``
    the distance between the normalised filter and the normalised model filter at those angles
    (0: on the bottle; 2 at most); ``cosine`` their cosine similarity (``1 - residual^2 / 2``).
    Constant (zero-contrast) filters have no place: NaN in every field.
    """

    theta1: np.ndarray
    theta2: np.ndarray
    residual: np.ndarray
    cosine: np.ndarray

    def __len__(self) -> int:
        return len(self.theta1)


def _embed(rows: np.ndarray, size: int, normalize: str) -> np.ndarray:
    """Unit vectors whose Euclidean distance is the chosen normalisation's distance: DCT coordinates
    for ``"dnorm"`` (D-distance), the centred unit rows for ``"unit"``. Constant rows: zero."""
    y, _ = normalize_filters(rows, normalize, size=size)
    if normalize == "unit":
        return y
    basis, lam = dct_basis(size)
    return (y @ basis.T) * np.sqrt(lam)


def _coarse_search(v: np.ndarray, size: int, normalize: str, n1: int, n2: int) -> tuple[np.ndarray, np.ndarray]:
    """Best grid point (largest cosine) for each embedded row, by chunked float32 GEMMs."""
    bank, (g1, g2) = klein_filters(n1, n2, size, return_angles=True)
    bank = _embed(bank, size, normalize).astype(np.float32)
    best = np.empty(len(v), dtype=np.int64)
    step = max(1, (1 << 24) // len(bank))  # ~64 MB of float32 similarities per chunk
    for i in range(0, len(v), step):
        best[i:i + step] = np.argmax(v[i:i + step].astype(np.float32) @ bank.T, axis=1)
    return g1[best], g2[best]


def _refine(v: np.ndarray, size: int, normalize: str, t1: np.ndarray, t2: np.ndarray,
            spacing: float, rounds: int = 4, width: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Local grid search: ``(2 width + 1)^2`` offsets around each point, the spacing shrinking by
    ``width`` each round (vectorised over the points)."""
    offsets = np.arange(-width, width + 1, dtype=np.float64)
    d1, d2 = (a.ravel() for a in np.meshgrid(offsets, offsets, indexing="ij"))
    m = len(d1)
    step = max(1, (1 << 21) // (m * size * size))
    for _ in range(rounds):
        spacing /= width
        for i in range(0, len(v), step):
            sl = slice(i, i + step)
            c1 = (t1[sl, None] + spacing * d1).ravel()
            c2 = (t2[sl, None] + spacing * d2).ravel()
            cand = _embed(klein_filter(c1, c2, size), size, normalize).reshape(-1, m, v.shape[1])
            k = np.argmax(np.einsum("nmd,nd->nm", cand, v[sl]), axis=1)
            t1[sl] = c1.reshape(-1, m)[np.arange(len(k)), k]
            t2[sl] = c2.reshape(-1, m)[np.arange(len(k)), k]
    return t1, t2


def klein_coordinates(x: Any, *, normalize: Literal["dnorm", "unit"] = "dnorm", resolution: int = 90,
                      size: int | None = None) -> KleinCoordinates:
    """Place each filter (row of ``x``) at its nearest point of the Klein bottle.

    Both the filter and the model filters are mean-centred and normalised (``"dnorm"``: D-norm,
    compared in DCT coordinates, so the distance is the contrast-weighted one of Carlsson et al.;
    ``"unit"``: Euclidean norm). The nearest angles come from a grid of ``resolution x
    2 resolution`` points of the fundamental domain (chunked GEMMs), then four rounds of a local
    7 x 7 grid search whose spacing shrinks threefold each round (final spacing about
    ``pi / resolution / 81``).

    Parameters
    ----------
    x : array-like
        ``(n, size * size)`` or ``(n, size, size)`` filters (the points), e.g. ``FilterSet.points``.
    normalize : {"dnorm", "unit"}
    resolution : int
        Coarse grid steps over ``theta1 in [0, pi)`` (>= 8).

    Returns
    -------
    KleinCoordinates
        Angles in the fundamental domain (equal up to the identification for the two
        representatives of a point), the residual distance and the cosine. Constant filters get NaN
        (and a logged warning).
    """
    if normalize not in ("dnorm", "unit"):
        raise InvalidInputError(f"normalize must be 'dnorm' or 'unit' (the bottle's filters are compared "
                                f"normalised); found {normalize!r}.")
    rows, s, _ = _patch_rows(x, "filters", size)
    if len(rows) == 0:
        raise ShapeError("no filters given (0 rows); pass an (n, size * size) array with n >= 1.")
    n1 = check_int(resolution, "resolution", minimum=8)
    v = _embed(rows, s, normalize)
    ok = np.linalg.norm(v, axis=1) > 0.5
    if not ok.all():
        logger.warning("%d of %d filters are constant (zero contrast): no Klein coordinates (NaN)",
                       int((~ok).sum()), len(rows))
    t1 = np.full(len(rows), np.nan)
    t2, res, cos = t1.copy(), t1.copy(), t1.copy()
    if ok.any():
        vo = v[ok]
        a1, a2 = _coarse_search(vo, s, normalize, n1, 2 * n1)
        a1, a2 = _refine(vo, s, normalize, a1, a2, spacing=np.pi / n1)
        model = _embed(klein_filter(a1, a2, s), s, normalize)
        c = np.clip(np.einsum("nd,nd->n", model, vo), -1.0, 1.0)
        t1[ok], t2[ok] = klein_canonical(a1, a2)
        cos[ok] = c
        res[ok] = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * c))
    return KleinCoordinates(theta1=t1, theta2=t2, residual=res, cosine=cos)
