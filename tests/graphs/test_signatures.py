"""Spectral signatures against independent oracles (scipy's Laplacian and matrix exponential)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.sparse import csgraph

from topolens.exceptions import InvalidInputError, NonFiniteError, ShapeError
from topolens.graphs.signatures import (
    HKS_PERCENTILES,
    heat_kernel_signature,
    hks_percentiles,
    laplacian_spectrum,
    normalized_laplacian,
    padded_eigenvalues,
    spectral_features,
)


def random_graph(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    iu = np.triu_indices(n, k=1)
    keep = rng.random(iu[0].size) < p
    return np.column_stack([iu[0][keep], iu[1][keep]])


def dense(n: int, edges: np.ndarray) -> np.ndarray:
    a = np.zeros((n, n))
    a[edges[:, 0], edges[:, 1]] = a[edges[:, 1], edges[:, 0]] = 1
    return a


@pytest.mark.parametrize("seed", range(5))
def test_laplacian_matches_scipy_with_isolated_vertices(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 25))
    e = random_graph(rng, n, 0.15)  # sparse: usually leaves isolated vertices
    lap = normalized_laplacian(n, e)
    np.testing.assert_allclose(lap, csgraph.laplacian(dense(n, e), normed=True), atol=1e-12)
    ev = laplacian_spectrum(n, e).eigenvalues
    assert ev.min() >= 0 and ev.max() <= 2


def test_laplacian_merges_directions_and_duplicates() -> None:
    e = np.array([[0, 1], [1, 0], [0, 1], [1, 2]])
    np.testing.assert_allclose(normalized_laplacian(3, e), normalized_laplacian(3, [[0, 1], [1, 2]]))


@pytest.mark.parametrize("seed", range(6))
def test_hks_is_diagonal_of_heat_kernel(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 30))
    e = random_graph(rng, n, 0.2)
    times = [0.0, 0.1, 1.0, 10.0]
    hks = heat_kernel_signature(n, e, times)
    lap = csgraph.laplacian(dense(n, e), normed=True)
    expected = np.column_stack([np.diag(scipy.linalg.expm(-t * lap)) for t in times])
    assert hks.shape == (n, len(times))
    np.testing.assert_allclose(hks, expected, atol=1e-10)
    np.testing.assert_allclose(hks[:, 0], 1.0, atol=1e-12)  # t = 0: the identity


def test_hks_known_values_edge_and_isolated_vertex() -> None:
    # K2 + an isolated vertex: eigenvalues 0, 2 (edge) and 0 (isolated)
    t = 0.7
    hks = heat_kernel_signature(3, [[0, 1]], [t])[:, 0]
    np.testing.assert_allclose(hks, [(1 + np.exp(-2 * t)) / 2, (1 + np.exp(-2 * t)) / 2, 1.0])


def test_empty_graph() -> None:
    assert heat_kernel_signature(0, np.zeros((0, 2), int), [1.0]).shape == (0, 1)
    assert normalized_laplacian(0, []).shape == (0, 0)
    feats = spectral_features(0, [], [0.1, 10.0], 5)
    np.testing.assert_array_equal(feats, np.zeros(5 + 22))


def test_spectral_features_layout() -> None:
    # path on 4 vertices: eigenvalues 1 - cos(k pi / 3), k = 0..3
    e = np.array([[0, 1], [1, 2], [2, 3]])
    times = [0.1, 10.0]
    feats = spectral_features(4, e, times, 6)
    assert feats.shape == (6 + 2 * HKS_PERCENTILES.size,)
    expected = np.sort(1 - np.cos(np.arange(4) * np.pi / 3))[::-1]
    np.testing.assert_allclose(feats[:6], np.r_[expected, 0, 0], atol=1e-12)
    hks = heat_kernel_signature(4, e, times)
    np.testing.assert_allclose(feats[6:17], np.percentile(hks[:, 0], HKS_PERCENTILES))
    np.testing.assert_allclose(feats[17:], np.percentile(hks[:, 1], HKS_PERCENTILES))
    # fewer slots than vertices: the largest eigenvalues are kept
    np.testing.assert_allclose(padded_eigenvalues(expected[::-1], 2), expected[:2])
    assert hks_percentiles(hks).shape == (2, 11)


@pytest.mark.parametrize(
    ("n", "edges", "times", "err"),
    [
        (3, [[0, 3]], [1.0], InvalidInputError),
        (3, [[1, 1]], [1.0], InvalidInputError),
        (3, [[0, 1, 2]], [1.0], ShapeError),
        (-1, [], [1.0], InvalidInputError),
        (2.5, [], [1.0], InvalidInputError),
        (3, [[0, 1]], [-1.0], InvalidInputError),
        (3, [[0, 1]], [np.inf], NonFiniteError),
    ],
)
def test_bad_input(n, edges, times, err) -> None:
    with pytest.raises(err):
        heat_kernel_signature(n, np.asarray(edges), times)
