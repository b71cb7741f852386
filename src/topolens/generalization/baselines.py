"""Classical generalization measures that a topological gap predictor is compared against.

Norm-, distance- and margin-based measures of Jiang et al. (2019), *Fantastic generalization
measures and where to find them* (arXiv:1912.02178, Appendix C), as used as baselines in the
PGDL competition (Jiang et al. 2020). All functions are pure: they read a model or state dict
and return plain floats; a model's weights and train/eval mode are left as they were.

The weight matrices ``W_1, ..., W_d`` are the ``weight`` tensors of the ``Linear`` and
``Conv1d/2d/3d`` layers (biases and normalization parameters are excluded). A convolution
kernel of shape ``(out, in, k_1, ...)`` is read as the matrix ``(out, in * k_1 * ...)``; its
spectral norm is the largest singular value of that matrix. This is the usual cheap proxy and
not the operator norm of the convolution as a map on feature maps (which depends on the input
size, stride and padding; Sedghi et al. 2019). Norms are computed in float64 and combined in
log space so that products over deep networks do not overflow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import check_int
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError

__all__ = [
    "BASELINE_NAMES",
    "baseline_measures",
    "distance_from_init",
    "norm_measures",
    "output_margin",
    "weight_matrices",
]

ModelOrState = nn.Module | Mapping[str, Any]

BASELINE_NAMES: tuple[str, ...] = (
    "dist_init", "log_prod_spec", "log_sum_spec", "log_prod_fro", "log_sum_fro", "margin",
)
_LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def weight_matrices(model_or_state: ModelOrState) -> list[tuple[str, torch.Tensor]]:
    """The weight tensors of the Linear and Conv layers, in registration order.

    Parameters
    ----------
    model_or_state : torch.nn.Module or mapping of str to torch.Tensor
        A model (its ``nn.Linear`` and ``nn.Conv1d/2d/3d`` modules are taken, in
        ``named_modules()`` order) or a state dict (every key ending in ``".weight"`` whose
        tensor has at least 2 dimensions, so 1-d BatchNorm/LayerNorm weights are skipped).

    Returns
    -------
    list of (str, torch.Tensor)
        ``(name, weight)`` pairs, named like state-dict keys (``"0.weight"``), detached.

    Raises
    ------
    InvalidInputError
        If the argument is neither a module nor a mapping, or holds no such layer.
    """
    out: list[tuple[str, torch.Tensor]] = []
    if isinstance(model_or_state, nn.Module):
        for name, m in model_or_state.named_modules():
            if isinstance(m, _LAYER_TYPES):
                if isinstance(m.weight, nn.parameter.UninitializedParameter):
                    raise InvalidInputError(
                        f"layer {name!r} is a lazy module whose weight is not initialized yet; "
                        "run one forward pass through the model before measuring it."
                    )
                out.append((f"{name}.weight" if name else "weight", m.weight.detach()))
    elif isinstance(model_or_state, Mapping):
        for key, t in model_or_state.items():
            if (isinstance(key, str) and (key == "weight" or key.endswith(".weight"))
                    and isinstance(t, torch.Tensor) and t.ndim >= 2):
                out.append((key, t.detach()))
    else:
        raise InvalidInputError(
            f"expected a torch.nn.Module or a state dict, found {type(model_or_state).__name__}. "
            "Pass the model itself or model.state_dict()."
        )
    if not out:
        raise InvalidInputError(
            "model has no Linear or Conv layers (no 'weight' tensor with >= 2 dimensions); "
            "the norm-based measures are defined on the weight matrices of such layers."
        )
    return out


def _checked(name: str, w: torch.Tensor) -> torch.Tensor:
    """``w`` as a float64 matrix ``(out, -1)`` after a finiteness check."""
    w = w.to(torch.float64)
    if not bool(torch.isfinite(w).all()):
        n_bad = int((~torch.isfinite(w)).sum())
        raise NonFiniteError(
            f"weight {name!r} holds {n_bad} NaN or infinite value(s); the measures need finite "
            "weights. The training probably diverged: use an earlier checkpoint."
        )
    return w.reshape(w.shape[0], -1)


def distance_from_init(initial_state: ModelOrState, final_state: ModelOrState) -> float:
    """Frobenius distance of the weight matrices from their initialization ("dist.init").

    Computes ``sqrt(sum_l ||W_l - W_l^0||_F^2)`` over the matrices of :func:`weight_matrices`,
    i.e. the Euclidean distance between the flattened weights (biases excluded).

    Parameters
    ----------
    initial_state, final_state : torch.nn.Module or state dict
        The model at initialization and after training; their weight names must match.

    Raises
    ------
    InvalidInputError
        If the weight names differ (the message lists the missing ones).
    ShapeError
        If a weight has a different shape in the two states.
    NonFiniteError
        If a weight holds NaN or infinite values.
    """
    init = dict(weight_matrices(initial_state))
    final = dict(weight_matrices(final_state))
    if init.keys() != final.keys():
        only_final = sorted(final.keys() - init.keys())
        only_init = sorted(init.keys() - final.keys())
        raise InvalidInputError(
            f"weight names differ: missing from initial_state {only_final}, missing from "
            f"final_state {only_init}. Both must come from the same architecture, e.g. a copy "
            "of model.state_dict() taken before training and the trained model."
        )
    total = 0.0
    for name, w in final.items():
        w0 = init[name]
        if w0.shape != w.shape:
            raise ShapeError(
                f"weight {name!r} has shape {tuple(w0.shape)} at initialization but "
                f"{tuple(w.shape)} after training; the states come from different architectures."
            )
        diff = _checked(name, w).cpu() - _checked(name, w0).cpu()
        total += float(torch.sum(diff * diff))
    return math.sqrt(total)


@torch.no_grad()
def _spectral_norm(mat: torch.Tensor) -> float:
    """Largest singular value, as the square root of the top eigenvalue of the smaller Gram
    matrix in float64 (several times faster than a full SVD; exact to rounding)."""
    m = mat.to(torch.float64)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    return math.sqrt(max(float(torch.linalg.eigvalsh(gram)[-1]), 0.0))


def norm_measures(model: ModelOrState) -> dict[str, float]:
    """Log-space norm measures of Fantastic (Appendix C) with ``d`` weight matrices.

    ============== ====================================================
    key            value
    ============== ====================================================
    log_prod_spec  ``sum_l log ||W_l||_2^2``  (log.prod.of.spec)
    log_sum_spec   ``log d + (1/d) sum_l log ||W_l||_2^2`` (log.sum.of.spec,
                   the log of ``d (prod_l ||W_l||_2^2)^(1/d)``)
    log_prod_fro   ``sum_l log ||W_l||_F^2``  (log.prod.of.fro)
    log_sum_fro    ``log d + (1/d) sum_l log ||W_l||_F^2`` (log.sum.of.fro)
    ============== ====================================================

    ``||.||_2`` is the largest singular value of the weight read as an ``(out, -1)`` matrix
    (for convolutions a proxy, see the module docstring); ``||.||_F`` is the Frobenius norm.
    Logarithms are natural.

    Raises
    ------
    InvalidInputError
        If there are no Linear/Conv layers, or a layer's weights are all zero (log 0).
    NonFiniteError
        If a weight holds NaN or infinite values.
    """
    log_spec: list[float] = []
    log_fro: list[float] = []
    for name, w in weight_matrices(model):
        mat = _checked(name, w)
        fro = float(torch.linalg.matrix_norm(mat, ord="fro"))
        if fro == 0.0:
            raise InvalidInputError(
                f"layer weight {name!r} is all zeros, so its norm is 0 and the log-norm measures "
                "are -inf. Measure a trained (or randomly initialized) model, not a zeroed one."
            )
        spec = _spectral_norm(mat)
        log_spec.append(2.0 * math.log(spec))
        log_fro.append(2.0 * math.log(fro))
    d = len(log_spec)
    return {
        "log_prod_spec": math.fsum(log_spec),
        "log_sum_spec": math.log(d) + math.fsum(log_spec) / d,
        "log_prod_fro": math.fsum(log_fro),
        "log_sum_fro": math.log(d) + math.fsum(log_fro) / d,
    }


def _as_tensor(a: Any, name: str) -> torch.Tensor:
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(np.ascontiguousarray(a))
    if not isinstance(a, torch.Tensor):
        raise InvalidInputError(f"{name} must be a torch tensor or numpy array, found {type(a).__name__}.")
    return a


@torch.no_grad()
def output_margin(model: nn.Module, x: Any, y: Any, *, quantile: float = 0.1,
                  batch_size: int = 1000, device: str | torch.device | None = None) -> float:
    """The ``quantile``-quantile of the output margins on ``(x, y)``.

    The margin of an input is its logit of the true class minus its largest other logit
    (negative when misclassified). Jiang et al. (2019) use the 10th percentile over the
    training set (``quantile=0.1``) as a robust version of the minimum margin. Quantiles use
    linear interpolation (``numpy.quantile``).

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch of inputs to logits of shape ``(batch, n_classes)``. It is evaluated in
        eval mode; every submodule's mode is restored afterwards.
    x : tensor or ndarray of shape (n, ...)
    y : tensor or ndarray of int of shape (n,)
        Class labels in ``[0, n_classes)``.
    quantile : float in [0, 1]
    batch_size : int
    device : str or torch.device, optional
        Where the inputs are sent; default the device of the model's first parameter (or CPU).
        The model itself is not moved.
    """
    x, y = _as_tensor(x, "x"), _as_tensor(y, "y")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if not (isinstance(quantile, (int, float)) and 0.0 <= quantile <= 1.0):
        raise InvalidInputError(f"quantile must be a number in [0, 1], found {quantile!r}; "
                                "use 0.1 for the 10th percentile.")
    if y.ndim != 1 or x.ndim == 0 or len(x) != len(y) or len(y) == 0:
        raise ShapeError(
            f"x has shape {tuple(x.shape)} and y has shape {tuple(y.shape)}; expected "
            "x of shape (n, ...) and y of shape (n,) with the same n >= 1."
        )
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise InvalidInputError(f"y must hold integer class labels, found dtype {y.dtype}.")
    params = next(iter(model.parameters()), None)
    target = torch.device(device) if device is not None else (
        params.device if params is not None else torch.device("cpu"))
    if params is not None and x.is_floating_point():
        x = x.to(params.dtype)
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        logits = torch.cat([model(x[i:i + batch_size].to(target)).detach().to("cpu", torch.float64)
                            for i in range(0, len(x), batch_size)])
    finally:
        for m, mode in modes.items():
            m.training = mode
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ShapeError(f"the model returned outputs of shape {tuple(logits.shape)}; expected "
                         "logits of shape (n, n_classes) with n_classes >= 2.")
    n_classes = logits.shape[1]
    y = y.to("cpu", torch.int64)
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        raise InvalidInputError(
            f"labels range over [{int(y.min())}, {int(y.max())}] but the model has {n_classes} "
            f"outputs, so labels must lie in [0, {n_classes - 1}]. Check the label encoding."
        )
    if not bool(torch.isfinite(logits).all()):
        raise NonFiniteError("the model produced NaN or infinite logits; margins are undefined.")
    idx = torch.arange(len(y))
    true = logits[idx, y]
    others = logits.clone()
    others[idx, y] = -math.inf
    margins = (true - others.max(dim=1).values).numpy()
    return float(np.quantile(margins, quantile))


def baseline_measures(model: nn.Module, initial_state: ModelOrState, x: Any, y: Any, *,
                      quantile: float = 0.1, batch_size: int = 1000,
                      device: str | torch.device | None = None) -> dict[str, float]:
    """All baseline measures in one dict, keys in the order of :data:`BASELINE_NAMES`.

    ============= ==========================================================
    key           value
    ============= ==========================================================
    dist_init     :func:`distance_from_init` of ``initial_state`` and ``model``
    log_prod_spec ``sum_l log ||W_l||_2^2``
    log_sum_spec  ``log d + (1/d) sum_l log ||W_l||_2^2``
    log_prod_fro  ``sum_l log ||W_l||_F^2``
    log_sum_fro   ``log d + (1/d) sum_l log ||W_l||_F^2``
    margin        :func:`output_margin` on ``(x, y)`` (training data) at ``quantile``
    ============= ==========================================================
    """
    out = {"dist_init": distance_from_init(initial_state, model)}
    out.update(norm_measures(model))
    out["margin"] = output_margin(model, x, y, quantile=quantile, batch_size=batch_size,
                                  device=device)
    return {k: out[k] for k in BASELINE_NAMES}
