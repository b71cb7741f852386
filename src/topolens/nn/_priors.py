"""Functional core of the topological prior layers (Love, Filippenko, Maroulas & Carlsson, JMLR 2023).

Kernel banks
    :func:`circle_kernels` and :func:`klein_kernels` give ``(out, in, k, k)`` convolution weights
    whose output channel ``q`` is the filter of one point of the primary circle or of the Klein
    bottle (the closed-form pixel integrals of :mod:`topolens.filters._klein`), the same for every
    input channel and divided by ``in``: the layer applies the filter to the *mean* of the input
    channels, so a grey image copied into three RGB channels gives the single-channel response.
Connectivity masks
    :func:`circle_mask` and :func:`klein_mask` give the bool ``(out, in)`` masks of the
    second-layer connectivity: the weight from input channel ``p`` to output channel ``q`` is kept
    only when their filters are within ``tau`` on the manifold.

Distances and default thresholds
    *Circle*: the angular distance ``min(|a - b| mod 2 pi, 2 pi - (|a - b| mod 2 pi))`` in ``[0, pi]``
    (``a`` and ``a + pi`` are opposite edges, at the largest distance).
    *Klein bottle*: the Euclidean distance of the two ``filter_size x filter_size`` Klein filters,
    each mean-centred and scaled to unit Euclidean norm (``normalize="unit"``), in ``[0, 2]``; it
    satisfies ``d^2 = 2 - 2 cos`` with ``cos`` the filters' cosine similarity, and it is a function
    of the points of the bottle (both representatives of ``(theta1, theta2) ~ (theta1 + pi,
    2 pi - theta2)`` give the same filter). The unit circle filters of a square grid are exactly
    evenly spaced chords, ``d = 2 sin(delta / 2)`` for an angle difference ``delta``, so on the
    primary circle the two distances agree.

    The defaults keep the connections whose filters have cosine similarity at least 1/2:
    :data:`CIRCLE_TAU` ``= pi / 3`` (a third of the circle around each output) and
    :data:`KLEIN_TAU` ``= 1`` (about 16% of the bottle's area around each output, for 3x3
    filters). Love et al. leave the threshold a hyperparameter; these are our choice.

A mask that cuts an output channel off from every input (it would only ever output its bias) is
refused, with the ``tau`` that would connect every output channel.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

import numpy as np
import torch

from .._validation import _check_real_dtype, _to_numpy, check_choice, check_int
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError, TopolensWarning
from ..filters._basis import normalize_filters
from ..filters._klein import circle_angles, grid_angles, klein_canonical, klein_filter
from ..homology.memory import check_memory

__all__ = ["CIRCLE_TAU", "KLEIN_TAU", "circle_kernels", "circle_mask", "klein_grid", "klein_kernels",
           "klein_mask"]

#: default circle threshold: filters with cosine similarity >= 1/2 (angle difference <= pi / 3)
CIRCLE_TAU = math.pi / 3
#: default Klein threshold: unit filters with cosine similarity >= 1/2 (distance <= 1)
KLEIN_TAU = 1.0
#: the ``normalize=`` choices of the kernel banks (None: the raw pixel integrals)
NORMALIZE = ("dnorm", "unit")
_TWO_PI = 2.0 * math.pi
_TOL = 1e-9  # distances within this of tau count as within tau (rounding of the angles)
_MASK_HINT = "Use fewer channels, or build the mask in pieces of output channels"

Normalize = Literal["dnorm", "unit"] | None


# --------------------------------------------------------------------------- argument checks
def check_kernel_size(kernel_size: Any, name: str = "kernel_size") -> int:
    """The side ``k`` of a square kernel: an int >= 2 or a pair ``(k, k)``."""
    if isinstance(kernel_size, (tuple, list)):
        if len(kernel_size) != 2 or kernel_size[0] != kernel_size[1]:
            raise ShapeError(f"{name} must be an int or a square pair (k, k); found {tuple(kernel_size)!r}. "
                             "The circle and Klein filters are square.")
        kernel_size = kernel_size[0]
    k = check_int(kernel_size, name)
    if k < 2:
        raise InvalidInputError(f"{name} must be >= 2, found {k}: a {k}x{k} kernel has no spatial "
                                "structure, so it cannot hold an edge or line filter. Use 3 (the "
                                "papers' size) or larger.")
    return k


def _check_normalize(normalize: Any) -> Normalize:
    if normalize is None:
        return None
    return check_choice(normalize, "normalize", NORMALIZE)  # type: ignore[return-value]


def _check_dtype(dtype: Any) -> torch.dtype:
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point or dtype.is_complex:
        raise InvalidInputError(f"dtype must be a real floating torch dtype (torch.float32, torch.float64 "
                                f"...); found {dtype!r}.")
    return dtype


def _check_tau(tau: Any, upper: float, what: str) -> float:
    if isinstance(tau, bool) or not isinstance(tau, (int, float, np.integer, np.floating)) or isinstance(
            tau, complex):
        raise InvalidInputError(f"tau must be a number (the largest {what} kept); found {tau!r} "
                                f"({type(tau).__name__}).")
    tau = float(tau)
    if not math.isfinite(tau) or tau <= 0:
        raise InvalidInputError(f"tau must be a finite number > 0 (the largest {what} kept; distances "
                                f"lie in [0, {upper:.4g}], tau >= {upper:.4g} keeps every connection); "
                                f"found {tau}.")
    return tau


def _angle_vector(theta: Any, name: str) -> np.ndarray:
    """1-D finite float64 angles (numpy, list or tensor)."""
    arr = _to_numpy(theta, name)
    _check_real_dtype(arr, name)
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or len(arr) == 0:
        raise ShapeError(f"{name} must be a non-empty 1-D array of angles (radians), one per channel; "
                         f"found shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise NonFiniteError(f"{name} contains NaN or infinite angles; angles must be finite radians.")
    return arr


def _klein_angles(angles: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(theta1, theta2)`` from a tuple of two 1-D arrays or from an ``(n, 2)`` array of rows."""
    if isinstance(angles, tuple) and len(angles) == 2:
        t1, t2 = _angle_vector(angles[0], f"{name}[0] (theta1)"), _angle_vector(angles[1], f"{name}[1] (theta2)")
        if len(t1) != len(t2):
            raise ShapeError(f"{name} = (theta1, theta2) must have equal lengths; found {len(t1)} and {len(t2)}.")
        return t1, t2
    arr = _to_numpy(angles, name)
    _check_real_dtype(arr, name)
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
        raise ShapeError(f"{name} must be a tuple (theta1, theta2) of 1-D arrays or an (n, 2) array of "
                         f"(theta1, theta2) rows; found shape {arr.shape}.")
    return _angle_vector(arr[:, 0], f"{name}[:, 0]"), _angle_vector(arr[:, 1], f"{name}[:, 1]")


# --------------------------------------------------------------------------- grids and kernels
def klein_grid(n_filters: int) -> tuple[int, int]:
    """The grid ``(n_theta1, n_theta2)`` of ``n_filters`` Klein filters with the most even spacing.

    Among the factorisations ``n_theta1 * n_theta2 == n_filters``, the one whose steps
    ``pi / n_theta1`` (over ``theta1 in [0, pi)``) and ``2 pi / n_theta2`` (over
    ``theta2 in [0, 2 pi)``) are closest in ratio (smallest ``|log(2 n_theta1 / n_theta2)|``);
    ties go to the larger ``n_theta1`` (more orientations). So 8 -> (2, 4), 16 -> (4, 4),
    32 -> (4, 8), 64 -> (8, 8). A prime ``n_filters`` has only ``(1, n)`` and ``(n, 1)``: it gives
    ``(1, n)``, the secondary circle ``theta1 = 0`` (one orientation, ``n`` profiles), with a
    :class:`TopolensWarning`; choose a composite number or pass the grid yourself.
    """
    n = check_int(n_filters, "n_filters", minimum=1)
    pairs = [(a, n // a) for a in range(1, n + 1) if n % a == 0]
    best = min(pairs, key=lambda p: (round(abs(math.log(2.0 * p[0] / p[1])), 12), -p[0]))
    if best[0] == 1 and n > 2:
        warnings.warn(f"{n} Klein filters have no even grid (n is prime): using (1, {n}), the secondary "
                      f"circle theta1 = 0, where every filter has the same orientation. Use a composite "
                      f"number of channels (e.g. {n + 1}) or pass grid=(n_theta1, n_theta2).",
                      TopolensWarning, stacklevel=3)
    return best


def _check_grid(grid: Any, out_channels: int) -> tuple[int, int]:
    if grid is None:
        return klein_grid(out_channels)
    if not isinstance(grid, (tuple, list)) or len(grid) != 2:
        raise InvalidInputError(f"grid must be a pair (n_theta1, n_theta2) or None; found {grid!r}.")
    n1, n2 = check_int(grid[0], "grid[0] (n_theta1)", minimum=1), check_int(grid[1], "grid[1] (n_theta2)", minimum=1)
    if n1 * n2 != out_channels:
        e1, e2 = klein_grid(out_channels)
        raise InvalidInputError(f"grid ({n1}, {n2}) has {n1 * n2} points but out_channels is {out_channels}; "
                                f"pass a grid with n_theta1 * n_theta2 == {out_channels}, e.g. ({e1}, {e2}), "
                                "or grid=None for the most even one.")
    return n1, n2


def _bank(theta1: np.ndarray, theta2: np.ndarray, in_channels: int, k: int, normalize: Normalize,
          dtype: Any, device: Any) -> torch.Tensor:
    """``(out, in, k, k)``: the filters of the angle pairs, each copied over the inputs / ``in``."""
    rows = klein_filter(theta1, theta2, k)
    if normalize is not None:
        rows, norms = normalize_filters(rows, normalize, size=k)
        if (norms == 0).any():
            i = int(np.flatnonzero(norms == 0)[0])
            raise InvalidInputError(
                f"the {k}x{k} filter at (theta1, theta2) = ({theta1[i]:.4g}, {theta2[i]:.4g}) is constant "
                f"({int((norms == 0).sum())} such output channels): its pixel integrals are all equal, so "
                f"it cannot be normalised and would respond only to brightness. Use kernel_size >= 3, "
                "other angles (grid=), or normalize=None."
            )
    w = torch.as_tensor(rows / in_channels, dtype=torch.float64)
    w = w.reshape(len(rows), 1, k, k).expand(len(rows), in_channels, k, k)
    return w.to(dtype=_check_dtype(dtype), device=device).contiguous()


def _with_angles(w: torch.Tensor, t1: np.ndarray, t2: np.ndarray, return_angles: bool) -> Any:
    if not return_angles:
        return w
    return w, (torch.as_tensor(t1, dtype=torch.float64), torch.as_tensor(t2, dtype=torch.float64))


def circle_kernels(out_channels: int, in_channels: int = 1, kernel_size: Any = 3, *,
                   normalize: Normalize = "unit", dtype: Any = None, device: Any = None,
                   return_angles: bool = False) -> Any:
    """Convolution weights of primary-circle filters: output channel ``q`` is the linear filter
    at ``theta1 = 2 pi q / out_channels`` (an edge across the direction ``theta1``; the Klein
    filter at ``theta2 = pi / 2``).

    Parameters
    ----------
    out_channels, in_channels : int
    kernel_size : int or (k, k)
        ``k >= 2``.
    normalize : {"unit", "dnorm"} or None
        ``"unit"`` (default): each filter mean-centred and of unit Euclidean norm; ``"dnorm"``:
        unit contrast norm; None: the raw pixel integrals of ``[-1, 1]^2``.
    dtype, device
        Of the returned tensor (default dtype: ``torch.get_default_dtype()``).
    return_angles : bool
        Also return ``(theta1, theta2)`` float64 tensors of the ``out_channels`` points.

    Returns
    -------
    torch.Tensor
        ``(out_channels, in_channels, k, k)``; ``weight[q, p] = filter_q / in_channels`` (the
        filter of the channel mean), row 0 of each kernel at the top of the image.
    """
    out_c = check_int(out_channels, "out_channels", minimum=1)
    in_c = check_int(in_channels, "in_channels", minimum=1)
    k = check_kernel_size(kernel_size)
    t1 = circle_angles(out_c)
    t2 = np.full(out_c, math.pi / 2)
    w = _bank(t1, t2, in_c, k, _check_normalize(normalize), dtype, device)
    return _with_angles(w, t1, t2, return_angles)


def klein_kernels(out_channels: int, in_channels: int = 1, kernel_size: Any = 3, *, grid: Any = None,
                  normalize: Normalize = "unit", dtype: Any = None, device: Any = None,
                  return_angles: bool = False) -> Any:
    """Convolution weights of Klein-bottle filters on an ``(n_theta1, n_theta2)`` grid of the
    fundamental domain ``[0, pi) x [0, 2 pi)``: output channel ``k * n_theta2 + l`` is the filter at
    ``(pi k / n_theta1, 2 pi l / n_theta2)`` (as :func:`topolens.filters.klein_filters`).

    ``grid=None`` takes :func:`klein_grid` ``(out_channels)``; an explicit grid must satisfy
    ``n_theta1 * n_theta2 == out_channels``. The other parameters and the layout are those of
    :func:`circle_kernels`.
    """
    out_c = check_int(out_channels, "out_channels", minimum=1)
    in_c = check_int(in_channels, "in_channels", minimum=1)
    k = check_kernel_size(kernel_size)
    normalize = _check_normalize(normalize)
    n1, n2 = _check_grid(grid, out_c)
    t1, t2 = grid_angles(n1, n2)
    w = _bank(t1, t2, in_c, k, normalize, dtype, device)
    return _with_angles(w, t1, t2, return_angles)


# --------------------------------------------------------------------------- masks
def _circle_distances(in_theta: np.ndarray, out_theta: np.ndarray) -> np.ndarray:
    d = np.mod(np.abs(out_theta[:, None] - in_theta[None, :]), _TWO_PI)
    return np.minimum(d, _TWO_PI - d)


def _klein_distances(in_t: tuple[np.ndarray, np.ndarray], out_t: tuple[np.ndarray, np.ndarray],
                     filter_size: int) -> np.ndarray:
    """``(out, in)`` distances of the unit-normalised Klein filters (canonical angles first)."""
    def unit(t1: np.ndarray, t2: np.ndarray, name: str) -> np.ndarray:
        rows, norms = normalize_filters(klein_filter(*klein_canonical(t1, t2), filter_size), "unit",
                                        size=filter_size)
        if (norms == 0).any():
            i = int(np.flatnonzero(norms == 0)[0])
            raise InvalidInputError(f"the {filter_size}x{filter_size} Klein filter of {name} at "
                                    f"({t1[i]:.4g}, {t2[i]:.4g}) is constant, so it has no direction to "
                                    "compare; use filter_size >= 3.")
        return rows

    a, b = unit(*in_t, "in_angles"), unit(*out_t, "out_angles")
    sq = np.maximum(0.0, 2.0 - 2.0 * np.clip(b @ a.T, -1.0, 1.0))
    return np.sqrt(sq)


def _refuse_isolated(dist: np.ndarray, tau: float, what: str) -> np.ndarray:
    mask = dist <= tau + _TOL
    cut = ~mask.any(axis=1)
    if cut.any():
        nearest = dist.min(axis=1)
        worst = int(np.argmax(nearest))
        need = math.ceil(float(nearest[worst]) * 1e4) / 1e4
        first = np.flatnonzero(cut)[:5].tolist()
        raise InvalidInputError(
            f"with tau={tau:.4g}, {int(cut.sum())} of {len(dist)} output channels (e.g. {first}) have no "
            f"input channel within tau ({what}), so they would only output their bias. Output channel "
            f"{worst}'s nearest input is at distance {nearest[worst]:.4g}: tau >= {need:g} connects every "
            "output channel; or give input angles that cover the manifold more densely."
        )
    return mask


def circle_mask(in_theta: Any, out_theta: Any, tau: float = CIRCLE_TAU, *,
                memory_limit: int | Literal["auto"] | None = "auto") -> torch.Tensor:
    """The circle connectivity: ``mask[q, p]`` is True when the angular distance of ``out_theta[q]``
    and ``in_theta[p]`` is at most ``tau``.

    Parameters
    ----------
    in_theta, out_theta : array-like
        1-D angles (radians, any real values) of the input and output channels, e.g. a
        :class:`CircleConv2d`'s ``theta1``.
    tau : float
        Largest kept angular distance, in ``(0, pi]`` (``>= pi`` keeps everything); default
        :data:`CIRCLE_TAU` ``= pi / 3``. Distances within 1e-9 of ``tau`` count as within.
    memory_limit : int, "auto" or None
        Budget for the ``(out, in)`` float64 distances.

    Returns
    -------
    torch.Tensor
        bool ``(len(out_theta), len(in_theta))``.

    Raises
    ------
    InvalidInputError
        If an output channel has no input within ``tau`` (the message gives the ``tau`` that
        connects every output), or for bad angles or ``tau``.
    """
    a = _angle_vector(in_theta, "in_theta")
    b = _angle_vector(out_theta, "out_theta")
    tau = _check_tau(tau, math.pi, "angular distance")
    check_memory(24 * len(a) * len(b), memory_limit, what=f"the ({len(b)}, {len(a)}) circle mask",
                 hint=_MASK_HINT)
    return torch.from_numpy(_refuse_isolated(_circle_distances(a, b), tau, "angular distance on the circle"))


def klein_mask(in_angles: Any, out_angles: Any, tau: float = KLEIN_TAU, filter_size: int = 3, *,
               memory_limit: int | Literal["auto"] | None = "auto") -> torch.Tensor:
    """The Klein-bottle connectivity: ``mask[q, p]`` is True when the unit-normalised
    ``filter_size x filter_size`` Klein filters of ``out_angles[q]`` and ``in_angles[p]`` are
    within Euclidean distance ``tau`` (see the module docstring).

    Parameters
    ----------
    in_angles, out_angles : tuple or array-like
        A tuple ``(theta1, theta2)`` of equal-length 1-D arrays, or an ``(n, 2)`` array (or list)
        of ``(theta1, theta2)`` rows. Any representative of a point of the bottle gives the same
        mask.
    tau : float
        Largest kept distance, in ``(0, 2]`` (``>= 2`` keeps everything); default
        :data:`KLEIN_TAU` ``= 1`` (cosine similarity >= 1/2).
    filter_size : int
        Side of the filters compared (>= 2; 3 by default, whatever the layer's kernel size).
    memory_limit : int, "auto" or None

    Returns
    -------
    torch.Tensor
        bool ``(n_out, n_in)``.
    """
    a = _klein_angles(in_angles, "in_angles")
    b = _klein_angles(out_angles, "out_angles")
    tau = _check_tau(tau, 2.0, "filter distance")
    s = check_int(filter_size, "filter_size", minimum=2)
    n_in, n_out = len(a[0]), len(b[0])
    check_memory(24 * n_in * n_out + 16 * s * s * (n_in + n_out), memory_limit,
                 what=f"the ({n_out}, {n_in}) Klein mask", hint=_MASK_HINT)
    dist = _klein_distances(a, b, s)
    return torch.from_numpy(_refuse_isolated(dist, tau, "distance of the unit Klein filters"))
