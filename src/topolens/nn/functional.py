"""Functional interface of :mod:`topolens.nn`: differentiable persistence, losses and layers.

Like ``torch.nn.functional``: plain functions of tensors (and of parameters passed in); the
Modules of :mod:`topolens.nn` hold the parameters and call these.

>>> x = torch.randn(30, 2, requires_grad=True)       # doctest: +SKIP
>>> h0, h1 = rips_diagrams(x, max_dim=1)              # doctest: +SKIP
>>> total_persistence(h1).backward()                  # doctest: +SKIP
"""

from __future__ import annotations

from ._losses import persistence_norm, signature_loss, total_persistence, wasserstein_distance
from ._persistence import (
    VertexPersistence,
    cubical_diagrams,
    graph_diagrams,
    pairwise_distances,
    rips_diagrams,
    vertex_filtration_persistence,
)

__all__ = [
    "VertexPersistence",
    "cubical_diagrams",
    "graph_diagrams",
    "pairwise_distances",
    "persistence_norm",
    "rips_diagrams",
    "signature_loss",
    "total_persistence",
    "vertex_filtration_persistence",
    "wasserstein_distance",
]
