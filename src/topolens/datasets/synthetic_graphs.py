"""The synthetic CYCLES and NECKLACES graph classification sets of TOGL (Horn et al., ICLR 2022).

Both sets can be told apart by anybody who looks at the drawing of a graph, but not by a
1-layer message-passing GNN: every class has the same numbers of nodes, the same degree
sequence and the same node features (random Gaussian noise, as in TOGL), so only the *global*
cycle structure carries the label. The construction follows ``data/SYNTHETIC/datagen.py`` of
the paper's repository (BorgwardtLab/TOGL, ``generate_cycles`` with ``min_cycle=3`` and
``generate_necklaces``); sizes are those of the paper's runs (1000 graphs, ``n`` drawn uniformly
from ``10..19`` per graph, 3 Gaussian node features).

CYCLES (:func:`make_cycles`)
    * class 0: one cycle through all ``n`` nodes (connected, ``n`` edges);
    * class 1: ``(n - 3) // 3`` disjoint triangles plus one more cycle on the remaining
      ``n - 3 * ((n - 3) // 3)`` nodes (3 to 5 nodes), so ``(n - 3) // 3 + 1 >= 3``
      connected components and as many independent cycles; also ``n`` edges.

    Every node has degree 2 in both classes.

NECKLACES (:func:`make_necklaces`)
    A chain (path) of ``c = n - 4`` nodes ``0..c-1`` and two small chains of two nodes each,
    ``(c, c+1)`` and ``(c+2, c+3)``, hung at the chain nodes ``p = c // 3`` and ``q = 2c // 3``:

    * class 1 ("two separate cycles"): ``p`` is joined to both ends of the first small chain
      and ``q`` to both ends of the second, giving two triangles;
    * class 0 ("one merged cycle"): ``p`` is joined to the first node of each small chain and
      ``q`` to the second node of each, giving a 6-cycle ``p, c, c+1, q, c+3, c+2``.

    Both classes are connected, have ``n`` nodes, ``n + 1`` edges (so two independent
    cycles) and the same degree sequence (``p`` and ``q`` have degree 4).

Differences from the original generator, all documented in ``info``:

* labels are exactly balanced (``n_graphs // 2`` of class 0, the rest class 1, in random
  order) instead of i.i.d. fair coin flips;
* node ids are randomly relabelled per graph (``permute_nodes=True``), so that no model can
  use the order of the nodes; the graphs are the same up to isomorphism;
* everything is drawn from one ``numpy.random.default_rng(seed)``, so a data set is a pure
  function of its arguments.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import InvalidInputError
from .tu import Graph, GraphDataset

__all__ = ["make_cycles", "make_necklaces"]

_REFERENCE = ("Horn, De Brouwer, Moor, Moreau, Rieck, Borgwardt: Topological Graph Neural Networks, "
              "ICLR 2022; generator data/SYNTHETIC/datagen.py of github.com/BorgwardtLab/TOGL")


def _check_common(n_graphs: int, min_nodes: int, max_nodes: int, n_features: int, smallest: int,
                  what: str) -> None:
    for name, v in (("n_graphs", n_graphs), ("min_nodes", min_nodes), ("max_nodes", max_nodes),
                    ("n_features", n_features)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise InvalidInputError(f"{name} must be an int; got {type(v).__name__} ({v!r}).")
    if n_graphs < 2:
        raise InvalidInputError(f"n_graphs must be >= 2 (one graph per class at least); got {n_graphs}.")
    if min_nodes < smallest or max_nodes < min_nodes:
        raise InvalidInputError(
            f"{what} needs {smallest} <= min_nodes <= max_nodes; got min_nodes={min_nodes}, "
            f"max_nodes={max_nodes}. The paper uses 10 and 19."
        )
    if n_features < 1:
        raise InvalidInputError(f"n_features must be >= 1; got {n_features}.")


def _ring(nodes: np.ndarray) -> np.ndarray:
    """Edges of the cycle through ``nodes`` in order, shape (len(nodes), 2)."""
    return np.column_stack([nodes, np.roll(nodes, -1)])


def _finish(n: int, edges: np.ndarray, rng: np.random.Generator, n_features: int,
            permute: bool) -> Graph:
    """Relabel (optionally), orient ``u < v``, sort, deduplicate and attach Gaussian features."""
    if permute:
        perm = rng.permutation(n)
        edges = perm[edges]
    lo, hi = np.minimum(edges[:, 0], edges[:, 1]), np.maximum(edges[:, 0], edges[:, 1])
    e = np.unique(np.column_stack([lo, hi]).astype(np.int64), axis=0)
    x = rng.standard_normal((n, n_features))
    return Graph(n_nodes=int(n), edges=e, node_attributes=x)


def _labels(n_graphs: int, rng: np.random.Generator) -> np.ndarray:
    y = np.zeros(n_graphs, dtype=np.int64)
    y[n_graphs // 2:] = 1
    return rng.permutation(y)


def _cycles_graph(n: int, label: int, min_cycle: int) -> np.ndarray:
    if label == 0:
        return _ring(np.arange(n))
    n_small = (n - min_cycle) // min_cycle
    rings = [_ring(np.arange(i * min_cycle, (i + 1) * min_cycle)) for i in range(n_small)]
    rings.append(_ring(np.arange(n_small * min_cycle, n)))
    return np.concatenate(rings)


def _necklace_graph(n: int, label: int) -> np.ndarray:
    c = n - 4
    chain = np.column_stack([np.arange(c - 1), np.arange(1, c)])
    small = np.array([[c, c + 1], [c + 2, c + 3]])
    p, q = c // 3, (2 * c) // 3
    if label == 1:    # two separate triangles p-c-(c+1) and q-(c+2)-(c+3)
        hang = np.array([[p, c], [p, c + 1], [q, c + 2], [q, c + 3]])
    else:             # one merged 6-cycle p-c-(c+1)-q-(c+3)-(c+2)-p
        hang = np.array([[p, c], [p, c + 2], [q, c + 1], [q, c + 3]])
    return np.concatenate([chain, small, hang])


def make_cycles(n_graphs: int = 1000, *, seed: int = 0, min_nodes: int = 10, max_nodes: int = 19,
                min_cycle: int = 3, n_features: int = 3, permute_nodes: bool = True) -> GraphDataset:
    """TOGL's CYCLES set: one large cycle (class 0) against many small cycles (class 1).

    Parameters
    ----------
    n_graphs : int
        Number of graphs (the paper: 1000); classes are exactly balanced.
    seed : int
        Seed of ``numpy.random.default_rng``; the set is a pure function of the arguments.
    min_nodes, max_nodes : int
        Each graph has ``n`` nodes, drawn uniformly from ``min_nodes..max_nodes`` (inclusive;
        the paper: 10..19). ``min_nodes >= 2 * min_cycle`` so that class 1 has at least two
        cycles.
    min_cycle : int
        Length of the small cycles of class 1 (the paper: 3, triangles).
    n_features : int
        Number of i.i.d. standard normal node attributes (the paper: 3).
    permute_nodes : bool
        Relabel the nodes of every graph randomly.

    Returns
    -------
    GraphDataset
        ``name="CYCLES"``, graphs with ``node_attributes`` (n, n_features), ``y`` in {0, 1};
        ``info`` records the construction and the seed.
    """
    if isinstance(min_cycle, bool) or not isinstance(min_cycle, (int, np.integer)) or min_cycle < 3:
        raise InvalidInputError(f"min_cycle must be an int >= 3 (a simple cycle); got {min_cycle!r}.")
    _check_common(n_graphs, min_nodes, max_nodes, n_features, 2 * min_cycle, "CYCLES")
    rng = np.random.default_rng(seed)
    y = _labels(n_graphs, rng)
    sizes = rng.integers(min_nodes, max_nodes + 1, size=n_graphs)
    graphs = [_finish(int(n), _cycles_graph(int(n), int(lab), min_cycle), rng, n_features, permute_nodes)
              for n, lab in zip(sizes, y, strict=True)]
    info = {"construction": "class 0: one n-cycle; class 1: (n-m)//m disjoint m-cycles plus one cycle "
                            f"on the remaining nodes (m = min_cycle = {min_cycle})",
            "seed": seed, "nodes": (min_nodes, max_nodes), "node features": f"N(0, 1)^{n_features}",
            "labels": "exactly balanced", "permuted node ids": permute_nodes, "reference": _REFERENCE}
    return GraphDataset("CYCLES", graphs, y, info)


def make_necklaces(n_graphs: int = 1000, *, seed: int = 0, min_nodes: int = 10, max_nodes: int = 19,
                   n_features: int = 3, permute_nodes: bool = True) -> GraphDataset:
    """TOGL's NECKLACES set: a chain with two separate cycles (class 1) or one merged cycle (class 0).

    Parameters
    ----------
    n_graphs : int
        Number of graphs (the paper: 1000); classes are exactly balanced.
    seed : int
        Seed of ``numpy.random.default_rng``; the set is a pure function of the arguments.
    min_nodes, max_nodes : int
        Each graph has ``n`` nodes, drawn uniformly from ``min_nodes..max_nodes`` (inclusive;
        the paper: 10..19); ``min_nodes >= 10`` keeps the two hanging points at distance >= 2.
    n_features : int
        Number of i.i.d. standard normal node attributes (the paper: 3).
    permute_nodes : bool
        Relabel the nodes of every graph randomly.

    Returns
    -------
    GraphDataset
        ``name="NECKLACES"``; every graph is connected with ``n + 1`` edges.
    """
    _check_common(n_graphs, min_nodes, max_nodes, n_features, 10, "NECKLACES")
    rng = np.random.default_rng(seed)
    y = _labels(n_graphs, rng)
    sizes = rng.integers(min_nodes, max_nodes + 1, size=n_graphs)
    graphs = [_finish(int(n), _necklace_graph(int(n), int(lab)), rng, n_features, permute_nodes)
              for n, lab in zip(sizes, y, strict=True)]
    info = {"construction": "a path of n-4 nodes with two 2-node chains hung at nodes (n-4)//3 and "
                            "2(n-4)//3: class 1 closes each into a triangle, class 0 crosses them into "
                            "one 6-cycle",
            "seed": seed, "nodes": (min_nodes, max_nodes), "node features": f"N(0, 1)^{n_features}",
            "labels": "exactly balanced", "permuted node ids": permute_nodes, "reference": _REFERENCE}
    return GraphDataset("NECKLACES", graphs, y, info)
