import numpy as np
import pytest

from topolens.mapper import Mapper, MapperGraph, component_ari, node_agreement, stability_sweep

from .conftest import blobs


def test_sweep_rows_match_individual_fits():
    x, _ = blobs(500, 6, 4, seed=7)
    res = stability_sweep(x, n_intervals=(5, 8), overlap=(0.2, 0.4), eps=(0.8, 1.1),
                          min_samples=4, keep_graphs=True, progress=False)
    assert len(res.rows) == 8
    ref = res.rows[res.reference]
    assert ref["node_agreement"] == 1.0 and ref["component_ari"] == pytest.approx(1.0)
    for row, g in zip(res.rows, res.graphs, strict=True):
        fresh = Mapper(n_intervals=row["n_intervals"], overlap=row["overlap"], eps=row["eps"],
                       min_samples=4).fit(x).graph_
        assert [m.tolist() for m in g.members] == [m.tolist() for m in fresh.members]
        assert (row["n_nodes"], row["n_edges"]) == (fresh.n_nodes, fresh.n_edges)
        b0, b1 = fresh.betti_numbers()
        assert (row["b0"], row["b1"]) == (b0, b1)
        assert 0.0 <= row["node_agreement"] <= 1.0
    md = res.to_markdown()
    assert "(ref)" in md and md.count("\n") == 9


def test_agreement_measures():
    a = MapperGraph.from_nodes([[0, 1, 2], [2, 3]], 6)
    assert node_agreement(a, a) == 1.0
    b = MapperGraph.from_nodes([[0, 1], [2, 3], [4, 5]], 6)
    # best matches: a0 -> b0 (2/3), a1 -> b1 (1); b0 -> 2/3, b1 -> 1, b2 -> 0
    expect = 0.5 * ((3 * 2 / 3 + 2 * 1) / 5 + (2 * 2 / 3 + 2 * 1 + 0) / 6)
    assert node_agreement(a, b) == pytest.approx(expect)
    assert component_ari(a, a) == pytest.approx(1.0)
    c = MapperGraph.from_nodes([[0, 1], [2, 3]], 6)
    assert component_ari(a, c) < 1.0
    assert np.isfinite(component_ari(a, c))
