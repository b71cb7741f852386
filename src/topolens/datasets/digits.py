"""scikit-learn's 8x8 handwritten digits, in the same (images, labels) format as MNIST."""

from __future__ import annotations

import numpy as np

__all__ = ["load_digits"]


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Load scikit-learn's handwritten digits (1797 images of 8x8 pixels, bundled with it).

    scikit-learn stores the pixels as counts 0 to 16 (each pixel is the number of "on"
    pixels in a 4x4 block of the original 32x32 bitmap). They are returned divided by
    16, as float32 in ``[0, 1]``, so they can be fed to :func:`as_tensor_dataset`
    (which keeps float images as they are) or to a network directly.

    Returns
    -------
    images : numpy.ndarray
        float32 array of shape ``(1797, 8, 8)`` with values in ``[0, 1]``.
    labels : numpy.ndarray
        int64 array of shape ``(1797,)`` with the digits 0 to 9.

    Examples
    --------
    >>> images, labels = load_digits()
    >>> images.shape, images.dtype, float(images.max())
    ((1797, 8, 8), dtype('float32'), 1.0)
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images = (np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0)).astype(np.float32)
    labels = np.asarray(bunch.target, dtype=np.int64)
    return images, labels
