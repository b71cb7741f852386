"""density_filter and maxmin_landmarks against brute-force cdist computations."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from topolens.exceptions import InvalidInputError, MemoryBudgetError, NonFiniteError, ShapeError
from topolens.filters._density import DensityFiltered, density_filter, maxmin_landmarks

SCIPY_METRIC = {"euclidean": "euclidean", "manhattan": "cityblock", "chebyshev": "chebyshev"}


def _density_brute(x: np.ndarray, k: int, p: float, metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    d = cdist(x, x, SCIPY_METRIC[metric])
    delta = np.sort(d, axis=1)[:, k]  # column 0 is the point itself (0), so column k is the k-th other point
    n_keep = max(1, int(np.floor(p * len(x) + 0.5)))
    order = np.argsort(delta, kind="stable")[:n_keep]
    return order, delta[order]


@st.composite
def _clouds(draw):
    n = draw(st.integers(2, 30))
    dim = draw(st.sampled_from([1, 2, 3, 7, 9]))  # 7 and 9 take the brute-force path
    coords = draw(st.lists(st.integers(-3, 3), min_size=n * dim, max_size=n * dim))  # ties and duplicates
    k = draw(st.integers(1, n - 1))
    p = draw(st.floats(0.01, 1.0))
    metric = draw(st.sampled_from(list(SCIPY_METRIC)))
    return np.array(coords, dtype=np.float64).reshape(n, dim), k, p, metric


@settings(max_examples=80, deadline=None)
@given(_clouds())
def test_density_filter_equals_brute_force_cdist(case):
    x, k, p, metric = case
    res = density_filter(x, k, p, metric=metric)
    order, dist = _density_brute(x, k, p, metric)
    # integer coordinates: every distance is computed exactly, so even tied points keep their order
    np.testing.assert_array_equal(res.indices, order)
    np.testing.assert_array_equal(res.distances, dist)
    assert res.radius == dist[-1] and res.k == k and res.p == p and res.n_points == len(x)


@pytest.mark.parametrize("dim", [3, 9, 40])
def test_density_filter_on_real_valued_points(dim):
    x = np.random.default_rng(dim).normal(size=(400, dim))
    res = density_filter(x, k=15, p=0.3)
    order, dist = _density_brute(x, 15, 0.3)
    np.testing.assert_array_equal(res.indices, order)
    np.testing.assert_allclose(res.distances, dist, rtol=1e-12)
    assert np.all(np.diff(res.distances) >= 0) and res.indices.dtype == np.int64


def test_cluster_in_uniform_noise_is_kept():
    g = np.random.default_rng(0)
    cluster = 0.3 + 0.02 * g.normal(size=(300, 9))
    noise = g.uniform(-1, 1, size=(700, 9))
    x = np.vstack([noise[:350], cluster, noise[350:]])
    res = density_filter(x, k=15, p=0.3)
    assert sorted(res.indices.tolist()) == list(range(350, 650))


def test_circle_recovered_from_uniform_noise_on_s8():
    g = np.random.default_rng(1)
    t = g.uniform(0, 2 * np.pi, 400)
    circle = np.zeros((400, 9))
    circle[:, 0], circle[:, 1] = np.cos(t), np.sin(t)
    circle += 0.01 * g.normal(size=circle.shape)
    noise = g.normal(size=(1600, 9))
    x = np.vstack([circle, noise])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    res = density_filter(x, k=10, p=0.2)
    assert len(res) == 400 and np.mean(res.indices < 400) > 0.97


def test_duplicates_have_distance_zero_and_rounding():
    x = np.zeros((10, 3))
    res = density_filter(x, k=4, p=0.25)  # 2.5 rounds up to 3
    np.testing.assert_array_equal(res.indices, [0, 1, 2])
    np.testing.assert_array_equal(res.distances, 0.0)
    assert len(density_filter(x, k=4, p=0.3)) == 3 and len(density_filter(x, k=4, p=0.01)) == 1
    assert len(density_filter(x, k=9, p=1.0)) == 10
    # a duplicate pair plus spread points: the pair's 1-NN distance is exactly 0
    y = np.vstack([np.eye(3) * [1, 2, 4], [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]])
    res = density_filter(y, k=1, p=0.4)
    np.testing.assert_array_equal(res.indices, [3, 4])
    assert res.radius == 0.0


def test_inputs_users_pass_and_frozen_result():
    x = np.random.default_rng(2).normal(size=(50, 4)).astype(np.float32)
    ref = density_filter(x.astype(np.float64), k=5)
    for alt in (torch.from_numpy(x), x.tolist(), x):
        np.testing.assert_array_equal(density_filter(alt, k=5).indices, ref.indices)
    assert isinstance(ref, DensityFiltered)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.k = 3


@pytest.mark.parametrize("x, kwargs, exc, text", [
    (np.zeros((5, 2)), {"k": 5}, InvalidInputError, "k=5 needs at least k . 1 = 6 points, but there are 5: the largest legal k is 4"),
    (np.zeros((1, 2)), {"k": 1}, InvalidInputError, "largest legal k is 0"),
    (np.zeros((5, 2)), {"k": 0}, InvalidInputError, "k must be >= 1"),
    (np.zeros((5, 2)), {"k": 2.0}, InvalidInputError, "k must be an integer"),
    (np.zeros((5, 2)), {"k": 2, "p": 0.0}, InvalidInputError, r"p must be in \(0, 1\]"),
    (np.zeros((5, 2)), {"k": 2, "p": 1.01}, InvalidInputError, r"p must be in \(0, 1\]"),
    (np.zeros((5, 2)), {"k": 2, "metric": "cosine"}, InvalidInputError, "metric must be one of"),
    (np.array([[0.0, np.nan]] * 5), {"k": 2}, NonFiniteError, r"5 NaN .* in 5 row"),
    (np.zeros(5), {"k": 2}, ShapeError, "must be 2-D"),
    (np.zeros((5, 2), dtype=complex), {"k": 2}, InvalidInputError, "complex"),
])
def test_density_filter_bad_inputs(x, kwargs, exc, text):
    with pytest.raises(exc, match=text):
        density_filter(x, **kwargs)


def test_density_filter_memory_refusal():
    with pytest.raises(MemoryBudgetError, match="15-NN distances of 1,000 points"):
        density_filter(np.zeros((1000, 9)), memory_limit=1000)


# ---------------------------------------------------------------- maxmin_landmarks

def _maxmin_brute(x: np.ndarray, m: int, seed: int) -> list[int]:
    chosen = [int(np.random.default_rng(seed).integers(len(x)))]
    while len(chosen) < m:
        dmin = cdist(x, x[chosen]).min(axis=1)
        dmin[chosen] = -1.0
        chosen.append(int(np.argmax(dmin)))
    return chosen


@pytest.mark.parametrize("seed", [0, 1, 5])
@pytest.mark.parametrize("m", [1, 2, 17])
def test_maxmin_equals_brute_force_loop(seed, m):
    x = np.random.default_rng(10 + seed).normal(size=(120, 5))
    got, radius = maxmin_landmarks(x, m, seed=seed, return_radius=True)
    assert got.tolist() == _maxmin_brute(x, m, seed)
    cover = cdist(x, x[got]).min(axis=1)
    assert np.all(cover <= radius + 1e-12)
    assert radius == pytest.approx(cover.max(), rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 25), st.integers(1, 24), st.integers(0, 10**6))
def test_maxmin_on_integer_grids_with_ties(n, m, seed):
    x = np.random.default_rng(seed).integers(-2, 3, size=(n, 2)).astype(np.float64)
    got = maxmin_landmarks(x, m, seed=seed)
    if m >= n:
        np.testing.assert_array_equal(got, np.arange(n))
    else:
        assert got.tolist() == _maxmin_brute(x, m, seed)
        assert len(set(got.tolist())) == m  # duplicates of landmarks are never chosen twice


def test_maxmin_is_within_twice_the_optimal_covering_radius():
    for trial in range(5):
        x = np.random.default_rng(trial).normal(size=(9, 2))
        for m in (2, 3):
            _, radius = maxmin_landmarks(x, m, seed=trial, return_radius=True)
            best = min(cdist(x, x[list(c)]).min(axis=1).max() for c in itertools.combinations(range(9), m))
            assert best - 1e-12 <= radius <= 2 * best + 1e-12


def test_maxmin_edge_cases():
    x = np.random.default_rng(3).normal(size=(6, 3))
    idx, radius = maxmin_landmarks(x, 6, return_radius=True)
    np.testing.assert_array_equal(idx, np.arange(6))
    assert radius == 0.0
    np.testing.assert_array_equal(maxmin_landmarks(x, 100), np.arange(6))
    same = np.ones((5, 2))
    idx, radius = maxmin_landmarks(same, 3, return_radius=True)
    assert len(set(idx.tolist())) == 3 and radius == 0.0
    assert maxmin_landmarks(x, 1, seed=1)[0] != maxmin_landmarks(x, 1, seed=2)[0] or \
        maxmin_landmarks(x, 1, seed=1)[0] != maxmin_landmarks(x, 1, seed=4)[0]
    np.testing.assert_array_equal(maxmin_landmarks(torch.from_numpy(x), 3), maxmin_landmarks(x, 3))


@pytest.mark.parametrize("x, m, exc, text", [
    (np.zeros((5, 2)), 0, InvalidInputError, "n_landmarks must be >= 1"),
    (np.zeros((5, 2)), 1.5, InvalidInputError, "n_landmarks must be an integer"),
    (np.array([[np.inf, 0.0]] * 3), 2, NonFiniteError, "infinite"),
    (np.zeros(5), 2, ShapeError, "must be 2-D"),
])
def test_maxmin_bad_inputs(x, m, exc, text):
    with pytest.raises(exc, match=text):
        maxmin_landmarks(x, m)


@pytest.mark.parametrize(("dim", "expected"), [(8, "kd_tree"), (9, "kd_tree"), (10, "brute")])
def test_tree_for_the_dct_and_pixel_coordinates_of_3x3_filters(monkeypatch, dim, expected):
    # regression: 8-D DCT coordinates and 9-D pixel rows went to brute force, 4x slower than the
    # k-d tree on points near the circle / Klein bottle (19 s vs 5 s for 50,000)
    import sklearn.neighbors

    seen = []
    real = sklearn.neighbors.NearestNeighbors

    def spy(*args, **kwargs):
        seen.append(kwargs.get("algorithm"))
        return real(*args, **kwargs)

    monkeypatch.setattr(sklearn.neighbors, "NearestNeighbors", spy)
    x = np.random.default_rng(0).normal(size=(200, dim))
    out = density_filter(x, k=5, p=0.5)
    assert seen == [expected]
    ref = np.sort(cdist(x, x), axis=1)[:, 5]
    assert np.allclose(out.distances, np.sort(ref)[:100], rtol=0, atol=1e-12)
