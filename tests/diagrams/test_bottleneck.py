"""Exact bottleneck distance: brute force and dense oracles, gudhi where it is right, edge cases."""

from __future__ import annotations

import itertools
import time

import gudhi
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse.csgraph import maximum_bipartite_matching

from topolens import InvalidInputError, PersistenceDiagrams
from topolens.diagrams import _matching, bottleneck_distance

GUDHI_WRONG = (np.array([[0.5997, 0.6039], [0.6509, 0.7212], [0.8927, 0.9244], [0.951, 1.3772],
                         [1.4791, 1.5281]]),
               np.array([[0.8538, 1.3623], [1.2293, 1.2794], [1.4409, 1.4947]]))


def brute(a: np.ndarray, b: np.ndarray) -> float:
    """Every matching of the points and their diagonal copies (tiny diagrams only)."""
    n, m = len(a), len(b)
    best = np.inf if n + m else 0.0
    for perm in itertools.permutations(range(n + m)):
        c = 0.0
        for i, j in enumerate(perm):
            if i < n and j < m:
                c = max(c, np.abs(a[i] - b[j]).max())
            elif i < n:
                c = max(c, (a[i][1] - a[i][0]) / 2)
            elif j < m:
                c = max(c, (b[j][1] - b[j][0]) / 2)
        best = min(best, c)
    return float(best)


def dense_candidates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    pair = np.abs(a[:, None, :] - b[None, :, :]).max(axis=2) if len(a) and len(b) else np.empty(0)
    return np.unique(np.concatenate([pair.ravel(), (a[:, 1] - a[:, 0]) / 2, (b[:, 1] - b[:, 0]) / 2, [0.0]]))


def dense(a: np.ndarray, b: np.ndarray) -> float:
    """Binary search over every candidate with a perfect matching of the full reduced graph
    (points + diagonal copies, the diagonal block complete): an independent oracle."""
    n, m = len(a), len(b)
    if n + m == 0:
        return 0.0
    pair = np.abs(a[:, None, :] - b[None, :, :]).max(axis=2) if n and m else np.empty((n, m))
    da, db = (a[:, 1] - a[:, 0]) / 2, (b[:, 1] - b[:, 0]) / 2
    cand = dense_candidates(a, b)

    def feasible(t: float) -> bool:
        r1, c1 = np.nonzero(pair <= t)
        ia, jb = np.flatnonzero(da <= t), np.flatnonzero(db <= t)
        rows = np.concatenate([r1, ia, n + jb, np.repeat(n + np.arange(m), n)])
        cols = np.concatenate([c1, m + ia, jb, np.tile(m + np.arange(n), m)])
        g = sparse.csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n + m, n + m))
        return bool((maximum_bipartite_matching(g, perm_type="column") >= 0).all())

    lo, hi = 0, cand.size - 1
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if feasible(float(cand[mid])) else (mid + 1, hi)
    return float(cand[lo])


@st.composite
def diagram(draw, max_points: int = 4, grid: bool | None = None) -> np.ndarray:
    n = draw(st.integers(0, max_points))
    if grid is None:
        grid = draw(st.booleans())
    vals = st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0]) if grid else st.floats(-3, 3, allow_nan=False)
    pts = np.array([sorted((draw(vals), draw(vals))) for _ in range(n)], dtype=float).reshape(-1, 2)
    return pts


@settings(max_examples=150, deadline=None)
@given(diagram(max_points=3), diagram(max_points=3))
@example(*GUDHI_WRONG[:1], GUDHI_WRONG[1][:2])
def test_matches_brute_force(a, b):
    assert bottleneck_distance(a, b) == brute(a, b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(diagram(max_points=25), diagram(max_points=25))
def test_matches_dense_oracle_and_is_a_candidate(a, b):
    d = bottleneck_distance(a, b)
    assert d == dense(a, b)
    assert d in set(dense_candidates(a, b).tolist())


def test_gudhi_3_13_counterexample():
    a, b = GUDHI_WRONG
    assert bottleneck_distance(a, b) == brute(a, b) == pytest.approx(0.0972)


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_gudhi_on_realistic_diagrams(seed):
    g = np.random.default_rng(seed)
    n = 400
    if seed % 2:  # H0-like: every birth 0, ties everywhere
        a, b = (np.c_[np.zeros(n), np.round(g.uniform(size=n), 2)] for _ in range(2))
    else:
        a, b = (np.c_[x, x + g.exponential(0.1, n)] for x in (g.uniform(size=n), g.uniform(size=n)))
    ours = bottleneck_distance(a, b)
    assert ours == pytest.approx(gudhi.bottleneck_distance(a, b, 0), abs=1e-12)
    assert bottleneck_distance(a[:120], b[:90]) == dense(a[:120], b[:90])


def test_pure_python_kernels_agree(monkeypatch):
    g = np.random.default_rng(5)
    a = np.sort(g.uniform(size=(30, 2)), axis=1)
    b = np.sort(g.uniform(size=(22, 2)), axis=1)
    want = dense(a, b)
    for name in ("neighbour_graph", "scan_pairs", "hopcroft_karp"):
        monkeypatch.setattr(_matching, name, getattr(_matching, f"{name}_python"))
    assert bottleneck_distance(a, b) == want


def test_many_candidates_take_several_rounds(monkeypatch):
    """Force the histogram rounds (few candidates collected at a time) against the oracle."""
    from topolens.diagrams import _bottleneck

    monkeypatch.setattr(_bottleneck, "_COLLECT", 8)
    monkeypatch.setattr(_bottleneck, "_BINS", 4)
    g = np.random.default_rng(7)
    for _ in range(10):
        a = np.sort(g.uniform(size=(g.integers(1, 30), 2)), axis=1)
        b = np.sort(g.integers(0, 5, size=(g.integers(1, 30), 2)), axis=1) / 4
        assert bottleneck_distance(a, b) == dense(a, b)


def test_edge_cases():
    assert bottleneck_distance([], []) == 0.0
    assert bottleneck_distance(np.empty((0, 2)), [[0, 2.0], [1, 1.5]]) == 1.0
    assert bottleneck_distance([[0, 2.0]], []) == 1.0
    assert bottleneck_distance([[1, 1.0], [2, 2.0]], [[3, 3.0]]) == 0.0  # on the diagonal
    assert bottleneck_distance([[0, 1.0]] * 5, [[0, 1.0]] * 5) == 0.0  # duplicates
    assert bottleneck_distance([[0, 1.0]] * 5, [[0, 1.0]] * 4) == 0.5
    assert bottleneck_distance([[0, 3.0], [0, 3.0]], [[0.5, 3.0]]) == 1.5
    # coordinates whose differences overflow: rescaled exactly, still the true value
    assert bottleneck_distance([[-1e308, 1e308]], []) == 1e308
    assert bottleneck_distance([[-1e308, 1e308]], [[-1e308, 1e308]]) == 0.0


def test_essential_classes():
    assert bottleneck_distance([[0, np.inf], [1, 2]], [[0.5, np.inf]]) == 0.5
    assert bottleneck_distance([[0, np.inf]], []) == np.inf
    assert bottleneck_distance([[0, np.inf], [3, np.inf]], [[2.5, np.inf], [0.25, np.inf]]) == 0.5
    assert bottleneck_distance([[0, np.inf], [0, 10.0]], [[0, np.inf]]) == 5.0


def test_method_validates_e():
    a = PersistenceDiagrams([[[0.0, 1.0], [0.2, 0.5]]])
    b = PersistenceDiagrams([[[0.0, 0.9]]])
    assert a.bottleneck(b, 0) == bottleneck_distance(a[0], b[0])
    assert abs(a.bottleneck(b, 0, e=0.01) - a.bottleneck(b, 0)) <= 0.01 * 1.01  # gudhi: additive e
    for e in (-1, np.nan, np.inf, "0", None, True):
        with pytest.raises(InvalidInputError, match="e"):
            a.bottleneck(b, 0, e=e)
    with pytest.raises(InvalidInputError, match="PersistenceDiagrams"):
        a.bottleneck(b[0], 0)


def test_hopcroft_karp_maximum_matching():
    # a path a0-b0-a1-b1-a2: greedy matches a0-b0, a1-b1; the maximum is 2 as well; a star needs 1
    indptr = np.array([0, 1, 3, 4])
    indices = np.array([0, 0, 1, 1])
    assert _matching.hopcroft_karp(indptr, indices, 2) == 2
    # greedy a0->b0 blocks a1 (only b0): augmenting path a1-b0-a0-b1 must be found
    indptr, indices = np.array([0, 2, 3]), np.array([0, 1, 0])
    assert _matching.hopcroft_karp(indptr, indices, 2) == 2
    assert _matching.hopcroft_karp_python(indptr, indices, 2) == 2
    g = np.random.default_rng(3)
    for _ in range(20):  # against scipy on random bipartite graphs
        m = sparse.random(15, 12, density=0.15, random_state=int(g.integers(1 << 30)), format="csr")
        want = int((maximum_bipartite_matching(m, perm_type="column") >= 0).sum())
        assert _matching.hopcroft_karp(m.indptr.astype(np.int64), m.indices.astype(np.int64), 12) == want


def test_3000_points_in_seconds():
    """The defect: 93 s at 800 points, > 290 s at 1,000. Now well under the old time at 3,000."""
    g = np.random.default_rng(0)
    n = 3000
    a = np.c_[np.zeros(n), g.uniform(size=n)]
    b = np.c_[np.zeros(n), np.abs(g.uniform(size=n) + g.normal(0, 0.01, n))]
    bottleneck_distance(a[:10], b[:10])  # numba's compilation is not the point
    t = time.perf_counter()
    bottleneck_distance(a, b)
    assert time.perf_counter() - t < 30


def test_import_topolens_does_not_import_numba():
    """The kernels are imported on the first distance, not by ``import topolens`` (0.6 s)."""
    import subprocess
    import sys

    code = "import sys, topolens; print(sorted(m for m in ('numba', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
