"""Build the MNIST sample bundled with topolens (``_data/mnist_sample.npz``).

Run once, from a folder holding the original MNIST IDX files::

    python -m topolens.datasets._make_sample --root /path/to/data   # reads <root>/mnist/

The sample is a class-balanced random subset drawn with a fixed seed: ``--train-per-class``
images of each digit from the training set and ``--test-per-class`` from the test set,
kept in their original order. The archive stores, per split, ``*_images`` (uint8,
``(N, 28, 28)``), ``*_labels`` (uint8) and ``*_indices`` (int64 positions in the full
split), plus ``seed``. Re-running with the same arguments gives the same arrays.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from .._io import atomic_path
from .mnist import load_mnist

DEFAULT_SEED = 20240607
DEFAULT_OUT = Path(__file__).resolve().parent / "_data" / "mnist_sample.npz"


def balanced_indices(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``per_class`` indices of each class without replacement; return them sorted.

    Parameters
    ----------
    labels : numpy.ndarray
        1-D integer labels.
    per_class : int
        Number of indices per class.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        Sorted int64 indices, ``per_class`` per class.
    """
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if members.size < per_class:
            raise ValueError(f"class {c} has only {members.size} examples, {per_class} requested")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def make_sample(
    root: str | os.PathLike | None = None,
    out: str | os.PathLike = DEFAULT_OUT,
    *,
    train_per_class: int = 600,
    test_per_class: int = 100,
    seed: int = DEFAULT_SEED,
) -> Path:
    """Draw the sample from the MNIST files under ``root`` and save it atomically to ``out``.

    Parameters
    ----------
    root : path-like, optional
        Data root holding ``mnist/``; defaults to :func:`~topolens.datasets.data_root`.
    out : path-like, optional
        Destination ``.npz`` file.
    train_per_class, test_per_class : int, optional
        Images per digit drawn from each split.
    seed : int, optional
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {"seed": np.array(seed, dtype=np.int64)}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        images, labels = load_mnist(root, split=split)
        idx = balanced_indices(labels, per_class, rng)
        arrays[f"{split}_images"] = images[idx]
        arrays[f"{split}_labels"] = labels[idx].astype(np.uint8)
        arrays[f"{split}_indices"] = idx
    out = Path(out)
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    out.chmod(0o644)  # the temporary file was created private (0600)
    return out


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="data root holding mnist/ (default: data_root())")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output .npz (default: %(default)s)")
    parser.add_argument("--train-per-class", type=int, default=600)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    out = make_sample(
        args.root, args.out, train_per_class=args.train_per_class,
        test_per_class=args.test_per_class, seed=args.seed,
    )
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
