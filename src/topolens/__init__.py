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

# Entry points that need torch are imported on first use, so ``import topolens`` stays fast.
_LAZY = {
    "Activations": "activations",
    "record_activations": "activations",
    "list_layers": "activations",
    "activation_persistence": "topology",
    "ActivationDiagrams": "topology",
    "correlation_dissimilarity": "dissimilarity",
    "pairwise_dissimilarity": "dissimilarity",
    "rips_persistence": "homology",
    "Mapper": "mapper",
    "mapper_graph": "mapper",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'topolens' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ActivationDiagrams",
    "Activations",
    "ConstantNeuronWarning",
    "DataNotFoundError",
    "IntegrityError",
    "InvalidInputError",
    "LayerNotFoundError",
    "Mapper",
    "MemoryBudgetError",
    "MissingDependencyError",
    "NonFiniteError",
    "PersistenceDiagrams",
    "ShapeError",
    "TopolensError",
    "TopolensWarning",
    "UntrustedCheckpointError",
    "__version__",
    "activation_persistence",
    "correlation_dissimilarity",
    "list_layers",
    "mapper_graph",
    "pairwise_dissimilarity",
    "record_activations",
    "rips_persistence",
]
