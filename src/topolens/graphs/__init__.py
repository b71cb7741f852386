"""Topology of weight graphs and input-induced graphs, and signatures of graphs.

* :mod:`~topolens.graphs.neural_persistence`: neural persistence (Rieck et al. 2019);
* :mod:`~topolens.graphs.unroll`: a chain network unrolled into layers of static edges;
* :mod:`~topolens.graphs.induced`: input-induced graphs, their H0 persistence and persistent
  subgraphs (Gebhart et al. 2019);
* :mod:`~topolens.graphs.signatures`: normalised Laplacian spectra and heat kernel signatures
  of graphs (the vertex functions of PersLay's graph classification).
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
from .signatures import (
    heat_kernel_signature,
    laplacian_spectrum,
    normalized_laplacian,
    spectral_features,
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
    "heat_kernel_signature",
    "induced_edge_weights",
    "induced_graphs",
    "laplacian_spectrum",
    "linear_edges",
    "max_spanning_lifetimes",
    "neural_persistence",
    "normalized_laplacian",
    "pool2d_edges",
    "spectral_features",
    "subgraph_features",
    "unroll",
]
