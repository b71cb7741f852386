"""Persistence diagrams as differentiable functions of a live tensor.

The persistence pairing is computed without gradients, by the engines of
:mod:`topolens.homology` (Vietoris-Rips with critical edges, the lower-star pairing of graphs)
or gudhi's cubical complexes; births and deaths are then *gathered* from the live tensor, so
gradients flow to the entries that created and destroyed each class. This is the derivative
wherever the filtration values are distinct (Leygonie, Oudot, Tillmann 2022). With ties the
engine's choice picks one element of the subdifferential: for graphs, the elder rule with the
larger vertex id dying first, and equal edge values taken in order of their (smaller, larger)
endpoint ids; for Rips and cubical complexes, the engine's choice.

Filtrations covered:

* :func:`rips_diagrams`: Vietoris-Rips of a point cloud or distance matrix (H0 from the MST
  edges, H1+ from critical edge pairs); a batch is a list or a ``(B, n, d)`` tensor.
* :func:`vertex_filtration_persistence` / :func:`graph_diagrams`: lower-star (vertex)
  filtrations of graphs, an edge at the max of its endpoints, ``k`` filtrations at once; a
  batch of graphs is their disjoint union (torch-geometric's convention).
* :func:`cubical_diagrams`: sublevel (or superlevel) filtrations of images by their pixels.

>>> x = torch.randn(30, 2, requires_grad=True)       # doctest: +SKIP
>>> h0, h1 = rips_diagrams(x, max_dim=1)              # doctest: +SKIP
>>> total_persistence(h1).backward()                  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from ..exceptions import InvalidInputError, NonFiniteError, ShapeError
from .gnn import check_edge_index

__all__ = [
    "VertexPersistence",
    "cubical_diagrams",
    "graph_diagrams",
    "pairwise_distances",
    "rips_diagrams",
    "vertex_filtration_persistence",
]


def pairwise_distances(x: Any) -> Any:
    """Euclidean distances of the rows of ``x`` (n, d), differentiable where they are > 0.

    Zero distances (the diagonal, duplicate points) are exactly 0 with a zero gradient (no
    ``sqrt(0)`` in the graph, so no NaN).
    """
    if x.ndim != 2:
        raise ShapeError(f"x must be (n_points, n_features); got shape {tuple(x.shape)}.")
    diff = x[:, None, :] - x[None, :, :]
    sq = (diff * diff).sum(-1)
    # sqrt has an infinite slope at 0: zero distances (the diagonal, duplicate points) get the
    # zero subgradient instead of NaN
    pos = sq != 0  # NaN stays NaN (and is refused downstream)
    return torch.where(pos, torch.sqrt(torch.where(pos, sq, torch.ones_like(sq))), torch.zeros_like(sq))


def distance_matrix(x: Any, metric: str, name: str = "x") -> Any:
    """``x`` as a distance matrix: :func:`pairwise_distances` of points (``"euclidean"``) or ``x``
    itself, checked square (``"precomputed"``)."""
    if not isinstance(x, torch.Tensor):
        raise InvalidInputError(f"{name} must be a torch.Tensor; got {type(x).__name__}.")
    if metric == "euclidean":
        return pairwise_distances(x)
    if metric == "precomputed":
        if x.ndim != 2 or x.shape[0] != x.shape[1]:
            raise ShapeError(f"a precomputed distance matrix must be square; {name} has shape {tuple(x.shape)}.")
        return x
    raise InvalidInputError(f"metric must be 'euclidean' or 'precomputed'; got {metric!r} for {name}.")


def rips_diagrams(x: Any, *, max_dim: int = 1, metric: str = "euclidean", backend: str = "auto") -> list[Any]:
    """Vietoris-Rips diagrams of a point cloud or distance matrix, differentiable.

    Parameters
    ----------
    x : torch.Tensor, or a list of them, or a (B, n, d) tensor
        Points ``(n, d)`` (``metric="euclidean"``) or a symmetric distance matrix ``(n, n)``
        with zero diagonal (``metric="precomputed"``). A list (or a 3-d tensor of points) is
        a batch: the result is then a list with one entry per cloud.
    max_dim : int
        Largest homology dimension.
    backend : {"auto", "gudhi", "giotto"}
        Engine of the pairing for dimensions >= 1 (H0 always comes from the minimum spanning
        tree). ``"auto"`` takes giotto-ph when it is installed (an optional, AGPL-licensed
        extra: ``pip install topolens[giotto]``; about 100x faster here, as it never builds
        the simplex tree) and gudhi's simplex tree otherwise.

    Returns
    -------
    list of torch.Tensor
        One ``(m_k, 2)`` tensor of (birth, death) per dimension ``0..max_dim``; an essential
        class has death ``inf`` (no gradient). H0 births are the constant 0. Zero-length pairs
        (from duplicate points) are dropped, whatever the backend. For a batch, a list of
        such lists.
    """
    if isinstance(max_dim, bool) or not isinstance(max_dim, (int, np.integer)) or max_dim < 0:
        raise InvalidInputError(f"max_dim must be an integer >= 0 (0: H0 only); got {max_dim!r}.")
    max_dim = int(max_dim)
    _pairing_backend(backend, max_dim)  # refuse a bad backend before any work
    if isinstance(x, (list, tuple)) or (isinstance(x, torch.Tensor) and x.ndim == 3 and metric == "euclidean"):
        return [rips_diagrams(xi, max_dim=max_dim, metric=metric, backend=backend) for xi in x]
    d = distance_matrix(_real_tensor(x), metric)
    if not torch.isfinite(d).all():
        raise NonFiniteError("the distances (or points) contain NaN or inf; check what produced them.")
    dn = d.detach().cpu().double().numpy()
    if metric == "precomputed":
        d, dn = _symmetrised(d, dn)
    # distances built here from points are symmetric with a zero diagonal by construction
    pairs = _rips_pairs(dn, max_dim, backend, validate=False)
    out = []
    for k in range(max_dim + 1):
        p = torch.as_tensor(pairs[k], device=d.device)
        if p.shape[0] == 0:
            out.append(d.new_zeros((0, 2)))
            continue
        vertex_birth = p[:, 0] == p[:, 1]
        births = torch.where(vertex_birth, d.new_zeros(()), d[p[:, 0], p[:, 1]])
        alive = p[:, 2] < 0
        deaths = torch.where(alive, d.new_full((), float("inf")),
                             d[p[:, 2].clamp(min=0), p[:, 3].clamp(min=0)])
        # zero-length pairs (duplicate points) carry nothing; engines differ on keeping them
        keep = (deaths != births).detach()
        out.append(torch.stack([births, deaths], dim=1)[keep])
    return out


def _real_tensor(x: Any) -> Any:
    """``x`` with a real floating dtype: complex and boolean tensors refused, integers promoted."""
    if isinstance(x, torch.Tensor):
        if x.is_complex() or x.dtype == torch.bool:
            raise InvalidInputError(
                f"x must hold real numbers; got a {x.dtype} tensor. Pass x.real, x.abs() or x.float() "
                "explicitly if that is what you mean."
            )
        if not x.is_floating_point():
            return x.to(torch.get_default_dtype())
    return x


def _symmetrised(d: Any, dn: np.ndarray) -> tuple[Any, np.ndarray]:
    """Validate a precomputed distance tensor; within the tolerance, repair it the way
    :func:`topolens._validation.check_distance_matrix` does, in the live tensor too (so the
    gathered values are those of the matrix the pairing saw, with symmetric gradients)."""
    from .._validation import check_distance_matrix

    fixed = check_distance_matrix(dn, name="precomputed distance matrix x", min_points=0)
    if fixed is dn:
        return d, dn
    sym = (0.5 * (d + d.T)).clamp(min=0)
    return sym - torch.diag_embed(torch.diagonal(sym)), fixed


def _rips_pairs(d: np.ndarray, max_dim: int, backend: str = "auto", *, validate: bool = True) -> list[np.ndarray]:
    """Critical edges ``[b_u, b_v, d_u, d_v]`` of the Rips classes of each dimension ``0..max_dim``."""
    from ..homology import rips_persistence

    engine = _pairing_backend(backend, max_dim)
    if d.shape[0] < 3 and engine == "giotto":  # no cycles; rips_persistence answers without an engine
        engine = "gudhi"
    if engine == "giotto":
        return _giotto_pairs(d, max_dim, validate=validate)
    # rips_persistence validates the matrix (symmetric, zero diagonal) instead of guessing
    return list(rips_persistence(d, max_dim, return_pairs=True, backend=engine).pairs)


def _giotto_pairs(d: np.ndarray, max_dim: int, *, validate: bool = True) -> list[np.ndarray]:
    """Critical edges ``[b_u, b_v, d_u, d_v]`` per dimension from one giotto-ph run (H0 included)."""
    from .._deps import require
    from .._validation import check_distance_matrix
    from ..homology.rips import _float32_scale, _from_generators

    gph = require("gph", extra="giotto", purpose="the 'giotto' pairing backend")
    if validate:
        d = check_distance_matrix(d)
    s = _float32_scale(d)  # giotto-ph computes in float32: keep d's range inside it
    gens = gph.ripser_parallel(d if s == 1.0 else d * s, maxdim=max_dim, metric="precomputed",
                               return_generators=True)["gens"]
    h0 = np.asarray(gens[0], dtype=np.int64).reshape(-1, 3)
    ess0 = np.asarray(gens[2], dtype=np.int64).reshape(-1)
    pairs0 = np.vstack([h0[:, [0, 0, 1, 2]], np.column_stack([ess0, ess0, -np.ones((ess0.size, 2), np.int64)])])
    higher = _from_generators(d, max_dim, gens[1], gens[3])[1] if max_dim else []
    return [pairs0, *higher]


def _pairing_backend(backend: str, max_dim: int) -> str:
    if backend not in ("auto", "gudhi", "giotto"):
        raise InvalidInputError(f"backend must be 'auto', 'gudhi' or 'giotto'; got {backend!r}.")
    if max_dim == 0:
        return "native"
    if backend == "auto":
        import importlib.util

        return "giotto" if importlib.util.find_spec("gph") is not None else "gudhi"
    return backend


class VertexPersistence(NamedTuple):
    """Result of :func:`vertex_filtration_persistence` (``k`` filtrations)."""

    vertex_pairs: Any
    edge_pairs: Any
    cycle_mask: Any


def _check_graph(f: Any, edge_index: Any) -> tuple[Any, Any]:
    if not isinstance(f, torch.Tensor) or not isinstance(edge_index, torch.Tensor):
        raise InvalidInputError(f"f and edge_index must be torch tensors; got {type(f).__name__} and "
                                f"{type(edge_index).__name__}.")
    if f.ndim not in (1, 2):
        raise ShapeError(f"f must be (n_vertices,) or (n_vertices, k); got shape {tuple(f.shape)}.")
    if not torch.isfinite(f).all():
        raise NonFiniteError("the vertex filtration f contains NaN or inf; check the layer that produced it.")
    f2 = f if f.ndim == 2 else f[:, None]
    return f2, check_edge_index(edge_index, f2.shape[0])


def vertex_filtration_persistence(f: Any, edge_index: Any) -> VertexPersistence:
    """Per-vertex H0 and per-edge H1 pairs of lower-star graph filtrations, differentiable in ``f``.

    Vertex ``i`` enters at ``f[i]``, an edge at the larger value of its endpoints (the
    filtration TOGL learns). The pairing (:func:`topolens.homology.lower_star_h0`) runs without
    gradients; births and deaths are gathered from ``f``.

    Parameters
    ----------
    f : torch.Tensor of shape (n,) or (n, k)
        Vertex values, ``k`` filtrations (the ``k`` axis is kept for ``(n,)`` input).
    edge_index : torch.LongTensor of shape (2, E)
        Edges in torch-geometric's convention: either direction, both directions or repeats
        allowed (they are one edge), self-loops ignored. A batch of graphs is their disjoint
        union; components never interact, so no batch vector is needed.

    Returns
    -------
    VertexPersistence, a named tuple of
    vertex_pairs : (n, k, 2)
        ``(birth, death)`` of the H0 class born at each vertex: death is the value of the edge
        that merged it into an older component (elder rule), equal to the birth for a vertex
        that joins an older component on entry, ``+inf`` for the oldest vertex of each
        connected component.
    edge_pairs : (E, k, 2)
        ``(value, +inf)`` for an edge that closes a cycle (an essential H1 class, graphs having
        no 2-cells), ``(value, value)`` for any other edge, its repeats and self-loops.
    cycle_mask : bool (E, k)
        True for the edges that close a cycle (the first occurrence of a repeated edge).
    """
    from ..homology import lower_star_h0

    f2, edge_index = _check_graph(f, edge_index)
    n, k = f2.shape
    ei = edge_index.detach().cpu().numpy().astype(np.int64)
    lo, hi = np.minimum(ei[0], ei[1]), np.maximum(ei[0], ei[1])
    proper = lo != hi
    key = lo * n + hi
    # canonical occurrence of each undirected edge (its first position)
    _, first = np.unique(np.where(proper, key, -1), return_index=True)
    first = first[proper[first]]
    pairing = lower_star_h0(f2.detach().cpu().double().numpy(), lo[first], hi[first])
    dev = f2.device
    # the vertex of each edge that carries its value (the later endpoint)
    fe_vertex = torch.where(f2[edge_index[0]] >= f2[edge_index[1]], edge_index[0][:, None], edge_index[1][:, None])
    edge_val = torch.gather(f2, 0, fe_vertex) if edge_index.shape[1] else f2.new_zeros((0, k))
    killer = torch.as_tensor(pairing.killer, device=dev)
    alive = killer < 0
    kill_edge = torch.as_tensor(first, device=dev)[killer.clamp(min=0)] if first.size else torch.zeros_like(killer)
    if first.size:
        death = torch.gather(edge_val, 0, kill_edge)
    else:
        death = f2.new_zeros((n, k))
    inf = f2.new_full((), float("inf"))
    death = torch.where(alive, inf, death)
    vertex_pairs = torch.stack([f2, death], dim=-1)
    cycle = np.zeros((ei.shape[1], k), dtype=bool)
    cycle[first] = pairing.cycle
    cycle_mask = torch.as_tensor(cycle, device=dev)
    edge_pairs = torch.stack([edge_val, torch.where(cycle_mask, inf, edge_val)], dim=-1)
    return VertexPersistence(vertex_pairs, edge_pairs, cycle_mask)


def graph_diagrams(f: Any, edge_index: Any, batch: Any = None) -> list[list[list[Any]]]:
    """H0 and H1 diagrams of lower-star graph filtrations, per graph and filtration.

    Parameters
    ----------
    f, edge_index
        As in :func:`vertex_filtration_persistence`.
    batch : torch.LongTensor of shape (n,), optional
        Graph id of each vertex (torch-geometric's ``batch``), ids ``0..B-1``; one graph when
        omitted.

    Returns
    -------
    list (per graph) of list (per filtration column) of ``[H0 (m, 2), H1 (c, 2)]``
        Zero-length pairs dropped; essential classes kept with death ``inf`` (one H0 class
        per connected component, one H1 class per independent cycle).
    """
    vp = vertex_filtration_persistence(f, edge_index)
    n, k = vp.vertex_pairs.shape[:2]
    if batch is None:
        vb = torch.zeros(n, dtype=torch.long, device=vp.vertex_pairs.device)
    else:
        if not isinstance(batch, torch.Tensor) or batch.shape != (n,):
            raise ShapeError(f"batch must be a ({n},) tensor of graph ids; got "
                             f"{tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__}.")
        if batch.is_floating_point() or batch.dtype == torch.bool:
            raise InvalidInputError(f"batch must hold integer graph ids; got dtype {batch.dtype}.")
        if n and int(batch.min()) < 0:
            raise InvalidInputError(f"batch holds the negative graph id {int(batch.min())}; ids start at 0.")
        vb = batch.to(torch.long)
    n_graphs = int(vb.max()) + 1 if n else 0
    eb = vb[edge_index[0]] if edge_index.shape[1] else vb.new_zeros(0)
    # per filtration: keep the points, group them by graph with one stable sort and split
    parts = []
    for j in range(k):
        keep0 = vp.vertex_pairs[:, j, 1] > vp.vertex_pairs[:, j, 0]
        parts.append((_split_by_graph(vp.vertex_pairs[:, j][keep0], vb[keep0], n_graphs),
                      _split_by_graph(vp.edge_pairs[:, j][vp.cycle_mask[:, j]], eb[vp.cycle_mask[:, j]], n_graphs)))
    return [[[h0[g], h1[g]] for h0, h1 in parts] for g in range(n_graphs)]


def _split_by_graph(rows: Any, ids: Any, n_graphs: int) -> tuple[Any, ...]:
    """``rows`` grouped by graph id (stable within a graph): one tensor per graph ``0..n_graphs-1``."""
    order = torch.sort(ids, stable=True).indices
    counts = torch.bincount(ids, minlength=n_graphs).tolist()
    return torch.split(rows[order], counts)


def cubical_diagrams(x: Any, *, max_dim: int | None = None, superlevel: bool = False) -> list[Any]:
    """Diagrams of the sublevel filtration of an image by its pixels (cubical complex), differentiable.

    Pixels (voxels) are the top-dimensional cells, entering at their value; lower cells enter
    with their first coface (gudhi's ``CubicalComplex(top_dimensional_cells=...)``). gudhi
    pairs the cells; births and deaths are gathered from ``x``.

    Parameters
    ----------
    x : torch.Tensor of shape (H, W), (H, W, D), ..., or a list of them
        One image (any number of axes), or a list/tuple of images (a batch; a batch tensor
        ``(B, H, W)`` is passed as ``list(x)`` or ``x.unbind(0)``).
    max_dim : int, optional
        Largest homology dimension; default ``x.ndim - 1`` for one image.
    superlevel : bool
        Use the superlevel filtration (bright structures born first): the diagram of ``-x``,
        reported in the values of ``x`` (birth >= death).

    Returns
    -------
    list of torch.Tensor
        One ``(m_k, 2)`` tensor per dimension ``0..max_dim``, essential classes with death
        ``inf`` (``-inf`` for ``superlevel``); zero-length pairs dropped. For a list of images, a
        list of such lists.
    """
    if isinstance(x, (list, tuple)):
        return [cubical_diagrams(xi, max_dim=max_dim, superlevel=superlevel) for xi in x]
    import gudhi
    if not isinstance(x, torch.Tensor):
        raise InvalidInputError(f"x must be a torch.Tensor; got {type(x).__name__}.")
    if x.ndim < 1 or x.numel() == 0:
        raise ShapeError(f"x must be a non-empty image of 1 or more axes; got shape {tuple(x.shape)}.")
    if not torch.isfinite(x).all():
        raise NonFiniteError("the image contains NaN or inf; replace them before computing persistence.")
    top = x.ndim - 1 if max_dim is None else int(max_dim)
    if top < 0:
        raise InvalidInputError(f"max_dim must be >= 0; got {max_dim}.")
    y = -x if superlevel else x
    cc = gudhi.CubicalComplex(top_dimensional_cells=y.detach().cpu().double().numpy())
    cc.compute_persistence(homology_coeff_field=2)  # zero-length pairs dropped
    regular, essential = cc.cofaces_of_persistence_pairs()
    # gudhi numbers the cells with the first axis fastest (Fortran order)
    flat = y.permute(*reversed(range(y.ndim))).reshape(-1)
    sign = -1.0 if superlevel else 1.0
    out = []
    for k in range(top + 1):
        parts = []
        if k < len(regular) and len(regular[k]):
            idx = torch.as_tensor(np.asarray(regular[k], dtype=np.int64), device=x.device)
            parts.append(sign * flat[idx])
        if k < len(essential) and len(essential[k]):
            idx = torch.as_tensor(np.asarray(essential[k], dtype=np.int64), device=x.device)
            b = sign * flat[idx]
            parts.append(torch.stack([b, torch.full_like(b, sign * float("inf"))], 1))
        out.append(torch.cat(parts) if parts else x.new_zeros((0, 2)))
    return out
