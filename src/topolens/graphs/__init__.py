"""Topology of weight graphs and input-induced graphs.

* :mod:`~topolens.graphs.neural_persistence`: neural persistence (Rieck et al. 2019);
* :mod:`~topolens.graphs.unroll`: a chain network unrolled into layers of static edges;
* :mod:`~topolens.graphs.induced`: input-induced graphs, their H0 persistence and persistent
  subgraphs (Gebhart et al. 2019).
"""

from __future__ import annotations

from .induced import (
    DEFAULT_PERCENTILE,
    InducedGraph,
    induced_edge_weights,
    induced_graphs,
    subgraph_features,
)
from .neural_persistence import (
    NeuralPersistence,
    NeuralPersistenceMonitor,
    max_spanning_lifetimes,
    neural_persistence,
)
from .unroll import LayerEdges, UnrolledNetwork, conv2d_edges, linear_edges, pool2d_edges, unroll

__all__ = [
    "DEFAULT_PERCENTILE",
    "InducedGraph",
    "LayerEdges",
    "NeuralPersistence",
    "NeuralPersistenceMonitor",
    "UnrolledNetwork",
    "conv2d_edges",
    "induced_edge_weights",
    "induced_graphs",
    "linear_edges",
    "max_spanning_lifetimes",
    "neural_persistence",
    "pool2d_edges",
    "subgraph_features",
    "unroll",
]
