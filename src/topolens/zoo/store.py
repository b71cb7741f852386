"""A zoo on disk: one folder, one record per model, written atomically, resumable.

Layout::

    ZOO/
      zoo.json                       # format version, the grid last trained from (or the source)
      models/<model_id>/weights.pt   # {"initial": state_dict, "final": state_dict}
      models/<model_id>/record.json  # config, metrics, history, checksum of weights.pt
      data/                          # imported zoos only: x_train.npy ... and data.json
      features/                      # feature cache of topolens.generalization

Two kinds of zoo share the layout. A *trained* zoo (:func:`train_zoo`) names its grid in
``zoo.json``; its records hold a :class:`~topolens.zoo.grid.ModelConfig` and the data set is
one of :data:`~topolens.zoo.grid.DATASETS`. An *imported* zoo
(:func:`topolens.zoo.pgdl.import_pgdl`) names its ``source`` instead (no grid); its records
(``"kind": "pgdl"``) hold the foreign architecture (the Keras ``model_config`` and
``input_shape`` of PGDL's ``config.json``) and the hyperparameters of ``model_configs.json``,
and the zoo stores its own data under ``data/`` (:func:`write_zoo_data`,
:func:`load_stored_data`). :func:`zoo_data` serves either kind.

``weights.pt`` is written first, then ``record.json``; both via a temporary file and an
atomic rename, so a model counts as finished exactly when its record exists, and a run
killed at any moment loses at most the models in training. :func:`train_zoo` skips
models whose record is valid; :meth:`Zoo.load` validates every record (JSON, schema,
config hash, metric ranges, weights checksum) and names a corrupt one by its path.
Weights are read with ``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import io
import json
import logging
import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_path, atomic_write_bytes, atomic_write_text, safe_torch_load, sha256_file
from .._parallel import check_n_jobs, run_jobs
from ..exceptions import (
    ConfigError,
    CorruptRecordError,
    DataNotFoundError,
    InvalidInputError,
    MemoryBudgetError,
    ShapeError,
    TopolensWarning,
    UntrustedCheckpointError,
)
from .grid import HYPERPARAMETERS, Grid, ModelConfig, load_grid
from .train import ZooData, build_model, check_model_memory, load_zoo_data, train_model

__all__ = ["ModelRecord", "Zoo", "check_model_id", "load_stored_data", "train_zoo", "write_zoo_data",
           "zoo_data"]

logger = logging.getLogger(__name__)

FORMAT = "topolens-zoo"
VERSION = 1
_METRICS = ("train_accuracy", "train_loss", "train_accuracy_clean", "test_accuracy",
            "test_loss", "gap", "loss_gap", "seconds", "n_parameters", "n_train", "epochs_run")
#: metrics every imported record holds (the others of model_configs.json are kept as well)
_IMPORTED_METRICS = ("train_accuracy", "test_accuracy", "gap")
#: record kinds: "grid" (trained by train_zoo; records without "kind") and "pgdl" (imported)
KINDS = ("grid", "pgdl")
#: model ids of imported records (folder names): no path separator, no "..", no leading dot
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")
DATA_FORMAT = "topolens-zoo-data"
DATA_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def check_model_id(model_id: Any) -> str:
    """``model_id`` if it is a safe folder name (letters, digits, ``_.+-``; no ``..``), else raise.

    Raises
    ------
    InvalidInputError
        A path separator, ``..``, a leading dot, other characters, or more than 128 characters.
    """
    if not isinstance(model_id, str) or not _MODEL_ID.match(model_id) or ".." in model_id:
        raise InvalidInputError(
            f"model id {model_id!r} is not a safe folder name; expected 1-128 letters, digits or '_.+-', "
            "starting with a letter or digit and without '..' (e.g. 'model_6').")
    return model_id


@dataclass(frozen=True)
class ModelRecord:
    """One model of a zoo (read from ``models/<model_id>/record.json``).

    ``config`` is the grid's :class:`~topolens.zoo.grid.ModelConfig` of a trained model and
    None for an imported one, which has ``architecture`` (``{"kind": "keras", "model_config":
    [...], "input_shape": [...]}`` as read from PGDL's ``config.json``) and ``hparams``
    (hyperparameter name -> value, from ``model_configs.json``) instead.
    """

    path: Path
    config: ModelConfig | None
    metrics: dict[str, float]
    history: dict[str, list[float]]
    dataset: str
    weights_sha256: str
    created: str
    versions: dict[str, str] = field(default_factory=dict)
    architecture: dict[str, Any] | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    kind: str = "grid"
    source_id: str | None = None

    @property
    def model_id(self) -> str:
        return self.config.model_id if self.config is not None else self.path.name

    @property
    def _redo(self) -> str:
        return ("'topolens zoo import-pgdl' to reimport it" if self.kind == "pgdl"
                else "'topolens zoo train' to retrain it")

    @property
    def gap(self) -> float:
        return self.metrics["gap"]

    @property
    def weights_path(self) -> Path:
        return self.path / "weights.pt"

    def load_states(self) -> dict[str, dict[str, torch.Tensor]]:
        """``{"initial": state_dict, "final": state_dict}``, read with ``weights_only=True``."""
        if not self.weights_path.is_file():
            raise CorruptRecordError(f"{self.weights_path}: weights file missing; delete "
                                     f"{self.path} and rerun {self._redo}.")
        try:
            states = safe_torch_load(self.weights_path, what="zoo weights file",
                                     corrupt_error=CorruptRecordError)
        except UntrustedCheckpointError as exc:
            raise UntrustedCheckpointError(f"{exc} A zoo stores plain state dicts only; delete "
                                           f"{self.path} and rerun {self._redo}.") from None
        if (not isinstance(states, dict) or set(states) != {"initial", "final"}
                or not all(isinstance(v, dict) for v in states.values())):
            raise CorruptRecordError(f"{self.weights_path}: expected a dict with 'initial' and "
                                     f"'final' state dicts; delete {self.path} and rerun {self._redo}.")
        return states

    def load_model(self, which: str = "final") -> torch.nn.Module:
        """The network with its ``"final"`` (trained) or ``"initial"`` weights, in eval mode."""
        if which not in ("final", "initial"):
            raise ConfigError(f"which must be 'final' or 'initial', found {which!r}.")
        if self.architecture is not None:
            from ._keras import keras_sequential

            model = keras_sequential(self.architecture["model_config"], self.architecture["input_shape"])
        else:
            model = build_model(self.config)
        try:
            model.load_state_dict(self.load_states()[which])
        except RuntimeError as exc:  # missing/unexpected keys or shapes: the file does not fit
            why = " ".join(line.strip() for line in str(exc).splitlines()[1:])[:300] or str(exc)[:300]
            raise CorruptRecordError(f"{self.weights_path}: the {which} weights do not fit the model's "
                                     f"architecture ({why}); delete {self.path} "
                                     f"and rerun {self._redo}.") from None
        return model.eval()


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_record(folder: str | os.PathLike, *, verify_weights: bool = True) -> ModelRecord:
    """Read and validate one model record; raise :class:`CorruptRecordError` naming its path.

    Records without a ``"kind"`` (or with ``"grid"``) are trained models; ``"pgdl"`` records
    are imported ones. Both are format version 1.
    """
    folder = Path(folder)
    path = folder / "record.json"
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _bad_record(folder, "record missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad_record(folder, f"not valid JSON ({exc})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise _bad_record(folder, f"not a {FORMAT} record")
    kind = d.get("kind", "grid")
    if kind not in KINDS:
        raise _bad_record(folder, f"unknown record kind {kind!r}; this topolens reads {list(KINDS)}")
    if d.get("version") != VERSION:
        raise _bad_record(folder, f"record version {d.get('version')!r}, this topolens reads version {VERSION}",
                          kind)
    extra = _grid_fields(folder, d) if kind == "grid" else _pgdl_fields(folder, d)
    metrics = d["metrics"]
    sha = d.get("weights_sha256")
    weights = folder / "weights.pt"
    if not isinstance(sha, str) or not weights.is_file():
        raise _bad_record(folder, "weights.pt or its checksum missing", kind)
    if verify_weights and sha256_file(weights) != sha:
        raise _bad_record(folder, "weights.pt does not match the checksum in the record (truncated or altered)",
                          kind)
    history = d.get("history", {})
    return ModelRecord(path=folder, metrics={k: float(v) for k, v in metrics.items()},
                       history=history if isinstance(history, dict) else {},
                       dataset=str(d.get("dataset")), weights_sha256=sha,
                       created=str(d.get("created", "")), versions=d.get("versions") or {},
                       kind=kind, **extra)


def _bad_record(folder: Path, why: str, kind: str = "grid") -> CorruptRecordError:
    redo = ("'topolens zoo import-pgdl' (it imports only the missing models)" if kind == "pgdl"
            else "'topolens zoo train' (it retrains only the missing models)")
    return CorruptRecordError(f"{folder / 'record.json'}: {why}. Delete {folder} and rerun {redo}.")


def _check_accuracies(folder: Path, metrics: Any, required: Sequence[str], kind: str) -> None:
    if not isinstance(metrics, dict) or any(not _finite_number(metrics.get(k)) for k in required):
        raise _bad_record(folder, f"metrics must hold finite numbers for {list(required)}", kind)
    if kind == "pgdl" and any(not _finite_number(v) for v in metrics.values()):
        raise _bad_record(folder, "every metric must be a finite number", kind)
    for k in ("train_accuracy", "test_accuracy", "train_accuracy_clean"):
        if k in metrics and not 0.0 <= metrics[k] <= 1.0:
            raise _bad_record(folder, f"{k}={metrics[k]} outside [0, 1]", kind)
    if abs(metrics["gap"] - (metrics["train_accuracy"] - metrics["test_accuracy"])) > 1e-9:
        raise _bad_record(folder, "gap != train_accuracy - test_accuracy", kind)


def _grid_fields(folder: Path, d: dict[str, Any]) -> dict[str, Any]:
    try:
        config = ModelConfig.from_dict(d["config"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise _bad_record(folder, f"invalid config ({exc})") from None
    if d.get("model_id") != config.model_id or folder.name != config.model_id:
        raise _bad_record(folder, f"model id {d.get('model_id')!r} / folder {folder.name!r} do not match the "
                          f"config's hash {config.model_id!r}")
    _check_accuracies(folder, d.get("metrics"), _METRICS, "grid")
    return {"config": config}


def _pgdl_fields(folder: Path, d: dict[str, Any]) -> dict[str, Any]:
    mid = d.get("model_id")
    try:
        check_model_id(mid)
    except InvalidInputError as exc:
        raise _bad_record(folder, str(exc), "pgdl") from None
    if folder.name != mid:
        raise _bad_record(folder, f"model id {mid!r} does not match the folder {folder.name!r}", "pgdl")
    arch = d.get("architecture")
    if (not isinstance(arch, dict) or arch.get("kind") != "keras"
            or not isinstance(arch.get("model_config"), (list, dict))
            or not isinstance(arch.get("input_shape"), list)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in arch["input_shape"])):
        raise _bad_record(folder, "architecture must be {'kind': 'keras', 'model_config': [...], "
                          "'input_shape': [positive ints]}", "pgdl")
    hparams = d.get("hparams")
    if not isinstance(hparams, dict):
        raise _bad_record(folder, "hparams must be an object name -> value", "pgdl")
    _check_accuracies(folder, d.get("metrics"), _IMPORTED_METRICS, "pgdl")
    source_id = d.get("source_id")
    return {"config": None, "architecture": arch, "hparams": hparams,
            "source_id": source_id if isinstance(source_id, str) else None}


class Zoo:
    """A model population (read with :meth:`load`; made with :func:`train_zoo` or
    :func:`topolens.zoo.pgdl.import_pgdl`).

    Attributes
    ----------
    path : Path
    grid : Grid or None
        The grid the zoo was last trained from; None for an imported zoo.
    source : dict or None
        Where an imported zoo came from (``{"kind": "pgdl", "task", "layout", "root"}``);
        None for a trained zoo.
    records : list of ModelRecord
        Valid records, sorted by model id.
    corrupt : list of (Path, str)
        Records skipped by ``load(strict=False)`` and why.
    """

    def __init__(self, path: Path, grid: Grid | None, records: list[ModelRecord],
                 corrupt: list[tuple[Path, str]] | None = None,
                 source: dict[str, Any] | None = None) -> None:
        self.path = path
        self.grid = grid
        self.source = source
        self.records = sorted(records, key=lambda r: r.model_id)
        self.corrupt = corrupt or []

    @property
    def name(self) -> str:
        """The grid's name, or ``"PGDL <task>"`` for an imported zoo."""
        if self.grid is not None:
            return self.grid.name
        return f"PGDL {(self.source or {}).get('task', '?')}"

    @property
    def dataset(self) -> str:
        """The grid's data set, or ``"pgdl:<task>"`` for an imported zoo."""
        if self.grid is not None:
            return self.grid.dataset
        return f"pgdl:{(self.source or {}).get('task', '?')}"

    @classmethod
    def load(cls, path: str | os.PathLike, *, strict: bool = True,
             verify_weights: bool = True) -> Zoo:
        """Open a zoo folder and validate every record.

        Parameters
        ----------
        strict : bool, default True
            Raise :class:`CorruptRecordError` (naming the file) at the first corrupt
            record; with ``False`` skip corrupt records with a warning and list them in
            :attr:`corrupt`.
        verify_weights : bool, default True
            Check each ``weights.pt`` against the SHA-256 in its record.
        """
        path = Path(path)
        grid, source = _read_manifest(path)
        records, corrupt = [], []
        models = path / "models"
        for folder in sorted(models.iterdir()) if models.is_dir() else []:
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            if not (folder / "record.json").exists():
                continue  # weights written, record not yet: an unfinished model
            try:
                rec = read_record(folder, verify_weights=verify_weights)
                if (rec.kind == "grid") != (grid is not None):  # an imported model in a trained zoo...
                    raise _bad_record(folder, f"a {rec.kind!r} record in a zoo "
                                      f"{'trained from a grid' if grid is not None else 'imported from PGDL'}",
                                      "grid" if grid is not None else "pgdl")
                records.append(rec)
            except CorruptRecordError as exc:
                if strict:
                    raise
                corrupt.append((folder, str(exc)))
                warnings.warn(f"Skipping corrupt zoo record: {exc}", TopolensWarning, stacklevel=2)
        return cls(path, grid, records, corrupt, source=source)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[ModelRecord]:
        return iter(self.records)

    def __getitem__(self, key: int | str) -> ModelRecord:
        if isinstance(key, str):
            for r in self.records:
                if r.model_id == key:
                    return r
            raise KeyError(f"No model {key!r} in the zoo at {self.path}.")
        return self.records[key]

    def __repr__(self) -> str:
        return f"Zoo({str(self.path)!r}, n_models={len(self)}, dataset={self.dataset!r})"

    @property
    def model_ids(self) -> list[str]:
        return [r.model_id for r in self.records]

    def gaps(self) -> np.ndarray:
        """Generalization gaps (train minus test accuracy), in record order."""
        return np.array([r.gap for r in self.records], dtype=np.float64)

    def metric(self, name: str) -> np.ndarray:
        """One metric of every model (e.g. ``"test_accuracy"``), in record order."""
        return np.array([r.metrics[name] for r in self.records], dtype=np.float64)

    def hyperparameters(self, varying_only: bool = True) -> dict[str, list[Any]]:
        """Hyperparameter values per name, in record order (only those that vary by default).

        A trained zoo's names are :data:`~topolens.zoo.grid.HYPERPARAMETERS`; an imported
        zoo's are those of its records' ``hparams`` (PGDL's own, e.g. ``"depth"``), None where
        a record lacks one and list values as tuples (so they can be compared and grouped).
        """
        if self.grid is None:
            names = sorted({h for r in self.records for h in r.hparams})
            out = {h: [_hashable(r.hparams.get(h)) for r in self.records] for h in names}
        else:
            out = {h: [getattr(r.config, h) for r in self.records] for h in HYPERPARAMETERS}
        if varying_only:
            out = {h: v for h, v in out.items() if len({repr(x) for x in v}) > 1}
        return out

    def data(self, root: str | os.PathLike | None = None, *, verify: bool = False) -> ZooData:
        """The zoo's data set (train and test splits) as tensors.

        A trained zoo loads its grid's data set from ``root`` (default ``TOPOLENS_DATA``); an
        imported zoo reads its stored ``data/`` (``root`` unused; ``verify`` also checks the
        files' SHA-256). See :func:`zoo_data`.
        """
        return zoo_data(self.path, root, verify=verify)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _read_manifest(path: Path) -> tuple[Grid | None, dict[str, Any] | None]:
    """``(grid, None)`` of a trained zoo or ``(None, source)`` of an imported one."""
    manifest = path / "zoo.json"
    if path.exists() and not path.is_dir():
        raise CorruptRecordError(f"{path} is a file, not a zoo folder. Create a zoo with "
                                 "'topolens zoo train GRID --out ZOO'.")
    try:
        d = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorruptRecordError(f"{path} is not a zoo: {manifest} is missing. Create a zoo with "
                                 "'topolens zoo train GRID --out ZOO'.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptRecordError(f"{manifest}: not valid JSON ({exc}).") from None
    except OSError as exc:  # a folder named zoo.json, no permission
        raise CorruptRecordError(f"{manifest}: could not be read ({exc.strerror or exc}).") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise CorruptRecordError(f"{manifest}: not a {FORMAT} manifest.")
    if "source" in d and "grid" not in d:
        src = d["source"]
        if not isinstance(src, dict) or src.get("kind") != "pgdl" or not isinstance(src.get("task"), str):
            raise CorruptRecordError(f"{manifest}: invalid source {src!r:.200}; expected "
                                     "{'kind': 'pgdl', 'task': ..., 'layout': ..., 'root': ...}.")
        return None, src
    try:
        return Grid.from_dict(d["grid"]), None
    except (KeyError, ConfigError) as exc:
        raise CorruptRecordError(f"{manifest}: invalid grid ({exc}).") from None


def zoo_data(zoo_path: str | os.PathLike, root: str | os.PathLike | None = None, *,
             verify: bool = False) -> ZooData:
    """The data of the zoo at ``zoo_path``, whichever its kind (cached per process).

    A trained zoo loads its grid's data set through :func:`~topolens.zoo.train.load_zoo_data`
    (from ``root``, default ``TOPOLENS_DATA``); an imported zoo reads ``ZOO/data/`` through
    :func:`load_stored_data` (``root`` unused). Feature workers call this with the zoo's path,
    so every data access of :mod:`topolens.generalization` goes through one place.
    """
    path = Path(zoo_path)
    grid, _ = _read_manifest(path)
    if grid is not None:
        return load_zoo_data(grid.dataset, None if root is None else str(root), grid.n_test)
    return load_stored_data(path, verify=verify)


class _HashWriter:
    """A write-only file object that only hashes what ``np.save`` writes (no copy of the array)."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, b: Any) -> int:
        b = memoryview(b).cast("B")
        self.sha.update(b)
        self.size += len(b)
        return len(b)


def _npy_digest(a: np.ndarray) -> tuple[str, int]:
    """SHA-256 and size of the ``.npy`` file ``np.save`` writes for ``a``."""
    h = _HashWriter()
    np.save(h, a, allow_pickle=False)
    return h.sha.hexdigest(), h.size


def _check_arrays(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    missing = [k for k in DATA_ARRAYS if k not in arrays]
    if missing:
        raise InvalidInputError(f"zoo data needs {list(DATA_ARRAYS)}; missing {missing}.")
    out = {k: np.ascontiguousarray(arrays[k]) for k in DATA_ARRAYS}
    for split in ("train", "test"):
        x, y = out[f"x_{split}"], out[f"y_{split}"]
        if x.dtype != np.float32 or x.ndim not in (2, 4):
            raise ShapeError(f"x_{split}: expected float32 (N, C, H, W) images or (N, F) inputs; found "
                             f"{x.dtype} of shape {x.shape}.")
        if y.dtype != np.int64 or y.shape != (len(x),):
            raise ShapeError(f"y_{split}: expected int64 labels of shape ({len(x)},); found {y.dtype} of "
                             f"shape {y.shape}.")
    if out["x_train"].shape[1:] != out["x_test"].shape[1:]:
        raise ShapeError(f"train inputs {out['x_train'].shape[1:]} and test inputs {out['x_test'].shape[1:]} "
                         "differ in shape.")
    return out


def write_zoo_data(zoo_path: str | os.PathLike, arrays: dict[str, np.ndarray], *, name: str) -> bool:
    """Store a zoo's data as ``ZOO/data/{x_train,y_train,x_test,y_test}.npy`` and ``data.json``.

    Each file is written atomically, ``data.json`` (shapes, dtypes, sizes, SHA-256) last. If
    the zoo already holds the same data (same checksums) nothing is written, except a stored
    file whose checksum no longer matches (truncated or altered), which is rewritten; an
    unreadable ``data.json`` is rewritten with every array. In a folder that is not yet a zoo
    (no ``zoo.json``), files under ``data/`` that a killed import of the same data did not leave
    are someone else's and are never overwritten.

    Returns
    -------
    bool
        True if any file was written.

    Raises
    ------
    ConfigError
        The zoo already holds *other* data (name or checksums differ), or a folder without
        ``zoo.json`` holds other ``data/`` files.
    ShapeError
        Inputs not float32 ``(N, C, H, W)``/``(N, F)``, labels not int64 ``(N,)``.
    """
    folder = Path(zoo_path) / "data"
    arrays = _check_arrays(arrays)
    entries = {}
    for k, a in arrays.items():
        sha, size = _npy_digest(a)
        entries[k] = {"shape": list(a.shape), "dtype": str(a.dtype), "bytes": size, "sha256": sha}
    meta = {"format": DATA_FORMAT, "version": 1, "name": name, "arrays": entries}
    ours = (Path(zoo_path) / "zoo.json").exists()  # a zoo's data/ holds only files topolens wrote
    hint = "give a new or empty --out folder (topolens does not overwrite files it did not write)"
    old = None
    if (folder / "data.json").exists():
        try:
            old = _read_data_json(folder)
        except CorruptRecordError as exc:  # our own unreadable data.json: rewrite the data, or reruns never repair
            if not ours:
                raise ConfigError(f"{folder / 'data.json'} is not {DATA_FORMAT} data and {Path(zoo_path)} holds no "
                                  f"zoo.json; {hint}.") from None
            logger.warning("rewriting the zoo's data: %s", exc)
    if old is not None and (old.get("name"), old.get("arrays")) != (name, entries):
        raise ConfigError(f"{folder} already holds other data ({old.get('name')!r}, checksums in "
                          f"{folder / 'data.json'}) than the data being imported ({name!r}); use a new --out "
                          "folder (a zoo holds one data set).")
    files = {k: folder / f"{k}.npy" for k in arrays}
    same = {k: f.is_file() and f.stat().st_size == entries[k]["bytes"] and sha256_file(f) == entries[k]["sha256"]
            for k, f in files.items()}
    foreign = [str(f) for k, f in files.items() if old is None and not ours and f.exists() and not same[k]]
    if foreign:  # not a killed import of this data (its files would match): someone else's files
        raise ConfigError(f"{foreign} already exist in a folder that is not a zoo (no zoo.json); {hint}.")
    written = False
    for k, a in arrays.items():
        if same[k]:
            continue
        if old is not None:
            logger.warning("zoo data file %s missing or altered; rewriting it", files[k])
        with atomic_path(files[k]) as tmp, open(tmp, "wb") as fh:
            np.save(fh, a, allow_pickle=False)
        written = True
    if old is None:
        atomic_write_text(folder / "data.json", json.dumps(meta, indent=1))
        written = True
    return written


def _read_data_json(folder: Path) -> dict[str, Any]:
    path = folder / "data.json"
    hint = "Rerun 'topolens zoo import-pgdl' with the same ROOT and --out to restore it."
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataNotFoundError(f"{path} is missing: this imported zoo has no stored data. {hint}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptRecordError(f"{path}: not readable JSON ({exc}). {hint}") from None
    arrays = d.get("arrays") if isinstance(d, dict) else None
    if (not isinstance(d, dict) or d.get("format") != DATA_FORMAT or not isinstance(arrays, dict)
            or any(not isinstance(arrays.get(k), dict) for k in DATA_ARRAYS)):
        raise CorruptRecordError(f"{path}: not a {DATA_FORMAT} file with entries for {list(DATA_ARRAYS)}. {hint}")
    return d


def load_stored_data(zoo_path: str | os.PathLike, *, verify: bool = False) -> ZooData:
    """The data an imported zoo stores under ``ZOO/data/`` (cached per process).

    The arrays are memory-mapped copy-on-write (pages are read when used) and wrapped as
    tensors without a copy. Shapes, dtypes and file sizes are checked against ``data.json``
    on every call; ``verify=True`` also checks the SHA-256 of each file.

    Raises
    ------
    DataNotFoundError
        ``data.json`` or an array file is missing.
    CorruptRecordError
        A file that does not match ``data.json`` (size, shape, dtype or checksum).
    MemoryBudgetError
        The arrays would not fit in the memory budget (checked before reading).
    """
    folder = Path(zoo_path).resolve() / "data"
    stamp = []
    for k in DATA_ARRAYS:
        try:
            st = (folder / f"{k}.npy").stat()
        except FileNotFoundError:
            raise DataNotFoundError(f"{folder / (k + '.npy')} is missing. Rerun 'topolens zoo import-pgdl' "
                                    "with the same ROOT and --out to restore it.") from None
        stamp.append((st.st_size, st.st_mtime_ns))
    dj = folder / "data.json"
    st = dj.stat() if dj.exists() else None
    stamp.append(None if st is None else (st.st_size, st.st_mtime_ns))
    return _load_stored_data(str(folder), tuple(stamp), bool(verify))


@functools.lru_cache(maxsize=2)
def _load_stored_data(folder_s: str, stamp: tuple, verify: bool) -> ZooData:
    from ..homology.memory import memory_budget

    folder = Path(folder_s)
    meta = _read_data_json(folder)
    entries = meta["arrays"]
    total = sum(int(e["bytes"]) if _finite_number(e.get("bytes")) else 0 for e in entries.values())
    budget = memory_budget("auto")
    if total > budget:
        raise MemoryBudgetError(f"the stored data of the zoo at {folder.parent} takes {total:,} bytes "
                                f"({total / 2**30:.2f} GiB), more than the memory budget of {budget:,} bytes (80% of the "
                                "available memory); free memory or use a machine with more.")
    hint = "Delete the zoo's data/ folder and rerun 'topolens zoo import-pgdl' with the same ROOT and --out."
    tensors = {}
    for k in DATA_ARRAYS:
        f, e = folder / f"{k}.npy", entries[k]
        if f.stat().st_size != e.get("bytes"):
            raise CorruptRecordError(f"{f}: {f.stat().st_size} bytes, data.json says {e.get('bytes')} "
                                     f"(truncated or altered). {hint}")
        if verify and sha256_file(f) != e.get("sha256"):
            raise CorruptRecordError(f"{f} does not match its SHA-256 in data.json (altered). {hint}")
        try:
            a = np.load(f, mmap_mode="c", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CorruptRecordError(f"{f}: not a readable .npy file ({exc}). {hint}") from None
        if list(a.shape) != e.get("shape") or str(a.dtype) != e.get("dtype"):
            raise CorruptRecordError(f"{f}: {a.dtype} of shape {list(a.shape)}, data.json says "
                                     f"{e.get('dtype')} of shape {e.get('shape')}. {hint}")
        tensors[k] = torch.from_numpy(a)
    return ZooData(**tensors, name=str(meta.get("name")))


def _versions() -> dict[str, str]:
    from .. import __version__

    return {"topolens": __version__, "torch": torch.__version__, "numpy": np.__version__}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write_model(folder: Path, config: ModelConfig, outcome: Any, dataset: str) -> None:
    buf = io.BytesIO()
    final = {k: v.detach().cpu().clone() for k, v in outcome.model.state_dict().items()}
    torch.save({"initial": outcome.initial_state, "final": final}, buf)
    blob = buf.getvalue()
    atomic_write_bytes(folder / "weights.pt", blob)
    record = {
        "format": FORMAT, "version": VERSION, "model_id": config.model_id,
        "config": config.to_dict(), "dataset": dataset, "metrics": outcome.metrics,
        "history": outcome.history, "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "created": _now(), "versions": _versions(),
    }
    atomic_write_text(folder / "record.json", json.dumps(record, indent=1))


def _write_imported_model(folder: Path, *, source_id: str, architecture: dict[str, Any],
                          hparams: dict[str, Any], metrics: dict[str, float], dataset: str,
                          initial: dict[str, torch.Tensor], final: dict[str, torch.Tensor],
                          source: dict[str, Any]) -> None:
    """Store one imported model: ``weights.pt`` then its ``"kind": "pgdl"`` record (atomically)."""
    model_id = check_model_id(folder.name)
    buf = io.BytesIO()
    torch.save({"initial": {k: v.detach().cpu().clone() for k, v in initial.items()},
                "final": {k: v.detach().cpu().clone() for k, v in final.items()}}, buf)
    blob = buf.getvalue()
    atomic_write_bytes(folder / "weights.pt", blob)
    record = {
        "format": FORMAT, "version": VERSION, "kind": "pgdl", "model_id": model_id,
        "source_id": source_id, "architecture": architecture, "hparams": hparams,
        "dataset": dataset, "metrics": metrics, "history": {}, "source": source,
        "weights_sha256": hashlib.sha256(blob).hexdigest(), "created": _now(), "versions": _versions(),
    }
    atomic_write_text(folder / "record.json", json.dumps(record, indent=1))


def _train_one(config_dict: dict[str, Any], zoo_dir: str, dataset: str, root: str | None,
               n_test: int | None, worker: bool) -> tuple[str, float]:
    """Train one model and store it (runs in a worker process when n_jobs > 1).

    Training always uses one torch thread: float reductions then run in the same order
    whatever ``n_jobs`` is, so a zoo is bit-for-bit the same with any number of workers.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = ModelConfig.from_dict(config_dict)
        data = load_zoo_data(dataset, root, n_test)
        outcome = train_model(config, data)
    finally:
        if not worker:
            torch.set_num_threads(threads)
    _write_model(Path(zoo_dir) / "models" / config.model_id, config, outcome, dataset)
    return config.model_id, outcome.metrics["seconds"]


def _remove_partial_files(folder: Path) -> None:
    """Delete temporary files a killed run left in a model folder (never a finished file)."""
    if not folder.is_dir():
        return
    for tmp in folder.glob(".*.tmp"):
        if tmp.name.startswith((".weights.pt.", ".record.json.")) and tmp.is_file():
            tmp.unlink(missing_ok=True)


def train_zoo(
    grid: Grid | str | os.PathLike | dict[str, Any],
    out: str | os.PathLike,
    *,
    n_jobs: int = 1,
    root: str | os.PathLike | None = None,
    progress: bool = True,
    configs: Sequence[ModelConfig] | None = None,
) -> Zoo:
    """Train every model of a grid into the zoo folder ``out``, skipping finished ones.

    Parameters
    ----------
    grid : Grid, path to a YAML/JSON grid, or dict
    out : path-like
        Zoo folder (created if needed). If it already holds a zoo, its data set and
        ``n_test`` must match; models already there with a valid record are skipped,
        corrupt ones (reported with a warning) are retrained.
    n_jobs : int, default 1
        Worker processes (joblib); ``-1`` for all cores. Every model trains on one torch
        thread, so the zoo is bit-for-bit the same for any ``n_jobs``.
    root : path-like, optional
        Data root (default ``TOPOLENS_DATA``).
    progress : bool
        Show a tqdm progress bar.
    configs : sequence of ModelConfig, optional
        Train these instead of ``grid.configs()`` (the grid still names the data set).

    Returns
    -------
    Zoo
        The zoo as loaded (validated) after training.

    Raises
    ------
    InvalidInputError
        ``n_jobs`` is 0 or below -1.
    ConfigError
        A bad grid, a grid of more than :data:`~topolens.zoo.grid.MAX_CONFIGS` configs, or
        ``out`` is a file or a zoo on other data.
    MemoryBudgetError
        A model (times the parallel workers) would not fit in memory; refused before any
        training.
    """
    check_n_jobs(n_jobs)
    grid = grid if isinstance(grid, Grid) else load_grid(grid)
    candidates = grid.configs() if configs is None else list(configs)  # refuses huge grids
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"The zoo folder {out} is a file; give a new or existing zoo folder.")
    manifest = out / "zoo.json"
    if manifest.exists():
        old, source = _read_manifest(out)
        if old is None:
            raise ConfigError(f"{out} holds a zoo imported from {source.get('kind')} task "
                              f"{source.get('task')!r}; 'zoo train' cannot add grid models to it. "
                              "Use another --out folder.")
        if (old.dataset, old.n_test) != (grid.dataset, grid.n_test):
            raise ConfigError(f"{out} holds a zoo on {old.dataset!r} (n_test={old.n_test}); this grid "
                              f"uses {grid.dataset!r} (n_test={grid.n_test}). Use another --out folder.")
    atomic_write_text(manifest, json.dumps({"format": FORMAT, "version": VERSION,
                                            "grid": grid.to_dict(), "updated": _now()}, indent=1))
    todo = []
    for config in candidates:
        folder = out / "models" / config.model_id
        _remove_partial_files(folder)
        if (folder / "record.json").exists():
            try:
                read_record(folder)
                continue
            except CorruptRecordError as exc:
                warnings.warn(f"Retraining a corrupt model: {exc}", TopolensWarning, stacklevel=2)
        todo.append(config)
    todo = list({c.model_id: c for c in todo}.values())
    logger.info("zoo %s: %d models to train, %d already done", out, len(todo),
                len(candidates) - len(todo))
    workers = min(len(todo), (os.cpu_count() or 1) if n_jobs == -1 else n_jobs)
    from ..homology.memory import memory_budget

    budget = memory_budget("auto")  # read once, not once per config (~0.1 ms each)
    for config in todo:  # refuse a model too large before training any
        check_model_memory(config, copies=max(workers, 1), limit=budget)
    if todo:
        root_s = None if root is None else str(root)
        load_zoo_data(grid.dataset, root_s, grid.n_test)  # fail early if the data is missing
        run_jobs(_train_one, [(c.to_dict(), str(out), grid.dataset, root_s, grid.n_test) for c in todo],
                 n_jobs=n_jobs, desc="training zoo", unit="model", progress=progress)
    return Zoo.load(out)
