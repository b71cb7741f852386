"""Exception and warning classes of topolens.

Every error topolens raises on bad input is a :class:`TopolensError`. The more
specific classes also derive from the matching built-in exception, so code that
already catches ``ValueError`` or ``ImportError`` keeps working.

Messages follow one pattern: what was found, what was expected, how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConstantNeuronWarning",
    "CorruptRecordError",
    "DataNotFoundError",
    "IntegrityError",
    "InvalidInputError",
    "LayerNotFoundError",
    "MemoryBudgetError",
    "MissingDependencyError",
    "NonFiniteError",
    "ShapeError",
    "TopolensError",
    "TopolensWarning",
    "UntrustedCheckpointError",
]


class TopolensError(Exception):
    """Base class of every error raised by topolens."""


class InvalidInputError(TopolensError, ValueError):
    """An argument has the wrong value, type or content."""


class ShapeError(InvalidInputError):
    """An array has the wrong number of dimensions or the wrong shape."""


class NonFiniteError(InvalidInputError):
    """An array holds NaN or infinite values where finite values are required."""


class LayerNotFoundError(TopolensError, LookupError):
    """A requested layer name or pattern matches no module of the model."""

    def __str__(self) -> str:  # LookupError/KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(TopolensError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class MemoryBudgetError(TopolensError, MemoryError):
    """A computation would need more memory than allowed; refused before allocating."""


class UntrustedCheckpointError(TopolensError):
    """A checkpoint could not be loaded safely (``torch.load(weights_only=True)`` refused it)."""


class DataNotFoundError(TopolensError, FileNotFoundError):
    """A data set was not found under the data root and could not be downloaded."""


class IntegrityError(TopolensError):
    """A file is corrupt or its checksum does not match the expected one."""


class ConfigError(InvalidInputError):
    """A configuration file (e.g. a zoo grid) has an unknown key, a wrong type or a bad value."""


class CorruptRecordError(IntegrityError):
    """A stored record (a zoo model, a feature cache entry) is unreadable or inconsistent."""


class TopolensWarning(UserWarning):
    """Base class of the warnings emitted by topolens."""


class ConstantNeuronWarning(TopolensWarning):
    """Some neurons are constant over the inputs, so their correlation is undefined."""
