"""Functional core of PersLay (Carrière et al., AISTATS 2020) and Hofer et al.'s structure elements.

A batch of persistence diagrams is a float tensor ``dgms`` of shape ``(B, N, 2)`` holding
``(birth, death)`` rows and a bool ``mask`` of shape ``(B, N)``, True for real points and False
for padding (:func:`pad_diagrams` builds both from a list of diagrams). Padding rows never
change a result.

PersLay vectorises a diagram ``D`` as ``op({w(p) * phi(p) : p in D})``:

* a point transformation ``phi`` maps every point to ``R^q`` -- :func:`image_phi`,
  :func:`landscape_phi`, :func:`gaussian_phi`, :func:`line_phi`, :func:`rational_hat_phi`
  (each ``(B, N, 2) -> (B, N, q)``, computed on every row, padding included);
* a weight ``w`` scales each point -- :func:`power_weight`, :func:`grid_weight`,
  :func:`gaussian_mixture_weight` (each ``(B, N, 2) -> (B, N)``);
* a permutation-invariant ``op`` (sum, mean, max or the k largest values per coordinate)
  reduces the points of each diagram -- :func:`perslay`, which applies the mask.

:func:`structure_elements` is the input layer of Hofer et al. (NeurIPS 2017), a sum of
Gaussian "structure elements" over the points in rotated, log-stretched coordinates.

Coordinates: :func:`image_phi` works in (birth, persistence) ``(b, d - b)`` coordinates like
the persistence image; :func:`landscape_phi` uses the tents of the intervals ``[b, d]``;
:func:`structure_elements` rotates to ``((b + d) / sqrt 2, (d - b) / sqrt 2)``; every other
function uses the raw (birth, death) coordinates, as gudhi's ``perslay`` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._validation import check_choice, check_int
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError

__all__ = [
    "gaussian_mixture_weight",
    "gaussian_phi",
    "grid_weight",
    "image_phi",
    "landscape_phi",
    "line_phi",
    "pad_diagrams",
    "perslay",
    "power_weight",
    "rational_hat_phi",
    "structure_elements",
]

OPS = ("sum", "mean", "max", "topk")
_SQRT2 = math.sqrt(2.0)
_ESSENTIAL_FIX = (
    "Persistence layers need finite (birth, death) pairs: drop the essential classes "
    "(e.g. dgm[torch.isfinite(dgm).all(1)]) or clip their deaths to a finite value "
    "(e.g. dgm.clamp(max=largest_filtration_value)) first."
)


# --------------------------------------------------------------------------- validation
def _check_dgms(dgms: Any, name: str = "dgms") -> torch.Tensor:
    """``dgms`` must be a floating tensor of shape (B, N, 2)."""
    if not isinstance(dgms, torch.Tensor):
        raise InvalidInputError(
            f"{name} must be a torch.Tensor of shape (B, N, 2), found {type(dgms).__name__}. "
            "Build a batch from a list of diagrams with pad_diagrams (topolens.nn._perslay)."
        )
    if dgms.ndim != 3 or dgms.shape[-1] != 2:
        raise ShapeError(
            f"{name} must have shape (B, N, 2) with (birth, death) rows, found shape "
            f"{tuple(dgms.shape)}. For a single diagram (m, 2) use dgm[None]; for a list of "
            "diagrams use pad_diagrams."
        )
    if not dgms.is_floating_point():
        raise InvalidInputError(
            f"{name} must be a floating-point tensor, found dtype {dgms.dtype}; use {name}.float()."
        )
    return dgms


def _check_mask(mask: Any, batch_shape: tuple[int, ...], name: str = "mask") -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise InvalidInputError(
            f"{name} must be a bool torch.Tensor of shape {batch_shape}, found {type(mask).__name__}."
        )
    if mask.dtype != torch.bool:
        raise InvalidInputError(
            f"{name} must be a bool tensor (True for real points), found dtype {mask.dtype}; "
            f"use {name}.bool()."
        )
    if tuple(mask.shape) != tuple(batch_shape):
        raise ShapeError(
            f"{name} must have shape (B, N) = {tuple(batch_shape)} to match the points, found "
            f"shape {tuple(mask.shape)}."
        )
    return mask


def check_batch(dgms: Any, mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a padded batch: shapes, dtypes, and finite coordinates at the real points.

    Raises
    ------
    ShapeError
        If ``dgms`` is not (B, N, 2) or ``mask`` is not (B, N).
    NonFiniteError
        If a real point (``mask`` True) has a NaN or infinite coordinate.
    """
    dgms = _check_dgms(dgms)
    mask = _check_mask(mask, tuple(dgms.shape[:2]))
    bad = mask & ~torch.isfinite(dgms).all(-1)
    if bool(bad.any()):
        idx = bad.nonzero()
        b, n = (int(v) for v in idx[0])
        pt = [float(v) for v in dgms[b, n].detach().cpu()]
        raise NonFiniteError(
            f"dgms has {idx.shape[0]} real point(s) with a NaN or infinite coordinate "
            f"(first: diagram {b}, point {n}: {pt}). {_ESSENTIAL_FIX}"
        )
    return dgms, mask


def _zero_padding(dgms: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Replace padding rows by (0, 0): no NaN or overflow from them in forward or backward."""
    return torch.where(mask[..., None], dgms, dgms.new_zeros(()))


def _as_param(value: Any, like: torch.Tensor, name: str) -> torch.Tensor:
    """A tensor parameter on ``like``'s dtype/device (tensors are kept, so gradients flow)."""
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value, dtype=like.dtype, device=like.device)
    except (TypeError, ValueError, RuntimeError):
        raise InvalidInputError(f"{name} must be a number or a tensor, found {value!r}.") from None


def _check_bounds(bounds: Any, name: str = "bounds") -> tuple[tuple[float, float], tuple[float, float]]:
    """``bounds`` = ((lo0, hi0), (lo1, hi1)) with finite lo < hi."""
    try:
        arr = np.asarray(
            bounds.detach().cpu().numpy() if isinstance(bounds, torch.Tensor) else bounds,
            dtype=np.float64,
        )
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name} must be ((min_0, max_0), (min_1, max_1)), found {bounds!r}."
        ) from None
    if arr.shape != (2, 2):
        raise ShapeError(f"{name} must be ((min_0, max_0), (min_1, max_1)), found shape {arr.shape}.")
    if not np.isfinite(arr).all() or not (arr[:, 0] < arr[:, 1]).all():
        raise InvalidInputError(
            f"{name} must hold finite (min, max) pairs with min < max, found {arr.tolist()}."
        )
    return (float(arr[0, 0]), float(arr[0, 1])), (float(arr[1, 0]), float(arr[1, 1]))


def _check_resolution(resolution: Any, name: str = "resolution") -> tuple[int, int]:
    if isinstance(resolution, (int, np.integer)) and not isinstance(resolution, bool):
        resolution = (resolution, resolution)
    try:
        r0, r1 = resolution
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name} must be an int or a pair of positive ints, found {resolution!r}."
        ) from None
    return check_int(r0, f"{name}[0]", minimum=1), check_int(r1, f"{name}[1]", minimum=1)  # type: ignore[return-value]


def _check_centres(centres: Any, name: str) -> torch.Tensor:
    if not isinstance(centres, torch.Tensor) or centres.ndim != 2 or centres.shape[1] != 2:
        shape = tuple(centres.shape) if isinstance(centres, torch.Tensor) else type(centres).__name__
        raise ShapeError(f"{name} must be a tensor of shape (q, 2), found {shape}.")
    return centres


def _per_centre(value: torch.Tensor, centres: torch.Tensor, name: str) -> torch.Tensor:
    """Broadcast a scalar, (q,), (q, 1) or (q, 2) parameter to (q, 2)."""
    q = centres.shape[0]
    if value.ndim == 1 and value.shape[0] == q:
        value = value[:, None]
    try:
        return value.expand(q, 2)
    except RuntimeError:
        raise ShapeError(
            f"{name} must be a scalar or have shape ({q},), ({q}, 1) or ({q}, 2), found "
            f"{tuple(value.shape)}."
        ) from None


def _scaled_offsets(dgms: torch.Tensor, centres: torch.Tensor, scale: torch.Tensor, axis: int) -> torch.Tensor:
    """``(x_a - c_{i,a}) * s_{i,a}`` for coordinate ``a``, shape (B, N, q), one temporary."""
    s = scale[:, axis]
    return torch.addcmul(-(centres[:, axis] * s), dgms[..., axis:axis + 1], s)


# --------------------------------------------------------------------------- padding
def pad_diagrams(
    diagrams: Sequence[Any],
    *,
    max_points: int | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a list of diagrams into a batch ``(dgms (B, N, 2), mask (B, N))``.

    Diagram ``i`` fills ``dgms[i, :m_i]`` (its rows in their order) and ``mask[i, :m_i]``;
    the rest is zero padding with mask False. ``N = max(1, max_i m_i)``, so a batch of empty
    diagrams has one padding column. Tensor inputs keep their autograd graph.

    Parameters
    ----------
    diagrams : list of (m_i, 2) numpy arrays or tensors
        ``(birth, death)`` rows; ``m_i`` may be 0 (any empty array counts as (0, 2)).
    max_points : int, optional
        Keep at most this many points per diagram: the most persistent ones (largest
        ``death - birth``; ties keep the earlier row), in their original order.
    dtype : torch.dtype, optional
        Default: the inputs' dtype when they are all tensors of one floating dtype, otherwise
        ``torch.get_default_dtype()``.
    device : torch.device or str, optional
        Default: the device of the first tensor input, else the CPU.

    Returns
    -------
    dgms : torch.Tensor of shape (B, N, 2)
    mask : torch.Tensor of shape (B, N), bool

    Raises
    ------
    InvalidInputError
        For an empty list, a non-numeric diagram or a bad ``max_points``.
    ShapeError
        For a diagram that is not (m, 2).
    NonFiniteError
        For a NaN or infinite coordinate (essential classes must be dropped or clipped first).
    """
    if isinstance(diagrams, (torch.Tensor, np.ndarray)):
        raise InvalidInputError(
            f"diagrams must be a list of (m_i, 2) diagrams, found a single "
            f"{type(diagrams).__name__} of shape {tuple(diagrams.shape)}; wrap it in a list: [dgm]."
        )
    try:
        diagrams = list(diagrams)
    except TypeError:
        raise InvalidInputError(
            f"diagrams must be a list of (m_i, 2) arrays or tensors, found {type(diagrams).__name__}."
        ) from None
    if len(diagrams) == 0:
        raise InvalidInputError(
            "diagrams is an empty list; a batch needs at least one diagram (an empty diagram, "
            "np.empty((0, 2)), is fine)."
        )
    max_points = check_int(max_points, "max_points", minimum=1, allow_none=True)

    tensors: list[torch.Tensor] = []
    for i, d in enumerate(diagrams):
        if isinstance(d, torch.Tensor):
            t = d
        else:
            arr = np.asarray(d)
            if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)):
                raise InvalidInputError(
                    f"diagram {i} must be a numeric (m, 2) array, found dtype {arr.dtype}."
                )
            t = torch.from_numpy(np.ascontiguousarray(arr))
        if t.dtype == torch.bool or t.is_complex():
            raise InvalidInputError(f"diagram {i} must hold real numbers, found dtype {t.dtype}.")
        if t.numel() == 0:
            t = t.reshape(0, 2)
        if t.ndim != 2 or t.shape[1] != 2:
            raise ShapeError(
                f"diagram {i} must have shape (m, 2) with (birth, death) rows, found shape "
                f"{tuple(t.shape)}."
            )
        finite = torch.isfinite(t).all(1)
        if not bool(finite.all()):
            j = int((~finite).nonzero()[0, 0])
            raise NonFiniteError(
                f"diagram {i} has {int((~finite).sum())} point(s) with a NaN or infinite "
                f"coordinate (first: row {j}, {t[j].tolist()}). {_ESSENTIAL_FIX}"
            )
        tensors.append(t)

    if dtype is None:
        dtypes = {t.dtype for t in tensors}
        all_tensors = all(isinstance(d, torch.Tensor) for d in diagrams)
        only = next(iter(dtypes)) if len(dtypes) == 1 else None
        keep_dtype = all_tensors and only is not None and only.is_floating_point
        dtype = only if keep_dtype else torch.get_default_dtype()
    if not dtype.is_floating_point:
        raise InvalidInputError(f"dtype must be a floating-point dtype, found {dtype}.")
    if device is None:
        device = next((d.device for d in diagrams if isinstance(d, torch.Tensor)), torch.device("cpu"))

    kept = []
    for t in tensors:
        t = t.to(dtype=dtype, device=device)
        if max_points is not None and t.shape[0] > max_points:
            life = (t[:, 1] - t[:, 0]).detach()
            order = torch.argsort(life, descending=True, stable=True)[:max_points]
            t = t[torch.sort(order).values]
        kept.append(t)

    lengths = torch.tensor([t.shape[0] for t in kept], device=device)
    n = max(1, int(lengths.max()))
    dgms = torch.nn.utils.rnn.pad_sequence(kept, batch_first=True)
    if dgms.shape[1] < n:  # every diagram empty
        dgms = torch.nn.functional.pad(dgms, (0, 0, 0, n - dgms.shape[1]))
    mask = torch.arange(n, device=device)[None, :] < lengths[:, None]
    return dgms, mask


# --------------------------------------------------------------------------- phi
def image_grid(
    bounds: Any, resolution: Any, *, dtype: torch.dtype | None = None, device: Any = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The persistence-image nodes: ``linspace`` over the birth and persistence bounds."""
    (b0, b1), (p0, p1) = _check_bounds(bounds)
    nb, npers = _check_resolution(resolution)
    xs = torch.linspace(b0, b1, nb, dtype=dtype, device=device)
    ys = torch.linspace(p0, p1, npers, dtype=dtype, device=device)
    return xs, ys


def _image_factors(dgms: torch.Tensor, bandwidth: torch.Tensor, xs: torch.Tensor,
                   ys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The separable factors of the image Gaussians: birth (B, N, nb) and persistence (B, N, np)."""
    two_var = 2.0 * bandwidth * bandwidth
    birth = dgms[..., 0]
    pers = dgms[..., 1] - dgms[..., 0]
    gx = torch.exp(-torch.square(birth[..., None] - xs) / two_var)
    gy = torch.exp(-torch.square(pers[..., None] - ys) / two_var) / (math.pi * two_var)
    return gx, gy


def _image_on_grid(dgms: torch.Tensor, bandwidth: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    gx, gy = _image_factors(dgms, bandwidth, xs, ys)
    out = gy[..., :, None] * gx[..., None, :]  # (B, N, np, nb)
    return out.reshape(*dgms.shape[:2], ys.shape[0] * xs.shape[0])


def _image_weighted_sum(dgms: torch.Tensor, coef: torch.Tensor, bandwidth: torch.Tensor, xs: torch.Tensor,
                        ys: torch.Tensor) -> torch.Tensor:
    """``sum_n coef[:, n] * image_phi(dgms)[:, n]`` (B, np * nb) as one batched matrix product."""
    gx, gy = _image_factors(dgms, bandwidth, xs, ys)
    out = torch.bmm((gy * coef[..., None]).transpose(1, 2), gx)  # (B, np, nb)
    return out.reshape(dgms.shape[0], ys.shape[0] * xs.shape[0])


def _line_weighted_sum(dgms: torch.Tensor, coef: torch.Tensor, directions: torch.Tensor,
                       bias: torch.Tensor | None) -> torch.Tensor:
    """``sum_n coef[:, n] * line_phi(dgms)[:, n]`` (B, q): the projection of the weighted point sum."""
    out = torch.nn.functional.linear(torch.bmm(coef[:, None, :], dgms).squeeze(1), directions)
    return out if bias is None else torch.addcmul(out, coef.sum(1, keepdim=True), bias)


def image_phi(dgms: torch.Tensor, bandwidth: Any, bounds: Any, resolution: Any) -> torch.Tensor:
    """Persistence-image point transformation: one Gaussian per point, sampled on a grid.

    In (birth, persistence) coordinates ``(x, y) = (b, d - b)``, the point contributes
    ``exp(-((x - u_j)^2 + (y - v_i)^2) / (2 sigma^2)) / (2 pi sigma^2)`` at every grid node
    ``(u_j, v_i)``, ``u = linspace(*bounds[0], resolution[0])`` (births) and
    ``v = linspace(*bounds[1], resolution[1])`` (persistences). With ``op="sum"`` and the
    weight of the image, this is ``gudhi.representations.PersistenceImage`` (nodes, not pixel
    integrals).

    Parameters
    ----------
    dgms : torch.Tensor of shape (B, N, 2)
        (birth, death) rows.
    bandwidth : float or 0-d tensor
        The standard deviation ``sigma`` (its square is the variance); differentiable.
    bounds : ((birth_min, birth_max), (pers_min, pers_max))
        Grid extent in (birth, persistence) coordinates.
    resolution : int or (n_birth, n_persistence)
        Number of nodes per axis.

    Returns
    -------
    torch.Tensor of shape (B, N, n_persistence * n_birth)
        ``out.view(B, N, n_persistence, n_birth)[..., i, j]`` is the value at persistence
        ``v_i`` and birth ``u_j`` (the layout of ``PersistenceImage``'s flattened vector).
    """
    dgms = _check_dgms(dgms)
    bw = _as_param(bandwidth, dgms, "bandwidth")
    if bw.numel() != 1:
        raise ShapeError(f"bandwidth must be a scalar, found shape {tuple(bw.shape)}.")
    xs, ys = image_grid(bounds, resolution, dtype=dgms.dtype, device=dgms.device)
    return _image_on_grid(dgms, bw.reshape(()), xs, ys)


def landscape_phi(dgms: torch.Tensor, samples: Any) -> torch.Tensor:
    """Landscape (tent) point transformation: ``max(0, min(t - b, d - t))`` at each sample ``t``.

    Uses the (birth, death) coordinates; the tent of ``[b, d]`` peaks at ``(d - b) / 2``
    (Bubenik's height). With ``op="topk"`` and ``k`` this gives the first ``k`` persistence
    landscapes at the samples (``gudhi.representations.Landscape`` divided by ``sqrt(2)``).

    Parameters
    ----------
    dgms : torch.Tensor of shape (B, N, 2)
    samples : 1-D tensor or sequence of q floats
        Sample points ``t``; differentiable when a tensor that requires grad.

    Returns
    -------
    torch.Tensor of shape (B, N, q)
    """
    dgms = _check_dgms(dgms)
    t = _as_param(samples, dgms, "samples")
    if t.ndim != 1 or t.numel() == 0:
        raise ShapeError(f"samples must be a non-empty 1-D sequence, found shape {tuple(t.shape)}.")
    half = 0.5 * (dgms[..., 1:2] - dgms[..., 0:1])
    mid = 0.5 * (dgms[..., 1:2] + dgms[..., 0:1])
    return torch.relu(half - (t - mid).abs())  # = max(0, min(t - b, d - t)), fewer temporaries


def gaussian_phi(dgms: torch.Tensor, centres: torch.Tensor, bandwidth: Any) -> torch.Tensor:
    """Gaussian point transformation with learnable centres.

    ``phi(p)_i = exp(-sum_a (p_a - c_{i,a})^2 / (2 sigma_{i,a}^2))`` for ``p = (birth, death)``.

    Parameters
    ----------
    dgms : torch.Tensor of shape (B, N, 2)
    centres : torch.Tensor of shape (q, 2)
        Centres ``c_i`` in (birth, death) coordinates.
    bandwidth : float or tensor broadcastable to (q, 2)
        Standard deviations ``sigma`` (a scalar, one per centre (q, 1), or per axis (q, 2)).

    Returns
    -------
    torch.Tensor of shape (B, N, q)
    """
    dgms = _check_dgms(dgms)
    centres = _check_centres(centres, "centres")
    scale = 1.0 / (_SQRT2 * _per_centre(_as_param(bandwidth, dgms, "bandwidth"), centres, "bandwidth"))
    u = _scaled_offsets(dgms, centres, scale, 0)
    v = _scaled_offsets(dgms, centres, scale, 1)
    return torch.exp(-torch.addcmul(u * u, v, v))


def line_phi(dgms: torch.Tensor, directions: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Line point transformation: ``phi(p)_i = <p, w_i> + beta_i`` for ``p = (birth, death)``.

    Parameters
    ----------
    dgms : torch.Tensor of shape (B, N, 2)
    directions : torch.Tensor of shape (q, 2)
        Projection directions ``w_i``.
    bias : torch.Tensor of shape (q,), optional
        Offsets ``beta_i`` (zero when None).

    Returns
    -------
    torch.Tensor of shape (B, N, q)
    """
    dgms = _check_dgms(dgms)
    directions = _check_centres(directions, "directions")
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.shape != (directions.shape[0],)):
        shape = tuple(bias.shape) if isinstance(bias, torch.Tensor) else type(bias).__name__
        raise ShapeError(f"bias must be a tensor of shape ({directions.shape[0]},), found {shape}.")
    return torch.nn.functional.linear(dgms, directions, bias)


def rational_hat_phi(dgms: torch.Tensor, centres: torch.Tensor, radius: Any, p: float = 1.0) -> torch.Tensor:
    """Rational hat point transformation (Hofer et al., JMLR 2019; PersLay's "rational hat").

    ``phi(x)_i = 1 / (1 + ||x - c_i||_p) - 1 / (1 + | |r_i| - ||x - c_i||_p |)`` for
    ``x = (birth, death)``: positive inside the ball of radius ``|r_i|`` around ``c_i``, zero on
    its boundary, negative outside and decaying to 0 far away.

    Parameters
    ----------
    dgms : torch.Tensor of shape (B, N, 2)
    centres : torch.Tensor of shape (q, 2)
        Centres ``c_i`` in (birth, death) coordinates.
    radius : float or tensor broadcastable to (q,)
        Radii ``r_i`` (their absolute value is used).
    p : float, default 1.0
        Order of the norm (``p >= 1``; Hofer et al. and PersLay use 1).

    Returns
    -------
    torch.Tensor of shape (B, N, q)
    """
    dgms = _check_dgms(dgms)
    centres = _check_centres(centres, "centres")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not p >= 1 or not math.isfinite(p):
        raise InvalidInputError(f"p must be a finite number >= 1 (the order of a norm), found {p!r}.")
    r = _as_param(radius, dgms, "radius").abs()
    if r.ndim > 1 or (r.ndim == 1 and r.shape[0] not in (1, centres.shape[0])):
        raise ShapeError(f"radius must be a scalar or have shape ({centres.shape[0]},), found {tuple(r.shape)}.")
    u = dgms[..., 0:1] - centres[:, 0]  # (B, N, q)
    v = dgms[..., 1:2] - centres[:, 1]
    if p == 1:
        norm = u.abs() + v.abs()
    else:  # the root has an infinite derivative at 0: take it of a safe value there (gradient 0)
        acc = torch.addcmul(u * u, v, v) if p == 2 else u.abs().pow(p) + v.abs().pow(p)
        pos = acc > 0
        norm = torch.where(pos, torch.where(pos, acc, 1.0).pow(1.0 / p), 0.0)
    return torch.reciprocal(1.0 + norm) - torch.reciprocal(1.0 + (r - norm).abs())


# --------------------------------------------------------------------------- weights
def power_weight(dgms: torch.Tensor, constant: Any = 1.0, power: float = 1.0) -> torch.Tensor:
    """Power weight ``w(b, d) = c * |d - b|^p`` (persistence to the power ``p``).

    Parameters
    ----------
    dgms : torch.Tensor of shape (B, N, 2)
    constant : float or 0-d tensor
        ``c`` (differentiable when a tensor).
    power : float
        ``p >= 0``. For ``p < 1`` the gradient with respect to a point on the diagonal is
        infinite.

    Returns
    -------
    torch.Tensor of shape (B, N)
    """
    dgms = _check_dgms(dgms)
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not (0 <= power < math.inf):
        raise InvalidInputError(f"power must be a finite number >= 0, found {power!r}.")
    c = _as_param(constant, dgms, "constant")
    life = (dgms[..., 1] - dgms[..., 0]).abs()
    if power == 0:
        return c * torch.ones_like(life)
    return c * life if power == 1 else c * life.pow(power)


def grid_weight(dgms: torch.Tensor, grid: torch.Tensor, bounds: Any, outside: str = "clamp") -> torch.Tensor:
    """Piecewise-constant weight read from a grid of values over (birth, death) bounds.

    The rectangle ``bounds = ((b_min, b_max), (d_min, d_max))`` is cut into ``grid.shape``
    equal cells (closed at the top: ``b = b_max`` is in the last cell); a point takes the value
    of its cell, ``grid[i, j]`` with ``i = floor(n_0 (b - b_min) / (b_max - b_min))`` and ``j``
    likewise for the death. Differentiable with respect to ``grid`` (the gradient with respect
    to the points is zero).

    Parameters
    ----------
    dgms : torch.Tensor of shape (B, N, 2)
    grid : torch.Tensor of shape (n_0, n_1)
        Cell values (birth index first).
    bounds : ((b_min, b_max), (d_min, d_max))
    outside : {"clamp", "zero"}, default "clamp"
        Points outside the rectangle take the value of the nearest cell ("clamp") or 0
        ("zero", which drops them from the vectorisation).

    Returns
    -------
    torch.Tensor of shape (B, N)
    """
    dgms = _check_dgms(dgms)
    if not isinstance(grid, torch.Tensor) or grid.ndim != 2:
        shape = tuple(grid.shape) if isinstance(grid, torch.Tensor) else type(grid).__name__
        raise ShapeError(f"grid must be a 2-D tensor (n_birth, n_death), found {shape}.")
    check_choice(outside, "outside", ("clamp", "zero"))
    (b0, b1), (d0, d1) = _check_bounds(bounds)
    x = dgms.detach()
    n0, n1 = grid.shape
    i = torch.floor(n0 * (x[..., 0] - b0) / (b1 - b0))
    j = torch.floor(n1 * (x[..., 1] - d0) / (d1 - d0))
    ii = i.clamp(0, n0 - 1).long()
    jj = j.clamp(0, n1 - 1).long()
    w = grid[ii, jj]
    if outside == "zero":
        inside = (x[..., 0] >= b0) & (x[..., 0] <= b1) & (x[..., 1] >= d0) & (x[..., 1] <= d1)
        w = torch.where(inside, w, w.new_zeros(()))
    return w


def gaussian_mixture_weight(dgms: torch.Tensor, means: torch.Tensor, bandwidths: Any) -> torch.Tensor:
    """Gaussian-mixture weight ``w(p) = sum_k exp(-sum_a (p_a - m_{k,a})^2 / s_{k,a}^2)``.

    ``p = (birth, death)``; the convention (no factor 2) is that of gudhi's
    ``GaussianMixturePerslayWeight``.

    Parameters
    ----------
    dgms : torch.Tensor of shape (B, N, 2)
    means : torch.Tensor of shape (K, 2)
    bandwidths : float or tensor broadcastable to (K, 2)
        Scales ``s`` of the components.

    Returns
    -------
    torch.Tensor of shape (B, N)
    """
    dgms = _check_dgms(dgms)
    means = _check_centres(means, "means")
    scale = 1.0 / _per_centre(_as_param(bandwidths, dgms, "bandwidths"), means, "bandwidths")
    u = _scaled_offsets(dgms, means, scale, 0)
    v = _scaled_offsets(dgms, means, scale, 1)
    return torch.exp(-torch.addcmul(u * u, v, v)).sum(-1)


# --------------------------------------------------------------------------- the op
def perslay(
    values: torch.Tensor,
    mask: torch.Tensor,
    weights: torch.Tensor | None = None,
    op: str = "sum",
    k: int | None = None,
) -> torch.Tensor:
    """PersLay's permutation-invariant reduction ``op({w(p) * phi(p)})`` over the real points.

    Padding (``mask`` False) never changes the result, whatever its values (NaN and inf
    included): sum/mean give it the coefficient 0, max/topk rank it below every real point.
    Gradients reach only the real points (for max/topk, only the selected ones; ties go to
    the earliest point).

    Parameters
    ----------
    values : torch.Tensor of shape (B, N, q)
        ``phi`` of every point (e.g. from :func:`image_phi`).
    mask : torch.Tensor of shape (B, N), bool
        True for real points.
    weights : torch.Tensor of shape (B, N), optional
        ``w`` of every point; None means 1.
    op : {"sum", "mean", "max", "topk"}
        ``sum`` / ``mean`` (sum over the number of real points) / ``max`` per coordinate,
        or ``topk``: the ``k`` largest values of each coordinate in decreasing order.
    k : int, optional
        Required for (and only for) ``op="topk"``, ``k >= 1``.

    Returns
    -------
    torch.Tensor of shape (B, q), or (B, q * k) for topk
        An empty diagram gives 0 for every op; with ``topk`` a diagram with fewer than ``k``
        points is zero-filled after its values. Topk layout:
        ``out.view(B, q, k)[:, i, j]`` is the ``(j + 1)``-th largest value of coordinate
        ``i`` (gudhi's ``Perslay`` layout).
    """
    if not isinstance(values, torch.Tensor) or values.ndim != 3:
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise ShapeError(f"values must be a tensor of shape (B, N, q), found {shape}.")
    check_choice(op, "op", OPS)
    if op == "topk":
        if k is None:
            raise InvalidInputError("op='topk' needs k, the number of largest values to keep per coordinate.")
        k = check_int(k, "k", minimum=1)
    elif k is not None:
        raise InvalidInputError(f"k is only used by op='topk'; found k={k!r} with op={op!r}.")
    mask = _check_mask(mask, tuple(values.shape[:2]))
    if weights is not None and (
        not isinstance(weights, torch.Tensor) or tuple(weights.shape) != tuple(values.shape[:2])
    ):
        shape = tuple(weights.shape) if isinstance(weights, torch.Tensor) else type(weights).__name__
        raise ShapeError(f"weights must have shape (B, N) = {tuple(values.shape[:2])}, found {shape}.")
    return _reduce(values, mask, weights, op, k)


def _coefficients(mask: torch.Tensor, weights: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    """Per-point factors (B, N): the weight at real points, exactly 0 at padding."""
    if weights is None:
        return mask.to(dtype)
    return torch.where(mask, weights, weights.new_zeros(()))


def _reduce(values: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor | None, op: str,
            k: int | None) -> torch.Tensor:
    """:func:`perslay` after validation.

    sum/mean: one batched matrix-vector product with the coefficients (0 at padding); if the
    result is not finite, the padding is replaced by 0 first (0 * inf is NaN), so non-finite
    padding values never leak in. max/topk: the winners are chosen without autograd on the
    weighted values with ``-inf`` at the padding, then gathered, so the backward pass touches
    only the winners.
    """
    bsz, n, q = values.shape
    coef = _coefficients(mask, weights, values.dtype)
    if op in ("sum", "mean"):
        out = torch.bmm(coef[:, None, :], values).squeeze(1)
        if not bool(torch.isfinite(out).all()):
            safe = torch.where(mask[..., None], values, values.new_zeros(()))
            out = torch.bmm(coef[:, None, :], safe).squeeze(1)
        if op == "mean":
            out = out / mask.sum(1, keepdim=True).clamp(min=1).to(values.dtype)
        return out
    width = 1 if op == "max" else int(k)  # type: ignore[arg-type]
    kk = min(width, n)
    if kk == 0:  # no points at all
        return values.new_zeros((bsz, q * width))
    with torch.no_grad():  # choose the winners on a contiguous (B, q, N) copy: fast last-axis reductions
        scores = values if weights is None else values * coef[..., None]
        scores = torch.where(mask[..., None], scores, values.new_full((), -math.inf))
        scores = scores.transpose(1, 2).contiguous()
        idx, best = _top_indices(scores, kk)  # (B, q, kk)
        valid = best > -math.inf  # False: padding, or fewer than k points
    zero = values.new_zeros(())
    top = torch.where(valid, values.transpose(1, 2).gather(2, idx), zero)
    if weights is not None:
        top = top * torch.where(valid, coef[:, None, :].expand(bsz, q, n).gather(2, idx), zero)
    if op == "max":
        return top[..., 0]
    if kk < width:
        top = torch.nn.functional.pad(top, (0, width - kk))
    return top.reshape(bsz, q * width)


def _top_indices(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices and values (B, q, k) of the k largest entries along the last axis, largest first.

    Repeated argmax for small k (faster than ``torch.topk`` on CPU), ``torch.topk`` otherwise.
    ``scores`` is a no-grad temporary and is overwritten. (``max(dim)`` is avoided: it can be
    very slow with several threads.)
    """
    if k > 8:
        top = scores.topk(k, dim=-1, sorted=True)
        return top.indices, top.values
    idx, vals = [], []
    for j in range(k):
        i = scores.argmax(-1, keepdim=True)
        idx.append(i)
        vals.append(scores.gather(-1, i))
        if j + 1 < k:
            scores.scatter_(-1, i, -math.inf)
    return torch.cat(idx, -1), torch.cat(vals, -1)


# --------------------------------------------------------------------------- Hofer et al.
def hofer_coordinates(dgms: torch.Tensor, nu: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rotated, log-stretched coordinates of Hofer et al. (2017).

    Returns ``(x0, t, positive)``: ``x0 = (b + d) / sqrt 2``, ``x1 = (d - b) / sqrt 2``,
    ``t = x1`` for ``x1 >= nu`` and ``nu * log(x1 / nu) + nu`` for ``0 < x1 < nu``, and the
    bool ``positive = x1 > 0`` (points on or below the diagonal contribute 0). ``t`` is finite
    everywhere (the log is taken of a safe value where ``x1 <= 0``), so no NaN reaches the
    gradients.
    """
    x0 = (dgms[..., 0] + dgms[..., 1]) / _SQRT2
    x1 = (dgms[..., 1] - dgms[..., 0]) / _SQRT2
    positive = x1 > 0
    safe = torch.where(positive, x1, x1.new_full((), nu))
    t = torch.where(x1 >= nu, x1, nu * torch.log(safe / nu) + nu)
    return x0, t, positive


def structure_elements(
    dgms: torch.Tensor, mask: torch.Tensor, centres: torch.Tensor, sharpness: torch.Tensor, nu: float
) -> torch.Tensor:
    """Hofer et al.'s input layer: a sum of Gaussian structure elements over each diagram.

    Points are rotated to ``(x0, x1) = ((b + d) / sqrt 2, (d - b) / sqrt 2)``; element ``k``
    is ``s_k(x) = exp(-sigma_{k,0}^2 (x0 - mu_{k,0})^2 - sigma_{k,1}^2 (t - mu_{k,1})^2)``
    with ``t = x1`` for ``x1 >= nu``, ``t = nu log(x1 / nu) + nu`` for ``0 < x1 < nu`` and
    ``s_k = 0`` for ``x1 <= 0`` (on the diagonal). Output ``k`` is ``sum_{p in D} s_k(p)``.
    ``s_k`` is continuous, and differentiable except at ``x1 = 0``.

    Parameters
    ----------
    dgms : torch.Tensor of shape (B, N, 2)
        (birth, death) rows.
    mask : torch.Tensor of shape (B, N), bool
    centres : torch.Tensor of shape (K, 2)
        ``mu`` in the (x0, log-stretched x1) coordinates.
    sharpness : torch.Tensor of shape (K, 2)
        ``sigma`` (only its square is used).
    nu : float
        Threshold ``nu > 0`` below which the persistence axis is log-stretched.

    Returns
    -------
    torch.Tensor of shape (B, K)

    Notes
    -----
    ``torch_topological.nn.layers.StructureElementLayer`` computes the same Gaussians
    directly on its input columns (no rotation and no log stretch), expects (B, N, 3) rows
    ``(birth, death, dim)`` with an extra ``exp(-dim^2)`` factor, and lets NaN padding rows
    contribute ``exp(0) = 1`` each.
    """
    dgms, mask = check_batch(dgms, mask)
    centres = _check_centres(centres, "centres")
    if not isinstance(sharpness, torch.Tensor) or sharpness.shape != centres.shape:
        shape = tuple(sharpness.shape) if isinstance(sharpness, torch.Tensor) else type(sharpness).__name__
        raise ShapeError(f"sharpness must be a tensor of shape {tuple(centres.shape)} like centres, found {shape}.")
    if isinstance(nu, bool) or not isinstance(nu, (int, float)) or not (0 < nu < math.inf):
        raise InvalidInputError(f"nu must be a finite number > 0, found {nu!r}.")
    x0, t, positive = hofer_coordinates(_zero_padding(dgms, mask), float(nu))
    rot = torch.stack([x0, t], -1)
    u = _scaled_offsets(rot, centres, sharpness, 0)  # sigma_0 (x0 - mu_0), (B, N, K)
    v = _scaled_offsets(rot, centres, sharpness, 1)
    vals = torch.exp(-torch.addcmul(u * u, v, v))
    keep = (positive & mask)[..., None]
    return torch.where(keep, vals, vals.new_zeros(())).sum(1)
