"""Validation of the fields of a :class:`~topolens.PersistenceDiagrams`.

One function per field, shared by the constructor, :meth:`load`, :meth:`from_dict` and the
converters, so that every way in checks the same things: dtype, shape, finiteness,
integrality, ranges, and consistency between fields. ``where`` prefixes each message (a file
name, ``"from_dict"``...) so an error says which input and which field was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import _to_numpy, check_diagram_array
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError

__all__ = ["check_censored", "check_dgms", "check_metadata", "check_pairs", "json_default"]

_INT64_MAX = float(np.iinfo(np.int64).max)


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _array(x: Any, name: str, where: str) -> np.ndarray:
    """``x`` as a numpy array; ragged lists, strings, objects and complex values refused."""
    if isinstance(x, (str, bytes, Mapping)):
        raise InvalidInputError(f"{_prefix(where)}{name} must be an array, found a {type(x).__name__}.")
    arr = _to_numpy(x, f"{_prefix(where)}{name}")
    if arr.dtype == object or arr.dtype.kind in "USVMm":
        raise InvalidInputError(f"{_prefix(where)}{name} must be numeric, found dtype {arr.dtype}.")
    if np.iscomplexobj(arr):
        raise InvalidInputError(
            f"{_prefix(where)}{name} has complex dtype {arr.dtype}; persistence values are real. "
            "Pass x.real explicitly if that is what you mean."
        )
    return arr


def _sequence(x: Any, name: str, where: str) -> Sequence[Any]:
    if isinstance(x, (str, bytes, Mapping)) or not isinstance(x, (Sequence, np.ndarray)):
        raise InvalidInputError(
            f"{_prefix(where)}{name} must be a sequence with one entry per homology dimension, "
            f"found {type(x).__name__}."
        )
    return x


def check_dgms(dgms: Any, where: str = "") -> tuple[np.ndarray, ...]:
    """Validate the per-dimension (birth, death) arrays; return float64 ``(m_k, 2)`` arrays."""
    if isinstance(dgms, np.ndarray) and dgms.ndim == 2:
        raise InvalidInputError(
            f"{_prefix(where)}dgms must be a sequence with one (n_points, 2) array per homology "
            "dimension; found a single 2-D array. Wrap it in a list: PersistenceDiagrams([dgm0])."
        )
    dgms = _sequence(dgms, "dgms", where)
    out = []
    for k, d in enumerate(dgms):
        name = f"diagram of dimension {k}"
        arr = _array(d, name, where)
        if arr.dtype == bool:
            raise InvalidInputError(f"{_prefix(where)}{name} is boolean; births and deaths are numbers.")
        if arr.ndim > 2 or (arr.ndim == 2 and arr.shape[1] != 2):
            raise ShapeError(
                f"{_prefix(where)}{name} must have shape (n_points, 2) of (birth, death) pairs, "
                f"found shape {arr.shape}."
            )
        out.append(check_diagram_array(arr, f"{_prefix(where)}{name}"))
    if not out:
        raise InvalidInputError(f"{_prefix(where)}PersistenceDiagrams needs at least one dimension (H0).")
    return tuple(out)


def check_censored(censored: Any, dgms: tuple[np.ndarray, ...], where: str = "") -> tuple[np.ndarray, ...]:
    """Validate the per-dimension censoring flags: 1-D, one per point, 0/1 only, deaths infinite."""
    if censored is None:
        return tuple(np.zeros(len(d), dtype=bool) for d in dgms)
    censored = _sequence(censored, "censored", where)
    if len(censored) != len(dgms):
        raise ShapeError(f"{_prefix(where)}censored has {len(censored)} entries but there are "
                         f"{len(dgms)} dimensions.")
    out = []
    for k, (c, d) in enumerate(zip(censored, dgms, strict=True)):
        arr = _array(c, f"censored[{k}]", where)
        if arr.size == 0 and arr.ndim == 1:
            arr = np.zeros(0, dtype=bool)
        if arr.ndim != 1:
            raise ShapeError(f"{_prefix(where)}censored[{k}] must be 1-D (one flag per point), found "
                             f"shape {arr.shape}.")
        if arr.dtype != bool:
            if not np.isin(arr, (0, 1)).all():
                bad = arr[~np.isin(arr, (0, 1))][0]
                raise InvalidInputError(f"{_prefix(where)}censored[{k}] must hold booleans (or 0/1), "
                                        f"found {bad!r}.")
            arr = arr.astype(bool)
        if arr.shape[0] != d.shape[0]:
            raise ShapeError(f"{_prefix(where)}censored[{k}] has {arr.shape[0]} entries for "
                             f"{d.shape[0]} points.")
        if (arr & np.isfinite(d[:, 1])).any():
            raise InvalidInputError(
                f"{_prefix(where)}censored[{k}] flags a class with a finite death; only classes alive "
                "at the threshold (death = inf) can be censored."
            )
        out.append(np.ascontiguousarray(arr))
    return tuple(out)


def _int_pairs(p: Any, k: int, where: str) -> np.ndarray:
    """One dimension's pairs as int64 (integral floats accepted; NaN, inf, 1e30, 0.5 refused)."""
    name = f"pairs[{k}]"
    arr = _array(p, name, where)
    if arr.size == 0:
        if arr.ndim > 2 or (arr.ndim == 2 and arr.shape[1] != 4):
            raise ShapeError(f"{_prefix(where)}{name} must have shape (n_points, 4), found {arr.shape}.")
        return np.empty((0, 4), dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ShapeError(
            f"{_prefix(where)}{name} must have shape (n_points, 4) of critical edges "
            f"[b_u, b_v, d_u, d_v], found shape {arr.shape}."
        )
    if arr.dtype == bool:
        raise InvalidInputError(f"{_prefix(where)}{name} is boolean; it must hold vertex ids.")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise NonFiniteError(f"{_prefix(where)}{name} holds NaN or infinite vertex ids; "
                                 "vertex ids are integers (-1 for no death edge).")
        if (np.abs(arr) > _INT64_MAX).any() or (arr != np.round(arr)).any():
            bad = arr[(np.abs(arr) > _INT64_MAX) | (arr != np.round(arr))][0]
            raise InvalidInputError(f"{_prefix(where)}{name} holds {bad!r}, not an int64 vertex id.")
    elif arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and (arr > _INT64_MAX).any():
        raise InvalidInputError(f"{_prefix(where)}{name} holds vertex ids beyond the int64 range.")
    return np.ascontiguousarray(arr.astype(np.int64))


def check_pairs(pairs: Any, dgms: tuple[np.ndarray, ...], where: str = "") -> tuple[np.ndarray, ...] | None:
    """Validate the critical edges: int64 ``(m_k, 4)``, ids >= 0, ``(-1, -1)`` exactly for inf deaths."""
    if pairs is None:
        return None
    pairs = _sequence(pairs, "pairs", where)
    if len(pairs) != len(dgms):
        raise ShapeError(f"{_prefix(where)}pairs has {len(pairs)} entries but there are {len(dgms)} dimensions.")
    out = []
    for k, (p, d) in enumerate(zip(pairs, dgms, strict=True)):
        arr = _int_pairs(p, k, where)
        if arr.shape[0] != d.shape[0]:
            raise ShapeError(f"{_prefix(where)}pairs[{k}] has {arr.shape[0]} rows for {d.shape[0]} points.")
        fin = np.isfinite(d[:, 1])
        bad = (arr[:, :2] < 0).any(axis=1) | (arr[:, 2:] < -1).any(axis=1)
        bad |= fin & (arr[:, 2:] < 0).any(axis=1)
        bad |= ~fin & (arr[:, 2:] != -1).any(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidInputError(
                f"{_prefix(where)}pairs[{k}] row {i} is {arr[i].tolist()} for the point "
                f"{d[i].tolist()}: birth edges need vertex ids >= 0, a finite death a death edge of "
                "ids >= 0, an infinite death the death edge (-1, -1)."
            )
        out.append(arr)
    return tuple(out)


def json_default(obj: Any) -> Any:
    """``json.dumps`` hook for numpy scalars, arrays and paths."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"metadata value {obj!r} of type {type(obj).__name__} is not JSON serialisable")


def check_metadata(metadata: Any, where: str = "") -> dict[str, Any]:
    """Validate the metadata: a mapping with string keys, JSON-serialisable (numpy values allowed)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(f"{_prefix(where)}metadata must be a dict, found {type(metadata).__name__}.")
    bad = [key for key in metadata if not isinstance(key, str)]
    if bad:
        raise InvalidInputError(f"{_prefix(where)}metadata keys must be strings, found {bad[0]!r}.")
    try:
        json.dumps(metadata, default=json_default, allow_nan=True)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInputError(
            f"{_prefix(where)}metadata must be JSON-serialisable (numbers, strings, lists, dicts, "
            f"numpy values, paths): {exc}."
        ) from None
    return dict(metadata)
