"""Where recorded rows go: memory (estimated and refused before it would not fit) or a store."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._container import Activations
from ._store import (
    _DISK_DTYPE,
    _as_directory,
    _check_store_dir,
    _discard,
    _finish_store,
    _old_store_files,
    _safe_filename,
    _written_files,
)

_GIB = float(2**30)


def estimate_recording_memory(n_inputs: int, n_neurons: dict[str, int]) -> int:
    """Bytes of float32 activations of ``n_inputs`` inputs for layers with ``n_neurons`` columns."""
    return int(n_inputs) * sum(int(k) for k in n_neurons.values()) * _DISK_DTYPE.itemsize


def _memory_hint(n_neurons: dict[str, int]) -> str:
    widest = max(n_neurons, key=n_neurons.__getitem__)
    return (
        "Pass store=DIR to stream the activations to memory-mapped files on disk instead, or "
        "record fewer inputs (max_inputs=) or layers (the widest is "
        f"{widest!r} with {n_neurons[widest]} neurons per input), or pool with reduce='mean'"
    )


class _MemorySink:
    """Rows kept in memory: preallocated when the number of inputs is known, else in chunks.

    The size is estimated from the first batch (neurons per layer) and the number of
    inputs, and checked against ``memory_limit`` before anything is allocated; with an
    unknown number of inputs every batch is checked, counting the final concatenation.
    """

    def __init__(self, memory_limit: Any) -> None:
        # lazy: importing topolens.homology would slow down `import topolens.activations`
        from ..homology.memory import memory_budget

        self.budget = memory_budget(memory_limit)  # fixed at the start: our own arrays use memory
        self.buffers: dict[str, np.ndarray] = {}
        self.chunks: dict[str, list[np.ndarray]] = {}
        self.fill: dict[str, int] = {}
        self.n_neurons: dict[str, int] = {}
        self.stored = 0  # bytes held in chunks

    def _check(self, n_inputs: int, what: str) -> None:
        from ..homology.memory import check_memory

        check_memory(estimate_recording_memory(n_inputs, self.n_neurons), self.budget,
                     what=what, hint=_memory_hint(self.n_neurons))

    def start(self, names: list[str], n_neurons: dict[str, int], total: int | None) -> None:
        self.n_neurons = {k: int(n_neurons[k]) for k in names}
        if total is not None:
            total_neurons = sum(self.n_neurons.values())
            self._check(total, f"the activations of {total} inputs x {total_neurons} neurons "
                               f"({len(names)} layer(s), float32) in memory")
            self.buffers = {k: np.empty((total, self.n_neurons[k]), dtype=np.float32) for k in names}
        else:
            self.chunks = {k: [] for k in names}
        self.fill = dict.fromkeys(names, 0)

    def append(self, name: str, arr: np.ndarray) -> None:
        i, b = self.fill[name], arr.shape[0]
        buf = self.buffers.get(name)
        if buf is not None and i + b > buf.shape[0]:  # the data set held more inputs than it said
            self.chunks.setdefault(name, []).append(buf[:i])
            del self.buffers[name]
            buf = None
        if buf is not None:
            buf[i : i + b] = arr
        else:
            n_after = i + b  # not max(fill): the layers appended before already hold this batch
            # the chunks plus their concatenation at the end: twice the final size at the peak
            self._check(2 * n_after, f"the activations of {n_after} or more inputs (an unknown "
                                     "number; concatenated at the end, so counted twice) in memory")
            self.chunks.setdefault(name, []).append(arr)
        self.fill[name] = i + b

    def finish(self, n_inputs: int, shapes: dict[str, tuple[int, ...]], reduce: str,
               labels: np.ndarray | None, predictions: np.ndarray | None) -> Activations:
        arrays = {}
        for name in list(self.fill):
            buf = self.buffers.pop(name, None)
            parts = self.chunks.pop(name, [])
            if buf is not None and not parts:
                arrays[name] = buf if buf.shape[0] == n_inputs else buf[:n_inputs]
            else:
                arrays[name] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        return Activations._from_parts(arrays, labels=labels, shapes=shapes, reduce=reduce,
                                       directory=None, predictions=predictions)

    def abort(self) -> None:
        self.buffers, self.chunks = {}, {}


class _StoreSink:
    """Appends each batch's rows to one raw float32 file per layer."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = _as_directory(directory, "store")
        _check_store_dir(self.directory)  # before anything is written: never touch foreign files
        self.files: dict[str, str] = {}
        self.handles: dict[str, Any] = {}
        self.n_neurons: dict[str, int] = {}

    def _partial(self, name: str) -> Path:
        return self.directory / f".{self.files[name]}.partial"

    def start(self, names: list[str], n_neurons: dict[str, int], total: int | None) -> None:
        for i, name in enumerate(names):
            self.files[name] = _safe_filename(i, name)
            self.n_neurons[name] = int(n_neurons[name])
            self.handles[name] = open(self._partial(name), "wb")  # closed in finish/abort

    def append(self, name: str, arr: np.ndarray) -> None:
        self.handles[name].write(np.ascontiguousarray(arr, dtype=_DISK_DTYPE).data)

    def _close(self) -> None:
        for fh in self.handles.values():
            with contextlib.suppress(OSError):
                fh.close()

    def finish(self, n_inputs: int, shapes: dict[str, tuple[int, ...]], reduce: str,
               labels: np.ndarray | None, predictions: np.ndarray | None) -> Activations:
        for fh in self.handles.values():
            fh.flush()
            os.fsync(fh.fileno())
        self._close()
        old = _old_store_files(self.directory)  # the old store is invalid from here on
        try:
            for name, fname in self.files.items():
                os.replace(self._partial(name), self.directory / fname)
            _finish_store(self.directory, old, list(self.files), self.files, shapes, self.n_neurons,
                          n_inputs, reduce, labels, predictions)
        except BaseException:
            _discard(self.directory, old | _written_files(self.files, labels, predictions))
            raise
        return Activations.load(self.directory)

    def abort(self) -> None:
        self._close()
        for name in self.files:
            with contextlib.suppress(OSError):
                self._partial(name).unlink()
