"""Build and train one zoo model from its :class:`~topolens.zoo.grid.ModelConfig`.

Everything here is deterministic from the config's ``seed`` (and the data): the
training subset, the label noise, the initial weights and the batch order. Two
architectures, named so that :func:`topolens.record_activations` can pick layers:

* ``mlp``: ``flatten, fc1, [bn1], relu1, [drop1], ..., fc{depth}, ..., out``;
* ``cnn``: per block ``conv{i}`` (3x3, ``width`` channels, padding 1), ``[bn{i}]``,
  ``relu{i}``, ``pool{i}`` (2x2 max), then ``flatten, [drop], fc, relu_fc, out`` with a
  hidden layer of ``width`` units.

Label noise replaces the labels of ``round(label_noise * train_size)`` training images
by a *different* class drawn uniformly, so ``label_noise`` is exactly the fraction of
wrong labels. The gap is measured as PGDL does: accuracy on the training set the model
was trained on (its noisy labels included) minus accuracy on the test set.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..exceptions import ConfigError, InvalidInputError, MemoryBudgetError
from .grid import DATASETS, ModelConfig

__all__ = [
    "TrainOutcome",
    "ZooData",
    "build_model",
    "check_model_memory",
    "estimate_model_memory",
    "evaluate_model",
    "load_zoo_data",
    "train_model",
    "training_subset",
]

logger = logging.getLogger(__name__)

N_CLASSES = 10


@dataclass(frozen=True)
class ZooData:
    """Images as float32 ``(N, 1, 28, 28)`` tensors in [0, 1] and int64 labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    name: str


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images))
    if x.dtype == torch.uint8:
        x = x.float().div_(255.0)
    return x.float().reshape(len(x), 1, *x.shape[-2:])


@functools.lru_cache(maxsize=2)
def load_zoo_data(dataset: str, root: str | None = None, n_test: int | None = None) -> ZooData:
    """Load a zoo's data set (cached per process: zoo workers reuse it across models).

    Parameters
    ----------
    dataset : {"mnist", "fashion_mnist", "mnist_sample"}
        ``mnist_sample`` is the 6000 + 1000 image sample bundled with topolens (offline).
    root : str, optional
        Data root (default ``TOPOLENS_DATA``); see :func:`topolens.datasets.data_root`.
    n_test : int, optional
        Use the first ``n_test`` test images (default: all).
    """
    from .. import datasets

    if dataset not in DATASETS:
        raise ConfigError(f"Unknown dataset {dataset!r}; expected one of {DATASETS}.")
    if dataset == "mnist_sample":
        (xtr, ytr), (xte, yte) = datasets.load_mnist_sample("train"), datasets.load_mnist_sample("test")
    else:
        load = datasets.load_mnist if dataset == "mnist" else datasets.load_fashion_mnist
        (xtr, ytr), (xte, yte) = load(root, "train"), load(root, "test")
    if n_test is not None:
        if n_test > len(yte):
            raise ConfigError(f"n_test={n_test} exceeds the {len(yte)} test images of {dataset}.")
        xte, yte = xte[:n_test], yte[:n_test]
    return ZooData(_to_tensor(xtr), torch.as_tensor(ytr, dtype=torch.long), _to_tensor(xte),
                   torch.as_tensor(yte, dtype=torch.long), dataset)


def _rng(config: ModelConfig, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, stream])


def training_subset(config: ModelConfig, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the model's training images and the labels it trains on (noise applied).

    Returns
    -------
    indices : int64 array of shape (train_size,), sorted
    labels : int64 array of shape (train_size,)
    """
    y = np.asarray(labels, dtype=np.int64)
    n = len(y)
    size = n if config.train_size is None else config.train_size
    if size > n:
        raise ConfigError(f"train_size={size} exceeds the {n} training images available.")
    rng = _rng(config, 1)
    idx = np.arange(n) if size == n else np.sort(rng.choice(n, size=size, replace=False))
    used = y[idx].copy()
    k = round(config.label_noise * size)
    if k:
        flip = rng.choice(size, size=k, replace=False)
        used[flip] = (used[flip] + rng.integers(1, N_CLASSES, size=k)) % N_CLASSES
    return idx.astype(np.int64), used


def _layer_sizes(config: ModelConfig, image_size: int, in_channels: int) -> tuple[int, int]:
    """(parameters and buffers, activations per input) of ``config``'s network, as Python ints."""
    w, bn = config.width, 4 * config.width if config.batch_norm else 0
    if config.architecture == "mlp":
        fan_in = in_channels * image_size * image_size
        params = fan_in * w + w + (config.depth - 1) * (w * w + w) + config.depth * bn
        acts = fan_in + config.depth * w * 4
    else:
        side, ch, params, acts = image_size, in_channels, 0, in_channels * image_size**2
        for _ in range(config.depth):
            params += ch * w * 9 + w + bn
            acts += 4 * w * side * side
            side, ch = max(side // 2, 1), w
        params += ch * side * side * w + w
        acts += 2 * w
    params += w * N_CLASSES + N_CLASSES  # the output layer, from width w in both architectures
    return params, acts + N_CLASSES


def estimate_model_memory(config: ModelConfig, image_size: int = 28, in_channels: int = 1, *,
                          training: bool = True, eval_batch: int = 2000) -> int:
    """Estimated peak bytes of building (and training) ``config``'s network.

    Training holds float32 weights, gradients, up to two optimiser states, the initial and
    final copies kept for the zoo and the serialised checkpoint (8 copies of the weights),
    plus the activations of a training batch (with their gradients) or of an evaluation
    batch, whichever is larger. Without ``training``: the weights alone.
    """
    params, acts = _layer_sizes(config, image_size, in_channels)
    if not training:
        return 4 * params
    return 4 * (8 * params + max(2 * config.batch_size * acts, eval_batch * acts))


def check_model_memory(config: ModelConfig, image_size: int = 28, in_channels: int = 1, *,
                       training: bool = True, copies: int = 1, limit: Any = "auto") -> None:
    """Refuse (:class:`~topolens.MemoryBudgetError`) a network too large to build or train.

    ``copies`` models at once (parallel workers) must fit ``limit`` (bytes, ``"auto"``: 80%
    of the available memory, None: no check). Checked before anything is allocated.
    """
    from ..homology.memory import memory_budget

    budget = memory_budget(limit)
    need = copies * estimate_model_memory(config, image_size, in_channels, training=training)
    if budget is None or need <= budget:
        return
    params, _ = _layer_sizes(config, image_size, in_channels)
    many = f"{copies} models at once (--jobs), each" if copies > 1 else "one model"
    raise MemoryBudgetError(
        f"{'training' if training else 'building'} the {config.architecture} of depth "
        f"{config.depth} and width {config.width:,} ({params:,} parameters; {many}) needs an "
        f"estimated {need / 2**30:,.2f} GiB, more than the {budget / 2**30:,.2f} GiB available. "
        "Use smaller widths or depths in the grid" + (" or fewer --jobs." if copies > 1 else ".")
    )


def build_model(config: ModelConfig, image_size: int = 28, in_channels: int = 1) -> nn.Module:
    """The untrained network of ``config``, initialised from ``config.seed``.

    Raises
    ------
    MemoryBudgetError
        If its weights alone would not fit the available memory (checked before building).
    ConfigError
        A CNN too deep for the image size.
    """
    check_model_memory(config, image_size, in_channels, training=False)
    torch.manual_seed(config.seed)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    w = config.width
    if config.architecture == "mlp":
        layers["flatten"] = nn.Flatten()
        fan_in = in_channels * image_size * image_size
        for i in range(1, config.depth + 1):
            layers[f"fc{i}"] = nn.Linear(fan_in, w)
            if config.batch_norm:
                layers[f"bn{i}"] = nn.BatchNorm1d(w)
            layers[f"relu{i}"] = nn.ReLU()
            if config.dropout > 0:
                layers[f"drop{i}"] = nn.Dropout(config.dropout)
            fan_in = w
    else:
        side, ch = image_size, in_channels
        for i in range(1, config.depth + 1):
            if side < 2:
                raise ConfigError(f"depth={config.depth} is too deep for {image_size}x{image_size} "
                                  "images with one 2x2 pooling per block; use depth <= "
                                  f"{int(np.log2(image_size))}.")
            layers[f"conv{i}"] = nn.Conv2d(ch, w, 3, padding=1)
            if config.batch_norm:
                layers[f"bn{i}"] = nn.BatchNorm2d(w)
            layers[f"relu{i}"] = nn.ReLU()
            layers[f"pool{i}"] = nn.MaxPool2d(2)
            side, ch = side // 2, w
        layers["flatten"] = nn.Flatten()
        if config.dropout > 0:
            layers["drop"] = nn.Dropout(config.dropout)
        layers["fc"] = nn.Linear(ch * side * side, w)
        layers["relu_fc"] = nn.ReLU()
        fan_in = w
    layers["out"] = nn.Linear(fan_in, N_CLASSES)
    return nn.Sequential(layers)


@torch.no_grad()
def evaluate_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   batch_size: int = 2000) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``model`` on ``(x, y)`` in eval mode."""
    if len(x) != len(y) or len(x) == 0:
        raise InvalidInputError(f"Need as many labels as inputs (> 0); found {len(x)} inputs and "
                                f"{len(y)} labels.")
    was_training = model.training
    model.eval()
    try:
        correct, loss = 0, 0.0
        for s in range(0, len(x), batch_size):
            out = model(x[s:s + batch_size])
            yb = y[s:s + batch_size]
            correct += int((out.argmax(1) == yb).sum())
            loss += float(nn.functional.cross_entropy(out, yb, reduction="sum"))
    finally:
        model.train(was_training)
    return correct / len(x), loss / len(x)


@dataclass
class TrainOutcome:
    """A trained zoo model: its network, initial and final weights, metrics and history."""

    model: nn.Module
    initial_state: dict[str, torch.Tensor]
    metrics: dict[str, float]
    history: dict[str, list[float]]


def _clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_model(config: ModelConfig, data: ZooData) -> TrainOutcome:
    """Train one model of the zoo and measure its generalization gap.

    Parameters
    ----------
    config : ModelConfig
    data : ZooData
        From :func:`load_zoo_data`.

    Returns
    -------
    TrainOutcome
        ``metrics`` holds ``train_accuracy``, ``train_loss`` (on the labels trained with),
        ``train_accuracy_clean`` (same images, true labels), ``test_accuracy``,
        ``test_loss``, ``gap = train_accuracy - test_accuracy``, ``loss_gap``,
        ``seconds``, ``n_parameters``, ``n_train`` and ``epochs_run``; ``history`` the
        per-epoch training loss and accuracy (running, in training mode). With
        ``stop_train_accuracy`` training stops after the first epoch whose running
        training accuracy reaches it (PGDL trained its models to a training-accuracy
        criterion), else after ``epochs``.
    """
    t0 = time.perf_counter()
    check_model_memory(config, data.x_train.shape[-1], data.x_train.shape[1])
    idx, y_used = training_subset(config, data.y_train.numpy())
    x = data.x_train[torch.from_numpy(idx)]
    y = torch.from_numpy(y_used)
    model = build_model(config, image_size=data.x_train.shape[-1], in_channels=data.x_train.shape[1])
    initial = _clone_state(model)
    params = model.parameters()
    if config.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            params, lr=config.learning_rate, momentum=config.momentum,
            weight_decay=config.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(int(config.seed) * 7919 + 17)
    history: dict[str, list[float]] = {"train_loss": [], "train_accuracy": []}
    model.train()
    for _epoch in range(config.epochs):
        order = torch.randperm(len(x), generator=gen)
        total, correct, count = 0.0, 0, 0
        for s in range(0, len(x), config.batch_size):
            b = order[s:s + config.batch_size]
            if len(b) < 2 and config.batch_norm:
                continue  # batch norm cannot normalise a single sample
            opt.zero_grad(set_to_none=True)
            out = model(x[b])
            loss = nn.functional.cross_entropy(out, y[b])
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise InvalidInputError(
                    f"Training diverged (loss {lv}) for config {config.to_dict()}; lower "
                    "the learning rate or remove this value from the grid.")
            loss.backward()
            opt.step()
            total += lv * len(b)
            correct += int((out.detach().argmax(1) == y[b]).sum())
            count += len(b)
        history["train_loss"].append(total / max(count, 1))
        history["train_accuracy"].append(correct / max(count, 1))
        if (config.stop_train_accuracy is not None
                and history["train_accuracy"][-1] >= config.stop_train_accuracy):
            break
    train_acc, train_loss = evaluate_model(model, x, y)
    clean_acc, _ = evaluate_model(model, x, data.y_train[torch.from_numpy(idx)])
    test_acc, test_loss = evaluate_model(model, data.x_test, data.y_test)
    metrics = {
        "train_accuracy": train_acc, "train_loss": train_loss, "train_accuracy_clean": clean_acc,
        "test_accuracy": test_acc, "test_loss": test_loss, "gap": train_acc - test_acc,
        "loss_gap": test_loss - train_loss, "seconds": time.perf_counter() - t0,
        "n_parameters": float(sum(p.numel() for p in model.parameters())),
        "n_train": float(len(idx)),
        "epochs_run": float(len(history["train_loss"])),
    }
    logger.debug("trained %s: %s", config.model_id, metrics)
    return TrainOutcome(model, initial, metrics, history)

