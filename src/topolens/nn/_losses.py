"""Topological losses on differentiable diagrams (tensors of ``(birth, death)`` rows).

Each loss takes diagram tensors such as those of :func:`topolens.nn.functional.rips_diagrams`;
where a matching or pairing is needed it is computed without gradients and the value is then
rebuilt from the live tensors, so gradients flow to the points that the optimum uses.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..exceptions import InvalidInputError, ShapeError
from ._persistence import _rips_pairs, distance_matrix

__all__ = ["persistence_norm", "signature_loss", "total_persistence", "wasserstein_distance"]


def _check_dgm(dgm: Any, name: str = "dgm") -> Any:
    if not isinstance(dgm, torch.Tensor):
        raise InvalidInputError(f"{name} must be a torch.Tensor of shape (m, 2); got {type(dgm).__name__}.")
    if dgm.ndim != 2 or dgm.shape[1] != 2:
        raise ShapeError(f"a diagram must have shape (m, 2) of (birth, death) rows; {name} has shape {tuple(dgm.shape)}.")
    if torch.isnan(dgm).any():
        raise InvalidInputError(f"{name} contains NaN; a diagram holds finite births and finite or infinite deaths.")
    return dgm


def _finite_lifetimes(dgm: Any) -> Any:
    life = dgm[:, 1] - dgm[:, 0]
    return life[torch.isfinite(life)].abs()


def total_persistence(dgm: Any, p: float = 1.0) -> Any:
    """Sum of ``|death - birth|^p`` over the finite points of one diagram tensor (essential ones skipped)."""
    _check_dgm(dgm)
    if not p > 0:
        raise InvalidInputError(f"p must be > 0; got {p}.")
    return (_finite_lifetimes(dgm) ** p).sum()


def persistence_norm(dgm: Any, p: float = 2.0) -> Any:
    """The ``p``-norm of the finite lifetimes, ``(sum |d - b|^p)^(1/p)``; ``p=inf`` gives the largest.

    An empty (or all-essential) diagram has norm 0.
    """
    _check_dgm(dgm)
    if not p >= 1:
        raise InvalidInputError(f"p must be >= 1 (a norm); got {p}.")
    life = _finite_lifetimes(dgm)
    if life.numel() == 0:
        return dgm.new_zeros(())
    if math.isinf(p):
        return life.max()
    total = (life ** p).sum()
    # (0)^(1/p) has an infinite derivative: a diagram of zero-length points is left at 0
    return total ** (1.0 / p) if float(total.detach()) > 0 else total


def _split(dgm: Any) -> tuple[Any, Any]:
    fin = torch.isfinite(dgm[:, 1])
    return dgm[fin], dgm[~fin]


def wasserstein_distance(dgm1: Any, dgm2: Any, *, p: float = 2.0, internal_p: float = math.inf) -> Any:
    """p-Wasserstein distance between two diagrams, differentiable in both.

    ``W_p = (min_matching sum ||x - y||_q^p)^(1/p)`` over partial matchings, unmatched points
    going to their orthogonal projection on the diagonal, with ``q = internal_p`` (gudhi's
    convention). The optimal matching comes from a linear assignment (scipy) without
    gradients; the value is rebuilt from the live points. Essential classes (infinite deaths)
    are matched by sorted births when both diagrams have as many, otherwise the distance is
    ``inf`` (as gudhi's ``keep_essential_parts``).

    Parameters
    ----------
    dgm1, dgm2 : torch.Tensor of shape (m, 2)
    p : float
        Wasserstein order, ``1 <= p < inf``.
    internal_p : float
        Ground norm between points, ``1 <= q <= inf``.
    """
    from scipy.optimize import linear_sum_assignment

    _check_dgm(dgm1, "dgm1")
    _check_dgm(dgm2, "dgm2")
    if not (1 <= p < math.inf):
        raise InvalidInputError(f"p must be in [1, inf); got {p} (use topolens.diagrams.bottleneck_distance for p=inf).")
    if not internal_p >= 1:
        raise InvalidInputError(f"internal_p must be >= 1; got {internal_p}.")
    f1, e1 = _split(dgm1)
    f2, e2 = _split(dgm2)
    total = dgm1.new_zeros(()) + dgm2.new_zeros(())
    for side in (1, -1):  # essential classes dying at +inf, then at -inf (superlevel diagrams)
        b1 = torch.sort(e1[e1[:, 1] * side > 0, 0]).values
        b2 = torch.sort(e2[e2[:, 1] * side > 0, 0]).values
        if b1.numel() != b2.numel():
            return total + math.inf
        total = total + ((b1 - b2).abs() ** p).sum()
    m1, m2 = f1.shape[0], f2.shape[0]

    def diag_cost(d: Any) -> Any:
        half = (d[:, 1] - d[:, 0]).abs() / 2
        scale = 1.0 if math.isinf(internal_p) else 2.0 ** (1.0 / internal_p)
        return (half * scale) ** p

    if m1 + m2:
        c1, c2 = diag_cost(f1), diag_cost(f2)
        with torch.no_grad():
            pp = torch.cdist(f1.double(), f2.double(), p=internal_p) ** p if m1 and m2 else f1.new_zeros((m1, m2)).double()
            big = float(pp.max()) + float(c1.sum()) + float(c2.sum()) + 1.0 if (m1 and m2) else 1.0
            cost = np.full((m1 + m2, m1 + m2), 0.0)
            cost[:m1, :m2] = pp.cpu().numpy()
            cost[:m1, m2:] = big
            cost[np.arange(m1), m2 + np.arange(m1)] = c1.detach().double().cpu().numpy()
            cost[m1:, :m2] = big
            cost[m1 + np.arange(m2), np.arange(m2)] = c2.detach().double().cpu().numpy()
            rows, cols = linear_sum_assignment(cost)
        rows_t = torch.as_tensor(rows, device=dgm1.device)
        cols_t = torch.as_tensor(cols, device=dgm1.device)
        both = (rows_t < m1) & (cols_t < m2)
        i, j = rows_t[both], cols_t[both]
        if i.numel():
            diff = (f1[i] - f2[j]).abs()
            if math.isinf(internal_p):
                ground = diff.max(1).values
            else:
                # the q-th root has an infinite slope at 0: coinciding points get the zero subgradient
                s = (diff ** internal_p).sum(1)
                pos = s > 0
                ground = torch.where(pos, torch.where(pos, s, torch.ones_like(s)) ** (1.0 / internal_p),
                                     torch.zeros_like(s))
            total = total + (ground ** p).sum()
        to_diag1 = (rows_t < m1) & (cols_t >= m2)
        to_diag2 = (rows_t >= m1) & (cols_t < m2)
        total = total + c1[rows_t[to_diag1]].sum() + c2[cols_t[to_diag2]].sum()
    return total ** (1.0 / p) if float(total.detach()) > 0 else total


def _critical_edges(d: Any, dims: tuple[int, ...]) -> Any:
    """(u, v) index pairs of the edges that create or destroy the Rips classes of ``dims``."""
    pairs = _rips_pairs(d.detach().cpu().double().numpy(), max(dims))
    edges = []
    for k in dims:
        pr = np.asarray(pairs[k]).reshape(-1, 4)
        for a, b in ((0, 1), (2, 3)):
            e = pr[:, [a, b]]
            edges.append(e[(e[:, 0] >= 0) & (e[:, 0] != e[:, 1])])
    return torch.as_tensor(np.concatenate(edges) if edges else np.zeros((0, 2), np.int64), device=d.device)


def signature_loss(x: Any, z: Any, *, dims: tuple[int, ...] = (0,), x_metric: str = "euclidean",
                   z_metric: str = "euclidean") -> Any:
    """Topological signature loss of Moor et al. (ICML 2020, topological autoencoders).

    ``L = 1/2 ||A_X[pi_X] - A_Z[pi_X]||^2 + 1/2 ||A_Z[pi_Z] - A_X[pi_Z]||^2``, where ``A`` are the
    distance matrices of the input ``x`` and the latent ``z`` (same points, same order) and
    ``pi`` the Vietoris-Rips critical edges (for H0 the minimum spanning tree; for higher
    dimensions the creating and destroying edges) of the classes in ``dims``. Pairings are
    computed without gradients; the loss is differentiable in both distance matrices.

    Parameters
    ----------
    x, z : torch.Tensor
        Points ``(n, d_x)`` and ``(n, d_z)``, or distance matrices with ``*_metric="precomputed"``.
    dims : tuple of int
        Homology dimensions whose critical edges are compared (the paper uses ``(0,)``).
    """
    ax, az = distance_matrix(x, x_metric, "x"), distance_matrix(z, z_metric, "z")
    if ax.shape != az.shape:
        raise ShapeError(f"x and z must describe the same points; got {ax.shape[0]} and {az.shape[0]} points.")
    dims = tuple(int(k) for k in dims)
    if not dims or min(dims) < 0:
        raise InvalidInputError(f"dims must be a non-empty tuple of homology dimensions >= 0; got {dims}.")
    ex, ez = _critical_edges(ax, dims), _critical_edges(az, dims)
    lx = ((ax[ex[:, 0], ex[:, 1]] - az[ex[:, 0], ex[:, 1]]) ** 2).sum()
    lz = ((az[ez[:, 0], ez[:, 1]] - ax[ez[:, 0], ez[:, 1]]) ** 2).sum()
    return 0.5 * (lx + lz)
