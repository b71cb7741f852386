"""Distances between diagrams: parameter validation and the engines behind them.

:func:`bottleneck` (exact: :func:`._bottleneck.bottleneck_distance`; ``e > 0``: gudhi's
approximation, additive error ``e``) and :func:`wasserstein` (gudhi's hera, or the exact bottleneck distance for
``order = inf``). hera hangs or runs for minutes for ``order = inf`` and for orders or ground
metrics above about 100, so those are validated here first.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..exceptions import InvalidInputError
from ._bottleneck import bottleneck_distance

__all__ = ["MAX_ORDER", "bottleneck", "wasserstein"]

#: largest finite Wasserstein order and internal p accepted (hera hangs beyond a few hundred)
MAX_ORDER = 100.0


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be a real number, found {value!r} of type {type(value).__name__}.")
    x = float(value)
    if math.isnan(x):
        raise InvalidInputError(f"{name} is NaN; pass a number.")
    return x


def _order(value: Any, name: str) -> float:
    x = _real(value, name)
    if not (1.0 <= x <= MAX_ORDER or x == math.inf):
        raise InvalidInputError(f"{name} must be in [1, {MAX_ORDER:g}] or inf, found {value!r}. Orders "
                                "below 1 are not metrics (order 0 would give 0 for any diagrams).")
    return x


def bottleneck(a: np.ndarray, b: np.ndarray, e: Any = 0.0) -> float:
    """Bottleneck distance of two validated diagrams; exact for ``e = 0``, else gudhi's approximation
    within an additive ``e`` (and, per gudhi's documentation, a small multiplicative error)."""
    e = _real(e, "e")
    if not 0.0 <= e < math.inf:
        raise InvalidInputError(f"e (the additive error allowed) must be finite and >= 0, found {e!r}; "
                                "e=0 gives the exact distance.")
    if e > 0:
        import gudhi

        return float(gudhi.bottleneck_distance(a, b, e))
    return bottleneck_distance(a, b)


def wasserstein(a: np.ndarray, b: np.ndarray, order: Any = 1.0, internal_p: Any = math.inf,
                delta: Any = 0.01) -> float:
    """q-Wasserstein distance of two validated diagrams (see :meth:`PersistenceDiagrams.wasserstein`)."""
    order = _order(order, "order")
    internal_p = _order(internal_p, "internal_p")
    delta = _real(delta, "delta")
    if not 0.0 < delta <= 1.0:
        raise InvalidInputError(f"delta (hera's relative error) must be in (0, 1], found {delta!r}; "
                                "the default 0.01 is within 1%.")
    if order == math.inf:
        if internal_p != math.inf:
            raise InvalidInputError(f"order=inf is the bottleneck distance, computed exactly with the "
                                    f"L-inf ground metric; internal_p={internal_p:g} is not supported "
                                    "with it. Pass internal_p=inf (the default).")
        return bottleneck_distance(a, b)
    from gudhi.hera import wasserstein_distance

    return float(wasserstein_distance(a, b, order=order, internal_p=internal_p, delta=delta))
