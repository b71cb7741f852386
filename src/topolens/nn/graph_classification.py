"""PersLay graph classification (Carrière et al., AISTATS 2020) on TU benchmarks.

The pipeline of the paper, section 4 and supplementary material, as implemented in the
authors' code (``MathieuCarriere/perslay``: ``perslay/experiments.py``,
``perslay/preprocessing.py``, ``tutorial/experiments.py`` and the per-data-set ``.conf``
files):

1. **Vertex functions.** For every graph and every HKS time ``t`` (0.1 and/or 10), the heat
   kernel signature of the normalised Laplacian
   (:func:`topolens.graphs.signatures.heat_kernel_signature`).
2. **Diagrams.** The extended persistence of the lower-star filtration of ``HKS_t``
   (:func:`topolens.homology.extended.extended_persistence`): four diagrams per time
   (``ord0``, ``rel1``, ``ext0``, ``ext1``), zero-length points dropped, every point
   oriented as ``(min, max)`` (the authors' convention: ``rel1`` and ``ext1`` come from
   gudhi with birth > death). One *channel* per (type, time).
3. **Extra features.** The normalised Laplacian's eigenvalues (decreasing, zero-padded to
   the largest graph) and the 0, 10, ..., 100th percentiles of every ``HKS_t``
   (:func:`topolens.graphs.signatures.spectral_features`).
4. **Per fold** (never looking at the test graphs): every channel is min-max scaled to
   ``[0, 1]`` with the training points (one scale for both coordinates, like the authors'
   ``DiagramScaler(MinMaxScaler)``, which they fit on the whole data set), the ``max_points``
   most persistent points are kept (authors: 500; 200 for IMDB), and the features are
   standardised with the training mean and standard deviation.
5. **Model** (:class:`PersLayGraphClassifier`): one PersLay per channel -- a persistence
   image phi (learnable bandwidth) with a learnable grid weight, sum, then a 2x2 convolution
   with 10 filters (``rho``); for NCI1 two permutation-equivariant (DeepSet) layers
   ``(25, None), (25, max)`` -- concatenated with the features into one linear layer.
6. **Training**: Adam (lr 0.01, eps 1e-4), batch 128, cross-entropy, learning rate halved
   every 20 epochs (``PersLayConfig.lr_decay_epochs``), an exponential moving average of the
   weights (decay 0.9) used for evaluation, accuracy of the last epoch (authors'
   ``final_means``); stratified 10-fold cross-validation (the authors use ``KFold``; the
   paper reports 10 runs of 10 folds).

Speed (same numbers, a CPU budget): :class:`ImagePersLay` evaluates the image PersLay on the
real points only, and :class:`PersLayGraphClassifier` folds each channel's convolution into the
linear head (:meth:`ImageConv.fold_linear`), so neither the ``(B, N, pixels)`` tensors nor the
convolution activations are formed; both are checked against the plain
:class:`~topolens.nn.perslay.PersLay` / ``nn.Conv2d`` path in the tests.

Preprocessed data sets are cached as ``.npz`` files (atomic writes) keyed by a hash of the
graphs and the preprocessing parameters.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import os
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._io import atomic_path
from .._validation import check_choice, check_int
from ..datasets.tu import GraphDataset
from ..exceptions import InvalidInputError, ShapeError
from ..graphs.signatures import (
    hks_from_spectrum,
    hks_percentiles,
    laplacian_spectrum,
    padded_eigenvalues,
)
from ..homology.extended import EXTENDED_DIAGRAMS, extended_persistence
from . import _perslay as F
from ._perslay import pad_diagrams
from .perslay import GridWeight, ImagePhi, PersLay

__all__ = [
    "PAPER_ACCURACY",
    "PAPER_CONFIGS",
    "CVResult",
    "FoldTensors",
    "GraphDiagramData",
    "ImageConv",
    "ImagePersLay",
    "PermEqPersLay",
    "PersLayConfig",
    "PersLayGraphClassifier",
    "cross_validate",
    "default_cache_dir",
    "prepare_fold",
    "preprocess",
    "train_fold",
]

logger = logging.getLogger(__name__)

#: Bump when the meaning of a cached preprocessing changes (invalidates every cache file).
CACHE_VERSION = 1

#: Mean 10-fold accuracy (%) of PersLay in the paper (Carrière et al. 2020, Table 3).
PAPER_ACCURACY: dict[str, float] = {
    "MUTAG": 89.8, "COX2": 80.9, "PROTEINS": 74.8, "NCI1": 73.5, "IMDB-BINARY": 71.2,
}

#: Grid and image bounds on min-max scaled diagrams (the authors' ((-0.001, 1.001), ...)).
UNIT_BOUNDS = ((-0.001, 1.001), (-0.001, 1.001))


@dataclass(frozen=True)
class PersLayConfig:
    """Hyperparameters of the graph pipeline (defaults: the authors' MUTAG setting).

    Attributes
    ----------
    times : tuple of float
        HKS diffusion times; each gives the four diagram channels.
    phi : {"image", "peq"}
        Persistence image + convolution, or two permutation-equivariant layers.
    image_resolution : (int, int)
        Image nodes (birth, persistence).
    image_bandwidth : float
        Initial Gaussian sigma. The authors' TF2 code computes ``exp(-|x - u|^2 s^2)`` with
        ``s = 3`` initially, i.e. ``sigma = 1 / (3 sqrt 2)``.
    grid_resolution : (int, int)
        Cells of the learnable grid weight.
    conv_filters, conv_kernel : int
        The 2-D convolution after the image (0 filters: none).
    peq_dims : tuple of int
        Widths of the permutation-equivariant layers; the first has no pooling term, the
        others subtract a linear map of the max over the diagram (the authors'
        ``[(25, None), (25, "max")]``).
    op : {"sum", "mean", "max"}
    max_points : int
        Most persistent points kept per diagram.
    epochs, batch_size, lr, adam_eps : training (Adam).
    ema_decay : float
        Decay of the moving average of the weights used for evaluation (0: none).
    lr_decay_epochs, lr_decay_rate : the learning rate is multiplied by ``lr_decay_rate``
        every ``lr_decay_epochs`` epochs (staircase). The authors' ``.conf`` files give
        ``decay_steps=20, decay_rate=0.5, staircase=True`` and their TF1 training loop
        advances the global step once per epoch (their later TF2 tutorial applies the same
        schedule per optimiser step, which stops NCI1 after 7 epochs). None keeps the rate
        constant.
    min_lr : float
        Training stops once the decayed learning rate falls below this (0: never). Adam moves
        a weight by about the learning rate per step, so the skipped geometric tail is
        negligible: with halving every 20 epochs the rate is below 1e-5 after 200 epochs,
        whatever the nominal number of epochs (300-500 for several data sets).
    """

    times: tuple[float, ...] = (10.0,)
    phi: str = "image"
    image_resolution: tuple[int, int] = (20, 20)
    image_bandwidth: float = 1.0 / (3.0 * math.sqrt(2.0))
    grid_resolution: tuple[int, int] = (10, 10)
    conv_filters: int = 10
    conv_kernel: int = 2
    peq_dims: tuple[int, ...] = (25, 25)
    op: str = "sum"
    max_points: int = 500
    epochs: int = 300
    batch_size: int = 128
    lr: float = 0.01
    adam_eps: float = 1e-4
    ema_decay: float = 0.9
    lr_decay_epochs: int | None = 20
    lr_decay_rate: float = 0.5
    min_lr: float = 1e-5

    def __post_init__(self) -> None:
        t = tuple(float(x) for x in np.atleast_1d(self.times))
        if not t or not all(math.isfinite(x) and x >= 0 for x in t):
            raise InvalidInputError(f"times must be non-empty finite HKS times >= 0, found {self.times!r}.")
        object.__setattr__(self, "times", t)
        check_choice(self.phi, "phi", ("image", "peq"))
        check_choice(self.op, "op", ("sum", "mean", "max"))
        for name in ("max_points", "epochs", "batch_size"):
            check_int(getattr(self, name), name, minimum=0 if name == "epochs" else 1)
        check_int(self.conv_filters, "conv_filters", minimum=0)
        check_int(self.conv_kernel, "conv_kernel", minimum=1)
        if self.conv_filters and min(self.image_resolution) < self.conv_kernel:
            raise InvalidInputError(
                f"conv_kernel={self.conv_kernel} is larger than the image {self.image_resolution}."
            )
        if not self.peq_dims or any(check_int(d, "peq_dims", minimum=1) is None for d in self.peq_dims):
            raise InvalidInputError(f"peq_dims must be positive ints, found {self.peq_dims!r}.")
        for name in ("lr", "image_bandwidth", "adam_eps"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 < v < math.inf):
                raise InvalidInputError(f"{name} must be a finite number > 0, found {v!r}.")
        if not 0 <= self.ema_decay < 1:
            raise InvalidInputError(f"ema_decay must be in [0, 1), found {self.ema_decay!r}.")
        check_int(self.lr_decay_epochs, "lr_decay_epochs", minimum=1, allow_none=True)
        if not 0 < self.lr_decay_rate <= 1:
            raise InvalidInputError(f"lr_decay_rate must be in (0, 1], found {self.lr_decay_rate!r}.")
        if not (isinstance(self.min_lr, (int, float)) and 0 <= self.min_lr < self.lr):
            raise InvalidInputError(f"min_lr must be in [0, lr), found {self.min_lr!r}.")


#: The authors' per-data-set settings: the ``tutorial/data/<NAME>/<NAME>.conf`` files of
#: MathieuCarriere/perslay (HKS times, image and grid sizes, the DeepSet layers of NCI1, 200
#: points for IMDB, epochs, ``decay_steps=20, decay_rate=0.5``), which agree with
#: ``tutorial/experiments.py`` except for COX2's grid (20 x 20 in the ``.conf``, 10 x 10 there).
PAPER_CONFIGS: dict[str, PersLayConfig] = {
    "MUTAG": PersLayConfig(times=(10.0,), image_resolution=(20, 20), grid_resolution=(10, 10), epochs=100),
    "COX2": PersLayConfig(times=(0.1, 10.0), image_resolution=(20, 20), grid_resolution=(20, 20), epochs=500),
    "PROTEINS": PersLayConfig(times=(10.0,), image_resolution=(15, 15), grid_resolution=(10, 10), epochs=70),
    "NCI1": PersLayConfig(times=(0.1, 10.0), phi="peq", grid_resolution=(10, 10), epochs=300),
    "IMDB-BINARY": PersLayConfig(times=(0.1, 10.0), image_resolution=(20, 20), grid_resolution=(20, 20),
                                 max_points=200, epochs=500),
}


# --------------------------------------------------------------------------- preprocessing
def channel_names(times: Sequence[float]) -> tuple[str, ...]:
    """``("ord0_t10", "rel1_t10", "ext0_t10", "ext1_t10", ...)``: types within times."""
    return tuple(f"{kind}_t{float(t):g}" for t in times for kind in EXTENDED_DIAGRAMS)


@dataclass(frozen=True)
class GraphDiagramData:
    """A preprocessed data set: ragged diagrams per channel, raw features and labels.

    Attributes
    ----------
    name : str
    times : tuple of float
    channels : tuple of str
        ``"<type>_t<time>"``, types in :data:`~topolens.homology.extended.EXTENDED_DIAGRAMS`.
    points : dict str -> float64 ndarray (P_c, 2)
        The points of every graph, concatenated; rows ``(min, max)``.
    offsets : dict str -> int64 ndarray (G + 1,)
        Graph ``g`` owns ``points[c][offsets[c][g]:offsets[c][g + 1]]``.
    features : float64 ndarray (G, F)
        Unstandardised extra features.
    y : int64 ndarray (G,)
        Class indices ``0..n_classes-1``.
    classes : ndarray (n_classes,)
        Original labels, ``classes[y]``.
    """

    name: str
    times: tuple[float, ...]
    channels: tuple[str, ...]
    points: dict[str, np.ndarray]
    offsets: dict[str, np.ndarray]
    features: np.ndarray
    y: np.ndarray
    classes: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_graphs(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.classes.shape[0])

    def counts(self, channel: str) -> np.ndarray:
        """Number of points of every graph in ``channel``, (G,)."""
        return np.diff(self.offsets[channel])

    def diagrams(self, channel: str) -> list[np.ndarray]:
        """The diagrams of ``channel``, one (m_g, 2) array per graph."""
        return np.split(self.points[channel], self.offsets[channel][1:-1])

    def select(self, channels: Sequence[str]) -> GraphDiagramData:
        """A view with only some channels (e.g. one HKS time)."""
        bad = [c for c in channels if c not in self.channels]
        if bad:
            raise InvalidInputError(f"unknown channel(s) {bad}; available: {list(self.channels)}.")
        return replace(self, channels=tuple(channels))


def default_cache_dir() -> Path:
    """``~/.cache/topolens/perslay``, where :func:`preprocess` caches by default."""
    return Path("~/.cache/topolens/perslay").expanduser()


def _dataset_key(dataset: GraphDataset, times: tuple[float, ...], min_persistence: float,
                 n_eigenvalues: int) -> str:
    h = hashlib.sha256()
    h.update(repr((CACHE_VERSION, dataset.name, times, float(min_persistence), int(n_eigenvalues))).encode())
    h.update(np.asarray([g.n_nodes for g in dataset.graphs], dtype=np.int64).tobytes())
    h.update(np.asarray([g.n_edges for g in dataset.graphs], dtype=np.int64).tobytes())
    if dataset.graphs:
        h.update(np.ascontiguousarray(np.concatenate([g.edges.reshape(-1, 2) for g in dataset.graphs]),
                                      dtype=np.int64).tobytes())
    h.update(np.asarray(dataset.y, dtype=np.int64).tobytes())
    return h.hexdigest()


def _save(path: Path, data: GraphDiagramData, key: str) -> None:
    arrays: dict[str, np.ndarray] = {
        "key": np.asarray(key), "name": np.asarray(data.name), "times": np.asarray(data.times, dtype=np.float64),
        "channels": np.asarray(data.channels), "features": data.features, "y": data.y, "classes": data.classes,
    }
    for c in data.channels:
        arrays[f"points__{c}"] = data.points[c]
        arrays[f"offsets__{c}"] = data.offsets[c]
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _load(path: Path, key: str) -> GraphDiagramData | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            channels = tuple(str(c) for c in z["channels"])
            data = GraphDiagramData(
                name=str(z["name"]), times=tuple(float(t) for t in z["times"]), channels=channels,
                points={c: z[f"points__{c}"] for c in channels}, offsets={c: z[f"offsets__{c}"] for c in channels},
                features=z["features"], y=z["y"], classes=z["classes"], info={"cache": str(path)},
            )
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        logger.warning("PersLay cache %s unreadable (%s); recomputing", path, exc)
        return None
    g = data.n_graphs
    if data.features.shape[0] != g or any(data.offsets[c].shape != (g + 1,) for c in channels):
        logger.warning("PersLay cache %s is inconsistent; recomputing", path)
        return None
    return data


def preprocess(dataset: GraphDataset, times: Sequence[float] = (0.1, 10.0), *, min_persistence: float = 0.0,
               n_eigenvalues: int | None = None, cache_dir: str | os.PathLike | None = None,
               cache: bool = True, progress: bool = False) -> GraphDiagramData:
    """Extended persistence diagrams of the HKS filtrations and the extra features of every graph.

    Parameters
    ----------
    dataset : GraphDataset
        E.g. from :func:`topolens.datasets.tu.load_tu`.
    times : sequence of float
        HKS times (the paper: 0.1 and/or 10).
    min_persistence : float
        Passed to :func:`~topolens.homology.extended.extended_persistence` (default: drop
        zero-length points).
    n_eigenvalues : int, optional
        Length of the eigenvalue block of the features; default the largest graph size.
    cache_dir : path-like, optional
        Where cached results live (default :func:`default_cache_dir`).
    cache : bool
        Read and write the cache.
    progress : bool
        Show a tqdm bar over the graphs.

    Returns
    -------
    GraphDiagramData
    """
    if not isinstance(dataset, GraphDataset):
        raise InvalidInputError(
            f"dataset must be a topolens GraphDataset (e.g. load_tu('MUTAG')), found {type(dataset).__name__}."
        )
    if len(dataset) == 0:
        raise InvalidInputError(f"dataset {dataset.name!r} has no graphs.")
    times_t = PersLayConfig(times=tuple(times)).times  # validated
    n_eig = max(g.n_nodes for g in dataset.graphs) if n_eigenvalues is None else n_eigenvalues
    n_eig = check_int(n_eig, "n_eigenvalues", minimum=0)
    key = _dataset_key(dataset, times_t, min_persistence, n_eig)
    path = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dataset.name) or "graphs"
    path = path / f"{safe}-{key[:16]}.npz"
    if cache and path.is_file():
        data = _load(path, key)
        if data is not None:
            logger.info("PersLay preprocessing of %s read from %s", dataset.name, path)
            return data

    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    channels = channel_names(times_t)
    chunks: dict[str, list[np.ndarray]] = {c: [] for c in channels}
    feats = np.zeros((len(dataset), n_eig + hks_percentiles(np.zeros((0, len(times_t)))).size))
    for gi, g in enumerate(tqdm(dataset.graphs, desc=f"PersLay preprocessing {dataset.name}",
                                disable=not progress, leave=False)):
        spec = laplacian_spectrum(g.n_nodes, g.edges)
        hks = hks_from_spectrum(spec, times_t)
        feats[gi] = np.concatenate([padded_eigenvalues(spec.eigenvalues, n_eig), hks_percentiles(hks).ravel()])
        for j, t in enumerate(times_t):
            dg = extended_persistence(g.n_nodes, g.edges, hks[:, j], min_persistence=min_persistence)
            for kind in EXTENDED_DIAGRAMS:
                chunks[f"{kind}_t{t:g}"].append(np.sort(dg[kind], axis=1))  # (min, max) rows
    points, offsets = {}, {}
    for c in channels:
        sizes = np.fromiter((len(a) for a in chunks[c]), dtype=np.int64, count=len(dataset))
        offsets[c] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        points[c] = np.concatenate(chunks[c]).reshape(-1, 2) if len(chunks[c]) else np.zeros((0, 2))
    classes, y = np.unique(np.asarray(dataset.y), return_inverse=True)
    data = GraphDiagramData(dataset.name, times_t, channels, points, offsets, feats, y.astype(np.int64),
                            classes, {"seconds": time.perf_counter() - t0})
    logger.info("PersLay preprocessing of %s (%d graphs, times %s): %.1f s", dataset.name, len(dataset),
                times_t, data.info["seconds"])
    if cache:
        try:
            _save(path, data, key)
        except OSError as exc:  # a read-only cache never stops the computation
            logger.warning("could not write PersLay cache %s (%s)", path, exc)
    return data


# --------------------------------------------------------------------------- per-fold tensors
@dataclass
class FoldTensors:
    """Scaled, padded inputs of every graph for one fold.

    Attributes
    ----------
    dgms : list of (G, N_c, 2) float32 tensors, one per channel (real points first)
    masks : list of (G, N_c) bool tensors
    counts : list of (G,) int64 ndarrays (real points per graph)
    features : (G, F) float32 tensor, standardised with the training graphs
    y : (G,) int64 tensor
    scales : list of (lo, hi) per channel (the training min-max)
    """

    dgms: list[torch.Tensor]
    masks: list[torch.Tensor]
    counts: list[np.ndarray]
    features: torch.Tensor
    y: torch.Tensor
    scales: list[tuple[float, float]]

    def batch(self, idx: np.ndarray) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Graphs ``idx``, each channel cut to the batch's largest diagram."""
        t = torch.as_tensor(idx, dtype=torch.long)
        dg, mk = [], []
        for d, m, c in zip(self.dgms, self.masks, self.counts, strict=True):
            k = max(1, int(c[idx].max(initial=0)))
            dg.append(d[t, :k])
            mk.append(m[t, :k])
        return dg, mk, self.features[t], self.y[t]


def prepare_fold(data: GraphDiagramData, train_idx: np.ndarray, *, max_points: int = 500) -> FoldTensors:
    """Min-max scale every channel and standardise the features with the training graphs only.

    Parameters
    ----------
    data : GraphDiagramData
    train_idx : int ndarray
        Training graphs; their points set each channel's ``(lo, hi)`` (both coordinates
        together) and their features the mean and standard deviation (1 where constant).
    max_points : int
        Most persistent points kept per diagram (:func:`~topolens.nn._perslay.pad_diagrams`).

    Returns
    -------
    FoldTensors
        For every graph (train and test alike, scaled with the training statistics).
    """
    train_idx = np.asarray(train_idx, dtype=np.int64)
    if train_idx.ndim != 1 or train_idx.size == 0:
        raise ShapeError(f"train_idx must be a non-empty 1-D index array, found shape {train_idx.shape}.")
    is_train = np.zeros(data.n_graphs, dtype=bool)
    is_train[train_idx] = True
    dgms, masks, counts, scales = [], [], [], []
    for c in data.channels:
        pts, off = data.points[c], data.offsets[c]
        owner = np.repeat(np.arange(data.n_graphs), np.diff(off))
        tr = pts[is_train[owner]]
        lo, hi = (float(tr.min()), float(tr.max())) if tr.size else (0.0, 1.0)
        span = hi - lo if hi > lo else 1.0
        scaled = ((pts - lo) / span).astype(np.float32)
        d, m = pad_diagrams(np.split(scaled, off[1:-1]), max_points=max_points, dtype=torch.float32)
        dgms.append(d)
        masks.append(m)
        counts.append(m.sum(1).numpy().astype(np.int64))
        scales.append((lo, hi))
    x = data.features
    mu = x[train_idx].mean(0)
    sd = x[train_idx].std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    feats = torch.as_tensor((x - mu) / sd, dtype=torch.float32)
    return FoldTensors(dgms, masks, counts, feats, torch.as_tensor(data.y, dtype=torch.long), scales)


# --------------------------------------------------------------------------- model
class PermEqPersLay(nn.Module):
    """PersLay with permutation-equivariant (DeepSet) layers as ``phi`` (the authors' NCI1 model).

    Layer ``l`` maps the points ``x (B, N, d)`` to ``x A_l + b_l`` (first layer) or
    ``x A_l + b_l - max_{p in D}(x_p) G_l`` (the others; max over the real points of each
    diagram, 0 for an empty one), with no activation in between, as in the authors' code; the
    result is weighted by a learnable grid weight on the (birth, death) points and reduced with
    ``op`` over the real points.

    Parameters
    ----------
    dims : sequence of int
        Widths of the layers.
    weight : nn.Module, optional
        Point weight ``(B, N, 2) -> (B, N)``, e.g. :class:`~topolens.nn.perslay.GridWeight`.
    op : {"sum", "mean", "max"}

    Attributes
    ----------
    out_features : int
    """

    def __init__(self, dims: Sequence[int], weight: nn.Module | None = None, op: str = "sum") -> None:
        super().__init__()
        dims = [check_int(d, "dims", minimum=1) for d in dims]
        if not dims:
            raise InvalidInputError("dims must hold at least one layer width.")
        self.op = check_choice(op, "op", ("sum", "mean", "max"))
        widths = [2, *dims]
        self.lin = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.pool = nn.ModuleList(
            nn.Linear(a, b, bias=False) if i > 0 else nn.Identity()
            for i, (a, b) in enumerate(itertools.pairwise(widths))
        )
        self.weight = weight
        self.out_features = int(dims[-1])

    def forward(self, dgms: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, N, 2), (B, N) -> (B, out_features)``."""
        dgms, mask = F.check_batch(dgms, mask)
        x = F._zero_padding(dgms, mask)
        any_pt = mask.any(1, keepdim=True)
        for i, (lin, pool) in enumerate(zip(self.lin, self.pool, strict=True)):
            out = lin(x)
            if i > 0:
                mx = torch.where(mask[..., None], x, x.new_full((), -math.inf)).amax(1)
                mx = torch.where(any_pt, mx, mx.new_zeros(()))
                out = out - pool(mx)[:, None, :]
            x = out
        w = self.weight(F._zero_padding(dgms, mask)) if self.weight is not None else None
        return F.perslay(x, mask, w, self.op)


class ImageConv(nn.Conv2d):
    """``Conv2d(1, filters, kernel)`` (stride 1, no padding) on a flattened image, flattened back.

    The ``rho`` of the authors' image channels. The same parameters and numbers as
    ``nn.Sequential(nn.Unflatten(1, (1, H, W)), nn.Conv2d(1, filters, kernel), nn.Flatten())``,
    computed as one matrix product of the ``kernel**2`` shifted views of the image: with a
    single input channel this is several times faster on a CPU than the generic convolution
    (whose backward pass dominated training).

    Parameters
    ----------
    image_shape : (int, int)
        ``(H, W)`` of the flattened input, row-major.
    filters, kernel : int

    Attributes
    ----------
    out_features : int
        ``filters * (H - kernel + 1) * (W - kernel + 1)``.
    """

    def __init__(self, image_shape: tuple[int, int], filters: int, kernel: int) -> None:
        h, w = (check_int(v, "image_shape", minimum=1) for v in image_shape)
        k = check_int(kernel, "kernel", minimum=1)
        if k > min(h, w):
            raise InvalidInputError(f"kernel {k} is larger than the image {(h, w)}.")
        super().__init__(1, check_int(filters, "filters", minimum=1), k)
        self.image_shape = (h, w)
        self.out_features = self.out_channels * (h - k + 1) * (w - k + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``(B, H * W) -> (B, out_features)`` (channel-major, like ``nn.Flatten``)."""
        h, w = self.image_shape
        k = self.kernel_size[0]
        img = x.reshape(x.shape[0], h, w)
        ho, wo = h - k + 1, w - k + 1
        patches = torch.stack([img[:, a:a + ho, b:b + wo] for a in range(k) for b in range(k)], dim=-1)
        out = patches @ self.weight.reshape(self.out_channels, k * k).T + self.bias  # (B, ho, wo, filters)
        return out.permute(0, 3, 1, 2).reshape(x.shape[0], -1)

    def fold_linear(self, head_weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fold a following linear map into one on the image: ``L(conv(x)) = x @ W.T + c``.

        Parameters
        ----------
        head_weight : tensor of shape (K, out_features)
            The block of a linear layer's weight that reads this convolution's output.

        Returns
        -------
        W : tensor of shape (K, H * W)
            ``conv_transpose2d`` of the head weights with the kernel (the adjoint of the
            convolution).
        c : tensor of shape (K,)
            The contribution of the convolution's bias.
        """
        h, w = self.image_shape
        k = self.kernel_size[0]
        hb = head_weight.reshape(head_weight.shape[0], self.out_channels, h - k + 1, w - k + 1)
        weff = nn.functional.conv_transpose2d(hb, self.weight)  # (K, 1, H, W)
        return weff.reshape(head_weight.shape[0], h * w), hb.sum((2, 3)) @ self.bias


class ImagePersLay(nn.Module):
    """``PersLay(ImagePhi, weight, op in {"sum", "mean"}, rho)`` without the (B, N, pixels) tensor.

    The persistence-image Gaussian is separable, ``phi(p)[i, j] = g_pers(p)[i] * g_birth(p)[j]``,
    so ``sum_p w(p) phi(p)`` is a sum of outer products of two short vectors: the same numbers as
    :class:`~topolens.nn.perslay.PersLay` with :class:`~topolens.nn.perslay.ImagePhi` (its
    parameters and grid are used), computed on the real points only (``P`` of them in the
    batch, however large the padding) with ``O(P n_birth n_pers)`` work and no
    ``(B, N, n_pers * n_birth)`` tensor: several times faster on the TU data sets on a CPU.

    Parameters
    ----------
    phi : ImagePhi
    weight : nn.Module, optional
        ``(B, N, 2) -> (B, N)``.
    op : {"sum", "mean"}
    rho : nn.Module, optional
        Applied to the flattened ``(B, n_pers * n_birth)`` image.

    Attributes
    ----------
    out_features : int
    """

    def __init__(self, phi: ImagePhi, weight: nn.Module | None = None, op: str = "sum",
                 rho: nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(phi, ImagePhi):
            raise InvalidInputError(f"phi must be an ImagePhi, found {type(phi).__name__}.")
        self.op = check_choice(op, "op", ("sum", "mean"))
        self.phi, self.weight, self.rho = phi, weight, rho
        # PersLay validates rho and works out its output width
        self.out_features = PersLay(phi, None, op, rho=rho).out_features

    def forward(self, dgms: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, N, 2), (B, N) -> (B, out_features)``."""
        out = self.image(dgms, mask)
        return self.rho(out) if self.rho is not None else out

    def _point_factors(self, dgms: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Diagram index (P,), weighted persistence factor (P, n_pers) and birth factor (P, n_birth)
        of the P real points of the batch (padding costs nothing)."""
        dgms, mask = F.check_batch(dgms, mask)
        rows, cols = mask.nonzero(as_tuple=True)
        pts = dgms[rows, cols]  # (P, 2)
        gx, gy = F._image_factors(pts, self.phi.bandwidth, self.phi.xs, self.phi.ys)  # (P, nb), (P, np)
        if self.weight is not None:  # a point weight is pointwise: (1, P, 2) -> (1, P)
            gy = gy * self.weight(pts[None])[0][:, None]
        if self.op == "mean":
            gy = gy / mask.sum(1).clamp(min=1).to(gy.dtype)[rows][:, None]
        return rows, gy, gx

    def image(self, dgms: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The weighted, reduced image before ``rho``: ``(B, n_pers * n_birth)``."""
        rows, gy, gx = self._point_factors(dgms, mask)
        outer = (gy[:, :, None] * gx[:, None, :]).reshape(rows.shape[0], self.phi.out_features)
        return outer.new_zeros((dgms.shape[0], self.phi.out_features)).index_add(0, rows, outer)

    def project(self, dgms: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``image(dgms, mask) @ weight.T`` without forming the images: ``(B, K)``.

        ``weight`` (K, n_pers * n_birth); per point, ``g_pers^T W_k g_birth``, summed per diagram.
        """
        rows, gy, gx = self._point_factors(dgms, mask)
        k = weight.shape[0]
        npers, nb = gy.shape[1], gx.shape[1]
        wk = weight.reshape(k, npers, nb).permute(1, 0, 2).reshape(npers, k * nb)
        vals = ((gy @ wk).reshape(-1, k, nb) * gx[:, None, :]).sum(-1)  # (P, K)
        return vals.new_zeros((dgms.shape[0], k)).index_add(0, rows, vals)


class PersLayGraphClassifier(nn.Module):
    """One PersLay per diagram channel, concatenated with the graph features, into a linear layer.

    Parameters
    ----------
    n_channels : int
        Number of diagram channels (4 per HKS time).
    n_features : int
        Width of the extra features (0 for none).
    n_classes : int
    config : PersLayConfig, optional
        Architecture (``phi``, image/grid resolution, bandwidth, convolution, DeepSet widths,
        op); the training fields are ignored here.
    fused : bool, default True
        Compute ``head(concat(conv(image_c)))`` as ``sum_c image_c @ W_c.T + const`` with
        ``W_c`` the convolution's adjoint applied to the head's weights
        (:meth:`ImageConv.fold_linear`): the same function of the same parameters (so the
        same gradients and training), without the ``(B, filters, H', W')`` activations --
        several times faster. ``False`` runs the layers one after the other.

    Notes
    -----
    Image channel: ``PersLay(ImagePhi(UNIT_BOUNDS, image_resolution, image_bandwidth),
    GridWeight(UNIT_BOUNDS, grid_resolution), op, rho=Conv2d(1, conv_filters, conv_kernel) +
    flatten)`` (:class:`ImagePersLay` and :class:`ImageConv` compute it). DeepSet channel:
    :class:`PermEqPersLay`. Inputs are expected min-max scaled to ``[0, 1]``
    (:func:`prepare_fold`).
    """

    def __init__(self, n_channels: int, n_features: int, n_classes: int, config: PersLayConfig | None = None,
                 *, fused: bool = True) -> None:
        super().__init__()
        self.fused = bool(fused)
        self.n_channels = check_int(n_channels, "n_channels", minimum=1)
        self.n_features = check_int(n_features, "n_features", minimum=0)
        self.n_classes = check_int(n_classes, "n_classes", minimum=2)
        cfg = config if config is not None else PersLayConfig()
        if not isinstance(cfg, PersLayConfig):
            raise InvalidInputError(f"config must be a PersLayConfig, found {type(cfg).__name__}.")
        self.config = cfg
        layers: list[nn.Module] = []
        for _ in range(self.n_channels):
            weight = GridWeight(UNIT_BOUNDS, cfg.grid_resolution)
            if cfg.phi == "image":
                nb, npers = cfg.image_resolution
                rho = ImageConv((npers, nb), cfg.conv_filters, cfg.conv_kernel) if cfg.conv_filters else None
                phi = ImagePhi(UNIT_BOUNDS, cfg.image_resolution, cfg.image_bandwidth)
                if cfg.op in ("sum", "mean"):
                    layers.append(ImagePersLay(phi, weight, op=cfg.op, rho=rho))
                else:
                    layers.append(PersLay(phi, weight, op=cfg.op, rho=rho))
            else:
                layers.append(PermEqPersLay(cfg.peq_dims, weight, op=cfg.op))
        self.perslays = nn.ModuleList(layers)
        self.out_dims = [int(m.out_features) for m in layers]
        self.head = nn.Linear(sum(self.out_dims) + self.n_features, self.n_classes)

    def forward(self, dgms: Sequence[torch.Tensor], masks: Sequence[torch.Tensor],
                features: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits ``(B, n_classes)``.

        Parameters
        ----------
        dgms : sequence of (B, N_c, 2) tensors, one per channel
        masks : sequence of (B, N_c) bool tensors
        features : (B, n_features) tensor, or None when ``n_features == 0``
        """
        if len(dgms) != self.n_channels or len(masks) != self.n_channels:
            raise ShapeError(
                f"expected {self.n_channels} diagram channels (and masks), found {len(dgms)} and {len(masks)}."
            )
        bsz = dgms[0].shape[0] if isinstance(dgms[0], torch.Tensor) else -1
        if self.n_features and (not isinstance(features, torch.Tensor) or features.shape != (bsz, self.n_features)):
            shape = tuple(features.shape) if isinstance(features, torch.Tensor) else None
            raise ShapeError(f"features must have shape (B, n_features) = ({bsz}, {self.n_features}), found {shape}.")
        if self.fused:
            return self._forward_fused(dgms, masks, features)
        parts = [layer(d, m) for layer, d, m in zip(self.perslays, dgms, masks, strict=True)]
        if self.n_features:
            parts.append(features.to(parts[0].dtype))
        return self.head(torch.cat(parts, dim=1))

    def _forward_fused(self, dgms: Sequence[torch.Tensor], masks: Sequence[torch.Tensor],
                       features: torch.Tensor | None) -> torch.Tensor:
        w_head = self.head.weight
        out = self.head.bias
        start = 0
        for layer, d, m, width in zip(self.perslays, dgms, masks, self.out_dims, strict=True):
            block = w_head[:, start:start + width]
            start += width
            if isinstance(layer, ImagePersLay) and isinstance(layer.rho, ImageConv):
                weff, const = layer.rho.fold_linear(block)
                out = out + layer.project(d, m, weff) + const
            else:
                out = out + layer(d, m) @ block.T
        if self.n_features:
            out = out + features.to(w_head.dtype) @ w_head[:, start:].T  # type: ignore[union-attr]
        return out


# --------------------------------------------------------------------------- training
def _accuracy(model: nn.Module, params: dict[str, torch.Tensor], fold: FoldTensors, idx: np.ndarray,
              batch: int = 512) -> float:
    correct = 0
    with torch.no_grad():
        for s in range(0, idx.size, batch):
            dg, mk, x, y = fold.batch(idx[s:s + batch])
            logits = torch.func.functional_call(model, params, (dg, mk, x))
            correct += int((logits.argmax(1) == y).sum())
    return correct / max(idx.size, 1)


@dataclass
class FoldResult:
    """Outcome of one fold: final test and train accuracy (moving-average weights), seconds."""

    test_accuracy: float
    train_accuracy: float
    seconds: float
    history: list[float]
    epochs_run: int = 0
    steps: int = 0


def train_fold(data: GraphDiagramData, train_idx: np.ndarray, test_idx: np.ndarray, config: PersLayConfig,
               *, seed: int = 0, fold: FoldTensors | None = None, eval_every: int = 0,
               progress: bool = False) -> FoldResult:
    """Train a :class:`PersLayGraphClassifier` on ``train_idx`` and test it on ``test_idx``.

    Parameters
    ----------
    data : GraphDiagramData
    train_idx, test_idx : int ndarrays
    config : PersLayConfig
    seed : int
        Seeds the initialisation and the batch order.
    fold : FoldTensors, optional
        Precomputed :func:`prepare_fold` output (computed from ``train_idx`` otherwise).
    eval_every : int
        Record the test accuracy every this many epochs in ``history`` (0: never).
    progress : bool
        A tqdm bar over the epochs.

    Returns
    -------
    FoldResult
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    train_idx = np.asarray(train_idx, dtype=np.int64)
    test_idx = np.asarray(test_idx, dtype=np.int64)
    fold = fold if fold is not None else prepare_fold(data, train_idx, max_points=config.max_points)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = PersLayGraphClassifier(len(data.channels), data.features.shape[1], data.n_classes, config)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, eps=config.adam_eps, foreach=True)
    sched = (torch.optim.lr_scheduler.StepLR(opt, config.lr_decay_epochs, config.lr_decay_rate)
             if config.lr_decay_epochs else None)
    params = dict(model.named_parameters())
    ema = {k: p.detach().clone() for k, p in params.items()}
    ema_list, live_list = list(ema.values()), [p.detach() for p in params.values()]
    buffers = dict(model.named_buffers())
    loss_fn = nn.CrossEntropyLoss()
    history: list[float] = []
    steps, epochs_run = 0, 0
    for epoch in tqdm(range(config.epochs), desc="epochs", disable=not progress, leave=False):
        if sched is not None and opt.param_groups[0]["lr"] < config.min_lr:
            break
        epochs_run = epoch + 1
        model.train()
        order = rng.permutation(train_idx)
        for s in range(0, order.size, config.batch_size):
            dg, mk, x, y = fold.batch(order[s:s + config.batch_size])
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(dg, mk, x), y)
            loss.backward()
            opt.step()
            steps += 1
            with torch.no_grad():  # ema <- decay * ema + (1 - decay) * weights
                torch._foreach_lerp_(ema_list, live_list, 1.0 - config.ema_decay)
        if sched is not None:
            sched.step()
        if eval_every and (epoch + 1) % eval_every == 0:
            model.eval()
            history.append(_accuracy(model, {**ema, **buffers}, fold, test_idx))
    model.eval()
    final = {**ema, **buffers}
    return FoldResult(_accuracy(model, final, fold, test_idx), _accuracy(model, final, fold, train_idx),
                      time.perf_counter() - t0, history, epochs_run, steps)


@dataclass
class CVResult:
    """Per-fold results of :func:`cross_validate` (accuracies are fractions in [0, 1])."""

    name: str
    accuracies: np.ndarray
    train_accuracies: np.ndarray
    seconds: np.ndarray
    config: PersLayConfig
    preprocess_seconds: float
    histories: list[list[float]]
    epochs_run: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.accuracies.mean())

    @property
    def std(self) -> float:
        return float(self.accuracies.std())


def cross_validate(dataset: GraphDataset | GraphDiagramData, folds: int = 10, seed: int = 0,
                   config: PersLayConfig | None = None, *, epochs: int | None = None,
                   cache_dir: str | os.PathLike | None = None, cache: bool = True, progress: bool = True,
                   eval_every: int = 0, return_details: bool = False) -> np.ndarray | CVResult:
    """Stratified k-fold cross-validated accuracy of the PersLay graph classifier.

    Parameters
    ----------
    dataset : GraphDataset or GraphDiagramData
        Raw graphs (preprocessed with :func:`preprocess`, cached) or a preprocessed set.
    folds : int
        Number of stratified folds (shuffled with ``seed``).
    seed : int
        Seeds the split and, with the fold number, every fold's training.
    config : PersLayConfig, optional
        Default: :data:`PAPER_CONFIGS` for the data set's name, else :class:`PersLayConfig()`.
    epochs : int, optional
        Overrides ``config.epochs``.
    cache_dir, cache : see :func:`preprocess`.
    progress : bool
        tqdm bars (preprocessing, folds).
    eval_every : int
        Record each fold's test accuracy every this many epochs (for learning curves).
    return_details : bool
        Return a :class:`CVResult` instead of the accuracies.

    Returns
    -------
    ndarray of shape (folds,) or CVResult
        Test accuracy (fraction) of every fold: the moving-average weights after the last epoch.
    """
    from sklearn.model_selection import StratifiedKFold
    from tqdm.auto import tqdm

    folds = check_int(folds, "folds", minimum=2)
    name = dataset.name
    cfg = config if config is not None else PAPER_CONFIGS.get(name, PersLayConfig())
    if epochs is not None:
        cfg = replace(cfg, epochs=check_int(epochs, "epochs", minimum=0))
    t0 = time.perf_counter()
    if isinstance(dataset, GraphDiagramData):
        data = dataset
        wanted = channel_names(cfg.times)
        if set(wanted) - set(data.channels):
            raise InvalidInputError(f"the preprocessed data has channels {list(data.channels)}, the config needs "
                                    f"{list(wanted)}; preprocess with times={cfg.times}.")
        data = data.select(wanted)
    else:
        data = preprocess(dataset, cfg.times, cache_dir=cache_dir, cache=cache, progress=progress)
    prep = time.perf_counter() - t0
    counts = np.bincount(data.y)
    if counts.min() < folds:
        raise InvalidInputError(f"{name}: the smallest class has {counts.min()} graphs, fewer than folds={folds}.")
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    results = []
    bar = tqdm(list(skf.split(np.zeros(data.n_graphs), data.y)), desc=f"PersLay CV {name}", disable=not progress)
    for k, (tr, te) in enumerate(bar):
        res = train_fold(data, tr, te, cfg, seed=seed * 1000 + k, eval_every=eval_every)
        results.append(res)
        logger.info("%s fold %d/%d: test %.3f, train %.3f (%d epochs, %.1f s)", name, k + 1, folds,
                    res.test_accuracy, res.train_accuracy, res.epochs_run, res.seconds)
        bar.set_postfix(acc=f"{np.mean([r.test_accuracy for r in results]):.3f}")
    acc = np.array([r.test_accuracy for r in results])
    if not return_details:
        return acc
    return CVResult(name, acc, np.array([r.train_accuracy for r in results]), np.array([r.seconds for r in results]),
                    cfg, prep, [r.history for r in results], np.array([r.epochs_run for r in results]))
