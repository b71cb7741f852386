"""Adversarial inputs in plain PyTorch: FGSM (Goodfellow et al. 2015) and L-inf PGD (Madry et al. 2018).

Both run the model in eval mode (restoring its mode after) and maximise the cross-entropy of the true labels within an L-inf ball of radius ``eps``
around the inputs, clipped to the valid input range. They work on any classifier that returns
logits (or log-probabilities), leave its parameters and their gradients untouched, and run in
batches on the model's device.

>>> x_adv = fgsm(model, x, y, eps=0.1)                      # doctest: +SKIP
>>> x_adv = pgd(model, x, y, eps=0.1, steps=40, seed=0)     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .exceptions import InvalidInputError, ShapeError

__all__ = ["fgsm", "pgd"]


def _prepare(model: Any, x: Any, y: Any, eps: float, clamp: tuple[float, float] | None,
             batch_size: int) -> tuple[Any, Any, Any]:
    import torch
    from torch import nn

    if not isinstance(model, nn.Module):
        raise InvalidInputError(f"expected a torch.nn.Module, found {type(model).__name__}.")
    if not (isinstance(eps, (int, float)) and np.isfinite(eps) and eps >= 0):
        raise InvalidInputError(f"eps must be a finite number >= 0; got {eps!r}.")
    if clamp is not None and not clamp[0] < clamp[1]:
        raise InvalidInputError(f"clamp must be (low, high) with low < high; got {clamp!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer; got {batch_size!r}.")
    p = next(iter(model.parameters()), None)
    dev = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None else torch.float32
    xt = torch.as_tensor(x).to(dev, dtype)
    yt = torch.as_tensor(y).to(dev).long().reshape(-1)
    if xt.shape[0] != yt.shape[0]:
        raise ShapeError(f"x has {xt.shape[0]} inputs but y has {yt.shape[0]} labels.")
    if not torch.isfinite(xt).all():
        raise InvalidInputError("the inputs contain NaN or inf.")
    return xt, yt, dev


@contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Attack the model in eval mode (no dropout, no batch-norm updates), then restore its mode."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _input_grad(model: Any, x: Any, y: Any) -> Any:
    import torch
    import torch.nn.functional as F

    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, x)
    return g


def fgsm(model: Any, x: Any, y: Any, eps: float, *, clamp: tuple[float, float] | None = (0.0, 1.0),
         batch_size: int = 256) -> Any:
    """Fast gradient sign method: ``x + eps * sign(grad_x loss(x, y))``, clipped.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits; it runs in eval mode (its mode is restored after).
    x : tensor or array of shape (n, ...)
    y : tensor or array of shape (n,)
        True labels.
    eps : float
        L-inf radius.
    clamp : (low, high) or None
        Valid input range.
    batch_size : int

    Returns
    -------
    torch.Tensor
        Adversarial inputs, same shape as ``x``, on the model's device.
    """
    import torch

    xt, yt, _ = _prepare(model, x, y, eps, clamp, batch_size)
    out = []
    with _eval_mode(model):
        for s in range(0, xt.shape[0], batch_size):
            xb, yb = xt[s:s + batch_size], yt[s:s + batch_size]
            adv = xb + eps * _input_grad(model, xb, yb).sign()
            if clamp is not None:
                adv = adv.clamp(*clamp)
            out.append(adv.detach())
    return torch.cat(out)


def pgd(model: Any, x: Any, y: Any, eps: float, *, alpha: float | None = None, steps: int = 40,
        random_start: bool = True, clamp: tuple[float, float] | None = (0.0, 1.0),
        seed: int | None = None, batch_size: int = 256) -> Any:
    """Projected gradient descent in the L-inf ball (Madry et al. 2018).

    ``steps`` signed-gradient steps of size ``alpha`` (default ``2.5 * eps / steps``), each
    followed by projection onto the ball of radius ``eps`` around ``x`` and the input range;
    optionally from a uniform random start in the ball (seeded).

    Parameters
    ----------
    model, x, y, eps, clamp, batch_size
        As in :func:`fgsm`.
    alpha : float, optional
    steps : int, default 40
    random_start : bool, default True
    seed : int, optional
        Seed of the random start.

    Returns
    -------
    torch.Tensor
    """
    import torch

    xt, yt, dev = _prepare(model, x, y, eps, clamp, batch_size)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InvalidInputError(f"steps must be a positive integer; got {steps!r}.")
    if eps == 0:
        return xt.clone()
    alpha = 2.5 * eps / steps if alpha is None else float(alpha)
    if not (np.isfinite(alpha) and alpha > 0):
        raise InvalidInputError(f"alpha must be a finite number > 0; got {alpha!r}.")
    gen = torch.Generator(device="cpu")
    gen.manual_seed(0 if seed is None else int(seed))
    out = []
    with _eval_mode(model):
        for s in range(0, xt.shape[0], batch_size):
            xb, yb = xt[s:s + batch_size], yt[s:s + batch_size]
            adv = xb.clone()
            if random_start and eps > 0:
                noise = torch.rand(xb.shape, generator=gen, dtype=xb.dtype) * 2 - 1
                adv = adv + eps * noise.to(dev)
                if clamp is not None:
                    adv = adv.clamp(*clamp)
            for _ in range(steps):
                adv = adv + alpha * _input_grad(model, adv, yb).sign()
                adv = torch.max(torch.min(adv, xb + eps), xb - eps)
                if clamp is not None:
                    adv = adv.clamp(*clamp)
            out.append(adv.detach())
    return torch.cat(out)
