""":func:`record_activations`: run a model over data with forward hooks on chosen layers."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import check_choice, check_int
from ..exceptions import InvalidInputError, MemoryBudgetError, TopolensError, TopolensWarning
from ._container import Activations
from ._inputs import (
    _apply_transform,
    _input_to_tensor,
    _is_arraylike,
    _iter_batches,
    _labels_to_numpy,
    _resolve_device,
    _warn_unscaled_uint8,
)
from ._layers import LayerSpec, _select_layers
from ._recorder import _Recorder, _verify_batch_axis
from ._sinks import _MemorySink, _StoreSink
from ._store import _REDUCE_CHOICES

logger = logging.getLogger("topolens.activations")

_OOM = (MemoryError, getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError))


class _Predictions:
    """A forward hook on the model itself: the argmax of a ``(batch, n_classes > 1)`` output."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.ok = True
        self.active = True
        self.size = 0

    def hook(self, module: nn.Module, args: Any, output: Any) -> None:
        if not self.active or not self.ok:
            return
        t = output
        if not (isinstance(t, torch.Tensor) and t.ndim == 2 and t.shape[0] == self.size
                and t.shape[1] > 1 and not t.is_complex()):
            self.ok = False
            return
        self.parts.append(t.detach().argmax(dim=1).to(device="cpu", dtype=torch.int64).numpy())

    def result(self, n: int) -> np.ndarray | None:
        if not self.ok or not self.parts:
            return None
        out = np.concatenate(self.parts)
        return out if out.shape[0] == n else None


class _Run:
    """State of one recording: hooks, sink, labels and the checks done on the first batch."""

    def __init__(self, model: nn.Module, names: list[str], *, explicit: bool, reduce: str,
                 check_finite: bool, sink: _MemorySink | _StoreSink, total: int | None,
                 transform: Callable[[torch.Tensor], Any] | None) -> None:
        self.model, self.names, self.explicit, self.reduce = model, names, explicit, reduce
        self.recorder = _Recorder(model, names, reduce, check_finite, skip_reused=not explicit)
        self.preds = _Predictions()
        self.sink, self.total, self.transform = sink, total, transform
        self.handles: dict[str, Any] = {}
        self.labels: list[np.ndarray] = []
        self.has_labels: bool | None = None
        self.n = 0
        self.warned_uint8 = False

    # ------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, index: int) -> None:
        """``model(x)`` with foreign errors turned into a message naming the batch."""
        try:
            self.model(x)
        except TopolensError:
            raise
        except _OOM as exc:
            raise MemoryBudgetError(
                f"the forward pass of batch {index} ({tuple(x.shape)}, {x.dtype}, on {x.device}) ran "
                f"out of memory ({type(exc).__name__}). Pass a smaller batch_size."
            ) from exc
        except Exception as exc:
            raise InvalidInputError(
                f"the model raised {type(exc).__name__} on batch {index} (inputs of shape "
                f"{tuple(x.shape)}, {x.dtype}, on {x.device}): {exc}. Check that the data has the "
                "shape, dtype and scaling the model expects (transform= can adapt it)."
            ) from exc

    def _probe_forward(self, x: torch.Tensor) -> None:
        self.preds.active = False
        try:
            self.forward(x, 0)
        finally:
            self.preds.active = True

    # ------------------------------------------------------------ first batch
    def _drop(self, gone: list[str]) -> None:
        for k in gone:
            self.handles.pop(k).remove()
        self.names = [k for k in self.names if k not in gone]

    def first_batch(self, got: dict[str, np.ndarray], xt: torch.Tensor) -> None:
        """Drop reused/unused default layers, verify batch axes, and start the sink."""
        rec = self.recorder
        if rec.reused:
            reused = [k for k in self.names if k in rec.reused]
            logger.warning(
                "layer(s) %s ran more than once per forward pass (reused modules, e.g. one shared "
                "ReLU), so their activations are ambiguous; leaving them out. Select layers "
                "explicitly to see the other layers' names.", reused)
            warnings.warn(
                f"default layer selection leaves out {reused}: these modules ran more than once "
                "per forward pass (e.g. a ReLU shared by two places).", TopolensWarning, stacklevel=5)
            self._drop(reused)
            if not self.names:
                raise InvalidInputError(
                    f"every layer of the default selection ({len(reused)}: {reused[:10]}) ran more "
                    "than once per forward pass, so none has unambiguous activations. Name the "
                    "layers to record (layers=[...]; see topolens.activations.list_layers(model)), "
                    "or give each call in forward its own module."
                )
        missing = [k for k in self.names if k not in got]
        if missing and self.explicit:
            raise InvalidInputError(
                f"layer(s) {missing} never ran during the forward pass of the first batch, so "
                "they have no activations. Leave them out of layers."
            )
        if missing:
            logger.warning("layer(s) %s never ran in the forward pass; leaving them out", missing)
            self._drop(missing)
            if not self.names:
                raise InvalidInputError(
                    "none of the model's layers ran during the forward pass; nothing to record. "
                    "Check the model's forward method."
                )
        _verify_batch_axis(rec, self.names, self._probe_forward, xt)
        self.sink.start(self.names, {k: got[k].shape[1] for k in self.names}, self.total)

    # ------------------------------------------------------------ loop
    def _labels(self, y: Any, b: int, index: int) -> None:
        if self.has_labels is None:
            self.has_labels = y is not None
        elif self.has_labels != (y is not None):
            raise InvalidInputError(
                f"batch {index} {'has' if y is not None else 'has no'} labels but the first batch "
                f"{'had none' if y is not None else 'had some'}; labels are kept only when every "
                "batch has them. Give every batch (inputs, labels), or none of them."
            )
        if y is not None:
            self.labels.append(_labels_to_numpy(y, b, f"batch {index}"))

    def batches(self, batches: Iterator[tuple[Any, Any]], target: torch.device,
                dtype: torch.dtype | None, max_inputs: int | None) -> Iterator[tuple[int, torch.Tensor, int]]:
        """(index, model-ready inputs, batch size) of every non-empty batch, labels collected."""
        for index, (x, y) in enumerate(batches):
            if not _is_arraylike(x):
                x = _input_to_tensor(x, index, target, dtype)  # raises a clear error
            b = int(x.shape[0]) if x.ndim > 0 else 0
            if max_inputs is not None and self.n + b > max_inputs:
                b = max_inputs - self.n
                x = x[:b]
                y = None if y is None else y[:b]
            if b == 0:
                continue
            self._labels(y, b, index)
            if self.transform is None and not self.warned_uint8 and dtype is not None:
                self.warned_uint8 = _warn_unscaled_uint8(x, index)
            xt = _apply_transform(self.transform, _input_to_tensor(x, index, target, dtype), index,
                                  target, dtype)
            yield index, xt, b
            if max_inputs is not None and self.n >= max_inputs:
                return

    def record(self, batches: Iterator[tuple[int, torch.Tensor, int]], bar: Any) -> Activations:
        rec = self.recorder
        for name in self.names:
            self.handles[name] = self.modules[name].register_forward_hook(rec.hook(name))
        self.handles[" predictions"] = self.model.register_forward_hook(self.preds.hook)
        for index, xt, b in batches:
            rec.batch, rec.offset, rec.size = index, self.n, b
            self.preds.size = b
            rec.current = {}
            self.forward(xt, index)
            got = rec.current
            if self.n == 0:
                self.first_batch(got, xt)
            else:
                missing = [k for k in self.names if k not in got]
                if missing:
                    raise InvalidInputError(
                        f"layer(s) {missing} ran in the first batch but not in batch {index}; the "
                        "forward pass depends on the data, so rows would not line up. Leave these "
                        "layers out."
                    )
            for k in self.names:
                self.sink.append(k, got[k])
            rec.current = {}
            self.n += b
            bar.update(b)
        if self.n == 0:
            raise InvalidInputError(
                "data yielded no inputs, so there is nothing to record. Pass a non-empty data set."
            )
        label_arr = np.concatenate(self.labels, axis=0) if self.has_labels else None  # a copy
        shapes = {k: rec.shapes[k] for k in self.names}
        return self.sink.finish(self.n, shapes, self.reduce, label_arr, self.preds.result(self.n))

    @property
    def modules(self) -> dict[str, nn.Module]:
        return self.recorder.modules

    def close(self) -> None:
        for h in self.handles.values():
            h.remove()
        self.handles = {}
        self.recorder.current = {}


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
    transform: Callable[[torch.Tensor], Any] | None = None,
    memory_limit: int | str | None = "auto",
) -> Activations:
    """Run ``model`` over ``data`` and record the outputs of the chosen layers.

    The model runs in eval mode under :func:`torch.no_grad`; afterwards the training
    flag of every module is restored and the hooks are removed, also when the forward
    pass raises.

    Parameters
    ----------
    model : torch.nn.Module
        The network. It is not moved between devices. A model on the ``meta`` device
        (shapes without weights) is refused.
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
        collected when every batch has them. Floating-point inputs and ``uint8`` inputs
        (images) are cast to the dtype of the model's floating-point parameters (numpy's
        float64 to float32, say) with their values unchanged: uint8 pixels stay 0..255, and
        when no ``transform`` is given a :class:`~topolens.exceptions.TopolensWarning` says
        so once if they exceed 1. Other integer inputs (token ids) are passed unchanged.
        Complex inputs are refused.
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
        Inputs per forward pass when ``data`` is an array or a Dataset (at least 1).
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
        Directory to stream the activations to (created if missing; an earlier topolens
        store there is replaced once the run succeeds; a directory holding anything else
        is refused before the run, so no foreign file is ever overwritten or deleted). Each
        layer is appended batch by batch to a raw float32 file, so nothing is held in
        memory and the number of inputs need not be known; the result is memory-mapped
        read-only. Default: keep them in memory.
    max_inputs : int, optional
        Stop after this many inputs (at least 1; the last batch is truncated).
    check_finite : bool, default True
        Raise :class:`~topolens.exceptions.NonFiniteError` when a layer outputs NaN, inf,
        or finite values beyond float32's range (which would be stored as inf).
    progress : bool, default False
        Show a tqdm progress bar.
    transform : callable, optional
        Applied to each batch tensor after its conversion to the model's device and dtype
        and before the forward pass, e.g. :func:`topolens.activations.normalize` for a
        model trained on normalised inputs. It must return a real tensor with the same
        batch size; a floating-point result is cast to the model's dtype and moved to
        the input device, as the inputs are.
    memory_limit : int, "auto" or None, default "auto"
        Budget in bytes for in-memory activations (``"auto"``: 80% of the available
        memory). Their size, inputs x neurons x 4 bytes, is estimated from the first
        batch and the number of inputs (when known; else checked batch by batch) and a
        :class:`~topolens.exceptions.MemoryBudgetError` pointing to ``store=`` is raised
        before it is allocated. None: no check. Ignored with ``store``.

    Returns
    -------
    Activations
        Layer name -> float32 array ``(n_inputs, n_neurons)``, plus labels, shapes and
        ``predictions``: the argmax of the model's output per input when the model
        returns a ``(batch, n_classes > 1)`` tensor (None otherwise).

    Raises
    ------
    LayerNotFoundError
        If a name, pattern, type or predicate in ``layers`` matches no module; the message
        lists the available layers and close matches.
    InvalidInputError
        On bad arguments or data, a layer returning no tensor (or a PackedSequence or
        complex values), a chosen layer that never runs or runs several times per
        forward pass, a model or transform that raises on the data, a ``meta`` model, or a
        store directory holding files topolens did not write.
    ShapeError
        If a layer's output is empty (0 neurons), is not batch-first, or changes shape
        between batches.
    NonFiniteError
        If ``check_finite`` and a layer outputs NaN, inf or values that overflow float32;
        names the layer and the inputs.
    MemoryBudgetError
        If the in-memory activations would exceed ``memory_limit``.

    Notes
    -----
    A module returning a tuple or list (e.g. ``nn.LSTM``, ``nn.MultiheadAttention``) is
    recorded through its first tensor element. Sequence-first modules (``nn.LSTM``,
    ``nn.GRU``, ``nn.RNN``, ``nn.MultiheadAttention``, transformer layers with
    ``batch_first=False``) have their batch axis 1 moved to the front. When another axis
    of a layer's output has the batch's length, the batch axis is verified with one
    extra forward pass on a batch of another size (no hooks record it), so a
    sequence-first output whose sequence length equals the batch size is refused rather
    than recorded per time step. A chosen module that does not run in the first batch
    is an error, except under the default ``layers=None`` where it is dropped with a
    logged warning.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> acts = record_activations(model, torch.randn(10, 4), layers=["0", "2"])
    >>> acts["0"].shape, acts.concat().shape, acts.predictions.shape
    ((10, 8), (10, 10), (10,))
    """
    if not isinstance(model, nn.Module):
        raise InvalidInputError(
            f"model must be a torch.nn.Module, found {type(model).__name__}. Pass the network itself."
        )
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    max_inputs = check_int(max_inputs, "max_inputs", minimum=1, allow_none=True)
    reduce = check_choice(reduce, "reduce", _REDUCE_CHOICES)
    if transform is not None and not callable(transform):
        raise InvalidInputError(
            f"transform must be a callable tensor -> tensor, found {type(transform).__name__}; "
            "e.g. topolens.activations.normalize(mean, std)."
        )
    names = _select_layers(model, layers)
    target, model_dtype = _resolve_device(model, device)
    if store is None:
        from ..homology.memory import memory_budget

        memory_budget(memory_limit)  # validate it before the run
    batches, total = _iter_batches(data, batch_size)
    if max_inputs is not None:
        total = max_inputs if total is None else min(total, max_inputs)
    logger.debug("recording %d layer(s) of %s on %s: %s", len(names), type(model).__name__, target, names)
    sink: _MemorySink | _StoreSink = _MemorySink(memory_limit) if store is None else _StoreSink(store)
    run = _Run(model, names, explicit=layers is not None, reduce=reduce, check_finite=check_finite,
               sink=sink, total=total, transform=transform)
    return _execute(run, run.batches(batches, target, model_dtype, max_inputs), total, progress)


def _execute(run: _Run, batches: Iterator[tuple[int, torch.Tensor, int]], total: int | None,
             progress: bool) -> Activations:
    """Record in eval mode without gradients; restore modes and remove hooks whatever happens."""
    from tqdm.auto import tqdm

    modes = {m: m.training for m in run.model.modules()}
    bar = tqdm(total=total, unit="input", desc="recording activations", disable=not progress, leave=False)
    try:
        run.model.eval()
        with torch.no_grad():
            result = run.record(batches, bar)
    except BaseException:
        run.sink.abort()
        raise
    finally:
        run.close()
        for m, mode in modes.items():
            m.training = mode
        bar.close()
    logger.info("recorded %d input(s) from %d layer(s) (%d neurons)%s", run.n, len(run.names),
                sum(a.shape[1] for a in result.values()),
                f" into {result.directory}" if result.directory else "")
    return result
