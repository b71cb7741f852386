"""The shared eps-neighbour graph against a brute-force float64 oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist, pdist

from topolens.exceptions import InvalidInputError
from topolens.mapper.neighbours import RadiusGraph, kdistance_eps, radius_graph


def _needed(key: np.ndarray, band: float, ranges: np.ndarray | None, i: np.ndarray,
            j: np.ndarray) -> np.ndarray:
    need = np.abs(key[i] - key[j]) <= band
    if ranges is not None:
        lo, hi = np.minimum(key[i], key[j]), np.maximum(key[i], key[j])
        inside = (ranges[None, :, 0] <= lo[:, None]) & (hi[:, None] <= ranges[None, :, 1])
        need &= inside.any(axis=1)
    return need


def brute(x: np.ndarray, r: float, key: np.ndarray | None = None, band: float = np.inf,
          ranges: np.ndarray | None = None) -> set[tuple[int, int]]:
    """Needed pairs i < j with exact float64 distance <= r (squared, as pairs_within)."""
    x64 = np.asarray(x, dtype=np.float64)
    d2 = cdist(x64, x64, "sqeuclidean")
    i, j = np.nonzero(np.triu(d2 <= r * r, 1))
    if key is not None:
        keep = _needed(np.asarray(key, np.float64), band, ranges, i, j)
        i, j = i[keep], j[keep]
    return set(zip(i.tolist(), j.tolist(), strict=True))


def as_set(graph: RadiusGraph, r: float) -> set[tuple[int, int]]:
    rows, cols = graph.pairs_within(r)
    assert np.all(rows < cols)
    out = set(zip(rows.tolist(), cols.tolist(), strict=True))
    assert len(out) == rows.size  # no duplicates
    return out


def gaussian(n: int, d: int, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed)
    return g.normal(size=(n, d)) * g.uniform(0.5, 2.0, size=(n, 1))


def clustered(n: int, d: int, seed: int) -> np.ndarray:
    """ReLU'd low-rank blobs: activation-like, spread of norms, low intrinsic dimension."""
    g = np.random.default_rng(seed)
    centres = g.normal(size=(6, d)) * 3.0
    lab = g.integers(0, 6, n)
    low = g.normal(size=(n, 4)) @ g.normal(size=(4, d)) * 0.4
    return np.maximum(centres[lab] + low + 0.3 * g.normal(size=(n, d)), 0.0)


def eps_for(x: np.ndarray, frac: float = 0.01) -> float:
    x64 = np.asarray(x, np.float64)
    d = cdist(x64, x64)
    return float(np.quantile(d[np.triu_indices(len(x), 1)], frac))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["gaussian", "clustered"])
def test_all_pairs_exact(kind: str, dtype: type) -> None:
    x = (gaussian if kind == "gaussian" else clustered)(900, 24, seed=1).astype(dtype)
    eps = eps_for(x)
    graph = radius_graph(x, eps, device="cpu")
    for r in (eps, 0.8 * eps, 0.5 * eps, 0.0):
        assert as_set(graph, r) == brute(x, r)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_key_band_and_ranges(dtype: type) -> None:
    x = clustered(1200, 40, seed=2).astype(dtype)
    key = np.linalg.norm(x.astype(np.float64), axis=1)  # 1-Lipschitz
    eps = eps_for(x, 0.02)
    lo, hi = key.min(), key.max()
    length = (hi - lo) / (5 - 4 * 0.3)
    starts = lo + np.arange(5) * length * 0.7
    ranges = np.c_[starts, starts + length]
    for band, rng_ in [(eps, None), (eps / 4, None), (eps, ranges), (np.inf, ranges[::-1])]:
        graph = radius_graph(x, eps, key=key, band=band, ranges=rng_, device="cpu")
        sorted_ranges = None if rng_ is None else ranges
        for r in (eps, 0.7 * eps):
            assert as_set(graph, r) == brute(x, r, key, band, sorted_ranges)


def test_non_lipschitz_key() -> None:
    """A key unrelated to the distances: only the band / ranges select pairs."""
    x = gaussian(700, 10, seed=3)
    key = np.random.default_rng(3).uniform(0, 10, size=len(x))
    eps = eps_for(x, 0.05)
    ranges = np.array([[0.0, 4.0], [3.0, 7.5], [7.0, 10.0]])
    for band, rng_ in [(1.0, None), (2.0, ranges), (np.inf, ranges)]:
        graph = radius_graph(x, eps, key=key, band=band, ranges=rng_, device="cpu")
        assert as_set(graph, eps) == brute(x, eps, key, band, rng_)


def test_duplicates_and_zero_eps() -> None:
    g = np.random.default_rng(4)
    base = g.normal(size=(150, 12))
    x = np.concatenate([base, base[:60], base[:20]]).astype(np.float32)
    x = x[g.permutation(len(x))]
    graph = radius_graph(x, 0.0, device="cpu")
    assert as_set(graph, 0.0) == brute(x, 0.0)
    assert len(brute(x, 0.0)) > 80
    eps = eps_for(x, 0.01)
    graph = radius_graph(x, eps, key=np.linalg.norm(x, axis=1), band=eps, device="cpu")
    for r in (eps, 0.0):
        assert as_set(graph, r) == brute(x, r)


@pytest.mark.parametrize("offset", [0.0, 1000.0])
@pytest.mark.parametrize("eps", [1.0, 2.0**0.5, 2.0])
def test_lattice_pairs_exactly_at_eps(eps: float, offset: float) -> None:
    """Integer points: many pairs lie exactly at distance eps and must be kept."""
    g = np.random.default_rng(5)
    x = (g.integers(0, 6, size=(800, 5)) + offset).astype(np.float32)
    key = np.linalg.norm(x.astype(np.float64), axis=1)
    exact = brute(x, eps)
    at_eps = {p for p in exact if abs(np.linalg.norm(x[p[0]].astype(float) - x[p[1]]) - eps) < 1e-12}
    assert at_eps
    for kw in ({}, {"key": key, "band": eps}):
        graph = radius_graph(x, eps, device="cpu", **kw)
        assert as_set(graph, eps) == exact
        assert as_set(graph, 1.0) == brute(x, 1.0)


def test_many_tiles_high_dim_float32() -> None:
    x = clustered(3000, 96, seed=6).astype(np.float32)
    key = np.linalg.norm(x.astype(np.float64), axis=1)
    eps = eps_for(x[:1000], 0.01)
    graph = radius_graph(x, eps, key=key, band=eps, device="cpu")
    assert as_set(graph, eps) == brute(x, eps, key, eps)


def test_threads_do_not_change_result() -> None:
    x = clustered(1500, 64, seed=7).astype(np.float32)
    key = np.linalg.norm(x.astype(np.float64), axis=1)
    eps = eps_for(x, 0.01)
    before = torch.get_num_threads()
    try:
        out = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            graph = radius_graph(x, eps, key=key, band=eps, device="cpu")
            out.append([graph.pairs_within(r) for r in (eps, 0.6 * eps)])
    finally:
        torch.set_num_threads(before)
    for (r1, c1), (r2, c2) in zip(*out, strict=True):
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(c1, c2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu() -> None:
    x = clustered(4000, 128, seed=8).astype(np.float32)
    key = np.linalg.norm(x.astype(np.float64), axis=1)
    eps = eps_for(x[:1500], 0.01)
    ranges = np.array([[key.min(), np.median(key)], [np.quantile(key, 0.4), key.max()]])
    for kw in ({}, {"key": key, "band": eps}, {"key": key, "band": eps, "ranges": ranges}):
        cpu = radius_graph(x, eps, device="cpu", **kw)
        gpu = radius_graph(x, eps, device="cuda", **kw)
        for r in (eps, 0.5 * eps):
            assert as_set(cpu, r) == as_set(gpu, r)
    assert as_set(gpu, eps) == brute(x, eps, key, eps, ranges)


def test_edge_cases() -> None:
    for n in (0, 1):
        graph = radius_graph(np.zeros((n, 3)), 1.0, device="cpu")
        assert graph.n_pairs == 0
    graph = radius_graph(np.zeros((2, 3)), 0.0, device="cpu")
    assert as_set(graph, 0.0) == {(0, 1)}
    with pytest.raises(InvalidInputError):
        radius_graph(np.zeros((3, 2)), -1.0)
    with pytest.raises(InvalidInputError):
        radius_graph(np.zeros((3, 2)), float("nan"))
    graph = radius_graph(gaussian(50, 3, 0), 0.5, device="cpu")
    with pytest.raises(InvalidInputError):
        graph.pairs_within(0.6)


@pytest.mark.parametrize("min_samples", [2, 5])
def test_kdistance_eps_brute_force(min_samples: int) -> None:
    x = clustered(700, 20, seed=9)
    q = 0.5
    got = kdistance_eps(x, min_samples, q, sample=300, seed=0, device="cpu")
    queries = np.sort(np.random.default_rng(0).choice(len(x), size=300, replace=False))
    d = cdist(x[queries], x)
    d[np.arange(300), queries] = np.inf
    kth = np.sort(d, axis=1)[:, min_samples - 2]
    assert got == pytest.approx(float(np.quantile(kth, q)), rel=1e-12, abs=1e-12)
    assert kdistance_eps(x, 1, q) == 0.0


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 60), d=st.integers(1, 6), seed=st.integers(0, 10**6),
       frac=st.floats(0.0, 1.0), lattice=st.booleans(), use_key=st.booleans())
def test_property_pairs_within(n: int, d: int, seed: int, frac: float, lattice: bool,
                               use_key: bool) -> None:
    g = np.random.default_rng(seed)
    x = g.integers(-2, 3, size=(n, d)).astype(np.float64) if lattice else g.normal(size=(n, d))
    x64 = x.astype(np.float64)
    dist = cdist(x64, x64)[np.triu_indices(n, 1)]
    eps = float(np.quantile(dist, frac))
    if not lattice:  # keep off exact ties, where the last bit of the summation order decides
        eps *= 1.0 + 1e-9
    key = np.linalg.norm(x64, axis=1) if use_key else None
    band = eps if use_key else np.inf
    graph = radius_graph(x, eps, key=key, band=band, device="cpu")
    for r in (eps, 0.5 * eps):
        assert as_set(graph, r) == brute(x, r)


@pytest.mark.parametrize("scale", [1e-30, 1e-22, 1e19, 1e30])
def test_extreme_scales_give_the_same_pairs(scale):
    from topolens.mapper.neighbours import kdistances

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 20))
    eps = float(np.quantile(pdist(x), 0.05))
    ref = radius_graph(x, eps).pairs_within(eps)
    got = radius_graph(x * scale, eps * scale).pairs_within(eps * scale)
    assert set(zip(*got, strict=True)) == set(zip(*ref, strict=True))
    np.testing.assert_allclose(kdistances(x * scale, 5) / scale, kdistances(x, 5), rtol=1e-9)
