"""Data sets for examples, tests and experiments.

Images come back as ``(images, labels)``: uint8 ``(N, 28, 28)`` images and int64
``(N,)`` labels for MNIST and Fashion-MNIST (:func:`load_digits` returns float32
images in ``[0, 1]``). :func:`as_tensor_dataset` turns them into a PyTorch data set.

Data root
---------
Downloaded and user-provided files live under one folder, chosen by
:func:`data_root`: the ``root`` argument of a loader, else the ``TOPOLENS_DATA``
environment variable, else ``~/.cache/topolens``. Each data set has its own
sub-folder in the layout of its original distribution (``<root>/mnist/``,
``<root>/fashion-mnist/``). Nothing is downloaded unless ``download=True`` is
passed; downloads are checksum-verified and written atomically.

:func:`load_mnist_sample` needs neither files nor network: a class-balanced
subset of MNIST (6000 train + 1000 test images) ships inside the package.

Graphs: :func:`load_tu` reads the TU benchmark sets (``<root>/tu/``); :func:`make_cycles` and
:func:`make_necklaces` generate TOGL's synthetic CYCLES and NECKLACES sets from a seed.
"""

from __future__ import annotations

from ._root import DATA_ENV_VAR, data_root
from .digits import load_digits
from .idx import read_idx, write_idx
from .mnist import (
    FASHION_MNIST_CLASSES,
    load_fashion_mnist,
    load_mnist,
    load_mnist_sample,
    sample_indices,
)
from .synthetic_graphs import make_cycles, make_necklaces
from .tensors import as_tensor_dataset
from .tu import TU_DATASETS, Graph, GraphDataset, load_tu

__all__ = [
    "DATA_ENV_VAR",
    "FASHION_MNIST_CLASSES",
    "TU_DATASETS",
    "Graph",
    "GraphDataset",
    "as_tensor_dataset",
    "data_root",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_sample",
    "load_tu",
    "make_cycles",
    "make_necklaces",
    "read_idx",
    "sample_indices",
    "write_idx",
]
