"""Conversion of (images, labels) arrays to a PyTorch data set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import _to_numpy
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError

if TYPE_CHECKING:  # pragma: no cover
    from torch.utils.data import TensorDataset

__all__ = ["as_tensor_dataset"]


def as_tensor_dataset(images: Any, labels: Any) -> TensorDataset:
    """Wrap images and labels in a :class:`torch.utils.data.TensorDataset`.

    Normalisation: uint8 images (0 to 255, as returned by :func:`load_mnist`) are
    divided by 255, giving float32 values in ``[0, 1]``. Floating-point images are
    assumed to be in ``[0, 1]`` already (as returned by :func:`load_digits`) and are
    only cast to float32. No mean/std standardisation is applied; add it in the model
    or a transform if wanted.

    Parameters
    ----------
    images : array-like or torch.Tensor
        ``(N, H, W)`` (a channel axis is added) or ``(N, C, H, W)``; dtype uint8 or
        floating point with values in ``[0, 1]``.
    labels : array-like or torch.Tensor
        ``(N,)`` integer class labels.

    Returns
    -------
    torch.utils.data.TensorDataset
        Items are ``(image, label)`` with ``image`` a float32 tensor of shape
        ``(C, H, W)`` (``C = 1`` for 3-D input) and ``label`` an int64 scalar tensor.
        The tensors do not share memory with the inputs.

    Raises
    ------
    ShapeError
        If ``images`` is not 3-D or 4-D, ``labels`` is not 1-D, or their lengths differ.
    InvalidInputError
        If the dtypes are unsupported, float images leave ``[0, 1]``, or labels are
        not integers.
    NonFiniteError
        If float images hold NaN or infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> ds = as_tensor_dataset(np.full((2, 28, 28), 255, np.uint8), np.array([3, 7]))
    >>> x, y = ds[0]
    >>> tuple(x.shape), float(x.max()), int(y)
    ((1, 28, 28), 1.0, 3)
    """
    import torch
    from torch.utils.data import TensorDataset

    x = _to_numpy(images)
    y = _to_numpy(labels)
    if x.ndim not in (3, 4):
        raise ShapeError(
            f"images must have shape (N, H, W) or (N, C, H, W), got shape {x.shape}."
        )
    if y.ndim != 1:
        raise ShapeError(f"labels must have shape (N,), got shape {y.shape}.")
    if x.shape[0] != y.shape[0]:
        raise ShapeError(f"got {x.shape[0]} images but {y.shape[0]} labels; they must match.")
    if x.dtype == np.uint8:
        xf = x.astype(np.float32) / np.float32(255.0)
    elif np.issubdtype(x.dtype, np.floating):
        xf = np.array(x, dtype=np.float32, copy=True)
        if xf.size:
            if not np.isfinite(xf).all():
                raise NonFiniteError("images hold NaN or infinite values.")
            lo, hi = float(xf.min()), float(xf.max())
            if lo < 0.0 or hi > 1.0:
                raise InvalidInputError(
                    f"float images must lie in [0, 1], found values in [{lo:g}, {hi:g}]. "
                    "Pass uint8 images (divided by 255 here) or rescale them first."
                )
    else:
        raise InvalidInputError(
            f"images must be uint8 (0-255) or floating point in [0, 1], got dtype {x.dtype}."
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise InvalidInputError(f"labels must be integers, got dtype {y.dtype}.")
    if x.ndim == 3:
        xf = xf[:, None, :, :]
    xt = torch.from_numpy(np.ascontiguousarray(xf))
    yt = torch.from_numpy(y.astype(np.int64, copy=True))
    return TensorDataset(xt, yt)
