"""Persistent homology engines: Vietoris-Rips (native H0, gudhi, ripser, giotto-ph) and graph filtrations
(superlevel edge filtrations, lower-star vertex filtrations, extended persistence)."""

from .certify import h1_certificate, undominated_edges
from .extended import EXTENDED_DIAGRAMS, extended_persistence
from .graph import LowerStarH0, SuperlevelH0, lower_star_h0, superlevel_h0
from .h0 import minimum_spanning_tree, rips_h0
from .memory import (
    available_memory,
    check_memory,
    estimate_certificate_memory,
    estimate_rips_memory,
    memory_budget,
)
from .rips import (
    AUTO_QUANTILES,
    BACKENDS,
    CERTIFY_MIN_POINTS,
    distance_quantile,
    distance_quantiles,
    enclosing_radius,
    rips_persistence,
)

__all__ = [
    "AUTO_QUANTILES",
    "BACKENDS",
    "CERTIFY_MIN_POINTS",
    "EXTENDED_DIAGRAMS",
    "LowerStarH0",
    "SuperlevelH0",
    "available_memory",
    "check_memory",
    "distance_quantile",
    "distance_quantiles",
    "enclosing_radius",
    "estimate_certificate_memory",
    "estimate_rips_memory",
    "extended_persistence",
    "h1_certificate",
    "lower_star_h0",
    "memory_budget",
    "minimum_spanning_tree",
    "rips_h0",
    "rips_persistence",
    "superlevel_h0",
    "undominated_edges",
]
