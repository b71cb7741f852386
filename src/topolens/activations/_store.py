"""The on-disk activation store: format, ownership rules, writing and reading.

A store directory holds only files topolens names itself::

    manifest.json        {"format": "topolens.Activations", "version": 1, ...}, written last
    0000_<layer>.f32     raw little-endian float32, C order, (n_inputs, n_neurons)
    labels.npy           optional
    predictions.npy      optional (int64, the model's argmax per input)

Writing into a directory that holds anything else (another tool's ``manifest.json``,
the user's files, even a ``labels.npy`` or ``0000_x.f32`` that no topolens manifest in
the folder lists) is refused before anything is written, and replacing an earlier
store removes only files that its topolens manifest lists *and* that follow the
naming scheme above: topolens never deletes what it did not write.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path, atomic_write_text
from ..exceptions import IntegrityError, InvalidInputError

_REDUCE_CHOICES = ("flatten", "mean", "max")
_FORMAT = "topolens.Activations"
_FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_LABELS_FILE = "labels.npy"
_PREDICTIONS_FILE = "predictions.npy"
_DISK_DTYPE = np.dtype("<f4")

#: names topolens writes in a store: layer files, and the temporaries of its atomic writes
_LAYER_FILE = re.compile(r"\d{4}_[A-Za-z0-9_.-]{1,80}\.f32")
_FIXED_FILES = frozenset({_MANIFEST, _LABELS_FILE, _PREDICTIONS_FILE})


def _expected_neurons(shape: tuple[int, ...], reduce: str) -> int:
    """Columns of a layer with per-input output ``shape`` under ``reduce``."""
    if reduce != "flatten" and len(shape) >= 2:
        return int(shape[0])
    return int(math.prod(shape))


def _safe_filename(index: int, name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:80] or "root"
    return f"{index:04d}_{safe}.f32"


def _is_own_name(name: str) -> bool:
    """Whether ``name`` follows topolens' naming of store files (or their temporaries)."""
    return name in _FIXED_FILES or bool(_LAYER_FILE.fullmatch(name)) or _is_temporary(name)


def _is_temporary(name: str) -> bool:
    """Whether ``name`` is a hidden temporary of topolens' own writes (``.partial``, ``.tmp``)."""
    if name.startswith(".") and name.endswith(".partial"):  # streamed layer files
        return bool(_LAYER_FILE.fullmatch(name[1:-len(".partial")]))
    if name.startswith(".") and name.endswith(".tmp"):  # atomic_path: .<final>.<random><suffix>.tmp
        final = next((f for f in _FIXED_FILES if name.startswith(f".{f}.")), None)
        return final is not None or bool(re.match(r"\.\d{4}_[A-Za-z0-9_.-]{1,80}\.f32\.", name))
    return False


def _read_own_manifest(directory: Path) -> dict[str, Any] | None:
    """The topolens manifest in ``directory``; None if there is none; raises if foreign."""
    path = directory / _MANIFEST
    if not path.exists():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        raise InvalidInputError(
            f"{str(directory)!r} holds a {_MANIFEST} that topolens cannot read ({exc}), so it may "
            "belong to another tool; topolens does not overwrite or delete files it did not write. "
            "Choose an empty or new directory, or remove that folder's contents yourself."
        ) from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        marker = meta.get("format") if isinstance(meta, dict) else None
        raise InvalidInputError(
            f"{str(directory)!r} holds a {_MANIFEST} that was not written by topolens (format "
            f"marker {marker!r}, expected {_FORMAT!r}); topolens does not overwrite or delete "
            "another tool's files. Choose an empty or new directory for the activation store."
        )
    return meta


def _as_directory(value: Any, what: str) -> Path:
    """``value`` as a Path (a str or os.PathLike naming a directory)."""
    if isinstance(value, Path):
        return value
    if not isinstance(value, (str, os.PathLike)) or (isinstance(value, str) and not value):
        raise InvalidInputError(
            f"{what} must be a directory path (str or os.PathLike), found {value!r} "
            f"({type(value).__name__}). Pass e.g. {what}='activations/run1'."
        )
    return Path(value)


def _check_store_dir(directory: Path, what: str = "store") -> None:
    """Refuse a store directory holding anything topolens did not write; create it if missing."""
    if directory.exists() and not directory.is_dir():
        raise InvalidInputError(f"{what}={str(directory)!r} exists and is not a directory; pass a directory path.")
    try:
        if not directory.exists():
            directory.mkdir(parents=True, exist_ok=True)
            return
        meta = _read_own_manifest(directory)
        listed = _listed_files(meta) if meta is not None else set()
        # a file is ours only if our manifest here lists it (or it is one of our temporaries):
        # a user's own labels.npy or 0000_x.f32 in a folder without our manifest is foreign
        foreign = sorted(p.name for p in directory.iterdir()
                         if p.is_dir() or not (p.name in listed or _is_temporary(p.name)
                                               or (p.name == _MANIFEST and meta is not None)))
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(13, "the directory is not writable")
    except OSError as exc:
        raise InvalidInputError(
            f"cannot write an activation store in {what}={str(directory)!r}: "
            f"{exc.strerror or exc}. Pass a writable directory."
        ) from exc
    if foreign:
        shown = ", ".join(repr(f) for f in foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise InvalidInputError(
            f"{what}={str(directory)!r} holds {len(foreign)} entr{'y' if len(foreign) == 1 else 'ies'} "
            f"that topolens did not write ({shown}); an activation store directory must be new, "
            "empty, or an earlier topolens store, so that replacing it never touches other files "
            "(a file named like ours counts as foreign unless this folder's topolens manifest.json "
            "lists it). Choose another directory (e.g. a new subfolder)."
        )


def _old_store_files(directory: Path) -> set[str]:
    """Files of an earlier topolens store in ``directory``; removes its manifest first.

    Only files the topolens manifest lists *and* whose names follow topolens' naming
    scheme are returned; a foreign manifest raises (see :func:`_read_own_manifest`).
    """
    meta = _read_own_manifest(directory)
    if meta is None:
        return set()
    (directory / _MANIFEST).unlink()  # the store is invalid until the new manifest is written
    return _listed_files(meta)


def _listed_files(meta: dict[str, Any]) -> set[str]:
    """Plain file names, in topolens' naming, that a topolens manifest lists (never itself)."""
    old: set[str] = set()
    with contextlib.suppress(TypeError, KeyError, AttributeError):
        old.update(str(layer["file"]) for layer in meta["layers"])
    for key in ("labels", "predictions"):
        with contextlib.suppress(TypeError, KeyError, AttributeError):
            if meta.get(key):
                old.add(str(meta[key]["file"]))
    return {f for f in old if f == Path(f).name and f != _MANIFEST and _is_own_name(f)}


def _written_files(files: dict[str, str], labels: Any, predictions: Any) -> set[str]:
    """Every file a new store with these layer files, labels and predictions consists of."""
    extra = {f for f, a in ((_LABELS_FILE, labels), (_PREDICTIONS_FILE, predictions)) if a is not None}
    return set(files.values()) | extra


def _discard(directory: Path, names: set[str]) -> None:
    """Remove our files after a failed replacement: the old store lost its manifest, so its
    files and the new ones would otherwise stay behind as orphans no manifest lists."""
    for f in names:
        with contextlib.suppress(OSError):
            (directory / f).unlink()


def _write_npy(directory: Path, fname: str, arr: np.ndarray) -> dict[str, Any]:
    with atomic_path(directory / fname) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)  # a file object: np.save adds no suffix
        fh.flush()
        os.fsync(fh.fileno())
    return {"file": fname, "dtype": arr.dtype.str, "shape": list(arr.shape)}


def _write_layer(directory: Path, fname: str, arr: np.ndarray) -> None:
    """One layer as raw little-endian float32, written atomically in bounded chunks."""
    step = max(1, (1 << 24) // max(1, arr.shape[1]))
    with atomic_path(directory / fname) as tmp, open(tmp, "wb") as fh:
        for i in range(0, arr.shape[0], step):
            fh.write(np.ascontiguousarray(arr[i : i + step], dtype=_DISK_DTYPE).data)
        fh.flush()
        os.fsync(fh.fileno())


def _finish_store(directory: Path, old_files: set[str], names: list[str], files: dict[str, str],
                  shapes: dict[str, tuple[int, ...]], n_neurons: dict[str, int], n_inputs: int,
                  reduce: str, labels: np.ndarray | None, predictions: np.ndarray | None) -> None:
    """Write labels, predictions and the manifest (last); drop files of an earlier store."""
    new_files = set(files.values())
    extra: dict[str, Any] = {"labels": None, "predictions": None}
    for key, fname, arr in (("labels", _LABELS_FILE, labels), ("predictions", _PREDICTIONS_FILE, predictions)):
        if arr is not None:
            extra[key] = _write_npy(directory, fname, arr)
            new_files.add(fname)
    for f in old_files - new_files:
        with contextlib.suppress(OSError):
            (directory / f).unlink()
    manifest = {
        "format": _FORMAT,
        "version": _FORMAT_VERSION,
        "n_inputs": int(n_inputs),
        "dtype": _DISK_DTYPE.str,
        "order": "C",
        "reduce": reduce,
        "layers": [
            {"name": n, "file": files[n], "n_neurons": int(n_neurons[n]), "shape": list(shapes[n])}
            for n in names
        ],
        **extra,
    }
    atomic_write_text(directory / _MANIFEST, json.dumps(manifest, indent=2))


def _save_arrays(directory: Path, arrays: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]],
                 n_inputs: int, reduce: str, labels: np.ndarray | None,
                 predictions: np.ndarray | None) -> None:
    """Write a complete store (used by :meth:`Activations.save`)."""
    _check_store_dir(directory, "directory")
    old = _old_store_files(directory)  # the old store is invalid from here on
    names = list(arrays)
    files = {k: _safe_filename(i, k) for i, k in enumerate(names)}
    try:
        for k in names:
            _write_layer(directory, files[k], arrays[k])
        _finish_store(directory, old, names, files, shapes,
                      {k: int(a.shape[1]) for k, a in arrays.items()}, n_inputs, reduce, labels,
                      predictions)
    except BaseException:
        _discard(directory, old | _written_files(files, labels, predictions))
        raise


# --------------------------------------------------------------------------- reading
def _bad(directory: Path, msg: str) -> IntegrityError:
    return IntegrityError(f"activation store {str(directory)!r}: {msg}. Record or save it again.")


def _read_manifest(directory: Path) -> dict[str, Any]:
    manifest_path = directory / _MANIFEST
    if not manifest_path.is_file():
        raise InvalidInputError(
            f"{str(directory)!r} holds no {_MANIFEST}, so it is not a (complete) topolens "
            "activation store. Pass a directory written by Activations.save or "
            "record_activations(store=...); an interrupted run leaves none."
        )
    try:
        meta = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise _bad(directory, f"cannot read {_MANIFEST} ({type(exc).__name__}: {exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise _bad(directory, f"{_MANIFEST} is not a {_FORMAT} manifest")
    if meta.get("version") != _FORMAT_VERSION:
        raise _bad(directory, f"format version {meta.get('version')!r} is not supported (expected {_FORMAT_VERSION})")
    if meta.get("dtype") != _DISK_DTYPE.str or meta.get("order", "C") != "C":
        raise _bad(directory, f"dtype {meta.get('dtype')!r} / order {meta.get('order')!r} unsupported "
                              "(expected '<f4', 'C')")
    n_inputs, reduce, layers = meta.get("n_inputs"), meta.get("reduce"), meta.get("layers")
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
        raise _bad(directory, f"n_inputs is {n_inputs!r}, expected a positive integer")
    if reduce not in _REDUCE_CHOICES:
        raise _bad(directory, f"reduce is {reduce!r}, expected one of {_REDUCE_CHOICES}")
    if not isinstance(layers, list) or not layers:
        raise _bad(directory, "the manifest lists no layers")
    return meta


def _read_layer(directory: Path, entry: Any, n_inputs: int, reduce: str, seen: Sequence[str],
                mmap: bool) -> tuple[str, np.ndarray, tuple[int, ...]]:
    try:
        name, fname = entry["name"], entry["file"]
        k = entry["n_neurons"]
        shape = tuple(entry["shape"])
    except (KeyError, TypeError) as exc:
        raise _bad(directory, f"malformed layer entry {entry!r}") from exc
    if not isinstance(name, str) or name in seen:
        raise _bad(directory, f"layer name {name!r} is not a string or is repeated")
    if not isinstance(fname, str) or fname != Path(fname).name or fname in ("", ".", ".."):
        raise _bad(directory, f"file name {fname!r} of layer {name!r} is not a plain file name")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or \
            not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape) or \
            _expected_neurons(shape, reduce) != k:
        raise _bad(directory, f"layer {name!r} has n_neurons={k!r} inconsistent with shape {list(shape)}")
    path = directory / fname
    expected = n_inputs * k * _DISK_DTYPE.itemsize
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _bad(directory, f"data file {fname!r} of layer {name!r} is missing") from exc
    if size != expected:
        raise _bad(directory,
                   f"data file {fname!r} of layer {name!r} has {size} bytes but {n_inputs} inputs x "
                   f"{k} neurons x 4 bytes = {expected} were expected (truncated or overwritten?)")
    try:
        if mmap:
            arr = np.memmap(path, dtype=_DISK_DTYPE, mode="r", shape=(n_inputs, k), order="C")
        else:
            arr = np.fromfile(path, dtype=_DISK_DTYPE).reshape(n_inputs, k)
    except (OSError, ValueError) as exc:  # unreadable, a directory, changed since the stat
        raise _bad(directory, f"cannot read data file {fname!r} of layer {name!r} "
                              f"({type(exc).__name__}: {exc})") from exc
    return name, (arr if arr.dtype == np.float32 else arr.astype(np.float32)), shape


def _read_npy(directory: Path, meta: dict[str, Any], key: str, n_inputs: int) -> np.ndarray | None:
    """The optional labels/predictions array named in the manifest (None when absent)."""
    if not meta.get(key):
        return None
    try:
        fname = meta[key]["file"]
        if not isinstance(fname, str) or fname != Path(fname).name:
            raise _bad(directory, f"{key} file name {fname!r} is not a plain file name")
        arr = np.load(directory / fname, allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise _bad(directory, f"cannot read the {key} ({exc})") from exc
    if not isinstance(arr, np.ndarray) or arr.ndim == 0 or arr.shape[0] != n_inputs:
        raise _bad(directory, f"{key} have shape {np.shape(arr)} but there are {n_inputs} inputs")
    if key == "predictions" and (arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer)):
        raise _bad(directory, f"predictions must be an integer array ({n_inputs},), found "
                              f"{arr.dtype} {arr.shape}")
    return arr


def _load_store(directory: Path, mmap: bool) -> dict[str, Any]:
    """Read a store: the keyword arguments of ``Activations._from_parts``."""
    meta = _read_manifest(directory)
    n_inputs, reduce = meta["n_inputs"], meta["reduce"]
    arrays: dict[str, np.ndarray] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for entry in meta["layers"]:
        name, arr, shape = _read_layer(directory, entry, n_inputs, reduce, list(arrays), mmap)
        arrays[name], shapes[name] = arr, shape
    return dict(arrays=arrays, shapes=shapes, reduce=reduce,
                labels=_read_npy(directory, meta, "labels", n_inputs),
                predictions=_read_npy(directory, meta, "predictions", n_inputs),
                directory=directory if mmap else None)
