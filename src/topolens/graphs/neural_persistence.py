"""Neural persistence (Rieck et al., "Neural Persistence", ICLR 2019).

Each layer is a complete bipartite graph between its input and output neurons. Weights are
normalised by the largest ``|w|`` over *all* layers, ``w' = |w| / max |w|`` in [0, 1]. Every
vertex enters the (superlevel) filtration at 1 and an edge at its normalised weight, in
descending order; H0 of that filtration pairs each merge with a component born at 1, so the
finite lifetimes are ``1 - w'`` over the edges of a *maximum* spanning tree. Then

* ``NP_p(layer) = (sum lifetimes^p)^(1/p)`` (p = 2 by default),
* normalised ``NP_p / (n - 1)^(1/p)`` with ``n`` the layer's vertices (the largest possible
  value: every lifetime 1),
* and the network's mean normalised NP over its layers.

The spanning tree comes from Prim's algorithm on the bipartite graph directly (no dense
``n x n`` matrix, one vectorised update per added vertex), so an MLP 784-650-650-10 takes tens
of milliseconds. Linear layers only for now (Conv2d layers are not yet supported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import _nonfinite_report, _to_numpy
from ..exceptions import InvalidInputError, NonFiniteError

__all__ = [
    "NeuralPersistence",
    "NeuralPersistenceMonitor",
    "linear_weights",
    "max_spanning_lifetimes",
    "neural_persistence",
]


def max_spanning_lifetimes(a: np.ndarray) -> np.ndarray:
    """Lifetimes ``1 - w'`` of the edges of a maximum spanning tree of a complete bipartite graph.

    Parameters
    ----------
    a : ndarray of shape (n_out, n_in)
        Normalised weights in [0, 1]: edge (input i, output j) has weight ``a[j, i]``.

    Returns
    -------
    ndarray of shape (n_in + n_out - 1,)
        The H0 lifetimes of the layer's superlevel filtration, in the order Prim finds them.
    """
    n_out, n_in = a.shape
    # Prim on lifetimes (a minimum spanning tree of 1 - w' is a maximum one of w'). A vertex that
    # joins the tree gets +inf in its row/column of `life`, so the running minima never pick it
    # again and the updates need no mask.
    life = 1.0 - np.asarray(a, dtype=np.float64)
    n = n_in + n_out
    out = np.empty(n - 1)
    best_out = life[:, 0].copy()  # start from input 0
    life[:, 0] = np.inf
    best_in = np.full(n_in, np.inf)
    for k in range(n - 1):
        j_out = int(np.argmin(best_out))
        j_in = int(np.argmin(best_in))
        if best_out[j_out] <= best_in[j_in]:
            out[k] = best_out[j_out]
            best_out[j_out] = np.inf
            np.minimum(best_in, life[j_out], out=best_in)
            life[j_out] = np.inf
        else:
            out[k] = best_in[j_in]
            best_in[j_in] = np.inf
            np.minimum(best_out, life[:, j_in], out=best_out)
            life[:, j_in] = np.inf
    return out


def linear_weights(model: Any) -> list[tuple[str, np.ndarray]]:
    """(name, weight matrix (out, in)) of every ``torch.nn.Linear`` of ``model``, in order."""
    from torch import nn

    if not isinstance(model, nn.Module):
        raise InvalidInputError(
            f"expected a torch.nn.Module or a list of weight matrices, found {type(model).__name__}."
        )
    found = [(name, m.weight.detach().cpu().double().numpy())
             for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        kinds = sorted({type(m).__name__ for m in model.modules()} - {type(model).__name__})
        raise InvalidInputError(
            f"{type(model).__name__} has no nn.Linear layer (it has: {', '.join(kinds) or 'none'}); "
            "neural persistence is computed on fully connected layers. Pass the weight matrices "
            "yourself to analyse other layers."
        )
    return found


@dataclass(frozen=True)
class NeuralPersistence:
    """Neural persistence of a network.

    Attributes
    ----------
    layers : list of str
    values : ndarray
        NP_p of each layer.
    normalized : ndarray
        NP_p / (n - 1)^(1/p) of each layer, in [0, 1].
    p : float
    """

    layers: list[str]
    values: np.ndarray
    normalized: np.ndarray
    p: float

    @property
    def mean_normalized(self) -> float:
        """Mean normalised NP over the layers (the paper's summary)."""
        return float(self.normalized.mean())

    def rows(self) -> list[dict[str, Any]]:
        """One dict per layer, for tables."""
        return [{"layer": n, "NP": float(v), "normalized NP": float(z)}
                for n, v, z in zip(self.layers, self.values, self.normalized, strict=True)]


def neural_persistence(model: Any, *, p: float = 2.0) -> NeuralPersistence:
    """Neural persistence of every fully connected layer (Rieck et al. 2019).

    Parameters
    ----------
    model : torch.nn.Module or sequence of arrays
        A network (its ``nn.Linear`` layers, in order) or weight matrices of shape (out, in).
    p : float, default 2
        The norm of the lifetimes.
    """
    if isinstance(model, Sequence) and not isinstance(model, str):
        named = [(f"layer{k}", np.asarray(_to_numpy(w), dtype=np.float64)) for k, w in enumerate(model)]
        if not named:
            raise InvalidInputError("no weight matrices given; pass at least one (out, in) array.")
    else:
        named = linear_weights(model)
    p = float(p)
    if not p > 0:
        raise InvalidInputError(f"p must be > 0; got {p}.")
    for name, w in named:
        if w.ndim != 2 or 0 in w.shape:
            raise InvalidInputError(f"layer {name}: weights must be a non-empty 2-D (out, in) matrix; got shape {w.shape}.")
        if not np.isfinite(w).all():
            raise NonFiniteError(f"layer {name}: weights contain {_nonfinite_report(w)}; neural persistence needs finite weights.")
    top = max(float(np.abs(w).max()) for _, w in named)
    if top == 0.0:
        raise InvalidInputError(
            "every weight is zero, so the normalisation by the largest |w| is undefined; train or "
            "initialise the network first."
        )
    values, normalized = [], []
    for _, w in named:
        life = max_spanning_lifetimes(np.abs(w) / top)
        np_value = float(np.sum(life ** p) ** (1.0 / p))
        values.append(np_value)
        normalized.append(np_value / (life.size ** (1.0 / p)) if life.size else 0.0)
    return NeuralPersistence([n for n, _ in named], np.array(values), np.array(normalized), p)


class NeuralPersistenceMonitor:
    """Records neural persistence during training and applies Rieck et al.'s stopping rule.

    Call :meth:`step` once per epoch (or any period) in a plain PyTorch loop; it returns True
    once the mean normalised NP has not increased by more than ``delta_min`` for ``patience``
    consecutive calls, the paper's criterion (the defaults are ours; the paper varies both).

    >>> monitor = NeuralPersistenceMonitor(model, patience=3)      # doctest: +SKIP
    >>> for epoch in range(100):                                    # doctest: +SKIP
    ...     train_one_epoch(model)
    ...     if monitor.step():
    ...         break

    Parameters
    ----------
    model : torch.nn.Module
    p : float, default 2
    patience : int, default 3
    delta_min : float, default 0.0

    Attributes
    ----------
    history_ : list of NeuralPersistence
        One entry per call of :meth:`step`.
    best_ : float
        The largest mean normalised NP so far.
    stopped_at_ : int or None
        Index of the call that triggered the stop.
    """

    def __init__(self, model: Any, *, p: float = 2.0, patience: int = 3,
                 delta_min: float = 0.0) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise InvalidInputError(f"patience must be an integer >= 1; got {patience!r}.")
        if not np.isfinite(delta_min) or delta_min < 0:
            raise InvalidInputError(f"delta_min must be a number >= 0; got {delta_min!r}.")
        self.model = model
        self.p = p
        self.patience = patience
        self.delta_min = float(delta_min)
        self.history_: list[NeuralPersistence] = []
        self.best_ = -np.inf
        self._waited = 0
        self.stopped_at_: int | None = None

    @property
    def mean_normalized_(self) -> list[float]:
        """Mean normalised NP of every recorded step."""
        return [h.mean_normalized for h in self.history_]

    def step(self) -> bool:
        """Record the network's NP now; True when training should stop."""
        res = neural_persistence(self.model, p=self.p)
        self.history_.append(res)
        value = res.mean_normalized
        if value > self.best_ + self.delta_min:
            self.best_ = value
            self._waited = 0
        else:
            self._waited += 1
        if self._waited >= self.patience and self.stopped_at_ is None:
            self.stopped_at_ = len(self.history_) - 1
        return self.stopped_at_ is not None
