"""Mapper graphs of activations (TopoAct): lens, cover, clustering, nerve, node statistics.

The points are the rows of the activation matrix ``(n_inputs, n_neurons)``: the inputs.

>>> from topolens.mapper import Mapper
>>> graph = Mapper(n_intervals=10, overlap=0.3).fit(activations).graph_   # doctest: +SKIP
"""

from __future__ import annotations

from .build import DEFAULT_EPS_QUANTILE, DEFAULT_MIN_SAMPLES, Mapper, mapper_graph
from .cluster import NOISE_POLICIES, dbscan_labels
from .cover import BalancedCover, CoverSets, UniformCover
from .graph import MapperGraph
from .lenses import LensValues, compute_lens
from .neighbours import kdistance_eps, kdistances, radius_graph
from .stats import NodeStatistics, node_statistics
from .sweep import SweepResult, component_ari, node_agreement, stability_sweep

__all__ = [
    "DEFAULT_EPS_QUANTILE",
    "DEFAULT_MIN_SAMPLES",
    "NOISE_POLICIES",
    "BalancedCover",
    "CoverSets",
    "LensValues",
    "Mapper",
    "MapperGraph",
    "NodeStatistics",
    "SweepResult",
    "UniformCover",
    "component_ari",
    "compute_lens",
    "dbscan_labels",
    "kdistance_eps",
    "kdistances",
    "mapper_graph",
    "node_agreement",
    "node_statistics",
    "radius_graph",
    "stability_sweep",
]
