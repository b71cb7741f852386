"""Build and train one zoo model from its :class:`~topolens.zoo.grid.ModelConfig`.

Everything here is deterministic from the config's ``seed`` (and the data): the
training subset, the label noise, the initial weights and the batch order. Three
architectures, named so that :func:`topolens.record_activations` can pick layers
(``[...]`` only with ``batch_norm`` / ``dropout > 0``):

=========  ==================================================================================
name       modules
=========  ==================================================================================
``mlp``    ``flatten, fc1, [bn1], relu1, [drop1], ..., fc{depth}, ..., out``
``cnn``    per block ``conv{i}`` (3x3, ``width`` channels, padding 1), ``[bn{i}]``,
           ``relu{i}``, ``pool{i}`` (2x2 max); then ``flatten, [drop], fc, relu_fc, out``
           with a hidden layer of ``width`` units
``vgg``    VGG-like, as PGDL's CNNs: per block ``conv{i}`` (3x3, padding 1,
           ``width * 2**(i-1)`` channels: the width doubles per block), ``[bn{i}]``
           (BatchNorm2d, before the ReLU), ``relu{i}``, ``pool{i}`` (2x2 max); then
           ``flatten``, ``dense_layers`` times ``fc{j}`` (``dense_width`` units),
           ``relu_fc{j}``, ``[drop_fc{j}]``; then ``out``
=========  ==================================================================================

Every network ends in ``out``, a linear layer with 10 outputs (the logits).

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
    """Inputs as float32 tensors and int64 labels: ``(N, 1, 28, 28)`` images in [0, 1] for the
    grid zoos' data sets; an imported zoo's stored data in the layout its models take (NCHW
    images or ``(N, F)`` features)."""

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
    """(parameters and buffers, activations per input) of ``config``'s network, as Python ints.

    Batch norm counts 4 numbers per channel (weight, bias, running mean and variance);
    activations count every module's output (a conv block's conv, norm, ReLU and pooling
    outputs are bounded by 4 maps of the conv's size).
    """
    w, depth = config.width, config.depth
    if config.architecture == "mlp":  # closed form: a grid's absurd depth is refused at once
        fan_in = in_channels * image_size * image_size
        bn = 4 * w if config.batch_norm else 0
        params = fan_in * w + w + (depth - 1) * (w * w + w) + depth * bn
        return _plus_output(params, fan_in + depth * 4 * w, w)
    _check_depth(config, image_size)  # bounds the loop (and a vgg's doubling widths)
    side, ch, params, acts = image_size, in_channels, 0, in_channels * image_size**2
    for i in range(config.depth):
        out_ch = w * 2**i if config.architecture == "vgg" else w
        params += ch * out_ch * 9 + out_ch + (4 * out_ch if config.batch_norm else 0)
        acts += 4 * out_ch * side * side
        side, ch = max(side // 2, 1), out_ch
    fan_in = ch * side * side  # flatten is a view: no new activations
    vgg = config.architecture == "vgg"
    dense = [config.dense_width] * config.dense_layers if vgg else [w]
    for units in dense:
        params += fan_in * units + units
        acts += (3 if vgg and config.dropout > 0 else 2) * units  # linear, ReLU, [dropout]
        fan_in = units
    return _plus_output(params, acts, fan_in)


def _plus_output(params: int, acts: int, fan_in: int) -> tuple[int, int]:
    """Add the 10-class output layer fed by ``fan_in`` units."""
    return params + fan_in * N_CLASSES + N_CLASSES, acts + N_CLASSES


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

    _check_depth(config, image_size)
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
    if config.architecture == "mlp":
        fan_in = _mlp_layers(config, layers, in_channels * image_size * image_size)
    else:
        fan_in = _conv_blocks(config, layers, image_size, in_channels)
        layers["flatten"] = nn.Flatten()
        if config.architecture == "cnn":
            if config.dropout > 0:
                layers["drop"] = nn.Dropout(config.dropout)
            layers["fc"] = nn.Linear(fan_in, config.width)
            layers["relu_fc"] = nn.ReLU()
            fan_in = config.width
        else:
            for j in range(1, config.dense_layers + 1):
                layers[f"fc{j}"] = nn.Linear(fan_in, config.dense_width)
                layers[f"relu_fc{j}"] = nn.ReLU()
                if config.dropout > 0:
                    layers[f"drop_fc{j}"] = nn.Dropout(config.dropout)
                fan_in = config.dense_width
    layers["out"] = nn.Linear(fan_in, N_CLASSES)
    return nn.Sequential(layers)


def _mlp_layers(config: ModelConfig, layers: OrderedDict[str, nn.Module], fan_in: int) -> int:
    """Append the MLP's hidden layers to ``layers``; return the last layer's width."""
    layers["flatten"] = nn.Flatten()
    for i in range(1, config.depth + 1):
        layers[f"fc{i}"] = nn.Linear(fan_in, config.width)
        if config.batch_norm:
            layers[f"bn{i}"] = nn.BatchNorm1d(config.width)
        layers[f"relu{i}"] = nn.ReLU()
        if config.dropout > 0:
            layers[f"drop{i}"] = nn.Dropout(config.dropout)
        fan_in = config.width
    return fan_in


def _check_depth(config: ModelConfig, image_size: int) -> None:
    """Refuse more conv blocks than 2x2 poolings the image size allows (before sizing them)."""
    if config.architecture != "mlp" and image_size >> (config.depth - 1) < 2:
        raise ConfigError(f"depth={config.depth} is too deep for {image_size}x{image_size} images "
                          "with one 2x2 pooling per block; use depth <= "
                          f"{int(np.log2(image_size))}.")


def _conv_blocks(config: ModelConfig, layers: OrderedDict[str, nn.Module], image_size: int,
                 in_channels: int) -> int:
    """Append the conv blocks (cnn: constant width; vgg: doubling) to ``layers``.

    Returns the number of features after flattening the last block.
    """
    side, ch = image_size, in_channels
    for i in range(1, config.depth + 1):
        out_ch = config.width * 2 ** (i - 1) if config.architecture == "vgg" else config.width
        layers[f"conv{i}"] = nn.Conv2d(ch, out_ch, 3, padding=1)
        if config.batch_norm:
            layers[f"bn{i}"] = nn.BatchNorm2d(out_ch)
        layers[f"relu{i}"] = nn.ReLU()
        layers[f"pool{i}"] = nn.MaxPool2d(2)
        side, ch = side // 2, out_ch
    return ch * side * side


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


#: with a stopping criterion and a network with dropout or batch norm (whose training-mode
#: outputs differ from its eval-mode ones), check the criterion at least every this many
#: epochs, even when the running statistics are far from it
CHECK_EVERY = 5
#: the running statistics are "close" to the criterion (so it is checked) when the running
#: loss is <= LOSS_GATE * stop_train_loss or the running accuracy >= stop_train_accuracy - ACC_GATE
LOSS_GATE = 5.0
ACC_GATE = 0.01


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
        ``metrics`` holds ``train_accuracy``, ``train_loss`` (final, eval mode, on the
        training subset and the labels trained with), ``train_accuracy_clean`` (same images,
        true labels), ``test_accuracy``, ``test_loss``, ``gap = train_accuracy -
        test_accuracy``, ``loss_gap``, ``seconds``, ``n_parameters``, ``n_train``,
        ``epochs_run`` and ``criterion_met`` (1.0 or 0.0; 1.0 when no criterion is set, as
        every model then trains its ``epochs`` by design). ``history`` holds the per-epoch
        running training loss and accuracy (training mode, averaged over the batches) and,
        under ``checked_*``, the epochs (1-based) at which the criterion was evaluated with
        the eval-mode loss and accuracy found there.

    Notes
    -----
    Stopping criterion (PGDL trained its models to one): with ``stop_train_loss`` and/or
    ``stop_train_accuracy`` set, training stops after the first epoch at which the
    cross-entropy on the whole training subset is <= ``stop_train_loss`` or its accuracy is
    >= ``stop_train_accuracy`` (either one), both measured in eval mode (dropout off, batch
    norm on its running statistics) after the epoch, not from the running batch averages.
    To keep this cheap the evaluation runs only at epochs whose running statistics are
    close (running loss <= :data:`LOSS_GATE` x ``stop_train_loss`` or running accuracy >=
    ``stop_train_accuracy`` - :data:`ACC_GATE`), at the last epoch, and, for a network
    with dropout or batch norm (whose running statistics can stay far from its eval-mode
    ones), at every :data:`CHECK_EVERY`-th epoch; so such a model may stop up to
    ``CHECK_EVERY - 1`` epochs after the first epoch it met the criterion. (An evaluation
    costs about one training epoch on one CPU thread.) A model that has not met it at
    ``epochs`` gets ``criterion_met = 0``.
    """
    t0 = time.perf_counter()
    check_model_memory(config, data.x_train.shape[-1], data.x_train.shape[1])
    idx, y_used = training_subset(config, data.y_train.numpy())
    x = data.x_train[torch.from_numpy(idx)]
    y = torch.from_numpy(y_used)
    model = build_model(config, image_size=data.x_train.shape[-1], in_channels=data.x_train.shape[1])
    initial = _clone_state(model)
    opt = _optimizer(config, model)
    gen = torch.Generator().manual_seed(int(config.seed) * 7919 + 17)
    history: dict[str, list[float]] = {"train_loss": [], "train_accuracy": [], "checked_epochs": [],
                                       "checked_train_loss": [], "checked_train_accuracy": []}
    has_criterion = config.stop_train_loss is not None or config.stop_train_accuracy is not None
    every = CHECK_EVERY if any(isinstance(m, (nn.Dropout, nn.modules.batchnorm._BatchNorm))
                               for m in model.modules()) else config.epochs
    final: tuple[float, float] | None = None  # eval-mode (accuracy, loss) after the last epoch
    met = not has_criterion
    for epoch in range(1, config.epochs + 1):
        run_loss, run_acc = _train_epoch(model, opt, x, y, config, gen)
        history["train_loss"].append(run_loss)
        history["train_accuracy"].append(run_acc)
        final = None
        if has_criterion and (epoch == config.epochs or epoch % every == 0
                              or _close(config, run_loss, run_acc)):
            final = evaluate_model(model, x, y)
            history["checked_epochs"].append(float(epoch))
            history["checked_train_accuracy"].append(final[0])
            history["checked_train_loss"].append(final[1])
            if _criterion_met(config, *final):
                met = True
                break
    train_acc, train_loss = final if final is not None else evaluate_model(model, x, y)
    y_true = data.y_train[torch.from_numpy(idx)]
    # without label noise the true labels are the trained ones: skip a second forward pass
    clean_acc = train_acc if torch.equal(y_true, y) else evaluate_model(model, x, y_true)[0]
    test_acc, test_loss = evaluate_model(model, data.x_test, data.y_test)
    metrics = {
        "train_accuracy": train_acc, "train_loss": train_loss, "train_accuracy_clean": clean_acc,
        "test_accuracy": test_acc, "test_loss": test_loss, "gap": train_acc - test_acc,
        "loss_gap": test_loss - train_loss, "seconds": time.perf_counter() - t0,
        "n_parameters": float(sum(p.numel() for p in model.parameters())),
        "n_train": float(len(idx)),
        "epochs_run": float(len(history["train_loss"])),
        "criterion_met": 1.0 if met else 0.0,
    }
    logger.debug("trained %s: %s", config.model_id, metrics)
    return TrainOutcome(model, initial, metrics, history)


def _optimizer(config: ModelConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.learning_rate, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.learning_rate, weight_decay=config.weight_decay)


def _train_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                 config: ModelConfig, gen: torch.Generator) -> tuple[float, float]:
    """One epoch of minibatch training; the running (training-mode) mean loss and accuracy."""
    model.train()
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
    return total / max(count, 1), correct / max(count, 1)


def _close(config: ModelConfig, run_loss: float, run_acc: float) -> bool:
    """Whether an epoch's running statistics are close enough to check the criterion."""
    return ((config.stop_train_loss is not None and run_loss <= LOSS_GATE * config.stop_train_loss)
            or (config.stop_train_accuracy is not None
                and run_acc >= config.stop_train_accuracy - ACC_GATE))


def _criterion_met(config: ModelConfig, accuracy: float, loss: float) -> bool:
    """The stopping criterion on eval-mode training accuracy and loss (either one)."""
    return ((config.stop_train_loss is not None and loss <= config.stop_train_loss)
            or (config.stop_train_accuracy is not None and accuracy >= config.stop_train_accuracy))
