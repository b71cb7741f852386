"""TOGL, the topological graph layer of Horn et al., "Topological Graph Neural Networks" (ICLR 2022).

What the layer computes (``x`` (n, d) node features, graphs given by ``edge_index`` and a
``batch`` vector, as in torch_geometric):

1. **Filtrations.** An MLP ``Phi: R^d -> R^k`` (``Linear -> ReLU -> Linear``) gives every vertex
   ``k`` values ``f = Phi(x)``; each column is a lower-star filtration of the graph (an edge
   enters at the larger value of its endpoints).
2. **Persistence.** :func:`topolens.nn._persistence.vertex_filtration_persistence` pairs the
   simplices without gradients and gathers births and deaths from the live ``f``: per vertex
   the ``(birth, death)`` of the H0 class born there (``k`` pairs -> ``(n, 2k)``), per edge a
   cycle pair ``(value, inf)`` if it closes a cycle (H1).
3. **Infinite deaths.** Essential classes (the oldest vertex of every component, every cycle)
   have death ``+inf``; it is replaced by the largest filtration value of *their graph* (per
   filtration, ``max_v f_j(v)`` over the graph's vertices), as TOGL does (their
   ``unpaired_value`` is the largest edge value of the graph, which equals this maximum unless
   the maximum sits on an isolated vertex). The maximum is live, so gradients flow to it.
4. **H0 embedding (per vertex).** ``Psi_0``: ``Linear(2k, hidden) -> ReLU`` applied to every
   vertex's pairs, then with ``aggregation="deepset"`` two permutation-equivariant DeepSet
   layers ``z -> Gamma z - Lambda mean_{graph}(z)`` (ReLU between), as in TOGL's
   ``SimpleSetTopoLayer`` (``deepset_type="full"``); with ``aggregation="mlp"`` two plain
   ``Linear`` layers instead (per-element only, no interaction inside the graph).
5. **H1 embedding (per graph).** Every cycle pair ``(b, d)`` of filtration ``j`` is a point
   of the graph's ``j``-th H1 diagram; it goes through ``Linear(2k, hidden) -> ReLU`` with
   ``(b, d)`` in the slots of filtration ``j`` and zeros elsewhere (i.e. the columns of
   filtration ``j`` of one shared weight), the points of all ``k`` diagrams of a graph are
   *mean*-pooled (0 for a forest) and mapped by a bias-free ``Linear(hidden, out)`` (TOGL's
   ``DeepSetLayerDim1``). TOGL instead concatenates the ``k`` filtrations *per edge*; but in a
   lower-star filtration all edges of a vertex to lower neighbours enter at the same value,
   so *which* tied edge closes a cycle depends on the edge order, and the per-edge layout is
   not permutation invariant. Pooling the points of the diagrams themselves is.
6. **Output.** ``out = skip(x) + BN(ReLU(z0 + z1[batch]))``: the H1 vector of a graph is added
   to every node of that graph, the sum goes through ReLU and BatchNorm and is added
   residually (``skip`` is the identity when ``out_features == in_features``, else a bias-free
   ``Linear``). This is TOGL's ``residual_and_bn=True, dist_dim1=True`` variant; with
   ``cycles=False`` step 5 is skipped (their ``dim1=False``).

The output depends on vertex ids only through ties of ``f`` (none for generic inputs), so it
is permutation equivariant, and graphs of a batch never interact (BatchNorm aside, in training
mode). The derivative is that of the gathered values: exact wherever the filtration values are
distinct, one subgradient otherwise.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..exceptions import InvalidInputError, ShapeError
from ._persistence import vertex_filtration_persistence
from .gnn import (
    GCNLayer,
    _mlp_head,
    _unique_undirected,
    check_batch,
    check_edge_index,
    check_node_features,
    dense_to_edge_index,
    global_pool,
    graph_inputs,
    resolve_n_graphs,
)

__all__ = ["TOGL", "DeepSetLayer", "TOGLClassifier", "TOGLPairs", "togl_pairs"]

logger = logging.getLogger(__name__)

_AGGREGATIONS = ("deepset", "mlp")


class TOGLPairs(NamedTuple):
    """Finite persistence pairs of ``k`` vertex filtrations, laid out as TOGL embeds them."""

    vertex: Tensor      #: (n, 2k) H0 ``(birth_1, death_1, ..., birth_k, death_k)`` per vertex
    edge: Tensor        #: (E', k, 2) H1 pairs per undirected edge, 0 where it closes no cycle
    edge_index: Tensor  #: (2, E') the undirected edges (u < v), deduplicated
    cycle_mask: Tensor  #: (E', k) bool, True where the edge closes a cycle in that filtration
    edge_batch: Tensor  #: (E',) graph id of every edge
    f_max: Tensor       #: (B, k) the value that replaced the infinite deaths, per graph


def togl_pairs(f: Tensor, edge_index: Tensor, batch: Tensor | None = None,
               n_graphs: int | None = None) -> TOGLPairs:
    """Persistence pairs of the lower-star filtrations ``f`` with infinite deaths replaced.

    Parameters
    ----------
    f : Tensor
        (n, k) vertex values (k filtrations).
    edge_index : Tensor
        (2, E) edges, any direction, duplicates and self-loops allowed (they are merged/dropped).
    batch : Tensor, optional
        (n,) graph id of every vertex; None: one graph.
    n_graphs : int, optional
        Number of graphs (default ``max(batch) + 1``).

    Returns
    -------
    TOGLPairs
        Every death that was ``+inf`` becomes the maximum of ``f`` over the vertices of that
        graph (per filtration), so all entries are finite and differentiable in ``f``.
    """
    if not isinstance(f, Tensor) or f.ndim != 2:
        raise ShapeError(f"f must be a (n_vertices, k) tensor; got "
                         f"{tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__}.")
    n, k = f.shape
    edge_index = check_edge_index(edge_index, n)
    batch, nb = check_batch(batch, n, f.device)
    nb = resolve_n_graphs(n_graphs, nb)
    und = _unique_undirected(edge_index, n)
    vp = vertex_filtration_persistence(f, und)
    f_max = f.new_zeros((nb, k)).scatter_reduce(0, batch[:, None].expand(n, k), f, reduce="amax",
                                                 include_self=False)
    vmax = f_max[batch]                                             # (n, k)
    v = vp.vertex_pairs
    v = torch.where(torch.isinf(v), vmax[:, :, None].expand_as(v), v)
    edge_batch = batch[und[0]]
    emax = f_max[edge_batch]                                        # (E', k)
    e = vp.edge_pairs
    e = torch.where(torch.isinf(e), emax[:, :, None].expand_as(e), e)
    e = torch.where(vp.cycle_mask[:, :, None], e, torch.zeros_like(e))
    return TOGLPairs(v.reshape(n, 2 * k), e, und, vp.cycle_mask, edge_batch, f_max)


class DeepSetLayer(nn.Module):
    """Permutation-equivariant set layer ``z_i -> Gamma z_i - Lambda mean_{j in set(i)} z_j``.

    The sets are the graphs of a batch (``batch`` vector); Zaheer et al. (2017), as in TOGL.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.gamma = nn.Linear(in_features, out_features)
        self.lam = nn.Linear(in_features, out_features, bias=False)

    def forward(self, z: Tensor, batch: Tensor, n_graphs: int) -> Tensor:
        return self.gamma(z) - self.lam(global_pool(z, batch, n_graphs, "mean"))[batch]


def _check_int(name: str, v: Any, lo: int = 1) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise InvalidInputError(f"{name} must be an int >= {lo}; got {v!r}.")


class TOGL(nn.Module):
    """Topological graph layer (TOGL, Horn et al. 2022); see the module docstring for the maths.

    Parameters
    ----------
    in_features : int
        Node feature width ``d``.
    n_filtrations : int
        Number ``k`` of learnt vertex filtrations (the paper: 8).
    hidden : int
        Width of the persistence embeddings (the paper's ``dim0_out_dim``/``dim1_out_dim``: 32).
    out_features : int, optional
        Output width (default ``in_features``, a pure residual update).
    filtration_hidden : int
        Hidden width of the filtration MLP (the paper: 24).
    aggregation : {"deepset", "mlp"}
        Set function applied to the per-vertex H0 embeddings.
    cycles : bool
        Use the H1 (cycle) pairs (the paper's ``dim1``).
    batch_norm : bool
        BatchNorm1d on the topological update before the residual sum.

    Notes
    -----
    Call as ``layer(x, edge_index, batch=None)`` (``x`` (n, d); also ``layer(data)`` for a
    torch_geometric ``Data``/``Batch``) -> (n, out_features), or in dense form
    ``layer(x, adj=adj, mask=mask)`` with ``x`` (B, n, d), ``adj`` (B, n, n) and a bool
    ``mask`` (B, n) -> (B, n, out_features) with zeros at padded nodes.
    """

    def __init__(self, in_features: int, n_filtrations: int = 8, hidden: int = 32,
                 out_features: int | None = None, filtration_hidden: int = 24,
                 aggregation: str = "deepset", *, cycles: bool = True, batch_norm: bool = True) -> None:
        super().__init__()
        out_features = in_features if out_features is None else out_features
        for name, v in (("in_features", in_features), ("n_filtrations", n_filtrations), ("hidden", hidden),
                        ("out_features", out_features), ("filtration_hidden", filtration_hidden)):
            _check_int(name, v)
        if aggregation not in _AGGREGATIONS:
            raise InvalidInputError(f"aggregation must be one of {_AGGREGATIONS}; got {aggregation!r}.")
        self.in_features, self.out_features = in_features, out_features
        self.n_filtrations, self.aggregation, self.cycles = n_filtrations, aggregation, cycles
        k2 = 2 * n_filtrations
        self.filtration = nn.Sequential(nn.Linear(in_features, filtration_hidden), nn.ReLU(),
                                        nn.Linear(filtration_hidden, n_filtrations))
        self.phi0 = nn.Linear(k2, hidden)
        if aggregation == "deepset":
            self.set0 = nn.ModuleList([DeepSetLayer(hidden, hidden), DeepSetLayer(hidden, out_features)])
        else:
            self.set0 = nn.ModuleList([nn.Linear(hidden, hidden), nn.Linear(hidden, out_features)])
        if cycles:
            self.phi1 = nn.Linear(k2, hidden)
            self.lam1 = nn.Linear(hidden, out_features, bias=False)
        self.bn = nn.BatchNorm1d(out_features) if batch_norm else nn.Identity()
        self.skip = nn.Identity() if out_features == in_features else nn.Linear(in_features, out_features,
                                                                                bias=False)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"n_filtrations={self.n_filtrations}, aggregation={self.aggregation!r}, cycles={self.cycles}")

    def _set0(self, z: Tensor, batch: Tensor, nb: int) -> Tensor:
        first, second = self.set0
        if self.aggregation == "deepset":
            return second(torch.relu(first(z, batch, nb)), batch, nb)
        return second(torch.relu(first(z)))

    def filtrations(self, x: Tensor) -> Tensor:
        """The ``k`` learnt vertex values ``Phi(x)``, (n, k)."""
        return self.filtration(x)

    def forward(self, x: Any, edge_index: Tensor | None = None, batch: Tensor | None = None, *,
                adj: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        if adj is not None:
            if edge_index is not None or batch is not None:
                raise InvalidInputError("the dense form takes x, adj and mask only; do not pass "
                                        "edge_index or batch with adj.")
            return self._forward_dense(x, adj, mask)
        x, edge_index, batch, nb = graph_inputs(x, edge_index, batch, self.in_features,
                                                what="this TOGL layer", hint="or adj= for the dense form")
        pairs = togl_pairs(self.filtration(x), edge_index, batch, nb)
        z = self._set0(torch.relu(self.phi0(pairs.vertex)), batch, nb)
        if self.cycles:
            k = self.n_filtrations
            w = self.phi1.weight.reshape(-1, k, 2)                   # (hidden, k, 2) slots per filtration
            e = torch.einsum("ejc,hjc->ejh", pairs.edge, w) + self.phi1.bias
            points = torch.relu(e[pairs.cycle_mask])                 # (n_points, hidden)
            graph = pairs.edge_batch[:, None].expand(-1, k)[pairs.cycle_mask]
            z = z + self.lam1(global_pool(points, graph, nb, "mean"))[batch]
        return self.skip(x) + self.bn(torch.relu(z))

    def _forward_dense(self, x: Tensor, adj: Tensor, mask: Tensor | None) -> Tensor:
        check_node_features(x, ndim=3)
        b, n, _ = x.shape
        if mask is None:
            mask = torch.ones(b, n, dtype=torch.bool, device=x.device)
        if not isinstance(mask, Tensor) or mask.shape != (b, n):
            raise ShapeError(f"mask must be a bool tensor of shape ({b}, {n}); got "
                             f"{tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__}.")
        mask = mask.bool()
        edge_index, batch = dense_to_edge_index(adj, mask)
        h = self.forward(x[mask], edge_index, batch)
        # graphs without real nodes have no rows; n_graphs from the mask keeps ids aligned
        out = h.new_zeros((b, n, h.shape[1]))
        out[mask] = h
        return out


class TOGLClassifier(nn.Module):
    """Graph classifier with one TOGL layer: ``Linear -> TOGL -> GCN layers -> pool -> MLP``.

    TOGL's ``LargerTopoGNNModel`` at depth ``n_gcn_layers`` with the topological layer before
    the last GCN layer (their default ``early_topo=False``; with one GCN layer this is the
    "1 layer" model of their Figure 3).

    Parameters
    ----------
    in_features : int
    n_classes : int
    hidden : int
        Node embedding width (the paper: 146, chosen to match parameter counts).
    n_gcn_layers : int
        GCN layers after the TOGL layer (>= 1).
    n_filtrations, togl_hidden, filtration_hidden, aggregation, cycles :
        Of the :class:`TOGL` layer (``togl_hidden`` is its ``hidden``).
    dropout : float
        After the TOGL layer and in the GCN layers.
    pool : {"mean", "sum", "max"}
    add_self_loops : bool
        Of the GCN layers (TOGL's code: ``False``).
    """

    def __init__(self, in_features: int, n_classes: int, hidden: int = 32, *, n_gcn_layers: int = 1,
                 n_filtrations: int = 8, togl_hidden: int = 32, filtration_hidden: int = 24,
                 aggregation: str = "deepset", cycles: bool = True, dropout: float = 0.0,
                 pool: str = "mean", add_self_loops: bool = True) -> None:
        super().__init__()
        _check_int("in_features", in_features)
        _check_int("n_classes", n_classes, 2)
        _check_int("hidden", hidden)
        _check_int("n_gcn_layers", n_gcn_layers)
        if pool not in ("mean", "sum", "max"):
            raise InvalidInputError(f"pool must be 'mean', 'sum' or 'max'; got {pool!r}.")
        self.in_features, self.pool = in_features, pool
        self.embedding = nn.Linear(in_features, hidden)
        self.togl = TOGL(hidden, n_filtrations, togl_hidden, hidden, filtration_hidden, aggregation,
                         cycles=cycles)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList([GCNLayer(hidden, hidden, dropout=dropout, add_self_loops=add_self_loops)
                                     for _ in range(n_gcn_layers)])
        self.head = _mlp_head(hidden, n_classes)

    def forward(self, x: Any, edge_index: Tensor | None = None, batch: Tensor | None = None) -> Tensor:
        x, edge_index, batch, nb = graph_inputs(x, edge_index, batch, self.in_features)
        h = self.dropout(self.togl(self.embedding(x), edge_index, batch))
        for layer in self.layers:
            h = layer(h, edge_index)
        return self.head(global_pool(h, batch, nb, self.pool))
