"""Training helpers shared by ``study_filters.py`` and ``study_priors.py`` (issue 14).

A small CNN with a 3x3 first layer, seeded data splits and batch orders, validation every
``eval_every`` batches, and the summary statistics (median, IQR, paired differences) that both
studies report. Import this module only after setting ``OMP_WAIT_POLICY`` (the scripts do).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

DATASETS = ("mnist", "fashion")


def load_dataset(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train / test images as float32 (N, 1, 28, 28) in [0, 1] and int64 labels.

    Real MNIST or Fashion-MNIST through :mod:`topolens.datasets`, read from ``$TOPOLENS_DATA``.
    """
    from topolens.datasets import load_fashion_mnist, load_mnist

    loader = {"mnist": load_mnist, "fashion": load_fashion_mnist}[name]
    root = os.environ.get("TOPOLENS_DATA")
    (xtr, ytr), (xte, yte) = loader(root, split="train"), loader(root, split="test")

    def conv(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x.astype(np.float32)[:, None] / 255.0)

    return conv(xtr), torch.from_numpy(ytr.astype(np.int64)), conv(xte), torch.from_numpy(yte.astype(np.int64))


def split_validation(x: torch.Tensor, y: torch.Tensor, n_val: int, seed: int = 12345
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fixed random validation split of the training set (the same for every run)."""
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    va, tr = perm[:n_val], perm[n_val:]
    return x[tr], y[tr], x[va], y[va]


class SmallNet(nn.Module):
    """conv1 (1->c1, 3x3, pad 1) - ReLU - maxpool 2 - conv2 (c1->c2, 3x3, pad 1) - ReLU - maxpool 2 - fc (c2*7*7->10)."""

    def __init__(self, conv1: nn.Module, conv2: nn.Module, c2: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv1, conv2
        self.fc = nn.Linear(c2 * 7 * 7, 10)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(torch.relu(self.conv1(x)))
        h = self.pool(torch.relu(self.conv2(h)))
        return self.fc(h.flatten(1))


@torch.no_grad()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 2000) -> float:
    was = net.training
    net.eval()
    correct = sum(int((net(x[i:i + chunk]).argmax(1) == y[i:i + chunk]).sum()) for i in range(0, len(x), chunk))
    net.train(was)
    return correct / max(len(x), 1)


def batch_order(n: int, batch: int, n_batches: int, seed: int) -> torch.Tensor:
    """Row indices of ``n_batches`` batches: seeded reshuffles of ``range(n)`` epoch after epoch."""
    gen = torch.Generator().manual_seed(seed)
    per_epoch = n // batch
    epochs = math.ceil(n_batches / max(per_epoch, 1))
    idx = torch.cat([torch.randperm(n, generator=gen)[:per_epoch * batch] for _ in range(epochs)])
    return idx[:n_batches * batch].view(n_batches, batch)


def train(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *, n_batches: int, batch: int, lr: float, seed: int,
          eval_every: int = 0, xval: torch.Tensor | None = None, yval: torch.Tensor | None = None,
          stop_at: float | None = None, checkpoints: Sequence[int] = (),
          on_checkpoint: Callable[[int, nn.Module], None] | None = None) -> dict[str, Any]:
    """Adam on cross-entropy for ``n_batches`` batches in a seeded order.

    Validation accuracy every ``eval_every`` batches (and at 0); ``stop_at``: stop once the
    validation accuracy reaches it. ``on_checkpoint(b, net)`` is called after ``b`` batches for
    each ``b`` in ``checkpoints`` (0 = the initialisation).
    """
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    order = batch_order(len(x), batch, n_batches, seed)
    curve: list[tuple[int, float]] = []
    cps = set(checkpoints)
    if on_checkpoint is not None and 0 in cps:
        on_checkpoint(0, net)
    if eval_every and xval is not None:
        curve.append((0, accuracy(net, xval, yval)))
    net.train()
    done = 0
    for b in range(1, n_batches + 1):
        idx = order[b - 1]
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x[idx]), y[idx]).backward()
        opt.step()
        done = b
        if on_checkpoint is not None and b in cps:
            on_checkpoint(b, net)
        if eval_every and xval is not None and b % eval_every == 0:
            curve.append((b, accuracy(net, xval, yval)))
            if stop_at is not None and curve[-1][1] >= stop_at:
                break
    return {"curve": curve, "batches": done}


def first_reach(curve: Sequence[tuple[int, float]], threshold: float) -> int | None:
    """The first evaluated batch count whose validation accuracy is >= threshold (None: never)."""
    return next((b for b, a in curve if a >= threshold), None)


def median_iqr(values: Sequence[float]) -> tuple[float, float, float]:
    v = np.asarray(values, dtype=float)
    return float(np.median(v)), float(np.percentile(v, 25)), float(np.percentile(v, 75))


def fmt_median_iqr(values: Sequence[float], digits: int = 4) -> str:
    if len(values) == 0:
        return "-"
    m, lo, hi = median_iqr(values)
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
