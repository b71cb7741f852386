"""Small square patches of images and the high-contrast selection of Lee, Pedersen & Mumford (2003).

:func:`image_patches` cuts ``size x size`` patches out of grey-scale or RGB images (every position
or a seeded sample of positions per image); :func:`high_contrast` keeps the fraction of patches with
the largest contrast (D-norm), the first step of Carlsson, Ishkhanov, de Silva & Zomorodian (2008).
Patches are the rows of an ``(n, size * size)`` float64 array, pixel ``(i, j)`` (row ``i`` from the
top, column ``j`` from the left) at column ``i * size + j``, as everywhere in :mod:`topolens.filters`.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._validation import _check_real_dtype, _to_numpy, check_int
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError, TopolensWarning
from ..homology.memory import check_memory
from ._basis import _constant_rows, _patch_rows, dnorm

__all__ = ["LOG_EPS", "LUMINANCE_WEIGHTS", "high_contrast", "image_patches"]

logger = logging.getLogger(__name__)

#: ITU-R BT.601 luma weights of (R, G, B), the grey level of RGB images
LUMINANCE_WEIGHTS = np.array([0.299, 0.587, 0.114])
#: ``log=True`` on floating-point images takes ``log(x + LOG_EPS)``: one 8-bit grey level of an
#: image scaled to [0, 1], so ``img / 255`` gives the same patches as the uint8 ``log(1 + img)`` up
#: to a constant per patch (which mean-centring removes)
LOG_EPS = 1.0 / 255.0
#: channel counts recognised on a channel axis (1: grey, 3: RGB, 4: RGBA with the alpha dropped)
_CHANNELS = (1, 3, 4)
#: float64 elements of one chunk of images converted at a time (bounds the temporaries)
_CHUNK_ELEMENTS = 1 << 22


def _fraction(value: Any, name: str) -> float:
    """A fraction in (0, 1] (refuses bools, NaN and non-numbers with a message naming ``name``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be a number in (0, 1], found {value!r} ({type(value).__name__}).")
    value = float(value)
    if not 0.0 < value <= 1.0:  # NaN fails too
        raise InvalidInputError(f"{name} must be in (0, 1] (a fraction of the points), found {value!r}.")
    return value


def _keep_count(fraction: float, n: int) -> int:
    """``fraction * n`` rounded half up, at least 1 and at most ``n`` (the documented rounding)."""
    return int(min(n, max(1, math.floor(fraction * n + 0.5))))


def _blocks(images: Any) -> list[tuple[str, np.ndarray]]:
    """The input as ``(label, array)`` blocks of images with one layout each (a list of images of
    different sizes gives one block per element)."""
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise InvalidInputError("images is an empty list; pass at least one image.")
        arrays = [_to_numpy(im, f"images[{i}]") for i, im in enumerate(images)]
        ndims = {a.ndim for a in arrays}
        if min(ndims) >= 2:
            return [(f"images[{i}]", a) for i, a in enumerate(arrays)]
        if max(ndims) >= 2:
            raise ShapeError(
                f"images mixes arrays of {sorted(ndims)} dimensions; pass a list of images (each at "
                "least 2-D) or one nested list holding a single image."
            )
    return [("images", _to_numpy(images, "images"))]


def _channels_last(arr: np.ndarray, label: str) -> np.ndarray:
    """A view ``(m, h, w, c)`` of one block, ``c`` in (1, 3, 4) (see :func:`image_patches`)."""
    if arr.ndim == 2:
        return arr[None, :, :, None]
    if arr.ndim == 3:
        if arr.shape[-1] in _CHANNELS:
            return arr[None]
        if arr.shape[0] in (3, 4):
            warnings.warn(
                f"{label} of shape {arr.shape} is read as a stack of {arr.shape[0]} grey images of "
                f"{arr.shape[1]}x{arr.shape[2]} pixels. If it is one channels-first RGB image (as "
                f"torchvision reads them), pass {label}[None] (shape (1, {arr.shape[0]}, {arr.shape[1]}, "
                f"{arr.shape[2]})); to keep the grey stack without this warning pass it as (n, h, w, 1).",
                TopolensWarning, stacklevel=3)
        return arr[..., None]
    if arr.ndim == 4:
        if arr.shape[-1] in _CHANNELS:
            return arr
        if arr.shape[1] in _CHANNELS:
            return np.moveaxis(arr, 1, -1)
        raise ShapeError(
            f"{label} of shape {arr.shape} has no channel axis: expected 4-D images as (n, h, w, c) or "
            f"(n, c, h, w) with c in {_CHANNELS} (grey, RGB, RGBA). Pass (n, h, w) for grey images."
        )
    raise ShapeError(
        f"{label} has shape {arr.shape}; expected one image (h, w), (h, w, 3) or a stack (n, h, w), "
        "(n, h, w, 3), (n, 1, h, w), (n, 3, h, w), or a list of such arrays."
    )


def _check_block(given: np.ndarray, arr: np.ndarray, label: str, size: int) -> None:
    """Refuse empty, complex, non-numeric and too-small blocks (before any conversion); ``given``
    is the block as passed, ``arr`` its ``(m, h, w, c)`` view."""
    if arr.size == 0:
        raise ShapeError(f"{label} is empty (shape {given.shape}); pass at least one non-empty image.")
    if arr.dtype != bool:
        _check_real_dtype(arr, label)
    h, w = arr.shape[1:3]
    if h < size or w < size:
        read_as = ""
        if given.ndim == 3 and given.shape[-1] in _CHANNELS:
            read_as = (f" (read as one {h}x{w} image with {given.shape[-1]} channels, since its last axis "
                       f"has length {given.shape[-1]}: pass a stack of grey images as (n, h, w, 1))")
        raise ShapeError(
            f"{label} of shape {given.shape} holds images of {h}x{w} pixels{read_as}, smaller than "
            f"the {size}x{size} patch; pass a smaller size or drop the small images."
        )


def _grey(chunk: np.ndarray, label: str, log: bool) -> np.ndarray:
    """float64 grey levels ``(m, h, w)`` of a chunk ``(m, h, w, c)``: luminance of RGB(A), the
    log of the intensities when ``log``; NaN/inf and (with ``log``) negative values refused."""
    if chunk.shape[-1] == 1:
        grey = chunk[..., 0].astype(np.float64)
    else:
        grey = chunk[..., :3].astype(np.float64) @ LUMINANCE_WEIGHTS
    if np.issubdtype(chunk.dtype, np.inexact) and not np.isfinite(grey).all():
        n_nan, n_inf = int(np.isnan(grey).sum()), int(np.isinf(grey).sum())
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(grey))[0])
        raise NonFiniteError(
            f"{label} contains {n_nan} NaN and {n_inf} infinite grey level(s) (first at (image, row, "
            f"column) {first} of this chunk); images must be finite. Replace them (np.nan_to_num) or "
            "drop those images."
        )
    if not log:
        return grey
    low = float(chunk.min()) if chunk.dtype != bool else 0.0
    if low < 0:
        raise InvalidInputError(
            f"log=True needs non-negative intensities, but {label} has values down to {low:.4g}. "
            "Shift or rescale the images to [0, max] first, or pass log=False."
        )
    if np.issubdtype(chunk.dtype, np.inexact):
        return np.log(grey + LOG_EPS)
    return np.log1p(grey)


def _positions(n_images: int, n_pos: int, take: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_images, take)`` distinct patch positions per image, uniform, sorted (raster order)."""
    if take >= n_pos:
        return np.broadcast_to(np.arange(n_pos), (n_images, n_pos))
    keys = rng.random((n_images, n_pos))  # the `take` smallest keys are a uniform random subset
    sel = np.argpartition(keys, take - 1, axis=1)[:, :take]
    sel.sort(axis=1)
    return sel


def _plan(blocks: list[tuple[str, np.ndarray]], size: int,
          n_per_image: int | None) -> tuple[list[int], int, int]:
    """Patches per image of each block, the total number of rows and the largest chunk's pixels."""
    takes, total, chunk_pixels, capped = [], 0, 0, []
    for label, arr in blocks:
        m, h, w = arr.shape[:3]
        n_pos = (h - size + 1) * (w - size + 1)
        take = n_pos if n_per_image is None else min(n_per_image, n_pos)
        if n_per_image is not None and n_per_image > n_pos:
            capped.append((label, m, n_pos))
        takes.append(take)
        total += m * take
        step = max(1, _CHUNK_ELEMENTS // max(h * w, n_pos))
        chunk_pixels = max(chunk_pixels, min(m, step) * h * w)
    if capped:
        logger.warning(
            "n_per_image=%d is more than the patch positions of %s; taking every position of those "
            "images instead", n_per_image,
            ", ".join(f"{c[0]} ({c[1]} image(s) of {c[2]} positions)" for c in capped[:5]),
        )
    return takes, total, chunk_pixels


def image_patches(images: Any, size: int = 3, n_per_image: int | None = None, *, log: bool = False,
                  seed: int | None = 0, memory_limit: int | Literal["auto"] | None = "auto") -> np.ndarray:
    """All (or a seeded sample of) the ``size x size`` patches of grey-scale or RGB images.

    Parameters
    ----------
    images : array-like or list of array-like
        One image ``(h, w)``, ``(h, w, 3)``; a stack ``(n, h, w)``, ``(n, h, w, 3)``, ``(n, 1, h, w)``,
        ``(n, 3, h, w)``; or a list of such arrays, possibly of different sizes (e.g. scikit-learn's
        ``load_sample_images().images``). numpy arrays, torch tensors or nested lists of any real
        dtype (uint8, uint16, float16, float32, bool, ...). **The channel axis** is recognised as:
        a last axis of length 1, 3 or 4 (grey, RGB, RGBA; the alpha is dropped) for 3-D and 4-D
        arrays, otherwise axis 1 of length 1, 3 or 4 for 4-D arrays; any other 3-D array is a stack
        of grey images. So a single channels-first ``(3, h, w)`` tensor (torchvision's layout) is
        read as three grey images, with a :class:`~topolens.exceptions.TopolensWarning` (the rule
        does not depend on the array type, so that three images of a ``(n, 28, 28)`` MNIST tensor
        stay three images): pass ``img[None]`` for one channels-first RGB image, or a grey stack
        as ``(n, h, w, 1)`` to silence the warning. A stack of images 3 or 4 pixels wide is read
        as one colour image. RGB is turned into luminance ``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601).
        Intensities are kept on their own scale (no rescaling).
    size : int
        The patch side, >= 2.
    n_per_image : int, optional
        None takes every patch position (``(h - size + 1) * (w - size + 1)`` per image; the memory is
        estimated first). Otherwise that many distinct positions per image, drawn uniformly; when an
        image has fewer positions all of them are taken (with a logging warning).
    log : bool
        Take the log of the grey levels (Lee, Pedersen & Mumford 2003 work with log intensities):
        ``log(1 + x)`` for integer and bool images, ``log(x + LOG_EPS)`` (``LOG_EPS = 1/255``) for
        floating-point ones. Negative intensities are refused.
    seed : int, optional
        Seed of ``numpy.random.default_rng`` for the sampled positions.
    memory_limit : int, "auto" or None
        Budget in bytes for the output and the temporaries (``"auto"``: 80% of the available memory;
        None: no check).

    Returns
    -------
    numpy.ndarray
        ``(n_patches, size * size)`` float64: pixel ``(i, j)`` of a patch at column ``i * size + j``.
        Images come in order; within an image the patches are in raster order of their top-left
        corner (row by row), also when sampled.

    Raises
    ------
    InvalidInputError
        Bad ``size``/``n_per_image``/``seed``, complex or non-numeric images, negative values with
        ``log=True``, an empty list.
    ShapeError
        Empty images, images smaller than the patch, layouts without a recognisable channel axis.
    NonFiniteError
        NaN or infinite intensities.
    MemoryBudgetError
        When the patches would not fit in ``memory_limit``.
    """
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size < 2:
        raise InvalidInputError(f"size must be >= 2 (a 1x1 patch has no contrast), found {size}.")
    size = check_int(size, "size", minimum=2)
    n_per_image = check_int(n_per_image, "n_per_image", minimum=1, allow_none=True)
    if not isinstance(log, (bool, np.bool_)):
        raise InvalidInputError(f"log must be True or False, found {log!r}.")
    seed = check_int(seed, "seed", minimum=0, allow_none=True)
    blocks = []
    for label, given in _blocks(images):
        arr = _channels_last(given, label)
        _check_block(given, arr, label, size)
        blocks.append((label, arr))
    takes, total, chunk_pixels = _plan(blocks, size, n_per_image)
    estimate = total * size * size * 8 + 5 * chunk_pixels * 8
    hint = ("pass n_per_image=<k> to sample k patch positions per image, fewer or smaller images, or a "
            f"smaller size (this is {total:,} patches of {size}x{size})")
    check_memory(estimate, memory_limit, what=f"{total:,} image patches", hint=hint)
    rng = np.random.default_rng(seed)
    out = np.empty((total, size * size))
    row = 0
    for (label, arr), take in zip(blocks, takes, strict=True):
        m, h, w = arr.shape[:3]
        n_cols = w - size + 1
        n_pos = (h - size + 1) * n_cols
        step = max(1, _CHUNK_ELEMENTS // max(h * w, n_pos))
        for start in range(0, m, step):
            grey = _grey(arr[start:start + step], label, log)
            windows = sliding_window_view(grey, (size, size), axis=(1, 2))  # (c, H', W', s, s)
            if take == n_pos:
                block = windows.reshape(-1, size * size)
            else:
                pos = _positions(len(grey), n_pos, take, rng)
                block = windows[np.arange(len(grey))[:, None], pos // n_cols, pos % n_cols]
                block = block.reshape(-1, size * size)
            out[row:row + len(block)] = block
            row += len(block)
    return out


def high_contrast(x: Any, top: float = 0.2, *, size: int | None = None,
                  return_index: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The fraction ``top`` of the patches with the largest contrast (D-norm), in their original order.

    Parameters
    ----------
    x : array-like
        ``(n, size * size)`` patches as rows (or ``(n, size, size)``), e.g. from :func:`image_patches`.
    top : float
        Fraction in (0, 1] to keep: ``round(top * n)`` rows (halves rounded up), at least one. Carlsson
        et al. (2008) keep the top 20% of Lee, Pedersen & Mumford's log-intensity patches.
    size : int, optional
        The patch side (checked against ``x``; inferred when omitted).
    return_index : bool
        Also return the indices of the kept rows.

    Returns
    -------
    patches : numpy.ndarray
        ``(n_keep, size * size)`` float64, the kept rows in their original order (ties at the cut are
        broken stably: the earlier row is kept).
    index : numpy.ndarray
        ``(n_keep,)`` ascending int64 row indices into ``x`` (only with ``return_index``).

    Raises
    ------
    InvalidInputError
        If ``top`` is not in (0, 1], or if it would keep patches with zero contrast (constant patches
        have no point on the contrast sphere); the message says the largest ``top`` that does not.
    """
    top = _fraction(top, "top")
    rows, s, _ = _patch_rows(x, "patches", size)
    if len(rows) == 0:
        raise ShapeError("patches is empty (0 rows); pass at least one patch.")
    norms = np.atleast_1d(dnorm(rows, size=s))
    n_keep = _keep_count(top, len(rows))
    order = np.argsort(-norms, kind="stable")[:n_keep]
    zero = _constant_rows(rows[order], norms[order])
    if zero.any():
        n_contrast = int((~_constant_rows(rows, norms)).sum())
        raise InvalidInputError(
            f"top={top} keeps {n_keep} of {len(rows)} patches, but only {n_contrast} have non-zero "
            f"contrast (the rest are constant). Pass top <= {n_contrast / len(rows):.6g}, or drop the "
            "constant patches first."
        )
    index = np.sort(order)
    kept = rows[index]
    return (kept, index) if return_index else kept
