"""Learned convolution filters as a point cloud (Carlsson & Gabrielsson 2018).

:func:`extract_filters` reads the square kernels of a model's ``Conv2d`` layers (or of a state dict,
or of several models pooled) into a :class:`FilterSet`: **the filters are the points**, one row
of ``k * k`` pixel values per filter (pixel ``(i, j)`` of the kernel at index ``i * k + j``, row 0
at the top, as in :mod:`topolens.filters._basis`), with each point's provenance (model, layer,
output and input channel) kept alongside.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from .._validation import _nonfinite_report, check_choice
from ..exceptions import InvalidInputError, LayerNotFoundError, NonFiniteError, ShapeError
from ..homology.memory import check_memory
from ._basis import NORMALIZATIONS, normalize_filters

__all__ = ["MODES", "FilterSet", "extract_filters"]

logger = logging.getLogger(__name__)

#: the ``mode=`` choices of :func:`extract_filters`
MODES = ("slices", "channel_mean")
#: checkpoint keys under which training scripts save the state dict
_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")


@dataclass(frozen=True, eq=False)
class FilterSet:
    """Convolution filters as points, with their provenance (:func:`extract_filters`).

    Attributes
    ----------
    points : numpy.ndarray
        ``(n, k * k)`` float64, one filter per row (the points), normalised as ``normalize`` says.
    kernel_size : int
        ``k``.
    layer : numpy.ndarray
        ``(n,)`` str: the layer (module name, or state-dict key without ``.weight``) of each filter.
    out_channel, in_channel : numpy.ndarray
        ``(n,)`` int: the output and input channel of each filter (``in_channel`` is -1 in
        ``"channel_mean"`` mode).
    model : numpy.ndarray
        ``(n,)`` int: index of each filter's model into ``model_names``.
    model_names : list of str
    mode : {"slices", "channel_mean"}
    normalize : {"dnorm", "unit"} or None
    n_dropped : int
        Constant (zero-contrast) filters left out at extraction.
    raw : numpy.ndarray
        ``(n, k * k)`` float64: the filters' weights before normalisation.
    """

    points: np.ndarray
    kernel_size: int
    layer: np.ndarray
    out_channel: np.ndarray
    in_channel: np.ndarray
    model: np.ndarray
    model_names: list[str] = field(default_factory=list)
    mode: str = "slices"
    normalize: str | None = "dnorm"
    n_dropped: int = 0
    raw: np.ndarray | None = None

    def __post_init__(self) -> None:
        k = int(self.kernel_size)
        pts = np.asarray(self.points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != k * k:
            raise ShapeError(f"FilterSet points must be (n, {k * k}) for kernel_size={k}; found shape {pts.shape}.")
        n = len(pts)
        raw = pts.copy() if self.raw is None else np.asarray(self.raw, dtype=np.float64)
        arrays = {"layer": np.asarray(self.layer, dtype=str), "out_channel": np.asarray(self.out_channel, np.int64),
                  "in_channel": np.asarray(self.in_channel, np.int64), "model": np.asarray(self.model, np.int64),
                  "raw": raw}
        for name, arr in arrays.items():
            if arr.shape[0] != n or (name != "raw" and arr.ndim != 1) or (name == "raw" and arr.shape != pts.shape):
                raise ShapeError(f"FilterSet.{name} has shape {arr.shape}; expected {n} entries, one per "
                                 f"filter (points have shape {pts.shape}).")
        names = list(self.model_names)
        if n and (arrays["model"].min() < 0 or arrays["model"].max() >= len(names)):
            raise InvalidInputError(f"FilterSet.model indexes model_names ({len(names)} names) but holds values "
                                    f"from {arrays['model'].min()} to {arrays['model'].max()}.")
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "kernel_size", k)
        object.__setattr__(self, "model_names", [str(s) for s in names])
        for name, arr in arrays.items():
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return len(self.points)

    def __repr__(self) -> str:
        return (f"FilterSet({len(self)} filters {self.kernel_size}x{self.kernel_size}, mode={self.mode!r}, "
                f"normalize={self.normalize!r}, {len(self.model_names)} model(s), "
                f"{len(np.unique(self.layer))} layer(s), {self.n_dropped} dropped)")

    def images(self, *, raw: bool = False) -> np.ndarray:
        """The filters as ``(n, k, k)`` images (normalised; ``raw=True``: the weights)."""
        src = self.raw if raw else self.points
        return src.reshape(len(src), self.kernel_size, self.kernel_size).copy()

    def subset(self, indices: Any) -> FilterSet:
        """The filters at ``indices`` (int positions, or a boolean mask of length ``n``), in that order.

        ``model_names`` and ``n_dropped`` (a property of the extraction) are kept.
        """
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ShapeError(f"a boolean mask must have shape ({len(self)},); found {idx.shape}.")
            idx = np.flatnonzero(idx)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise InvalidInputError(f"indices must be a 1-D array of ints or a boolean mask; found dtype "
                                    f"{idx.dtype} and shape {idx.shape}.")
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise InvalidInputError(f"indices range from {idx.min()} to {idx.max()}, outside the "
                                    f"{len(self)} filters of the set.")
        idx = idx.astype(np.int64)
        return replace(self, points=self.points[idx], layer=self.layer[idx], out_channel=self.out_channel[idx],
                       in_channel=self.in_channel[idx], model=self.model[idx], raw=self.raw[idx])

    @classmethod
    def concat(cls, sets: Sequence[FilterSet]) -> FilterSet:
        """Pool several filter sets into one (same kernel size, mode and normalisation).

        Models are matched by name: filters of models with the same name get the same model index
        (so subsets of one set pool back together); extract different models with distinct ``names=``.
        ``n_dropped`` is the sum.

        Raises
        ------
        InvalidInputError
            Empty input, something that is not a FilterSet, or sets that differ in kernel size, mode
            or normalisation (the message says which set differs in what).
        """
        sets = list(sets) if isinstance(sets, (list, tuple)) else sets
        if not isinstance(sets, list) or not sets:
            raise InvalidInputError("FilterSet.concat takes a non-empty list of FilterSets; found "
                                    f"{sets!r:.80}.")
        bad = [i for i, s in enumerate(sets) if not isinstance(s, FilterSet)]
        if bad:
            raise InvalidInputError(f"FilterSet.concat: item {bad[0]} is a {type(sets[bad[0]]).__name__}, not a FilterSet.")
        first = sets[0]
        for i, s in enumerate(sets[1:], start=1):
            diff = [f"{attr} {getattr(s, attr)!r} (set 0: {getattr(first, attr)!r})"
                    for attr in ("kernel_size", "normalize", "mode") if getattr(s, attr) != getattr(first, attr)]
            if diff:
                raise InvalidInputError(f"FilterSet.concat: set {i} differs from set 0 in " + ", ".join(diff)
                                        + "; extract the filters with the same layer size, normalize= and mode=.")
        names: list[str] = []
        models = []
        for s in sets:
            remap = np.array([_name_index(names, nm) for nm in s.model_names] or [0], dtype=np.int64)
            models.append(remap[s.model])
        return cls(points=np.concatenate([s.points for s in sets]), kernel_size=first.kernel_size,
                   layer=np.concatenate([s.layer for s in sets]),
                   out_channel=np.concatenate([s.out_channel for s in sets]),
                   in_channel=np.concatenate([s.in_channel for s in sets]), model=np.concatenate(models),
                   model_names=names, mode=first.mode, normalize=first.normalize,
                   n_dropped=sum(s.n_dropped for s in sets), raw=np.concatenate([s.raw for s in sets]))

    def counts(self) -> list[dict[str, Any]]:
        """One entry per (model, layer) in order of appearance: ``{"model", "layer", "n"}``."""
        out: dict[tuple[int, str], int] = {}
        for m, lay in zip(self.model.tolist(), self.layer.tolist(), strict=True):
            out[(m, lay)] = out.get((m, lay), 0) + 1
        return [{"model": self.model_names[m], "layer": lay, "n": c} for (m, lay), c in out.items()]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (no arrays): sizes, options and the counts per model and layer."""
        return {"n_filters": len(self), "kernel_size": self.kernel_size, "mode": self.mode,
                "normalize": self.normalize, "n_dropped": int(self.n_dropped),
                "models": list(self.model_names), "counts": self.counts()}

    def summary(self) -> str:
        """One readable paragraph: how many filters, from where, how normalised."""
        parts = [f"{c['n']} from {c['model']} / {c['layer']}" for c in self.counts()]
        shown = "; ".join(parts[:8]) + (f"; ... ({len(parts) - 8} more)" if len(parts) > 8 else "")
        dropped = f", {self.n_dropped} constant filter(s) dropped" if self.n_dropped else ""
        what = "kernel slices" if self.mode == "slices" else "channel-mean kernels"
        return (f"{len(self)} {self.kernel_size}x{self.kernel_size} {what}, normalize={self.normalize!r}"
                f"{dropped}: {shown}.")


def _name_index(names: list[str], name: str) -> int:
    if name not in names:
        names.append(name)
    return names.index(name)


# ----------------------------------------------------------------------------- reading models
@dataclass
class _Conv:
    """One convolution weight found in a model: name, 4-D weight tensor, groups (None: unknown)."""

    name: str
    weight: Any
    groups: int | None
    kind: str = "Conv2d"


def _unwrap_checkpoint(state: Mapping) -> Mapping:
    for key in _CHECKPOINT_KEYS:
        if key in state and isinstance(state[key], Mapping):
            return state[key]
    return state


def _is_tensor_like(v: Any) -> bool:
    import torch

    return isinstance(v, (torch.Tensor, np.ndarray))


def _convs_of(source: Any, label: str) -> tuple[list[_Conv], dict[str, str]]:
    """The conv weights of one model, and the other layers by name (for error messages)."""
    import torch
    from torch import nn

    if isinstance(source, nn.Module):
        convs, others = [], {}
        for name, mod in source.named_modules():
            if isinstance(mod, nn.Conv2d):
                weight = mod.weight
                if isinstance(weight, nn.parameter.UninitializedParameter):
                    raise InvalidInputError(f"{label}: layer {name!r} is a lazy {type(mod).__name__} whose weight "
                                            "is not initialised yet; run one forward pass first.")
                convs.append(_Conv(name, weight, int(mod.groups), type(mod).__name__))
            else:
                others[name or "<root>"] = type(mod).__name__
        return convs, others
    if isinstance(source, Mapping):
        state = _unwrap_checkpoint(source)
        bad = [k for k in state if not isinstance(k, str)]
        if bad:
            raise InvalidInputError(f"{label} is a mapping with non-string keys (e.g. {bad[0]!r}); expected a "
                                    "state dict (parameter name -> tensor), e.g. model.state_dict().")
        convs, others = [], {}
        for key, value in state.items():
            if not _is_tensor_like(value):
                continue
            name = key[: -len(".weight")] if key.endswith(".weight") else key
            if (key.endswith(".weight") or key == "weight") and getattr(value, "ndim", 0) == 4:
                convs.append(_Conv(name if key != "weight" else "", value, None, "4-D weight"))
            else:
                others[key] = f"{getattr(value, 'ndim', '?')}-D tensor"
        if not convs and not any(_is_tensor_like(v) for v in state.values()):
            raise InvalidInputError(f"{label} is a mapping without tensors (keys: {list(state)[:6]}); expected a "
                                    "state dict or a checkpoint with a 'state_dict' / 'model_state_dict' entry.")
        return convs, others
    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        raise InvalidInputError(f"{label} is a path ({source!r}); load it first, e.g. "
                                "torch.load(path, weights_only=True), and pass the state dict or the model.")
    if isinstance(source, torch.Tensor):
        raise InvalidInputError(f"{label} is a tensor of shape {tuple(source.shape)}; pass the model, its state "
                                "dict, or a dict {'conv1.weight': tensor}.")
    raise InvalidInputError(f"{label} is a {type(source).__name__}; expected a torch nn.Module, a state dict "
                            "(Mapping of tensors, or a checkpoint holding one), or a list of those.")


def _weight_array(conv: _Conv, label: str) -> np.ndarray:
    """The weight as float64 numpy, read without touching the model (detach, cpu, double)."""
    import torch

    w = conv.weight
    if isinstance(w, torch.Tensor):
        if w.device.type == "meta":
            raise InvalidInputError(f"{label}: the weight of {conv.name!r} is on the 'meta' device (shapes, no "
                                    "values); load real weights first.")
        if w.is_complex():
            raise InvalidInputError(f"{label}: the weight of {conv.name!r} is complex ({w.dtype}); filters must be real.")
        arr = w.detach().cpu().double().numpy()
    else:
        if np.iscomplexobj(w) or not np.issubdtype(np.asarray(w).dtype, np.number):
            raise InvalidInputError(f"{label}: the weight of {conv.name!r} has dtype {np.asarray(w).dtype}; "
                                    "filters must be real numbers.")
        arr = np.array(w, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise NonFiniteError(f"{label}: the weight of layer {conv.name!r} contains "
                             f"{_nonfinite_report(arr.reshape(arr.shape[0], -1))}; the model has diverged "
                             "or the checkpoint is corrupt.")
    return arr


def _kernel(conv: _Conv) -> tuple[int, int]:
    shape = tuple(conv.weight.shape)
    return int(shape[2]), int(shape[3])


def _describe(convs: list[_Conv]) -> str:
    shown = ", ".join(f"{c.name or '<root>'} ({'x'.join(map(str, _kernel(c)))})" for c in convs[:12])
    return shown + (f", ... ({len(convs) - 12} more)" if len(convs) > 12 else "")


def _eligible(conv: _Conv) -> bool:
    kh, kw = _kernel(conv)
    return kh == kw and kh > 1


def _kernel_problem(conv: _Conv) -> str:
    kh, kw = _kernel(conv)
    if kh != kw:
        return (f"has a non-square {kh}x{kw} kernel; filters are square k x k patches, so pick layers with "
                "square kernels")
    return "has a 1x1 kernel, which has no spatial structure (a filter needs k >= 2); pick a k x k layer, k >= 2"


def _select(convs: list[_Conv], others: dict[str, str], layer: list[str] | None, label: str) -> list[_Conv]:
    """The conv weights named by ``layer`` (None: every square kernel larger than 1x1)."""
    if not convs:
        seen = ", ".join(f"{k} ({v})" for k, v in list(others.items())[:8]) or "nothing"
        transposed = any("ConvTranspose" in v for v in others.values())
        raise InvalidInputError(
            f"{label} has no Conv2d layer (found {seen}); extract_filters reads the kernels of nn.Conv2d "
            "layers (4-D '<name>.weight' entries of a state dict)"
            + (". ConvTranspose2d layers are not read (their weights are (in, out, k, k))" if transposed else "")
            + ".")
    if layer is None:
        chosen = [c for c in convs if _eligible(c)]
        skipped = [c for c in convs if not _eligible(c)]
        if not chosen:
            raise ShapeError(f"{label}: no Conv2d layer has a square kernel larger than 1x1 (conv layers and "
                             f"kernels: {_describe(convs)}); filters need k x k kernels with k >= 2.")
        if skipped:
            logger.info("%s: skipped %d conv layer(s) without a square kernel > 1x1: %s", label, len(skipped),
                        _describe(skipped))
        return chosen
    by_name = {c.name: c for c in convs}
    chosen = []
    for name in layer:
        key = name[: -len(".weight")] if name.endswith(".weight") and name not in by_name else name
        if key not in by_name:
            if key in others:
                raise InvalidInputError(f"{label}: layer {name!r} is a {others[key]}, not a Conv2d; conv layers: "
                                        f"{_describe(convs)}.")
            raise LayerNotFoundError(f"{label} has no conv layer {name!r}; available conv layers (kernel): "
                                     f"{_describe(convs)}.")
        conv = by_name[key]
        if not _eligible(conv):
            raise ShapeError(f"{label}: layer {name!r} {_kernel_problem(conv)} (weight shape "
                             f"{tuple(conv.weight.shape)}).")
        if conv not in chosen:
            chosen.append(conv)
    return chosen


def _rows(w: np.ndarray, groups: int | None, mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``(m, k * k)`` of one weight ``(out, in_per_group, k, k)``, with output and input channels."""
    n_out, n_in, k, _ = w.shape
    if mode == "channel_mean":
        return w.mean(axis=1).reshape(n_out, k * k), np.arange(n_out), np.full(n_out, -1)
    out_ch = np.repeat(np.arange(n_out), n_in)
    in_ch = np.tile(np.arange(n_in), n_out)
    if groups and groups > 1 and n_out % groups == 0:  # channel of the layer's input, not within the group
        in_ch = (out_ch // (n_out // groups)) * n_in + in_ch
    return w.reshape(n_out * n_in, k * k), out_ch, in_ch


def _sources(model: Any, names: Any) -> tuple[list[Any], list[str]]:
    """The models to pool and their names."""
    from torch import nn

    many = isinstance(model, (list, tuple)) and not isinstance(model, nn.Module)
    models = list(model) if many else [model]
    if not models:
        raise InvalidInputError("extract_filters got an empty list of models; pass a model, a state dict or a "
                                "non-empty list of them.")
    if names is None:
        labels = [f"model {i}" for i in range(len(models))]
    else:
        labels = [names] if isinstance(names, str) else list(names)
        if len(labels) != len(models) or not all(isinstance(s, str) for s in labels):
            raise InvalidInputError(f"names must be {len(models)} string(s), one per model; found {names!r:.120}.")
        if len(set(labels)) != len(labels):
            raise InvalidInputError(f"names must be distinct (they identify the models); found {labels}.")
    return models, labels


def extract_filters(model: Any, layer: str | Sequence[str] | None = None, *,
                    mode: Literal["slices", "channel_mean"] = "slices",
                    normalize: Literal["dnorm", "unit"] | None = "dnorm", names: str | Sequence[str] | None = None,
                    memory_limit: int | Literal["auto"] | None = "auto") -> FilterSet:
    """The square kernels of a model's ``Conv2d`` layers as a :class:`FilterSet` (filters are the points).

    Parameters
    ----------
    model : nn.Module, Mapping, or a list of those
        A torch module (its ``nn.Conv2d`` submodules, lazy ones once initialised; ``ConvTranspose2d``
        is not a ``Conv2d`` and is never read); a state dict (its 4-D ``<name>.weight`` tensors, torch
        or numpy), or a checkpoint holding one under ``"state_dict"``, ``"model_state_dict"`` or
        ``"model"``; or a list of those (a zoo, or checkpoints of one run), pooled into one set with
        each filter's model index kept. A state dict cannot tell a ``ConvTranspose2d`` weight from a
        ``Conv2d`` one: pass the module, or name the layers, to leave such layers out.
    layer : str or list of str, optional
        Layer names (module names, or state-dict keys with or without ``.weight``), looked up in
        every model. None: every conv layer with a square kernel larger than 1x1 (others are skipped
        and logged). All chosen layers must have the same kernel size: with ``layer=None`` and
        several sizes present this raises, naming the layers and their sizes, rather than guess.
    mode : {"slices", "channel_mean"}
        ``"slices"``: each ``(out, in)`` kernel slice is a point, in the weight's order (output
        channel major); for grouped / depthwise convs of a module, ``in_channel`` is the channel of
        the layer's input (for state dicts, whose groups are unknown, the index within the group).
        ``"channel_mean"``: each output channel's kernel averaged over its input channels
        (``in_channel`` -1).
    normalize : {"dnorm", "unit"} or None
        Rows mean-centred and divided by their contrast (D-norm, default) or Euclidean norm
        (:func:`topolens.filters.normalize_filters`); None keeps the weights. Constant
        (zero-contrast) filters are dropped in every case (counted in ``n_dropped``, logged as a
        warning): they have no direction.
    names : str or list of str, optional
        Distinct model names (default ``"model 0"``, ``"model 1"``, ...).
    memory_limit : int (bytes), "auto" or None
        The filters' arrays are estimated from the weight shapes and refused
        (:class:`~topolens.MemoryBudgetError`) beyond this, before anything is copied.

    Returns
    -------
    FilterSet
        Rows in the order models, then layers (as the model lists them), then output channel, then
        input channel. Weights are read with ``.detach().cpu().double()``: models on CUDA or in half
        precision work, and the model is never modified.

    Raises
    ------
    InvalidInputError
        A model without Conv2d layers, a named layer that is not a convolution, every filter
        constant, bad names / mode / normalize.
    LayerNotFoundError
        A named layer that no model has (the message lists the conv layers).
    ShapeError
        A named layer with a non-square or 1x1 kernel, or chosen layers of different kernel sizes.
    NonFiniteError
        NaN or infinite weights (the message names the layer).
    """
    mode = check_choice(mode, "mode", MODES)
    if normalize is not None:
        check_choice(normalize, "normalize", NORMALIZATIONS)
    if layer is not None:
        layer = [layer] if isinstance(layer, str) else list(layer)
        if not layer or not all(isinstance(s, str) for s in layer):
            raise InvalidInputError(f"layer must be a layer name or a non-empty list of names; found {layer!r:.120}.")
    models, labels = _sources(model, names)
    picked = [(m, conv) for m, (src, lab) in enumerate(zip(models, labels, strict=True))
              for conv in _select(*_convs_of(src, lab), layer, lab)]
    sizes = sorted({_kernel(c)[0] for _, c in picked})
    if len(sizes) > 1:
        listing = "; ".join(f"{labels[m]} / {c.name} ({_kernel(c)[0]}x{_kernel(c)[0]})" for m, c in picked[:12])
        raise ShapeError(f"the chosen conv layers have different kernel sizes {sizes} ({listing}); a filter set holds "
                         "one size. Pass layer= with the layers of one size, e.g. the first layer.")
    k = sizes[0]
    n_rows = sum(int(c.weight.shape[0]) * (1 if mode == "channel_mean" else int(c.weight.shape[1])) for _, c in picked)
    check_memory(4 * 8 * n_rows * k * k, memory_limit, what=f"the {n_rows} filters of {len(picked)} layer(s)",
                 hint="Pick fewer layers (layer=...) or use mode='channel_mean'")
    if n_rows == 0:
        raise ShapeError(f"the chosen conv layers ({', '.join(c.name for _, c in picked)}) have no kernels "
                         "(0 output or input channels).")
    parts: list[tuple[np.ndarray, ...]] = []
    for m, conv in picked:
        rows, out_ch, in_ch = _rows(_weight_array(conv, labels[m]), conv.groups, mode)
        parts.append((rows, out_ch, in_ch, np.full(len(rows), m), np.full(len(rows), conv.name, dtype=object)))
    raw, out_ch, in_ch, mod, lay = (np.concatenate(p) for p in zip(*parts, strict=True))
    points, norms = normalize_filters(raw, normalize or "unit", size=k)
    if normalize is None:
        points = raw.copy()
    keep = norms > 0
    n_dropped = int((~keep).sum())
    if not keep.any():
        raise InvalidInputError(
            f"all {len(raw)} filters of {', '.join(sorted({c.name for _, c in picked}))} are constant (zero "
            "contrast: every pixel of each kernel has the same value), so they have no direction to study. "
            "Is the model trained (or its weights loaded)? Choose another layer with layer=.")
    if n_dropped:
        first = np.flatnonzero(~keep)[0]
        logger.warning("dropped %d of %d constant (zero-contrast) filters, e.g. %s / %s out %d in %d",
                       n_dropped, len(raw), labels[mod[first]], lay[first], out_ch[first], in_ch[first])
    return FilterSet(points=points[keep], kernel_size=k, layer=lay[keep].astype(str), out_channel=out_ch[keep],
                     in_channel=in_ch[keep], model=mod[keep], model_names=labels, mode=mode, normalize=normalize,
                     n_dropped=n_dropped, raw=raw[keep])
