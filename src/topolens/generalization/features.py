"""Per-model features for gap prediction: activation topology and PGDL baselines, cached.

Topological features follow Ballester et al. (Neurocomputing 2024): record the hidden
activations (the outputs of every ``nn.ReLU``: "all non-input neurons") on a fixed sample
of training inputs, compute the persistence of the neurons under ``1 - |corr|``
(:func:`topolens.activation_persistence` with ``group="all"``) for ``n_resamples``
neuron samples, summarise each diagram set with
:func:`topolens.vectorize.summary_vector` and average the summaries over the resamples.
The paper's scale is 2000 inputs, 3000 neurons, 20 resamples, H0 and H1
(:data:`PAPER_PARAMS`); every one of these is a field of :class:`FeatureParams`.

``FeatureParams.preset("ballester2024")`` is the authors' published code exactly: the outputs of
every layer with weights (:func:`weighted_layers`), neurons drawn by importance over the whole
network in a streaming pass (:func:`importance_sample_activations`), an undefined correlation
counted as 0, and the summaries of the paper's best set and 4-number H1 set
(:meth:`FeatureParams.feature_sets`, carried by :attr:`FeatureTable.feature_sets`).

Baselines (:mod:`topolens.generalization.baselines`) are computed on the same models:
distance from initialisation, spectral/Frobenius norm products and sums, and the output
margin on the model's own training data.

Features are cached per model under ``ZOO/features/<key>/<model_id>.npz``, where ``key``
hashes the parameters: changing any parameter (or retraining a model, which changes its
weights' checksum, also stored and checked) computes them anew. Cache files are written
atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .._io import atomic_path, atomic_write_text
from .._parallel import run_jobs
from .._validation import check_choice, check_int
from ..exceptions import (
    ConstantNeuronWarning,
    CorruptRecordError,
    InvalidInputError,
    LayerNotFoundError,
    NonFiniteError,
    ShapeError,
    TopolensError,
    TopolensWarning,
)
from .baselines import BASELINE_NAMES, baseline_measures

__all__ = [
    "PAPER_PARAMS",
    "PRESETS",
    "FeatureParams",
    "FeatureTable",
    "ImportanceSample",
    "feature_layers",
    "hidden_layers",
    "importance_sample_activations",
    "model_features",
    "topological_features",
    "weighted_layers",
    "zoo_features",
]

logger = logging.getLogger(__name__)

#: Bump when the meaning of a cached feature changes (invalidates every cache).
FEATURES_VERSION = 1

#: Names accepted by :meth:`FeatureParams.preset`.
PRESETS = ("topolens", "ballester2024")

#: Fields added after the first cache layout, with the default that keeps the old behaviour;
#: a field at this default is left out of :attr:`FeatureParams.key`, so older caches stay valid.
_KEYLESS_DEFAULTS = {"layer_selection": "relu", "constant": "drop", "summaries": "topolens",
                     "input_pool": "all"}

#: The statistics of the paper's best set, per homology dimension, in the authors' order.
_PAPER_STATS = ("birth_std", "death_std", "birth_mean", "death_mean")

#: Element-wise activations a weighted layer's output is read after (Keras fuses these into
#: Conv2D / Dense, so a Keras layer's output is the activation's output).
_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.Softplus,
                nn.SiLU, nn.ReLU6, nn.Hardtanh, nn.Mish)
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.BatchNorm1d, nn.BatchNorm2d,
             nn.BatchNorm3d)


@dataclass(frozen=True)
class FeatureParams:
    """Parameters of the per-model features (all of them enter the cache key).

    Attributes
    ----------
    n_inputs : int
        Training inputs in the fixed sample (the paper: 2000).
    n_neurons : int
        Neurons per resample (the paper: 3000); all non-constant ones if fewer.
    n_resamples : int
        Neuron resamples averaged (the paper: 20).
    max_dim : int
        Largest homology dimension (the paper: 1, i.e. H0 and H1).
    layers : tuple of str, optional
        Layers whose outputs are the neurons; default: chosen by ``layer_selection``.
    neuron_sampling : {"uniform", "max_activation", "importance"}
        ``"importance"``: the authors' scheme over the whole network
        (:func:`topolens.topology.importance_probabilities`), computed in a streaming pass
        (:func:`importance_sample_activations`).
    top_k, n_poly : int
        Passed to :func:`topolens.vectorize.summary_vector`.
    data_seed : int
        Chooses the fixed input sample (the same for every model of a zoo).
    seed : int
        Seeds the neuron resamples.
    margin_inputs : int
        Training examples used for the output-margin baseline.
    margin_quantile : float
        Quantile of the margins (PGDL: the 10th percentile).
    layer_selection : {"relu", "weighted"}
        ``"relu"``: every ``nn.ReLU`` (:func:`hidden_layers`); ``"weighted"``: every layer with
        weights, logits included (:func:`weighted_layers`).
    constant : {"drop", "zero", "raise"}
        Constant neurons: dropped, or kept with correlation 0 (dissimilarity 1, the authors'
        ``nan_to_num``), or an error.
    summaries : {"topolens", "ballester2024"}
        ``"ballester2024"`` adds the squares of the births' and deaths' means and standard
        deviations (squared per resample, then averaged, as the authors do; they average 1000 bootstrap
        means of the resamples, whose expectation is this plain mean), so the table
        holds the paper's best set and its 4-number H1 set (:meth:`feature_sets`).
    input_pool : {"all", "trained"}
        Where the ``n_inputs`` probe inputs are drawn from: the whole training split of the
        zoo's data set (``"all"``), or the images the model was trained on (``"trained"``: a
        grid model's training subset, an imported model's whole training split). The draw
        is seeded by ``data_seed``, so models that share a training set share the probe.
    """

    n_inputs: int = 2000
    n_neurons: int = 3000
    n_resamples: int = 20
    max_dim: int = 1
    layers: tuple[str, ...] | None = None
    neuron_sampling: str = "uniform"
    top_k: int = 10
    n_poly: int = 3
    data_seed: int = 0
    seed: int = 0
    margin_inputs: int = 2000
    margin_quantile: float = 0.1
    layer_selection: str = "relu"
    constant: str = "drop"
    summaries: str = "topolens"
    input_pool: str = "all"

    def __post_init__(self) -> None:
        for name, lo in (("n_inputs", 3), ("n_neurons", 2), ("n_resamples", 1), ("max_dim", 0),
                         ("top_k", 0), ("n_poly", 0), ("data_seed", 0), ("seed", 0),
                         ("margin_inputs", 1)):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=lo))
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(str(x) for x in self.layers))
        if not 0.0 <= float(self.margin_quantile) <= 1.0:
            raise InvalidInputError(f"margin_quantile must lie in [0, 1], found {self.margin_quantile}.")
        check_choice(self.neuron_sampling, "neuron_sampling", ("uniform", "max_activation", "importance"))
        check_choice(self.layer_selection, "layer_selection", ("relu", "weighted"))
        check_choice(self.constant, "constant", ("drop", "zero", "raise"))
        check_choice(self.summaries, "summaries", PRESETS)
        check_choice(self.input_pool, "input_pool", ("all", "trained"))
        if self.summaries == "ballester2024" and self.max_dim < 1:
            raise InvalidInputError("summaries='ballester2024' needs H0 and H1: use max_dim >= 1.")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> FeatureParams:
        """Named parameter sets; ``overrides`` replace single fields.

        ``"topolens"``: today's defaults (the paper's scale on the ``nn.ReLU`` outputs,
        uniform neuron samples, constant neurons dropped).

        ``"ballester2024"``: Ballester et al. (Neurocomputing 2024) as their published code
        runs it: the neurons are the outputs of every layer with trainable weights (Keras
        ``len(layer.get_weights()) > 0``: Conv2D feature maps at every position, Dense
        including the logits, BatchNormalization), flattened, all layers together;
        "a sample of 3000 neuron activations and a sample of 2000 samples from the
        training dataset", "20 persistence diagrams" per model, H0 and H1 (the authors'
        README); neurons drawn by importance (:func:`topolens.topology.importance_probabilities`);
        an undefined correlation counted as 0; the best set "original and squared standard
        deviations and average births and deaths, dimensions 0 and 1" and the H1 set
        "standard deviations and average births and deaths, dimension 1" (their
        ``features_to_compare``), infinite bars dropped. The 2000 inputs are drawn from the
        images the models were trained on (``input_pool="trained"``; PGDL's models all train
        on their task's whole training split).

        The one known difference from their numbers: topolens' H0 keeps a zero-length bar for
        every pair of perfectly correlated neurons (e.g. a BatchNorm output and its input), one
        bar per point; their ``ripser_parallel`` drops a bar whose death is exactly 0 but keeps
        one of ``1 - 0.9999999999999998``, so which of these bars they count depends on
        rounding (on such affine pairs ``np.corrcoef`` gives exactly 1 about a quarter of the
        time). Without perfectly correlated neurons the features are theirs to rounding.
        """
        check_choice(name, "preset", PRESETS)
        base = cls() if name == "topolens" else cls(
            n_inputs=2000, n_neurons=3000, n_resamples=20, max_dim=1, layer_selection="weighted",
            neuron_sampling="importance", constant="zero", summaries="ballester2024",
            input_pool="trained")
        return dataclasses.replace(base, **overrides) if overrides else base

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["layers"] = None if self.layers is None else list(self.layers)
        return d

    @property
    def key(self) -> str:
        """Cache key: a hash of the parameters and :data:`FEATURES_VERSION`."""
        d = {k: v for k, v in self.to_dict().items()
             if k not in _KEYLESS_DEFAULTS or v != _KEYLESS_DEFAULTS[k]}
        blob = json.dumps({"v": FEATURES_VERSION, **d}, sort_keys=True)
        return "f-" + hashlib.sha256(blob.encode()).hexdigest()[:12]

    def feature_names(self) -> list[str]:
        from ..vectorize import summary_feature_names

        names = ["topo_" + n for n in summary_feature_names(tuple(range(self.max_dim + 1)),
                                                            self.top_k, self.n_poly)]
        if self.summaries == "ballester2024":
            names += [f"topo_H{k}_{s}_sq" for k in (0, 1) for s in _PAPER_STATS]
        return names

    def feature_sets(self) -> dict[str, list[str]]:
        """Named column sets of the topological features.

        ``"topolens"``: topolens' summaries (every column without ``summaries="ballester2024"``);
        with it also ``"paper_best"`` (for H0 then H1: std and mean of births and deaths, then
        their squares; 16 columns, the authors' order) and ``"paper_h1"`` (std and mean of
        births and deaths in H1).
        """
        from ..vectorize import summary_feature_names

        sets = {"topolens": ["topo_" + n for n in summary_feature_names(
            tuple(range(self.max_dim + 1)), self.top_k, self.n_poly)]}
        if self.summaries == "ballester2024":
            sets["paper_best"] = [f"topo_H{k}_{s}{sq}" for k in (0, 1) for sq in ("", "_sq")
                                  for s in _PAPER_STATS]
            sets["paper_h1"] = [f"topo_H1_{s}" for s in _PAPER_STATS]
        return sets


PAPER_PARAMS = FeatureParams()


def hidden_layers(model: nn.Module) -> list[str]:
    """Names of the ``nn.ReLU`` modules of ``model`` (the default feature layers)."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.ReLU) and n]
    if not names:
        raise InvalidInputError(
            f"{type(model).__name__} has no nn.ReLU modules; pass the layers to use, e.g. "
            "FeatureParams(layers=('fc1', 'fc2')) (see topolens.activations.list_layers).")
    return names


def weighted_layers(model: nn.Module) -> list[str]:
    """The layers whose outputs are Ballester et al.'s neurons: every layer with weights.

    Every ``nn.Linear`` (the logits included), ``nn.Conv1d/2d/3d`` and ``nn.BatchNorm1d/2d/3d``
    with weights (frozen ones too, as Keras' ``get_weights()``; a BatchNorm's running
    statistics count), in forward (registration) order. Keras fuses an activation into
    Conv2D and Dense, so their Keras output is after the activation: when the next leaf module
    after a Linear or Conv layer is an element-wise activation (``nn.ReLU`` etc.), that
    activation's name is returned instead. A BatchNorm's output is taken as it is (Keras'
    BatchNormalization has no activation inside). A model converted by
    :func:`topolens.zoo._keras.keras_sequential` (it has ``keras_layers``) is read exactly: its
    weighted Keras layers, each with its ``<layer>__act`` child when there is one.
    """
    if not isinstance(model, nn.Module):
        raise InvalidInputError(f"model must be a torch.nn.Module, found {type(model).__name__}.")
    named = dict(model.named_modules())
    keras = getattr(model, "keras_layers", None)
    if keras is not None:
        names = [f"{n}__act" if f"{n}__act" in named else n for n, _ in keras]
    else:
        leaves = [(n, m) for n, m in model.named_modules() if n and not list(m.children())]
        names = []
        for i, (n, m) in enumerate(leaves):
            if not isinstance(m, _WEIGHTED) or not _has_weights(m):
                continue
            nxt = leaves[i + 1][1] if i + 1 < len(leaves) else None
            fuse = not isinstance(m, nn.modules.batchnorm._BatchNorm) and isinstance(nxt, _ACTIVATIONS)
            names.append(leaves[i + 1][0] if fuse else n)
    if not names:
        raise InvalidInputError(
            f"{type(model).__name__} has no Linear, Conv or BatchNorm layers with weights; pass the "
            "layers to use, e.g. FeatureParams(layers=('fc1', 'fc2')) (see topolens.activations.list_layers).")
    return names


def _has_weights(m: nn.Module) -> bool:
    """Keras' ``len(layer.get_weights()) > 0``: any parameter, trainable or frozen, or a
    BatchNorm's running statistics (``affine=False`` still has them, as Keras' moving mean
    and variance)."""
    if next(m.parameters(), None) is not None:
        return True
    return isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None


def feature_layers(model: nn.Module, params: FeatureParams) -> list[str]:
    """The layers ``params`` reads the neurons of (``params.layers``, else by ``layer_selection``)."""
    if params.layers is not None:
        return list(params.layers)
    return weighted_layers(model) if params.layer_selection == "weighted" else hidden_layers(model)


def topological_features(model: nn.Module, x: Any, params: FeatureParams = PAPER_PARAMS, *,
                         device: Any = None) -> tuple[list[str], np.ndarray]:
    """Ballester et al.'s topological features of one model on the inputs ``x``.

    Parameters
    ----------
    model : torch.nn.Module
    x : tensor of inputs, shape (n, ...)
        The fixed input sample (its first ``params.n_inputs`` rows are used).
    params : FeatureParams

    Returns
    -------
    names : list of str
    values : float64 array of shape (len(names),)
        Summary statistics averaged over the resamples.
    """
    from ..activations import record_activations
    from ..topology import activation_persistence
    from ..vectorize import summary_vector

    layers = feature_layers(model, params)
    x = x[: params.n_inputs]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConstantNeuronWarning)
        if params.neuron_sampling == "importance":
            diagrams = _importance_diagrams(model, x, layers, params, device)
        else:
            _check_recording(model, x, layers)
            acts = record_activations(model, x, layers, batch_size=500, device=device)
            res = activation_persistence(
                acts, layers=layers, group="all", n_neurons=params.n_neurons,
                n_resamples=params.n_resamples, neuron_sampling=params.neuron_sampling,  # type: ignore[arg-type]
                max_dim=params.max_dim, seed=params.seed, device=device,
                constant=params.constant)  # type: ignore[arg-type]
            diagrams = next(iter(res.diagrams.values()))  # one group: all layers together
    for w in caught:  # dead ReLUs are common in a zoo: log them, do not flood the terminal
        if issubclass(w.category, ConstantNeuronWarning):
            logger.debug("%s", w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    dims = tuple(range(params.max_dim + 1))
    vectors = []
    for d in diagrams:
        names, v = summary_vector(d, dims, params.top_k, n_poly=params.n_poly)
        if params.summaries == "ballester2024":  # squared per resample, then averaged
            at = {n: i for i, n in enumerate(names)}
            v = np.concatenate([v, [v[at[f"H{k}_{s}"]] ** 2 for k in (0, 1) for s in _PAPER_STATS]])
        vectors.append(v)
    return params.feature_names(), np.mean(vectors, axis=0)


@dataclass(frozen=True, eq=False)
class ImportanceSample:
    """Result of :func:`importance_sample_activations`.

    Attributes
    ----------
    activations : float32 array of shape (n_inputs, n_union)
        The activations of every neuron drawn by some resample (the union, in network order).
    neurons : int array of shape (n_union,)
        Their indices among all the network's neurons (the chosen layers flattened, concatenated).
    columns : list of int arrays
        Per resample, its neurons as columns of ``activations`` (sorted).
    counts : int array of shape (n_neurons_total,)
        :func:`topolens.topology.argmax_counts` over the whole network.
    probabilities : float array of shape (n_neurons_total,)
        :func:`topolens.topology.importance_probabilities` of ``counts``.
    """

    activations: np.ndarray
    neurons: np.ndarray
    columns: list[np.ndarray]
    counts: np.ndarray
    probabilities: np.ndarray


def _batches(x: torch.Tensor, n_total: int, dev: torch.device) -> Any:
    """Batches of ``x`` whose ``(batch, n_total)`` float32 outputs (x3 for copies) fit the budget."""
    from ..homology.memory import check_memory, memory_budget

    budget = memory_budget("auto") or 2**34
    bs = int(max(1, min(500, budget // max(1, 12 * n_total))))
    check_memory(12 * bs * n_total, "auto", what=f"one input's {n_total} neurons",
                 hint="Use fewer layers (FeatureParams.layers)")
    for i in range(0, len(x), bs):
        yield i, x[i: i + bs].to(dev)


def importance_sample_activations(model: nn.Module, x: Any, layers: list[str], n_neurons: int,
                                  n_resamples: int, *, seed: int = 0,
                                  device: Any = None) -> ImportanceSample:
    """Draw neurons over the whole network by importance (Ballester et al.'s code), streaming.

    Pass 1 runs the inputs in batches and keeps, per input, only the neuron with the largest
    ``|activation|`` (first one on ties, layers in order), so the importance counts of a
    network with hundreds of thousands of neurons need one batch in memory, not the
    ``(n_inputs, n_neurons)`` matrix. ``n_resamples`` sets of ``n_neurons`` neurons are then
    drawn without replacement (:func:`topolens.topology.sample_by_importance`, generator seeded
    by ``seed``), and pass 2 records only the union of the drawn neurons.
    """
    from ..homology.memory import check_memory
    from ..topology import importance_probabilities, sample_by_importance

    if not isinstance(model, nn.Module):
        raise InvalidInputError(f"model must be a torch.nn.Module, found {type(model).__name__}.")
    n_neurons = check_int(n_neurons, "n_neurons", minimum=2)
    n_resamples = check_int(n_resamples, "n_resamples", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    if isinstance(layers, str) or not layers:
        raise InvalidInputError(f"layers must be a non-empty list of module names, found {layers!r}; "
                                "e.g. weighted_layers(model).")
    if device is not None:
        model = model.to(device)
    dev = next(iter(model.parameters()), torch.empty(0)).device
    x = _as_float_inputs(x)
    widths = _probe_widths(model, x.to(dev), layers)
    offsets = np.concatenate([[0], np.cumsum(widths)])
    n_total = int(offsets[-1])
    best = np.full(len(x), -1.0)
    arg = np.zeros(len(x), dtype=np.int64)
    for i, xb in _batches(x, n_total, dev):
        for off, blk in zip(offsets[:-1], _layer_outputs(model, layers, xb), strict=True):
            mag = np.abs(blk)
            j = mag.argmax(axis=1)
            v = mag[np.arange(len(j)), j].astype(np.float64)
            better = v > best[i: i + len(j)]  # strict: an earlier layer wins a tie
            best[i: i + len(j)][better] = v[better]
            arg[i: i + len(j)][better] = j[better] + off
    counts = np.bincount(arg, minlength=n_total).astype(np.int64)
    probs = importance_probabilities(counts)
    rng = np.random.default_rng([seed, 3])
    picks = [sample_by_importance(probs, n_neurons, rng) for _ in range(n_resamples)]
    union = np.unique(np.concatenate(picks))
    check_memory(4 * len(x) * union.size, "auto", what=f"the {len(x)} inputs x {union.size} sampled neurons",
                 hint="Use fewer inputs (n_inputs), neurons (n_neurons) or resamples")
    acts = np.empty((len(x), union.size), dtype=np.float32)
    for i, xb in _batches(x, n_total, dev):
        blocks = _layer_outputs(model, layers, xb)
        for li, blk in enumerate(blocks):
            lo, hi = np.searchsorted(union, [offsets[li], offsets[li + 1]])
            if hi > lo:
                acts[i: i + len(blk), lo:hi] = blk[:, union[lo:hi] - offsets[li]]
    return ImportanceSample(acts, union, [np.searchsorted(union, p) for p in picks], counts, probs)


def _importance_diagrams(model: nn.Module, x: Any, layers: list[str], params: FeatureParams,
                         device: Any) -> list[Any]:
    """One diagram set per resample of :func:`importance_sample_activations` (1 - |corr|)."""
    from ..dissimilarity import _constant_mask, _warn_constant, pairwise_dissimilarity
    from ..homology import rips_persistence

    smp = importance_sample_activations(model, x, layers, params.n_neurons, params.n_resamples,
                                        seed=params.seed, device=device)
    out: list[Any] = []
    if smp.counts.size <= params.n_neurons:  # every resample takes every neuron: compute one
        logger.info("all %d neurons are taken by every resample; computing 1 resample instead of %d",
                    smp.counts.size, params.n_resamples)
        smp = dataclasses.replace(smp, columns=smp.columns[:1])
    for r, cols in enumerate(smp.columns):
        a = smp.activations[:, cols]
        const = _constant_mask(a)
        if const.any() and params.constant == "raise":
            raise InvalidInputError(f"{int(const.sum())} sampled neuron(s) of resample {r} are constant "
                                    "on the inputs; use constant='zero' or 'drop'.")
        if const.any() and params.constant == "drop":
            _warn_constant(int(const.sum()), a.shape[1], "drop", context=f" (resample {r})")
            a = a[:, ~const]
        if a.shape[1] < 2:
            raise InvalidInputError(f"resample {r} has {a.shape[1]} usable neuron(s); at least 2 are "
                                    "needed. Use more inputs, neurons or constant='zero'.")
        d = pairwise_dissimilarity(a, "abs_correlation", points="neurons", device=device, constant="zero")
        out.append(rips_persistence(d, params.max_dim, metadata={
            "dissimilarity": "abs_correlation", "points": "neurons", "resample": r,
            "n_inputs": int(a.shape[0]), "n_neurons": int(a.shape[1]), "seed": params.seed}))
    return out


def _as_float_inputs(x: Any) -> torch.Tensor:
    """Inputs as a float32 tensor (uint8 images are not rescaled: pass them as the model takes them)."""
    from .._validation import _to_numpy

    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        arr = _to_numpy(x)
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
            raise InvalidInputError(f"inputs must be real numbers, found dtype {arr.dtype}.")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex():
        raise InvalidInputError(f"inputs must be real numbers, found dtype {t.dtype}.")
    if t.ndim < 1 or len(t) < 2:
        raise ShapeError(f"need at least 2 inputs (rows), found shape {tuple(t.shape)}.")
    t = t.to(torch.float32)
    if not torch.isfinite(t).all():
        raise NonFiniteError("inputs contain NaN or infinite values; clean the input sample first.")
    return t


def _probe_widths(model: nn.Module, x: Any, layers: list[str]) -> list[int]:
    """Neurons per layer, from one input."""
    return [b.shape[1] for b in _layer_outputs(model, layers, x[:1])]


def _check_recording(model: nn.Module, x: Any, layers: list[str]) -> None:
    """Refuse, before recording, a full activation matrix that would not fit in memory."""
    from ..homology.memory import check_memory

    probe = _as_float_inputs(x[:2])  # numpy arrays, lists, uint8/float16 as record_activations takes them
    dev = next(iter(model.parameters()), torch.empty(0)).device
    n = sum(_probe_widths(model, probe.to(dev), layers))
    check_memory(8 * len(x) * n, "auto", what=f"the {len(x)} inputs x {n} neurons of {len(layers)} layer(s)",
                 hint="Use neuron_sampling='importance' (streams the inputs and keeps only the "
                      "sampled neurons), fewer inputs (n_inputs) or fewer layers")


def _layer_outputs(model: nn.Module, layers: list[str], xb: torch.Tensor) -> list[np.ndarray]:
    """The outputs of ``layers`` on one batch, each flattened to ``(batch, -1)`` float32 (C order)."""
    named = dict(model.named_modules())
    missing = [n for n in layers if n not in named]
    if missing:
        from ..activations._layers import _describe_available

        raise LayerNotFoundError(f"layer(s) {missing} not in {type(model).__name__}. "
                                 f"{_describe_available(model)} (see topolens.activations.list_layers).")
    out: dict[str, np.ndarray] = {}

    def hook(name: str) -> Any:
        def f(_m: nn.Module, _i: Any, o: Any) -> None:
            if not isinstance(o, torch.Tensor) or o.is_complex() or o.ndim < 1:
                raise InvalidInputError(
                    f"layer {name!r} returned a {type(o).__name__}, not a real tensor with a batch "
                    "axis, so it has no neurons to sample; choose other layers (FeatureParams.layers).")
            if name in out:  # a shared module (one nn.ReLU used after every layer): ambiguous
                raise InvalidInputError(
                    f"layer {name!r} runs more than once in one forward pass (a module shared by "
                    "several places of the model), so its neurons are ambiguous; give each use its "
                    "own module, or pass other layers (FeatureParams.layers).")
            out[name] = o.detach().reshape(o.shape[0], -1).to("cpu", torch.float32).numpy()
        return f

    ref = next((q for q in model.parameters() if q.is_floating_point()), None)
    if ref is not None and xb.dtype != ref.dtype:  # a float64 (or half) model takes its own dtype
        xb = xb.to(ref.dtype)
    handles = [named[n].register_forward_hook(hook(n)) for n in layers]
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(xb)
    except TopolensError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise InvalidInputError(
            f"the model raised {type(exc).__name__} on inputs of shape {tuple(xb.shape)} "
            f"({xb.dtype}, on {xb.device}): {exc}. Check that the inputs have the shape, dtype and "
            "scaling the model expects.") from exc
    finally:
        model.train(training)
        for h in handles:
            h.remove()
    blocks = [out[n] for n in layers]
    for n, b in zip(layers, blocks, strict=True):
        if not np.isfinite(b).all():
            raise NonFiniteError(f"layer {n!r} has NaN or infinite activations; check the model's weights.")
    return blocks


def model_features(record: Any, data: Any, params: FeatureParams = PAPER_PARAMS, *,
                   device: Any = None) -> dict[str, np.ndarray]:
    """Topological and baseline features of one zoo model (no cache).

    The output margin is measured on the training data the model was trained on: a grid
    model's own subset and labels (:func:`topolens.zoo.train.training_subset`, label noise
    included; its first ``margin_inputs`` examples), an imported model's (``record.config is
    None``) whole training split as stored (``margin_inputs`` of them drawn with ``data_seed``,
    since a task's shards may be stored in class order).

    Returns a dict with ``topological`` and ``baselines`` (float64 arrays) and their
    ``*_names``.
    """
    model = record.load_model("final")
    states = record.load_states()
    idx, y_used = trained_on(record, data)
    if params.input_pool == "trained":
        # a model trained on the whole split (every imported one) draws from it without copying it
        pool = data.x_train if len(idx) == len(data.x_train) else data.x_train[torch.from_numpy(idx)]
        sample = fixed_input_sample(pool, params, what="training images this model was trained on")
    else:
        sample = fixed_input_sample(data.x_train, params)
    names, topo = topological_features(model, sample, params, device=device)
    m = min(params.margin_inputs, len(idx))
    take = np.arange(m)
    if record.config is None and m < len(idx):  # shards may be ordered (e.g. by class): a seeded draw
        take = np.sort(np.random.default_rng([params.data_seed, 3]).choice(len(idx), m, replace=False))
    base = baseline_measures(model, states["initial"], data.x_train[torch.from_numpy(idx[take])],
                             torch.from_numpy(y_used[take]), quantile=params.margin_quantile,
                             device=device)
    return {"topological": topo, "topological_names": np.array(names),
            "baselines": np.array([base[k] for k in BASELINE_NAMES], dtype=np.float64),
            "baseline_names": np.array(BASELINE_NAMES)}


def trained_on(record: Any, data: Any) -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``data.x_train`` of the images a zoo model was trained on, and its labels.

    A grid model's own subset and labels (:func:`topolens.zoo.train.training_subset`, label
    noise included); an imported model's (``record.config is None``) whole training split.
    """
    from ..zoo.train import training_subset

    if record.config is None:  # imported (PGDL): trained on the task's whole training split
        y_all = data.y_train.numpy()
        return np.arange(len(y_all)), y_all
    return training_subset(record.config, data.y_train.numpy())


def fixed_input_sample(x_train: torch.Tensor, params: FeatureParams, *,
                       what: str = "training images") -> torch.Tensor:
    """The ``n_inputs`` training inputs every model of a zoo is probed with (seeded)."""
    n = len(x_train)
    if params.n_inputs > n:
        raise InvalidInputError(f"n_inputs={params.n_inputs} exceeds the {n} {what}; lower "
                                "n_inputs (--n-inputs).")
    idx = np.sort(np.random.default_rng([params.data_seed, 2]).choice(n, params.n_inputs,
                                                                    replace=False))
    return x_train[torch.from_numpy(idx)]


@dataclass
class FeatureTable:
    """Features of every model of a zoo, aligned with its gaps and hyperparameters."""

    model_ids: list[str]
    topological_names: list[str]
    topological: np.ndarray
    baseline_names: list[str]
    baselines: np.ndarray
    gaps: np.ndarray
    hyperparameters: dict[str, list[Any]]
    params: FeatureParams
    #: Named column sets of ``topological`` (default: :meth:`FeatureParams.feature_sets`,
    #: restricted to the columns present).
    feature_sets: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    #: Seconds each model's features took when they were computed (NaN where the cache
    #: predates this record); ``None`` for a table built by hand.
    seconds: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.feature_sets:
            have = set(self.topological_names)
            self.feature_sets = {k: v for k, v in self.params.feature_sets().items()
                                 if v and set(v) <= have}

    def __len__(self) -> int:
        return len(self.model_ids)

    def column(self, name: str) -> np.ndarray:
        """One feature (topological or baseline) by name."""
        if name in self.topological_names:
            return self.topological[:, self.topological_names.index(name)]
        if name in self.baseline_names:
            return self.baselines[:, self.baseline_names.index(name)]
        raise KeyError(f"No feature {name!r}; known: {self.topological_names + self.baseline_names}")


def _cache_file(zoo: Any, params: FeatureParams, model_id: str) -> Path:
    return Path(zoo.path) / "features" / params.key / f"{model_id}.npz"


def _read_cache(path: Path, record: Any) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        ok = (str(d.get("weights_sha256")) == record.weights_sha256
              and np.all(np.isfinite(d["topological"])) and np.all(np.isfinite(d["baselines"])))
    except Exception as exc:
        logger.warning("feature cache %s unreadable (%s); recomputing", path, exc)
        return None
    if not ok:
        logger.info("feature cache %s is stale (weights changed); recomputing", path)
        return None
    return d


def _features_job(record: Any, zoo_path: str, params: FeatureParams, root: str | None,
                  worker: bool) -> str:
    from ..zoo.store import zoo_data

    if worker:
        torch.set_num_threads(1)
    data = zoo_data(zoo_path, root)  # cached per process, for trained and imported zoos alike
    t0 = time.perf_counter()
    try:
        feats = model_features(record, data, params)
    except TopolensError as exc:  # say which model failed; the others' caches are kept
        raise type(exc)(f"model {record.model_id} ({record.path}): {exc}") from exc
    path = Path(zoo_path) / "features" / params.key / f"{record.model_id}.npz"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, weights_sha256=np.array(record.weights_sha256),
                     seconds=np.array(time.perf_counter() - t0), **feats)
    return record.model_id


def zoo_features(zoo: Any, params: FeatureParams = PAPER_PARAMS, *, n_jobs: int = 1,
                 root: Any = None, cache: bool = True, progress: bool = True) -> FeatureTable:
    """Features of every model of ``zoo`` (computed in parallel, cached per model).

    Parameters
    ----------
    zoo : topolens.zoo.Zoo
    params : FeatureParams
    n_jobs : int
        Worker processes over models (joblib); ``-1`` for all cores.
    root : path-like, optional
        Data root of a trained zoo's data set (an imported zoo reads the data it stores;
        every access goes through :func:`topolens.zoo.store.zoo_data`).
    cache : bool
        Reuse cached features (and write new ones). ``False`` recomputes everything.
    progress : bool
        Show a tqdm progress bar.
    """
    if len(zoo) == 0:
        raise InvalidInputError(f"The zoo at {zoo.path} has no models; train it first.")
    folder = Path(zoo.path) / "features" / params.key
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "params.json", json.dumps(params.to_dict(), indent=1))
    todo = [r for r in zoo if not cache or _read_cache(_cache_file(zoo, params, r.model_id), r) is None]
    logger.info("features %s: %d of %d models to compute", params.key, len(todo), len(zoo))
    if params.input_pool == "trained":
        pools = {(r.config.train_size, r.config.seed) for r in zoo if r.config is not None}
        if len(pools) > 1:
            warnings.warn(f"input_pool='trained': the models of {zoo.path} train on {len(pools)} "
                          "different training subsets (train_size, seed), so each model is probed "
                          "on inputs from its own subset, not on one common sample. Use "
                          "input_pool='all' for one sample shared by every model.",
                          TopolensWarning, stacklevel=2)
    if todo:
        zoo.data(root)  # fail early if the data set is missing
        root_s = None if root is None else str(root)
        run_jobs(_features_job,
                 [(r, str(zoo.path), params, root_s) for r in todo],
                 n_jobs=n_jobs, desc="zoo features", unit="model", progress=progress)
    rows = []
    for r in zoo:
        d = _read_cache(_cache_file(zoo, params, r.model_id), r)
        if d is None:
            raise CorruptRecordError(f"Features of {r.model_id} missing after computing them "
                                     f"(under {folder}); delete that folder and rerun.")
        rows.append(d)
    return FeatureTable(
        model_ids=zoo.model_ids,
        topological_names=[str(s) for s in rows[0]["topological_names"]],
        topological=np.vstack([d["topological"] for d in rows]),
        baseline_names=[str(s) for s in rows[0]["baseline_names"]],
        baselines=np.vstack([d["baselines"] for d in rows]),
        gaps=zoo.gaps(), hyperparameters=zoo.hyperparameters(), params=params,
        seconds=np.array([float(d["seconds"]) if "seconds" in d else np.nan for d in rows]),
    )

