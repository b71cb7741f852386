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


# --- issue 13: inputs real users pass -------------------------------------------------------

_GUARDED = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a regression fails, not the machine
import gudhi
import numpy as np
from topolens import PersistenceDiagrams
from topolens.cli.main import main
from topolens.homology import rips_persistence

A = np.random.default_rng(0).normal(size=(200, 60))
D = 1 - np.abs(np.corrcoef(A.T))
assert not np.array_equal(D, D.T) or np.diagonal(D).any()  # the input really is off by rounding
S = np.maximum((D + D.T) / 2, 0)
np.fill_diagonal(S, 0)
st_ = gudhi.RipsComplex(distance_matrix=S).create_simplex_tree(2)
ref = PersistenceDiagrams.from_gudhi(st_.persistence(homology_coeff_field=2), max_dim=1)
for kw in ({}, {"threshold": "auto", "auto_pilot": 30}, {"certify": True}, {"backend": "ripser"},
           {"backend": "giotto"}, {"return_pairs": True}):
    assert rips_persistence(D, max_dim=1, **kw).allclose(ref, atol=1e-12), kw
np.save(sys.argv[1], D)
assert main(["persistence", sys.argv[1], "--points", "distance", "--max-dim", "1", "--out", sys.argv[2]]) == 0
assert PersistenceDiagrams.load(sys.argv[2]).allclose(ref, atol=1e-12)
print("OK")
"""


def test_corrcoef_rounding_asymmetry_is_symmetrised_on_every_path(tmp_path):
    """1 - |corrcoef| is asymmetric by an ulp: gudhi's dense engine once grew past 8 GB on it
    (n = 60). Default call, auto pilot, certificate, other engines and the CLI, under a memory cap."""
    import subprocess
    import sys

    pytest.importorskip("gph")
    res = subprocess.run([sys.executable, "-c", _GUARDED, str(tmp_path / "d.npy"), str(tmp_path / "dgm.npz")],
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr[-3000:]


def test_validation_returns_exactly_symmetric_matrices():
    from topolens._validation import check_distance_matrix

    g = np.random.default_rng(3)
    d = _random_metric(g, 700)  # several tiles
    noisy = d + g.uniform(-1e-9, 1e-9, size=d.shape)
    out = check_distance_matrix(noisy)
    assert np.array_equal(out, out.T) and not np.diagonal(out).any() and out.min() >= 0
    np.testing.assert_allclose(out, d, atol=2e-9)
    assert check_distance_matrix(d) is d  # exact input: no copy
    x = g.normal(size=(50, 4))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[1] = x[0]
    cos = 1 - x @ x.T
    assert cos.min() < 0  # -2.2e-16-like rounding negatives
    fixed = check_distance_matrix(cos)
    assert fixed.min() == 0 and np.array_equal(fixed, fixed.T)


def test_rounding_negatives_are_clipped_and_real_negatives_explained():
    g = np.random.default_rng(11)
    x = g.normal(size=(30, 5))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[[1, 3]] = x[[0, 2]]
    d = 1 - x @ x.T
    assert d[0, 1] < 0 or d[2, 3] < 0 or d.min() < 0
    ours = rips_persistence(d, 1)
    clipped = np.maximum((d + d.T) / 2, 0)
    np.fill_diagonal(clipped, 0)
    assert ours.allclose(_gudhi_reference(clipped, 1), atol=1e-12)
    assert (ours[0] >= 0).all()
    bad = clipped.copy()
    bad[0, 5] = bad[5, 0] = -0.25
    with pytest.raises(InvalidInputError, match=r"2 negative entries.*-0\.25.*np\.maximum") as err:
        rips_persistence(bad, 1)
    assert "superlevel" not in str(err.value)


def _tiny_reference(d: np.ndarray, max_dim: int) -> PersistenceDiagrams:
    """Brute force for n <= 2: one essential H0 class, one finite (0, d01) for two points, no cycles."""
    n = d.shape[0]
    h0 = np.array(([[0.0, d[0, 1]]] if n == 2 else []) + [[0.0, np.inf]] * (n >= 1)).reshape(-1, 2)
    return PersistenceDiagrams([h0] + [np.empty((0, 2))] * max_dim)


@pytest.mark.parametrize("n", [0, 1, 2])
@pytest.mark.parametrize("backend", ["gudhi", "ripser", "giotto"])
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"threshold": "auto"}, {"threshold": "auto", "auto_pilot": 1}, {"certify": True},
     {"threshold_quantile": 0.5}, {"threshold": 0.3}, {"return_pairs": True}, {"max_dim": 2}],
)
def test_zero_one_two_points(n, backend, kwargs):
    if backend == "giotto":
        pytest.importorskip("gph")
    if backend == "ripser" and kwargs.get("return_pairs"):
        pytest.skip("ripser has no pairs")
    kwargs = {"max_dim": 1, **kwargs}
    d = np.full((n, n), 0.7)
    np.fill_diagonal(d, 0)
    dg = rips_persistence(d, backend=backend, **kwargs)
    ref = _tiny_reference(d, kwargs["max_dim"])
    assert dg.max_dim == kwargs["max_dim"] and dg.allclose(ref, atol=0, ignore_zero_length=False)
    if n == 2:  # gudhi agrees (for one vertex gudhi 3.13 reports no class at all, though H0 = Z)
        assert dg.allclose(_gudhi_reference(d, kwargs["max_dim"]), atol=0)
    if kwargs.get("return_pairs"):
        assert [len(p) for p in dg.pairs] == [len(x) for x in dg.dgms]
    pts = rips_persistence(np.zeros((n, 3)) + np.arange(n)[:, None], kwargs["max_dim"], metric="euclidean")
    assert len(pts[0]) == n and all(len(pts[k]) == 0 for k in range(1, kwargs["max_dim"] + 1))


def test_activation_persistence_of_two_neurons():
    from topolens import activation_persistence

    a = relu_activations(50, 6, seed=2) + np.random.default_rng(0).normal(scale=0.1, size=(50, 6))
    res = activation_persistence({"fc": a}, n_neurons=2, n_resamples=2, max_dim=1, seed=0)
    for dg in res["fc"]:
        assert len(dg[0]) == 2 and len(dg[1]) == 0 and np.isinf(dg[0][:, 1]).sum() == 1


def test_large_inputs_are_refused_from_their_shape_before_reading(tmp_path):
    """A memory map (float32 or float16) that cannot fit is refused unread, in well under a second:
    n = 20000 with the certificate once ran for minutes before any check."""
    import time
    import tracemalloc

    for n, dtype in ((20000, np.float32), (6000, np.float16)):
        path = tmp_path / f"d{n}.dat"
        mm = np.memmap(path, dtype=dtype, mode="w+", shape=(n, n))  # sparse file: nothing written
        tracemalloc.start()
        t0 = time.perf_counter()
        for kw in ({"certify": True}, {"threshold": "auto"}, {}):
            with pytest.raises(MemoryBudgetError, match=r"\d+ points.*GiB.*fewer points"):
                rips_persistence(mm, 1, memory_limit=200 << 20, **kw)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert elapsed < 5.0 and peak < 8 << 20, (n, elapsed, peak)
        del mm


def test_float16_matrix_is_converted_to_float32_after_the_check():
    from topolens._validation import check_distance_matrix

    d = _random_metric(np.random.default_rng(0), 40).astype(np.float16)
    out = check_distance_matrix(d)
    assert out.dtype == np.float32 and np.array_equal(out, d.astype(np.float32))
    with pytest.raises(MemoryBudgetError, match="copy"):
        check_distance_matrix(d, memory_limit=1000)
    with pytest.raises(InvalidInputError, match="complex"):
        rips_persistence(d.astype(np.complex64), 1)
    with pytest.raises(InvalidInputError, match="complex"):
        rips_persistence(np.ones((5, 2), complex), 1, metric="euclidean")


def test_certificate_memory_is_checked_before_its_temporaries(monkeypatch):
    from topolens.homology import estimate_certificate_memory
    from topolens.homology import rips as rips_module

    def boom(*a, **k):  # pragma: no cover - reached only by a regression
        raise AssertionError("the certificate started before its memory check")

    monkeypatch.setattr(rips_module, "h1_certificate", boom)
    d = _random_metric(np.random.default_rng(0), 300)
    limit = estimate_rips_memory(300, 0) + 1000
    assert estimate_certificate_memory(300, 8) > limit
    with pytest.raises(MemoryBudgetError, match="H1 certificate of 300 points"):
        rips_persistence(d, 1, certify=True, memory_limit=limit)


def test_certificate_skipped_when_ties_make_it_cubic(monkeypatch):
    from topolens.homology import rips as rips_module

    monkeypatch.setattr(rips_module, "_CERT_CHECKED_PER_POINT", 0)
    monkeypatch.setattr(rips_module, "_CERT_CHECKED_MIN", 100)
    monkeypatch.setattr(rips_module, "CERTIFY_MIN_POINTS", 10)
    g = np.random.default_rng(4)
    d = np.round(_random_metric(g, 160), 0)  # few distinct values: ties everywhere
    np.fill_diagonal(d, 0)
    d = np.maximum(d, 1)
    np.fill_diagonal(d, 0)
    dg = rips_persistence(d, 1)
    assert dg.metadata["certificate"]["skipped"] and dg.metadata["complete"]
    assert dg.allclose(_gudhi_reference(d, 1), atol=0)


@pytest.mark.parametrize(
    ("fn", "arg", "err"),
    [(enclosing_radius, np.ones(4), ShapeError), (enclosing_radius, np.array([[0, np.nan], [np.nan, 0]]), NonFiniteError),
     (enclosing_radius, np.zeros((2, 2), complex), InvalidInputError),
     (distance_quantiles, np.ones((2, 3)), ShapeError), (distance_quantiles, np.array([[0, np.nan], [np.nan, 0]]),
                                                         NonFiniteError),
     (distance_quantiles, [[0, 1], [1]], InvalidInputError)],
)
def test_public_helpers_refuse_bad_matrices(fn, arg, err):
    with pytest.raises(err):
        fn(arg) if fn is enclosing_radius else fn(arg, [0.5])
    assert enclosing_radius(np.zeros((1, 1))) == 0.0 and enclosing_radius(np.zeros((0, 0))) == 0.0


def test_nan_beyond_the_first_tile_is_refused(tmp_path):
    """The tiled scan once kept a Python running min/max, which drops NaN after the first tile:
    a NaN pair at (590, 10) reached the engine. Every tile counts, memory maps included."""
    from topolens._validation import check_distance_matrix

    d = _random_metric(np.random.default_rng(5), 600)
    d[590, 10] = d[10, 590] = np.nan
    with pytest.raises(NonFiniteError, match=r"2 NaN .*first: \[10, 590\]"):
        check_distance_matrix(d)
    with pytest.raises(NonFiniteError, match="NaN"):
        rips_persistence(d, 1)
    mm = np.lib.format.open_memmap(tmp_path / "d.npy", mode="w+", dtype=np.float32, shape=d.shape)
    mm[:] = d
    with pytest.raises(NonFiniteError, match="NaN"):
        rips_persistence(np.load(tmp_path / "d.npy", mmap_mode="r"), 1)


@pytest.mark.parametrize("backend", ["ripser", "giotto"])
@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_float32_engines_keep_huge_and_tiny_matrices_in_range(backend, scale):
    """ripser and giotto-ph compute in float32: 1e200 overflowed to inf and 1e-200 to 0, and the
    H1 bar of a circle silently vanished. A power-of-two rescaling makes them exact again."""
    if backend == "giotto":
        pytest.importorskip("gph")
    t = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    d = cdist(np.c_[np.cos(t), np.sin(t)], np.c_[np.cos(t), np.sin(t)]) * scale
    ref = _gudhi_reference(d, 1)
    assert len(ref.finite(1)) == 1
    for kw in ({}, {"threshold": 0.9 * ref.finite(1)[0, 1]}, {"return_pairs": True}):
        if backend == "ripser" and kw.get("return_pairs"):
            continue
        dg = rips_persistence(d, 1, backend=backend, **kw)
        got, want = dg.finite(1), ref.finite(1)
        if "threshold" in kw:  # the bar is alive (censored) at 0.9 of its death
            got, want = dg[1][:, 0], want[:, 0]
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_high_dimensions_are_estimated_by_their_simplices_and_refused_at_once():
    import math
    import time

    # H_k needs the (k+1)-simplices: 40 points up to H25 is ~2^40 simplices
    assert estimate_rips_memory(40, 25) > 1e13
    assert estimate_rips_memory(40, 4) >= math.comb(40, 6)  # at least a byte per 5-simplex
    x = np.random.default_rng(0).normal(size=(40, 3))
    t0 = time.perf_counter()
    with pytest.raises(MemoryBudgetError, match="lower max_dim"):
        rips_persistence(x, max_dim=25, metric="euclidean")
    assert time.perf_counter() - t0 < 30  # refused before building anything (it used to hang)
    # tiny inputs stay cheap whatever max_dim is
    assert estimate_rips_memory(5, 25) < 1e6
