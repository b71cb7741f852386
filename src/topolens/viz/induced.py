"""Drawings of input-induced graphs: a persistent subgraph on the network's layers."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import InvalidInputError
from ..graphs.induced import InducedGraph
from ..graphs.unroll import UnrolledNetwork
from .diagrams import _new_axes

__all__ = ["plot_subgraph", "subgraph_persistence_text"]

NEURON_COLOR = "#c0392b"
EDGE_RGB = (0.0, 0.0, 0.55)


def subgraph_persistence_text(graph: InducedGraph, rank: int = 0) -> str:
    """The persistence of a subgraph as a reader-facing number.

    ``"0.0123"`` for a subgraph that merges into an older one; for one that never merges
    (persistence inf) the weight at which it appears, e.g. ``"inf (never merges; born at
    |w h| = 0.52)"``.
    """
    pers = float(graph.subgraph_persistence[rank])
    if np.isfinite(pers):
        return f"{pers:.3g}"
    return f"inf (never merges; born at |w h| = {float(graph.subgraph_birth[rank]):.3g})"


def _positions(net: UnrolledNetwork, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x = depth of the vertex's layer, y = its flat index within the layer scaled to [0, 1]."""
    depth = net.vertex_layer(vertices)
    sizes = np.array([int(np.prod(s)) for s in net.vertex_shapes()])
    y = (vertices - net.offsets[depth] + 0.5) / sizes[depth]
    return depth.astype(float), 1.0 - y


def plot_subgraph(net: UnrolledNetwork, graph: InducedGraph, rank: int = 0, *, family: bool = True,
                  image: Any = None, title: str | None = None, ax: Any = None) -> Any:
    """Draw a persistent subgraph of an induced graph on the network's layers.

    Columns are the vertex groups (the input, then each layer's output, left to right); a
    neuron sits at its flat index within its group. Neurons of the subgraph are red dots, its
    connections blue lines drawn darker the heavier they are (larger ``|w_uv h_u(x)|``). With
    ``image`` (the input, shape (H, W) or (C, H, W)) a second panel shows the input in grey
    levels (darker = larger value) with the pixels the subgraph touches circled in red. A
    legend under the drawing says all this, and the title gives the persistence as a number.

    Parameters
    ----------
    net : UnrolledNetwork
    graph : InducedGraph
    rank : int, default 0
        Which subgraph (0 = the most persistent).
    family : bool, default True
        Include the younger subgraphs merged into it (which makes it connected).
    image : array-like of shape (H, W) or (C, H, W), optional
        The input itself (RGB shown as colour, other channel counts averaged).
    title : str, optional
    ax : matplotlib Axes, optional
        Axes for the layer drawing (the image panel is then not drawn).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not 0 <= rank < graph.n_subgraphs:
        raise InvalidInputError(f"rank must be in [0, {graph.n_subgraphs}) for this graph; got {rank}.")
    ranks = {rank}
    if family:
        stack = [rank]
        while stack:
            r = stack.pop()
            kids = np.flatnonzero(graph.subgraph_parent == r).tolist()
            ranks.update(kids)
            stack.extend(kids)
    sel = np.isin(graph.subgraph, sorted(ranks))
    u, v, w = graph.u[sel], graph.v[sel], graph.weights[sel]
    if image is not None and np.ndim(image) not in (2, 3):
        raise InvalidInputError(f"image must have shape (H, W) or (C, H, W); got shape {np.shape(image)}. "
                                "Pass image=None for inputs that are not images.")
    if image is not None and int(np.prod(np.shape(image))) != int(np.prod(net.input_shape)):
        raise InvalidInputError(f"image has {int(np.prod(np.shape(image)))} values but the network's input "
                                f"has {int(np.prod(net.input_shape))}; pass the input the graph was built from.")
    own_fig = ax is None
    if image is not None and ax is None:
        fig, ax = _new_axes(None, (10.0, 4.6))
        ax.remove()
        grid = fig.add_gridspec(1, 2, width_ratios=[2.2, 1])
        ax, ax_img = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    else:
        fig, ax = _new_axes(ax, (7.5, 4.6))
        ax_img = None
    xu, yu = _positions(net, u)
    xv, yv = _positions(net, v)
    order = np.argsort(w)
    shade = (w / w.max()) if w.size and w.max() > 0 else w
    from matplotlib.collections import LineCollection

    segs = np.stack([np.c_[xu, yu], np.c_[xv, yv]], axis=1)[order]
    colors = np.zeros((order.size, 4))
    colors[:, :3] = EDGE_RGB
    colors[:, 3] = 0.15 + 0.85 * shade[order]
    ax.add_collection(LineCollection(segs, colors=colors, linewidths=0.8))
    verts = np.unique(np.concatenate([u, v]))
    xs, ys = _positions(net, verts)
    ax.scatter(xs, ys, s=6, c=NEURON_COLOR, zorder=3)
    names = ["input", *net.layer_names]
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks([])
    ax.set_xlim(-0.3, len(names) - 0.7)
    ax.set_ylim(-0.02, 1.02)
    own = int((graph.subgraph == rank).sum())
    merged = (f"\n({own} its own, {int(sel.sum()) - own} from the {len(ranks) - 1} younger "
              "subgraphs merged into it)" if len(ranks) > 1 else "")  # a second line: fits the axes
    ax.set_title(title or (f"subgraph {rank}: {int(sel.sum())} edges, {verts.size} neurons, "
                           f"persistence {subgraph_persistence_text(graph, rank)}{merged}"), fontsize=9)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    _legend(fig if own_fig else ax, with_image=ax_img is not None)
    if ax_img is not None:
        img = np.asarray(image, dtype=float)
        if img.ndim == 3 and img.shape[0] == 3:
            span = np.ptp(img) or 1.0
            ax_img.imshow(np.transpose((img - img.min()) / span, (1, 2, 0)))
        else:
            ax_img.imshow(img.mean(axis=0) if img.ndim == 3 else img, cmap="gray_r")
        hh, ww = img.shape[-2:]
        pix = verts[verts < net.offsets[1]]
        rr, cc = np.divmod(pix % (hh * ww), ww)
        ax_img.scatter(cc, rr, s=14, facecolors="none", edgecolors=NEURON_COLOR, linewidths=0.8)
        ax_img.set_axis_off()
        ax_img.set_title("input pixels in the subgraph", fontsize=9)
    return fig


def _legend(target: Any, *, with_image: bool) -> None:
    """What the marks mean (one entry per kind of mark): under the drawing on a figure made
    here (``target`` a Figure), inside the axes given by the caller otherwise."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], linestyle="none", marker="o", markersize=4, color=NEURON_COLOR,
               label="red dot: neuron in the subgraph (column = layer)"),
        Line2D([], [], color=EDGE_RGB, linewidth=1.5,
               label="blue line: connection in the subgraph, darker = larger |w h(x)|"),
    ]
    if with_image:
        handles += [
            Line2D([], [], linestyle="none", marker="s", markersize=7, color="0.45",
                   label="grey pixels: the input (darker = larger value)"),
            Line2D([], [], linestyle="none", marker="o", markersize=6, markerfacecolor="none",
                   markeredgecolor=NEURON_COLOR, label="red circle: input pixel in the subgraph"),
        ]
    own = hasattr(target, "add_gridspec")  # a Figure (constrained layout makes room below)
    target.legend(handles=handles, loc="outside lower center" if own else "best",
                  ncols=2 if own else 1, fontsize=8, frameon=not own)
