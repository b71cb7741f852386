import json

import gudhi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from topolens import InvalidInputError, PersistenceDiagrams
from topolens.dissimilarity import correlation_dissimilarity
from topolens.homology import (
    h1_certificate,
    minimum_spanning_tree,
    rips_persistence,
    undominated_edges,
)
from topolens.homology import rips as rips_module
from topolens.homology.certify import pilot_deaths
from topolens.homology.rips import _higher_gudhi

from ..conftest import circle, relu_activations


def _full_gudhi(d: np.ndarray, coeff: int = 2) -> PersistenceDiagrams:
    """gudhi's simplex tree on the full filtration (in the same field: Z/2 and Z/11 diagrams
    can differ)."""
    st_ = gudhi.RipsComplex(distance_matrix=d).create_simplex_tree(2)
    return PersistenceDiagrams.from_gudhi(st_.persistence(homology_coeff_field=coeff), max_dim=1)


def _brute_undominated(d: np.ndarray) -> dict[tuple[int, int], float]:
    """O(n^3) oracle: edge -> min over w != u, v of max(d[u, w], d[v, w]), if not < d[u, v]."""
    n = d.shape[0]
    out = {}
    for u in range(n):
        for v in range(u + 1, n):
            x = np.maximum(d[u], d[v])
            x[[u, v]] = np.inf
            m = x.min()
            if not m < d[u, v]:
                out[(u, v)] = m
    return out


def _matrix(kind: int, n: int, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed)
    if kind == 0:  # point cloud
        x = g.normal(size=(n, 3))
        return cdist(x, x)
    if kind == 1:  # 1 - |corr| of activation-like data, float32
        return correlation_dissimilarity(relu_activations(60, n, rank=3, seed=seed % 997) + 0.01)
    if kind == 2:  # rounded distances: many ties
        x = g.normal(size=(n, 2))
        return np.round(cdist(x, x), 1)
    x = g.integers(0, 3, size=(n, 4))  # integer grid: ties everywhere, duplicate points
    return cdist(x, x, "cityblock")


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 22), st.integers(0, 3), st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_undominated_edges_match_brute_force(n, kind, k, seed):
    d = _matrix(kind, n, seed)
    i, j, length, m, n_checked = undominated_edges(d, k=k)
    ref = _brute_undominated(d)
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == sorted(ref)
    np.testing.assert_array_equal(length, d[i, j])
    np.testing.assert_allclose(m, [ref[(a, b)] for a, b in zip(i.tolist(), j.tolist(), strict=True)])
    assert n_checked >= len(i)


@settings(max_examples=30, deadline=None)
@given(st.integers(4, 40), st.integers(0, 3), st.integers(0, 2**31 - 1))
def test_no_h1_birth_after_the_birth_bound(n, kind, seed):
    """The theory: every H1 bar is born at an undominated edge outside the tree."""
    d = _matrix(kind, n, seed)
    u, v, _ = minimum_spanning_tree(d)
    cert = h1_certificate(d, u, v)
    h1 = _full_gudhi(d)[1]
    h1 = h1[h1[:, 1] > h1[:, 0]]
    assert (h1[:, 0] <= cert.birth_bound).all()
    assert np.isin(h1[:, 0], cert.length.astype(np.float64)).all()


def test_death_lower_bound_and_pilots_on_distinct_distances():
    """Without ties, each birth edge e starts a bar dying at >= m(e), and a pilot bounds it
    from above."""
    d = correlation_dissimilarity(relu_activations(200, 150, seed=4)).astype(np.float64)
    u, v, _ = minimum_spanning_tree(d)
    cert = h1_certificate(d, u, v)
    full = _full_gudhi(d)[1]
    deaths = {float(b): float(x) for b, x in full}  # births are distinct here
    assert len(deaths) == len(full) == cert.i.size
    for b, m in zip(cert.length, cert.m, strict=True):
        assert deaths[float(b)] >= m
    assert full[:, 1].max() >= cert.death_lower_bound
    edges = [(int(a), int(b)) for a, b in zip(cert.i[:8], cert.j[:8], strict=True)]
    for (a, b), est in zip(edges, pilot_deaths(d, edges, u, v, _higher_gudhi, 2, size=30), strict=True):
        assert est is None or est >= deaths[float(d[a, b])]


@settings(max_examples=30, deadline=None)
@given(st.integers(5, 45), st.integers(0, 3), st.sampled_from([2, 2, 3, 11]), st.integers(0, 2**31 - 1))
def test_certified_equals_full_gudhi(n, kind, coeff, seed):
    d = _matrix(kind, n, seed)
    dg = rips_persistence(d, 1, threshold="certified", coeff=coeff)
    ref = _full_gudhi(d, coeff)
    assert dg.allclose(ref, atol=1e-6)
    assert dg.metadata["complete"] and dg.n_censored == 0 and dg.metadata["threshold"] is None
    assert dg.metadata["threshold_mode"] == "certified"
    assert len(dg.essential(1)) == 0


def test_certified_on_activations_with_truncated_run():
    d = correlation_dissimilarity(relu_activations(300, 200, seed=7))
    dg = rips_persistence(d, 1, certify=True)
    plain = rips_persistence(d, 1, certify=False)
    assert dg.allclose(plain, atol=0)
    cert = dg.metadata["certificate"]
    t = cert["thresholds"][-1]  # the run accepted
    assert t is not None and cert["birth_bound"] <= t < dg.metadata["enclosing_radius"]
    assert cert["death_lower_bound"] <= dg[1][:, 1].max() <= t
    assert cert["n_birth_edges"] == len(dg[1])
    assert plain.metadata["threshold_mode"] == "none" and "certificate" not in plain.metadata
    json.dumps(dg.metadata)  # serialisable


def test_certified_falls_back_when_pilots_underestimate(monkeypatch):
    """Pilots are only a guess: a guess too low costs runs, never a wrong diagram."""
    monkeypatch.setattr(rips_module, "pilot_deaths", lambda d, edges, *a, **k: [0.0] * len(edges))
    pts = circle(40, noise=0.02, seed=1)
    dg = rips_persistence(pts, 1, metric="euclidean", certify=True)
    ref = rips_persistence(pts, 1, metric="euclidean", certify=False)
    assert dg.allclose(ref, atol=0) and dg.metadata["complete"]
    tried = dg.metadata["certificate"]["thresholds"]
    assert len(tried) == 2 and tried[0] is not None and tried[-1] is None  # censored, then full


def test_second_run_from_pilots_of_alive_classes(monkeypatch):
    calls = []
    real = rips_module.pilot_deaths

    def first_low(d, edges, *a, **k):
        calls.append(len(edges))
        return [0.0] * len(edges) if len(calls) == 1 else real(d, edges, *a, **k)

    monkeypatch.setattr(rips_module, "pilot_deaths", first_low)
    pts = circle(40, noise=0.02, seed=1)
    dg = rips_persistence(pts, 1, metric="euclidean", certify=True)
    assert dg.allclose(rips_persistence(pts, 1, metric="euclidean", certify=False), atol=0)
    tried = dg.metadata["certificate"]["thresholds"]
    assert len(tried) == 2 and tried[1] is not None  # the alive class's pilot gave the threshold


def test_no_h1_at_all_skips_the_engine():
    x = np.sort(np.random.default_rng(0).random(30))
    d = np.abs(x[:, None] - x[None, :])  # points on a line: every non-tree edge is dominated
    dg = rips_persistence(d, 1, certify=True)
    assert len(dg[1]) == 0 and dg.metadata["certificate"]["thresholds"] == []
    assert dg.allclose(_full_gudhi(d))


def test_auto_certify_by_size_and_symmetry(monkeypatch):
    d = correlation_dissimilarity(relu_activations(100, 40, seed=1))
    assert rips_persistence(d, 1).metadata["threshold_mode"] == "none"  # below CERTIFY_MIN_POINTS
    monkeypatch.setattr(rips_module, "CERTIFY_MIN_POINTS", 10)
    assert rips_persistence(d, 1).metadata["threshold_mode"] == "certified"
    assert rips_persistence(d, 2).metadata["threshold_mode"] == "none"  # H1 only
    asym = d.copy()
    asym[0, 1] = np.nextafter(asym[0, 1], np.float32(2))  # within the tolerance, not bit-symmetric
    # validation symmetrises within the tolerance, so the certificate applies (it once refused)
    assert rips_persistence(asym, 1).metadata["threshold_mode"] == "certified"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"certify": "maybe"}, "certify must be"), ({"certify": True, "threshold": 0.5}, "threshold=None"),
     ({"certify": True, "max_dim": 2}, "H1 only"), ({"threshold": "certified", "certify": False}, "contradicts"),
     ({"threshold": "certified", "threshold_quantile": 0.3}, "not both")],
)
def test_certify_bad_parameters(kwargs, match):
    d = _matrix(0, 10, 0)
    with pytest.raises(InvalidInputError, match=match):
        rips_persistence(d, **{"max_dim": 1, **kwargs})


def test_float32_threshold_keeps_edges_above_out():
    """gudhi's dense engine compares in float32: a threshold between two float32 values must
    not round up and let the longer edges in."""
    a = np.float32(1 + 2**-22)
    d = np.array([[0, 1, a, 1], [1, 0, 1, a], [a, 1, 0, 1], [1, a, 1, 0]], dtype=np.float32)
    t = 1 + 1.5 * 2**-23  # float32(t) == a
    assert np.float32(t) == a and rips_module._dense_threshold(d, t) == 1 + 2**-23
    assert rips_module._dense_threshold(d.astype(np.float64), t) == t
    dg = rips_persistence(d, 1, threshold=t)
    assert dg.n_censored == 1 and len(dg[1]) == 1  # the square is still open at t


def test_pilots_stay_small_next_to_the_matrix(monkeypatch):
    """Pilots of at most max(n / 4, 30) points: on noise every point carries many bars, and
    pilots as big as the matrix once cost 10 full runs."""
    sizes = []
    real = rips_module.pilot_deaths

    def spy(d, edges, *a, size, **k):
        sizes.append(size)
        return real(d, edges, *a, size=size, **k)

    monkeypatch.setattr(rips_module, "pilot_deaths", spy)
    noise = np.random.default_rng(0).normal(size=(100, 120)).astype(np.float32)
    d = correlation_dissimilarity(noise)
    dg = rips_persistence(d, 1, certify=True)
    assert dg.allclose(rips_persistence(d, 1, certify=False), atol=0)
    assert sizes and max(sizes) <= max(120 // 4, 30)
