"""Converters between :class:`~topolens.PersistenceDiagrams` fields and other libraries' formats.

gudhi: a list of ``(dim, (birth, death))`` (``SimplexTree.persistence()``); ripser.py and
giotto-ph: a list of ``(m_k, 2)`` arrays, or their result dict holding it under ``"dgms"``.
Neither format can flag censored classes: they become plain ``inf`` deaths on the way out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..exceptions import InvalidInputError
from ._fields import check_dgms

__all__ = ["MAX_DIM", "from_gudhi", "from_ripser", "to_gudhi"]

#: largest homology dimension accepted from foreign formats (guards against absurd allocations)
MAX_DIM = 1000


def _dim(k: Any, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= int(k) <= MAX_DIM:
        raise InvalidInputError(f"from_gudhi: {what} must be an integer in [0, {MAX_DIM}], found {k!r}.")
    return int(k)


def from_gudhi(persistence: Iterable[Any], max_dim: int | None = None) -> tuple[np.ndarray, ...]:
    """Per-dimension arrays from gudhi's ``[(dim, (birth, death)), ...]`` (dims above ``max_dim`` dropped)."""
    if isinstance(persistence, (str, bytes, Mapping)) or not isinstance(persistence, Iterable):
        raise InvalidInputError("from_gudhi needs gudhi's list of (dim, (birth, death)) pairs, found "
                                f"{type(persistence).__name__}.")
    items = []
    for i, item in enumerate(persistence):
        try:
            k, (b, d) = item
        except (TypeError, ValueError):
            raise InvalidInputError(f"from_gudhi: entry {i} is {item!r}, not (dim, (birth, death)).") from None
        items.append((_dim(k, f"the dimension of entry {i}"), b, d))
    top = max((k for k, _, _ in items), default=0)
    max_dim = top if max_dim is None else _dim(max_dim, "max_dim")
    buckets: list[list[Any]] = [[] for _ in range(max_dim + 1)]
    for k, b, d in items:
        if k <= max_dim:
            buckets[k].append((b, d))
    _numeric(buckets)
    return check_dgms([np.array(b, dtype=np.float64).reshape(-1, 2) for b in buckets], "from_gudhi")


def _numeric(buckets: list[list[Any]]) -> None:
    """Refuse non-numeric births and deaths (strings, None) with the entry that holds them."""
    for k, rows in enumerate(buckets):
        for b, d in rows:
            for x in (b, d):
                if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
                    raise InvalidInputError(f"from_gudhi: dimension {k} has the point ({b!r}, {d!r}); "
                                            "births and deaths must be real numbers.")


def to_gudhi(dgms: tuple[np.ndarray, ...]) -> list[tuple[int, tuple[float, float]]]:
    """gudhi's list of ``(dim, (birth, death))``, sorted by decreasing lifetime."""
    out = [(k, (float(b), float(d))) for k in range(len(dgms)) for b, d in dgms[k]]
    out.sort(key=lambda t: (-(t[1][1] - t[1][0]), t[0]))
    return out


def from_ripser(dgms: Any) -> tuple[np.ndarray, ...]:
    """Per-dimension arrays from ripser.py / giotto-ph output (the list, or the result dict)."""
    if isinstance(dgms, Mapping):
        if "dgms" not in dgms:
            raise InvalidInputError("from_ripser: the result dict has no 'dgms' entry (keys: "
                                    f"{sorted(map(str, dgms))}); pass ripser(...)['dgms'] or the result.")
        dgms = dgms["dgms"]
    return check_dgms(dgms, "from_ripser")
