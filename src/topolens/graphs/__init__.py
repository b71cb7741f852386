"""Topology of weight graphs: neural persistence (Rieck et al. 2019)."""

from __future__ import annotations

from .neural_persistence import (
    NeuralPersistence,
    NeuralPersistenceMonitor,
    linear_weights,
    max_spanning_lifetimes,
    neural_persistence,
)

__all__ = [
    "NeuralPersistence",
    "NeuralPersistenceMonitor",
    "linear_weights",
    "max_spanning_lifetimes",
    "neural_persistence",
]
