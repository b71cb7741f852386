import numpy as np
import pytest
import torch
from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans

from topolens.exceptions import InvalidInputError, NonFiniteError, ShapeError
from topolens.mapper import BalancedCover, Mapper, UniformCover, mapper_graph

from .conftest import blobs


def _key_sets(graph):
    return sorted((int(c), tuple(m.tolist())) for c, m in zip(graph.cube, graph.members, strict=True))


def _kmapper_compare(x, n, p, eps, min_samples):
    km = pytest.importorskip("kmapper")
    m = Mapper(n_intervals=n, overlap=p, eps=eps, min_samples=min_samples).fit(x)
    g = m.graph_
    mapper = km.KeplerMapper(verbose=0)
    lens = mapper.fit_transform(x, projection="l2norm", scaler=None)
    kg = mapper.map(lens, x, clusterer=DBSCAN(eps=eps, min_samples=min_samples),
                    cover=km.Cover(n_cubes=n, perc_overlap=p))
    # KeplerMapper numbers the non-empty cubes only
    members = g.cover.members(m.lens_.values)
    rank = {c: r for r, c in enumerate(i for i, s in enumerate(members) if s.size)}
    ours = {f"cube{rank[c]}_cluster{lab}": frozenset(mm.tolist())
            for c, lab, mm in zip(g.cube, g.cluster, g.members, strict=True)}
    theirs = {k: frozenset(int(i) for i in v) for k, v in kg["nodes"].items()}
    names = list(ours)
    our_edges = {frozenset((names[a], names[b])) for a, b in g.edges}
    their_edges = {frozenset((a, b)) for a, ends in kg["links"].items() for b in ends}
    return ours, theirs, our_edges, their_edges


@pytest.mark.parametrize(("n", "p", "eps", "min_samples"),
                         [(10, 0.3, 1.2, 5), (6, 0.5, 0.9, 3), (15, 0.15, 1.5, 8), (4, 0.0, 1.0, 2)])
def test_same_nodes_and_edges_as_kmapper(n, p, eps, min_samples):
    x, _ = blobs(800, 6, 4, seed=n)
    ours, theirs, e1, e2 = _kmapper_compare(x, n, p, eps, min_samples)
    assert len(ours) > 3
    assert ours == theirs
    assert e1 == e2


def test_same_as_kmapper_with_ties_on_a_lattice():
    # integer points: many distances exactly equal to eps and many equal lens values
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, size=(400, 3)).astype(float)
    ours, theirs, e1, e2 = _kmapper_compare(x, 5, 0.4, 1.0, 4)
    assert ours == theirs and e1 == e2


def test_fast_path_equals_generic_dbscan_path(blob_data):
    x, _ = blob_data

    class WrappedDBSCAN(DBSCAN):  # not recognised as plain DBSCAN: clustered per cover set
        pass

    fast = Mapper(eps=1.0, min_samples=4).fit(x).graph_
    slow = Mapper(clusterer=WrappedDBSCAN(eps=1.0, min_samples=4)).fit(x).graph_
    assert _key_sets(fast) == _key_sets(slow)
    assert fast.edges.tolist() == slow.edges.tolist()


def test_deterministic_for_any_workers_and_threads(blob_data):
    x, _ = blob_data
    ref = Mapper(clusterer=KMeans(3, n_init=2), n_jobs=1).fit(x).graph_
    for jobs in (2, 4):
        g = Mapper(clusterer=KMeans(3, n_init=2), n_jobs=jobs).fit(x).graph_
        assert _key_sets(g) == _key_sets(ref)
    threads = torch.get_num_threads()
    try:
        graphs = []
        for t in (1, 2):
            torch.set_num_threads(t)
            graphs.append(Mapper(n_jobs=t).fit(x).graph_)
    finally:
        torch.set_num_threads(threads)
    assert _key_sets(graphs[0]) == _key_sets(graphs[1])
    assert graphs[0].edges.tolist() == graphs[1].edges.tolist()


def test_noise_policies(blob_data):
    x, _ = blob_data
    drop = Mapper(eps=0.8, min_samples=6).fit(x).graph_
    single = Mapper(eps=0.8, min_samples=6, noise="singletons").fit(x).graph_
    assert drop.covered().mean() < 1.0
    assert single.covered().all()  # no input disappears
    assert set(_key_sets(drop)) <= set(_key_sets(single))
    singles = single.cluster == -1
    assert singles.any() and all(single.members[i].size == 1 for i in np.flatnonzero(singles))
    with pytest.raises(InvalidInputError, match="noise policy"):
        Mapper(noise="keep").fit(x)


def test_refit_equals_fresh_fit(blob_data):
    x, _ = blob_data
    m = Mapper(eps=1.2, min_samples=4).fit(x)
    for n, p, e in [(8, 0.2, 1.0), (12, 0.4, 1.2), (5, 0.3, 0.7)]:
        again = m.refit(n_intervals=n, overlap=p, eps=e)
        fresh = Mapper(n_intervals=n, overlap=p, eps=e, min_samples=4).fit(x).graph_
        assert _key_sets(again) == _key_sets(fresh)
        assert again.edges.tolist() == fresh.edges.tolist()


def test_auto_eps_is_recorded_and_seeded(blob_data):
    x, _ = blob_data
    a = Mapper(random_state=3).fit(x)
    b = Mapper(random_state=3).fit(x)
    assert a.eps_ == b.eps_ > 0
    assert a.graph_.params["eps"] == a.eps_
    assert a.graph_.params["eps_quantile"] == pytest.approx(0.7)


def test_other_lenses_covers_and_triangles(blob_data):
    x, _ = blob_data
    g = mapper_graph(x, "pca2", n_intervals=4, overlap=0.5, eps=1.2, min_samples=3,
                     triangles=True)
    assert g.cover.n_dims == 2 and g.cover.n_sets == 16
    assert g.triangles is not None and g.triangles.shape[1] == 3
    g2 = mapper_graph(x, lambda a: a[:, 0], cover=BalancedCover(6, 0.3), eps=1.0)
    assert g2.n_nodes > 0 and g2.cover.kind == "balanced"
    g3 = mapper_graph(x, cover=UniformCover(6, 0.3, convention="gtda", closed=False), eps=1.0)
    assert g3.cover.kind == "uniform/gtda" and not g3.cover.closed
    g4 = mapper_graph(x, lens_values=np.linalg.norm(x, axis=1), eps=1.0, min_samples=4)
    g5 = mapper_graph(x, eps=1.0, min_samples=4)
    assert _key_sets(g4) == _key_sets(g5)


def test_generic_clusterer_path(blob_data):
    x, _ = blob_data
    g = mapper_graph(x, clusterer=AgglomerativeClustering(n_clusters=2), n_intervals=5)
    assert g.params["clusterer"].startswith("AgglomerativeClustering")
    assert (g.sizes > 0).all()


@pytest.mark.parametrize(
    ("x", "kwargs", "exc", "match"),
    [
        (np.zeros((10, 0)), {}, ShapeError, "empty"),
        (np.array([[1.0, np.nan], [0.0, 1.0], [2.0, 2.0]]), {}, NonFiniteError, "NaN"),
        (np.ones((1, 4)), {}, InvalidInputError, "at least 2 points"),
        (np.random.default_rng(0).normal(size=(5, 3)), {"n_intervals": 10}, InvalidInputError,
         "more than the number of points"),
        (np.ones((3,)), {}, ShapeError, "2-D"),
        (np.random.default_rng(0).normal(size=(20, 3)), {"lens": "nope"}, InvalidInputError,
         "unknown lens"),
        (np.random.default_rng(0).normal(size=(20, 3)), {"eps": -1.0, "n_intervals": 2},
         InvalidInputError, "eps"),
    ],
)
def test_bad_inputs(x, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Mapper(**kwargs).fit(x)


def test_refit_before_fit():
    with pytest.raises(InvalidInputError, match="fit"):
        Mapper().refit()


def test_refit_rebuilds_the_neighbour_graph_once_for_all_covers(blob_data):
    x, _ = blob_data
    m = Mapper(eps=1.2, min_samples=4).fit(x)
    first = m._neighbourhoods.graph
    assert first.ranges is not None  # cut to the fitted cover's sets
    m.refit(n_intervals=7, overlap=0.45)
    general = m._neighbourhoods.graph
    assert general is not first and general.ranges is None
    for n, p, e in [(12, 0.2, 1.0), (4, 0.5, 1.2), (20, 0.1, 0.5)]:
        m.refit(n_intervals=n, overlap=p, eps=e)
        assert m._neighbourhoods.graph is general


def test_noise_together_makes_one_node_per_cover_set(blob_data):
    x, _ = blob_data
    drop = Mapper(eps=0.8, min_samples=6).fit(x).graph_
    together = Mapper(eps=0.8, min_samples=6, noise="together").fit(x).graph_
    noise_nodes = np.flatnonzero(together.cluster == -1)
    assert noise_nodes.size and len(set(together.cube[noise_nodes].tolist())) == noise_nodes.size
    assert set(_key_sets(drop)) <= set(_key_sets(together))
    assert together.n_nodes == drop.n_nodes + noise_nodes.size
    members = together.cover.members(np.linalg.norm(x, axis=1))
    covered = np.zeros(len(x), bool)
    for m in together.members:
        covered[m] = True
    assert covered[np.unique(np.concatenate(members))].all()  # every covered input is in a node


def test_radix_order_is_a_stable_argsort():
    from topolens.mapper.neighbours import _radix_order

    rng = np.random.default_rng(0)
    for high in (10, 70_000, 3_000_000):
        v = rng.integers(0, high, 5000)
        assert _radix_order(v).tolist() == np.argsort(v, kind="stable").tolist()
    assert _radix_order(np.array([], dtype=np.int64)).tolist() == []


def test_review_edge_cases():
    # a pair at distance exactly eps along a 1-Lipschitz lens is decided as without the band
    # (the rounded lens difference may exceed eps by an ulp: the band has slack)
    from topolens.mapper import compute_lens

    for m in range(2, 40):
        x = np.array([np.zeros(m), np.full(m, 1.1)])
        eps = float(np.linalg.norm(x[1] - x[0]))
        banded = mapper_graph(x, "mean", n_intervals=1, eps=eps, min_samples=2)
        plain = mapper_graph(x, n_intervals=1, eps=eps, min_samples=2,
                             lens_values=compute_lens(x, "mean").values)
        assert banded.n_nodes == plain.n_nodes
    # open covers keep every point, also for a constant lens and the kmapper convention
    const = mapper_graph(np.ones((10, 4)), cover=UniformCover(1, 0.3, convention="gtda", closed=False),
                         eps=0.5, min_samples=2)
    assert const.n_nodes == 1 and const.members[0].size == 10
    sets = UniformCover(3, 0.2, convention="kmapper", closed=False).fit(np.arange(10.0)).sets_
    assert np.unique(np.concatenate(sets.members(np.arange(10.0)))).size == 10
    with pytest.raises(InvalidInputError, match="overlap > 0"):
        UniformCover(3, 0.0, closed=False).fit(np.arange(10.0))
    # bad types give topolens errors
    x, _ = blobs(100, 4, 2)
    for kwargs in ({"eps": "0.5"}, {"min_samples": "a"}, {"min_samples": 1.5}):
        with pytest.raises(InvalidInputError):
            Mapper(**kwargs).fit(x)
    with pytest.raises(InvalidInputError):
        Mapper().fit(x, lens_values=np.zeros((100, 0)))


def test_clusterer_without_get_params():
    class Halves:
        def fit_predict(self, a):
            return (a[:, 0] > np.median(a[:, 0])).astype(int)

    x, _ = blobs(200, 4, 2)
    g = mapper_graph(x, clusterer=Halves(), n_intervals=3)
    assert g.n_nodes >= 3

    class Bad:
        def fit_predict(self, a):
            return np.array(["a"] * len(a))

    with pytest.raises(InvalidInputError, match="integer label"):
        mapper_graph(x, clusterer=Bad(), n_intervals=3)


def test_float16_points_widen_to_float32_with_the_same_graph() -> None:
    x = np.random.default_rng(3).normal(size=(200, 5)).astype(np.float16)
    half = Mapper().fit(x)
    single = Mapper().fit(x.astype(np.float32))
    assert half.x_.dtype == np.float32
    assert [m.tolist() for m in half.graph_.members] == [m.tolist() for m in single.graph_.members]
