"""MNIST and Fashion-MNIST loaders, and the small MNIST sample bundled with topolens.

Files are looked for under the data root (see :func:`~topolens.datasets.data_root`)
in the layout of the original distribution::

    <root>/mnist/train-images-idx3-ubyte.gz
    <root>/mnist/train-labels-idx1-ubyte.gz
    <root>/mnist/t10k-images-idx3-ubyte.gz
    <root>/mnist/t10k-labels-idx1-ubyte.gz
    <root>/fashion-mnist/...            (same four names)

Uncompressed files (the same names without ``.gz``) are accepted too.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..exceptions import DataNotFoundError, IntegrityError, InvalidInputError
from . import _download
from ._root import DATA_ENV_VAR, _resolve_root
from .idx import read_idx

__all__ = [
    "FASHION_MNIST_CLASSES",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_sample",
]

#: Class names of Fashion-MNIST, indexed by label.
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


@dataclass(frozen=True)
class _Spec:
    name: str  # human-readable
    folder: str  # sub-folder of the data root
    mirrors: tuple[str, ...]
    # SHA-256 of the *decompressed* IDX content of each file. The original .gz files
    # have been re-compressed by several mirrors, so the compressed bytes (and their
    # MD5) differ between copies while the IDX content is identical.
    sha256: dict[str, str]


_MNIST = _Spec(
    name="MNIST",
    folder="mnist",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    sha256={
        "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
)

_FASHION_MNIST = _Spec(
    name="Fashion-MNIST",
    folder="fashion-mnist",
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    sha256={
        "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
)

_SAMPLE_NAME = "mnist_sample.npz"


def _check_split(split: str) -> str:
    if split not in _FILES:
        raise InvalidInputError(f"split must be 'train' or 'test', got {split!r}.")
    return split


def _find(folder: Path, gz_name: str) -> Path | None:
    """Return the existing file for ``gz_name`` (compressed or not), or None."""
    for candidate in (folder / gz_name, folder / gz_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _validate(
    images: np.ndarray, labels: np.ndarray, paths: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    img_path, lbl_path = paths
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise IntegrityError(
            f"{img_path}: expected uint8 images of shape (N, 28, 28), found "
            f"{images.dtype} of shape {images.shape}."
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IntegrityError(
            f"{lbl_path}: expected a 1-D uint8 label array, found {labels.dtype} of shape {labels.shape}."
        )
    if images.shape[0] != labels.shape[0]:
        raise IntegrityError(
            f"{img_path} holds {images.shape[0]} images but {lbl_path} holds "
            f"{labels.shape[0]} labels; one of the files belongs to another split or data set."
        )
    if labels.size and int(labels.max()) > 9:
        raise IntegrityError(f"{lbl_path}: labels must lie in 0..9, found {int(labels.max())}.")
    return images, labels.astype(np.int64)


def _load(
    spec: _Spec, root: str | os.PathLike | None, split: str, download: bool
) -> tuple[np.ndarray, np.ndarray]:
    split = _check_split(split)
    base, how = _resolve_root(root)
    folder = base / spec.folder
    names = _FILES[split]
    found = [_find(folder, n) for n in names]
    missing = [n for n, f in zip(names, found, strict=True) if f is None]
    if missing and not download:
        listing = "\n  ".join(str(folder / n) for n in missing)
        raise DataNotFoundError(
            f"{spec.name} {split} split not found. Looked for:\n  {listing}\n"
            f"The data root {base} comes from {how}. Set the folder with the 'root' argument "
            f"or the {DATA_ENV_VAR} environment variable (files go in <root>/{spec.folder}/), "
            f"or pass download=True to fetch the files into {folder} from {spec.mirrors[0]}"
            + (" (or use load_mnist_sample() for a small offline sample)." if spec is _MNIST else ".")
        )
    for i, name in enumerate(names):
        if found[i] is None:
            found[i] = _download.download_verified(
                name, spec.mirrors, folder / name, spec.sha256[name]
            )
    img_path, lbl_path = (Path(p) for p in found)  # type: ignore[arg-type]
    images = read_idx(img_path)
    labels = read_idx(lbl_path)
    return _validate(images, labels, (str(img_path), str(lbl_path)))


def load_mnist(
    root: str | os.PathLike | None = None, split: str = "train", download: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Load the MNIST handwritten digits.

    Parameters
    ----------
    root : path-like, optional
        Data root; the files are read from ``<root>/mnist/``. Defaults to
        :func:`~topolens.datasets.data_root` (``TOPOLENS_DATA``, else ``~/.cache/topolens``).
    split : {"train", "test"}, optional
        ``"train"`` (60000 images) or ``"test"`` (10000 images).
    download : bool, optional
        When the files are missing, download them from a list of mirrors, verify
        their SHA-256 checksums and save them (atomically) under ``<root>/mnist/``.
        Existing files are never re-downloaded.

    Returns
    -------
    images : numpy.ndarray
        uint8 array of shape ``(N, 28, 28)``, pixel values 0 (background) to 255.
    labels : numpy.ndarray
        int64 array of shape ``(N,)`` with the digits 0 to 9.

    Raises
    ------
    DataNotFoundError
        If the files are missing and ``download`` is false (the message says where it
        looked and how to fix it), or if no mirror could be reached.
    IntegrityError
        If a file is corrupt or truncated, or a download fails checksum verification.
    InvalidInputError
        If ``split`` is not ``"train"`` or ``"test"``.

    See Also
    --------
    load_mnist_sample : a 7000-image subset bundled with topolens, always available offline.
    """
    return _load(_MNIST, root, split, download)


def load_fashion_mnist(
    root: str | os.PathLike | None = None, split: str = "train", download: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Load Fashion-MNIST (Zalando), 28x28 grey images of 10 clothing classes.

    Parameters
    ----------
    root : path-like, optional
        Data root; the files are read from ``<root>/fashion-mnist/``. Defaults to
        :func:`~topolens.datasets.data_root`.
    split : {"train", "test"}, optional
        ``"train"`` (60000 images) or ``"test"`` (10000 images).
    download : bool, optional
        When the files are missing, download, verify and save them under
        ``<root>/fashion-mnist/``.

    Returns
    -------
    images : numpy.ndarray
        uint8 array of shape ``(N, 28, 28)``.
    labels : numpy.ndarray
        int64 array of shape ``(N,)``; class names in :data:`FASHION_MNIST_CLASSES`.

    Raises
    ------
    DataNotFoundError
        If the files are missing and ``download`` is false, or no mirror could be reached.
    IntegrityError
        If a file is corrupt or truncated, or a download fails checksum verification.
    InvalidInputError
        If ``split`` is not ``"train"`` or ``"test"``.
    """
    return _load(_FASHION_MNIST, root, split, download)




def load_mnist_sample(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load the small MNIST sample shipped inside topolens (no files or network needed).

    The sample is a class-balanced random subset of MNIST drawn with a fixed seed by
    ``python -m topolens.datasets._make_sample``: 600 images per digit from the
    training set (6000 in all) and 100 per digit from the test set (1000 in all),
    kept in their original order.

    Parameters
    ----------
    split : {"train", "test"}, optional
        Which part of the sample to return.

    Returns
    -------
    images : numpy.ndarray
        uint8 array of shape ``(N, 28, 28)``.
    labels : numpy.ndarray
        int64 array of shape ``(N,)``.

    Raises
    ------
    InvalidInputError
        If ``split`` is not ``"train"`` or ``"test"``.
    IntegrityError
        If the bundled file is damaged (reinstall topolens).

    See Also
    --------
    sample_indices : positions of the sample images in the full MNIST split.
    """
    split = _check_split(split)
    data = _read_sample()
    return _validate(
        data[f"{split}_images"], data[f"{split}_labels"], ("mnist_sample.npz",) * 2
    )


def sample_indices(split: str = "train") -> np.ndarray:
    """Return the indices of the bundled sample's images in the full MNIST split.

    Parameters
    ----------
    split : {"train", "test"}, optional
        Which part of the sample.

    Returns
    -------
    numpy.ndarray
        int64 array, increasing, aligned with :func:`load_mnist_sample`.
    """
    split = _check_split(split)
    return _read_sample()[f"{split}_indices"].astype(np.int64)


def _read_sample() -> dict[str, np.ndarray]:
    ref = resources.files("topolens.datasets") / "_data" / _SAMPLE_NAME
    if not ref.is_file():
        raise DataNotFoundError(
            f"The bundled MNIST sample is missing ({ref}); the installation is incomplete. "
            "Reinstall topolens, or regenerate it with python -m topolens.datasets._make_sample."
        )
    try:
        with resources.as_file(ref) as path, np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise IntegrityError(
            f"{ref}: the bundled MNIST sample is damaged ({exc}); reinstall topolens."
        ) from exc
    needed = [f"{s}_{k}" for s in _FILES for k in ("images", "labels", "indices")]
    absent = [k for k in needed if k not in data]
    if absent:
        raise IntegrityError(f"{path}: the bundled MNIST sample lacks the arrays {absent}.")
    return data
