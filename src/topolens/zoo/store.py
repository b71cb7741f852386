"""A zoo on disk: one folder, one record per model, written atomically, resumable.

Layout::

    ZOO/
      zoo.json                       # format version, the grid last trained from
      models/<model_id>/weights.pt   # {"initial": state_dict, "final": state_dict}
      models/<model_id>/record.json  # config, metrics, history, checksum of weights.pt
      features/                      # feature cache of topolens.generalization

``weights.pt`` is written first, then ``record.json``; both via a temporary file and an
atomic rename, so a model counts as finished exactly when its record exists, and a run
killed at any moment loses at most the models in training. :func:`train_zoo` skips
models whose record is valid; :meth:`Zoo.load` validates every record (JSON, schema,
config hash, metric ranges, weights checksum) and names a corrupt one by its path.
Weights are read with ``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import logging
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_write_bytes, atomic_write_text, safe_torch_load, sha256_file
from .._parallel import check_n_jobs, run_jobs
from ..exceptions import ConfigError, CorruptRecordError, TopolensWarning, UntrustedCheckpointError
from .grid import HYPERPARAMETERS, Grid, ModelConfig, load_grid
from .train import ZooData, build_model, check_model_memory, load_zoo_data, train_model

__all__ = ["ModelRecord", "Zoo", "train_zoo"]

logger = logging.getLogger(__name__)

FORMAT = "topolens-zoo"
VERSION = 1
_METRICS = ("train_accuracy", "train_loss", "train_accuracy_clean", "test_accuracy",
            "test_loss", "gap", "loss_gap", "seconds", "n_parameters", "n_train", "epochs_run")


@dataclass(frozen=True)
class ModelRecord:
    """One trained model of a zoo (read from ``models/<model_id>/record.json``)."""

    path: Path
    config: ModelConfig
    metrics: dict[str, float]
    history: dict[str, list[float]]
    dataset: str
    weights_sha256: str
    created: str
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return self.config.model_id

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
                                     f"{self.path} and rerun 'topolens zoo train' to retrain it.")
        try:
            states = safe_torch_load(self.weights_path, what="zoo weights file",
                                     corrupt_error=CorruptRecordError)
        except UntrustedCheckpointError as exc:
            raise UntrustedCheckpointError(f"{exc} A zoo stores plain state dicts only; delete "
                                           f"{self.path} and retrain it.") from None
        if not isinstance(states, dict) or set(states) != {"initial", "final"}:
            raise CorruptRecordError(f"{self.weights_path}: expected a dict with 'initial' and "
                                     "'final' state dicts.")
        return states

    def load_model(self, which: str = "final") -> torch.nn.Module:
        """The network with its ``"final"`` (trained) or ``"initial"`` weights, in eval mode."""
        if which not in ("final", "initial"):
            raise ConfigError(f"which must be 'final' or 'initial', found {which!r}.")
        model = build_model(self.config)
        model.load_state_dict(self.load_states()[which])
        return model.eval()


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_record(folder: str | os.PathLike, *, verify_weights: bool = True) -> ModelRecord:
    """Read and validate one model record; raise :class:`CorruptRecordError` naming its path."""
    folder = Path(folder)
    path = folder / "record.json"

    def bad(why: str) -> CorruptRecordError:
        return CorruptRecordError(f"{path}: {why}. Delete {folder} and rerun 'topolens zoo train' "
                                  "(it retrains only the missing models).")

    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise bad("record missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad(f"not valid JSON ({exc})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise bad(f"not a {FORMAT} record")
    if d.get("version") != VERSION:
        raise bad(f"record version {d.get('version')!r}, this topolens reads version {VERSION}")
    try:
        config = ModelConfig.from_dict(d["config"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise bad(f"invalid config ({exc})") from None
    if d.get("model_id") != config.model_id or folder.name != config.model_id:
        raise bad(f"model id {d.get('model_id')!r} / folder {folder.name!r} do not match the "
                  f"config's hash {config.model_id!r}")
    metrics = d.get("metrics")
    if not isinstance(metrics, dict) or any(not _finite_number(metrics.get(k)) for k in _METRICS):
        raise bad(f"metrics must hold finite numbers for {list(_METRICS)}")
    for k in ("train_accuracy", "test_accuracy", "train_accuracy_clean"):
        if not 0.0 <= metrics[k] <= 1.0:
            raise bad(f"{k}={metrics[k]} outside [0, 1]")
    if abs(metrics["gap"] - (metrics["train_accuracy"] - metrics["test_accuracy"])) > 1e-9:
        raise bad("gap != train_accuracy - test_accuracy")
    sha = d.get("weights_sha256")
    weights = folder / "weights.pt"
    if not isinstance(sha, str) or not weights.is_file():
        raise bad("weights.pt or its checksum missing")
    if verify_weights and sha256_file(weights) != sha:
        raise bad("weights.pt does not match the checksum in the record (truncated or altered)")
    history = d.get("history", {})
    return ModelRecord(path=folder, config=config, metrics={k: float(v) for k, v in metrics.items()},
                       history=history if isinstance(history, dict) else {},
                       dataset=str(d.get("dataset")), weights_sha256=sha,
                       created=str(d.get("created", "")), versions=d.get("versions") or {})


class Zoo:
    """A trained model population (read with :meth:`load`, made with :func:`train_zoo`).

    Attributes
    ----------
    path : Path
    grid : Grid
        The grid the zoo was last trained from.
    records : list of ModelRecord
        Valid records, sorted by model id.
    corrupt : list of (Path, str)
        Records skipped by ``load(strict=False)`` and why.
    """

    def __init__(self, path: Path, grid: Grid, records: list[ModelRecord],
                 corrupt: list[tuple[Path, str]] | None = None) -> None:
        self.path = path
        self.grid = grid
        self.records = sorted(records, key=lambda r: r.model_id)
        self.corrupt = corrupt or []

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
        grid = _read_manifest(path)
        records, corrupt = [], []
        models = path / "models"
        for folder in sorted(models.iterdir()) if models.is_dir() else []:
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            if not (folder / "record.json").exists():
                continue  # weights written, record not yet: an unfinished model
            try:
                records.append(read_record(folder, verify_weights=verify_weights))
            except CorruptRecordError as exc:
                if strict:
                    raise
                corrupt.append((folder, str(exc)))
                warnings.warn(f"Skipping corrupt zoo record: {exc}", TopolensWarning, stacklevel=2)
        return cls(path, grid, records, corrupt)

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
        return f"Zoo({str(self.path)!r}, n_models={len(self)}, dataset={self.grid.dataset!r})"

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
        """Hyperparameter values per name, in record order (only those that vary by default)."""
        out = {h: [getattr(r.config, h) for r in self.records] for h in HYPERPARAMETERS}
        if varying_only:
            out = {h: v for h, v in out.items() if len({repr(x) for x in v}) > 1}
        return out

    def data(self, root: str | os.PathLike | None = None) -> ZooData:
        """The zoo's data set (train and test splits) as tensors."""
        return load_zoo_data(self.grid.dataset, None if root is None else str(root),
                             self.grid.n_test)


def _read_manifest(path: Path) -> Grid:
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
    try:
        return Grid.from_dict(d["grid"])
    except (KeyError, ConfigError) as exc:
        raise CorruptRecordError(f"{manifest}: invalid grid ({exc}).") from None


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
        old = _read_manifest(out)
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
