"""Small reference models and a plain training loop, used by the demo and the tests.

Nothing here is needed to analyse your own model: any ``torch.nn.Module`` works with
:func:`topolens.record_activations`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import torch.nn as nn

from ._validation import check_int

__all__ = ["CCFF", "SmallCNN", "TrainResult", "evaluate", "train_classifier"]

logger = logging.getLogger(__name__)


class SmallCNN(nn.Module):
    """conv(1->c1, 5x5) - ReLU - maxpool - conv(c1->c2, 3x3) - ReLU - maxpool - fc(hidden) - ReLU - fc(classes).

    Layer names (for ``record_activations``): ``conv1, relu1, pool1, conv2, relu2, pool2,
    flatten, fc1, relu3, fc2``. For 28x28 inputs the flattened size is ``c2 * 5 * 5``.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, c1: int = 8, c2: int = 16,
                 hidden: int = 64, image_size: int = 28) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, c1, 5)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(c1, c2, 3)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        side = ((image_size - 4) // 2 - 2) // 2
        self.fc1 = nn.Linear(c2 * side * side, hidden)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, x: Any) -> Any:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(self.flatten(x))))


class CCFF(nn.Module):
    """Gebhart et al.'s CCFF network: conv(1->3, 5x5) - ReLU - conv(3->3, 3x3) - ReLU - fc(256) - ReLU - fc(classes).

    No biases (the induced graphs ignore them). For 28x28 inputs the flattened size is
    ``3 * 22 * 22 = 1452``, as in the authors' code. Layer names: ``conv1, relu1, conv2,
    relu2, flatten, fc1, relu3, fc2``.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, hidden: int = 256,
                 image_size: int = 28) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 3, 5, bias=False)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(3, 3, 3, bias=False)
        self.relu2 = nn.ReLU()
        self.flatten = nn.Flatten()
        side = image_size - 6
        self.fc1 = nn.Linear(3 * side * side, hidden, bias=False)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(hidden, n_classes, bias=False)

    def forward(self, x: Any) -> Any:
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc2(self.relu3(self.fc1(self.flatten(x))))


@dataclass
class TrainResult:
    """History of :func:`train_classifier`: per-epoch loss and accuracies, wall time."""

    train_loss: list[float]
    train_accuracy: list[float]
    test_accuracy: list[float]
    seconds: float


def evaluate(model: Any, x: Any, y: Any, batch_size: int = 1000) -> float:
    """Accuracy of ``model`` on tensors ``x`` (inputs) and ``y`` (integer labels)."""
    import torch

    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            correct += int((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
    model.train(was_training)
    return correct / max(len(x), 1)


def train_classifier(
    model: Any,
    x_train: Any,
    y_train: Any,
    *,
    x_test: Any = None,
    y_test: Any = None,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> TrainResult:
    """Train with Adam and cross-entropy on tensors, reproducibly from ``seed`` (CPU).

    Parameters
    ----------
    model : torch.nn.Module
    x_train, y_train : torch.Tensor
        Inputs (e.g. ``(N, 1, 28, 28)`` float32 in [0, 1]) and int64 labels.
    x_test, y_test : torch.Tensor, optional
        Evaluated after every epoch.
    """
    import torch
    from tqdm.auto import tqdm

    epochs = check_int(epochs, "epochs", minimum=1)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    hist = TrainResult([], [], [], 0.0)
    start = time.perf_counter()
    n = len(x_train)
    for epoch in tqdm(range(epochs), desc="training", disable=not progress):
        model.train()
        perm = torch.randperm(n, generator=gen)
        total, seen = 0.0, 0
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            total += loss.detach().item() * len(idx)
            seen += len(idx)
        hist.train_loss.append(total / seen)
        hist.train_accuracy.append(evaluate(model, x_train, y_train))
        if x_test is not None:
            hist.test_accuracy.append(evaluate(model, x_test, y_test))
        logger.info("epoch %d: loss %.4f train acc %.3f test acc %s", epoch + 1, hist.train_loss[-1],
                    hist.train_accuracy[-1], f"{hist.test_accuracy[-1]:.3f}" if hist.test_accuracy else "-")
    model.eval()
    hist.seconds = time.perf_counter() - start
    return hist


