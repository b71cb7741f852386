"""Extended persistence of graphs: hand-computed answers, counting identities, union-find oracle."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from topolens.exceptions import InvalidInputError, NonFiniteError, ShapeError
from topolens.homology.extended import EXTENDED_DIAGRAMS, extended_persistence

pytest.importorskip("gudhi")


def as_set(points: np.ndarray) -> list[tuple[float, float]]:
    return sorted(map(tuple, np.round(np.asarray(points, dtype=float), 12).tolist()))


def check(d: dict, expected: dict) -> None:
    assert set(d) == set(EXTENDED_DIAGRAMS)
    for k in EXTENDED_DIAGRAMS:
        assert as_set(d[k]) == as_set(np.reshape(expected.get(k, []), (-1, 2))), k


def elder_h0(n: int, edges: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Finite sublevel H0 pairs by the elder rule (a plain union-find, written for the test)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pairs = []
    order = sorted(range(len(edges)), key=lambda i: max(f[edges[i, 0]], f[edges[i, 1]]))
    for i in order:
        a, b = find(int(edges[i, 0])), find(int(edges[i, 1]))
        if a == b:
            continue
        young, old = (a, b) if f[a] > f[b] else (b, a)
        pairs.append((f[young], max(f[edges[i, 0]], f[edges[i, 1]])))
        parent[young] = old  # roots are the minima of their components
    return np.array(pairs, dtype=float).reshape(-1, 2)


def random_graph(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    iu = np.triu_indices(n, k=1)
    keep = rng.random(iu[0].size) < p
    return np.column_stack([iu[0][keep], iu[1][keep]]).astype(np.int64)


def test_path_by_hand() -> None:
    # 0 - 1 - 2 - 3 with f = 0, 3, 1, 2: minima 0 and 1 merge at 3; maxima 3 and 2 merge at 1
    e, f = [(0, 1), (1, 2), (2, 3)], [0.0, 3.0, 1.0, 2.0]
    check(extended_persistence(4, e, f), {"ord0": [(1, 3)], "rel1": [(2, 1)], "ext0": [(0, 3)]})
    check(extended_persistence(4, e, f, min_persistence=-1),
          {"ord0": [(1, 3), (2, 2), (3, 3)], "rel1": [(2, 1), (1, 1), (0, 0)], "ext0": [(0, 3)]})


def test_cycle_by_hand() -> None:
    # hexagon 0..5 with f = 0, 4, 1, 5, 2, 3: two minima (0, 1), two maxima (5, 4), one loop
    e = [(i, (i + 1) % 6) for i in range(6)]
    f = [0.0, 4.0, 1.0, 5.0, 2.0, 3.0]
    check(extended_persistence(6, e, f),
          {"ord0": [(2, 3), (1, 4)], "rel1": [(3, 2), (4, 1)], "ext0": [(0, 5)], "ext1": [(5, 0)]})
    # monotone square: only the component and the loop
    check(extended_persistence(4, [(0, 1), (1, 2), (2, 3), (0, 3)], [0.0, 1.0, 3.0, 2.0]),
          {"ext0": [(0, 3)], "ext1": [(3, 0)]})


def test_tree_by_hand() -> None:
    # 1 - 0 - 2, 0 - 3 - 4, 0 - 5; f = 2, 0, 1, 3, 4, 3.5
    e = [(0, 1), (0, 2), (0, 3), (3, 4), (0, 5)]
    f = [2.0, 0.0, 1.0, 3.0, 4.0, 3.5]
    check(extended_persistence(6, e, f), {"ord0": [(1, 2)], "rel1": [(3.5, 2)], "ext0": [(0, 4)]})


def test_isolated_vertices_and_empty_graph() -> None:
    # zero-length components come back from gudhi as Extended- in dimension 0: still ext0
    d = extended_persistence(3, [(0, 1)], [1.0, 2.0, 5.0], min_persistence=-1)
    check(d, {"ord0": [(2, 2)], "rel1": [(1, 1)], "ext0": [(1, 2), (5, 5)]})
    check(extended_persistence(3, [(0, 1)], [1.0, 2.0, 5.0]), {"ext0": [(1, 2)]})
    check(extended_persistence(0, np.zeros((0, 2), int), np.zeros(0)), {})


def test_coordinates_are_exact_vertex_values() -> None:
    f = np.array([0.1, 0.7, 0.3, 0.9]) * 1e-3 + 12.0
    d = extended_persistence(4, [(0, 1), (1, 2), (2, 3), (0, 3)], f)
    assert np.isin(np.concatenate([v.ravel() for v in d.values()]), f).all()
    raw = extended_persistence(4, [(0, 1), (1, 2), (2, 3), (0, 3)], f, snap=False)
    for k in EXTENDED_DIAGRAMS:
        np.testing.assert_allclose(raw[k], d[k], atol=1e-9)


@pytest.mark.parametrize("seed", range(12))
def test_random_graphs_identities_and_oracle(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    e = random_graph(rng, n, float(rng.uniform(0.02, 0.3)))
    f = rng.random(n)  # distinct values: zero-length pairs are exactly the ones at one vertex
    c = connected_components(coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)), directed=False)
    n_comp, comp = c
    full = extended_persistence(n, e, f, min_persistence=-1)
    assert len(full["ext0"]) == n_comp
    assert len(full["ext1"]) == len(e) - n + n_comp
    assert len(full["ord0"]) == len(full["rel1"]) == n - n_comp
    # orientation
    assert np.all(full["ord0"][:, 0] <= full["ord0"][:, 1]) and np.all(full["ext0"][:, 0] <= full["ext0"][:, 1])
    assert np.all(full["rel1"][:, 0] >= full["rel1"][:, 1]) and np.all(full["ext1"][:, 0] >= full["ext1"][:, 1])
    # ext0 = (min f, max f) per component
    lo = np.full(n_comp, np.inf)
    hi = np.full(n_comp, -np.inf)
    np.minimum.at(lo, comp, f)
    np.maximum.at(hi, comp, f)
    assert as_set(full["ext0"]) == as_set(np.column_stack([lo, hi]))
    # ord0: sublevel H0 (elder rule); rel1: superlevel H0, i.e. sublevel H0 of -f negated
    assert as_set(full["ord0"]) == as_set(elder_h0(n, e, f))
    assert as_set(full["rel1"]) == as_set(-elder_h0(n, e, -f))
    # the default drops exactly the zero-length pairs
    default = extended_persistence(n, e, f)
    for k in EXTENDED_DIAGRAMS:
        kept = full[k][full[k][:, 0] != full[k][:, 1]]
        assert as_set(default[k]) == as_set(kept), k


def test_accepts_both_directions_and_duplicates() -> None:
    f = [0.0, 4.0, 1.0, 5.0, 2.0, 3.0]
    e = np.array([(i, (i + 1) % 6) for i in range(6)])
    d1 = extended_persistence(6, e, f)
    d2 = extended_persistence(6, np.vstack([e, e[:, ::-1], e[:2]]), f)
    for k in EXTENDED_DIAGRAMS:
        assert as_set(d1[k]) == as_set(d2[k])


@pytest.mark.parametrize(
    ("n", "edges", "f", "err"),
    [
        (3, [(0, 1)], [0.0, 1.0], ShapeError),
        (3, [(0, 1)], [0.0, np.nan, 1.0], NonFiniteError),
        (3, [(0, 5)], [0.0, 1.0, 2.0], InvalidInputError),
        (3, [(2, 2)], [0.0, 1.0, 2.0], InvalidInputError),
    ],
)
def test_bad_input(n, edges, f, err) -> None:
    with pytest.raises(err):
        extended_persistence(n, np.asarray(edges), np.asarray(f))


def test_missing_gudhi(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from topolens.exceptions import MissingDependencyError

    monkeypatch.setitem(sys.modules, "gudhi", None)  # import gudhi now raises ImportError
    with pytest.raises(MissingDependencyError, match="gudhi"):
        extended_persistence(2, [(0, 1)], [0.0, 1.0])
