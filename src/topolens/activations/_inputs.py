"""Input side of recording: batches from any data source, conversion to the model's
device and dtype, and input transforms such as :func:`normalize`."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import _to_numpy
from ..exceptions import InvalidInputError, ShapeError, TopolensWarning

__all__ = ["Normalize", "normalize"]

_INPUT_KEYS = ("input", "inputs", "x")
_LABEL_KEYS = ("label", "labels", "y", "target", "targets")


# --------------------------------------------------------------------------- batches
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


# --------------------------------------------------------------------------- conversion
def _input_to_tensor(x: Any, index: int, device: torch.device, dtype: torch.dtype | None) -> torch.Tensor:
    """One batch of inputs as a tensor on ``device``.

    Floating-point inputs and ``uint8`` inputs (images) are cast to the model's floating
    dtype ``dtype``, values unchanged; other integer dtypes (token ids) are kept.
    """
    if isinstance(x, np.ndarray):
        if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise InvalidInputError(
                f"inputs of batch {index} are a numpy array of dtype {x.dtype}; expected numbers. "
                "Convert them to a numeric array first (e.g. x.astype(np.float32))."
            )
        if np.iscomplexobj(x):
            raise InvalidInputError(_complex_message(f"inputs of batch {index}", x.dtype))
        if not x.dtype.isnative:  # e.g. big-endian '>f4' read from a file: torch refuses those
            x = x.astype(x.dtype.newbyteorder("="))
        if np.issubdtype(x.dtype, np.floating) and x.dtype.itemsize > 8:  # longdouble: no torch dtype
            x = x.astype(np.float64)
        x = torch.from_numpy(np.array(x, copy=True) if not x.flags.writeable else np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise InvalidInputError(
            f"inputs of batch {index} are a {type(x).__name__}; expected a tensor or numpy array. "
            "A model with several inputs must be wrapped in a module that takes one tensor."
        )
    if x.ndim == 0:
        raise ShapeError(f"inputs of batch {index} are a 0-d tensor; expected shape (batch, ...).")
    _check_real_data(x, f"inputs of batch {index}", "Pass real data (e.g. load it onto the CPU).")
    if dtype is not None and x.dtype != dtype and (x.is_floating_point() or x.dtype == torch.uint8):
        x = x.to(dtype)
    return x.to(device)


def _check_real_data(t: torch.Tensor, what: str, fix: str) -> None:
    """Refuse complex tensors and tensors on the 'meta' device (shapes without values)."""
    if t.is_complex():
        raise InvalidInputError(_complex_message(what, t.dtype))
    if t.device.type == "meta":
        raise InvalidInputError(f"{what} are on the 'meta' device, which holds shapes but no values. {fix}")


def _complex_message(what: str, dtype: Any) -> str:
    return (
        f"{what} are complex ({dtype}); topolens records and analyses real values and will not "
        "drop the imaginary part. Pass the real part (x.real), the magnitude (x.abs()), or both "
        "stacked as real features (torch.view_as_real(x))."
    )


def _model_device_dtype(model: nn.Module) -> tuple[torch.device | None, torch.dtype | None]:
    """Device of the first parameter/buffer and dtype of the first floating one."""
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


_META_HINT = (
    "A model created under torch.device('meta') (or with init_empty_weights) has shapes but no "
    "weights: materialise it first, e.g. model = model.to_empty(device='cpu') and then "
    "model.load_state_dict(torch.load(path, weights_only=True))."
)


def _resolve_device(model: nn.Module, device: Any) -> tuple[torch.device, torch.dtype | None]:
    """The device inputs are sent to, and the model's floating dtype (None if it has none)."""
    model_device, model_dtype = _model_device_dtype(model)
    if model_device is not None and model_device.type == "meta":
        raise InvalidInputError(f"the model's parameters are on the 'meta' device. {_META_HINT}")
    if device is None:
        return (model_device if model_device is not None else torch.device("cpu")), model_dtype
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(f"device={device!r} is not a torch device: {exc}") from exc
    if target.type == "meta":
        raise InvalidInputError(f"device='meta' holds no data, so nothing can be recorded. {_META_HINT}")
    if model_device is not None and model_device.type != target.type:
        raise InvalidInputError(
            f"the model's parameters are on {model_device} but device={str(target)!r}. Move "
            f"the model first (model.to({str(target)!r})) or leave device=None."
        )
    return target, model_dtype


def _warn_unscaled_uint8(x: Any, index: int) -> bool:
    """Warn that uint8 inputs with values above 1 reach the model unscaled.

    Returns True when no further batch needs checking (warned, or the inputs are not uint8).
    """
    is_u8 = (isinstance(x, np.ndarray) and x.dtype == np.uint8) or \
        (isinstance(x, torch.Tensor) and x.dtype == torch.uint8)
    if not is_u8:
        return True
    top = int(x.max()) if (x.size if isinstance(x, np.ndarray) else x.numel()) else 0
    if top <= 1:
        return False
    warnings.warn(
        f"the inputs are uint8 (batch {index} has values up to {top}) and were cast to the "
        "model's floating dtype unchanged, not scaled to [0, 1]. If the model was trained on "
        "scaled or normalised inputs, pass transform= (e.g. lambda x: x / 255, or "
        "topolens.activations.normalize(mean, std) with statistics in 0..255), or scale the data.",
        TopolensWarning,
        stacklevel=6,
    )
    return True


# --------------------------------------------------------------------------- transforms
def _as_stat(values: Any, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"normalize: {name} must be a number or a sequence of numbers (one per channel), "
            f"found {values!r}."
        ) from exc
    if arr.ndim > 1 or arr.size == 0:
        raise ShapeError(
            f"normalize: {name} must be a number or a 1-D sequence with one value per channel, "
            f"found shape {arr.shape}."
        )
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"normalize: {name} must be finite, found {arr.tolist()}.")
    return arr.reshape(-1)


class Normalize:
    """Per-channel ``(x - mean) / std``; made by :func:`normalize`.

    Attributes
    ----------
    mean, std : tuple of float
        One value per channel, or one value for every element.
    """

    def __init__(self, mean: Any, std: Any) -> None:
        m, s = _as_stat(mean, "mean"), _as_stat(std, "std")
        if m.size != s.size and 1 not in (m.size, s.size):
            raise ShapeError(
                f"normalize: mean has {m.size} value(s) but std has {s.size}; give one value per "
                "channel for both (or a single number for either)."
            )
        if (s <= 0).any():
            raise InvalidInputError(
                f"normalize: std must be > 0 for every channel, found {s.tolist()}; a zero or "
                "negative standard deviation cannot scale the inputs."
            )
        c = max(m.size, s.size)
        self.mean = tuple(float(v) for v in np.broadcast_to(m, (c,)))
        self.std = tuple(float(v) for v in np.broadcast_to(s, (c,)))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise InvalidInputError(
                f"normalize expects a torch.Tensor, found {type(x).__name__}; convert it first "
                "(torch.as_tensor(x)), or pass the transform to record_activations(transform=...), "
                "which calls it on each batch tensor."
            )
        if not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        c = len(self.mean)
        if c == 1:
            return (x - self.mean[0]) / self.std[0]
        if x.ndim < 2 or x.shape[1] != c:
            raise ShapeError(
                f"normalize has {c} per-channel values but the inputs have shape "
                f"{tuple(x.shape)}: axis 1 (channels, as in NCHW) has "
                f"{x.shape[1] if x.ndim >= 2 else 'no'} entries. Give {x.shape[1] if x.ndim >= 2 else 1} "
                "value(s), or a single mean and std for every element."
            )
        shape = (1, c) + (1,) * (x.ndim - 2)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).reshape(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).reshape(shape)
        return (x - mean) / std

    def __repr__(self) -> str:
        return f"normalize(mean={list(self.mean)}, std={list(self.std)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Normalize) and (self.mean, self.std) == (other.mean, other.std)

    __hash__ = None  # type: ignore[assignment]


def normalize(mean: float | Sequence[float], std: float | Sequence[float]) -> Normalize:
    """An input transform ``(x - mean) / std`` for ``record_activations(transform=...)``.

    Parameters
    ----------
    mean, std : float or sequence of float
        A single value for every element, or one value per channel; the channels are
        axis 1 of a batch (``(N, C, H, W)`` images, ``(N, C)`` features). ``std`` must be
        positive. The values are in the units of the tensor the model receives (inputs
        cast to the model's dtype, not rescaled: for uint8 images in 0..255, either scale
        them first or give the statistics in 0..255).

    Returns
    -------
    Normalize
        A callable ``tensor -> tensor`` (picklable, with a readable ``repr``).

    Raises
    ------
    InvalidInputError
        If a value is not finite, ``std <= 0``, or the lengths differ; when called, if
        the inputs do not have ``len(mean)`` channels on axis 1 (:class:`ShapeError`).

    Examples
    --------
    >>> import torch
    >>> t = normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])
    >>> t(torch.full((2, 3, 4, 4), 0.75)).unique().tolist()
    [1.0]
    """
    return Normalize(mean, std)


def _apply_transform(transform: Callable[[torch.Tensor], Any] | None, x: torch.Tensor,
                     index: int, device: torch.device, dtype: torch.dtype | None) -> torch.Tensor:
    """``transform(x)``, checked: a real tensor with the same number of inputs.

    Like the inputs, a floating-point result is cast to the model's floating ``dtype``
    (a transform computing in float64, e.g. with numpy statistics, would otherwise make
    the model fail on a dtype mismatch) and the result is moved to ``device``.
    """
    if transform is None:
        return x
    try:
        out = transform(x)
    except InvalidInputError:
        raise
    except Exception as exc:
        raise InvalidInputError(
            f"transform {getattr(transform, '__name__', transform)!r} raised "
            f"{type(exc).__name__} on batch {index} (inputs of shape {tuple(x.shape)}, "
            f"{x.dtype}, on {x.device}): {exc}. It receives the batch tensor after conversion "
            "to the model's device and dtype and must return a tensor of the same batch size."
        ) from exc
    if not isinstance(out, torch.Tensor):
        raise InvalidInputError(
            f"transform returned a {type(out).__name__} for batch {index}; it must return a "
            "torch.Tensor (the batch the model receives)."
        )
    if out.ndim == 0 or out.shape[0] != x.shape[0]:
        raise ShapeError(
            f"transform turned batch {index} of shape {tuple(x.shape)} into shape "
            f"{tuple(out.shape)}; it must keep the batch axis first with {x.shape[0]} input(s)."
        )
    _check_real_data(out, f"the transform's outputs for batch {index}",
                     "The transform must return real data (compute on the tensor it receives).")
    if dtype is not None and out.is_floating_point() and out.dtype != dtype:
        out = out.to(dtype)
    return out if out.device == device else out.to(device)
