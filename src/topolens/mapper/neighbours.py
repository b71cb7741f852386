"""Radius-neighbour graphs computed once and reused by every cover (Mapper's fast path).

DBSCAN inside a cover set needs, for each point of the set, its neighbours within ``eps`` that
are also in the set. Those are a subset of the global ``eps``-neighbour pairs, so the pairs are
computed once for all cover sets and all cover settings of a sweep.

Two facts keep the work small:

* Two points are only ever compared when they can share a cover set, so only pairs whose lens
  values differ by at most the largest set extent are candidates.
* For a 1-Lipschitz lens (the L2 norm, a column, a PCA axis) ``|f(x) - f(y)| <= ||x - y||``,
  so pairs whose lens values differ by more than ``eps`` cannot be neighbours either.

The points are sorted by the lens and compared block by block within that band with float32
GEMMs (on the GPU when one is present). Every pair whose float32 squared distance lies within a
rigorous rounding-error bound of ``eps**2`` is recomputed exactly in float64 from the coordinate
differences, so the graph does not depend on the device, the BLAS or the number of threads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..exceptions import InvalidInputError

__all__ = ["RadiusGraph", "kdistance_eps", "radius_graph"]

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
        w, v = np.linalg.eigh(s.T @ s)
        axes = v[:, ::-1][:, :k]
    else:
        w, u = np.linalg.eigh(s @ s.T)
        axes = s.T @ u[:, ::-1][:, :k]
    # complete with random directions where the sample is degenerate, then orthonormalise
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
        h = min(max(int(round(m / (2 * unit))) * unit, unit), m - 1)
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
    err = 1e-12 * (sq64 + max_sq) + 1e-300  # float64 error of res2 (and of the projection)
    res_lo = np.sqrt(np.maximum(res2 - err, 0.0))
    res_hi = np.sqrt(np.maximum(res2 + err, 0.0))
    # ---- kd-tree tiles
    feat = np.column_stack([proj, 0.5 * (res_lo + res_hi), skey if np.isfinite(band) or ranges is not None else np.zeros(n)])
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
    # ---- device arrays, padded per tile: pads never pass a test
    p_dtype = torch.float32 if u <= 2.0**-24 else torch.float64
    u_p = 2.0**-24 if p_dtype == torch.float32 else 2.0**-53
    c_p = 2.0 * (k + 8) * u_p
    valid = perm_pad >= 0
    src = np.where(valid, perm_pad, 0)
    p_pad = np.where(valid[:, None], proj[src], 0.0)
    pp_a = np.where(valid, (1.0 - c_p) * pp[src], np.inf)  # |P|^2 less the product's error
    rlo_pad = np.where(valid, res_lo[src], 0.0)
    rhi_pad = np.where(valid, res_hi[src], 0.0)
    key_pad = np.where(valid, skey[src], np.nan)
    hs_pad = np.where(valid, 0.5 * (1.0 - c) * sq64[src], np.inf)
    np_p = np.float32 if p_dtype == torch.float32 else np.float64
    pt = torch.from_numpy(p_pad.astype(np_p)).to(dev).view(nt, _TILE, k)
    ppt = torch.from_numpy(pp_a.astype(np_p)).to(dev).view(nt, _TILE)
    # residual intervals rounded outwards
    rlot = torch.from_numpy(np.nextafter(rlo_pad.astype(np_p), np_p(-np.inf)).clip(0)).to(dev).view(nt, _TILE)
    rhit = torch.from_numpy(np.nextafter(rhi_pad.astype(np_p), np_p(np.inf))).to(dev).view(nt, _TILE)
    keyt = torch.from_numpy(key_pad).to(dev).view(nt, _TILE)
    xt = torch.from_numpy(np.where(valid[:, None], centred[src], 0.0).astype(np.float32)).to(dev)
    ns = _TILE // _SUB
    xsub = xt.view(nt * ns, _SUB, dim)
    hst = torch.from_numpy(hs_pad.astype(np.float32)).to(dev).view(nt * ns, _SUB)
    thr_p = r2 * (1.0 + 1e-5) + 1e-9 * max_sq
    # ---- stage 2: pointwise low-dimensional bound on the surviving tile pairs
    ga_l, gb_l = [], []
    step = max(1, _BLOCK_BYTES // (4 * 4 * _TILE * _TILE))
    ta_t = torch.from_numpy(ta).to(dev)
    tb_t = torch.from_numpy(tb).to(dev)
    check_band = np.isfinite(band)
    for s in range(0, ta.size, step):
        a, b = ta_t[s:s + step], tb_t[s:s + step]
        lb = torch.baddbmm(ppt[a][:, :, None] + ppt[b][:, None, :], pt[a], pt[b].transpose(1, 2),
                           alpha=-2.0)
        gap = torch.maximum(rlot[a][:, :, None] - rhit[b][:, None, :],
                            rlot[b][:, None, :] - rhit[a][:, :, None]).clamp_(min=0)
        ok = lb.addcmul_(gap, gap) <= thr_p
        if check_band:
            ok &= (keyt[a][:, :, None] - keyt[b][:, None, :]).abs_() <= band
        blk = ok.view(-1, ns, _SUB, ns, _SUB).any(dim=4).any(dim=2)
        bi, sa, sb = torch.nonzero(blk, as_tuple=True)
        keep = (a[bi] != b[bi]) | (sa <= sb)
        ga_l.append((a[bi] * ns + sa)[keep])
        gb_l.append((b[bi] * ns + sb)[keep])
    ga = torch.cat(ga_l) if ga_l else torch.empty(0, dtype=torch.long, device=dev)
    gb = torch.cat(gb_l) if gb_l else torch.empty(0, dtype=torch.long, device=dev)
    # ---- stage 3: full float32 products of the surviving sub-block pairs
    rows_l, cols_l, val_l = [], [], []
    step = max(1, _BLOCK_BYTES // (4 * 2 * _SUB * (dim + _SUB)))
    for s in range(0, ga.numel(), step):
        a, b = ga[s:s + step], gb[s:s + step]
        dot = torch.bmm(xsub[a], xsub[b].transpose(1, 2))
        thr = hst[a][:, :, None] + hst[b][:, None, :] - 0.5 * r2
        hit = dot >= thr
        hit &= ((a != b)[:, None, None]
                | (torch.arange(_SUB, device=dev)[:, None] < torch.arange(_SUB, device=dev)[None, :]))
        bi, i, j = torch.nonzero(hit, as_tuple=True)
        vals = dot[bi, i, j]
        rows_l.append((a[bi] * _SUB + i).cpu().numpy())
        cols_l.append((b[bi] * _SUB + j).cpu().numpy())
        val_l.append(vals.cpu().numpy())
    pos_i = np.concatenate(rows_l) if rows_l else np.empty(0, np.int64)
    pos_j = np.concatenate(cols_l) if cols_l else np.empty(0, np.int64)
    dots = np.concatenate(val_l).astype(np.float64) if val_l else np.empty(0)
    pi, pj = perm_pad[pos_i], perm_pad[pos_j]
    ri, ci = np.minimum(pi, pj), np.maximum(pi, pj)
    d2 = sq64[ri] + sq64[ci] - 2.0 * dots
    tol = c * (sq64[ri] + sq64[ci])
    keep = d2 <= r2 + tol
    if check_band:
        keep &= np.abs(skey[ri] - skey[ci]) <= band
    if ranges is not None:
        keep &= _range_ok(np.minimum(skey[ri], skey[ci]), np.maximum(skey[ri], skey[ci]), ranges)
    ri, ci, d2, tol = ri[keep], ci[keep], d2[keep], tol[keep]
    srt = np.lexsort((ci, ri))
    graph = RadiusGraph(
        n_points=n, eps=float(eps), band=band,
        rows=ri[srt].astype(idx_dtype), cols=ci[srt].astype(idx_dtype),
        d2=d2[srt], tol=tol[srt], points=x, ranges=ranges,
    )
    logger.info("radius graph: %d points, eps=%.4g, band=%.4g, %s, %d tile pairs, %d sub-block "
                "pairs, %d candidate pairs kept", n, eps, band,
                "all pairs" if ranges is None else f"{len(ranges)} ranges", ta.size, ga.numel(),
                graph.n_pairs)
    return graph


def kdistance_eps(x: np.ndarray, min_samples: int, quantile: float, *, sample: int = 2000,
                  seed: int = 0, device: Any = None) -> float:
    """DBSCAN's ``eps`` from the k-distance heuristic.

    The distance from a point to its ``k = min_samples - 1``-th nearest *other* point is the
    smallest ``eps`` that makes it a core point. This returns the ``quantile`` of those
    distances over (a seeded sample of up to ``sample``) points, so that about that fraction
    of the points would be core points of a DBSCAN on all the data. The k nearest candidates
    come from a float32 GEMM and their distances are recomputed exactly in float64, so the
    value does not depend on the device.
    """
    import torch

    from ..dissimilarity import default_device

    n = x.shape[0]
    k = int(min_samples) - 1
    if k < 1:
        return 0.0
    if n <= k:
        raise InvalidInputError(
            f"min_samples={min_samples} needs more than {k} points to choose eps from "
            f"k-distances; got {n} point(s). Pass eps explicitly or lower min_samples."
        )
    if not 0.0 <= quantile <= 1.0:
        raise InvalidInputError(f"eps_quantile must be in [0, 1]; got {quantile!r}.")
    rng = np.random.default_rng(seed)
    queries = np.sort(rng.choice(n, size=min(n, sample), replace=False))
    dev = default_device(device)
    centred = x - x.mean(axis=0, dtype=np.float64)
    xt = torch.from_numpy(np.ascontiguousarray(centred, dtype=np.float32)).to(dev)
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
    return float(np.quantile(out, quantile))
