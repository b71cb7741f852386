import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from topolens import ConstantNeuronWarning, InvalidInputError, NonFiniteError, ShapeError
from topolens.dissimilarity import (
    constant_neurons,
    correlation_dissimilarity,
    cosine_dissimilarity,
    euclidean_distances,
    pairwise_dissimilarity,
)

from .conftest import relu_activations


def _reference_corr(a: np.ndarray, absolute: bool = True) -> np.ndarray:
    c = np.corrcoef(a.astype(np.float64), rowvar=False)
    d = 1 - (np.abs(c) if absolute else c)
    np.fill_diagonal(d, 0)
    return d


@pytest.mark.parametrize("absolute", [True, False])
@pytest.mark.parametrize("chunk_size", [None, 1, 7, 1000])
def test_correlation_matches_corrcoef(absolute, chunk_size):
    a = relu_activations(200, 60, seed=3)
    d = correlation_dissimilarity(a, absolute=absolute, chunk_size=chunk_size)
    assert d.dtype == np.float32 and d.shape == (60, 60)
    np.testing.assert_allclose(d, _reference_corr(a, absolute), atol=2e-6)
    assert np.array_equal(d, d.T) and not np.diagonal(d).any()
    assert d.min() >= 0 and d.max() <= (1 if absolute else 2)


def test_accepts_torch_and_memmap_out(tmp_path):
    import torch

    a = relu_activations(100, 30)
    out = np.lib.format.open_memmap(tmp_path / "d.npy", mode="w+", dtype=np.float32, shape=(30, 30))
    d = correlation_dissimilarity(torch.from_numpy(a), out=out)
    assert d is out
    np.testing.assert_allclose(np.load(tmp_path / "d.npy"), _reference_corr(a), atol=2e-6)


def test_constant_neurons_policy():
    a = relu_activations(100, 20)
    a[:, 4] = 3.0
    a[:, 7] = 0.0
    np.testing.assert_array_equal(np.flatnonzero(constant_neurons(a)), [4, 7])
    with pytest.warns(ConstantNeuronWarning, match="2 of 20"):
        d = correlation_dissimilarity(a)
    assert (d[4, np.arange(20) != 4] == 1).all() and d[4, 4] == 0
    keep = np.setdiff1d(np.arange(20), [4, 7])
    np.testing.assert_allclose(d[np.ix_(keep, keep)], _reference_corr(a[:, keep]), atol=2e-6)
    with pytest.raises(InvalidInputError, match=r"constant .*first: \[4, 7\]"):
        correlation_dissimilarity(a, constant="raise")


def test_no_warning_without_constant_neurons():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        correlation_dissimilarity(relu_activations(50, 10))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_rejected(bad):
    a = relu_activations(50, 10)
    a[3, 2] = bad
    with pytest.raises(NonFiniteError, match=r"row.*\[3\].*column.*\[2\]"):
        correlation_dissimilarity(a)


@pytest.mark.parametrize(
    ("shape", "match"),
    [((10,), "n_inputs, n_neurons"), ((2, 3, 4), "n_inputs, n_neurons"), ((1, 5), "1 input"), ((5, 0), "0 neuron")],
)
def test_bad_shapes(shape, match):
    with pytest.raises(ShapeError, match=match):
        correlation_dissimilarity(np.ones(shape, dtype=np.float32))


def test_euclidean_and_cosine_match_scipy(rng):
    x = rng.normal(size=(80, 12)) + 5.0
    np.testing.assert_allclose(euclidean_distances(x, chunk_size=9), cdist(x, x), atol=1e-4)
    a = relu_activations(40, 25) + 0.1
    np.testing.assert_allclose(cosine_dissimilarity(a), cdist(a.T, a.T, "cosine"), atol=2e-6)


def test_pairwise_axes():
    a = relu_activations(30, 12)
    np.testing.assert_allclose(pairwise_dissimilarity(a, "euclidean", points="inputs"), cdist(a, a), atol=1e-4)
    np.testing.assert_allclose(pairwise_dissimilarity(a, "euclidean", points="neurons"), cdist(a.T, a.T), atol=1e-4)
    assert pairwise_dissimilarity(a, "abs_correlation", points="inputs").shape == (30, 30)
    with pytest.raises(InvalidInputError, match="points must be one of"):
        pairwise_dissimilarity(a, points="rows")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(3, 25))
def test_permutation_equivariance(seed, n):
    """Permuting neurons permutes the matrix (and never changes its values)."""
    a = relu_activations(40, n, seed=seed % 1000) + 0.01
    perm = np.random.default_rng(seed).permutation(n)
    d = correlation_dissimilarity(a)
    dp = correlation_dissimilarity(a[:, perm])
    np.testing.assert_allclose(dp, d[np.ix_(perm, perm)], atol=1e-6)


def test_dense_allocation_refused_before_allocating():
    from topolens import MemoryBudgetError

    a = relu_activations(20, 300)
    with pytest.raises(MemoryBudgetError, match=r"300 x 300 .*open_memmap"):
        correlation_dissimilarity(a, memory_limit=100_000)
    out = np.empty((300, 300), np.float32)
    assert correlation_dissimilarity(a, memory_limit=100_000, out=out) is out  # no allocation, no check


@pytest.mark.parametrize("chunk", [0, -1, 2.5])
def test_bad_chunk_size(chunk):
    with pytest.raises(InvalidInputError, match="chunk_size"):
        correlation_dissimilarity(relu_activations(20, 5), chunk_size=chunk)


def test_float64_input_keeps_precision_before_centring(rng):
    b = 0.1 * rng.normal(size=(50, 6)) + 1e6
    np.testing.assert_allclose(correlation_dissimilarity(b), _reference_corr(b), atol=1e-5)


def test_bfloat16_tensor_and_bad_device():
    import torch

    assert correlation_dissimilarity(torch.randn(30, 4).to(torch.bfloat16)).shape == (4, 4)
    with pytest.raises(InvalidInputError, match="device"):
        correlation_dissimilarity(relu_activations(20, 5), device="nonsense")


# --- issue 13: unusual dtypes and large inputs ------------------------------------------------

@pytest.mark.parametrize("metric", ["abs_correlation", "correlation", "cosine", "euclidean"])
@pytest.mark.parametrize("points", ["neurons", "inputs"])
def test_small_dtypes_give_the_float32_result(metric, points, tmp_path):
    from topolens.dissimilarity import pairwise_dissimilarity

    a = (relu_activations(40, 12, seed=3) * 20).astype(np.uint8)
    ref = pairwise_dissimilarity(a.astype(np.float32), metric, points=points)
    mm = np.lib.format.open_memmap(tmp_path / "a.npy", mode="w+", dtype=np.float16, shape=a.shape)
    mm[:] = a  # small integers are exact in float16
    for x in (a, a.astype(np.float16), mm, torch.from_numpy(a.astype(np.float16))):
        d = pairwise_dissimilarity(x, metric, points=points)
        assert d.dtype == np.float32 and np.array_equal(d, d.T) and not np.diagonal(d).any()
        np.testing.assert_allclose(d, ref, atol=1e-6)


@pytest.mark.parametrize("metric", ["abs_correlation", "cosine", "euclidean"])
def test_complex_activations_are_refused_not_cast(metric):
    from topolens.dissimilarity import pairwise_dissimilarity

    a = relu_activations(20, 6) + 1j
    for x in (a, torch.from_numpy(a)):
        with pytest.raises(InvalidInputError, match="complex"):
            pairwise_dissimilarity(x, metric)


@pytest.mark.parametrize("metric", ["abs_correlation", "cosine", "euclidean"])
def test_large_float16_memmap_refused_before_conversion(metric, tmp_path):
    """The working copies are budgeted from the shape, before the float16 input is converted."""
    import time
    import tracemalloc

    from topolens import MemoryBudgetError
    from topolens.dissimilarity import pairwise_dissimilarity

    mm = np.memmap(tmp_path / "a.dat", dtype=np.float16, mode="w+", shape=(4000, 3000))  # 24 MB, sparse
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(MemoryBudgetError, match=r"3000 points.*working copies.*fewer points"):
        pairwise_dissimilarity(mm, metric, memory_limit=64 << 20, device="cpu")
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 5.0 and peak < 4 << 20
