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
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .._validation import _check_real_dtype, _to_numpy, check_int
from ..exceptions import InvalidInputError, ShapeError
from ..homology.memory import check_memory
from ._basis import _dct_coords, _patch_rows, normalize_filters

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
    arr = _to_numpy(theta, name)
    if arr.dtype != bool:  # bool angles are 0 and 1 radians, as numpy reads them
        _check_real_dtype(arr, name)
    arr = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"{name} must be finite angles (radians); found NaN or inf.")
    return arr


def _check_filter_memory(n: int, size: int, memory_limit: int | Literal["auto"] | None) -> None:
    """Refuse (MemoryBudgetError) banks of ``n`` filters that would not fit: the output, the
    coefficients and the normalisation's temporaries, about ``3 n (size^2 + 6)`` float64."""
    check_memory(24 * n * (size * size + 6), memory_limit, what=f"{n:,} filters of {size}x{size}",
                 hint="ask for fewer filters (a coarser grid of angles)")


def circle_angles(n: int) -> np.ndarray:
    """``theta1 = 2 pi k / n``, ``k = 0 .. n - 1``: the angles of :func:`circle_filters`."""
    return _TWO_PI * np.arange(n) / n


def grid_angles(n_theta1: int, n_theta2: int) -> tuple[np.ndarray, np.ndarray]:
    """The flattened grid ``(pi k / n_theta1, 2 pi l / n_theta2)`` of :func:`klein_filters`, row
    ``k * n_theta2 + l`` (the fundamental domain ``[0, pi) x [0, 2 pi)`` covered once)."""
    t1, t2 = np.meshgrid(np.pi * np.arange(n_theta1) / n_theta1, circle_angles(n_theta2), indexing="ij")
    return t1.ravel(), t2.ravel()


def _grid_count(counts: tuple[int, ...], size: int, memory_limit: int | Literal["auto"] | None) -> None:
    """The memory check of a grid of angles before the grid is built."""
    _check_filter_memory(math.prod(counts), size, memory_limit)


def klein_filter(theta1: Any, theta2: Any, size: int = 3, *, normalize: Normalize = None,
                 memory_limit: int | Literal["auto"] | None = "auto") -> np.ndarray:
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
    memory_limit : int, "auto" or None
        Budget in bytes for the filters and their temporaries (``"auto"``: 80% of the available
        memory; None: no check). The grid functions below take the same argument.

    Returns
    -------
    numpy.ndarray
        ``(n, size * size)`` rows, one per broadcast angle pair, pixel ``(i, j)`` at ``i * size + j``.
    """
    size = check_int(size, "size", minimum=2)
    a1, a2 = _angles(theta1, "theta1"), _angles(theta2, "theta2")
    try:
        n = int(np.prod(np.broadcast_shapes(a1.shape, a2.shape), dtype=np.int64))
    except ValueError:
        raise ShapeError(f"theta1 of shape {a1.shape} and theta2 of shape {a2.shape} do not broadcast; "
                         "pass arrays of equal length (or a scalar for one of them).") from None
    _check_filter_memory(n, size, memory_limit)
    t1, t2 = np.broadcast_arrays(a1, a2)
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
                  return_angles: bool = False, memory_limit: int | Literal["auto"] | None = "auto") -> Any:
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
    size = check_int(size, "size", minimum=2)
    _grid_count((n1, n2), size, memory_limit)
    t1, t2 = grid_angles(n1, n2)
    out = klein_filter(t1, t2, size, normalize=normalize, memory_limit=None)
    return (out, (t1, t2)) if return_angles else out


def circle_filters(n: int, size: int = 3, *, normalize: Normalize = None, return_angles: bool = False,
                   memory_limit: int | Literal["auto"] | None = "auto") -> Any:
    """``n`` filters of the primary circle: the linear filters ``u`` at ``theta1 = 2 pi k / n``
    (the Klein filters at ``theta2 = pi / 2``; an edge of orientation ``theta1 + pi / 2``).

    Returns ``(n, size * size)`` filters, and the angles ``theta1`` with ``return_angles=True``.
    """
    n = check_int(n, "n", minimum=1)
    size = check_int(size, "size", minimum=2)
    _grid_count((n,), size, memory_limit)
    t1 = circle_angles(n)
    out = klein_filter(t1, np.pi / 2, size, normalize=normalize, memory_limit=None)
    return (out, t1) if return_angles else out


def three_circle_filters(n_primary: int, n_secondary: int, size: int = 3, *, normalize: Normalize = None,
                         return_angles: bool = False,
                         memory_limit: int | Literal["auto"] | None = "auto") -> Any:
    """The three-circle model: ``n_primary`` primary-circle filters, then the filters of each secondary
    circle (``theta1 = 0``, then ``theta1 = pi / 2``) at ``theta2 = 2 pi l / n_secondary``.

    Where a secondary circle meets the primary one (``theta2 = pi / 2`` or ``3 pi / 2``, when
    ``n_secondary`` is a multiple of 4) the point is left out of the secondary part, so no filter is
    repeated: each secondary circle contributes ``n_secondary`` filters, or ``n_secondary - 2``.

    Returns ``(n, size * size)`` filters, and ``(theta1, theta2)`` with ``return_angles=True``.
    """
    n_p = check_int(n_primary, "n_primary", minimum=1)
    n_s = check_int(n_secondary, "n_secondary", minimum=1)
    size = check_int(size, "size", minimum=2)
    _grid_count((n_p + 2 * n_s,), size, memory_limit)
    sec = circle_angles(n_s)
    sec = sec[np.abs(np.cos(sec)) > 1e-9]
    t1 = np.r_[circle_angles(n_p), np.zeros(len(sec)), np.full(len(sec), np.pi / 2)]
    t2 = np.r_[np.full(n_p, np.pi / 2), sec, sec]
    out = klein_filter(t1, t2, size, normalize=normalize, memory_limit=None)
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
    return y if normalize == "unit" else _dct_coords(y, size)


def _monomial_embedding(size: int, normalize: str) -> np.ndarray:
    """``(6, d)``: the embedding (:func:`_embed` before the division by the norm) of the pixel
    integrals of ``x, y, x^2, xy, y^2, 1``. The embedding is linear, so the embedded model filter
    at ``(theta1, theta2)`` is its coefficient vector times this matrix."""
    moments = _pixel_moments(size).T                      # (6, size^2)
    if normalize == "unit":
        return moments - moments.mean(axis=1, keepdims=True)
    return _dct_coords(moments, size)


def _profile_terms(t1: np.ndarray, p: np.ndarray, gram: np.ndarray) -> tuple[np.ndarray, ...]:
    """For angles ``t1`` (any shape ``S`` broadcasting against ``p[..., 0]``): the inner products
    ``a = <v, L(t1)>``, ``b = <v, Q(t1)>`` of the points with the embedded linear part
    ``L = cos(t1) x + sin(t1) y`` and quadratic part ``Q = 2 u^2 - 1``, and ``|L|^2``, ``|Q|^2``.

    ``p`` holds ``<v, monomial_i>`` (``(..., 6)``), ``gram`` the monomials' Gram matrix."""
    c, s = np.cos(t1), np.sin(t1)
    a = c * p[..., 0] + s * p[..., 1]
    w = np.stack([2 * c * c, 4 * c * s, 2 * s * s, -np.ones_like(c)], axis=-1)
    b = np.einsum("...i,...i->...", w, p[..., 2:6])
    ll = gram[0, 0] * c * c + 2 * gram[0, 1] * c * s + gram[1, 1] * s * s
    qq = np.einsum("...i,ij,...j->...", w, gram[2:, 2:], w)
    return a, b, ll, qq


def _profile(t1: np.ndarray, p: np.ndarray, gram: np.ndarray, tiny: float) -> np.ndarray:
    """The squared best cosine over ``theta2`` at ``theta1 = t1``: ``a^2 / |L|^2 + b^2 / |Q|^2``
    (a part whose norm is below ``tiny``, e.g. the quadratic part of 2x2 filters at some angles,
    contributes nothing)."""
    a, b, ll, qq = _profile_terms(t1, p, gram)
    return (np.where(ll > tiny, a * a / np.maximum(ll, tiny), 0.0)
            + np.where(qq > tiny, b * b / np.maximum(qq, tiny), 0.0))


def _nearest_angles(v: np.ndarray, size: int, normalize: str, resolution: int, rounds: int = 10,
                    width: int = 3, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The nearest point of the bottle to each embedded unit row of ``v``.

    The model filter is ``sin(t2) L(t1) + cos(t2) Q(t1)`` with ``L`` odd and ``Q`` even under the
    half-turn of the pixel grid, which preserves ``D``: ``L`` and ``Q`` are orthogonal in the
    embedding, so for fixed ``t1`` the cosine ``(a sin t2 + b cos t2) / sqrt(|L|^2 sin^2 t2 +
    |Q|^2 cos^2 t2)`` is largest at ``(sin t2, cos t2) ~ (a / |L|^2, b / |Q|^2)``, with value
    ``sqrt(a^2 / |L|^2 + b^2 / |Q|^2)`` (Cauchy-Schwarz after scaling by ``|L|``, ``|Q|``). That
    leaves a 1-D search over ``t1 in [0, pi)`` (the profile has period pi): a grid of
    ``resolution`` angles, then ``rounds`` local grids of ``2 width + 1`` angles, the spacing
    shrinking by ``width`` each round (final spacing ``pi / resolution / width^rounds``).
    """
    from tqdm.auto import tqdm

    mono = _monomial_embedding(size, normalize)
    gram = mono @ mono.T
    tiny = 1e-12 * float(np.trace(gram))
    p = v @ mono.T                                           # (n, 6)
    grid = np.pi * np.arange(resolution) / resolution
    offsets = np.arange(-width, width + 1, dtype=np.float64)
    t1 = np.empty(len(v))
    step = max(1, (1 << 22) // (4 * max(resolution, len(offsets))))
    for i in tqdm(range(0, len(v), step), desc="Klein coordinates", disable=not progress, leave=False):
        pc = p[i:i + step, None, :]
        best = grid[np.argmax(_profile(grid[None, :], pc, gram, tiny), axis=1)]
        spacing = np.pi / resolution
        for _ in range(rounds):
            spacing /= width
            cand = best[:, None] + spacing * offsets
            best = cand[np.arange(len(cand)), np.argmax(_profile(cand, pc, gram, tiny), axis=1)]
        t1[i:i + step] = best
    a, b, ll, qq = _profile_terms(t1, p, gram)
    sin_part = np.where(ll > tiny, a / np.maximum(ll, tiny), 0.0)
    cos_part = np.where(qq > tiny, b / np.maximum(qq, tiny), 0.0)
    return t1, np.arctan2(sin_part, cos_part)


def klein_coordinates(x: Any, *, normalize: Literal["dnorm", "unit"] = "dnorm", resolution: int = 90,
                      size: int | None = None, memory_limit: int | Literal["auto"] | None = "auto",
                      progress: bool = False) -> KleinCoordinates:
    """Place each filter (row of ``x``) at its nearest point of the Klein bottle.

    Both the filter and the model filters are mean-centred and normalised (``"dnorm"``: D-norm,
    compared in DCT coordinates, so the distance is the contrast-weighted one of Carlsson et al.;
    ``"unit"``: Euclidean norm). For a fixed ``theta1`` the best ``theta2`` and its cosine are
    closed forms (the linear and quadratic parts of the model filters are orthogonal), so only
    ``theta1`` is searched: a grid of ``resolution`` angles over ``[0, pi)``, then ten rounds of a
    local 7-point grid whose spacing shrinks threefold each round (final spacing
    ``pi / resolution / 3^10``, about 6e-7 rad by default). Vectorised and chunked: 50,000
    filters take about a second.

    Parameters
    ----------
    x : array-like
        ``(n, size * size)`` or ``(n, size, size)`` filters (the points), e.g. ``FilterSet.points``;
        numpy, torch (any real dtype, float16 included) or nested lists.
    normalize : {"dnorm", "unit"}
    resolution : int
        Coarse grid steps over ``theta1 in [0, pi)`` (>= 8).
    size : int, optional
        The filter side (checked against ``x``; inferred when omitted).
    memory_limit : int, "auto" or None
        Budget in bytes for the float64 copies of the filters (``"auto"``: 80% of the available
        memory; None: no check).
    progress : bool
        A tqdm bar over the chunks of filters.

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
    n1 = check_int(resolution, "resolution", minimum=8)
    shape = np.shape(x) if isinstance(x, np.ndarray) or hasattr(x, "shape") else None
    if shape is not None and len(shape) >= 2:
        n_rows, n_feat = int(shape[0]), int(np.prod(shape[1:]))
        check_memory(8 * n_rows * (5 * n_feat + 12), memory_limit,
                     what=f"the Klein coordinates of {n_rows:,} filters",
                     hint="pass the filters in chunks of rows")
    rows, s, _ = _patch_rows(x, "filters", size)
    if len(rows) == 0:
        raise ShapeError("no filters given (0 rows); pass an (n, size * size) array with n >= 1.")
    v = _embed(rows, s, normalize)
    ok = np.linalg.norm(v, axis=1) > 0.5
    if not ok.all():
        logger.warning("%d of %d filters are constant (zero contrast): no Klein coordinates (NaN)",
                       int((~ok).sum()), len(rows))
    t1 = np.full(len(rows), np.nan)
    t2, res, cos = t1.copy(), t1.copy(), t1.copy()
    if ok.any():
        vo = v[ok]
        a1, a2 = _nearest_angles(vo, s, normalize, n1, progress=progress)
        model = _embed(klein_filter(a1, a2, s, memory_limit=None), s, normalize)
        c = np.clip(np.einsum("nd,nd->n", model, vo), -1.0, 1.0)
        t1[ok], t2[ok] = klein_canonical(a1, a2)
        cos[ok] = c
        res[ok] = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * c))
    return KleinCoordinates(theta1=t1, theta2=t2, residual=res, cosine=cos)
