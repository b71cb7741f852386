"""Reading and writing :class:`~topolens.PersistenceDiagrams`: ``.npz`` files and plain dicts.

Pure functions between the fields ``(dgms, censored, pairs, metadata)`` and their stored
forms. :func:`read_npz` trusts nothing in the file: it opens the archive itself, refuses
object arrays (no pickle, ever), checks every member's declared shape against its stored
size and the memory budget before reading it, and validates every field with
:mod:`._fields`; any failure is an :class:`~topolens.InvalidInputError` that names the file
and the field.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path
from ..exceptions import InvalidInputError, MemoryBudgetError
from ._convert import MAX_DIM
from ._fields import check_censored, check_dgms, check_metadata, check_pairs, json_default

__all__ = ["FORMAT", "Fields", "from_dict", "read_npz", "to_dict", "write_npz"]

FORMAT = "topolens.PersistenceDiagrams"
_VERSION = 1
_HINT = "Was it written by PersistenceDiagrams.save? Save it again from the diagrams."
#: the errors a damaged archive or .npy member can raise while being read
_READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, KeyError, TypeError,
                OverflowError, UnicodeDecodeError, NotImplementedError)

_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}

Fields = tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...], "tuple[np.ndarray, ...] | None", dict[str, Any]]


def write_npz(path: str | os.PathLike, dgms: tuple[np.ndarray, ...], censored: tuple[np.ndarray, ...],
              pairs: tuple[np.ndarray, ...] | None, metadata: dict[str, Any]) -> Path:
    """Write the fields atomically to ``path`` (``.npz`` appended if missing); return the path."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz")
    if path.is_dir():
        raise InvalidInputError(f"{path} is a directory; pass a file name such as {path / 'diagrams.npz'}.")
    arrays: dict[str, np.ndarray] = {}
    for k in range(len(dgms)):
        arrays[f"dgm_{k}"] = dgms[k]
        arrays[f"censored_{k}"] = censored[k]
        if pairs is not None:
            arrays[f"pairs_{k}"] = pairs[k]
    header = {"format": FORMAT, "version": _VERSION, "max_dim": len(dgms) - 1,
              "has_pairs": pairs is not None, "metadata": metadata}
    try:
        text = json.dumps(header, default=json_default)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"cannot save {path}: the metadata is not JSON-serialisable ({exc}).") from None
    arrays["header"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def _member(zf: zipfile.ZipFile, name: str, path: Path, budget: int | None) -> np.ndarray:
    """Read one ``.npy`` member, checking its header against its size before allocating."""
    where = f"{path}: field {name[:-4]!r}"
    try:
        info = zf.getinfo(name)
        if budget is not None and info.file_size > budget:
            raise MemoryBudgetError(f"{where} declares {info.file_size / 2**30:.2f} GiB, more than the "
                                    f"memory budget of {budget / 2**30:.2f} GiB; refusing to read it.")
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version not in _HEADER_READERS:
                raise InvalidInputError(f"{where} is a .npy member of format version {version}, which "
                                        f"a diagrams file never uses. {_HINT}")
            shape, _, dtype = _HEADER_READERS[version](fh)
            offset = fh.tell()
        if dtype.hasobject:
            raise InvalidInputError(f"{where} holds Python objects (dtype {dtype}); a diagrams file "
                                    f"only holds numbers, and pickled objects are never loaded. {_HINT}")
        need = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if need + offset != info.file_size:
            raise InvalidInputError(f"{where} declares shape {shape} of {dtype} ({need} bytes) but stores "
                                    f"{info.file_size - offset} bytes; the file is truncated or corrupt. {_HINT}")
        blob = zf.read(info)
        return np.lib.format.read_array(io.BytesIO(blob), allow_pickle=False)
    except InvalidInputError:
        raise
    except _READ_ERRORS as exc:
        raise InvalidInputError(f"{where} could not be read ({type(exc).__name__}: {exc}); the file is "
                                f"truncated or corrupt. {_HINT}") from None


def _header(zf: zipfile.ZipFile, path: Path, budget: int | None) -> dict[str, Any]:
    names = set(zf.namelist())
    if "header.npy" not in names:
        held = ", ".join(sorted(n.removesuffix(".npy") for n in names)[:8]) or "nothing"
        raise InvalidInputError(f"{path} is not a topolens diagrams file: it has no header (it holds: "
                                f"{held}). {_HINT}")
    raw = _member(zf, "header.npy", path, budget)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise InvalidInputError(f"{path}: field 'header' must be 1-D uint8 JSON bytes, found {raw.dtype} "
                                f"of shape {raw.shape}. {_HINT}")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidInputError(f"{path}: field 'header' is not valid JSON ({exc}). {_HINT}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InvalidInputError(f"{path} is not a topolens diagrams file (its header names no "
                                f"{FORMAT!r} format). {_HINT}")
    if header.get("version") != _VERSION:
        raise InvalidInputError(f"{path}: format version {header.get('version')!r} is not supported "
                                f"(this topolens reads version {_VERSION}); upgrade topolens.")
    max_dim = header.get("max_dim")
    if isinstance(max_dim, bool) or not isinstance(max_dim, int) or not 0 <= max_dim <= MAX_DIM:
        raise InvalidInputError(f"{path}: header field 'max_dim' must be an integer in [0, {MAX_DIM}], "
                                f"found {max_dim!r}. {_HINT}")
    if not isinstance(header.get("has_pairs"), bool):
        raise InvalidInputError(f"{path}: header field 'has_pairs' must be true or false, found "
                                f"{header.get('has_pairs')!r}. {_HINT}")
    return header


def read_npz(path: str | os.PathLike) -> Fields:
    """Read and validate the fields stored by :func:`write_npz`."""
    from ..homology.memory import memory_budget

    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise InvalidInputError(f"{path} {what}; pass the .npz file written by PersistenceDiagrams.save.")
    budget = memory_budget("auto")
    try:
        zf = zipfile.ZipFile(path)
    except _READ_ERRORS as exc:
        size = path.stat().st_size
        raise InvalidInputError(f"could not read persistence diagrams from {path} ({size} bytes): not a "
                                f"readable .npz archive ({type(exc).__name__}: {exc}). {_HINT}") from None
    with zf:
        header = _header(zf, path, budget)
        n = header["max_dim"] + 1
        names = set(zf.namelist())
        wanted = [f"{f}_{k}" for k in range(n) for f in ("dgm", "censored", "pairs")
                  if f != "pairs" or header["has_pairs"]]
        missing = [w for w in wanted if f"{w}.npy" not in names]
        if missing:
            raise InvalidInputError(f"{path}: field {missing[0]!r} is missing ({len(missing)} of "
                                    f"{len(wanted)} expected fields). {_HINT}")
        z = {w: _member(zf, f"{w}.npy", path, budget) for w in wanted}
    dgms = check_dgms([z[f"dgm_{k}"] for k in range(n)], str(path))
    cens = check_censored([_flags(z[f"censored_{k}"], k, path) for k in range(n)], dgms, str(path))
    pairs = check_pairs([z[f"pairs_{k}"] for k in range(n)], dgms, str(path)) if header["has_pairs"] else None
    return dgms, cens, pairs, check_metadata(header.get("metadata", {}), f"{path}: header")


def _flags(c: np.ndarray, k: int, path: Path) -> np.ndarray:
    if c.dtype != bool:
        raise InvalidInputError(f"{path}: field 'censored_{k}' must be boolean, found dtype {c.dtype}. {_HINT}")
    return c


def to_dict(dgms: tuple[np.ndarray, ...], censored: tuple[np.ndarray, ...],
            pairs: tuple[np.ndarray, ...] | None, metadata: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready dict (infinite deaths as the string ``"inf"``)."""
    def enc(d: np.ndarray) -> list[list[Any]]:
        return [[float(b), "inf" if np.isinf(x) else float(x)] for b, x in d]

    return {
        "dgms": [enc(d) for d in dgms],
        "censored": [c.tolist() for c in censored],
        "pairs": None if pairs is None else [p.tolist() for p in pairs],
        "metadata": json.loads(json.dumps(metadata, default=json_default)),
    }


def _decode_dgm(d: Any, k: int) -> np.ndarray:
    """One dimension of :func:`to_dict`'s ``dgms``: rows ``[birth, death]``, ``"inf"`` allowed."""
    if isinstance(d, (str, bytes, Mapping)) or not hasattr(d, "__iter__"):
        raise InvalidInputError(f"from_dict: dgms[{k}] must be a list of [birth, death] rows, found "
                                f"{type(d).__name__}.")
    rows = []
    for i, row in enumerate(d):
        if isinstance(row, (str, bytes, Mapping)) or not hasattr(row, "__len__") or len(row) != 2:
            raise InvalidInputError(f"from_dict: dgms[{k}][{i}] must be a [birth, death] pair, found {row!r}.")
        vals = []
        for x in row:
            if x == "inf":
                x = np.inf
            if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
                raise InvalidInputError(f"from_dict: dgms[{k}][{i}] holds {x!r}; births and deaths are "
                                        "numbers (\"inf\" for a class that never dies).")
            vals.append(float(x))
        rows.append(vals)
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


def from_dict(data: Any) -> Fields:
    """Validate and decode :func:`to_dict`'s output back into fields."""
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"from_dict needs the dict made by to_dict, found {type(data).__name__}.")
    unknown = set(data) - {"dgms", "censored", "pairs", "metadata"}
    if "dgms" not in data or unknown:
        raise InvalidInputError(f"from_dict needs the keys dgms (required), censored, pairs and metadata; "
                                f"found {sorted(map(str, data))}.")
    raw = data["dgms"]
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, (list, tuple)):
        raise InvalidInputError(f"from_dict: dgms must be a list with one entry per dimension, found "
                                f"{type(raw).__name__}.")
    dgms = check_dgms([_decode_dgm(d, k) for k, d in enumerate(raw)], "from_dict")
    cens = check_censored(data.get("censored"), dgms, "from_dict")
    pairs = check_pairs(data.get("pairs"), dgms, "from_dict")
    return dgms, cens, pairs, check_metadata(data.get("metadata", {}), "from_dict")
