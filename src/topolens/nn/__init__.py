"""Differentiable topology in PyTorch.

Functions of tensors live in :mod:`topolens.nn.functional` (persistence gathered from a live
tensor, topological losses, PersLay's pieces); the Modules here hold parameters and call them,
as ``torch.nn`` does with ``torch.nn.functional``.

* :class:`PersLay` (its point transformations and weights) and Hofer et al.'s
  :class:`StructureElementLayer` vectorise padded batches of diagrams;
* :class:`TOGL` (Horn et al. 2022) learns vertex filtrations inside a graph network written in
  plain torch (:mod:`topolens.nn.gnn`: :class:`GCNConv`, :class:`GCNClassifier`, edge-index or
  dense adjacency; torch-geometric ``Data``/``Batch`` objects are accepted, never required);
* :mod:`topolens.nn.graph_classification`: PersLay's graph classification pipeline (heat
  kernel signatures, extended persistence) for the TU benchmarks.
* topological priors (Love et al. 2023, :mod:`topolens.nn.priors`): the first layers
  :class:`CircleConv2d` and :class:`KleinConv2d`, whose kernels are circle / Klein-bottle filters
  (fixed buffers, or trainable from that start), and the second layers
  :class:`CircleLocalConv2d` and :class:`KleinLocalConv2d`, whose connections are cut by a
  manifold-distance mask in ``forward``.
"""

from __future__ import annotations

from . import functional
from .gnn import GCNClassifier, GCNConv, batch_graphs
from .perslay import (
    GaussianMixtureWeight,
    GaussianPhi,
    GridWeight,
    ImagePhi,
    LandscapePhi,
    LinePhi,
    PersLay,
    PowerWeight,
    RationalHatPhi,
    StructureElementLayer,
)
from .priors import CircleConv2d, CircleLocalConv2d, KleinConv2d, KleinLocalConv2d
from .togl import TOGL, TOGLClassifier

__all__ = [
    "TOGL",
    "CircleConv2d",
    "CircleLocalConv2d",
    "GCNClassifier",
    "GCNConv",
    "GaussianMixtureWeight",
    "GaussianPhi",
    "GridWeight",
    "ImagePhi",
    "KleinConv2d",
    "KleinLocalConv2d",
    "LandscapePhi",
    "LinePhi",
    "PersLay",
    "PowerWeight",
    "RationalHatPhi",
    "StructureElementLayer",
    "TOGLClassifier",
    "batch_graphs",
    "functional",
]
