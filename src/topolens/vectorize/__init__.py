"""Vectorizations of persistence diagrams: numpy functions and scikit-learn transformers.

Functions (:mod:`topolens.vectorize.functional`) take one diagram, an ``(m, 2)`` array of
(birth, death) pairs or a :class:`~topolens.PersistenceDiagrams` with ``dim=``; the
transformers (:mod:`topolens.vectorize.estimators`) take lists of them and learn their
sampling ranges in ``fit``.

Infinite deaths (essential and censored classes): :func:`betti_curve` counts them as alive
from their birth on; every other vectorization uses the finite points only (cap infinite
deaths with :func:`diagram_points` ``(..., inf_death=...)`` to keep them).
"""

from __future__ import annotations

from .estimators import BettiCurve, Entropy, Landscape, PersistenceImage, SummaryStatistics
from .functional import (
    betti_curve,
    complex_polynomial,
    diagram_points,
    persistence_image,
    persistence_landscape,
    persistent_entropy,
    summary_feature_names,
    summary_statistics,
    summary_vector,
)

__all__ = [
    "BettiCurve",
    "Entropy",
    "Landscape",
    "PersistenceImage",
    "SummaryStatistics",
    "betti_curve",
    "complex_polynomial",
    "diagram_points",
    "persistence_image",
    "persistence_landscape",
    "persistent_entropy",
    "summary_feature_names",
    "summary_statistics",
    "summary_vector",
]
