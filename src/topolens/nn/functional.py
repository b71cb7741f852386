"""Persistence diagrams as differentiable functions of a live tensor.

The persistence pairing is computed without gradients (by :func:`topolens.homology.rips_persistence`
with its critical edges); births and deaths are then *gathered* from the live distance tensor,
so gradients flow to the entries that created and destroyed each class. This is the derivative
wherever the filtration values are distinct (Leygonie, Oudot, Tillmann 2022); with ties the
pairing engine's choice picks one subgradient.

>>> x = torch.randn(30, 2, requires_grad=True)       # doctest: +SKIP
>>> h0, h1 = rips_diagrams(x, max_dim=1)              # doctest: +SKIP
>>> total_persistence(h1).backward()                  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from ..exceptions import InvalidInputError, ShapeError

__all__ = ["pairwise_distances", "rips_diagrams", "total_persistence"]


def pairwise_distances(x: Any) -> Any:
    """Euclidean distances of the rows of ``x`` (n, d), differentiable off the diagonal.

    The diagonal is exactly 0 with a zero gradient (no ``sqrt(0)`` in the graph).
    """
    import torch

    if x.ndim != 2:
        raise ShapeError(f"x must be (n_points, n_features); got shape {tuple(x.shape)}.")
    diff = x[:, None, :] - x[None, :, :]
    sq = (diff * diff).sum(-1)
    eye = torch.eye(x.shape[0], dtype=torch.bool, device=x.device)
    return torch.where(eye, torch.zeros_like(sq), torch.sqrt(torch.where(eye, torch.ones_like(sq), sq)))


def rips_diagrams(x: Any, *, max_dim: int = 1, metric: str = "euclidean") -> list[Any]:
    """Vietoris-Rips diagrams of a point cloud or distance matrix, differentiable.

    Parameters
    ----------
    x : torch.Tensor
        Points ``(n, d)`` (``metric="euclidean"``) or a symmetric distance matrix ``(n, n)``
        with zero diagonal (``metric="precomputed"``).
    max_dim : int
        Largest homology dimension.

    Returns
    -------
    list of torch.Tensor
        One ``(m_k, 2)`` tensor of (birth, death) per dimension ``0..max_dim``; an essential
        class has death ``inf`` (no gradient). H0 births are the constant 0.
    """
    import torch

    from ..homology import rips_persistence

    if not isinstance(x, torch.Tensor):
        raise InvalidInputError(f"x must be a torch.Tensor; got {type(x).__name__}.")
    if metric == "euclidean":
        d = pairwise_distances(x)
    elif metric == "precomputed":
        if x.ndim != 2 or x.shape[0] != x.shape[1]:
            raise ShapeError(f"a precomputed distance matrix must be square; got shape {tuple(x.shape)}.")
        d = x
    else:
        raise InvalidInputError(f"metric must be 'euclidean' or 'precomputed'; got {metric!r}.")
    if not torch.isfinite(d).all():
        raise InvalidInputError("the distances contain NaN or inf.")
    # rips_persistence validates the matrix (symmetric, zero diagonal) instead of guessing
    dg = rips_persistence(d.detach().cpu().double().numpy(), max_dim, return_pairs=True, backend="gudhi")
    out = []
    for k in range(max_dim + 1):
        p = torch.as_tensor(dg.pairs[k], device=d.device)
        if p.shape[0] == 0:
            out.append(d.new_zeros((0, 2)))
            continue
        vertex_birth = p[:, 0] == p[:, 1]
        births = torch.where(vertex_birth, d.new_zeros(()), d[p[:, 0], p[:, 1]])
        alive = p[:, 2] < 0
        deaths = torch.where(alive, d.new_full((), float("inf")),
                             d[p[:, 2].clamp(min=0), p[:, 3].clamp(min=0)])
        out.append(torch.stack([births, deaths], dim=1))
    return out


def total_persistence(dgm: Any, p: float = 1.0) -> Any:
    """Sum of ``(death - birth)^p`` over the finite points of one diagram tensor."""
    import torch

    if dgm.ndim != 2 or dgm.shape[1] != 2:
        raise ShapeError(f"a diagram must have shape (m, 2); got {tuple(dgm.shape)}.")
    if not p > 0:
        raise InvalidInputError(f"p must be > 0; got {p}.")
    life = dgm[:, 1] - dgm[:, 0]
    life = life[torch.isfinite(life)]
    return (life.clamp(min=0) ** p).sum()
