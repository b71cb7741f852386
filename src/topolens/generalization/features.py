"""Per-model features for gap prediction: activation topology and PGDL baselines, cached.

Topological features follow Ballester et al. (Neurocomputing 2024): record the hidden
activations (the outputs of every ``nn.ReLU``: "all non-input neurons") on a fixed sample
of training inputs, compute the persistence of the neurons under ``1 - |corr|``
(:func:`topolens.activation_persistence` with ``group="all"``) for ``n_resamples``
neuron samples, summarise each diagram set with
:func:`topolens.vectorize.summary_vector` and average the summaries over the resamples.
The paper's scale is 2000 inputs, 3000 neurons, 20 resamples, H0 and H1
(:data:`PAPER_PARAMS`); every one of these is a field of :class:`FeatureParams`.

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
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .._io import atomic_path, atomic_write_text
from .._parallel import run_jobs
from .._validation import check_int
from ..exceptions import ConstantNeuronWarning, CorruptRecordError, InvalidInputError, TopolensError
from .baselines import BASELINE_NAMES, baseline_measures

__all__ = [
    "PAPER_PARAMS",
    "FeatureParams",
    "FeatureTable",
    "hidden_layers",
    "model_features",
    "topological_features",
    "zoo_features",
]

logger = logging.getLogger(__name__)

#: Bump when the meaning of a cached feature changes (invalidates every cache).
FEATURES_VERSION = 1


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
        Layers whose outputs are the neurons; default: every ``nn.ReLU`` module.
    neuron_sampling : {"uniform", "max_activation"}
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

    def __post_init__(self) -> None:
        for name, lo in (("n_inputs", 3), ("n_neurons", 2), ("n_resamples", 1), ("max_dim", 0),
                         ("top_k", 0), ("n_poly", 0), ("data_seed", 0), ("seed", 0),
                         ("margin_inputs", 1)):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=lo))
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(str(x) for x in self.layers))
        if not 0.0 <= float(self.margin_quantile) <= 1.0:
            raise InvalidInputError(f"margin_quantile must lie in [0, 1], found {self.margin_quantile}.")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["layers"] = None if self.layers is None else list(self.layers)
        return d

    @property
    def key(self) -> str:
        """Cache key: a hash of the parameters and :data:`FEATURES_VERSION`."""
        blob = json.dumps({"v": FEATURES_VERSION, **self.to_dict()}, sort_keys=True)
        return "f-" + hashlib.sha256(blob.encode()).hexdigest()[:12]

    def feature_names(self) -> list[str]:
        from ..vectorize import summary_feature_names

        return ["topo_" + n for n in summary_feature_names(tuple(range(self.max_dim + 1)),
                                                           self.top_k, self.n_poly)]


PAPER_PARAMS = FeatureParams()


def hidden_layers(model: nn.Module) -> list[str]:
    """Names of the ``nn.ReLU`` modules of ``model`` (the default feature layers)."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.ReLU) and n]
    if not names:
        raise InvalidInputError(
            f"{type(model).__name__} has no nn.ReLU modules; pass the layers to use, e.g. "
            "FeatureParams(layers=('fc1', 'fc2')) (see topolens.activations.list_layers).")
    return names


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

    layers = list(params.layers) if params.layers is not None else hidden_layers(model)
    acts = record_activations(model, x[: params.n_inputs], layers, batch_size=500, device=device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConstantNeuronWarning)
        res = activation_persistence(
            acts, layers=layers, group="all", n_neurons=params.n_neurons,
            n_resamples=params.n_resamples, neuron_sampling=params.neuron_sampling,  # type: ignore[arg-type]
            max_dim=params.max_dim, seed=params.seed, device=device)
    for w in caught:  # dead ReLUs are common in a zoo: log them, do not flood the terminal
        if issubclass(w.category, ConstantNeuronWarning):
            logger.debug("%s", w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    dims = tuple(range(params.max_dim + 1))
    vectors = [summary_vector(d, dims, params.top_k, n_poly=params.n_poly)[1]
               for d in next(iter(res.diagrams.values()))]  # one group: all layers together
    return params.feature_names(), np.mean(vectors, axis=0)


def model_features(record: Any, data: Any, params: FeatureParams = PAPER_PARAMS, *,
                   device: Any = None) -> dict[str, np.ndarray]:
    """Topological and baseline features of one zoo model (no cache).

    Returns a dict with ``topological`` and ``baselines`` (float64 arrays) and their
    ``*_names``.
    """
    from ..zoo.train import training_subset

    model = record.load_model("final")
    states = record.load_states()
    sample = fixed_input_sample(data.x_train, params)
    names, topo = topological_features(model, sample, params, device=device)
    idx, y_used = training_subset(record.config, data.y_train.numpy())
    m = min(params.margin_inputs, len(idx))
    base = baseline_measures(model, states["initial"], data.x_train[torch.from_numpy(idx[:m])],
                             torch.from_numpy(y_used[:m]), quantile=params.margin_quantile,
                             device=device)
    return {"topological": topo, "topological_names": np.array(names),
            "baselines": np.array([base[k] for k in BASELINE_NAMES], dtype=np.float64),
            "baseline_names": np.array(BASELINE_NAMES)}


def fixed_input_sample(x_train: torch.Tensor, params: FeatureParams) -> torch.Tensor:
    """The ``n_inputs`` training inputs every model of a zoo is probed with (seeded)."""
    n = len(x_train)
    if params.n_inputs > n:
        raise InvalidInputError(f"n_inputs={params.n_inputs} exceeds the {n} training images.")
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


def _features_job(record: Any, zoo_path: str, params: FeatureParams, dataset: str,
                  root: str | None, n_test: int | None, worker: bool) -> str:
    from ..zoo.train import load_zoo_data

    if worker:
        torch.set_num_threads(1)
    data = load_zoo_data(dataset, root, n_test)
    try:
        feats = model_features(record, data, params)
    except TopolensError as exc:  # say which model failed; the others' caches are kept
        raise type(exc)(f"model {record.model_id} ({record.path}): {exc}") from exc
    path = Path(zoo_path) / "features" / params.key / f"{record.model_id}.npz"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, weights_sha256=np.array(record.weights_sha256), **feats)
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
        Data root of the zoo's data set.
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
    if todo:
        zoo.data(root)  # fail early if the data set is missing
        root_s = None if root is None else str(root)
        run_jobs(_features_job,
                 [(r, str(zoo.path), params, zoo.grid.dataset, root_s, zoo.grid.n_test) for r in todo],
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
    )

