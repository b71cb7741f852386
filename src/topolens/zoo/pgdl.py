"""PGDL task folders as torch models and numpy data (no TensorFlow).

PGDL (NeurIPS 2020 "Predicting Generalization in Deep Learning") publishes each task in one of
two layouts, both read by :func:`load_pgdl_task`:

* the public data: ``ROOT/input_data/<task>/model_<id>/{config.json, weights.hdf5,
  weights_init.hdf5}``, ``ROOT/input_data/<task>/dataset_1/{train,test}/shard_*.tfrecord`` and
  ``ROOT/reference_data/<task>/model_configs.json`` (layout ``"public"``);
* the starting kit's sample: ``ROOT/<task>/model_<id>/...``, ``ROOT/<task>/dataset_1/...`` and
  ``ROOT/<task>/model_configs.json`` (layout ``"sample"``).

``model_configs.json`` maps a model id to ``{"metrics": {"train_acc": ..., "test_acc": ...,
...}, "hparams": {<name>: {"current_value": ..., "possible_values": [...]}}}``. The published
files spell the ids either ``"6"`` or ``"model_6"`` (PGDL's own scoring program accepts both and
prefixes ``model_`` when it is missing); ids are kept exactly as the file spells them and matched
to the folder ``model_<n>``.

Models are built lazily: ``task.models[id]`` reads ``config.json`` and ``weights.hdf5`` on each
access and returns a fresh :class:`torch.nn.Sequential` in eval mode (so a task of hundreds of
models never sits in memory at once; keep the returned module if you need it twice). With
``verify=True`` every selected model is built and loaded once while the task is opened, so a
damaged file is reported up front.

>>> task = load_pgdl_task("public_data", "task1_v4")             # doctest: +SKIP
>>> x, y = task.train                                             # NCHW float32, int64 labels
>>> task.models["model_6"](torch.from_numpy(x[:8]))               # doctest: +SKIP

:func:`import_pgdl` converts a task into the zoo store (:mod:`topolens.zoo.store`), so that
``topolens zoo features / predict / report`` run on it as on a trained zoo.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from ..exceptions import (
    ConfigError,
    CorruptRecordError,
    DataNotFoundError,
    InvalidInputError,
    MemoryBudgetError,
    ShapeError,
    TopolensWarning,
)
from ._keras import keras_model
from ._tfrecord import read_pgdl_shards

if TYPE_CHECKING:
    from .store import Zoo

__all__ = ["MAX_DATA_BYTES", "PGDLModels", "PGDLTask", "import_pgdl", "load_pgdl_task"]

logger = logging.getLogger(__name__)

#: shard bytes above which :func:`load_pgdl_task` refuses to read a split (peak memory is
#: about three times the shard bytes: the records, the stacked array and its NCHW copy).
MAX_DATA_BYTES = 8 << 30

_SPLITS = ("train", "test")
_MODEL_DIR = re.compile(r"^model_(.+)$")


def _natural(name: str) -> tuple:
    """Sort key ``model_2`` < ``model_10``."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


class PGDLModels(Mapping):
    """Read-only mapping model id -> :class:`torch.nn.Sequential`, built from the files on access.

    Parameters
    ----------
    dirs : mapping of str to Path
        Model id -> its ``model_<id>`` folder.
    weights : str
        The weights file in each folder (``"weights.hdf5"`` or ``"weights_init.hdf5"``).
    """

    def __init__(self, dirs: Mapping[str, Path], weights: str) -> None:
        self._dirs = dict(dirs)
        self._weights = weights

    def __getitem__(self, model_id: str) -> nn.Sequential:
        if model_id not in self._dirs:
            raise KeyError(model_id)
        d = self._dirs[model_id]
        return keras_model(d / "config.json", d / self._weights)

    def __iter__(self) -> Iterator[str]:
        return iter(self._dirs)

    def __len__(self) -> int:
        return len(self._dirs)

    def __repr__(self) -> str:
        return f"PGDLModels({len(self)} models from {self._weights}: {list(self._dirs)[:5]}...)"


@dataclass
class PGDLTask:
    """One PGDL task: its models, data and reference metrics.

    Attributes
    ----------
    task : str
        The task name (``"task1_v4"``...).
    root : Path
        The root folder that was searched.
    layout : {"public", "sample"}
        Which published layout the task was found in.
    models : PGDLModels
        Model id (as spelled in ``model_configs.json``) -> trained torch model (eval mode, NCHW
        input), built lazily from ``weights.hdf5``.
    initial_models : PGDLModels
        The same for ``weights_init.hdf5``; only the models that have that file.
    train, test : tuple of numpy.ndarray or None
        ``(x, y)``: ``x`` float32, NCHW for images (``(N, F)`` for flat inputs), ``y`` int64
        class labels of shape ``(N,)``; ``None`` for a split that was not requested.
    metrics : dict
        Model id -> its ``metrics`` dict of ``model_configs.json`` (``train_acc``, ``test_acc``...).
    hparams : dict
        Model id -> its ``hparams`` dict (``{name: {"current_value", "possible_values"}}``).
    model_dirs : dict
        Model id -> its folder.
    """

    task: str
    root: Path
    layout: str
    models: PGDLModels
    initial_models: PGDLModels
    train: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray] | None
    metrics: dict[str, dict[str, Any]]
    hparams: dict[str, dict[str, Any]]
    model_dirs: dict[str, Path] = field(default_factory=dict)

    def hparam_values(self) -> dict[str, dict[str, Any]]:
        """Model id -> ``{hyperparameter: current value}``."""
        return {mid: {k: (v.get("current_value") if isinstance(v, Mapping) else v)
                      for k, v in hp.items()} for mid, hp in self.hparams.items()}

    def gaps(self) -> dict[str, float]:
        """Model id -> reference generalization gap ``train_acc - test_acc``."""
        return {mid: float(m["train_acc"]) - float(m["test_acc"]) for mid, m in self.metrics.items()}


def _is_task_dir(p: Path) -> bool:
    try:
        return p.is_dir() and any(_MODEL_DIR.match(c.name) or c.name == "dataset_1" for c in p.iterdir())
    except OSError:
        return False


def _tasks_in(folder: Path) -> list[str]:
    try:
        return sorted(c.name for c in folder.iterdir() if _is_task_dir(c))
    except OSError:
        return []


def _locate(root: Path, task: str) -> tuple[str, Path, list[Path]]:
    """``(layout, task folder, candidate model_configs.json paths)``."""
    if not root.is_dir():
        raise DataNotFoundError(f"PGDL root {str(root)!r} is not a folder; pass the folder that holds "
                                "input_data/ and reference_data/ (public data) or the task folders (sample).")
    public = root / "input_data" / task
    if public.is_dir():
        return "public", public, [root / "reference_data" / task / "model_configs.json",
                                  public / "model_configs.json"]
    sample = root / task
    if sample.is_dir():
        return "sample", sample, [sample / "model_configs.json"]
    found = sorted(set(_tasks_in(root / "input_data")) | set(_tasks_in(root)))
    raise DataNotFoundError(
        f"PGDL task {task!r} not found under {str(root)!r}: looked for {str(public)!r} (public data) and "
        f"{str(sample)!r} (sample layout). Tasks found: {found or 'none'}. Check the root and the task name.")


def _read_configs(candidates: list[Path]) -> dict[str, Any]:
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise DataNotFoundError(
            f"model_configs.json not found; looked in {[str(p) for p in candidates]}. It holds the reference "
            "metrics and hyperparameters (public data: reference_data/<task>/model_configs.json).")
    try:
        specs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptRecordError(f"{path} is not readable JSON ({exc}); re-download the task.") from exc
    if not isinstance(specs, dict) or not specs:
        raise CorruptRecordError(
            f"{path} must be a non-empty JSON object model id -> {{'metrics': ..., 'hparams': ...}}; "
            f"found {type(specs).__name__}{' (empty)' if isinstance(specs, dict) else ''}.")
    for mid, spec in specs.items():
        metrics = spec.get("metrics") if isinstance(spec, dict) else None
        if not isinstance(metrics, dict):
            raise CorruptRecordError(f"{path}: entry {mid!r} has no 'metrics' object; found {spec!r:.200}.")
        for key in ("train_acc", "test_acc"):
            v = metrics.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                raise CorruptRecordError(f"{path}: metrics[{key!r}] of model {mid!r} must be a finite number; "
                                         f"found {v!r}.")
        if not isinstance(spec.get("hparams", {}), dict):
            raise CorruptRecordError(f"{path}: 'hparams' of model {mid!r} must be an object; found "
                                     f"{spec['hparams']!r:.200}.")
    return specs


def _folder_of(model_id: str) -> str:
    return model_id if _MODEL_DIR.match(model_id) else f"model_{model_id}"


def _match_models(task_dir: Path, specs: Mapping[str, Any], configs_hint: str) -> dict[str, Path]:
    """Model id -> folder; every id must have a folder and every folder an id."""
    folders = {c.name for c in task_dir.iterdir() if c.is_dir() and _MODEL_DIR.match(c.name)}
    by_folder = {_folder_of(mid): mid for mid in specs}
    if len(by_folder) != len(specs):
        dup = sorted(f for f in by_folder if sum(_folder_of(m) == f for m in specs) > 1)
        raise CorruptRecordError(f"{configs_hint} names the same model folder twice (e.g. '6' and 'model_6'): {dup}.")
    no_folder = sorted((m for f, m in by_folder.items() if f not in folders), key=_natural)
    no_entry = sorted(folders - set(by_folder), key=_natural)
    if no_folder or no_entry:
        parts = []
        if no_folder:
            parts.append(f"ids in {configs_hint} without a model folder in {str(task_dir)!r}: {no_folder[:20]}")
        if no_entry:
            parts.append(f"model folders without an entry in {configs_hint}: {no_entry[:20]}")
        raise CorruptRecordError("model_configs.json does not match the model folders: " + "; ".join(parts)
                                 + ". Use the model_configs.json of the same task and release.")
    return {mid: task_dir / _folder_of(mid) for mid in sorted(specs, key=_natural)}


def _select(dirs: dict[str, Path], models: Iterable[str] | str | None) -> dict[str, Path]:
    if models is None:
        return dirs
    if isinstance(models, (str, int, np.integer)):
        models = [models]
    if not isinstance(models, Iterable):
        raise InvalidInputError(f"models must be a list of model ids such as ['model_6']; found {models!r}.")
    by_folder = {d.name: mid for mid, d in dirs.items()}
    out = {}
    for m in models:
        if isinstance(m, (int, np.integer)) and not isinstance(m, bool):
            m = str(m)
        if not isinstance(m, str):
            raise InvalidInputError(f"model ids are strings such as '6' or 'model_6'; found {m!r}.")
        mid = m if m in dirs else by_folder.get(_folder_of(m))
        if mid is None:
            raise InvalidInputError(f"model {m!r} is not in this task; available ids: "
                                    f"{list(dirs)[:20]}{' ...' if len(dirs) > 20 else ''}.")
        out[mid] = dirs[mid]
    if not out:
        raise InvalidInputError("models= selects no model; pass None for all or a list of model ids.")
    return out


def _check_files(dirs: Mapping[str, Path]) -> None:
    for mid, d in dirs.items():
        missing = [n for n in ("config.json", "weights.hdf5") if not (d / n).is_file()]
        if missing:
            raise DataNotFoundError(f"model {mid!r}: {str(d)!r} lacks {missing}; every PGDL model folder holds "
                                    "config.json and weights.hdf5 (weights_init.hdf5 optional).")


def _labels(y: np.ndarray, where: str) -> np.ndarray:
    """int64 class labels from integer labels ``(N,)``/``(N, 1)`` or one-hot rows ``(N, K)``."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        onehot = ((y == 0) | (y == 1)).all() and (y.sum(axis=1) == 1).all()
        if not onehot:
            raise ShapeError(f"{where}: labels of shape {y.shape} are not one-hot rows (one 1, zeros elsewhere); "
                             "expected integer class labels (N,) or one-hot (N, K).")
        return np.argmax(y, axis=1).astype(np.int64)
    if y.ndim != 1:
        raise ShapeError(f"{where}: labels of shape {y.shape}; expected integer class labels (N,), (N, 1) "
                         "or one-hot rows (N, K).")
    if y.dtype.kind == "f":
        if not (np.isfinite(y).all() and (y == np.round(y)).all()):
            raise CorruptRecordError(f"{where}: float labels that are not whole numbers; expected class indices.")
    elif y.dtype.kind not in "iu":
        raise CorruptRecordError(f"{where}: labels of dtype {y.dtype}; expected integer class indices.")
    if y.size and y.min() < 0:
        raise CorruptRecordError(f"{where}: negative label {y.min()}; expected class indices >= 0.")
    return y.astype(np.int64)


def _inputs(x: np.ndarray, where: str) -> np.ndarray:
    """float32 NCHW from NHWC images (flat ``(N, F)`` inputs unchanged)."""
    if x.dtype.kind not in "fiu":
        raise CorruptRecordError(f"{where}: inputs of dtype {x.dtype}; expected numbers.")
    if x.ndim == 4:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)
    if x.ndim == 2:
        return np.ascontiguousarray(x, dtype=np.float32)
    raise ShapeError(f"{where}: inputs of shape {x.shape}; expected NHWC images (N, H, W, C) or flat (N, F).")


def _read_split(task_dir: Path, split: str, verify: bool, max_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    folder = task_dir / "dataset_1" / split
    shards = sorted(folder.glob("shard_*.tfrecord"), key=lambda p: _natural(p.name)) if folder.is_dir() else []
    if not shards:
        raise DataNotFoundError(f"no {split} shards: {str(folder / 'shard_*.tfrecord')!r} matches no file. "
                                "A PGDL task holds dataset_1/train and dataset_1/test TFRecord shards.")
    total = sum(p.stat().st_size for p in shards)
    if total > max_bytes:
        raise MemoryBudgetError(
            f"the {split} shards of {str(task_dir)!r} hold {total:,} bytes, over max_data_bytes={max_bytes:,} "
            f"(reading needs about {3 * total:,} bytes); raise max_data_bytes or pass split=().")
    x, y = read_pgdl_shards(shards, verify=verify)
    where = f"{str(folder)!r}"
    if len(x) != len(y):
        raise ShapeError(f"{where}: {len(x)} inputs but {len(y)} labels.")
    return _inputs(x, where), _labels(y, where)


def _splits(split: Any) -> tuple[str, ...]:
    if isinstance(split, str):
        split = (split,)
    if not isinstance(split, Iterable):
        raise InvalidInputError(f"split must be 'train', 'test' or a tuple of them; found {split!r}.")
    split = tuple(split)
    bad = [s for s in split if s not in _SPLITS]
    if bad:
        raise InvalidInputError(f"split must name 'train' and/or 'test'; found {bad}.")
    return split


def _verify_models(dirs: Mapping[str, Path], data: tuple[np.ndarray, np.ndarray] | None) -> None:
    """Build every model once (trained and initial weights); check its input shape against the data."""
    for mid, d in dirs.items():
        for weights in ("weights.hdf5", "weights_init.hdf5"):
            if weights == "weights_init.hdf5" and not (d / weights).is_file():
                continue
            try:
                model = keras_model(d / "config.json", d / weights)
            except (InvalidInputError, CorruptRecordError, DataNotFoundError, MemoryBudgetError) as exc:
                raise type(exc)(f"model {mid!r} ({weights}): {exc}") from None
            want = tuple(model.keras_input_shape)
            if data is not None and tuple(data[0].shape[1:]) != want:
                raise ShapeError(f"model {mid!r} takes input {want} (NCHW without batch) but the data has "
                                 f"{tuple(data[0].shape[1:])}; config.json does not match dataset_1.")


def load_pgdl_task(root: str | os.PathLike, task: str, *, models: Iterable[str] | str | None = None,
                   split: str | Iterable[str] = _SPLITS, verify: bool = True,
                   max_data_bytes: int = MAX_DATA_BYTES) -> PGDLTask:
    """Open a PGDL task folder in the public-data or the starting-kit layout.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding ``input_data/`` and ``reference_data/`` (public data) or the task
        folders themselves (sample layout).
    task : str
        Task name, e.g. ``"task1_v4"``.
    models : iterable of str, optional
        Model ids to keep (as spelled in ``model_configs.json``; ``"6"`` and ``"model_6"`` name the
        same folder). All models when omitted.
    split : str or iterable of str, default ("train", "test")
        The data splits to read; the others are ``None``.
    verify : bool, default True
        Check the TFRecord CRCs, and build every selected model once from its files (trained and
        initial weights) so broken files and shape mismatches are reported now.
    max_data_bytes : int, default :data:`MAX_DATA_BYTES`
        Refuse a split whose shards are larger, before reading.

    Returns
    -------
    PGDLTask
        Models built lazily on access; ``train``/``test`` as ``(x, y)`` with float32 NCHW ``x`` and
        int64 labels (integer labels ``(N,)``/``(N, 1)`` or one-hot rows, converted by argmax).

    Raises
    ------
    DataNotFoundError
        Root or task missing (the message lists the tasks found), a model folder without
        ``config.json`` or ``weights.hdf5``, no shards, or no ``model_configs.json``.
    CorruptRecordError
        ``model_configs.json`` unreadable or not matching the model folders (the message names the
        ids missing on each side), a corrupt shard or weights file.
    ShapeError
        A weight of the wrong shape, labels of an unsupported shape, or a model whose input shape
        differs from the data.
    InvalidInputError
        An unknown model id or split.
    MemoryBudgetError
        Shards larger than ``max_data_bytes``.
    """
    if not isinstance(task, str) or not task or os.sep in task:
        raise InvalidInputError(f"task must be a task folder name such as 'task1_v4'; found {task!r}.")
    if not isinstance(root, (str, os.PathLike)):
        raise InvalidInputError(f"root must be a folder path; found {type(root).__name__}.")
    root = Path(root)
    layout, task_dir, candidates = _locate(root, task)
    specs = _read_configs(candidates)
    dirs = _select(_match_models(task_dir, specs, "model_configs.json"), models)
    _check_files(dirs)
    data = {s: _read_split(task_dir, s, verify, max_data_bytes) for s in _splits(split)}
    if verify:
        _verify_models(dirs, data.get("train") or data.get("test"))
    init = {mid: d for mid, d in dirs.items() if (d / "weights_init.hdf5").is_file()}
    return PGDLTask(
        task=task, root=root, layout=layout,
        models=PGDLModels(dirs, "weights.hdf5"), initial_models=PGDLModels(init, "weights_init.hdf5"),
        train=data.get("train"), test=data.get("test"),
        metrics={mid: dict(specs[mid]["metrics"]) for mid in dirs},
        hparams={mid: dict(specs[mid].get("hparams", {})) for mid in dirs},
        model_dirs=dict(dirs))


#: model_configs.json metric names that hold the gap itself (checked against train - test)
_GAP_KEYS = ("gap", "gen_gap", "generalization_gap")


def _imported_metrics(mid: str, m: Mapping[str, Any]) -> dict[str, float]:
    """The record metrics of one model: accuracies, gap, and every other numeric metric."""
    where = f"model_configs.json, model {mid!r}"
    tr, te = float(m["train_acc"]), float(m["test_acc"])
    for name, v in (("train_acc", tr), ("test_acc", te)):
        if not 0.0 <= v <= 1.0:
            raise CorruptRecordError(f"{where}: {name}={v} outside [0, 1]; PGDL accuracies are fractions.")
    gap = tr - te
    out = {"train_accuracy": tr, "test_accuracy": te, "gap": gap}
    for k, v in m.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            logger.debug("%s: metric %r=%r is not a finite number; not kept", where, k, v)
            continue
        if k in _GAP_KEYS and abs(v - gap) > 1e-6 * max(1.0, abs(v)):
            raise CorruptRecordError(f"{where}: {k}={v} but train_acc - test_acc = {gap}; the file is "
                                     "inconsistent (re-download the task).")
        out.setdefault(k, float(v))
    return out


def _architecture(model_dir: Path, model: nn.Module) -> dict[str, Any]:
    """``{"kind": "keras", "model_config", "input_shape"}`` of ``config.json``; the Keras input
    shape (no batch axis) is the one the model was built with, whichever way config.json spells
    it (``[H, W, C]``, a ``None``/``-1`` batch axis, or only the first layer's ``batch_input_shape``)."""
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    nchw = [int(n) for n in model.keras_input_shape]
    shape = nchw if len(nchw) == 1 else [*nchw[1:], nchw[0]]  # (C, H, W) -> Keras (H, W, C)
    return {"kind": "keras", "model_config": cfg["model_config"], "input_shape": shape}


def _check_out(out: Path, task: PGDLTask) -> None:
    """Refuse an --out that is a file, the PGDL root, inside the task folder, or another kind of zoo."""
    from .store import _read_manifest

    if out.exists() and not out.is_dir():
        raise ConfigError(f"The zoo folder {out} is a file; give a new or existing zoo folder.")
    res, root = out.resolve(), task.root.resolve()
    task_dir = next(iter(task.model_dirs.values())).parent.resolve()
    if res == root or res == task_dir or task_dir in res.parents:
        raise ConfigError(f"--out {out} is the PGDL root or lies inside the task folder {task_dir}; "
                          "give a folder outside the PGDL data (it is only read, never written).")
    if (out / "zoo.json").exists():
        grid, source = _read_manifest(out)
        if grid is not None:
            raise ConfigError(f"{out} holds a zoo trained from the grid {grid.name!r}; imported models cannot "
                              "join it. Use another --out folder.")
        if source.get("task") != task.task:
            raise ConfigError(f"{out} holds the PGDL task {source.get('task')!r}, not {task.task!r}. "
                              "Use another --out folder (one task per zoo).")


def _zoo_ids(task: PGDLTask) -> dict[str, str]:
    """PGDL id -> zoo model id (the model's folder name, e.g. ``model_6``), checked to be safe."""
    from .store import check_model_id

    out = {}
    for mid in task.models:
        zid = _folder_of(mid)
        try:
            out[mid] = check_model_id(zid)
        except InvalidInputError as exc:
            raise InvalidInputError(f"model_configs.json id {mid!r}: {exc}") from None
        if mid not in task.initial_models:
            raise DataNotFoundError(f"model {mid!r}: {str(task.model_dirs[mid] / 'weights_init.hdf5')!r} is "
                                    "missing; importing needs the initial weights too (PGDL ships both files).")
    return out


def import_pgdl(root: str | os.PathLike, task: str, out: str | os.PathLike, *,
                models: Iterable[str] | str | None = None, progress: bool = True, verify: bool = True,
                max_data_bytes: int = MAX_DATA_BYTES) -> Zoo:
    """Convert a PGDL task into the zoo store, so zoo features / predict / report run on it.

    Each model becomes ``OUT/models/model_<id>/`` with ``weights.pt`` (``{"initial", "final"}``:
    torch state dicts of the converted :class:`torch.nn.Sequential` from ``weights_init.hdf5``
    and ``weights.hdf5``) and a ``"kind": "pgdl"`` record (the Keras architecture of
    ``config.json``, the hyperparameters and metrics of ``model_configs.json``; ``gap`` is
    ``train_acc - test_acc``). The task's data is stored once under ``OUT/data/``. The import is
    resumable: a model whose valid record exists is skipped, and rerunning after a crash
    imports only the rest. Nothing under ``root`` is written.

    Parameters
    ----------
    root, task, models, max_data_bytes
        As for :func:`load_pgdl_task`.
    out : str or os.PathLike
        The zoo folder (created if needed; an existing one must hold the same task).
    progress : bool, default True
        Show a tqdm progress bar over the models.
    verify : bool, default True
        Check the TFRecord CRCs and build every model once before importing (see
        :func:`load_pgdl_task`).

    Returns
    -------
    Zoo
        The zoo as loaded (validated) after the import; its attribute ``last_import`` is
        ``{"imported": n, "skipped": m}`` (models written now / already there).

    Raises
    ------
    ConfigError
        ``out`` is a file, the PGDL root or inside the task folder, a zoo trained from a grid, a
        zoo of another task, or holds other data.
    DataNotFoundError
        A model without ``weights_init.hdf5`` (and the errors of :func:`load_pgdl_task`).
    CorruptRecordError
        ``model_configs.json`` accuracies outside [0, 1] or a stored gap that differs from
        ``train_acc - test_acc``.
    InvalidInputError
        A model id that is not a safe folder name.
    """
    from tqdm.auto import tqdm

    from .store import (
        DATA_ARRAYS,
        FORMAT,
        VERSION,
        Zoo,
        _now,
        _remove_partial_files,
        _write_imported_model,
        read_record,
        write_zoo_data,
    )

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"The zoo folder {out} is a file; give a new or existing zoo folder.")
    t = load_pgdl_task(root, task, models=models, verify=verify, max_data_bytes=max_data_bytes)
    _check_out(out, t)
    ids = _zoo_ids(t)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the zoo folder {out}: {exc.strerror or exc}.") from None
    metrics = {mid: _imported_metrics(mid, t.metrics[mid]) for mid in t.models}
    source = {"kind": "pgdl", "task": t.task, "layout": t.layout, "root": str(t.root.resolve())}
    from .._io import atomic_write_text

    for tmp in (out / "data").glob(".*.tmp") if (out / "data").is_dir() else []:
        if tmp.name.startswith((*(f".{k}.npy." for k in DATA_ARRAYS), ".data.json.")) and tmp.is_file():
            tmp.unlink(missing_ok=True)  # left by a killed import (atomic_path's temporary files), only those
    dataset = f"pgdl:{t.task}"
    wrote = write_zoo_data(out, {"x_train": t.train[0], "y_train": t.train[1], "x_test": t.test[0],
                                 "y_test": t.test[1]}, name=dataset)  # refuses other data first
    logger.info("zoo %s: data of %s %s", out, dataset, "written" if wrote else "already stored")
    atomic_write_text(out / "zoo.json", json.dumps({"format": FORMAT, "version": VERSION, "source": source,
                                                    "updated": _now()}, indent=1))
    hparams = t.hparam_values()
    imported = skipped = 0
    for mid in tqdm(list(t.models), desc="importing PGDL models", unit="model", disable=not progress):
        folder = out / "models" / ids[mid]
        _remove_partial_files(folder)
        if (folder / "record.json").exists():
            try:
                if read_record(folder).source_id == mid:
                    skipped += 1
                    continue
                warnings.warn(f"{folder} holds another model; reimporting {mid!r}", TopolensWarning, stacklevel=2)
            except CorruptRecordError as exc:
                warnings.warn(f"Reimporting a corrupt model: {exc}", TopolensWarning, stacklevel=2)
        final, initial = t.models[mid], t.initial_models[mid]
        _write_imported_model(folder, source_id=mid, architecture=_architecture(t.model_dirs[mid], final),
                              hparams=hparams[mid], metrics=metrics[mid], dataset=dataset,
                              initial=initial.state_dict(), final=final.state_dict(),
                              source={"task": t.task, "folder": str(t.model_dirs[mid].resolve())})
        imported += 1
    logger.info("zoo %s: %d models imported, %d already there", out, imported, skipped)
    zoo = Zoo.load(out)
    zoo.last_import = {"imported": imported, "skipped": skipped}
    return zoo
