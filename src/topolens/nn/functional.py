"""Functional interface of :mod:`topolens.nn`: differentiable persistence, losses and layers.

Like ``torch.nn.functional``: plain functions of tensors (and of parameters passed in); the
Modules of :mod:`topolens.nn` hold the parameters and call these.

* persistence, gathered from a live tensor: :func:`rips_diagrams`,
  :func:`vertex_filtration_persistence`, :func:`graph_diagrams`, :func:`cubical_diagrams`;
* losses: :func:`total_persistence`, :func:`persistence_norm`, :func:`wasserstein_distance`,
  :func:`signature_loss`;
* PersLay (Carriere et al. 2020) on padded batches ``(B, N, 2)`` + mask ``(B, N)`` from
  :func:`pad_diagrams`: point transformations ``*_phi``, weights ``*_weight``, the
  permutation-invariant :func:`perslay`; Hofer et al.'s :func:`structure_elements`;
* topological priors (Love et al. 2023): the fixed kernel banks :func:`circle_kernels` and
  :func:`klein_kernels` (``(out, in, k, k)`` circle / Klein-bottle filters, the grid of
  :func:`klein_grid`) and the bool ``(out, in)`` connectivity masks :func:`circle_mask` and
  :func:`klein_mask` of the local second layers.

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
from ._perslay import (
    gaussian_mixture_weight,
    gaussian_phi,
    grid_weight,
    image_phi,
    landscape_phi,
    line_phi,
    pad_diagrams,
    perslay,
    power_weight,
    rational_hat_phi,
    structure_elements,
)
from ._priors import circle_kernels, circle_mask, klein_grid, klein_kernels, klein_mask

__all__ = [
    "VertexPersistence",
    "circle_kernels",
    "circle_mask",
    "cubical_diagrams",
    "gaussian_mixture_weight",
    "gaussian_phi",
    "graph_diagrams",
    "grid_weight",
    "image_phi",
    "klein_grid",
    "klein_kernels",
    "klein_mask",
    "landscape_phi",
    "line_phi",
    "pad_diagrams",
    "pairwise_distances",
    "persistence_norm",
    "perslay",
    "power_weight",
    "rational_hat_phi",
    "rips_diagrams",
    "signature_loss",
    "structure_elements",
    "total_persistence",
    "vertex_filtration_persistence",
    "wasserstein_distance",
]
