"""Differentiable topology in PyTorch.

Functions of tensors live in :mod:`topolens.nn.functional` (persistence gathered from a live
tensor, topological losses, PersLay's pieces); the Modules here hold parameters and call them,
as ``torch.nn`` does with ``torch.nn.functional``.
"""

from __future__ import annotations

from . import functional
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

__all__ = [
    "GaussianMixtureWeight",
    "GaussianPhi",
    "GridWeight",
    "ImagePhi",
    "LandscapePhi",
    "LinePhi",
    "PersLay",
    "PowerWeight",
    "RationalHatPhi",
    "StructureElementLayer",
    "functional",
]
