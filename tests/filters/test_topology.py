"""filter_persistence, circle_similarity / circle_share and filter_mapper on sampled model spaces.

Oracles: the Rips diagram of evenly spaced points on a circle (closed form), the Betti numbers of
the circle, the three-circle model and the Klein bottle over Z/2 and Z/3, gudhi's simplex tree run
directly on the same landmark matrix, brute-force D inner products, hand-computed cosines and a
Monte Carlo estimate of the circle share of Gaussian filters.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist, pdist, squareform

from topolens.exceptions import (
    InvalidInputError,
    MemoryBudgetError,
    NonFiniteError,
    ShapeError,
    TopolensError,
)
from topolens.filters._basis import grid_laplacian, to_dct
from topolens.filters._density import density_filter
from topolens.filters._extract import extract_filters
from topolens.filters._klein import (
    circle_filters,
    klein_filter,
    klein_filters,
    three_circle_filters,
)
from topolens.filters._topology import (
    AUTO_FULL_LANDMARKS,
    _auto_threshold,
    circle_share,
    circle_similarity,
    filter_mapper,
    filter_persistence,
)
from topolens.homology.rips import distance_quantile

#: bars longer than this count (the model spaces' bars are 0.75 and longer; noise bars below 0.25)
MARGIN = 0.4


def _lifetimes(dg, dim: int) -> np.ndarray:
    """Bar lengths, longest first; a censored bar counts up to the threshold, an essential one as inf."""
    d = dg[dim]
    t = dg.metadata["threshold"]
    death = np.where(np.isinf(d[:, 1]) & dg.censored[dim], np.inf if t is None else t, d[:, 1])
    return np.sort(death - d[:, 0])[::-1]


def _betti(dg, max_dim: int, margin: float = MARGIN) -> tuple[int, ...]:
    return tuple(int((_lifetimes(dg, k) > margin).sum()) for k in range(max_dim + 1))


@pytest.fixture(scope="module")
def klein_points() -> np.ndarray:
    """3,200 Klein-bottle filters (a 40 x 80 grid of the fundamental domain) in DCT coordinates."""
    return to_dct(klein_filters(40, 80))


@pytest.fixture(scope="module")
def klein_result(klein_points):
    return filter_persistence(klein_points, max_dim=2, coeffs=(2, 3), n_landmarks=200, progress=False)


def test_circle_filters_one_bar_with_the_closed_form_diagram() -> None:
    n = 100
    res = filter_persistence(circle_filters(n, normalize="dnorm"), max_dim=1, coeffs=2, metric="dnorm",
                             progress=False)
    dg = res[2]
    assert list(res) == [2] and dg.metadata["complete"] and dg.metadata["threshold_rule"] == "auto"
    assert len(dg[1]) == 1  # exactly one class, and with metric="dnorm" the points are a unit circle:
    # born at the chord of one step, dead when edges span ceil(n / 3) steps (Adamaszek & Adams)
    birth, death = dg[1][0]
    assert birth == pytest.approx(2 * math.sin(math.pi / n), abs=1e-9)
    assert death == pytest.approx(2 * math.sin(math.pi * math.ceil(n / 3) / n), abs=1e-9)
    # cosine distance 1 - cos = chord^2 / 2
    cos = filter_persistence(circle_filters(n), max_dim=1, coeffs=2, metric="cosine", progress=False)[2]
    np.testing.assert_allclose(cos[1][0], [birth**2 / 2, death**2 / 2], atol=1e-9)


def test_circle_filters_sampled_with_noise_keep_one_dominant_bar() -> None:
    rng = np.random.default_rng(3)
    x = to_dct(circle_filters(300)) + rng.normal(scale=0.03, size=(300, 8))
    dg = filter_persistence(x, max_dim=2, coeffs=(2, 3), n_landmarks=120, progress=False)
    for p in (2, 3):
        life = _lifetimes(dg[p], 1)
        assert life[0] > 1.2 and life[1] < 0.15, life[:3]
        assert _betti(dg[p], 2) == (1, 1, 0)
        assert dg[p].metadata["n_landmarks"] == 120 and dg[p].metadata["coeff"] == p


def test_three_circles_give_five_dominant_bars() -> None:
    x = to_dct(three_circle_filters(100, 52))
    dg = filter_persistence(x, max_dim=1, coeffs=(2, 3), progress=False)
    for p in (2, 3):
        life = _lifetimes(dg[p], 1)
        assert (life[:5] > 1.0).all() and (len(life) == 5 or life[5] < 0.2), life[:7]
        assert _betti(dg[p], 1) == (1, 5)


def test_klein_bottle_betti_numbers_over_z2_and_z3(klein_result, klein_points) -> None:
    assert _betti(klein_result[2], 2) == (1, 2, 1)
    assert _betti(klein_result[3], 2) == (1, 1, 0)
    for p in (2, 3):  # and the margin is not a knife edge
        life = [_lifetimes(klein_result[p], k) for k in (1, 2)]
        assert life[0][0] > 0.7 and life[0][2] < 0.3 and life[1][1] < 0.3
    assert _lifetimes(klein_result[2], 1)[1] > 0.7 and _lifetimes(klein_result[2], 2)[0] > 0.7
    assert _lifetimes(klein_result[3], 1)[1] < 0.3
    meta = klein_result[2].metadata
    assert meta["n_filters"] == 3200 and meta["n_landmarks"] == 200 and meta["n_points"] == 200
    assert meta["coeff"] == 2 and klein_result[3].metadata["coeff"] == 3
    idx = np.asarray(meta["landmarks"])
    assert len(np.unique(idx)) == 200
    brute = cdist(klein_points, klein_points[idx]).min(axis=1).max()
    assert meta["covering_radius"] == pytest.approx(brute, rel=1e-12)
    assert meta["threshold_quantile"] is None and meta["complete"]  # 200 <= AUTO_FULL_LANDMARKS: full run


def test_klein_bottle_matches_gudhi_on_the_same_landmarks(klein_result, klein_points) -> None:
    """gudhi's simplex tree (edge collapse, then expansion: exact) on the landmark matrix, at the 0.3
    quantile (the full H2 tree of 200 points takes minutes), against ours at that threshold."""
    gudhi = pytest.importorskip("gudhi")
    idx = np.asarray(klein_result[3].metadata["landmarks"])
    d = squareform(pdist(klein_points[idx]))
    t = float(np.quantile(d[np.triu_indices(len(d), 1)], 0.3))
    ours = filter_persistence(klein_points, max_dim=2, coeffs=(2, 3), threshold=t, progress=False)
    assert ours[2].metadata["landmarks"] == idx.tolist()
    for p in (2, 3):
        st = gudhi.RipsComplex(distance_matrix=d, max_edge_length=t).create_simplex_tree(max_dimension=1)
        st.collapse_edges(nb_iterations=10)
        st.expansion(3)
        st.persistence(homology_coeff_field=p, persistence_dim_max=True)
        for k in (1, 2):
            theirs = st.persistence_intervals_in_dimension(k).reshape(-1, 2)
            a = ours[p][k][np.lexsort((ours[p][k][:, 1], ours[p][k][:, 0]))]
            b = theirs[np.lexsort((theirs[:, 1], theirs[:, 0]))]
            assert a.shape == b.shape, (p, k)
            np.testing.assert_allclose(a, b, atol=1e-9)
        assert _betti(ours[p], 2) == ((1, 2, 1) if p == 2 else (1, 1, 0))


def test_density_filter_recovers_the_circle_from_uniform_noise() -> None:
    rng = np.random.default_rng(7)
    model = to_dct(circle_filters(200))
    noise = rng.normal(size=(400, 8))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)  # uniform on S^7
    x = np.r_[model, noise]
    kept = density_filter(x, k=15, p=0.3).indices
    assert len(kept) == 180
    assert np.mean(kept < 200) >= 0.95  # the densest 30% are the model points
    dg = filter_persistence(x[kept], max_dim=1, coeffs=2, progress=False)[2]
    life = np.r_[_lifetimes(dg, 1), 0.0]
    assert life[0] > 1.0 and life[1] < 0.3, life[:3]
    noisy = filter_persistence(x, max_dim=1, coeffs=2, progress=False)[2]
    assert _lifetimes(noisy, 1)[0] < 0.6  # without the filtration the noise hides the circle


def test_auto_threshold_rule() -> None:
    d = squareform(pdist(np.random.default_rng(0).normal(size=(500, 3))))
    assert _auto_threshold(d, 1) == (None, None)
    assert _auto_threshold(d[:AUTO_FULL_LANDMARKS, :AUTO_FULL_LANDMARKS], 2) == (None, None)
    t, q = _auto_threshold(d, 2)
    assert q == pytest.approx((math.comb(250, 3) / math.comb(500, 3)) ** (1 / 3))
    assert t == distance_quantile(d, q)
    assert _auto_threshold(d, 3)[1] == 0.2


def test_threshold_value_censors_and_none_is_full() -> None:
    x = circle_filters(60, normalize="dnorm")
    cut = filter_persistence(x, max_dim=1, coeffs=2, threshold=1.0, metric="dnorm", progress=False)[2]
    assert cut.metadata["threshold_rule"] == "value" and cut.metadata["threshold"] == 1.0
    assert np.isinf(cut[1][0, 1]) and cut.censored[1].tolist() == [True] and not cut.metadata["complete"]
    full = filter_persistence(x, max_dim=1, coeffs=2, threshold=None, metric="dnorm", progress=False)[2]
    assert full.metadata["threshold_rule"] == "none" and np.isfinite(full[1][0, 1])


def test_filterset_input_and_torch_and_list_points() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 30, 3)
    fs = extract_filters(conv)
    a = filter_persistence(fs, max_dim=1, coeffs=2, progress=False)[2]
    b = filter_persistence(fs.points.tolist(), max_dim=1, coeffs=2, progress=False)[2]
    c = filter_persistence(torch.from_numpy(fs.points).half(), max_dim=1, coeffs=2, progress=False)[2]
    np.testing.assert_array_equal(a[1], b[1])
    assert len(c[0]) == 30 and a.metadata["n_filters"] == 30


def test_persistence_bad_inputs_and_memory() -> None:
    x = to_dct(circle_filters(20))
    cases = [
        (dict(coeffs=4), InvalidInputError, "coeffs must be primes"),
        (dict(coeffs=[]), InvalidInputError, "non-empty list of primes"),
        (dict(coeffs="2"), InvalidInputError, "a prime or a non-empty list"),
        (dict(threshold="high"), InvalidInputError, "threshold must be 'auto', a number >= 0 or None"),
        (dict(threshold=-1.0), InvalidInputError, "threshold must be"),
        (dict(metric="l1"), InvalidInputError, "metric must be one of"),
        (dict(n_landmarks=1), InvalidInputError, "n_landmarks must be >= 2"),
        (dict(max_dim=-1), InvalidInputError, "max_dim must be >= 0"),
        (dict(metric="dnorm"), ShapeError, "8 values per row; expected size \\* size"),
        (dict(memory_limit=1000), MemoryBudgetError, "the 20 x 20 landmark distance matrix"),
        (dict(memory_limit=50_000), MemoryBudgetError, "H0..H2 of 20 points"),
    ]
    for kwargs, err, match in cases:
        with pytest.raises(err, match=match):
            filter_persistence(x, progress=False, **kwargs)
    with pytest.raises(InvalidInputError, match="at least 2 filters"):
        filter_persistence(x[:1], progress=False)
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(NonFiniteError, match="NaN"):
        filter_persistence(bad, progress=False)
    with pytest.raises(InvalidInputError, match="zero vectors"):
        filter_persistence(np.r_[x, np.zeros((1, 8))], metric="cosine", progress=False)
    with pytest.raises(TopolensError, match="2-D"):
        filter_persistence(np.zeros(5), progress=False)


def _circle_plane_oracle(rows: np.ndarray, n_angles: int = 3600) -> np.ndarray:
    """max over ``n_angles`` circle angles of the D-cosine, with D the brute-force grid Laplacian and the
    circle filters written as ramps (pixel integrals of x and y are proportional to the centres)."""
    d = grid_laplacian(3)
    ramp = np.tile([-1.0, 0.0, 1.0], 3)  # x increases to the right
    up = np.repeat([1.0, 0.0, -1.0], 3)  # y increases upwards (row 0 at the top)
    t = 2 * np.pi * np.arange(n_angles) / n_angles
    bank = np.cos(t)[:, None] * ramp + np.sin(t)[:, None] * up
    bank /= np.sqrt(np.einsum("ij,jk,ik->i", bank, d, bank))[:, None]
    rows = rows / np.sqrt(np.einsum("ij,jk,ik->i", rows, d, rows))[:, None]
    return np.concatenate([(rows[i:i + 2000] @ d @ bank.T).max(axis=1) for i in range(0, len(rows), 2000)])


def test_circle_similarity_hand_computed_and_brute_force() -> None:
    ramp = np.tile([-1.0, 0.0, 1.0], 3)
    quad = np.repeat([1 / 3, -2 / 3, 1 / 3], 3)  # vertical quadratic, D- and Euclidean-orthogonal to ramps
    f = (ramp + quad)[None]
    # D: <f, ramp>_D / (|f|_D |ramp|_D) = 6 / (sqrt(12) sqrt(6)); Euclidean: 6 / (sqrt(8) sqrt(6))
    assert circle_similarity(f, n_circle=None)[0] == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    assert circle_similarity(f, n_circle=None, normalize="unit")[0] == pytest.approx(math.sqrt(6 / 8), abs=1e-12)
    assert circle_similarity(f)[0] == pytest.approx(1 / math.sqrt(2), abs=1e-12)  # ramp is on the grid
    assert circle_similarity(f.reshape(1, 3, 3) * 7 + 3)[0] == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    rows = np.random.default_rng(0).normal(size=(200, 9))
    oracle = _circle_plane_oracle(rows)
    np.testing.assert_allclose(circle_similarity(rows, n_circle=None), oracle, atol=1e-6)
    grid = circle_similarity(rows, n_circle=64)
    assert (grid <= oracle + 1e-12).all() and (grid >= oracle * math.cos(math.pi / 64) - 1e-12).all()


def test_circle_share_on_circles_and_gaussian_filters(caplog: pytest.LogCaptureFixture) -> None:
    circles = circle_filters(37)  # angles off the 512-point grid
    assert circle_share(circles) == 1.0 and circle_share(circles, normalize="unit") == 1.0
    np.testing.assert_allclose(circle_similarity(circles, n_circle=None), 1.0, atol=1e-12)
    assert circle_similarity(circles).min() >= math.cos(math.pi / 512) - 1e-12
    ours = np.random.default_rng(1).normal(size=(4000, 9))
    mc = _circle_plane_oracle(np.random.default_rng(2).normal(size=(20000, 9)), n_angles=360)
    for cos in (0.9, 0.6):
        expected = float(np.mean(mc >= cos))
        sd = math.sqrt(expected * (1 - expected) / 4000 + expected * (1 - expected) / 20000)
        share = circle_share(ours, cos=cos)
        assert abs(share - expected) < 4 * sd + 1e-3, (cos, share, expected)
    assert circle_share(ours, cos=0.9) < 0.02  # random filters are rarely near the circle
    with_constant = np.r_[circles[:3], np.full((1, 9), 2.0)]
    with caplog.at_level(logging.WARNING, logger="topolens.filters._topology"):
        sim = circle_similarity(with_constant)
    assert np.isnan(sim[3]) and "1 of 4 filters are constant" in caplog.text
    assert circle_share(with_constant) == 1.0  # constant filters have no direction: not counted
    for kwargs, match in [(dict(cos=1.5), r"cos must be a cosine similarity in \[-1, 1\]"),
                          (dict(normalize=None), "normalize must be 'dnorm' or 'unit'"),
                          (dict(n_circle=2), "n_circle must be >= 4")]:
        with pytest.raises(InvalidInputError, match=match):
            circle_share(circles, **kwargs)
    with pytest.raises(InvalidInputError, match="all 2 filters are constant"):
        circle_share(np.ones((2, 9)))
    with pytest.raises(ShapeError, match="8 values per row"):
        circle_share(np.ones((2, 8)))


def test_circle_share_of_a_filterset() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 8, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(circle_filters(8)).reshape(8, 1, 3, 3) * 0.3)
    assert circle_share(extract_filters(conv)) == 1.0
    assert circle_share(extract_filters(conv, normalize=None)) == 1.0


def test_filter_mapper_of_the_circle_is_a_loop() -> None:
    """A 1-D lens on a circle: two arcs per interval joined at the ends, one cycle. (The Mapper's default
    eps, a quantile of 4th-neighbour distances, splits randomly sampled 1-D curves: eps given here.)"""
    rng = np.random.default_rng(0)
    x = to_dct(klein_filter(rng.uniform(0, 2 * np.pi, 200), np.pi / 2))
    m = filter_mapper(x, lens="pca1", n_intervals=6, eps=0.3)
    assert m.graph_.betti_numbers() == (1, 1) and m.graph_.covered().all()
    assert m.random_state == 0 and m.lens_.values.shape == (200, 1)
    m2 = filter_mapper(x, eps=0.3, seed=4)  # default lens: the top two principal components
    assert m2.lens_.values.shape == (200, 2) and m2.random_state == 4
    assert m2.graph_.betti_numbers()[0] == 1
    fs = extract_filters(torch.nn.Conv2d(1, 40, 3))
    fm = filter_mapper(fs, n_intervals=4, min_samples=2)
    assert fm.graph_.n_points == 40 and fm.graph_.n_nodes >= 1
    with pytest.raises(InvalidInputError, match="seed=, not random_state"):
        filter_mapper(x, random_state=3)
    with pytest.raises(InvalidInputError, match=r"unknown Mapper parameter\(s\) \['bogus'\]"):
        filter_mapper(x, bogus=1)
    with pytest.raises(InvalidInputError, match="at least 2 filters"):
        filter_mapper(x[:1])
