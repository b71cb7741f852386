"""The :class:`Activations` container: a read-only mapping layer -> (n_inputs, n_neurons)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import _float32_overflow, _to_numpy, check_choice
from ..exceptions import InvalidInputError, LayerNotFoundError, NonFiniteError, ShapeError
from ._inputs import _complex_message, _labels_to_numpy
from ._store import _REDUCE_CHOICES, _as_directory, _expected_neurons, _load_store, _save_arrays

__all__ = ["Activations"]


class _LayerKeyError(LayerNotFoundError, KeyError):
    """Unknown layer name in an :class:`Activations` (a ``KeyError`` so ``Mapping.get`` works)."""


def _as_layer_arrays(arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Private float32 C-order copies of the user's arrays, each checked (2-D, real, in range)."""
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
        if np.iscomplexobj(arr):
            raise InvalidInputError(_complex_message(f"activations of layer {name!r}", arr.dtype))
        overflow = _float32_overflow(arr, f"activations of layer {name!r}")
        if overflow:
            raise NonFiniteError(overflow)
        conv[name] = np.array(arr, dtype=np.float32, order="C", copy=True)
    return conv


def _layer_shapes(arrays: dict[str, np.ndarray], shapes: Mapping[str, Sequence[int]] | None,
                  reduce: str) -> tuple[int, dict[str, tuple[int, ...]]]:
    """Check the layers against each other and their output shapes; make the arrays read-only.

    Returns the number of inputs and each layer's per-input output shape.
    """
    if not arrays:
        raise InvalidInputError(
            "no layer holds activations, so there is nothing to store; record or pass at "
            "least one layer."
        )
    rows = {a.shape[0] for a in arrays.values()}
    if len(rows) != 1:
        detail = ", ".join(f"{k!r}: {a.shape[0]}" for k, a in arrays.items())
        raise ShapeError(
            f"all layers must hold the same number of inputs (rows); found {detail}. Pass "
            "activations recorded on the same inputs (rows in the same order)."
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
                f"reduce={reduce!r} gives {_expected_neurons(shape, reduce)}. Pass shapes= with "
                "each layer's per-input output shape before flattening, or leave shapes out."
            )
        out_shapes[name] = shape
        if arr.flags.writeable:
            arr.flags.writeable = False
    return int(n_inputs), out_shapes


def _check_predictions(predictions: Any, n_inputs: int) -> np.ndarray | None:
    """Predictions as a read-only int64 ``(n_inputs,)`` array (None stays None)."""
    if predictions is None:
        return None
    arr = _to_numpy(predictions)
    if arr.ndim != 1 or arr.shape[0] != n_inputs:
        raise ShapeError(
            f"predictions have shape {arr.shape} but there are {n_inputs} inputs; expected one "
            f"predicted class per input, shape ({n_inputs},)."
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidInputError(
            f"predictions must be integer class indices, found dtype {arr.dtype}; pass "
            "outputs.argmax(axis=1)."
        )
    arr = arr.astype(np.int64, copy=arr.dtype != np.int64)
    arr.flags.writeable = False
    return arr


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
    predictions : array-like of int, optional
        The model's predicted class per input, ``(n_inputs,)``.

    Attributes
    ----------
    labels : numpy.ndarray or None
        Labels of the inputs, ``(n_inputs, ...)``, when collected.
    predictions : numpy.ndarray or None
        int64 ``(n_inputs,)``: the argmax of the model's output per input, recorded in the
        same forward pass when that output is a ``(batch, n_classes > 1)`` tensor.
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
        predictions: Any = None,
    ) -> None:
        reduce = check_choice(reduce, "reduce", _REDUCE_CHOICES)
        if not isinstance(arrays, Mapping) or not arrays:
            raise InvalidInputError(
                "arrays must be a non-empty mapping of layer name -> (n_inputs, n_neurons) array, "
                f"found {type(arrays).__name__}{' (empty)' if isinstance(arrays, Mapping) else ''}."
            )
        conv = _as_layer_arrays(arrays)
        if labels is not None:
            labels = np.array(_to_numpy(labels), copy=True)
        if predictions is not None:
            predictions = np.array(_to_numpy(predictions), copy=True)
        self._init(conv, labels=labels, shapes=shapes, reduce=reduce, directory=None,
                   predictions=predictions)

    @classmethod
    def _from_parts(cls, arrays: dict[str, np.ndarray], *, labels: np.ndarray | None,
                    shapes: Mapping[str, Sequence[int]] | None, reduce: str,
                    directory: Path | None, predictions: np.ndarray | None = None) -> Activations:
        obj = cls.__new__(cls)
        obj._init(arrays, labels=labels, shapes=shapes, reduce=reduce, directory=directory,
                  predictions=predictions)
        return obj

    def _init(self, arrays: dict[str, np.ndarray], *, labels: Any,
              shapes: Mapping[str, Sequence[int]] | None, reduce: str,
              directory: Path | None, predictions: Any = None) -> None:
        n_inputs, out_shapes = _layer_shapes(arrays, shapes, reduce)
        if labels is not None:
            labels = _labels_to_numpy(labels, n_inputs, "Activations")
            labels.flags.writeable = False
        self._arrays = arrays
        self._labels = labels
        self._predictions = _check_predictions(predictions, n_inputs)
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
    def predictions(self) -> np.ndarray | None:
        """The model's predicted class per input, int64 ``(n_inputs,)``, or None."""
        return self._predictions

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
        if (self._predictions is None) != (other._predictions is None):
            return False
        if self._predictions is not None and not np.array_equal(self._predictions, other._predictions):
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
        labels and predictions to ``.npy`` files and a JSON manifest last, so a reader
        never sees a half-written set. An earlier topolens store in ``directory`` is
        replaced; a directory holding files topolens did not write is refused.

        Raises
        ------
        InvalidInputError
            If ``directory`` is a file, or holds another tool's ``manifest.json`` or any
            file that is not part of a topolens store (nothing is written or deleted).
        """
        directory = _as_directory(directory, "directory")
        if self._directory is not None and directory.exists() and \
                directory.resolve() == self._directory.resolve():
            return directory  # already stored there
        _save_arrays(directory, self._arrays, self._shapes, self._n_inputs, self._reduce,
                     self._labels, self._predictions)
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

        Returns
        -------
        Activations
            ``predictions`` is None for stores written before predictions were recorded.

        Raises
        ------
        InvalidInputError
            If ``directory`` holds no manifest.
        IntegrityError
            If the manifest is malformed or a file is missing or has the wrong size.
        """
        return cls._from_parts(**_load_store(_as_directory(directory, "directory"), mmap))
