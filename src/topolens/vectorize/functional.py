"""Vectorizations of persistence diagrams as pure numpy functions.

Every function takes a *single* diagram: an array-like of shape ``(m, 2)`` of
``(birth, death)`` pairs, or a :class:`~topolens.PersistenceDiagrams` together with the
homology dimension ``dim`` to use (see :func:`diagram_points`).

Infinite deaths
---------------
A :class:`~topolens.PersistenceDiagrams` reports two kinds of classes with
``death = inf``: *essential* classes, which never die, and *censored* classes, which were
still alive at the filtration threshold (true death unknown, at least the threshold).
The policy is the same for both kinds, and for an ``inf`` death in a raw array:

* :func:`betti_curve` counts every class, an infinite death meaning "alive from its birth
  on". For a censored class this is exact below the threshold; above it, the curve is the
  Betti curve of the truncated filtration that was actually computed.
* every other vectorization (landscape, image, entropy, polynomial, summary statistics)
  uses the **finite points only**: points with an infinite death are dropped. To keep them,
  cap their deaths first, e.g. ``diagram_points(d, dim, inf_death=d.metadata["threshold"])``
  or ``np.minimum(dgm, cap)``, and pass the capped array.

Grids follow :mod:`gudhi.representations` exactly, so the results agree with gudhi up to
floating-point rounding (landscapes up to the documented factor ``sqrt(2)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from .._validation import _to_numpy, check_choice, check_diagram_array, check_int
from ..diagrams import PersistenceDiagrams
from ..exceptions import InvalidInputError, ShapeError

__all__ = [
    "betti_curve",
    "complex_polynomial",
    "diagram_points",
    "persistence_image",
    "persistence_landscape",
    "persistent_entropy",
    "summary_feature_names",
    "summary_statistics",
    "summary_vector",
]

DiagramLike = Any
"""An ``(m, 2)`` array-like of (birth, death) pairs, or a PersistenceDiagrams (with ``dim``)."""

Weight = Literal["constant", "linear"] | Callable[[np.ndarray], float]


# --------------------------------------------------------------------------- helpers
def _as_numpy(x: Any) -> np.ndarray:
    """numpy view of an array, tensor or nested sequence; imports torch only for tensors."""
    if isinstance(x, np.ndarray):
        return x
    if type(x).__module__.startswith("torch"):
        return _to_numpy(x)
    return np.asarray(x)


def diagram_points(
    dgm: DiagramLike,
    dim: int | None = None,
    *,
    finite: bool = False,
    inf_death: float | None = None,
) -> np.ndarray:
    """Validated ``(m, 2)`` float64 array of (birth, death) pairs of one diagram.

    Parameters
    ----------
    dgm : array-like of shape (m, 2) or PersistenceDiagrams
        One diagram, or diagrams of several dimensions together with ``dim``.
    dim : int, optional
        Homology dimension to take from a :class:`~topolens.PersistenceDiagrams` (required
        then). Ignored for a plain array.
    finite : bool, default False
        Drop the points with an infinite death (essential and censored classes). Applied
        after ``inf_death``, so with a cap nothing is dropped.
    inf_death : float, optional
        Replace infinite deaths by this value (e.g. the filtration threshold, stored in
        ``diagrams.metadata["threshold"]`` for thresholded filtrations). It must be at least
        the birth of every such point.

    Returns
    -------
    numpy.ndarray of shape (m, 2), float64

    Raises
    ------
    InvalidInputError
        If ``dim`` is missing or unavailable for a PersistenceDiagrams, the points hold NaN,
        an infinite birth or a death smaller than its birth, or ``inf_death`` is below a birth.
    ShapeError
        If the array does not have shape ``(m, 2)``.

    Examples
    --------
    >>> diagram_points([[0.0, 1.0], [0.5, np.inf]], finite=True).tolist()
    [[0.0, 1.0]]
    >>> diagram_points([[0.0, 1.0], [0.5, np.inf]], inf_death=3.0).tolist()
    [[0.0, 1.0], [0.5, 3.0]]
    """
    if isinstance(dgm, PersistenceDiagrams):
        if dim is None:
            raise InvalidInputError(
                f"a PersistenceDiagrams holds dimensions 0..{dgm.max_dim}; pass dim= to choose "
                "which one to vectorize, e.g. dim=1."
            )
        arr = dgm[dim]
    else:
        arr = check_diagram_array(dgm)
    if inf_death is not None:
        cap = float(inf_death)
        if not np.isfinite(cap):
            raise InvalidInputError(f"inf_death must be a finite number, found {inf_death!r}.")
        inf = np.isinf(arr[:, 1])
        if inf.any():
            if (arr[inf, 0] > cap).any():
                raise InvalidInputError(
                    f"inf_death={cap} is smaller than the birth {float(arr[inf, 0].max())} of a "
                    "class that never dies; use a cap at least as large as every birth, e.g. "
                    "the filtration threshold."
                )
            arr = arr.copy()
            arr[inf, 1] = cap
    if finite:
        arr = arr[np.isfinite(arr[:, 1])]
    return arr


def _finite(dgm: DiagramLike, dim: int | None) -> np.ndarray:
    return diagram_points(dgm, dim, finite=True)


def _check_positive(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a positive number, found {value!r}.") from None
    if not np.isfinite(v) or v <= 0:
        raise InvalidInputError(f"{name} must be a positive finite number, found {value!r}.")
    return v


def _range_entries(value: Any, n: int, name: str) -> np.ndarray:
    """Parse a range of ``n`` entries, None/NaN meaning 'learn from data'; returns float array."""
    if value is None:
        return np.full(n, np.nan)
    try:
        vals = [np.nan if v is None else float(v) for v in value]
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name} must be None or a sequence of {n} numbers (None/NaN entries are learned "
            f"from the data), found {value!r}."
        ) from None
    if len(vals) != n:
        raise InvalidInputError(f"{name} must have {n} entries, found {len(vals)}: {value!r}.")
    arr = np.array(vals, dtype=np.float64)
    if np.isinf(arr).any():
        raise InvalidInputError(f"{name} must be finite, found {value!r}.")
    return arr


def _resolve_range(given: np.ndarray, learned: np.ndarray, name: str) -> np.ndarray:
    """Fill the NaN entries of ``given`` with ``learned`` (pairs (lo, hi), checked lo <= hi)."""
    out = np.where(np.isnan(given), learned, given)
    for i in range(0, len(out), 2):
        if out[i] > out[i + 1]:
            raise InvalidInputError(
                f"{name} resolves to [{out[i]}, {out[i + 1]}], whose minimum exceeds its "
                "maximum. Give both ends explicitly, or leave both to be learned from the data."
            )
    return out


def _sample_grid(given: np.ndarray, resolved: np.ndarray, resolution: int) -> np.ndarray:
    """Evenly spaced grid with gudhi's convention (``keep_endpoints=False``).

    ``resolution`` points ``linspace(lo, hi, resolution)`` when both ends were given; every
    end learned from the data adds one point to the linspace and is then dropped, since
    the learned extremities (smallest birth, largest death) carry only zeros.
    """
    nan_mask = np.isnan(given)
    n = resolution + int(nan_mask.sum())
    lo, hi = float(resolved[0]), float(resolved[1])
    grid = np.linspace(lo, hi, n) if lo != hi else np.full(n, lo)
    if nan_mask[0]:
        grid = grid[1:]
    if nan_mask[1]:
        grid = grid[:-1]
    return grid


def _data_sample_range(dgms: Sequence[np.ndarray]) -> np.ndarray:
    """[smallest birth, largest death] over finite diagrams (gudhi's automatic range)."""
    nonempty = [d for d in dgms if len(d)]
    if not nonempty:
        return np.array([np.nan, np.nan])
    return np.array([min(float(d[:, 0].min()) for d in nonempty),
                     max(float(d[:, 1].max()) for d in nonempty)])


def _landscape_grid(sample_range: Any, dgms: Sequence[np.ndarray], resolution: int) -> np.ndarray:
    given = _range_entries(sample_range, 2, "sample_range")
    learned = _data_sample_range(dgms)
    if np.isnan(learned).any():  # no data: fall back on the given ends, else 0
        fill = given[~np.isnan(given)]
        learned = np.full(2, float(fill[0]) if fill.size else 0.0)
    resolved = _resolve_range(given, learned, "sample_range")
    return _sample_grid(given, resolved, resolution)


def _image_range(im_range: Any, dgms_bp: Sequence[np.ndarray]) -> np.ndarray:
    """[x_min, x_max, y_min, y_max] in birth-persistence coordinates, NaN entries learned."""
    given = _range_entries(im_range, 4, "im_range")
    nonempty = [d for d in dgms_bp if len(d)]
    if nonempty:
        allp = np.concatenate(nonempty)
        learned = np.array([allp[:, 0].min(), allp[:, 0].max(), allp[:, 1].min(), allp[:, 1].max()])
    else:
        learned = np.zeros(4)
    return _resolve_range(given, learned, "im_range")


# --------------------------------------------------------------------------- Betti curve
def betti_curve(dgm: DiagramLike, grid: Any, *, dim: int | None = None) -> np.ndarray:
    """Betti curve: number of classes alive at each grid value.

    A class ``(b, d)`` is alive at ``t`` when ``b <= t < d``. Classes with an infinite death
    (essential or censored, see the module docstring) are alive at every ``t >= b``; points on
    the diagonal (``b == d``) are never alive. Computed with two ``searchsorted`` calls on the
    sorted births and deaths, in ``O((m + n) log m)``.

    Parameters
    ----------
    dgm : array-like of shape (m, 2) or PersistenceDiagrams
        The diagram (with ``dim`` for a PersistenceDiagrams).
    grid : array-like of shape (n,)
        Filtration values at which to count (any order; ``±inf`` allowed).
    dim : int, optional
        Homology dimension, required when ``dgm`` is a PersistenceDiagrams.

    Returns
    -------
    numpy.ndarray of shape (n,), int64

    Examples
    --------
    >>> betti_curve([[0.0, 1.0], [0.5, 2.0]], [0.0, 0.5, 1.0, 1.5, 2.0]).tolist()
    [1, 2, 1, 1, 0]
    """
    pts = diagram_points(dgm, dim)
    t = np.asarray(_as_numpy(grid), dtype=np.float64)
    if t.ndim != 1:
        raise ShapeError(f"grid must be 1-D, found shape {t.shape}. Pass e.g. np.linspace(0, 1, 100).")
    if np.isnan(t).any():
        raise InvalidInputError("grid contains NaN; grid values must be numbers (±inf allowed).")
    births = np.sort(pts[:, 0])
    deaths = np.sort(pts[:, 1])
    return (np.searchsorted(births, t, side="right")
            - np.searchsorted(deaths, t, side="right")).astype(np.int64)


# --------------------------------------------------------------------------- landscape
def _landscape_on_grid(pts: np.ndarray, grid: np.ndarray, num_landscapes: int) -> np.ndarray:
    out = np.zeros((num_landscapes, grid.size), dtype=np.float64)
    if len(pts) == 0 or grid.size == 0:
        return out
    mid = (pts[:, 0] + pts[:, 1]) / 2.0
    half = (pts[:, 1] - pts[:, 0]) / 2.0
    tents = np.maximum(half[None, :] - np.abs(grid[:, None] - mid[None, :]), 0.0)  # (n, m)
    m = tents.shape[1]
    k = min(num_landscapes, m)
    if k < m:
        tents = np.partition(tents, m - k, axis=1)[:, m - k:]
    out[:k] = -np.sort(-tents, axis=1).T[:k]
    return out


def persistence_landscape(
    dgm: DiagramLike,
    num_landscapes: int = 5,
    resolution: int = 100,
    sample_range: Sequence[float | None] | None = None,
    *,
    dim: int | None = None,
) -> np.ndarray:
    """Persistence landscape (Bubenik 2015) sampled on an evenly spaced grid.

    ``lambda_k(t)`` is the ``k``-th largest value of the tents
    ``max(0, min(t - b, d - t))`` over the finite points ``(b, d)`` of the diagram (points
    with an infinite death are dropped, see the module docstring).

    The grid is gudhi's: with ``sample_range=(lo, hi)`` it is
    ``np.linspace(lo, hi, resolution)``; an end that is ``None`` is learned from the diagram
    (smallest birth, largest death), the linspace gets one more point per learned end and
    that end point, where every landscape is zero, is dropped. The values equal
    ``gudhi.representations.Landscape(...)`` on the same ``sample_range`` divided by
    ``sqrt(2)``: gudhi measures the tents in coordinates rotated by 45 degrees, here they
    have Bubenik's (and persim's) height ``(d - b) / 2`` at the peak.

    Parameters
    ----------
    dgm : array-like of shape (m, 2) or PersistenceDiagrams
        The diagram (with ``dim`` for a PersistenceDiagrams).
    num_landscapes : int, default 5
        Number of landscape functions ``lambda_1 .. lambda_K`` (zero beyond the number of
        points).
    resolution : int, default 100
        Number of grid values.
    sample_range : (float or None, float or None), optional
        Ends of the grid; ``None`` (default) learns both from the diagram.
    dim : int, optional
        Homology dimension, required when ``dgm`` is a PersistenceDiagrams.

    Returns
    -------
    numpy.ndarray of shape (num_landscapes, resolution), float64
        Non-negative, and non-increasing along the first axis. All zeros for a diagram
        without finite points.

    Examples
    --------
    >>> persistence_landscape([[0.0, 2.0]], num_landscapes=2, resolution=3,
    ...                       sample_range=(0.0, 2.0)).tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    """
    num_landscapes = check_int(num_landscapes, "num_landscapes", minimum=1)
    resolution = check_int(resolution, "resolution", minimum=1)
    pts = _finite(dgm, dim)
    grid = _landscape_grid(sample_range, [pts], resolution)
    return _landscape_on_grid(pts, grid, num_landscapes)


# --------------------------------------------------------------------------- image
def _weights(bp: np.ndarray, weight: Weight) -> np.ndarray:
    if isinstance(weight, str):
        check_choice(weight, "weight", ("constant", "linear"))
        return np.ones(len(bp)) if weight == "constant" else bp[:, 1].copy()
    if not callable(weight):
        raise InvalidInputError(
            f"weight must be 'constant', 'linear' or a callable taking a (birth, persistence) "
            f"point, found {weight!r}."
        )
    w = np.array([float(weight(p)) for p in bp], dtype=np.float64)
    if not np.isfinite(w).all():
        raise InvalidInputError("the weight function returned a non-finite value; weights must be finite.")
    return w


def _check_resolution2(resolution: Any) -> tuple[int, int]:
    try:
        nx, ny = resolution
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"resolution must be a pair (n_birth, n_persistence) of positive integers, found "
            f"{resolution!r}."
        ) from None
    return (check_int(nx, "resolution[0]", minimum=1), check_int(ny, "resolution[1]", minimum=1))  # type: ignore[return-value]


def _image_from_bp(bp: np.ndarray, weight: Weight, bandwidth: float,
                   resolution: tuple[int, int], rng: np.ndarray) -> np.ndarray:
    nx, ny = resolution
    if len(bp) == 0:
        return np.zeros((ny, nx), dtype=np.float64)
    xs = np.linspace(rng[0], rng[1], nx)
    ys = np.linspace(rng[2], rng[3], ny)
    w = _weights(bp, weight)
    two_s2 = 2.0 * bandwidth * bandwidth
    gx = np.exp(-np.square(bp[:, 0][:, None] - xs[None, :]) / two_s2)  # (m, nx)
    gy = np.exp(-np.square(bp[:, 1][:, None] - ys[None, :]) / two_s2)  # (m, ny)
    return (gy * w[:, None]).T @ gx / (np.pi * two_s2)


def persistence_image(
    dgm: DiagramLike,
    bandwidth: float = 1.0,
    weight: Weight = "constant",
    resolution: tuple[int, int] = (20, 20),
    im_range: Sequence[float | None] | None = None,
    *,
    dim: int | None = None,
) -> np.ndarray:
    """Persistence image (Adams et al. 2017), as computed by gudhi.

    The finite points are mapped to (birth, persistence) coordinates ``(b, d - b)``; each
    contributes a weighted isotropic Gaussian of standard deviation ``bandwidth``, and the sum
    is evaluated at the pixel grid ``linspace(x_min, x_max, n_birth)`` x
    ``linspace(y_min, y_max, n_persistence)`` (evaluated at the grid nodes, not integrated over
    pixels, as in ``gudhi.representations.PersistenceImage``; ``image.ravel()`` equals gudhi's
    vector). Points with an infinite death are dropped.

    Parameters
    ----------
    dgm : array-like of shape (m, 2) or PersistenceDiagrams
        The diagram (with ``dim`` for a PersistenceDiagrams).
    bandwidth : float, default 1.0
        Standard deviation of the Gaussian kernel.
    weight : {"constant", "linear"} or callable, default "constant"
        Weight of each point: 1, its persistence ``d - b``, or ``weight(p)`` for a callable
        that takes one point ``p = [birth, persistence]`` (gudhi's convention) and returns a
        number.
    resolution : (int, int), default (20, 20)
        Number of pixels ``(n_birth, n_persistence)``.
    im_range : (x_min, x_max, y_min, y_max), optional
        Image extent in (birth, persistence) coordinates; ``None`` entries (default: all) are
        learned from the diagram (smallest/largest birth and persistence, no padding).
    dim : int, optional
        Homology dimension, required when ``dgm`` is a PersistenceDiagrams.

    Returns
    -------
    numpy.ndarray of shape (n_persistence, n_birth), float64
        ``image[i, j]`` is the value at persistence ``y_i`` and birth ``x_j``. All zeros for a
        diagram without finite points.
    """
    bandwidth = _check_positive(bandwidth, "bandwidth")
    res = _check_resolution2(resolution)
    pts = _finite(dgm, dim)
    bp = np.column_stack([pts[:, 0], pts[:, 1] - pts[:, 0]])
    rng = _image_range(im_range, [bp])
    return _image_from_bp(bp, weight, bandwidth, res, rng)


# --------------------------------------------------------------------------- entropy
def _entropy_of_lifetimes(life: np.ndarray, normalize: bool) -> float:
    life = life[life > 0]
    n = life.size
    if n == 0:
        return 0.0
    p = life / life.sum()
    p = p[p > 0]  # a subnormal lifetime can underflow to p = 0, and 0 log 0 = 0
    ent = float(-np.sum(p * np.log(p)))
    if normalize:
        return ent / float(np.log(n)) if n > 1 else 0.0
    return max(ent, 0.0)


def persistent_entropy(dgm: DiagramLike, normalize: bool = False, *, dim: int | None = None) -> float:
    """Persistent entropy: Shannon entropy of the lifetimes normalised to sum to one.

    ``E = -sum_i p_i log p_i`` with ``p_i = l_i / sum_j l_j`` over the finite points with a
    positive lifetime ``l_i = d_i - b_i`` (diagonal points and infinite deaths are left out).
    Equals ``gudhi.representations.Entropy(mode="scalar")`` on diagrams without diagonal
    points.

    Parameters
    ----------
    dgm : array-like of shape (m, 2) or PersistenceDiagrams
        The diagram (with ``dim`` for a PersistenceDiagrams).
    normalize : bool, default False
        Divide by ``log(n)``, the entropy of ``n`` equal lifetimes, so the result is in
        ``[0, 1]`` (0 when ``n <= 1``).
    dim : int, optional
        Homology dimension, required when ``dgm`` is a PersistenceDiagrams.

    Returns
    -------
    float
        0.0 for a diagram with no positive finite lifetime (never NaN).

    Examples
    --------
    >>> round(persistent_entropy([[0.0, 1.0], [0.0, 1.0]]), 6) == round(float(np.log(2)), 6)
    True
    """
    pts = _finite(dgm, dim)
    return _entropy_of_lifetimes(pts[:, 1] - pts[:, 0], bool(normalize))


# --------------------------------------------------------------------------- polynomial
def _poly_roots(pts: np.ndarray, kind: str) -> np.ndarray:
    b, d = pts[:, 0], pts[:, 1]
    if kind == "R":
        return b + 1j * d
    alpha = np.hypot(b, d)
    if kind == "S":
        alpha = np.where(alpha == 0, 1.0, alpha)
        return (b / alpha + 1j * (d / alpha)) * ((d - b) / np.sqrt(2))  # unit vector x scale
    return (d - b) / 2 * (np.cos(alpha) - np.sin(alpha) + 1j * (np.cos(alpha) + np.sin(alpha)))


def complex_polynomial(
    dgm: DiagramLike,
    n_coeffs: int = 5,
    kind: Literal["R", "S", "T"] = "R",
    *,
    dim: int | None = None,
) -> np.ndarray:
    """Coefficients of the complex polynomial whose roots are the diagram points (Ferri & Landi).

    Each finite point ``(b, d)`` is mapped to a complex root ``r`` by one of the
    transformations of Di Fabio & Ferri (2015), as in
    ``gudhi.representations.ComplexPolynomial``:

    * ``"R"``: ``r = b + i d``;
    * ``"S"``: ``r = (b + i d) (d - b) / (sqrt(2) |(b, d)|)`` (``|.|`` replaced by 1 at 0);
    * ``"T"``: ``r = (d - b) / 2 (cos a - sin a + i (cos a + sin a))`` with ``a = |(b, d)|``.

    The monic polynomial ``prod_i (z - r_i) = z^m + c_1 z^(m-1) + ... + c_m`` is returned
    through its first coefficients ``c_1 .. c_n`` (``c_k = (-1)^k e_k(r)``, elementary
    symmetric polynomials), zero-padded when ``m < n_coeffs``. Only the needed coefficients
    are computed, in ``O(m n_coeffs)``, so large diagrams do not overflow the higher ones.
    Points with an infinite death are dropped.

    Parameters
    ----------
    dgm : array-like of shape (m, 2) or PersistenceDiagrams
        The diagram (with ``dim`` for a PersistenceDiagrams).
    n_coeffs : int, default 5
        Number of coefficients (gudhi's ``threshold``).
    kind : {"R", "S", "T"}, default "R"
        Transformation of the points into roots (gudhi's ``polynomial_type``).
    dim : int, optional
        Homology dimension, required when ``dgm`` is a PersistenceDiagrams.

    Returns
    -------
    numpy.ndarray of shape (n_coeffs,), complex128

    Examples
    --------
    >>> complex_polynomial([[0.0, 1.0], [1.0, 2.0]], n_coeffs=3).tolist()
    [(-1-3j), (-2+1j), 0j]
    """
    n_coeffs = check_int(n_coeffs, "n_coeffs", minimum=1)
    check_choice(kind, "kind", ("R", "S", "T"))
    pts = _finite(dgm, dim)
    roots = _poly_roots(pts, kind)
    out = np.zeros(n_coeffs, dtype=np.complex128)
    # prefix[n] = e_k(r_1..r_n); e_k^{(n)} = e_k^{(n-1)} + r_n e_{k-1}^{(n-1)}  => a cumsum.
    prefix = np.ones(roots.size + 1, dtype=np.complex128)  # e_0 at every prefix
    for k in range(1, min(n_coeffs, roots.size) + 1):
        nxt = np.zeros_like(prefix)
        nxt[1:] = np.cumsum(roots * prefix[:-1])
        prefix = nxt
        out[k - 1] = (-1) ** k * prefix[-1]
    return out


# --------------------------------------------------------------------------- summaries
def _as_diagrams(diagrams: Any) -> PersistenceDiagrams:
    if isinstance(diagrams, PersistenceDiagrams):
        return diagrams
    if isinstance(diagrams, (list, tuple)) or (isinstance(diagrams, np.ndarray) and diagrams.ndim == 3):
        return PersistenceDiagrams(tuple(diagrams))
    raise InvalidInputError(
        f"expected a PersistenceDiagrams (or a list with one (m, 2) array per dimension), found "
        f"{type(diagrams).__name__}. For a single diagram array wrap it: [dgm0]."
    )


def _check_dims(dims: Any) -> tuple[int, ...]:
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        dims = (dims,)
    try:
        out = tuple(check_int(k, "dims entry", minimum=0) for k in dims)  # type: ignore[misc]
    except TypeError:
        raise InvalidInputError(f"dims must be an int or a sequence of ints, found {dims!r}.") from None
    if not out:
        raise InvalidInputError("dims is empty; give at least one homology dimension, e.g. dims=(0, 1).")
    if len(set(out)) != len(out):
        raise InvalidInputError(f"dims has repeated entries: {dims!r}.")
    return out  # type: ignore[return-value]


def summary_feature_names(
    dims: int | Sequence[int] = (0, 1), top_k: int = 10, n_poly: int = 3,
    poly_kind: Literal["R", "S", "T"] = "R",
) -> list[str]:
    """Names of the features of :func:`summary_statistics`, in their (stable) order.

    Parameters
    ----------
    dims, top_k, n_poly, poly_kind
        As in :func:`summary_statistics`.

    Returns
    -------
    list of str
    """
    dims_t = _check_dims(dims)
    top_k = check_int(top_k, "top_k", minimum=0)
    n_poly = check_int(n_poly, "n_poly", minimum=0)
    check_choice(poly_kind, "poly_kind", ("R", "S", "T"))
    names: list[str] = []
    for k in dims_t:
        h = f"H{k}_"
        names += [f"{h}lifetime_top{i + 1}" for i in range(top_k)]
        names += [f"{h}{s}" for s in ("lifetime_mean", "midlife_mean", "birth_mean", "birth_std",
                                      "death_mean", "death_std", "entropy", "n_finite")]
        for j in range(n_poly):
            names += [f"{h}poly{poly_kind}{j + 1}_re", f"{h}poly{poly_kind}{j + 1}_im"]
    return names


def _summary_values(pts: np.ndarray, top_k: int, n_poly: int, poly_kind: str) -> list[float]:
    life = pts[:, 1] - pts[:, 0]
    top = np.zeros(top_k)
    if top_k and life.size:
        srt = -np.sort(-life)[:top_k]
        top[: srt.size] = srt

    def mean(x: np.ndarray) -> float:
        return float(x.mean()) if x.size else 0.0

    def std(x: np.ndarray) -> float:
        return float(x.std()) if x.size else 0.0

    vals = [*top.tolist(), mean(life), mean((pts[:, 0] + pts[:, 1]) / 2), mean(pts[:, 0]),
            std(pts[:, 0]), mean(pts[:, 1]), std(pts[:, 1]), _entropy_of_lifetimes(life, False),
            float(len(pts))]
    if n_poly:
        c = complex_polynomial(pts, n_coeffs=n_poly, kind=poly_kind)  # type: ignore[arg-type]
        for z in c:
            vals += [float(z.real), float(z.imag)]
    return vals


def summary_vector(
    diagrams: PersistenceDiagrams | Sequence[Any],
    dims: int | Sequence[int] = (0, 1),
    top_k: int = 10,
    *,
    n_poly: int = 3,
    poly_kind: Literal["R", "S", "T"] = "R",
) -> tuple[list[str], np.ndarray]:
    """Summary statistics of :func:`summary_statistics` as ``(names, values)`` for ML use.

    Parameters
    ----------
    diagrams, dims, top_k, n_poly, poly_kind
        As in :func:`summary_statistics`.

    Returns
    -------
    names : list of str
        Feature names (see :func:`summary_feature_names`).
    values : numpy.ndarray of shape (len(names),), float64
        Finite values (zeros for empty diagrams).
    """
    dgms = _as_diagrams(diagrams)
    names = summary_feature_names(dims, top_k, n_poly, poly_kind)
    values: list[float] = []
    for k in _check_dims(dims):
        values += _summary_values(dgms.finite(k), int(top_k), int(n_poly), poly_kind)
    return names, np.asarray(values, dtype=np.float64)


def summary_statistics(
    diagrams: PersistenceDiagrams | Sequence[Any],
    dims: int | Sequence[int] = (0, 1),
    top_k: int = 10,
    *,
    n_poly: int = 3,
    poly_kind: Literal["R", "S", "T"] = "R",
) -> dict[str, float]:
    """Numerical summaries of persistence diagrams (Ballester et al. 2024).

    For each homology dimension ``k`` in ``dims``, over the **finite** classes (essential and
    censored ones are left out), in this order:

    * ``Hk_lifetime_top1 .. Hk_lifetime_top{top_k}``: the largest lifetimes ``d - b``, in
      decreasing order, padded with 0;
    * ``Hk_lifetime_mean``, ``Hk_midlife_mean`` (mean of ``(b + d) / 2``);
    * ``Hk_birth_mean``, ``Hk_birth_std``, ``Hk_death_mean``, ``Hk_death_std`` (population
      standard deviation, ``ddof=0``);
    * ``Hk_entropy``: :func:`persistent_entropy` (not normalised);
    * ``Hk_n_finite``: number of finite classes (diagonal points included);
    * ``Hk_poly{kind}{j}_re`` and ``Hk_poly{kind}{j}_im`` for ``j = 1 .. n_poly``: real and
      imaginary parts of the :func:`complex_polynomial` coefficients.

    Empty diagrams give zeros everywhere (never NaN).

    Parameters
    ----------
    diagrams : PersistenceDiagrams or sequence of (m_k, 2) arrays
        Diagrams of one filtration (a list is read as one array per dimension, ripser-style).
    dims : int or sequence of int, default (0, 1)
        Homology dimensions to summarise; each must be present in ``diagrams``.
    top_k : int, default 10
        Number of largest lifetimes kept per dimension.
    n_poly : int, default 3
        Number of complex-polynomial coefficients per dimension (0 for none).
    poly_kind : {"R", "S", "T"}, default "R"
        Root transformation of :func:`complex_polynomial`.

    Returns
    -------
    dict of str to float
        Insertion-ordered as listed above (dimension by dimension).

    Examples
    --------
    >>> from topolens import PersistenceDiagrams
    >>> s = summary_statistics(PersistenceDiagrams([[[0, 1], [0, 3], [0, np.inf]]]), dims=0, top_k=3)
    >>> [s["H0_lifetime_top1"], s["H0_lifetime_top3"], s["H0_n_finite"], s["H0_death_mean"]]
    [3.0, 0.0, 2.0, 2.0]
    """
    names, values = summary_vector(diagrams, dims, top_k, n_poly=n_poly, poly_kind=poly_kind)
    return dict(zip(names, values.tolist(), strict=True))
