"""Record the activations of chosen layers of a PyTorch model.

:func:`record_activations` runs a model over a data set with forward hooks on the
chosen modules and returns an :class:`Activations`: a read-only mapping from layer
name to a float32 matrix of shape ``(n_inputs, n_neurons)`` (rows are inputs,
columns are neurons), the one activation layout used throughout topolens.

Each layer's output for one input is flattened to one row in C order. For a
convolution output ``(B, C, H, W)`` the neurons are therefore the ``(channel,
position)`` pairs, channel-major, as in Ballester et al. (2024); ``reduce="mean"``
or ``reduce="max"`` pools the spatial positions per channel instead, giving
``(B, C)``. :meth:`Activations.concat` stacks the layers side by side: "all
non-input neurons" of the network.

With ``store=<directory>`` each layer is streamed to a raw float32 file while the
data is processed (nothing is held in memory, the data set length need not be
known) and the result is a set of read-only memory maps. The on-disk format is::

    <directory>/manifest.json      # written last, atomically
    <directory>/0000_<layer>.f32   # little-endian float32, C order, (n_inputs, n_neurons)
    <directory>/labels.npy         # only when labels were collected

:meth:`Activations.save` writes the same format and :meth:`Activations.load`
reopens it, memory-mapped, after checking the manifest against the file sizes.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import json
import logging
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._io import atomic_path, atomic_write_text
from ._validation import _to_numpy, check_choice, check_int
from .exceptions import (
    IntegrityError,
    InvalidInputError,
    LayerNotFoundError,
    NonFiniteError,
    ShapeError,
    TopolensWarning,
)

__all__ = ["Activations", "LayerSpec", "list_layers", "record_activations"]

logger = logging.getLogger(__name__)

#: What ``layers`` accepts: a name or glob pattern, a module type, a module of the
#: model, a predicate ``(name, module) -> bool``, or a list mixing these.
_OneLayerSpec = str | type[nn.Module] | nn.Module | Callable[[str, nn.Module], bool]
LayerSpec = _OneLayerSpec | Sequence[_OneLayerSpec]

_REDUCE_CHOICES = ("flatten", "mean", "max")
_FORMAT = "topolens.Activations"
_FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_LABELS_FILE = "labels.npy"
_DISK_DTYPE = np.dtype("<f4")
_GLOB_CHARS = frozenset("*?[")
_INPUT_KEYS = ("input", "inputs", "x")
_LABEL_KEYS = ("label", "labels", "y", "target", "targets")

# Leaf modules whose output merely repeats (or reshapes) their input in eval mode.
# They are left out of the default selection so that ``concat`` holds no duplicate neurons.
_PASSTHROUGH: tuple[type[nn.Module], ...] = (
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


class _LayerKeyError(LayerNotFoundError, KeyError):
    """Unknown layer name in an :class:`Activations` (a ``KeyError`` so ``Mapping.get`` works)."""


# --------------------------------------------------------------------------- layers
def _candidates(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules selectable by pattern, type or predicate: all but the root, or the root if a leaf."""
    mods = [(n, m) for n, m in model.named_modules() if n != ""]
    return mods if mods else [("", model)]


def list_layers(model: nn.Module) -> list[tuple[str, str]]:
    """List the layers of a model that :func:`record_activations` can hook.

    Parameters
    ----------
    model : torch.nn.Module
        The model.

    Returns
    -------
    list of (str, str)
        ``(qualified name, type name)`` for every module of ``model.named_modules()``
        except the model itself, in that order. A model without submodules gives
        ``[("", type name)]``: the model itself, under the empty name.

    Examples
    --------
    >>> from torch import nn
    >>> list_layers(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    [('0', 'Linear'), ('1', 'ReLU')]
    """
    if not isinstance(model, nn.Module):
        raise InvalidInputError(
            f"model must be a torch.nn.Module, found {type(model).__name__}. Pass the network itself."
        )
    return [(n, type(m).__name__) for n, m in _candidates(model)]


def _describe_available(model: nn.Module, limit: int = 40) -> str:
    layers = list_layers(model)
    shown = ", ".join(f"{n!r} ({t})" for n, t in layers[:limit])
    more = f", ... ({len(layers) - limit} more; see topolens.activations.list_layers(model))" \
        if len(layers) > limit else ""
    return f"Available layers (name (type)): {shown}{more}."


_SPEC_HELP = (
    "Pass an exact name from model.named_modules(), a glob pattern such as 'layer1.*', "
    "a module type such as torch.nn.Conv2d, a submodule of the model, a callable "
    "(name, module) -> bool, or a list of these."
)


def _match_spec(spec: Any, model: nn.Module, named: dict[str, nn.Module]) -> list[str]:
    """Names matched by one layer specification (raises when it matches nothing)."""
    cands = _candidates(model)
    if isinstance(spec, str):
        if spec in named:
            return [spec]
        if _GLOB_CHARS & set(spec):
            hits = [n for n, _ in cands if fnmatch.fnmatchcase(n, spec)]
            if hits:
                return hits
        close = difflib.get_close_matches(spec, [n for n, _ in cands], n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        what = "pattern" if _GLOB_CHARS & set(spec) else "name"
        raise LayerNotFoundError(
            f"layer {what} {spec!r} matches no module of the {type(model).__name__} model.{hint} "
            f"{_describe_available(model)} {_SPEC_HELP}"
        )
    if isinstance(spec, type):
        if not issubclass(spec, nn.Module):
            raise InvalidInputError(
                f"layer type {spec.__name__} is not a torch.nn.Module subclass. {_SPEC_HELP}"
            )
        hits = [n for n, m in cands if isinstance(m, spec)]
        if not hits:
            present = sorted({type(m).__name__ for _, m in cands})
            raise LayerNotFoundError(
                f"the {type(model).__name__} model has no module of type {spec.__name__}; "
                f"types present: {', '.join(present)}. {_describe_available(model)}"
            )
        return hits
    if isinstance(spec, nn.Module):  # before `callable`: modules are callable
        for n, m in named.items():
            if m is spec:
                return [n]
        raise LayerNotFoundError(
            f"the given {type(spec).__name__} module is not a submodule of the "
            f"{type(model).__name__} model. Pass a module obtained from the model itself "
            f"(e.g. model.fc1) or its name. {_describe_available(model)}"
        )
    if callable(spec):
        hits = [n for n, m in cands if bool(spec(n, m))]
        if not hits:
            raise LayerNotFoundError(
                f"the layer predicate {getattr(spec, '__name__', spec)!r} returned False for every "
                f"module of the {type(model).__name__} model. {_describe_available(model)}"
            )
        return hits
    raise InvalidInputError(
        f"cannot select layers with {spec!r} ({type(spec).__name__}). {_SPEC_HELP}"
    )


def _select_layers(model: nn.Module, layers: LayerSpec | None) -> list[str]:
    """Resolve ``layers`` to qualified names in ``model.named_modules()`` order."""
    named = dict(model.named_modules())
    order = {n: i for i, n in enumerate(named)}
    if layers is None:
        leaves = [(n, m) for n, m in _candidates(model) if next(m.children(), None) is None]
        chosen = [n for n, m in leaves if not isinstance(m, _PASSTHROUGH)]
        return chosen or [n for n, _ in leaves]
    specs = list(layers) if isinstance(layers, (list, tuple)) else [layers]
    if not specs:
        raise InvalidInputError(
            "layers is an empty list, so no layer would be recorded. Pass layers=None for every "
            f"leaf module, or name some layers. {_describe_available(model)}"
        )
    found: set[str] = set()
    for spec in specs:
        found.update(_match_spec(spec, model, named))
    return sorted(found, key=order.__getitem__)


# --------------------------------------------------------------------------- data
def _is_arraylike(x: Any) -> bool:
    return isinstance(x, (torch.Tensor, np.ndarray))


def _labels_to_numpy(y: Any, n: int, where: str) -> np.ndarray:
    arr = _to_numpy(y)
    if arr.ndim == 0 or arr.shape[0] != n:
        raise ShapeError(
            f"labels of {where} have shape {arr.shape} but the inputs hold {n} input(s); expected "
            f"one label per input (shape ({n}, ...)). Check that the batch is (inputs, labels)."
        )
    return arr


def _split_batch(batch: Any, index: int) -> tuple[Any, Any]:
    """(inputs, labels or None) of one batch."""
    if _is_arraylike(batch):
        return batch, None
    if isinstance(batch, (tuple, list)):
        if not batch:
            raise InvalidInputError(f"batch {index} is an empty {type(batch).__name__}; expected (inputs, labels).")
        return batch[0], (batch[1] if len(batch) > 1 else None)
    if isinstance(batch, Mapping):
        x_key = next((k for k in _INPUT_KEYS if k in batch), None)
        if x_key is None:
            raise InvalidInputError(
                f"batch {index} is a dict with keys {sorted(map(str, batch))} but none of "
                f"{list(_INPUT_KEYS)} holds the inputs. Rename the input key to 'input' or 'x'."
            )
        y_key = next((k for k in _LABEL_KEYS if k in batch), None)
        return batch[x_key], (batch[y_key] if y_key is not None else None)
    raise InvalidInputError(
        f"batch {index} is a {type(batch).__name__}; expected a tensor, an (inputs, labels) "
        "tuple or list, or a dict with an 'input'/'x' key."
    )


def _iter_batches(data: Any, batch_size: int) -> tuple[Iterator[tuple[Any, Any]], int | None]:
    """Iterator over (inputs, labels or None) and the number of inputs when known."""
    from torch.utils.data import DataLoader, Dataset, IterableDataset, RandomSampler

    def sliced(x: Any, y: Any) -> Iterator[tuple[Any, Any]]:
        for i in range(0, len(x), batch_size):
            yield x[i : i + batch_size], (None if y is None else y[i : i + batch_size])

    if _is_arraylike(data):
        if data.ndim == 0:
            raise ShapeError("data is a 0-d array; expected inputs of shape (n_inputs, ...).")
        return sliced(data, None), int(data.shape[0])
    if isinstance(data, tuple) and len(data) == 2 and _is_arraylike(data[0]):
        x, y = data
        if x.ndim == 0:
            raise ShapeError("inputs are a 0-d array; expected shape (n_inputs, ...).")
        if y is not None:
            y = _labels_to_numpy(y, int(x.shape[0]), "the (inputs, labels) tuple")
        return sliced(x, y), int(x.shape[0])
    if isinstance(data, (Dataset, IterableDataset)) and not isinstance(data, DataLoader):
        loader: Any = DataLoader(data, batch_size=batch_size, shuffle=False)
        total = None
        with contextlib.suppress(TypeError, NotImplementedError):
            total = len(data)  # type: ignore[arg-type]
        return (_split_batch(b, i) for i, b in enumerate(loader)), total
    if isinstance(data, DataLoader):
        if isinstance(data.sampler, RandomSampler):
            warnings.warn(
                "the DataLoader shuffles (shuffle=True), so the rows of the activations follow a "
                "random order that changes between runs. Pass a DataLoader with shuffle=False, or "
                "the Dataset itself, for a reproducible order.",
                TopolensWarning,
                stacklevel=3,
            )
        total = None
        with contextlib.suppress(TypeError, NotImplementedError):
            total = len(data.dataset)  # type: ignore[arg-type]
        return (_split_batch(b, i) for i, b in enumerate(data)), total
    if isinstance(data, (str, bytes, Mapping)) or not isinstance(data, Iterable):
        raise InvalidInputError(
            f"data is a {type(data).__name__}; expected a tensor or numpy array of inputs, an "
            "(inputs, labels) tuple, a torch Dataset, a DataLoader, or an iterable of batches."
        )
    return (_split_batch(b, i) for i, b in enumerate(data)), None


def _input_to_tensor(x: Any, index: int, device: torch.device, dtype: torch.dtype | None) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            raise InvalidInputError(f"inputs of batch {index} are a numpy array of dtype object; expected numbers.")
        x = torch.from_numpy(np.array(x, copy=True) if not x.flags.writeable else np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise InvalidInputError(
            f"inputs of batch {index} are a {type(x).__name__}; expected a tensor or numpy array. "
            "A model with several inputs must be wrapped in a module that takes one tensor."
        )
    if x.ndim == 0:
        raise ShapeError(f"inputs of batch {index} are a 0-d tensor; expected shape (batch, ...).")
    if dtype is not None and x.is_floating_point() and x.dtype != dtype:
        x = x.to(dtype)
    return x.to(device)


def _model_device_dtype(model: nn.Module) -> tuple[torch.device | None, torch.dtype | None]:
    device = None
    dtype = None
    for t in list(model.parameters()) + list(model.buffers()):
        if device is None:
            device = t.device
        if dtype is None and t.is_floating_point():
            dtype = t.dtype
        if device is not None and dtype is not None:
            break
    return device, dtype


# --------------------------------------------------------------------------- capture
def _expected_neurons(shape: tuple[int, ...], reduce: str) -> int:
    if reduce != "flatten" and len(shape) >= 2:
        return int(shape[0])
    return int(math.prod(shape))


class _Recorder:
    """Forward hooks that copy each chosen layer's output of the current batch."""

    def __init__(self, model: nn.Module, names: list[str], reduce: str, check_finite: bool,
                 skip_reused: bool = False) -> None:
        wanted = set(names)
        self.skip_reused = skip_reused
        self.reused: set[str] = set()
        self.types = {n: type(m).__name__ for n, m in model.named_modules() if n in wanted}
        self.reduce = reduce
        self.check_finite = check_finite
        self.current: dict[str, np.ndarray] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.batch = 0
        self.offset = 0
        self.size = 0

    def hook(self, name: str) -> Callable[[nn.Module, Any, Any], None]:
        def _hook(module: nn.Module, args: Any, output: Any) -> None:
            self.capture(name, output)

        return _hook

    def _where(self) -> str:
        return f"batch {self.batch} (inputs {self.offset}..{self.offset + self.size - 1})"

    def capture(self, name: str, output: Any) -> None:
        label = f"layer {name!r} ({self.types[name]})"
        t = output
        if isinstance(output, (tuple, list)):
            t = next((o for o in output if isinstance(o, torch.Tensor)), None)
        if not isinstance(t, torch.Tensor):
            raise InvalidInputError(
                f"{label} returned a {type(output).__name__}, not a tensor, so it has no activations "
                "to record (for a tuple or list output the first tensor element is used). Choose "
                "another layer, e.g. one of its submodules."
            )
        if name in self.current or name in self.reused:
            if self.skip_reused:  # default selection: leave reused modules out (warned once)
                self.reused.add(name)
                self.current.pop(name, None)
                return
            raise InvalidInputError(
                f"{label} ran more than once in one forward pass ({self._where()}), so its "
                "activations are ambiguous (a module reused in forward, e.g. one shared ReLU). Leave "
                f"it out, e.g. layers=lambda name, module: name != {name!r}, or give each call its "
                "own module."
            )
        b = self.size
        if t.ndim == 0 or t.shape[0] != b:
            raise ShapeError(
                f"{label} returned shape {tuple(t.shape)} for {self._where()} of {b} input(s); "
                f"expected the batch dimension first, (batch={b}, ...). Layers that mix inputs or "
                "put the batch elsewhere (e.g. sequence-first RNNs) cannot be recorded per input."
            )
        shape = tuple(int(s) for s in t.shape[1:])
        if math.prod(shape) == 0:
            raise ShapeError(
                f"{label} produced an empty output of per-input shape {shape} (0 neurons). "
                "Choose another layer."
            )
        prev = self.shapes.setdefault(name, shape)
        if prev != shape:
            raise ShapeError(
                f"{label} produced per-input shape {shape} in {self._where()} but {prev} in the "
                "first batch; every input must give the same shape. Resize or pad the inputs to "
                "one size."
            )
        t = t.detach()
        if self.check_finite and not bool(torch.isfinite(t).all()):
            bad = ~torch.isfinite(t.reshape(b, -1))
            n_nan = int(torch.isnan(t).sum())
            n_inf = int(bad.sum()) - n_nan
            rows = (torch.nonzero(bad.any(dim=1)).flatten() + self.offset)[:5].tolist()
            raise NonFiniteError(
                f"{label} produced {n_nan} NaN and {n_inf} infinite value(s) in {self._where()}; "
                f"first affected inputs: {rows}. Check the model and these inputs for overflow "
                "(e.g. exploding weights, log of zero), or pass check_finite=False to record "
                "them anyway."
            )
        if self.reduce != "flatten" and t.ndim >= 3:
            t = t.float()
            dims = tuple(range(2, t.ndim))
            t = t.mean(dim=dims) if self.reduce == "mean" else t.amax(dim=dims)
        # copy now: a later in-place op (e.g. ReLU(inplace=True)) may overwrite the output
        flat = t.reshape(b, -1).to(device="cpu", dtype=torch.float32, copy=True)
        self.current[name] = flat.numpy()


# --------------------------------------------------------------------------- storage
def _safe_filename(index: int, name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:80] or "root"
    return f"{index:04d}_{safe}.f32"


def _old_store_files(directory: Path) -> set[str]:
    """Files of an earlier store in ``directory`` (best effort); removes its manifest first."""
    manifest = directory / _MANIFEST
    old: set[str] = set()
    if manifest.exists():
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
            meta = json.loads(manifest.read_text(encoding="utf-8"))
            old.update(str(layer["file"]) for layer in meta["layers"])
            if meta.get("labels"):
                old.add(str(meta["labels"]["file"]))
        manifest.unlink()  # the store is invalid until the new manifest is written
    return {f for f in old if f == Path(f).name}


def _finish_store(
    directory: Path,
    old_files: set[str],
    new_files: set[str],
    names: list[str],
    files: dict[str, str],
    shapes: dict[str, tuple[int, ...]],
    n_neurons: dict[str, int],
    n_inputs: int,
    reduce: str,
    labels: np.ndarray | None,
) -> None:
    """Write the labels and the manifest (last) and drop files of an earlier store."""
    labels_meta = None
    if labels is not None:
        with atomic_path(directory / _LABELS_FILE) as tmp, open(tmp, "wb") as fh:
            np.save(fh, labels, allow_pickle=False)  # a file object: np.save adds no suffix
            fh.flush()
            os.fsync(fh.fileno())
        new_files = new_files | {_LABELS_FILE}
        labels_meta = {"file": _LABELS_FILE, "dtype": labels.dtype.str, "shape": list(labels.shape)}
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
        "labels": labels_meta,
    }
    atomic_write_text(directory / _MANIFEST, json.dumps(manifest, indent=2))


class _MemorySink:
    def __init__(self) -> None:
        self.chunks: dict[str, list[np.ndarray]] = {}

    def start(self, names: list[str]) -> None:
        self.chunks = {n: [] for n in names}

    def append(self, name: str, arr: np.ndarray) -> None:
        self.chunks[name].append(arr)

    def finish(self, n_inputs: int, shapes: dict[str, tuple[int, ...]], reduce: str,
               labels: np.ndarray | None) -> Activations:
        arrays = {}
        for name in list(self.chunks):
            parts = self.chunks.pop(name)
            arrays[name] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        return Activations._from_parts(arrays, labels=labels, shapes=shapes, reduce=reduce, directory=None)

    def abort(self) -> None:
        self.chunks = {}


class _StoreSink:
    """Appends each batch's rows to one raw float32 file per layer."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise InvalidInputError(
                f"store={str(directory)!r} exists and is not a directory; pass a directory path."
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, str] = {}
        self.handles: dict[str, Any] = {}
        self.n_neurons: dict[str, int] = {}

    def _partial(self, name: str) -> Path:
        return self.directory / f".{self.files[name]}.partial"

    def start(self, names: list[str]) -> None:
        for i, name in enumerate(names):
            self.files[name] = _safe_filename(i, name)
            self.handles[name] = open(self._partial(name), "wb")  # closed in finish/abort

    def append(self, name: str, arr: np.ndarray) -> None:
        self.n_neurons[name] = arr.shape[1]
        self.handles[name].write(np.ascontiguousarray(arr, dtype=_DISK_DTYPE).data)

    def _close(self) -> None:
        for fh in self.handles.values():
            with contextlib.suppress(OSError):
                fh.close()

    def finish(self, n_inputs: int, shapes: dict[str, tuple[int, ...]], reduce: str,
               labels: np.ndarray | None) -> Activations:
        for fh in self.handles.values():
            fh.flush()
            os.fsync(fh.fileno())
        self._close()
        old = _old_store_files(self.directory)
        for name, fname in self.files.items():
            os.replace(self._partial(name), self.directory / fname)
        names = list(self.files)
        _finish_store(self.directory, old, set(self.files.values()), names, self.files, shapes,
                      self.n_neurons, n_inputs, reduce, labels)
        return Activations.load(self.directory)

    def abort(self) -> None:
        self._close()
        for name in self.files:
            with contextlib.suppress(OSError):
                self._partial(name).unlink()


# --------------------------------------------------------------------------- recording
def record_activations(
    model: nn.Module,
    data: Any,
    layers: LayerSpec | None = None,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    reduce: str = "flatten",
    store: str | os.PathLike | None = None,
    max_inputs: int | None = None,
    check_finite: bool = True,
    progress: bool = False,
) -> Activations:
    """Run ``model`` over ``data`` and record the outputs of the chosen layers.

    The model runs in eval mode under :func:`torch.no_grad`; afterwards the training
    flag of every module is restored and the hooks are removed, also when the forward
    pass raises.

    Parameters
    ----------
    model : torch.nn.Module
        The network. It is not moved between devices.
    data : tensor, ndarray, tuple, Dataset, DataLoader or iterable
        The inputs, one of:

        * a tensor or numpy array of inputs ``(n_inputs, ...)``, batched by slicing;
        * a tuple ``(inputs, labels)`` of two arrays of the same length (a *tuple* of two
          arrays always means this; pass a list for an iterable of two batches);
        * a :class:`torch.utils.data.Dataset` (wrapped in a ``DataLoader`` with
          ``shuffle=False`` and ``batch_size``);
        * a ``DataLoader`` or any iterable of batches (``batch_size`` is then ignored).

        A batch is a tensor/array of inputs, a tuple or list ``(inputs, labels, ...)``,
        or a dict with the inputs under ``'input'``/``'inputs'``/``'x'`` and optionally
        the labels under ``'label'``/``'labels'``/``'y'``/``'target'``. Labels are
        collected when every batch has them. Floating-point inputs are cast to the dtype
        of the model's floating-point parameters (numpy's float64 to float32, say).
    layers : str, type, module, callable, list of these, or None
        Which modules to hook:

        * ``None``: every leaf module (module without children), except those whose
          output only repeats their input in eval mode (``Identity``, ``Flatten``,
          ``Unflatten``, dropout), which would duplicate neurons;
        * a str: an exact qualified name from ``model.named_modules()``, or a glob pattern
          with ``* ? [ ]`` (:func:`fnmatch.fnmatchcase`; ``*`` also matches dots);
        * an ``nn.Module`` subclass: every module of that type;
        * a submodule of the model, e.g. ``model.fc1``;
        * a callable ``(name, module) -> bool``;
        * a list mixing these (the union).

        Patterns, types and callables never match the model itself unless it has no
        submodules; the exact name ``""`` selects it (its output is the model output).
        The result is ordered as ``model.named_modules()``. A module that runs more than
        once per forward pass (one ReLU shared by two places, as in torchvision's ResNet
        blocks) has ambiguous activations: the default selection leaves it out with a
        :class:`~topolens.exceptions.TopolensWarning`; selecting it explicitly is an error.
    batch_size : int, default 256
        Inputs per forward pass when ``data`` is an array or a Dataset.
    device : str or torch.device, optional
        Where the inputs are sent. Default: the device of the model's first parameter
        (or buffer), CPU for a model without any. Activations always come back to the
        CPU as float32.
    reduce : {"flatten", "mean", "max"}, default "flatten"
        ``"flatten"``: each input's output becomes one row in C order, so ``(B, C, H, W)``
        gives ``C*H*W`` neurons indexed ``(channel, position)``. ``"mean"``/``"max"``: pool
        every dimension after the channel dimension, so outputs with ``ndim >= 3`` give
        ``(B, C)``; 2-D outputs are kept as they are.
    store : path-like, optional
        Directory to stream the activations to (created if missing; a store already there
        is replaced once the run succeeds). Each layer is appended batch by batch to a raw
        float32 file, so nothing is held in memory and the number of inputs need not be
        known; the result is memory-mapped read-only. Default: keep them in memory.
    max_inputs : int, optional
        Stop after this many inputs (the last batch is truncated).
    check_finite : bool, default True
        Raise :class:`~topolens.exceptions.NonFiniteError` when a layer outputs NaN or inf.
    progress : bool, default False
        Show a tqdm progress bar.

    Returns
    -------
    Activations
        Layer name -> float32 array ``(n_inputs, n_neurons)``, plus labels and shapes.

    Raises
    ------
    LayerNotFoundError
        If a name, pattern, type or predicate in ``layers`` matches no module; the message
        lists the available layers and close matches.
    InvalidInputError
        On bad arguments or data, a layer returning no tensor, a chosen layer that never
        runs or runs several times per forward pass.
    ShapeError
        If a layer's output is empty (0 neurons), is not batch-first, or changes shape
        between batches.
    NonFiniteError
        If ``check_finite`` and a layer outputs NaN or inf; names the layer and the inputs.

    Notes
    -----
    A module returning a tuple or list (e.g. ``nn.LSTM``, ``nn.MultiheadAttention``) is
    recorded through its first tensor element. A chosen module that does not run in the
    first batch is an error, except under the default ``layers=None`` where it is
    dropped with a logged warning.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> acts = record_activations(model, torch.randn(10, 4), layers=["0", "2"])
    >>> acts["0"].shape, acts.concat().shape
    ((10, 8), (10, 10))
    """
    if not isinstance(model, nn.Module):
        raise InvalidInputError(
            f"model must be a torch.nn.Module, found {type(model).__name__}. Pass the network itself."
        )
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    max_inputs = check_int(max_inputs, "max_inputs", minimum=1, allow_none=True)
    reduce = check_choice(reduce, "reduce", _REDUCE_CHOICES)
    explicit = layers is not None
    names = _select_layers(model, layers)

    model_device, model_dtype = _model_device_dtype(model)
    if device is None:
        target = model_device if model_device is not None else torch.device("cpu")
    else:
        try:
            target = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise InvalidInputError(f"device={device!r} is not a torch device: {exc}") from exc
        if model_device is not None and model_device.type != target.type:
            raise InvalidInputError(
                f"the model's parameters are on {model_device} but device={str(target)!r}. Move "
                f"the model first (model.to({str(target)!r})) or leave device=None."
            )

    batches, total = _iter_batches(data, batch_size)
    if max_inputs is not None:
        total = max_inputs if total is None else min(total, max_inputs)
    logger.debug("recording %d layer(s) of %s on %s: %s", len(names), type(model).__name__,
                 target, names)

    recorder = _Recorder(model, names, reduce, check_finite, skip_reused=not explicit)
    modules = dict(model.named_modules())
    sink: _MemorySink | _StoreSink = _MemorySink() if store is None else _StoreSink(store)
    modes = {m: m.training for m in model.modules()}
    handles: dict[str, Any] = {}
    labels: list[np.ndarray] = []
    has_labels: bool | None = None
    n = 0
    bar = None
    try:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="input", desc="recording activations", disable=not progress,
                   leave=False)
        for name in names:
            handles[name] = modules[name].register_forward_hook(recorder.hook(name))
        model.eval()
        with torch.no_grad():
            for index, (x, y) in enumerate(batches):
                if not _is_arraylike(x):
                    x = _input_to_tensor(x, index, target, model_dtype)  # raises a clear error
                b = int(x.shape[0]) if x.ndim > 0 else 0
                if max_inputs is not None and n + b > max_inputs:
                    b = max_inputs - n
                    x = x[:b]
                    y = None if y is None else y[:b]
                if b == 0:
                    continue
                if has_labels is None:
                    has_labels = y is not None
                elif has_labels != (y is not None):
                    raise InvalidInputError(
                        f"batch {index} {'has' if y is not None else 'has no'} labels but the first "
                        "batch did not match; every batch must either have labels or not."
                    )
                if y is not None:
                    labels.append(_labels_to_numpy(y, b, f"batch {index}"))
                xt = _input_to_tensor(x, index, target, model_dtype)
                recorder.batch, recorder.offset, recorder.size = index, n, b
                recorder.current = {}
                model(xt)
                got = recorder.current
                if n == 0 and recorder.reused:
                    reused = [k for k in names if k in recorder.reused]
                    logger.warning(
                        "layer(s) %s ran more than once per forward pass (reused modules, e.g. one "
                        "shared ReLU), so their activations are ambiguous; leaving them out. Select "
                        "layers explicitly to see the other layers' names.", reused)
                    warnings.warn(
                        f"default layer selection leaves out {reused}: these modules ran more than "
                        "once per forward pass (e.g. a ReLU shared by two places).",
                        TopolensWarning, stacklevel=2)
                    for k in reused:
                        handles.pop(k).remove()
                    names = [k for k in names if k not in recorder.reused]
                if n == 0:
                    missing = [k for k in names if k not in got]
                    if missing and explicit:
                        raise InvalidInputError(
                            f"layer(s) {missing} never ran during the forward pass of the first "
                            "batch, so they have no activations. Leave them out of layers."
                        )
                    if missing:
                        logger.warning("layer(s) %s never ran in the forward pass; leaving them out",
                                       missing)
                        for k in missing:
                            handles.pop(k).remove()
                        names = [k for k in names if k in got]
                        if not names:
                            raise InvalidInputError(
                                "none of the model's layers ran during the forward pass; nothing "
                                "to record. Check the model's forward method."
                            )
                    sink.start(names)
                else:
                    missing = [k for k in names if k not in got]
                    if missing:
                        raise InvalidInputError(
                            f"layer(s) {missing} ran in the first batch but not in batch {index}; "
                            "the forward pass depends on the data, so rows would not line up. "
                            "Leave these layers out."
                        )
                for k in names:
                    sink.append(k, got[k])
                recorder.current = {}
                n += b
                bar.update(b)
                if max_inputs is not None and n >= max_inputs:
                    break
        if n == 0:
            raise InvalidInputError(
                "data yielded no inputs, so there is nothing to record. Pass a non-empty data set."
            )
        label_arr = None
        if has_labels:
            label_arr = np.concatenate(labels, axis=0)  # always a copy the caller cannot alter
        shapes = {k: recorder.shapes[k] for k in names}
        result = sink.finish(n, shapes, reduce, label_arr)
    except BaseException:
        sink.abort()
        raise
    finally:
        for h in handles.values():
            h.remove()
        for m, mode in modes.items():
            m.training = mode
        recorder.current = {}
        if bar is not None:
            bar.close()
    logger.info("recorded %d input(s) from %d layer(s) (%d neurons)%s", n, len(names),
                sum(a.shape[1] for a in result.values()),
                f" into {result.directory}" if result.directory else "")
    return result


# --------------------------------------------------------------------------- container
class Activations(Mapping[str, np.ndarray]):
    """Recorded activations: a read-only mapping layer name -> ``(n_inputs, n_neurons)`` array.

    Rows are inputs and columns are neurons; every array is float32 and read-only
    (a memory map when the activations live on disk). Layers keep the order of
    ``model.named_modules()``.

    Parameters
    ----------
    arrays : mapping of str to array-like
        Layer name -> 2-D array ``(n_inputs, n_neurons)``; all with the same number of rows.
    labels : array-like, optional
        One label per input.
    shapes : mapping of str to tuple of int, optional
        Layer name -> per-input output shape before flattening/pooling. Default:
        ``(n_neurons,)``.
    reduce : {"flatten", "mean", "max"}, default "flatten"
        How the outputs were turned into rows.

    Attributes
    ----------
    labels : numpy.ndarray or None
        Labels of the inputs, ``(n_inputs, ...)``, when collected.
    shapes : dict of str to tuple of int
        Per-input output shape of each layer before flattening/pooling.
    n_inputs : int
        Number of inputs (rows).
    reduce : str
        ``"flatten"``, ``"mean"`` or ``"max"``.
    directory : pathlib.Path or None
        The store directory when memory-mapped, else None.
    """

    __hash__ = None  # type: ignore[assignment]

    def __init__(
        self,
        arrays: Mapping[str, Any],
        *,
        labels: Any = None,
        shapes: Mapping[str, Sequence[int]] | None = None,
        reduce: str = "flatten",
    ) -> None:
        reduce = check_choice(reduce, "reduce", _REDUCE_CHOICES)
        if not isinstance(arrays, Mapping) or not arrays:
            raise InvalidInputError(
                "arrays must be a non-empty mapping of layer name -> (n_inputs, n_neurons) array, "
                f"found {type(arrays).__name__}{' (empty)' if isinstance(arrays, Mapping) else ''}."
            )
        conv: dict[str, np.ndarray] = {}
        for name, a in arrays.items():
            if not isinstance(name, str):
                raise InvalidInputError(f"layer names must be str, found {name!r} ({type(name).__name__}).")
            arr = _to_numpy(a)
            if arr.ndim != 2:
                raise ShapeError(
                    f"activations of layer {name!r} must be 2-D (n_inputs, n_neurons), found shape "
                    f"{arr.shape}. Flatten each input's output, e.g. a.reshape(len(a), -1)."
                )
            if not np.issubdtype(arr.dtype, np.number):
                raise InvalidInputError(f"activations of layer {name!r} must be numeric, found dtype {arr.dtype}.")
            conv[name] = np.array(arr, dtype=np.float32, order="C", copy=True)
        if labels is not None:
            labels = np.array(_to_numpy(labels), copy=True)
        self._init(conv, labels=labels, shapes=shapes, reduce=reduce, directory=None)

    @classmethod
    def _from_parts(cls, arrays: dict[str, np.ndarray], *, labels: np.ndarray | None,
                    shapes: Mapping[str, Sequence[int]] | None, reduce: str,
                    directory: Path | None) -> Activations:
        obj = cls.__new__(cls)
        obj._init(arrays, labels=labels, shapes=shapes, reduce=reduce, directory=directory)
        return obj

    def _init(self, arrays: dict[str, np.ndarray], *, labels: Any,
              shapes: Mapping[str, Sequence[int]] | None, reduce: str,
              directory: Path | None) -> None:
        rows = {a.shape[0] for a in arrays.values()}
        if len(rows) != 1:
            detail = ", ".join(f"{k!r}: {a.shape[0]}" for k, a in arrays.items())
            raise ShapeError(
                f"all layers must hold the same number of inputs (rows); found {detail}."
            )
        n_inputs = rows.pop()
        out_shapes: dict[str, tuple[int, ...]] = {}
        for name, arr in arrays.items():
            if arr.shape[1] == 0:
                raise ShapeError(f"layer {name!r} has 0 neurons (columns); leave the empty layer out.")
            shape = tuple(int(s) for s in (shapes[name] if shapes and name in shapes else (arr.shape[1],)))
            if _expected_neurons(shape, reduce) != arr.shape[1]:
                raise ShapeError(
                    f"layer {name!r} has {arr.shape[1]} neurons but its output shape {shape} with "
                    f"reduce={reduce!r} gives {_expected_neurons(shape, reduce)}."
                )
            out_shapes[name] = shape
            if arr.flags.writeable:
                arr.flags.writeable = False
        if labels is not None:
            labels = _labels_to_numpy(labels, n_inputs, "Activations")
            labels.flags.writeable = False
        self._arrays = arrays
        self._labels = labels
        self._shapes = out_shapes
        self._n_inputs = int(n_inputs)
        self._reduce = reduce
        self._directory = directory

    # ------------------------------------------------------------ attributes
    @property
    def labels(self) -> np.ndarray | None:
        """Labels of the inputs ``(n_inputs, ...)``, or None when none were collected."""
        return self._labels

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-input output shape of each layer before flattening/pooling (a copy)."""
        return dict(self._shapes)

    @property
    def n_inputs(self) -> int:
        """Number of inputs (rows of every array)."""
        return self._n_inputs

    @property
    def reduce(self) -> str:
        """How the outputs became rows: ``"flatten"``, ``"mean"`` or ``"max"``."""
        return self._reduce

    @property
    def directory(self) -> Path | None:
        """The store directory when the arrays are memory-mapped, else None."""
        return self._directory

    @property
    def layers(self) -> tuple[str, ...]:
        """Layer names in order."""
        return tuple(self._arrays)

    @property
    def n_neurons(self) -> dict[str, int]:
        """Number of neurons (columns) of each layer."""
        return {k: int(a.shape[1]) for k, a in self._arrays.items()}

    # ------------------------------------------------------------ mapping
    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._arrays[name]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(name), list(self._arrays), n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise _LayerKeyError(
                f"no recorded layer {name!r}.{hint} Recorded layers: "
                f"{', '.join(repr(k) for k in self._arrays)}."
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def __contains__(self, name: object) -> bool:
        return name in self._arrays

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Activations):
            return NotImplemented
        if (self.layers != other.layers or self._shapes != other._shapes
                or self._n_inputs != other._n_inputs or self._reduce != other._reduce):
            return False
        if (self._labels is None) != (other._labels is None):
            return False
        if self._labels is not None and not np.array_equal(self._labels, other._labels):
            return False
        return all(np.array_equal(self._arrays[k], other._arrays[k]) for k in self._arrays)

    def __repr__(self) -> str:
        total = sum(a.shape[1] for a in self._arrays.values())
        where = f"memmap {str(self._directory)!r}" if self._directory else "memory"
        labels = "None" if self._labels is None else f"{self._labels.dtype}{self._labels.shape}"
        lines = [
            f"Activations(n_inputs={self._n_inputs}, layers={len(self)}, neurons={total}, "
            f"reduce={self._reduce!r}, labels={labels}, storage={where})"
        ]
        items = list(self._arrays.items())
        for name, arr in items[:20]:
            lines.append(f"  {name!r}: {arr.shape[1]} neurons, output shape {self._shapes[name]}")
        if len(items) > 20:
            lines.append(f"  ... {len(items) - 20} more layer(s)")
        return "\n".join(lines)

    # ------------------------------------------------------------ combining
    def _resolve(self, layers: str | Sequence[str] | None) -> list[str]:
        if layers is None:
            return list(self._arrays)
        names = [layers] if isinstance(layers, str) else list(layers)
        if not names:
            raise InvalidInputError("layers is empty; pass None for all layers or some layer names.")
        for k in names:
            self[k]  # raises a LayerNotFoundError with close matches
        if len(set(names)) != len(names):
            raise InvalidInputError(f"layers {names} name a layer twice; each layer may appear once.")
        return names

    def concat(self, layers: str | Sequence[str] | None = None) -> np.ndarray:
        """Stack layers side by side: ``(n_inputs, total neurons)`` float32.

        Parameters
        ----------
        layers : str or sequence of str, optional
            Layer names, stacked in the given order. Default: every layer in order,
            i.e. all recorded (non-input) neurons of the network.

        Returns
        -------
        numpy.ndarray
            A new in-memory array; :meth:`neuron_slices` gives each layer's columns.
        """
        names = self._resolve(layers)
        return np.hstack([self._arrays[k] for k in names]).astype(np.float32, copy=False)

    def neuron_slices(self, layers: str | Sequence[str] | None = None) -> dict[str, slice]:
        """Column range of each layer in :meth:`concat` with the same ``layers``.

        Returns
        -------
        dict of str to slice
            Layer name -> ``slice(start, stop)`` of its columns in the stacked matrix.
        """
        out: dict[str, slice] = {}
        start = 0
        for k in self._resolve(layers):
            stop = start + int(self._arrays[k].shape[1])
            out[k] = slice(start, stop)
            start = stop
        return out

    # ------------------------------------------------------------ disk
    def save(self, directory: str | os.PathLike) -> Path:
        """Write the activations to ``directory`` in the store format; returns the directory.

        Each layer goes to a raw little-endian float32 file written atomically, the
        labels to ``labels.npy`` and a JSON manifest last, so a reader never sees a
        half-written set. A set already in ``directory`` is replaced.
        """
        directory = Path(directory)
        if self._directory is not None and directory.exists() and \
                directory.resolve() == self._directory.resolve():
            return directory  # already stored there
        if directory.exists() and not directory.is_dir():
            raise InvalidInputError(f"{str(directory)!r} exists and is not a directory; pass a directory path.")
        directory.mkdir(parents=True, exist_ok=True)
        old = _old_store_files(directory)
        names = list(self._arrays)
        files = {k: _safe_filename(i, k) for i, k in enumerate(names)}
        for k in names:
            arr = self._arrays[k]
            step = max(1, (1 << 24) // max(1, arr.shape[1]))
            with atomic_path(directory / files[k]) as tmp, open(tmp, "wb") as fh:
                for i in range(0, arr.shape[0], step):
                    fh.write(np.ascontiguousarray(arr[i : i + step], dtype=_DISK_DTYPE).data)
                fh.flush()
                os.fsync(fh.fileno())
        _finish_store(directory, old, set(files.values()), names, files, self._shapes,
                      self.n_neurons, self._n_inputs, self._reduce, self._labels)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, *, mmap: bool = True) -> Activations:
        """Reopen activations written by :meth:`save` or ``record_activations(store=...)``.

        Parameters
        ----------
        directory : path-like
            The store directory.
        mmap : bool, default True
            Memory-map the arrays read-only; False reads them into memory.

        Raises
        ------
        InvalidInputError
            If ``directory`` holds no manifest.
        IntegrityError
            If the manifest is malformed or a file is missing or has the wrong size.
        """
        directory = Path(directory)
        manifest_path = directory / _MANIFEST
        if not manifest_path.is_file():
            raise InvalidInputError(
                f"{str(directory)!r} holds no {_MANIFEST}, so it is not a (complete) topolens "
                "activation store. Pass a directory written by Activations.save or "
                "record_activations(store=...); an interrupted run leaves none."
            )

        def bad(msg: str) -> IntegrityError:
            return IntegrityError(f"activation store {str(directory)!r}: {msg}. Record or save it again.")

        try:
            meta = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise bad(f"cannot read {_MANIFEST} ({exc})") from exc
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise bad(f"{_MANIFEST} is not a {_FORMAT} manifest")
        if meta.get("version") != _FORMAT_VERSION:
            raise bad(f"format version {meta.get('version')!r} is not supported (expected {_FORMAT_VERSION})")
        if meta.get("dtype") != _DISK_DTYPE.str or meta.get("order", "C") != "C":
            raise bad(f"dtype {meta.get('dtype')!r} / order {meta.get('order')!r} unsupported (expected '<f4', 'C')")
        n_inputs = meta.get("n_inputs")
        reduce = meta.get("reduce")
        layers = meta.get("layers")
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
            raise bad(f"n_inputs is {n_inputs!r}, expected a positive integer")
        if reduce not in _REDUCE_CHOICES:
            raise bad(f"reduce is {reduce!r}, expected one of {_REDUCE_CHOICES}")
        if not isinstance(layers, list) or not layers:
            raise bad("the manifest lists no layers")
        arrays: dict[str, np.ndarray] = {}
        shapes: dict[str, tuple[int, ...]] = {}
        for entry in layers:
            try:
                name, fname = entry["name"], entry["file"]
                k = entry["n_neurons"]
                shape = tuple(entry["shape"])
            except (KeyError, TypeError) as exc:
                raise bad(f"malformed layer entry {entry!r}") from exc
            if not isinstance(name, str) or name in arrays:
                raise bad(f"layer name {name!r} is not a string or is repeated")
            if not isinstance(fname, str) or fname != Path(fname).name or fname in ("", ".", ".."):
                raise bad(f"file name {fname!r} of layer {name!r} is not a plain file name")
            if isinstance(k, bool) or not isinstance(k, int) or k < 1 or \
                    not all(isinstance(s, int) and s >= 0 for s in shape) or \
                    _expected_neurons(shape, reduce) != k:
                raise bad(f"layer {name!r} has n_neurons={k!r} inconsistent with shape {list(shape)}")
            path = directory / fname
            expected = n_inputs * k * _DISK_DTYPE.itemsize
            try:
                size = path.stat().st_size
            except OSError as exc:
                raise bad(f"data file {fname!r} of layer {name!r} is missing") from exc
            if size != expected:
                raise bad(
                    f"data file {fname!r} of layer {name!r} has {size} bytes but {n_inputs} inputs x "
                    f"{k} neurons x 4 bytes = {expected} were expected (truncated or overwritten?)"
                )
            if mmap:
                arr = np.memmap(path, dtype=_DISK_DTYPE, mode="r", shape=(n_inputs, k), order="C")
            else:
                arr = np.fromfile(path, dtype=_DISK_DTYPE).reshape(n_inputs, k)
            arrays[name] = arr if arr.dtype == np.float32 else arr.astype(np.float32)
            shapes[name] = shape
        labels = None
        if meta.get("labels"):
            try:
                lfile = meta["labels"]["file"]
                if lfile != Path(lfile).name:
                    raise bad(f"labels file name {lfile!r} is not a plain file name")
                labels = np.load(directory / lfile, allow_pickle=False)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise bad(f"cannot read the labels ({exc})") from exc
            if labels.ndim == 0 or labels.shape[0] != n_inputs:
                raise bad(f"labels have shape {labels.shape} but there are {n_inputs} inputs")
        return cls._from_parts(arrays, labels=labels, shapes=shapes, reduce=reduce,
                               directory=directory if mmap else None)
