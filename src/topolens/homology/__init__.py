"""Persistent homology engines: Vietoris-Rips (native H0, gudhi, ripser, giotto-ph)."""

from .h0 import minimum_spanning_tree, rips_h0
from .memory import available_memory, check_memory, estimate_rips_memory
from .rips import (
    AUTO_QUANTILES,
    BACKENDS,
    distance_quantile,
    distance_quantiles,
    enclosing_radius,
    rips_persistence,
)

__all__ = [
    "AUTO_QUANTILES",
    "BACKENDS",
    "available_memory",
    "check_memory",
    "distance_quantile",
    "distance_quantiles",
    "enclosing_radius",
    "estimate_rips_memory",
    "minimum_spanning_tree",
    "rips_h0",
    "rips_persistence",
]
