"""Keras ``Sequential`` configs and HDF5 weight files as :class:`torch.nn.Sequential` (no TensorFlow).

PGDL (NeurIPS 2020 "Predicting Generalization in Deep Learning") publishes its models as a
``config.json`` and Keras ``save_weights`` HDF5 files. :func:`keras_sequential` builds the
equivalent torch network from the config, :func:`load_keras_weights` copies the weights in, and
:func:`keras_model` does both.

Config format
-------------
``model_config`` is a list of layers. Each layer is either PGDL's flat form
``{"layer_name": "Conv2D", "filters": 8, "kernel_size": 3, ...}`` (the class name of a
``tf.keras.layers`` layer plus its constructor arguments; PGDL's own loader casts integral floats
such as ``3.0`` to ints, and so does this one) or Keras' own form
``{"class_name": "Conv2D", "config": {...}}``. A whole ``model.get_config()`` /
``model.to_json()`` dict of a ``Sequential`` model is accepted too. ``InputLayer`` entries are
skipped.

Layout
------
The torch model takes **NCHW** float32 input (Keras takes NHWC); ``input_shape`` is given the
Keras way, ``(H, W, C)`` or ``(features,)``. Every Keras layer is one child of the
``Sequential``, named like Keras names it (``conv2d``, ``conv2d_1``, ``dense`` ...), so its output
is the Keras layer's output; the activation inside a Conv2D/Dense layer and the asymmetric padding
of Keras' ``"same"`` are extra children named ``<layer>__act`` and ``<layer>__pad``.

Keras flattens channels-last. ``Flatten`` here is a plain :class:`torch.nn.Flatten` (NCHW order)
and the rows of the next ``Dense`` kernel (and the parameters of a ``BatchNormalization`` in
between) are reordered when the weights are loaded, so converted models are ordinary torch
networks whose flattened neurons are in torch's order. A ``Flatten`` that is not followed by a
``Dense`` layer permutes to NHWC before flattening instead, so the model's output equals Keras'.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._deps import require
from ..exceptions import (
    CorruptRecordError,
    DataNotFoundError,
    InvalidInputError,
    MemoryBudgetError,
    ShapeError,
)

__all__ = ["SUPPORTED_LAYERS", "keras_model", "keras_sequential", "load_keras_weights"]

MAX_PARAMETERS = 1 << 30  # refuse configs with more parameters than this before allocating

_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "gelu")
# arguments with no effect on inference (initialisers, regularisers, bookkeeping)
_IGNORED = {
    "name", "trainable", "dtype", "input_shape", "batch_input_shape", "batch_size", "input_dim",
    "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
    "activity_regularizer", "kernel_constraint", "bias_constraint", "beta_initializer",
    "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer",
    "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint", "seed",
    "noise_shape", "fused", "autocast",
}
_CONV = ("filters", "kernel_size", "strides", "padding", "activation", "use_bias", "data_format",
         "dilation_rate", "groups")
_POOL = ("pool_size", "strides", "padding", "data_format")
SUPPORTED_LAYERS: dict[str, tuple[str, ...]] = {
    "Conv2D": _CONV,
    "Dense": ("units", "activation", "use_bias"),
    "MaxPooling2D": _POOL, "MaxPool2D": _POOL,
    "AveragePooling2D": _POOL, "AvgPool2D": _POOL,
    "GlobalAveragePooling2D": ("data_format", "keepdims"),
    "GlobalMaxPooling2D": ("data_format", "keepdims"),
    "Flatten": ("data_format",),
    "Dropout": ("rate",),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "Activation": ("activation",),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "Softmax": ("axis",),
}
_ALIASES = {"MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D"}


def _snake(cls: str) -> str:
    """Keras' default layer name of a class: ``MaxPooling2D`` -> ``max_pooling2d``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", cls)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def _int(value: Any, what: str, minimum: int = 1) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInputError(f"{what} must be an integer >= {minimum}; found {value!r}.")
    return int(value)


def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise InvalidInputError(f"{what} must be an integer or a pair of integers; found {value!r}.")
        return _int(value[0], what), _int(value[1], what)
    v = _int(value, what)
    return v, v


def _normalise_layer(entry: Any, index: int) -> tuple[str, dict[str, Any]]:
    """``(class name, arguments)`` of one config entry in either accepted form."""
    if not isinstance(entry, Mapping):
        raise InvalidInputError(
            f"model_config[{index}] must be a dict such as {{'layer_name': 'Dense', 'units': 10}}; "
            f"found {type(entry).__name__}.")
    if "layer_name" in entry:
        args = {k: v for k, v in entry.items() if k != "layer_name"}
        cls = entry["layer_name"]
    elif "class_name" in entry:
        args = dict(entry.get("config") or {})
        cls = entry["class_name"]
    else:
        raise InvalidInputError(
            f"model_config[{index}] has neither 'layer_name' (PGDL) nor 'class_name' (Keras); "
            f"found keys {sorted(entry)}.")
    if not isinstance(cls, str):
        raise InvalidInputError(f"model_config[{index}]: the layer class must be a string; found {cls!r}.")
    return cls, args


def _layer_list(model_config: Any) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(model_config, Mapping):  # a Keras Sequential get_config()/to_json() dict
        inner = model_config.get("config", model_config)
        model_config = inner.get("layers") if isinstance(inner, Mapping) else None
        if model_config is None:
            raise InvalidInputError(
                "model_config is a dict without a 'layers' list; expected PGDL's list of layers "
                "or a Keras Sequential config.")
    if isinstance(model_config, (str, bytes)) or not isinstance(model_config, Sequence):
        raise InvalidInputError(
            f"model_config must be a list of layer dicts; found {type(model_config).__name__}.")
    layers = [_normalise_layer(e, i) for i, e in enumerate(model_config)]
    return [(c, a) for c, a in layers if c != "InputLayer"] or _empty()


def _empty() -> list:
    raise InvalidInputError("model_config has no layers; expected at least one Keras layer.")


def _check_args(cls: str, args: Mapping[str, Any], where: str) -> None:
    if cls not in SUPPORTED_LAYERS:
        raise InvalidInputError(
            f"{where}: unsupported Keras layer {cls!r}. Supported layers: "
            f"{', '.join(SUPPORTED_LAYERS)}.")
    allowed = SUPPORTED_LAYERS[cls]
    unknown = [k for k in args if k not in allowed and k not in _IGNORED]
    if unknown:
        raise InvalidInputError(
            f"{where}: unsupported argument(s) {unknown} of {cls}. Supported: {', '.join(allowed)} "
            "(initialisers, regularisers and constraints are ignored).")
    if args.get("data_format", "channels_last") not in ("channels_last", None):
        raise InvalidInputError(
            f"{where}: data_format {args['data_format']!r} is not supported; only 'channels_last' "
            "(Keras' default, the layout of PGDL's models).")


def _activation(name: Any, where: str, softmax_dim: int = 1) -> nn.Module | None:
    if name is None or name == "linear":
        return None
    table = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "elu": nn.ELU,
             "selu": nn.SELU, "softplus": nn.Softplus, "gelu": nn.GELU}
    if name == "softmax":
        return nn.Softmax(dim=softmax_dim)
    if name not in table:
        raise InvalidInputError(
            f"{where}: unsupported activation {name!r}; supported: {', '.join(_ACTIVATIONS)}.")
    return table[name]()


def _same_pads(size: int, k: int, s: int) -> tuple[int, int, int]:
    """Keras/TensorFlow 'same': output ceil(size/s); the odd pixel of padding goes bottom/right."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def _window(shape: tuple[int, ...], k: tuple[int, int], s: tuple[int, int], padding: Any,
            where: str) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """Output (H, W) and pads (left, right, top, bottom) of a sliding window on (C, H, W)."""
    padding = padding if padding is not None else "valid"
    if padding not in ("same", "valid"):
        raise InvalidInputError(f"{where}: padding must be 'same' or 'valid'; found {padding!r}.")
    h, w = shape[1], shape[2]
    if padding == "same":
        ho, t, b = _same_pads(h, k[0], s[0])
        wo, left, right = _same_pads(w, k[1], s[1])
        return (ho, wo), (left, right, t, b)
    ho, wo = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    if h < k[0] or w < k[1]:
        raise ShapeError(
            f"{where}: a {k[0]}x{k[1]} window with padding 'valid' does not fit the input of "
            f"size {h}x{w} (NCHW shape {shape}); use padding 'same' or a larger input.")
    return (ho, wo), (0, 0, 0, 0)


def _need_image(shape: tuple[int, ...], cls: str, where: str) -> None:
    if len(shape) != 3:
        raise ShapeError(
            f"{where}: {cls} needs an image input (H, W, C); found a flat input of {shape[0]} "
            "features. Check the layer order or input_shape.")


class KerasAvgPool2d(nn.Module):
    """Keras average pooling: with 'same' the padded cells are left out of each mean."""

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int],
                 pads: tuple[int, int, int, int], hw: tuple[int, int]) -> None:
        super().__init__()
        self.kernel, self.stride, self.pads = kernel, stride, pads
        ones = F.pad(torch.ones(1, 1, *hw), pads)
        self.register_buffer("count", F.avg_pool2d(ones, kernel, stride), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(x, self.pads), self.kernel, self.stride) / self.count


class ChannelsLastFlatten(nn.Module):
    """Flatten NCHW input in Keras' NHWC order (used when no Dense layer follows the Flatten)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).flatten(1) if x.dim() == 4 else x.flatten(1)


class _Builder:
    """Turns the Keras layers into named torch modules while tracking the NCHW shape."""

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        self.shape = input_shape
        self.modules: dict[str, nn.Module] = {}
        self.weighted: list[tuple[str, str, nn.Module]] = []  # (torch name, Keras class, module)
        self.counts: dict[str, int] = {}
        self.perm: np.ndarray | None = None  # pending NHWC->NCHW reorder after a Flatten
        self.n_params = 0

    def name(self, cls: str, args: Mapping[str, Any]) -> str:
        base = _snake(_ALIASES.get(cls, cls))
        n = self.counts.get(base, 0)
        self.counts[base] = n + 1
        name = args.get("name") if isinstance(args.get("name"), str) else None
        name = re.sub(r"\W", "_", name) if name else (base if n == 0 else f"{base}_{n}")
        while name in self.modules:
            name += "_"
        return name

    def add(self, name: str, module: nn.Module | None) -> None:
        if module is not None:
            self.modules[name] = module

    def count(self, n: int, where: str) -> None:
        self.n_params += n
        if self.n_params > MAX_PARAMETERS:
            raise MemoryBudgetError(
                f"{where}: the model would have more than {MAX_PARAMETERS:,} parameters "
                f"({self.n_params:,} so far); refusing to allocate it. Check the config.")

    def conv(self, name: str, a: Mapping[str, Any], where: str) -> None:
        _need_image(self.shape, "Conv2D", where)
        filters = _int(a.get("filters"), f"{where}: filters")
        k = _pair(a.get("kernel_size"), f"{where}: kernel_size")
        s = _pair(a.get("strides", 1), f"{where}: strides")
        d = _pair(a.get("dilation_rate", 1), f"{where}: dilation_rate")
        if _int(a.get("groups", 1), f"{where}: groups") != 1:
            raise InvalidInputError(f"{where}: groups={a['groups']!r} is not supported; only 1.")
        if d != (1, 1) and s != (1, 1):
            raise InvalidInputError(f"{where}: Keras does not allow dilation_rate {d} with strides {s}.")
        keff = ((k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1)
        (ho, wo), pads = _window(self.shape, keff, s, a.get("padding", "valid"), where)
        bias = bool(a.get("use_bias", True))
        self.count(filters * self.shape[0] * k[0] * k[1] + filters * bias, where)
        act = _activation(a.get("activation"), where)
        if pads[0] == pads[1] and pads[2] == pads[3]:
            conv = nn.Conv2d(self.shape[0], filters, k, s, (pads[2], pads[0]), d, bias=bias)
        else:
            self.add(f"{name}__pad", nn.ZeroPad2d(pads))
            conv = nn.Conv2d(self.shape[0], filters, k, s, 0, d, bias=bias)
        self.add(name, conv)
        self.add(f"{name}__act", act)
        self.weighted.append((name, "Conv2D", conv))
        self.shape = (filters, ho, wo)

    def dense(self, name: str, a: Mapping[str, Any], where: str) -> None:
        if len(self.shape) != 1:
            raise ShapeError(
                f"{where}: Dense needs a flat input; found an image of NCHW shape {self.shape}. "
                "Insert a Flatten or GlobalAveragePooling2D layer before it.")
        units = _int(a.get("units"), f"{where}: units")
        bias = bool(a.get("use_bias", True))
        self.count(units * self.shape[0] + units * bias, where)
        lin = nn.Linear(self.shape[0], units, bias=bias)
        lin.keras_input_perm = self.perm  # type: ignore[attr-defined]
        self.perm = None
        self.add(name, lin)
        self.add(f"{name}__act", _activation(a.get("activation"), where))
        self.weighted.append((name, "Dense", lin))
        self.shape = (units,)

    def pool(self, name: str, cls: str, a: Mapping[str, Any], where: str) -> None:
        _need_image(self.shape, cls, where)
        k = _pair(a.get("pool_size", 2), f"{where}: pool_size")
        strides = a.get("strides")
        s = k if strides is None else _pair(strides, f"{where}: strides")
        (ho, wo), pads = _window(self.shape, k, s, a.get("padding", "valid"), where)
        if cls == "MaxPooling2D":
            if any(pads):  # Keras ignores the padded cells: pad with -inf
                self.add(f"{name}__pad", nn.ConstantPad2d(pads, float("-inf")))
            self.add(name, nn.MaxPool2d(k, s))
        elif any(pads):
            self.add(name, KerasAvgPool2d(k, s, pads, self.shape[1:]))
        else:
            self.add(name, nn.AvgPool2d(k, s))
        self.shape = (self.shape[0], ho, wo)

    def global_pool(self, name: str, cls: str, a: Mapping[str, Any], where: str) -> None:
        _need_image(self.shape, cls, where)
        keep = bool(a.get("keepdims", False))
        pool = nn.AdaptiveAvgPool2d(1) if cls == "GlobalAveragePooling2D" else nn.AdaptiveMaxPool2d(1)
        self.add(name, pool if keep else nn.Sequential(pool, nn.Flatten()))
        self.shape = (self.shape[0], 1, 1) if keep else (self.shape[0],)

    def batchnorm(self, name: str, a: Mapping[str, Any], where: str) -> None:
        axis = a.get("axis", -1)
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        if axis not in (-1, len(self.shape)):
            raise InvalidInputError(
                f"{where}: BatchNormalization axis {a.get('axis')!r} is not supported; only the "
                "channel axis (-1 or the last one), Keras' default.")
        eps = float(a.get("epsilon", 1e-3))
        momentum = float(a.get("momentum", 0.99))
        if not (eps > 0 and 0 <= momentum <= 1):
            raise InvalidInputError(f"{where}: need epsilon > 0 and 0 <= momentum <= 1; found {eps}, {momentum}.")
        cls = nn.BatchNorm2d if len(self.shape) == 3 else nn.BatchNorm1d
        bn = cls(self.shape[0], eps=eps, momentum=1.0 - momentum)
        bn.keras_center = bool(a.get("center", True))  # type: ignore[attr-defined]
        bn.keras_scale = bool(a.get("scale", True))  # type: ignore[attr-defined]
        bn.keras_input_perm = self.perm  # type: ignore[attr-defined]
        self.count(4 * self.shape[0], where)
        self.add(name, bn)
        self.weighted.append((name, "BatchNormalization", bn))

    def simple(self, name: str, cls: str, a: Mapping[str, Any], where: str, dense_follows: bool) -> None:
        if cls == "Flatten":
            if len(self.shape) == 3 and self.shape[1] * self.shape[2] > 1 and dense_follows:
                c, h, w = self.shape
                self.perm = np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).ravel()
                self.add(name, nn.Flatten())
            else:
                self.add(name, ChannelsLastFlatten())
            self.shape = (math.prod(self.shape),)
        elif cls == "Dropout":
            rate = float(a.get("rate", 0.0))
            if not 0 <= rate < 1:
                raise InvalidInputError(f"{where}: Dropout rate must be in [0, 1); found {rate}.")
            self.add(name, nn.Dropout(rate))
        elif cls == "Activation":
            self.add(name, _activation(a.get("activation"), where) or nn.Identity())
        elif cls == "Softmax":
            if a.get("axis", -1) not in (-1, len(self.shape)):
                raise InvalidInputError(f"{where}: Softmax axis {a['axis']!r} is not supported; only -1.")
            self.add(name, nn.Softmax(dim=1))
        else:
            self.add(name, _relu(a, where))


def _relu(a: Mapping[str, Any], where: str) -> nn.Module:
    """Keras ``ReLU(max_value, negative_slope, threshold)`` with threshold 0."""
    if float(a.get("threshold", 0.0) or 0.0) != 0.0:
        raise InvalidInputError(f"{where}: ReLU threshold {a['threshold']!r} is not supported; only 0.")
    slope = float(a.get("negative_slope", 0.0) or 0.0)
    top = a.get("max_value")
    if top is None:
        return nn.LeakyReLU(slope) if slope else nn.ReLU()
    if slope:
        raise InvalidInputError(f"{where}: ReLU with both max_value and negative_slope is not supported.")
    return nn.Hardtanh(0.0, float(top))


def _input_shape(input_shape: Any, layers: list[tuple[str, dict[str, Any]]]) -> tuple[int, ...]:
    """The NCHW (or flat) shape without batch axis from Keras' ``(H, W, C)`` / ``(F,)``."""
    if input_shape is None:
        first = layers[0][1]
        input_shape = first.get("batch_input_shape") or first.get("input_shape")
        if input_shape is None:
            raise InvalidInputError(
                "input_shape is missing: pass it (Keras' (H, W, C) or (features,)) or give the first "
                "layer a 'batch_input_shape'.")
    dims = list(input_shape) if isinstance(input_shape, (list, tuple)) else [input_shape]
    while len(dims) in (2, 4) and dims[0] in (None, 0, -1):
        dims = dims[1:]  # a batch axis
    if len(dims) not in (1, 3):
        raise ShapeError(
            f"input_shape must be (H, W, C) or (features,) in Keras' channels-last layout; found "
            f"{tuple(input_shape)}.")
    dims = [_int(d, "input_shape entries") for d in dims]
    return (dims[2], dims[0], dims[1]) if len(dims) == 3 else (dims[0],)


def _dense_follows(layers: list[tuple[str, dict[str, Any]]], i: int) -> bool:
    for cls, _ in layers[i + 1:]:
        if cls == "Dense":
            return True
        if cls not in ("Dropout", "Activation", "ReLU", "Softmax", "BatchNormalization"):
            return False
    return False


def keras_sequential(model_config: Any, input_shape: Any = None) -> nn.Sequential:
    """Build the :class:`torch.nn.Sequential` equivalent of a Keras Sequential config.

    Parameters
    ----------
    model_config : list of dict or dict
        PGDL's ``config["model_config"]``: layers ``{"layer_name": <Keras class>, **kwargs}``;
        Keras' ``{"class_name": ..., "config": {...}}`` entries and a whole Keras Sequential config
        are accepted too. Supported layers: :data:`SUPPORTED_LAYERS`.
    input_shape : sequence of int, optional
        Keras input shape without batch axis, ``(H, W, C)`` or ``(features,)`` (a leading
        ``None`` batch axis is dropped). Taken from the first layer's ``batch_input_shape`` when
        omitted.

    Returns
    -------
    torch.nn.Sequential
        In eval mode, with randomly initialised weights; it takes NCHW float32 input of the given
        size. Its attribute ``keras_layers`` lists ``(name, Keras class)`` of the layers with
        weights in order (what :func:`load_keras_weights` fills) and ``keras_input_shape`` the
        NCHW input shape.

    Raises
    ------
    InvalidInputError
        An unknown layer, argument or argument value (the message lists the supported ones).
    ShapeError
        A layer that does not fit its input (a window larger than the image, Dense on an image).
    MemoryBudgetError
        More than :data:`MAX_PARAMETERS` parameters.
    """
    layers = _layer_list(model_config)
    shape = _input_shape(input_shape, layers)
    b = _Builder(shape)
    for i, (cls, args) in enumerate(layers):
        where = f"model_config[{i}] ({cls})"
        _check_args(cls, args, where)
        cls = _ALIASES.get(cls, cls)
        name = b.name(cls, args)
        if cls == "Conv2D":
            b.conv(name, args, where)
        elif cls == "Dense":
            b.dense(name, args, where)
        elif cls in ("MaxPooling2D", "AveragePooling2D"):
            b.pool(name, cls, args, where)
        elif cls.startswith("Global"):
            b.global_pool(name, cls, args, where)
        elif cls == "BatchNormalization":
            b.batchnorm(name, args, where)
        else:
            b.simple(name, cls, args, where, _dense_follows(layers, i))
    model = nn.Sequential()
    for name, module in b.modules.items():
        model.add_module(name, module)
    model.keras_layers = [(n, c) for n, c, _ in b.weighted]  # type: ignore[attr-defined]
    model.keras_input_shape = shape  # type: ignore[attr-defined]
    return model.eval()


def _expected(cls: str, module: nn.Module) -> dict[str, tuple[int, ...]]:
    """Keras weight names (suffixes) and shapes of one torch layer."""
    if cls == "Conv2D":
        o, i, kh, kw = module.weight.shape
        out = {"kernel": (kh, kw, i, o)}
    elif cls == "Dense":
        o, i = module.weight.shape
        out = {"kernel": (i, o)}
    else:
        c = (module.num_features,)
        out = {}
        if module.keras_scale:
            out["gamma"] = c
        if module.keras_center:
            out["beta"] = c
        out.update(moving_mean=c, moving_variance=c)
        return out
    if module.bias is not None:
        out["bias"] = (o,)
    return out


def _weight_groups(f: Any, path: str) -> list[tuple[str, list[Any]]]:
    """``(layer name, [datasets])`` of the layers with weights, in the file's order."""
    root = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
    if "layer_names" not in root.attrs:
        raise CorruptRecordError(
            f"{path} is an HDF5 file but not a Keras weights file: the root has no 'layer_names' "
            "attribute. Expected a file written by Keras' model.save_weights(...'.h5').")
    out = []
    for raw in root.attrs["layer_names"]:
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        if name not in root:
            raise CorruptRecordError(f"{path}: layer {name!r} is listed in 'layer_names' but has no group.")
        group = root[name]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
        if not names:
            continue
        missing = [n for n in names if n not in group]
        if missing:
            raise CorruptRecordError(f"{path}: layer {name!r} lists weights {missing} that are missing.")
        out.append((name, [group[n] for n in names]))
    return out


def _suffix(weight_name: str) -> str:
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]


def _read_layer(path: str, lname: str, datasets: list[Any], cls: str, tname: str,
                module: nn.Module) -> dict[str, np.ndarray]:
    """Check names and shapes from the headers, then read the arrays of one layer."""
    expected = _expected(cls, module)
    found = {_suffix(ds.name): ds for ds in datasets}
    if set(found) != set(expected):  # positional fallback for unusual names
        if len(datasets) != len(expected):
            raise ShapeError(
                f"{path}: layer {lname!r} (for {cls} {tname!r}) has weights {list(found)}; expected "
                f"{list(expected)}. Does the config match the weights file?")
        found = dict(zip(expected, datasets, strict=True))
    arrays = {}
    for key, shape in expected.items():
        ds = found[key]
        if tuple(ds.shape) != shape:
            raise ShapeError(
                f"{path}: weight {ds.name!r} of layer {lname!r} (for {cls} {tname!r}) has shape "
                f"{tuple(ds.shape)}; expected {shape} (Keras layout). Does the config match the file?")
        if ds.dtype.kind != "f":
            raise CorruptRecordError(f"{path}: weight {ds.name!r} has dtype {ds.dtype}; expected floats.")
        try:
            arr = np.asarray(ds[()], dtype=np.float32)
        except OSError as exc:
            raise CorruptRecordError(f"{path}: could not read weight {ds.name!r} ({exc}); the file is damaged.") from exc
        if not np.isfinite(arr).all():
            raise CorruptRecordError(f"{path}: weight {ds.name!r} of layer {lname!r} has NaN or infinite values.")
        arrays[key] = arr
    return arrays


def _assign(cls: str, module: nn.Module, w: dict[str, np.ndarray]) -> None:
    perm = getattr(module, "keras_input_perm", None)
    with torch.no_grad():
        if cls == "Conv2D":
            module.weight.copy_(torch.from_numpy(w["kernel"].transpose(3, 2, 0, 1).copy()))
        elif cls == "Dense":
            kernel = w["kernel"] if perm is None else w["kernel"][perm]
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
        else:
            c = module.num_features
            full = {"gamma": np.ones(c, np.float32), "beta": np.zeros(c, np.float32), **w}
            full = {k: (v if perm is None else v[perm]) for k, v in full.items()}
            module.weight.copy_(torch.from_numpy(full["gamma"]))
            module.bias.copy_(torch.from_numpy(full["beta"]))
            module.running_mean.copy_(torch.from_numpy(full["moving_mean"]))
            module.running_var.copy_(torch.from_numpy(full["moving_variance"]))
        if cls != "BatchNormalization" and module.bias is not None:
            module.bias.copy_(torch.from_numpy(w["bias"]))


def load_keras_weights(model: nn.Sequential, path: str | os.PathLike) -> nn.Sequential:
    """Copy the weights of a Keras HDF5 weights file into a model from :func:`keras_sequential`.

    The file's layers with weights (root attribute ``layer_names``, each group's
    ``weight_names``; also the ``model_weights`` group of a full ``model.save`` file) are matched
    in order to the model's Conv2D, Dense and BatchNormalization layers. Conv kernels go from
    HWIO to OIHW, Dense kernels ``(in, out)`` to ``(out, in)`` (rows reordered after a Flatten),
    BatchNormalization takes gamma, beta and the moving mean and variance.

    Parameters
    ----------
    model : torch.nn.Sequential
        Built by :func:`keras_sequential`; changed in place.
    path : str or os.PathLike
        The ``.hdf5`` / ``.h5`` weights file.

    Returns
    -------
    torch.nn.Sequential
        ``model``, in eval mode.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    CorruptRecordError
        Not an HDF5 file, truncated, not Keras' layout, or non-finite weights.
    ShapeError
        A different number of layers with weights, or a weight of the wrong shape (the message
        names the layer, the shape found and the one expected).
    """
    h5py = require("h5py", extra="pgdl", purpose="reading Keras HDF5 weight files (PGDL models)")
    layers = getattr(model, "keras_layers", None)
    if not isinstance(model, nn.Sequential) or layers is None:
        raise InvalidInputError(
            f"model must come from topolens.zoo.keras_sequential; found {type(model).__name__} "
            "without the 'keras_layers' attribute.")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataNotFoundError(f"Keras weights file {path!r} does not exist.")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise CorruptRecordError(
            f"{path} could not be opened as HDF5 ({exc}); it is truncated or not a Keras .h5/.hdf5 file.") from exc
    with f:
        try:
            groups = _weight_groups(f, path)
        except (OSError, KeyError) as exc:
            raise CorruptRecordError(f"{path}: the HDF5 structure is damaged ({exc}).") from exc
        if len(groups) != len(layers):
            raise ShapeError(
                f"{path} has {len(groups)} layers with weights ({[g for g, _ in groups]}); the model "
                f"has {len(layers)} ({[n for n, _ in layers]}). Does the config match the weights file?")
        modules = dict(model.named_children())
        staged = [(cls, modules[tname], _read_layer(path, lname, ds, cls, tname, modules[tname]))
                  for (lname, ds), (tname, cls) in zip(groups, layers, strict=True)]
    for cls, module, arrays in staged:  # assign only once every layer checked out
        _assign(cls, module, arrays)
    return model.eval()


def keras_model(config: Any, weights_path: str | os.PathLike | None = None) -> nn.Sequential:
    """Build a PGDL model from its ``config.json`` (a path or the parsed dict) and load its weights.

    Parameters
    ----------
    config : dict or str or os.PathLike
        ``{"model_config": [...], "input_shape": [H, W, C]}`` or the path of that JSON file.
    weights_path : str or os.PathLike, optional
        Keras HDF5 weights (PGDL's ``weights.hdf5`` or ``weights_init.hdf5``); random weights
        when omitted.

    Returns
    -------
    torch.nn.Sequential
        In eval mode, taking NCHW float32 input.
    """
    if isinstance(config, (str, os.PathLike)):
        cpath = os.fspath(config)
        if not os.path.isfile(cpath):
            raise DataNotFoundError(f"model config {cpath!r} does not exist.")
        try:
            with open(cpath, encoding="utf-8") as fh:
                config = json.load(fh)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptRecordError(f"{cpath} is not a readable JSON file ({exc}).") from exc
    if not isinstance(config, Mapping) or "model_config" not in config:
        raise InvalidInputError(
            "config must be PGDL's config.json content, a dict with 'model_config' (and "
            f"'input_shape'); found {type(config).__name__}"
            f"{' with keys ' + str(sorted(config)) if isinstance(config, Mapping) else ''}.")
    model = keras_sequential(config["model_config"], config.get("input_shape"))
    return model if weights_path is None else load_keras_weights(model, weights_path)
