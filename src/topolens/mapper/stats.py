"""Statistics of Mapper nodes for activations: what each node holds and how the model sees it.

All statistics are computed at once from the sparse incidence matrix (points x nodes), so a
graph of thousands of nodes over 50,000 inputs takes milliseconds, not a Python loop per node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import _to_numpy
from ..exceptions import InvalidInputError, ShapeError
from .graph import MapperGraph

__all__ = ["NodeStatistics", "encode_labels", "node_statistics"]


@dataclass
class NodeStatistics:
    """Per-node statistics (arrays indexed by node).

    Attributes
    ----------
    size : ndarray (n_nodes,)
    mean_lens : ndarray (n_nodes, d) or None
    class_names : list of str or None
        Names of the label codes used in ``label_counts``.
    label_counts : ndarray (n_nodes, n_classes) or None
    purity : ndarray (n_nodes,) or None
        Share of the most frequent label.
    entropy : ndarray (n_nodes,) or None
        Shannon entropy of the label distribution, in bits.
    mean_activation : ndarray (n_nodes, n_neurons) or None
    top_neurons : ndarray (n_nodes, k) or None
        Indices of the neurons with the largest mean activation, largest first.
    misclassification : ndarray (n_nodes,) or None
        Share of members whose prediction differs from their label.
    """

    size: np.ndarray
    mean_lens: np.ndarray | None = None
    class_names: list[str] | None = None
    label_counts: np.ndarray | None = None
    purity: np.ndarray | None = None
    entropy: np.ndarray | None = None
    mean_activation: np.ndarray | None = None
    top_neurons: np.ndarray | None = None
    misclassification: np.ndarray | None = None

    @property
    def n_nodes(self) -> int:
        return int(self.size.size)

    def top_labels(self, node: int, k: int = 3) -> list[tuple[str, int]]:
        """The ``k`` most frequent labels of ``node`` as (name, count), most frequent first."""
        if self.label_counts is None or self.class_names is None:
            return []
        counts = self.label_counts[node]
        order = np.lexsort((np.arange(counts.size), -counts))[:k]
        return [(self.class_names[i], int(counts[i])) for i in order if counts[i] > 0]

    def scalar(self, name: str) -> np.ndarray | None:
        """A per-node numeric statistic by name (``size``, ``purity``, ``entropy``,
        ``mean_lens``, ``misclassification``), or None when it was not computed."""
        if name == "mean_lens":
            return None if self.mean_lens is None else self.mean_lens[:, 0]
        if name not in ("size", "purity", "entropy", "misclassification"):
            raise InvalidInputError(
                f"unknown node statistic {name!r}; use size, purity, entropy, mean_lens or "
                "misclassification."
            )
        return getattr(self, name)

    def available(self) -> list[str]:
        """Names of the scalar statistics that were computed."""
        return [n for n in ("size", "purity", "entropy", "mean_lens", "misclassification")
                if self.scalar(n) is not None]

    def rows(self, k_labels: int = 3) -> list[dict[str, Any]]:
        """One dict per node (for tables and CSV)."""
        out = []
        for i in range(self.n_nodes):
            row: dict[str, Any] = {"node": i, "size": int(self.size[i])}
            for name in self.available():
                if name != "size":
                    row[name] = float(self.scalar(name)[i])
            if self.label_counts is not None:
                row["top_labels"] = ", ".join(f"{n} ({c})" for n, c in self.top_labels(i, k_labels))
            if self.top_neurons is not None:
                row["top_neurons"] = ", ".join(str(int(j)) for j in self.top_neurons[i])
            out.append(row)
        return out


def _whole(a: np.ndarray) -> bool:
    """Numeric with only whole, non-negative values (usable as class codes as they are)."""
    if a.dtype == bool or not np.issubdtype(a.dtype, np.number):
        return False
    if a.size == 0:
        return True
    return bool(np.isfinite(a).all() and (a >= 0).all() and (np.floor(a) == a).all())


def encode_labels(labels: Any, n: int, *, predictions: Any = None, class_names: Any = None
                  ) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Class codes ``0..C-1`` for labels (and predictions, coded the same way) and the names.

    Whole non-negative numbers (ints, or floats such as 3.0) are used as codes as they are, named
    by ``class_names`` or their value. Anything else (strings, negative numbers) is coded by its
    sorted distinct values, which become the names; predictions must then be among those values.

    Returns
    -------
    codes : ndarray of int64 (n,)
    prediction_codes : ndarray of int64 (n,) or None
    names : list of str
    """
    lab = np.asarray(_to_numpy(labels))
    if lab.shape != (n,):
        raise ShapeError(f"labels must have one entry per point, shape ({n},); got {lab.shape}.")
    pred = None if predictions is None else np.asarray(_to_numpy(predictions))
    if pred is not None and pred.shape != (n,):
        raise ShapeError(f"predictions must have shape ({n},); got {pred.shape}.")
    for what, arr in (("labels", lab), ("predictions", pred)):
        bad = ~np.isfinite(arr) if arr is not None and np.issubdtype(arr.dtype, np.inexact) else None
        if bad is not None and bad.any():
            raise InvalidInputError(
                f"{what} hold {int(bad.sum())} NaN or infinite value(s) (first at index "
                f"{int(np.flatnonzero(bad)[0])}); every point needs a class. Drop "
                f"those points, or code a missing {what[:-1]} as a class of its own (e.g. -1)."
            )
    if _whole(lab):
        codes = lab.astype(np.int64)
        n_cls = int(codes.max(initial=-1)) + 1
        if class_names is None:
            names = [str(i) for i in range(n_cls)]
        else:
            names = [str(c) for c in class_names]
            if len(names) < n_cls:
                raise InvalidInputError(
                    f"labels use class code {n_cls - 1} but only {len(names)} class name(s) were given."
                )
        pcodes = None
        if pred is not None:
            if not _whole(pred):
                raise InvalidInputError(
                    "labels are class codes (whole numbers >= 0) but predictions are not; code "
                    "predictions like the labels."
                )
            pcodes = pred.astype(np.int64)
        return codes, pcodes, names
    if class_names is not None:
        raise InvalidInputError(
            "class_names name the integer class codes 0..C-1; these labels are not such codes "
            f"(dtype {lab.dtype}), so their own values are the names. Drop class_names."
        )
    numeric = np.issubdtype(lab.dtype, np.number) and lab.dtype != bool
    values = lab if numeric else lab.astype(str)
    uniq, codes = np.unique(values, return_inverse=True)
    pcodes = None
    if pred is not None:
        pv = pred.astype(values.dtype) if numeric and np.issubdtype(pred.dtype, np.number) else pred.astype(str)
        if not numeric:
            uniq_cmp = uniq
        else:
            uniq_cmp = uniq.astype(pv.dtype)
        pos = np.clip(np.searchsorted(uniq_cmp, pv), 0, max(len(uniq) - 1, 0))
        unknown = np.unique(pv[uniq_cmp[pos] != pv]) if len(uniq) else np.unique(pv)
        if unknown.size:
            raise InvalidInputError(
                f"predictions hold classes that no label has ({unknown[:5].tolist()}); code "
                "predictions like the labels."
            )
        pcodes = pos.astype(np.int64)
    return codes.astype(np.int64), pcodes, [str(u) for u in uniq]


def node_statistics(graph: MapperGraph, points: Any = None, *, labels: Any = None,
                    predictions: Any = None, lens: Any = None, class_names: Any = None,
                    top_k: int = 5) -> NodeStatistics:
    """Statistics of every node of ``graph``.

    Parameters
    ----------
    graph : MapperGraph
    points : array-like (n_points, n_neurons), optional
        The activations the graph was built from: gives the mean activation vector of each node
        and its ``top_k`` neurons.
    labels : array-like (n_points,), optional
        Class of each input (ints 0..C-1 or any values, e.g. strings).
    predictions : array-like (n_points,), optional
        The model's predicted class, coded like ``labels``; gives the misclassification rate.
    lens : array-like (n_points,) or (n_points, d), optional
        Lens values; gives the mean lens value.
    class_names : sequence of str, optional
        Names of integer class codes.
    top_k : int, default 5
    """
    n = graph.n_points
    inc = graph.incidence().astype(np.float64)
    size = graph.sizes
    inv = 1.0 / np.maximum(size, 1)
    stats = NodeStatistics(size=size)
    if lens is not None:
        lv = np.asarray(_to_numpy(lens), dtype=np.float64)
        lv = lv[:, None] if lv.ndim == 1 else lv
        if lv.shape[0] != n:
            raise ShapeError(f"lens must have one row per point ({n}); got shape {lv.shape}.")
        stats.mean_lens = np.asarray(inc.T @ lv) * inv[:, None]
    if points is not None:
        x = np.asarray(_to_numpy(points))
        if x.ndim != 2 or x.shape[0] != n:
            raise ShapeError(
                f"points must have shape ({n}, n_neurons), the activations the graph was built "
                f"from; got {x.shape}."
            )
        mean = np.asarray(inc.T @ x.astype(np.float64, copy=False)) * inv[:, None]
        stats.mean_activation = mean.astype(np.float32)
        k = min(int(top_k), x.shape[1])
        stats.top_neurons = np.argsort(-mean, axis=1, kind="stable")[:, :k]
    if labels is not None:
        codes, pcodes, names = encode_labels(labels, n, predictions=predictions,
                                             class_names=class_names)
        onehot = np.zeros((n, len(names)))
        onehot[np.arange(n), codes] = 1.0
        counts = np.rint(np.asarray(inc.T @ onehot)).astype(np.int64)
        p = counts * inv[:, None]
        stats.class_names = names
        stats.label_counts = counts
        stats.purity = p.max(axis=1) if names else np.zeros(graph.n_nodes)
        with np.errstate(divide="ignore", invalid="ignore"):
            stats.entropy = np.abs(-np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1))
        if pcodes is not None:
            wrong = (pcodes != codes).astype(np.float64)
            stats.misclassification = np.asarray(inc.T @ wrong) * inv
    elif predictions is not None:
        raise InvalidInputError("predictions need labels to compare with; pass labels= too.")
    return stats
