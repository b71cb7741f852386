"""Plain-torch graph neural network building blocks (no torch_geometric needed).

Conventions (those of torch_geometric, so its ``Data``/``Batch`` objects plug in directly):

* a batch of graphs is their disjoint union: node features ``x`` (N, d), ``edge_index``
  (2, E) long with global node ids, and ``batch`` (N,) long giving the graph of every node
  (non-decreasing, graphs numbered ``0..B-1``);
* ``edge_index[0]`` is the source and ``edge_index[1]`` the target of a message; an undirected
  graph lists every edge in both directions (:func:`batch_graphs` and :func:`to_undirected`
  do so);
* the dense form is ``x`` (B, n, d), ``adj`` (B, n, n) and a bool ``mask`` (B, n), True for
  real nodes; :func:`edge_index_to_dense` sets ``adj[b, src, dst] = 1`` and the dense
  convolution computes ``out_i = sum_j A_ij x_j``; for symmetric graphs both forms agree.

Anything with ``.x``, ``.edge_index`` and (optionally) ``.batch`` -- a torch_geometric
``Data``/``Batch`` -- can be passed wherever ``x`` is expected; torch_geometric itself is
never imported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ..exceptions import InvalidInputError, NonFiniteError, ShapeError

__all__ = [
    "GCNClassifier",
    "GCNConv",
    "GCNLayer",
    "GraphBatch",
    "batch_graphs",
    "dense_gcn_conv",
    "dense_to_edge_index",
    "edge_index_to_dense",
    "gcn_conv",
    "gcn_norm",
    "global_add_pool",
    "global_max_pool",
    "global_mean_pool",
    "global_pool",
    "to_dense_batch",
    "to_undirected",
    "unpack_graph_input",
]

logger = logging.getLogger(__name__)

_POOL_OPS = ("mean", "sum", "max")


# --------------------------------------------------------------------------- validation
def check_node_features(x: Any, name: str = "x", ndim: int = 2) -> Tensor:
    """``x`` must be a finite floating tensor with ``ndim`` axes; returns it unchanged."""
    if not isinstance(x, Tensor):
        raise InvalidInputError(f"{name} must be a torch.Tensor; got {type(x).__name__}.")
    if x.ndim != ndim:
        shape = "(n_nodes, n_features)" if ndim == 2 else "(batch, max_nodes, n_features)"
        raise ShapeError(f"{name} must have shape {shape}; got shape {tuple(x.shape)}.")
    if not x.is_floating_point():
        raise InvalidInputError(f"{name} must be a floating point tensor; got dtype {x.dtype}. "
                                "Convert it with x.float().")
    if not torch.isfinite(x).all():
        n_bad = int((~torch.isfinite(x)).sum())
        raise NonFiniteError(f"{name} holds {n_bad} NaN or infinite value(s); node features must be "
                             "finite. Impute or drop them before the network.")
    return x


def check_edge_index(edge_index: Any, n_nodes: int, name: str = "edge_index") -> Tensor:
    """``edge_index`` must be an integer (2, E) tensor with ids in ``0..n_nodes-1``; returns it as long."""
    if not isinstance(edge_index, Tensor):
        raise InvalidInputError(f"{name} must be a torch.Tensor; got {type(edge_index).__name__}.")
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ShapeError(f"{name} must have shape (2, n_edges); got shape {tuple(edge_index.shape)}. "
                         "Transpose an (n_edges, 2) edge list with .t().")
    if edge_index.is_floating_point() or edge_index.dtype == torch.bool or edge_index.is_complex():
        raise InvalidInputError(f"{name} must hold integer node ids; got dtype {edge_index.dtype}.")
    edge_index = edge_index.long()
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n_nodes):
        raise InvalidInputError(
            f"{name} refers to node ids {int(edge_index.min())}..{int(edge_index.max())} but there "
            f"are only {n_nodes} nodes (valid ids 0..{n_nodes - 1}). Offset the ids of each graph "
            "of a batch by the number of nodes before it (batch_graphs does so)."
        )
    return edge_index


def check_batch(batch: Any, n_nodes: int, device: torch.device | None = None) -> tuple[Tensor, int]:
    """Validate a batch vector (or make the one-graph vector for ``None``); returns (batch, n_graphs)."""
    if batch is None:
        return torch.zeros(n_nodes, dtype=torch.long, device=device), 1
    if not isinstance(batch, Tensor):
        raise InvalidInputError(f"batch must be a torch.Tensor or None; got {type(batch).__name__}.")
    if batch.ndim != 1 or batch.shape[0] != n_nodes:
        raise ShapeError(f"batch must have shape ({n_nodes},), one graph id per node; got shape "
                         f"{tuple(batch.shape)}.")
    if batch.is_floating_point() or batch.dtype == torch.bool:
        raise InvalidInputError(f"batch must hold integer graph ids; got dtype {batch.dtype}.")
    batch = batch.long()
    if n_nodes == 0:
        return batch, 0
    if int(batch.min()) < 0:
        raise InvalidInputError(f"batch holds the negative graph id {int(batch.min())}; ids start at 0.")
    return batch, int(batch.max()) + 1


def resolve_n_graphs(n_graphs: int | None, found: int) -> int:
    """``n_graphs`` when given (at least the ``found = max(batch) + 1`` graphs), else ``found``."""
    if n_graphs is None:
        return found
    if isinstance(n_graphs, bool) or not isinstance(n_graphs, int) or n_graphs < found:
        raise InvalidInputError(f"n_graphs={n_graphs!r} but the batch vector refers to {found} graph(s); "
                                "pass n_graphs >= max(batch) + 1, or leave it out.")
    return n_graphs


def unpack_graph_input(x: Any, edge_index: Any = None, batch: Any = None) -> tuple[Any, Any, Any]:
    """Accept ``(x, edge_index, batch)`` or one object with ``.x``, ``.edge_index`` (and ``.batch``).

    A torch_geometric ``Data``/``Batch`` is read by duck typing; torch_geometric is not imported.
    """
    if not isinstance(x, Tensor) and hasattr(x, "x") and hasattr(x, "edge_index"):
        if edge_index is not None:
            raise InvalidInputError("pass either a graph object (with .x and .edge_index) or the tensors "
                                    "x and edge_index, not both.")
        data = x
        x, edge_index = data.x, data.edge_index
        batch = getattr(data, "batch", None) if batch is None else batch
        if x is None:
            raise InvalidInputError("the graph object has no node features (.x is None); set "
                                    "data.x, e.g. to torch.ones(num_nodes, 1).")
    return x, edge_index, batch


def graph_inputs(x: Any, edge_index: Any, batch: Any, in_features: int, *, what: str = "this model",
                 hint: str = "pass an empty (2, 0) tensor for no edges") -> tuple[Tensor, Tensor, Tensor, int]:
    """Unpack (:func:`unpack_graph_input`) and validate a model's graph input.

    Returns ``(x, edge_index, batch, n_graphs)`` with ``x`` of ``in_features`` columns, checked
    edge ids and a batch vector (all zeros for one graph).
    """
    x, edge_index, batch = unpack_graph_input(x, edge_index, batch)
    check_node_features(x)
    if x.shape[1] != in_features:
        raise ShapeError(f"x has {x.shape[1]} features; {what} expects {in_features}.")
    if edge_index is None:
        raise InvalidInputError(f"edge_index is required ({hint}).")
    edge_index = check_edge_index(edge_index, x.shape[0])
    batch, nb = check_batch(batch, x.shape[0], x.device)
    return x, edge_index, batch, nb


# --------------------------------------------------------------------------- edge utilities
def to_undirected(edge_index: Tensor, n_nodes: int | None = None, *, self_loops: bool = False) -> Tensor:
    """Both directions of every edge, deduplicated and sorted; self-loops dropped unless asked.

    Parameters
    ----------
    edge_index : Tensor
        (2, E) integer node ids, any direction, duplicates allowed.
    n_nodes : int, optional
        Number of nodes (default: ``max id + 1``).
    self_loops : bool
        Keep self-loops (once) instead of dropping them.

    Returns
    -------
    Tensor
        (2, E') long, sorted by (source, target).
    """
    if not isinstance(edge_index, Tensor):
        raise InvalidInputError(f"edge_index must be a torch.Tensor; got {type(edge_index).__name__}.")
    if n_nodes is None:
        n_nodes = int(edge_index.max()) + 1 if edge_index.numel() else 0
    n = n_nodes
    edge_index = check_edge_index(edge_index, n)
    both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    if not self_loops:
        both = both[:, both[0] != both[1]]
    key = torch.unique(both[0] * max(n, 1) + both[1])
    return torch.stack([key // max(n, 1), key % max(n, 1)])


def _unique_undirected(edge_index: Tensor, n_nodes: int) -> Tensor:
    """One (u, v) column with ``u < v`` per undirected edge, no self-loops, sorted."""
    lo = torch.minimum(edge_index[0], edge_index[1])
    hi = torch.maximum(edge_index[0], edge_index[1])
    keep = lo != hi
    key = torch.unique(lo[keep] * max(n_nodes, 1) + hi[keep])
    return torch.stack([key // max(n_nodes, 1), key % max(n_nodes, 1)])


def gcn_norm(edge_index: Tensor, n_nodes: int, *, add_self_loops: bool = True,
             dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor, Tensor]:
    """Messages and weights of the symmetrically normalised adjacency ``D^-1/2 (A + I) D^-1/2``.

    Self-loops already in ``edge_index`` are dropped and (with ``add_self_loops``) one loop of
    weight 1 is added per node; duplicated edges count with their multiplicity, as in
    torch_geometric. The degree of a node is its number of incoming messages (self-loop
    included); a node without any gets weight 0 (no division by zero).

    Returns
    -------
    src, dst : Tensor
        (E',) long; the message goes from ``src`` to ``dst``.
    weight : Tensor
        (E',) ``deg(src)^-1/2 * deg(dst)^-1/2``.
    """
    edge_index = check_edge_index(edge_index, n_nodes)
    src, dst = edge_index[0], edge_index[1]
    keep = src != dst
    src, dst = src[keep], dst[keep]
    if add_self_loops:
        loop = torch.arange(n_nodes, device=edge_index.device)
        src, dst = torch.cat([src, loop]), torch.cat([dst, loop])
    deg = torch.zeros(n_nodes, dtype=dtype, device=edge_index.device)
    deg.index_add_(0, dst, torch.ones(dst.shape[0], dtype=dtype, device=edge_index.device))
    inv = torch.where(deg > 0, deg.clamp(min=1e-12).rsqrt(), torch.zeros_like(deg))
    return src, dst, inv[src] * inv[dst]


def gcn_conv(x: Tensor, edge_index: Tensor, weight: Tensor, bias: Tensor | None = None, *,
             add_self_loops: bool = True) -> Tensor:
    """Graph convolution of Kipf & Welling: ``D^-1/2 (A + I) D^-1/2 X W + b`` over an edge list.

    Parameters
    ----------
    x : Tensor
        (N, d_in) node features.
    edge_index : Tensor
        (2, E) messages source -> target (both directions for an undirected graph).
    weight : Tensor
        (d_in, d_out).
    bias : Tensor, optional
        (d_out,).
    add_self_loops : bool
        Use ``A + I`` (default) or ``A``.

    Returns
    -------
    Tensor
        (N, d_out); aggregated with ``index_add_`` (scatter-add), O(E d).
    """
    check_node_features(x)
    src, dst, w = gcn_norm(edge_index, x.shape[0], add_self_loops=add_self_loops, dtype=x.dtype)
    if weight.ndim != 2 or weight.shape[0] != x.shape[1]:
        raise ShapeError(f"weight must have shape ({x.shape[1]}, d_out) for x with {x.shape[1]} "
                         f"features; got {tuple(weight.shape)}.")
    h = x @ weight
    out = torch.zeros(x.shape[0], h.shape[1], dtype=h.dtype, device=h.device)
    out.index_add_(0, dst, h[src] * w[:, None])
    return out + bias if bias is not None else out


def dense_gcn_conv(x: Tensor, adj: Tensor, weight: Tensor, bias: Tensor | None = None,
                   mask: Tensor | None = None, *, add_self_loops: bool = True) -> Tensor:
    """The same graph convolution on a padded dense batch.

    Parameters
    ----------
    x : Tensor
        (B, n, d_in) node features (padding rows may hold anything finite).
    adj : Tensor
        (B, n, n) adjacency, ``adj[b, i, j] != 0`` for an edge ``i -- j`` (weights are used as
        given; the diagonal is replaced by 1 with ``add_self_loops``, else by 0).
    weight, bias : Tensor
        As in :func:`gcn_conv`.
    mask : Tensor, optional
        (B, n) bool, True for real nodes (default: all real).

    Returns
    -------
    Tensor
        (B, n, d_out); padded nodes get 0 and never influence real ones.
    """
    check_node_features(x, ndim=3)
    b, n, _ = x.shape
    mask = _check_dense(adj, mask, b, n, x.device)
    m = mask.to(x.dtype)
    a = adj.to(x.dtype) * m[:, :, None] * m[:, None, :]
    eye = torch.eye(n, dtype=x.dtype, device=x.device)
    a = a * (1 - eye) + (eye * m[:, :, None] if add_self_loops else 0)
    deg = a.sum(-1)
    inv = torch.where(deg > 0, deg.clamp(min=1e-12).rsqrt(), torch.zeros_like(deg))
    h = x @ weight
    out = inv[:, :, None] * (a @ (inv[:, :, None] * h))
    if bias is not None:
        out = out + bias
    return out * m[:, :, None]


def _check_dense(adj: Any, mask: Any, b: int, n: int, device: torch.device) -> Tensor:
    if not isinstance(adj, Tensor) or adj.shape != (b, n, n):
        got = tuple(adj.shape) if isinstance(adj, Tensor) else type(adj).__name__
        raise ShapeError(f"adj must be a tensor of shape ({b}, {n}, {n}) matching x; got {got}.")
    if adj.is_floating_point() and not torch.isfinite(adj).all():
        raise NonFiniteError("adj holds NaN or infinite values; use 0/1 (or finite weights).")
    if mask is None:
        return torch.ones(b, n, dtype=torch.bool, device=device)
    if not isinstance(mask, Tensor) or mask.shape != (b, n):
        got = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise ShapeError(f"mask must be a bool tensor of shape ({b}, {n}); got {got}.")
    return mask.bool()


# --------------------------------------------------------------------------- dense <-> sparse
def dense_to_edge_index(adj: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Edge list and batch vector of a padded dense batch (nonzero entries are edges).

    Parameters
    ----------
    adj : Tensor
        (B, n, n) or (n, n) adjacency.
    mask : Tensor, optional
        (B, n) bool, True for real nodes. Real nodes are numbered graph by graph in order.

    Returns
    -------
    edge_index : Tensor
        (2, E) long, global ids, one column per nonzero ``adj[b, i, j]`` (i = source), sorted by
        (graph, i, j); diagonal entries become self-loops. Weights are dropped.
    batch : Tensor
        (N,) long graph id of every real node.

    Raises
    ------
    InvalidInputError
        An edge touches a padded node.
    """
    if not isinstance(adj, Tensor):
        raise InvalidInputError(f"adj must be a torch.Tensor; got {type(adj).__name__}.")
    if adj.ndim == 2:
        adj = adj[None]
        mask = None if mask is None else mask.reshape(1, -1)
    if adj.ndim != 3 or adj.shape[1] != adj.shape[2]:
        raise ShapeError(f"adj must have shape (batch, n, n) or (n, n); got {tuple(adj.shape)}.")
    b, n, _ = adj.shape
    mask = _check_dense(adj, mask, b, n, adj.device)
    nz = adj != 0
    if bool((nz & ~(mask[:, :, None] & mask[:, None, :])).any()):
        raise InvalidInputError("adj has edges at padded nodes (mask False); padding rows and "
                                "columns of adj must be 0.")
    gid = torch.cumsum(mask.reshape(-1).long(), 0).reshape(b, n) - 1   # global id of real nodes
    bb, i, j = nz.nonzero(as_tuple=True)
    edge_index = torch.stack([gid[bb, i], gid[bb, j]])
    batch = torch.arange(b, device=adj.device).repeat_interleave(mask.sum(1))
    return edge_index, batch


def _positions(batch: Tensor, n_graphs: int) -> tuple[Tensor, Tensor]:
    """Count per graph and position of every node inside its graph (batch must be sorted)."""
    if batch.numel() and bool((batch[1:] < batch[:-1]).any()):
        raise InvalidInputError("batch must be non-decreasing (the nodes of graph 0 first, then graph "
                                "1, ...), as produced by batch_graphs or torch_geometric.")
    counts = torch.bincount(batch, minlength=n_graphs)
    ptr = torch.cumsum(counts, 0) - counts
    return counts, torch.arange(batch.numel(), device=batch.device) - ptr[batch]


def to_dense_batch(x: Tensor, batch: Tensor | None = None, *, max_nodes: int | None = None,
                   n_graphs: int | None = None) -> tuple[Tensor, Tensor]:
    """Pad node features into (B, n_max, d) with a (B, n_max) bool mask (padding is 0)."""
    if not isinstance(x, Tensor) or x.ndim < 1:
        raise ShapeError("x must be a tensor with the nodes on axis 0.")
    batch, nb = check_batch(batch, x.shape[0], x.device)
    nb = nb if n_graphs is None else n_graphs
    counts, pos = _positions(batch, nb)
    n_max = int(counts.max()) if counts.numel() else 0
    n_max = n_max if max_nodes is None else max_nodes
    if counts.numel() and int(counts.max()) > n_max:
        raise InvalidInputError(f"a graph has {int(counts.max())} nodes but max_nodes={max_nodes}.")
    out = x.new_zeros((nb, n_max, *x.shape[1:]))
    out[batch, pos] = x
    mask = torch.zeros(nb, n_max, dtype=torch.bool, device=x.device)
    mask[batch, pos] = True
    return out, mask


def edge_index_to_dense(edge_index: Tensor, batch: Tensor | None = None, *, n_nodes: int | None = None,
                        max_nodes: int | None = None) -> tuple[Tensor, Tensor]:
    """Padded dense adjacency (B, n_max, n_max) and mask (B, n_max) of a batch given as an edge list.

    Parameters
    ----------
    edge_index : Tensor
        (2, E) global node ids; ``adj[b, i, j] = 1`` for every column (i, j) (duplicates once).
    batch : Tensor, optional
        (N,) sorted graph ids; None: one graph of ``n_nodes`` nodes.
    n_nodes : int, optional
        Number of nodes when ``batch`` is None (default: ``max id + 1``).
    max_nodes : int, optional
        Pad to this many nodes (default: the largest graph).

    Raises
    ------
    InvalidInputError
        An edge joins two different graphs.
    """
    if batch is None:
        if n_nodes is None:
            n_nodes = int(edge_index.max()) + 1 if isinstance(edge_index, Tensor) and edge_index.numel() else 0
        batch = torch.zeros(n_nodes, dtype=torch.long,
                            device=edge_index.device if isinstance(edge_index, Tensor) else None)
    batch, nb = check_batch(batch, batch.shape[0] if isinstance(batch, Tensor) else 0)
    edge_index = check_edge_index(edge_index, batch.shape[0])
    counts, pos = _positions(batch, nb)
    n_max = int(counts.max()) if counts.numel() else 0
    n_max = n_max if max_nodes is None else max_nodes
    if counts.numel() and int(counts.max()) > n_max:
        raise InvalidInputError(f"a graph has {int(counts.max())} nodes but max_nodes={max_nodes}.")
    gb = batch[edge_index[0]]
    if bool((gb != batch[edge_index[1]]).any()):
        raise InvalidInputError("edge_index has edges between different graphs of the batch.")
    adj = torch.zeros(nb, n_max, n_max, device=batch.device)
    adj[gb, pos[edge_index[0]], pos[edge_index[1]]] = 1.0
    mask = torch.zeros(nb, n_max, dtype=torch.bool, device=batch.device)
    mask[batch, pos] = True
    return adj, mask


# --------------------------------------------------------------------------- pooling
def global_pool(x: Tensor, batch: Tensor | None = None, n_graphs: int | None = None,
                op: str = "mean") -> Tensor:
    """Pool node features per graph: ``op`` in ``"mean"``, ``"sum"``, ``"max"``.

    Parameters
    ----------
    x : Tensor
        (N, d).
    batch : Tensor, optional
        (N,) graph ids (any order); None: one graph.
    n_graphs : int, optional
        Number of graphs B (default: ``max(batch) + 1``); graphs without nodes pool to 0.

    Returns
    -------
    Tensor
        (B, d).
    """
    if op not in _POOL_OPS:
        raise InvalidInputError(f"op must be one of {_POOL_OPS}; got {op!r}.")
    if not isinstance(x, Tensor) or x.ndim != 2:
        raise ShapeError(f"x must be a (n_nodes, n_features) tensor; got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}.")
    batch, nb = check_batch(batch, x.shape[0], x.device)
    nb = resolve_n_graphs(n_graphs, nb)
    if op == "max":
        out = x.new_zeros((nb, x.shape[1]))
        return out.scatter_reduce(0, batch[:, None].expand_as(x), x, reduce="amax", include_self=False)
    out = x.new_zeros((nb, x.shape[1])).index_add(0, batch, x)
    if op == "sum":
        return out
    counts = torch.bincount(batch, minlength=nb).clamp(min=1).to(x.dtype)
    return out / counts[:, None]


def global_mean_pool(x: Tensor, batch: Tensor | None = None, n_graphs: int | None = None) -> Tensor:
    """Mean of the node features of every graph, (B, d)."""
    return global_pool(x, batch, n_graphs, "mean")


def global_add_pool(x: Tensor, batch: Tensor | None = None, n_graphs: int | None = None) -> Tensor:
    """Sum of the node features of every graph, (B, d)."""
    return global_pool(x, batch, n_graphs, "sum")


def global_max_pool(x: Tensor, batch: Tensor | None = None, n_graphs: int | None = None) -> Tensor:
    """Feature-wise max over the nodes of every graph, (B, d)."""
    return global_pool(x, batch, n_graphs, "max")


# --------------------------------------------------------------------------- batching
class GraphBatch(NamedTuple):
    """A disjoint union of graphs in the torch_geometric layout."""

    x: Tensor            #: (N, d) node features
    edge_index: Tensor   #: (2, 2 * n_undirected_edges) both directions, global ids
    batch: Tensor        #: (N,) graph id of every node
    ptr: Tensor          #: (B + 1,) first node of every graph, then N
    n_graphs: int


def batch_graphs(graphs: Sequence[Any], *, features: str = "auto", dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> GraphBatch:
    """Batch :class:`~topolens.datasets.Graph` objects into ``(x, edge_index, batch)``.

    Parameters
    ----------
    graphs : sequence of Graph
        E.g. the ``graphs`` of a :class:`~topolens.datasets.GraphDataset` (or a slice).
    features : {"auto", "attributes", "labels", "ones"}
        Node features: the ``node_attributes``; a one-hot code of ``node_labels`` (over the
        labels present in ``graphs``; pass all graphs at once or use "attributes" for a fixed
        width); a constant 1. ``"auto"`` takes the first available in that order.
    dtype, device :
        Of ``x``.

    Returns
    -------
    GraphBatch
    """
    if len(graphs) == 0:
        raise InvalidInputError("graphs is empty; pass at least one Graph.")
    if features not in ("auto", "attributes", "labels", "ones"):
        raise InvalidInputError(f"features must be 'auto', 'attributes', 'labels' or 'ones'; got {features!r}.")
    if features == "auto":
        if all(g.node_attributes is not None for g in graphs):
            features = "attributes"
        elif all(g.node_labels is not None for g in graphs):
            features = "labels"
        else:
            features = "ones"
    sizes = np.array([g.n_nodes for g in graphs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    n_total = int(offsets[-1])
    e = np.concatenate([np.asarray(g.edges, dtype=np.int64).reshape(-1, 2) + off
                        for g, off in zip(graphs, offsets[:-1], strict=True)])
    if features == "attributes":
        missing = [i for i, g in enumerate(graphs) if g.node_attributes is None]
        if missing:
            raise InvalidInputError(f"graphs {missing[:5]} have no node_attributes; use features='labels' "
                                    "or 'ones'.")
        x = np.concatenate([np.asarray(g.node_attributes, dtype=np.float64).reshape(g.n_nodes, -1)
                            for g in graphs])
    elif features == "labels":
        missing = [i for i, g in enumerate(graphs) if g.node_labels is None]
        if missing:
            raise InvalidInputError(f"graphs {missing[:5]} have no node_labels; use features='ones'.")
        lab = np.concatenate([np.asarray(g.node_labels) for g in graphs])
        _, code = np.unique(lab, return_inverse=True)
        x = np.eye(int(code.max()) + 1 if code.size else 1)[code]
    else:
        x = np.ones((n_total, 1))
    ei = torch.as_tensor(np.concatenate([e, e[:, ::-1]]).T.copy(), device=device)
    batch = torch.repeat_interleave(torch.arange(len(graphs), device=device),
                                    torch.as_tensor(sizes, device=device))
    return GraphBatch(torch.as_tensor(x, dtype=dtype, device=device), ei, batch,
                      torch.as_tensor(offsets, device=device), len(graphs))


# --------------------------------------------------------------------------- modules
class GCNConv(nn.Module):
    """Graph convolution ``D^-1/2 (A + I) D^-1/2 X W + b`` in edge-list and dense form.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    add_self_loops : bool
        Normalise ``A + I`` (default, Kipf & Welling) or ``A``.

    Notes
    -----
    ``forward(x, edge_index)`` with ``x`` (N, d) or ``forward(x, adj=adj, mask=mask)`` with
    ``x`` (B, n, d); both use the same weights.
    """

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True,
                 add_self_loops: bool = True) -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidInputError(f"{name} must be a positive int; got {v!r}.")
        self.in_features, self.out_features = in_features, out_features
        self.add_self_loops = add_self_loops
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x: Tensor, edge_index: Tensor | None = None, *, adj: Tensor | None = None,
                mask: Tensor | None = None) -> Tensor:
        if (edge_index is None) == (adj is None):
            raise InvalidInputError("pass exactly one of edge_index (edge-list form) or adj (dense form).")
        if adj is not None:
            return dense_gcn_conv(x, adj, self.weight, self.bias, mask, add_self_loops=self.add_self_loops)
        return gcn_conv(x, edge_index, self.weight, self.bias, add_self_loops=self.add_self_loops)

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, bias={self.bias is not None}, "
                f"add_self_loops={self.add_self_loops}")


class GCNLayer(nn.Module):
    """``GCNConv -> BatchNorm -> ReLU (+ x) -> dropout``, the layer of TOGL's GCN baselines.

    Parameters
    ----------
    in_features, out_features : int
    batch_norm : bool
        BatchNorm1d over the (real) nodes.
    residual : bool
        Add the input (needs ``in_features == out_features``).
    dropout : float
    add_self_loops : bool
        Of the :class:`GCNConv` (TOGL's baselines use ``False``).
    """

    def __init__(self, in_features: int, out_features: int, *, batch_norm: bool = True,
                 residual: bool = True, dropout: float = 0.0, add_self_loops: bool = True) -> None:
        super().__init__()
        if residual and in_features != out_features:
            raise InvalidInputError(f"a residual GCN layer needs in_features == out_features; got "
                                    f"{in_features} and {out_features}. Pass residual=False.")
        self.conv = GCNConv(in_features, out_features, add_self_loops=add_self_loops)
        self.bn = nn.BatchNorm1d(out_features) if batch_norm else nn.Identity()
        self.residual = residual
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h = torch.relu(self.bn(self.conv(x, edge_index)))
        return self.dropout(h + x if self.residual else h)


def _mlp_head(hidden: int, n_classes: int) -> nn.Sequential:
    """TOGL's classifier: hidden -> hidden/2 -> hidden/4 -> classes with ReLUs."""
    h2, h4 = max(hidden // 2, 1), max(hidden // 4, 1)
    return nn.Sequential(nn.Linear(hidden, h2), nn.ReLU(), nn.Linear(h2, h4), nn.ReLU(),
                         nn.Linear(h4, n_classes))


class GCNClassifier(nn.Module):
    """Graph classifier: ``Linear -> n_layers x GCNLayer -> global pool -> MLP``.

    This is the GCN baseline of TOGL (their ``LargerGCNModel``): a linear node embedding,
    ``n_layers`` residual GCN layers with batch norm, mean pooling and a 3-layer MLP head.

    Parameters
    ----------
    in_features : int
    hidden : int
    n_classes : int
    n_layers : int
        Number of GCN layers (>= 1).
    dropout : float
    pool : {"mean", "sum", "max"}
    batch_norm, residual, add_self_loops : bool
        Of the GCN layers. TOGL's code uses ``add_self_loops=False`` (``D^-1/2 A D^-1/2``); with
        self-loops every node of a triangle gets the same convolved feature, which lets even
        one layer tell CYCLES' classes apart somewhat (see ``benchmarks/bench_togl.py``).

    Notes
    -----
    ``forward(x, edge_index, batch=None)``, or ``forward(data)`` for any object with
    ``.x``, ``.edge_index`` and ``.batch`` (torch_geometric); returns logits (B, n_classes).
    """

    def __init__(self, in_features: int, hidden: int, n_classes: int, n_layers: int = 1, *,
                 dropout: float = 0.0, pool: str = "mean", batch_norm: bool = True,
                 residual: bool = True, add_self_loops: bool = True) -> None:
        super().__init__()
        for name, v, lo in (("in_features", in_features, 1), ("hidden", hidden, 1),
                            ("n_classes", n_classes, 2), ("n_layers", n_layers, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InvalidInputError(f"{name} must be an int >= {lo}; got {v!r}.")
        if pool not in _POOL_OPS:
            raise InvalidInputError(f"pool must be one of {_POOL_OPS}; got {pool!r}.")
        self.in_features, self.pool = in_features, pool
        self.embedding = nn.Linear(in_features, hidden)
        self.layers = nn.ModuleList([GCNLayer(hidden, hidden, batch_norm=batch_norm, residual=residual,
                                              dropout=dropout, add_self_loops=add_self_loops)
                                     for _ in range(n_layers)])
        self.head = _mlp_head(hidden, n_classes)

    def forward(self, x: Any, edge_index: Tensor | None = None, batch: Tensor | None = None) -> Tensor:
        x, edge_index, batch, nb = graph_inputs(x, edge_index, batch, self.in_features)
        h = self.embedding(x)
        for layer in self.layers:
            h = layer(h, edge_index)
        return self.head(global_pool(h, batch, nb, self.pool))
