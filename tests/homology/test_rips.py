import gudhi
import numpy as np
import pytest
import ripser
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from topolens import (
    InvalidInputError,
    MemoryBudgetError,
    NonFiniteError,
    PersistenceDiagrams,
    ShapeError,
)
from topolens.dissimilarity import correlation_dissimilarity
from topolens.homology import (
    distance_quantile,
    distance_quantiles,
    enclosing_radius,
    estimate_rips_memory,
    rips_persistence,
)

from ..conftest import circle, relu_activations, sphere


def _gudhi_reference(d: np.ndarray, max_dim: int, threshold: float = np.inf) -> PersistenceDiagrams:
    st_ = gudhi.RipsComplex(distance_matrix=d, max_edge_length=threshold).create_simplex_tree(max_dim + 1)
    # Z/2 like rips_persistence's default: gudhi's default field Z/11 can give other diagrams
    return PersistenceDiagrams.from_gudhi(st_.persistence(homology_coeff_field=2), max_dim=max_dim)


def _random_metric(rng, n, dim=3):
    x = rng.normal(size=(n, dim))
    return cdist(x, x)


@pytest.mark.parametrize("backend", ["gudhi", "ripser", "giotto"])
@pytest.mark.parametrize("max_dim", [1, 2])
def test_backends_equal_gudhi_simplex_tree(backend, max_dim, rng):
    if backend == "giotto":
        pytest.importorskip("gph")
    d = _random_metric(rng, 35)
    ours = rips_persistence(d, max_dim, backend=backend)
    assert ours.allclose(_gudhi_reference(d, max_dim), atol=1e-9)
    assert ours.metadata["complete"] and ours.n_censored == 0


def test_equals_ripser_on_activations():
    d = correlation_dissimilarity(relu_activations(300, 120, seed=5)).astype(np.float64)
    ours = rips_persistence(d, 1)
    ref = PersistenceDiagrams.from_ripser(ripser.ripser(d, maxdim=1, distance_matrix=True))
    assert ours.allclose(ref, atol=1e-7)


def test_circle_has_one_long_h1_bar():
    dg = rips_persistence(circle(60), 1, metric="euclidean")
    life = np.sort(dg.lifetimes(1))
    assert life[-1] > 1.0 and (len(life) == 1 or life[-2] < 0.1)
    assert len(dg.essential(0)) == 1 and len(dg.finite(0)) == 59


def test_sphere_has_one_long_h2_bar():
    dg = rips_persistence(sphere(80), 2, metric="euclidean")
    life = np.sort(dg.lifetimes(2))
    assert life[-1] > 0.5 and (len(life) == 1 or life[-2] < 0.2)
    assert dg.lifetimes(1).max(initial=0) < 0.2


@pytest.mark.parametrize("q", [0.1, 0.3, 0.6])
def test_threshold_equals_full_below_threshold(q, rng):
    d = _random_metric(rng, 50, dim=4)
    full = rips_persistence(d, 2)
    t = distance_quantile(d, q)
    cut = rips_persistence(d, 2, threshold=t)
    assert cut.metadata["threshold"] == t and cut.metadata["threshold_mode"] == "value"
    np.testing.assert_array_equal(cut[0], full[0])  # H0 always exact
    for k in (1, 2):
        f, c = full[k], cut[k]
        # classes born at or before t are all present; those dying by t are exact
        a, b = c[np.isfinite(c[:, 1])], f[(f[:, 0] <= t) & (f[:, 1] <= t)]
        # rows in lexicographic order: pairs compared whole, not births and deaths apart
        np.testing.assert_allclose(a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])])
        # classes alive at t are censored (never essential) with the right births
        np.testing.assert_allclose(
            np.sort(cut.censored_births(k)), np.sort(f[(f[:, 0] <= t) & (f[:, 1] > t), 0])
        )
        assert len(cut.essential(k)) == 0
    assert _gudhi_reference(d, 2, t).dgms[1].shape[0] == cut[1].shape[0]


def test_quantile_threshold(rng):
    d = _random_metric(rng, 40)
    dg = rips_persistence(d, 1, threshold_quantile=0.25)
    vals = d[np.triu_indices(40, 1)]
    assert dg.metadata["threshold"] == pytest.approx(np.quantile(vals, 0.25), rel=0.02)
    assert dg.metadata["threshold_mode"] == "quantile"


def test_auto_threshold_equals_full_on_activations():
    d = correlation_dissimilarity(relu_activations(400, 150, seed=2))
    full = rips_persistence(d, 1)
    auto = rips_persistence(d, 1, threshold="auto")
    assert auto.allclose(full, atol=0) and auto.n_censored == 0
    assert auto.metadata["threshold"] is not None and auto.metadata["threshold"] < enclosing_radius(d)
    assert len(auto.metadata["auto_thresholds"]) >= 1


def test_auto_threshold_raises_until_nothing_is_cut():
    dg = rips_persistence(circle(40), 1, metric="euclidean", threshold="auto")
    tried = dg.metadata["auto_thresholds"]
    assert len(tried) > 1 and tried == sorted(tried)
    assert dg.n_censored == 0 and len(dg.finite(1)) == 1


def test_threshold_above_enclosing_radius_is_complete(rng):
    d = _random_metric(rng, 30)
    dg = rips_persistence(d, 1, threshold=float(d.max()))
    assert dg.metadata["complete"] and dg.allclose(rips_persistence(d, 1))


@pytest.mark.parametrize("backend", ["gudhi", "giotto"])
def test_pairs_index_the_matrix(backend, rng):
    if backend == "giotto":
        pytest.importorskip("gph")
    d = _random_metric(rng, 30)
    dg = rips_persistence(d, 2, backend=backend, return_pairs=True)
    assert dg.allclose(rips_persistence(d, 2))
    for k in dg.dims:
        p, x = dg.pairs[k], dg[k]
        fin = np.isfinite(x[:, 1])
        np.testing.assert_array_equal(d[p[fin, 2], p[fin, 3]], x[fin, 1])
        if k > 0:
            np.testing.assert_array_equal(d[p[:, 0], p[:, 1]], x[:, 0])


def test_ripser_backend_has_no_pairs(rng):
    with pytest.raises(InvalidInputError, match="cannot return persistence pairs"):
        rips_persistence(_random_metric(rng, 10), 1, backend="ripser", return_pairs=True)


def test_memory_refusal(rng):
    d = _random_metric(rng, 50)
    with pytest.raises(MemoryBudgetError, match=r"threshold.*fewer points"):
        rips_persistence(d, 1, memory_limit=1000)
    assert estimate_rips_memory(2000, 1, 0.2) < estimate_rips_memory(2000, 1, 1.0) < estimate_rips_memory(2000, 2, 1.0)


@pytest.mark.parametrize(
    ("x", "kwargs", "err", "match"),
    [
        (np.ones((3, 4)), {}, ShapeError, "metric='euclidean'"),
        (np.array([[0, 1], [2, 0.0]]), {}, InvalidInputError, "not symmetric"),
        (np.array([[1, 1], [1, 0.0]]), {}, InvalidInputError, "diagonal"),
        (np.array([[0, -1], [-1, 0.0]]), {}, InvalidInputError, "negative"),
        (np.array([[0, np.nan], [np.nan, 0.0]]), {}, NonFiniteError, "NaN"),
        (np.zeros((3, 3)), {"backend": "native", "max_dim": 1}, InvalidInputError, "H0 only"),
        (np.zeros((3, 3)), {"backend": "nope"}, InvalidInputError, "backend must be one of"),
        (np.zeros((3, 3)), {"threshold": 1.0, "threshold_quantile": 0.2}, InvalidInputError, "not both"),
        (np.zeros((3, 3)), {"threshold": "half"}, InvalidInputError, "'auto'"),
        (np.zeros((3, 3)), {"max_dim": -1}, InvalidInputError, "max_dim"),
    ],
)
def test_bad_input(x, kwargs, err, match):
    with pytest.raises(err, match=match):
        rips_persistence(x, **kwargs)


@settings(max_examples=20, deadline=None)
@given(st.integers(4, 25), st.integers(0, 2**31 - 1))
def test_permutation_invariance_of_neuron_order(n, seed):
    a = relu_activations(60, n, seed=seed % 997) + 0.01
    p = np.random.default_rng(seed).permutation(n)
    x = rips_persistence(correlation_dissimilarity(a), 1)
    y = rips_persistence(correlation_dissimilarity(a[:, p]), 1)
    assert x.allclose(y, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(st.integers(5, 30), st.floats(1e-4, 0.2), st.integers(0, 2**31 - 1))
@example(23, 0.1875, 137521)  # gudhi 3.13's bottleneck_distance broke the bound here
def test_stability_bottleneck_bounded_by_perturbation(n, eps, seed):
    """Stability theorem: d_B(Dgm(D), Dgm(D')) <= max |D - D'| for Rips filtrations."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 2))
    d = cdist(x, x)
    noise = g.uniform(-eps, eps, size=d.shape)
    d2 = np.maximum(d + (noise + noise.T) / 2, 0)
    np.fill_diagonal(d2, 0)
    a, b = rips_persistence(d, 1), rips_persistence(d2, 1)
    bound = np.abs(d - d2).max() + 1e-9
    for k in (0, 1):
        assert a.bottleneck(b, k) <= bound


def test_distance_quantiles_exact_and_sampled(rng):
    d = _random_metric(rng, 60)
    vals = np.sort(d[np.triu_indices(60, 1)])
    qs = [0.01, 0.2, 0.5, 0.999, 1.0]
    expected = [vals[int(np.ceil(q * len(vals))) - 1] for q in qs]
    np.testing.assert_array_equal(distance_quantiles(d, qs), expected)
    approx = distance_quantiles(d, [0.2, 0.5], max_exact=3000)  # sampled path (3600 entries)
    np.testing.assert_allclose(approx, expected[1:3], rtol=0.1)
    with pytest.raises(InvalidInputError, match=r"\(0, 1\]"):
        distance_quantiles(d, [0.0])


def test_auto_pilot_path_equals_full():
    d = correlation_dissimilarity(relu_activations(400, 200, seed=9))
    auto = rips_persistence(d, 1, threshold="auto", auto_pilot=60)
    assert auto.metadata["auto_pilot_death"] is not None
    assert auto.metadata["auto_thresholds"][0] >= auto.metadata["auto_pilot_death"]
    assert auto.n_censored == 0 and auto.allclose(rips_persistence(d, 1), atol=0)


def test_euclidean_points_keep_small_distances():
    g = np.random.default_rng(0)
    x = np.repeat(np.eye(5) * 100, 4, axis=0) + g.normal(scale=1e-2, size=(20, 5))
    ours = rips_persistence(x, 0, metric="euclidean")
    ref = _gudhi_reference(cdist(x, x), 0)
    np.testing.assert_allclose(np.sort(ours.finite(0)[:, 1])[:15], np.sort(ref.finite(0)[:, 1])[:15], rtol=1e-9)


@pytest.mark.parametrize("backend", ["ripser", "giotto"])
@pytest.mark.parametrize("q", [0.1, 0.3])
def test_thresholded_backends_agree_with_gudhi(backend, q, rng):
    if backend == "giotto":
        pytest.importorskip("gph")
    d = _random_metric(rng, 45)
    a = rips_persistence(d, 2, threshold_quantile=q)
    b = rips_persistence(d, 2, threshold_quantile=q, backend=backend)
    assert b.allclose(a, atol=1e-6)
    assert [c.sum() for c in a.censored] == [c.sum() for c in b.censored]


def test_threshold_cut_in_matrix_precision_for_ripser():
    """Edges just above the threshold stay out for every backend (ripser compares in float32)."""
    d = np.array([[0, 1, 1 + 1e-9, 1], [1, 0, 1, 1 + 1e-9], [1 + 1e-9, 1, 0, 1], [1, 1 + 1e-9, 1, 0.0]])
    for backend in ("gudhi", "ripser"):
        dg = rips_persistence(d, 1, threshold=1.0, backend=backend)
        assert dg.n_censored == 1 and len(dg[1]) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"coeff": 4}, "prime"), ({"coeff": 257}, "251"), ({"threshold_quantile": float("nan")}, r"\(0, 1\]"),
     ({"auto_pilot": -1}, "auto_pilot"), ({"threshold": [1]}, "number"), ({"threshold_quantile": "a"}, "number")],
)
def test_more_bad_parameters(kwargs, match, rng):
    with pytest.raises(InvalidInputError, match=match):
        rips_persistence(_random_metric(rng, 8), 1, **kwargs)
