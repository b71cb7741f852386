"""Turn Mapper graphs and node statistics into the explorer's payload (plain JSON data).

The payload format is documented in :mod:`topolens.viz.mapper_html`; this module fills it from
:class:`~topolens.mapper.MapperGraph` and :class:`~topolens.mapper.NodeStatistics`. Images of a
few member inputs per node are embedded (as raw uint8 pixels, base64) so the inspector can show
them offline; at most ``images_per_node`` per node, chosen evenly along the node's members.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import _to_numpy
from ..exceptions import InvalidInputError, ShapeError
from ..mapper import MapperGraph, NodeStatistics

__all__ = ["ExplorerLayer", "explorer_payload", "images_to_uint8"]


@dataclass
class ExplorerLayer:
    """One graph of the explorer: its name, graph, statistics and (optional) layout."""

    name: str
    graph: MapperGraph
    stats: NodeStatistics
    layout: np.ndarray | None = None


def images_to_uint8(images: Any) -> np.ndarray:
    """Images as uint8 ``(n, height, width, channels)`` with 1 or 3 channels.

    Accepts ``(n, h, w)``, ``(n, 1|3, h, w)`` (torch layout) or ``(n, h, w, 1|3)``; floats are
    taken to be in [0, 1] (or [0, 255] when their maximum exceeds 1.5) and are clipped.
    """
    a = np.asarray(_to_numpy(images))
    if a.ndim == 3:
        a = a[..., None]
    elif a.ndim == 4 and a.shape[1] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.transpose(a, (0, 2, 3, 1))
    if a.ndim != 4 or a.shape[-1] not in (1, 3):
        raise ShapeError(
            f"images must be (n, h, w), (n, c, h, w) or (n, h, w, c) with 1 or 3 channels; got "
            f"shape {np.shape(images)}."
        )
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise InvalidInputError("images contain NaN or infinite values.")
    scale = 1.0 if a.max(initial=0.0) > 1.5 else 255.0
    lo = 0.0 if a.min(initial=0.0) >= 0 else a.min()
    if lo < 0:  # normalised images: map the range to [0, 255]
        a = (a - lo) / max(a.max() - lo, 1e-12)
        scale = 255.0
    return np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)


def _codes_of(values: Any, n: int, name: str) -> np.ndarray:
    a = np.asarray(_to_numpy(values))
    if a.shape != (n,):
        raise ShapeError(f"{name} must have shape ({n},); got {a.shape}.")
    if a.size and (not np.issubdtype(a.dtype, np.number) or a.dtype == bool
                   or not (np.floor(a) == a).all() or a.min() < 0):
        raise InvalidInputError(
            f"{name} must be class codes 0..C-1 (whole numbers), found dtype {a.dtype}; code them "
            "first, e.g. with topolens.mapper.stats.encode_labels."
        )
    return a.astype(np.int64)


def _sample(members: np.ndarray, k: int) -> np.ndarray:
    if members.size <= k:
        return members
    return members[np.unique(np.linspace(0, members.size - 1, k).round().astype(np.int64))]


def _finite(v: Any) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def explorer_payload(layers: Sequence[ExplorerLayer], *, labels: Any = None,
                     class_names: Sequence[str] | None = None, predictions: Any = None,
                     images: Any = None, images_per_node: int = 12, top_neurons: int = 8,
                     title: str | None = None, seed: int = 0) -> dict[str, Any]:
    """The explorer payload of one or more Mapper graphs over the same inputs.

    Parameters
    ----------
    layers : sequence of ExplorerLayer
        Graphs over the same ``n_points`` inputs (one per network layer).
    labels : array-like (n_inputs,), optional
        Class codes 0..C-1; names from ``class_names`` (default: the codes as text). Code other
        labels first with :func:`topolens.mapper.stats.encode_labels`.
    predictions : array-like (n_inputs,), optional
        Predicted class codes.
    images : array-like, optional
        One image per input (see :func:`images_to_uint8`).
    images_per_node : int
        Thumbnails embedded per node.
    top_neurons : int
        Neurons listed per node (by mean activation).
    """
    if not layers:
        raise InvalidInputError("the explorer needs at least one Mapper graph.")
    n = layers[0].graph.n_points
    for lay in layers:
        if lay.graph.n_points != n:
            raise InvalidInputError(
                f"layer {lay.name!r} has a graph over {lay.graph.n_points} inputs but the first over "
                f"{n}; the cross-layer view needs graphs over the same inputs."
            )
    payload: dict[str, Any] = {"title": title, "labels": None, "predictions": None, "images": None}
    if labels is not None:
        lab = _codes_of(labels, n, "labels")
        n_cls = int(lab.max(initial=-1)) + 1
        names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(n_cls)]
        if len(names) < n_cls:
            raise InvalidInputError(f"labels use {n_cls} classes but {len(names)} class name(s) were given.")
        payload["labels"] = {"names": names, "of_input": lab.tolist()}
    if predictions is not None:
        pred = _codes_of(predictions, n, "predictions")
        payload["predictions"] = pred.tolist()
    img = None
    if images is not None:
        img = images_to_uint8(images)
        if img.shape[0] != n:
            raise ShapeError(f"images must hold one image per input ({n}); got {img.shape[0]}.")
    shown: set[int] = set()
    out_layers = []
    for lay in layers:
        g, st = lay.graph, lay.stats
        xy = lay.layout if lay.layout is not None else g.layout(seed=seed)
        nodes = []
        for i, mem in enumerate(g.members):
            stats: dict[str, Any] = {"size": int(mem.size)}
            for name in st.available():
                if name != "size":
                    stats[name] = _finite(st.scalar(name)[i])
            node: dict[str, Any] = {"id": i, "members": mem.tolist(),
                                    "x": float(xy[i, 0]), "y": float(xy[i, 1]), "stats": stats,
                                    "label_counts": [], "top_neurons": [], "sample": []}
            if st.label_counts is not None and payload["labels"] is not None:
                counts = st.label_counts[i]
                order = np.lexsort((np.arange(counts.size), -counts))
                node["label_counts"] = [[int(c), int(counts[c])] for c in order if counts[c] > 0]
            if st.mean_activation is not None:
                mean = st.mean_activation[i]
                idx = np.argsort(-mean, kind="stable")[:top_neurons]
                node["top_neurons"] = [[int(j), float(mean[j])] for j in idx]
            if img is not None:
                sample = _sample(mem, images_per_node)
                node["sample"] = sample.tolist()
                shown.update(sample.tolist())
            nodes.append(node)
        edges = [[int(a), int(b), int(s), float(j)]
                 for (a, b), s, j in zip(g.edges, g.shared, g.jaccard, strict=True)]
        out_layers.append({"name": str(lay.name), "n_inputs": n, "color_stats": st.available(),
                           "nodes": nodes, "edges": edges})
    payload["layers"] = out_layers
    if img is not None:
        index = np.array(sorted(shown), dtype=np.int64)
        payload["images"] = {
            "height": int(img.shape[1]), "width": int(img.shape[2]), "channels": int(img.shape[3]),
            "index": index.tolist(),
            "data": base64.b64encode(np.ascontiguousarray(img[index]).tobytes()).decode("ascii"),
        }
    return payload

