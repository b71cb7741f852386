"""topolens: topological analysis of deep neural networks in PyTorch.

The public API is small and explicit; everything else lives in its own module
(``topolens.activations``, ``topolens.homology``, ``topolens.vectorize``, ...).
Activations are always ``(n_inputs, n_neurons)``; every function says whether
inputs or neurons are the points.
"""

from __future__ import annotations

from .diagrams import PersistenceDiagrams
from .exceptions import (
    ConstantNeuronWarning,
    DataNotFoundError,
    IntegrityError,
    InvalidInputError,
    LayerNotFoundError,
    MemoryBudgetError,
    MissingDependencyError,
    NonFiniteError,
    ShapeError,
    TopolensError,
    TopolensWarning,
    UntrustedCheckpointError,
)

__version__ = "0.1.0"

__all__ = [
    "ConstantNeuronWarning",
    "DataNotFoundError",
    "IntegrityError",
    "InvalidInputError",
    "LayerNotFoundError",
    "MemoryBudgetError",
    "MissingDependencyError",
    "NonFiniteError",
    "PersistenceDiagrams",
    "ShapeError",
    "TopolensError",
    "TopolensWarning",
    "UntrustedCheckpointError",
    "__version__",
]
