"""Radius-neighbour graphs computed once and reused by every cover (Mapper's fast path).

DBSCAN inside a cover set needs, for each point of the set, its neighbours within ``eps`` that
are also in the set. Those are a subset of the global ``eps``-neighbour pairs, so the pairs are
computed once for all cover sets and all cover settings of a sweep.

Two facts keep the work small:

* Two points are only ever compared when they can share a cover set, so only pairs whose lens
  values differ by at most the largest set extent are candidates.
* For a 1-Lipschitz lens (the L2 norm, a column, a PCA axis) ``|f(x) - f(y)| <= ||x - y||``,
  so pairs whose lens values differ by more than ``eps`` cannot be neighbours either.

Most remaining pairs are far apart, and activations have a low intrinsic dimension, so pairs
are pruned before any full-dimensional product: with the centred points projected on their top
principal axes (``P``) and the norm of what is left (``R``),
``||x - y||^2 >= ||P_x - P_y||^2 + (||R_x|| - ||R_y||)^2``. A kd-tree on those coordinates cuts
the points into tiles of compact sub-blocks; tile pairs are skipped on their bounding boxes (and
their lens intervals), sub-block pairs on the pointwise bound (one thin product), and only the
surviving sub-block pairs get float32 GEMMs (on the GPU when one is present). Every bound allows
for its own rounding errors, so no needed pair is lost. Every pair whose float32 squared
distance lies within a rigorous rounding-error bound of ``eps**2`` is recomputed exactly in
float64 from the coordinate differences, so the graph does not depend on the device, the BLAS
or the number of threads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..exceptions import InvalidInputError

__all__ = ["RadiusGraph", "kdistance_eps", "kdistances", "radius_graph"]

logger = logging.getLogger(__name__)

#: bytes of one float32 distance block
_BLOCK_BYTES = 1 << 27
#: pairs per chunk of the exact float64 recheck
_EXACT_CHUNK = 1 << 13
#: points per tile (pairs of tiles are pruned with bounding boxes) and per sub-block (pairs of
#: sub-blocks are pruned pointwise with the low-dimensional bound, the survivors are computed)
_TILE = 128
_SUB = 32
#: principal axes of the low-dimensional lower bound, and the sample they are estimated from
_PCA_DIMS = 32
_PCA_SAMPLE = 1024
#: relative slack on eps**2 of every pruning test (covers float64 rounding of the bounds)
_PRUNE_SLACK = 1e-6


def _unit_roundoff() -> float:
    """Unit roundoff of float32 GEMMs as torch runs them now (TF32 keeps 10 mantissa bits)."""
    import torch

    tf32 = torch.get_float32_matmul_precision() != "highest" or (
        torch.cuda.is_available() and torch.backends.cuda.matmul.allow_tf32
    )
    return 2.0**-11 if tf32 else 2.0**-24


def _principal_axes(xc: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """``k`` orthonormal (to float64 precision) directions of largest variance, from a sample.

    Any orthonormal basis gives a valid lower bound; the principal axes make it tight.
    """
    n, dim = xc.shape
    rng = np.random.default_rng(seed)
    s = xc[np.sort(rng.choice(n, size=min(n, _PCA_SAMPLE), replace=False))].astype(np.float64)
    if dim <= s.shape[0]:
        _, v = np.linalg.eigh(s.T @ s)
        axes = v[:, ::-1][:, :k]
    else:
        _, u = np.linalg.eigh(s @ s.T)
        axes = s.T @ u[:, ::-1][:, :k]
    # complete with random directions where the sample is small or degenerate, orthonormalise
    axes = np.column_stack([axes, rng.standard_normal((dim, k - axes.shape[1]))])
    axes = axes + 1e-9 * np.abs(axes).max(initial=1.0) * rng.standard_normal(axes.shape)
    q, _ = np.linalg.qr(axes)
    return q


def _kd_order(feat: np.ndarray, tile: int, sub: int) -> tuple[np.ndarray, np.ndarray]:
    """A kd-tree order of the rows of ``feat`` and the sizes of its tiles.

    Nodes are split at a multiple of ``tile`` (above ``tile`` points) or of ``sub`` (below)
    along their widest coordinate, so every tile (at most ``tile`` points) is a subtree and is
    cut into spatially compact sub-blocks of ``sub`` points (only its last one may be shorter).
    """
    n = feat.shape[0]
    parts: list[np.ndarray] = []
    sizes: list[int] = []
    stack: list[tuple[np.ndarray, bool]] = [(np.arange(n), True)]
    while stack:
        ii, top = stack.pop()
        m = ii.size
        if top and m <= tile:
            sizes.append(m)
            top = False
        if m <= sub:
            parts.append(ii)
            continue
        unit = tile if m > tile else sub
        h = min(max(round(m / (2 * unit)) * unit, unit), m - 1)
        f = feat[ii]
        dim = int(np.argmax(f.max(axis=0) - f.min(axis=0)))
        part = np.argpartition(f[:, dim], h)
        stack.append((ii[part[h:]], top))
        stack.append((ii[part[:h]], top))
    return np.concatenate(parts) if parts else np.empty(0, np.int64), np.asarray(sizes, np.int64)


def _range_ok(lo_key: np.ndarray, hi_key: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Whether some range (sorted by lower end) contains ``[lo_key, hi_key]`` (elementwise)."""
    prefix_hi = np.maximum.accumulate(ranges[:, 1])
    idx = np.searchsorted(ranges[:, 0], lo_key, side="right") - 1
    return (idx >= 0) & (prefix_hi[np.maximum(idx, 0)] >= hi_key)


def _tile_pairs(lo: np.ndarray, hi: np.ndarray, klo: np.ndarray, khi: np.ndarray, r2: float,
                slack: float, band: float, ranges: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Tile pairs (a <= b) that may hold a needed pair within eps.

    ``lo``/``hi`` bound the tiles' coordinates in mutually orthogonal directions (the last one
    the residual norm), so the squared distance between their boxes bounds the squared distances
    of their points from below.
    """
    nt = lo.shape[0]
    out_a, out_b = [], []
    step = max(1, (1 << 22) // max(1, nt * lo.shape[1]))
    thr = r2 * (1.0 + _PRUNE_SLACK) + slack
    for s in range(0, nt, step):
        e = min(nt, s + step)
        gap = np.maximum(np.maximum(lo[s:e, None, :] - hi[None, :, :], lo[None, :, :] - hi[s:e, None, :]), 0.0)
        ok = np.einsum("abk,abk->ab", gap, gap) <= thr
        kgap = np.maximum(np.maximum(klo[s:e, None] - khi[None, :], klo[None, :] - khi[s:e, None]), 0.0)
        ok &= kgap <= band
        ok &= np.arange(s, e)[:, None] <= np.arange(nt)[None, :]
        a, b = np.nonzero(ok)
        a += s
        if ranges is not None and a.size:
            keep = _range_ok(np.minimum(khi[a], khi[b]), np.maximum(klo[a], klo[b]), ranges)
            a, b = a[keep], b[keep]
        out_a.append(a)
        out_b.append(b)
    return np.concatenate(out_a), np.concatenate(out_b)


def _buffer(store: dict, name: str, shape: tuple, like: Any, dtype: Any = None) -> Any:
    """A reusable tensor of ``shape`` (dtype, default that of ``like``, and device of ``like``):
    fresh allocations of large blocks cost page faults that are slower than the products."""
    numel = int(np.prod(shape))
    dtype = like.dtype if dtype is None else dtype
    buf = store.get(name)
    if buf is None or buf.numel() < numel or buf.dtype != dtype:
        import torch

        buf = torch.empty(max(numel, 1), dtype=dtype, device=like.device)
        store[name] = buf
    return buf[:numel].view(shape)


def _pow2_scale(centred: np.ndarray) -> float:
    """A power of two that brings the largest row norm of ``centred`` to [0.5, 1)."""
    biggest = float(np.sqrt(np.einsum("ij,ij->i", centred, centred).max(initial=0.0)))
    if not np.isfinite(biggest) or biggest == 0.0:
        return 1.0
    return float(2.0 ** -np.frexp(biggest)[1])


def _radix_order(values: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative integers below 2**32 by 16-bit digits (numpy's radix
    sort), in O(len(values)) instead of O(n log n)."""
    if values.size == 0 or int(values.max()) < 1 << 16:
        return np.argsort(values.astype(np.uint16), kind="stable")
    first = np.argsort((values & 0xFFFF).astype(np.uint16), kind="stable")
    return first[np.argsort((values[first] >> 16).astype(np.uint16), kind="stable")]


def _exact_d2(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Squared distances of the pairs (rows[k], cols[k]) in float64 from coordinate differences."""
    out = np.empty(rows.size, dtype=np.float64)
    for s in range(0, rows.size, _EXACT_CHUNK):
        e = min(rows.size, s + _EXACT_CHUNK)
        diff = x[rows[s:e]].astype(np.float64) - x[cols[s:e]].astype(np.float64)
        out[s:e] = np.einsum("ij,ij->i", diff, diff)
    return out


@dataclass
class RadiusGraph:
    """All pairs of points within ``eps`` of each other (among the candidate pairs).

    Pairs are stored once, ``rows < cols``, with their float32 squared distance and its error
    bound. :meth:`pairs_within` answers exactly for any radius ``<= eps``.

    Attributes
    ----------
    n_points : int
    eps : float
        The largest radius the graph is complete for.
    band : float
        Candidate pairs had lens values (``key``) at most this far apart (inf: all pairs).
    """

    n_points: int
    eps: float
    band: float
    rows: np.ndarray
    cols: np.ndarray
    d2: np.ndarray
    tol: np.ndarray
    points: np.ndarray = field(repr=False)
    ranges: np.ndarray | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_pairs(self) -> int:
        return int(self.rows.size)

    def pairs_within(self, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """The pairs ``(i, j)``, ``i < j``, with ``||x_i - x_j|| <= radius`` (exact, cached)."""
        radius = float(radius)
        if radius > self.eps * (1 + 1e-12):
            raise InvalidInputError(
                f"this neighbour graph was built for eps <= {self.eps:g}; radius {radius:g} needs "
                "a new one (build it with the largest eps of the sweep)."
            )
        if radius in self._cache:
            return self._cache[radius]
        r2 = radius * radius
        sure = self.d2 <= r2 - self.tol
        unsure = np.flatnonzero(~sure & (self.d2 <= r2 + self.tol))
        keep = sure
        if unsure.size:
            exact = _exact_d2(self.points, self.rows[unsure], self.cols[unsure])
            keep = sure.copy()
            keep[unsure[exact <= r2]] = True
        out = (self.rows[keep], self.cols[keep])
        if len(self._cache) > 16:
            self._cache.clear()
        self._cache[radius] = out
        return out


def radius_graph(x: np.ndarray, eps: float, *, key: np.ndarray | None = None,
                 band: float = np.inf, ranges: Any = None, device: Any = None) -> RadiusGraph:
    """Pairs of rows of ``x`` within Euclidean distance ``eps``, among the needed pairs.

    Parameters
    ----------
    x : ndarray of shape (n_points, n_features)
        The points (rows).
    eps : float
        Neighbourhood radius (inclusive: ``d <= eps``, as scikit-learn's ``radius_neighbors``).
    key : ndarray of shape (n_points,), optional
        A lens coordinate that limits which pairs are needed (below).
    band : float
        Only pairs with ``|key_i - key_j| <= band`` are needed (for a 1-Lipschitz key, pairs
        farther apart cannot be within eps; pairs farther apart than the longest cover set
        cannot share one).
    ranges : array of shape (n_ranges, 2), optional
        Closed key intervals (the cover sets along ``key``); only pairs inside one of them are
        needed.
    device : torch device, optional
        Where the float32 products run; default: CUDA when available, else CPU.

    Returns
    -------
    RadiusGraph
        Complete for the needed pairs: every needed pair within ``eps`` is in it, and only
        needed pairs are.

    Notes
    -----
    The points are centred and projected on ``k`` principal axes ``P`` (orthonormal); with the
    norm of the residual ``R`` (the part orthogonal to them),
    ``||x_i - x_j||^2 >= ||P_i - P_j||^2 + (||R_i|| - ||R_j||)^2``. A kd-tree on these
    coordinates (and the key) orders the points into tiles of ``_TILE`` points made of compact
    sub-blocks of ``_SUB`` points. Tile pairs whose bounding boxes (or key intervals) are too far
    apart are skipped; for the others the bound is computed pointwise with a cheap ``k``-column
    product, and only the sub-block pairs where some pair may be within ``eps`` get the full
    float32 product. Every bound allows for its rounding errors, so no needed pair is lost.
    """
    import torch

    from ..dissimilarity import default_device

    if not np.isfinite(eps) or eps < 0:
        raise InvalidInputError(f"eps must be a finite number >= 0; got {eps!r}.")
    n, dim = x.shape
    dev = default_device(device)
    if key is None:
        skey, band, ranges = np.zeros(n), np.inf, None
    else:
        skey = np.asarray(key, dtype=np.float64)
    band = float(band)
    if ranges is not None:
        ranges = np.asarray(ranges, dtype=np.float64).reshape(-1, 2)
        ranges = ranges[np.argsort(ranges[:, 0], kind="stable")]
    r2 = float(eps) * float(eps)
    idx_dtype = np.int32 if n < 2**31 else np.int64
    if n < 2:
        empty = np.empty(0, idx_dtype)
        return RadiusGraph(n_points=n, eps=float(eps), band=band, rows=empty, cols=empty.copy(),
                           d2=np.empty(0), tol=np.empty(0), points=x, ranges=ranges)
    centred = x - x.mean(axis=0, dtype=np.float64)
    # work at unit scale (an exact power of two), so float32 neither overflows nor underflows
    scale = _pow2_scale(centred)
    centred *= scale
    r2 *= scale * scale
    sq64 = np.einsum("ij,ij->i", centred, centred)
    max_sq = float(sq64.max(initial=0.0))
    u = _unit_roundoff()
    # |fl(d2) - d2| <= c (|x|^2 + |y|^2): dot-product error (dim u |x||y|), the rounding of the
    # inputs to float32 and of the additions; doubled for safety.
    c = 2.0 * (dim + 8) * u
    # ---- low-dimensional coordinates of the bound, rigorous to float64 rounding
    k = min(_PCA_DIMS, dim)
    axes = _principal_axes(centred, k)
    proj = centred @ axes
    pp = np.einsum("ij,ij->i", proj, proj)
    res2 = sq64 - pp
    err = 4e-12 * (sq64 + max_sq) + 1e-300  # float64 error of res2 (and of the projection)
    res_lo = np.sqrt(np.maximum(res2 - err, 0.0))
    res_hi = np.sqrt(np.maximum(res2 + err, 0.0))
    # ---- kd-tree tiles
    # the key enters the tiling at the points' scale (it is the L2 norm for the default lens)
    kfeat = skey * scale if np.isfinite(band) or ranges is not None else np.zeros(n)
    feat = np.column_stack([proj, 0.5 * (res_lo + res_hi), kfeat])
    order, sizes = _kd_order(feat, _TILE, _SUB)
    nt = sizes.size
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    slot = (np.arange(nt) * _TILE)[np.repeat(np.arange(nt), sizes)] + (np.arange(n) - np.repeat(starts, sizes))
    perm_pad = np.full(nt * _TILE, -1, dtype=np.int64)
    perm_pad[slot] = order
    bnd = np.column_stack([proj, res_lo])[order]
    bnd_hi = np.column_stack([proj, res_hi])[order]
    lo = np.minimum.reduceat(bnd, starts, axis=0)
    hi = np.maximum.reduceat(bnd_hi, starts, axis=0)
    ks = skey[order]
    klo = np.minimum.reduceat(ks, starts)
    khi = np.maximum.reduceat(ks, starts)
    ta, tb = _tile_pairs(lo, hi, klo, khi, r2, 1e-9 * max_sq, band, ranges)
    # ---- device arrays, padded per tile; one more all-pad sub-block at the end. Pads never
    # pass a test.
    # The bound is one product: with y = (P, R) and s = |y|^2, A_i = (y_i, s'_i, 1) and
    # B_j = (-2 y_j, 1, s'_j) give A_i . B_j = |y_i - y_j|^2 - slack_i - slack_j, where s' is s
    # less the product's rounding error and the error of R (taken from both ends).
    p_dtype = torch.float32 if u <= 2.0**-24 else torch.float64
    np_p = np.float32 if p_dtype == torch.float32 else np.float64
    u_p = 2.0**-24 if p_dtype == torch.float32 else 2.0**-53
    c_p = 4.0 * (k + 3 + 8) * u_p
    res_mid = 0.5 * (res_lo + res_hi)
    s_adj = (1.0 - c_p) * (pp + res_mid * res_mid) - 2.0 * float(res_hi.max()) * (res_hi - res_lo)
    n_pad = nt * _TILE + _SUB
    aug_a = np.zeros((n_pad, k + 3), dtype=np_p)
    aug_b = np.zeros((n_pad, k + 3), dtype=np_p)
    aug_a[:, k + 1] = aug_b[:, k + 2] = 1e30  # pads: a huge bound
    aug_a[:, k + 2] = aug_b[:, k + 1] = 1.0
    aug_a[slot, :k] = proj[order]
    aug_a[slot, k] = res_mid[order]
    aug_a[slot, k + 1] = s_adj[order]
    aug_b[slot, :k + 1] = -2.0 * aug_a[slot, :k + 1].astype(np.float64)
    aug_b[slot, k + 2] = s_adj[order]
    x_pad = np.zeros((n_pad, dim), dtype=np.float32)
    x_pad[slot] = centred[order]
    hs_pad = np.full(n_pad, np.inf, dtype=np.float32)
    hs_pad[slot] = 0.5 * (1.0 - c) * sq64[order]
    at = torch.from_numpy(aug_a).to(dev)
    bt = torch.from_numpy(aug_b).to(dev)
    xt = torch.from_numpy(x_pad).to(dev)
    hst = torch.from_numpy(hs_pad).to(dev)
    thr_p = r2 * (1.0 + 1e-5) + 1e-9 * max_sq
    ns = _TILE // _SUB
    bufs: dict[str, Any] = {}
    # ---- stage 2: the bound for all pairs of points of the surviving tile pairs, batched;
    # a sub-block pair survives when its smallest bound is within eps
    sub_ok = []
    step = max(1, _BLOCK_BYTES // (4 * _TILE * (_TILE + 2 * (k + 3))))
    at3, bt3 = at[:nt * _TILE].view(nt, _TILE, k + 3), bt[:nt * _TILE].view(nt, _TILE, k + 3)
    lower = torch.ones(ns, ns, dtype=torch.bool, device=dev).tril_(-1)
    for s0 in range(0, ta.size, step):
        a = torch.from_numpy(ta[s0:s0 + step]).to(dev)
        b = torch.from_numpy(tb[s0:s0 + step]).to(dev)
        m = a.numel()
        lhs = torch.index_select(at3, 0, a, out=_buffer(bufs, "pa", (m, _TILE, k + 3), at3))
        rhs = torch.index_select(bt3, 0, b, out=_buffer(bufs, "pb", (m, _TILE, k + 3), bt3))
        lb = torch.bmm(lhs, rhs.transpose(1, 2), out=_buffer(bufs, "lb", (m, _TILE, _TILE), at3))
        ok = lb.view(m, ns, _SUB, ns, _SUB).amin(dim=4).amin(dim=2) <= thr_p
        ok[a == b] &= ~lower  # a tile with itself: each sub-block pair once
        sub_ok.append(ok.cpu().numpy())
    ok_all = np.concatenate(sub_ok) if sub_ok else np.zeros((0, ns, ns), bool)
    # work items, sorted by row tile: (row tile, column sub-block, the row sub-blocks it needs)
    p_idx, sb = np.nonzero(ok_all.any(axis=1))
    item_tile = ta[p_idx]
    item_col = tb[p_idx] * ns + sb
    item_mask = ok_all[p_idx, :, sb]
    n_sub = int(ok_all.sum())
    del bufs["pa"], bufs["pb"], bufs["lb"]
    # ---- stage 3: full float32 products; a unit is a row tile with (a chunk of) its column
    # sub-blocks; units of similar length are batched, columns padded with the all-pad sub-block
    per_col = _SUB * (4 * dim + 9 * _TILE)
    w_max = max(1, (_BLOCK_BYTES - 4 * _TILE * dim) // per_col)
    t_first = np.searchsorted(item_tile, np.arange(nt + 1))
    u_start = np.concatenate([np.arange(t_first[t], t_first[t + 1], w_max) for t in range(nt)]
                             + [np.empty(0, np.int64)]).astype(np.int64)
    u_tile = item_tile[u_start] if u_start.size else u_start
    u_len = np.minimum(t_first[u_tile + 1] - u_start, w_max)
    by_len = np.argsort(u_len, kind="stable")
    rows_l, cols_l, val_l = [], [], []
    xt3 = xt[:nt * _TILE].view(nt, _TILE, dim)
    hst3 = hst[:nt * _TILE].view(nt, _TILE)
    pad_col = nt * ns  # the all-pad sub-block
    sub_ar = torch.arange(_SUB, device=dev)
    g0 = 0
    while g0 < by_len.size:
        g1 = g0 + 1
        while (g1 < by_len.size
               and (g1 + 1 - g0) * (4 * _TILE * dim + int(u_len[by_len[g1]]) * per_col) <= _BLOCK_BYTES):
            g1 += 1
        units = by_len[g0:g1]
        g0 = g1
        lens, starts, ng = u_len[units], u_start[units], units.size
        width = int(lens.max())
        off = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
        col_sb = np.full((ng, width), pad_col, dtype=np.int64)
        col_sb[np.repeat(np.arange(ng), lens), off] = item_col[np.repeat(starts, lens) + off]
        tl = torch.from_numpy(u_tile[units]).to(dev)
        cols = (torch.from_numpy(col_sb).to(dev)[:, :, None] * _SUB + sub_ar).view(-1)
        lhs = torch.index_select(xt3, 0, tl, out=_buffer(bufs, "xa", (ng, _TILE, dim), xt))
        rhs = torch.index_select(xt, 0, cols, out=_buffer(bufs, "xb", (cols.numel(), dim), xt))
        dot = torch.bmm(lhs, rhs.view(ng, width * _SUB, dim).transpose(1, 2),
                        out=_buffer(bufs, "dot", (ng, _TILE, width * _SUB), xt))
        thr = torch.add((hst3[tl] - 0.5 * r2)[:, :, None], hst[cols].view(ng, 1, -1),
                        out=_buffer(bufs, "thr", dot.shape, xt))
        g, i, j = torch.nonzero(torch.ge(dot, thr, out=_buffer(bufs, "hit", dot.shape, xt, torch.bool)),
                                as_tuple=True)
        vals = dot[g, i, j].cpu().numpy()
        g, i, j = g.cpu().numpy(), i.cpu().numpy(), j.cpu().numpy()
        item = starts[g] + j // _SUB
        pos_r = u_tile[units][g] * _TILE + i
        pos_c = item_col[item] * _SUB + j % _SUB
        keep = item_mask[item, i // _SUB] & (pos_r < pos_c)
        rows_l.append(pos_r[keep])
        cols_l.append(pos_c[keep])
        val_l.append(vals[keep])
    pos_i = np.concatenate(rows_l) if rows_l else np.empty(0, np.int64)
    pos_j = np.concatenate(cols_l) if cols_l else np.empty(0, np.int64)
    dots = np.concatenate(val_l).astype(np.float64) if val_l else np.empty(0)
    pi, pj = perm_pad[pos_i], perm_pad[pos_j]
    ri, ci = np.minimum(pi, pj), np.maximum(pi, pj)
    d2 = sq64[ri] + sq64[ci] - 2.0 * dots
    tol = c * (sq64[ri] + sq64[ci])
    keep = d2 <= r2 + tol
    d2 /= scale * scale  # back to the caller's units (exact: a power of two)
    tol /= scale * scale
    if np.isfinite(band):
        keep &= np.abs(skey[ri] - skey[ci]) <= band
    if ranges is not None:
        keep &= _range_ok(np.minimum(skey[ri], skey[ci]), np.maximum(skey[ri], skey[ci]), ranges)
    ri, ci, d2, tol = ri[keep], ci[keep], d2[keep], tol[keep]
    by_col = _radix_order(ci)  # (row, col) order in O(pairs): by col, then stably by row
    srt = by_col[_radix_order(ri[by_col])]
    graph = RadiusGraph(
        n_points=n, eps=float(eps), band=band,
        rows=ri[srt].astype(idx_dtype), cols=ci[srt].astype(idx_dtype),
        d2=d2[srt], tol=tol[srt], points=x, ranges=ranges,
    )
    logger.info("radius graph: %d points, eps=%.4g, band=%.4g, %s, %d tile pairs, %d sub-block "
                "pairs, %d candidate pairs kept", n, eps, band,
                "all pairs" if ranges is None else f"{len(ranges)} ranges", ta.size, n_sub,
                graph.n_pairs)
    return graph


def kdistances(x: np.ndarray, min_samples: int, *, sample: int = 2000, seed: int = 0,
               device: Any = None) -> np.ndarray:
    """Distances from (a seeded sample of up to ``sample``) points to their
    ``k = min_samples - 1``-th nearest *other* point: about the smallest ``eps`` that makes each
    a DBSCAN core point (up to the rounding of the square root).

    The k nearest candidates come from a float32 GEMM and their distances are recomputed in
    float64, so the values do not depend on the device. Returns an empty array when
    ``min_samples <= 1`` (every point is a core point at any eps).
    """
    import torch

    from ..dissimilarity import default_device

    n = x.shape[0]
    k = int(min_samples) - 1
    if k < 1:
        return np.zeros(0)
    if n <= k:
        raise InvalidInputError(
            f"min_samples={min_samples} needs more than {k} points to choose eps from "
            f"k-distances; got {n} point(s). Pass eps explicitly or lower min_samples."
        )
    rng = np.random.default_rng(seed)
    queries = np.sort(rng.choice(n, size=min(n, sample), replace=False))
    dev = default_device(device)
    centred = x - x.mean(axis=0, dtype=np.float64)
    # float32 candidates at unit scale (the ranking is scale-free); exact distances unscaled
    xt = torch.from_numpy(np.ascontiguousarray(centred * _pow2_scale(centred),
                                               dtype=np.float32)).to(dev)
    sq = (xt * xt).sum(1)
    m = min(n - 1, k + 8)
    out = np.empty(queries.size)
    step = max(1, _BLOCK_BYTES // (4 * n))
    for s in range(0, queries.size, step):
        q = queries[s:s + step]
        qt = torch.from_numpy(q).to(dev)
        d2 = (xt[qt] @ xt.T).mul_(-2.0).add_(sq[qt, None]).add_(sq[None, :])
        d2[torch.arange(q.size, device=dev), qt] = float("inf")  # not itself
        cand = torch.topk(d2, m, dim=1, largest=False).indices.cpu().numpy()
        exact = _exact_d2(centred, np.repeat(q, m), cand.ravel()).reshape(q.size, m)
        out[s:s + q.size] = np.sqrt(np.sort(exact, axis=1)[:, k - 1])
    return out


def kdistance_eps(x: np.ndarray, min_samples: int, quantile: float, *, sample: int = 2000,
                  seed: int = 0, device: Any = None) -> float:
    """DBSCAN's ``eps`` from the k-distance heuristic: the ``quantile`` of :func:`kdistances`,
    so that about that fraction of the points would be core points of a DBSCAN on all the data.
    """
    if not 0.0 <= quantile <= 1.0:
        raise InvalidInputError(f"eps_quantile must be in [0, 1]; got {quantile!r}.")
    d = kdistances(x, min_samples, sample=sample, seed=seed, device=device)
    return float(np.quantile(d, quantile)) if d.size else 0.0
