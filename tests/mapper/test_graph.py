import itertools
import json

import networkx as nx
import numpy as np
import pytest

from topolens.exceptions import InvalidInputError
from topolens.mapper import MapperGraph, mapper_graph

from .conftest import blobs


def _handmade():
    members = [[0, 1, 2], [2, 3], [3, 4, 0], [5], [6, 7]]
    return MapperGraph.from_nodes(members, 8, cube=[0, 1, 2, 3, 3], cluster=[0, 0, 0, 0, 1],
                                  triangles=True)


def test_edges_shared_and_jaccard_by_brute_force():
    rng = np.random.default_rng(0)
    members = [np.unique(rng.integers(0, 40, rng.integers(1, 12))) for _ in range(25)]
    g = MapperGraph.from_nodes(members, 40)
    expect = {}
    for a, b in itertools.combinations(range(25), 2):
        s = len(set(members[a]) & set(members[b]))
        if s:
            expect[(a, b)] = (s, s / len(set(members[a]) | set(members[b])))
    got = {(int(a), int(b)): (int(s), float(j)) for (a, b), s, j in zip(g.edges, g.shared, g.jaccard, strict=True)}
    assert got.keys() == expect.keys()
    for k in got:
        assert got[k][0] == expect[k][0] and got[k][1] == pytest.approx(expect[k][1])
    assert g.edges.tolist() == sorted(g.edges.tolist())


def test_min_shared_triangles_betti():
    g = _handmade()
    assert g.edges.tolist() == [[0, 1], [0, 2], [1, 2]]
    assert g.triangles.tolist() == []  # no point is in three nodes
    assert g.betti_numbers() == (3, 1)  # triangle 0-1-2, node 3, node 4
    g3 = MapperGraph.from_nodes([[0, 1], [1, 2], [1, 3]], 4, triangles=True)
    assert g3.triangles.tolist() == [[0, 1, 2]]
    g_min = MapperGraph.from_nodes([[0, 1, 2], [1, 2], [2, 3]], 4, min_shared=2)
    assert g_min.edges.tolist() == [[0, 1]]


def test_json_round_trip_and_networkx(tmp_path):
    x, _ = blobs(400, 5, 3, seed=2)
    g = mapper_graph(x, eps=1.0, min_samples=4, triangles=True)
    path = g.save(tmp_path / "g.json")
    back = MapperGraph.load(path)
    assert [m.tolist() for m in back.members] == [m.tolist() for m in g.members]
    assert back.edges.tolist() == g.edges.tolist()
    np.testing.assert_allclose(back.jaccard, g.jaccard)
    assert back.params == g.params
    np.testing.assert_array_equal(back.cover.lower, g.cover.lower)
    assert back.triangles.tolist() == g.triangles.tolist()
    # the file is networkx node-link data
    data = json.loads(path.read_text())
    try:  # networkx >= 3.4 names the key "edges" by default
        nxg = nx.node_link_graph(data, edges="links")
    except TypeError:
        nxg = nx.node_link_graph(data, link="links")
    assert nxg.number_of_nodes() == g.n_nodes and nxg.number_of_edges() == g.n_edges
    h = g.to_networkx()
    assert h.number_of_edges() == g.n_edges
    assert h.nodes[0]["members"] == g.members[0].tolist()
    assert nx.number_connected_components(h) == g.betti_numbers()[0]


def test_graphml_round_trip(tmp_path):
    g = _handmade()
    path = g.write_graphml(tmp_path / "g.graphml")
    h = nx.read_graphml(path)
    assert h.number_of_nodes() == 5 and h.number_of_edges() == 3
    assert h.nodes["0"]["members"] == "0 1 2"
    assert sorted(float(d["jaccard"]) for _, _, d in h.edges(data=True)) == pytest.approx([0.2, 0.25, 0.25])


def test_load_rejects_corrupt_and_foreign_files(tmp_path):
    g = _handmade()
    data = g.to_dict()
    data["links"].append({"source": 3, "target": 4, "shared": 1, "jaccard": 0.5})
    p = tmp_path / "edited.json"
    p.write_text(json.dumps(data))
    with pytest.raises(InvalidInputError, match="do not match"):
        MapperGraph.load(p)
    p.write_text('{"nodes": []')
    with pytest.raises(InvalidInputError, match="JSON"):
        MapperGraph.load(p)
    p.write_text(json.dumps({"graph": {"format": "other"}, "nodes": [], "links": []}))
    with pytest.raises(InvalidInputError, match="not a topolens Mapper graph"):
        MapperGraph.load(p)
    bad = g.to_dict()
    bad["nodes"][0]["members"] = [0, 99]
    p.write_text(json.dumps(bad))
    with pytest.raises(InvalidInputError, match="outside"):
        MapperGraph.load(p)


def test_layout_is_seeded_and_normalised():
    x, _ = blobs(400, 5, 3, seed=4)
    g = mapper_graph(x, eps=1.0, min_samples=4)
    a, b = g.layout(seed=1), g.layout(seed=1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (g.n_nodes, 2) and a.min() >= 0 and a.max() <= 1


def test_from_nodes_errors():
    with pytest.raises(InvalidInputError, match="no members"):
        MapperGraph.from_nodes([[0], []], 3)
    with pytest.raises(InvalidInputError, match="outside"):
        MapperGraph.from_nodes([[0, 5]], 3)
