import numpy as np
import pytest

from topolens.exceptions import InvalidInputError
from topolens.mapper import BalancedCover, CoverSets, UniformCover


def _intervals(cover, values):
    sets = cover.fit(values).sets_
    return sets, sets.intervals(0)


def test_kmapper_convention_by_hand():
    v = np.linspace(0.0, 10.0, 11)
    sets, (lo, hi) = _intervals(UniformCover(4, 0.5, convention="kmapper"), v)
    # centres 0 + (k + 1/2) * 10/4, length 10 / (4 * (1 - 0.5)) = 5
    np.testing.assert_allclose(lo, [-1.25, 1.25, 3.75, 6.25])
    np.testing.assert_allclose(hi, [3.75, 6.25, 8.75, 11.25])
    assert sets.kind == "uniform/kmapper" and sets.closed
    members = sets.members(v)
    assert members[0].tolist() == [0, 1, 2, 3]
    assert members[3].tolist() == [7, 8, 9, 10]


def test_gtda_convention_by_hand():
    v = np.linspace(0.0, 10.0, 11)
    sets, (lo, hi) = _intervals(UniformCover(4, 0.5, convention="gtda"), v)
    # length 10 / (4 - 3 * 0.5) = 4, left ends 0, 2, 4, 6: exactly [min, max]
    np.testing.assert_allclose(lo, [0, 2, 4, 6])
    np.testing.assert_allclose(hi, [4, 6, 8, 10])
    assert [m.tolist() for m in sets.members(v)] == [[0, 1, 2, 3, 4], [2, 3, 4, 5, 6],
                                                      [4, 5, 6, 7, 8], [6, 7, 8, 9, 10]]


def test_open_intervals_exclude_boundaries_but_keep_extremes():
    v = np.linspace(0.0, 10.0, 11)
    sets = UniformCover(4, 0.5, convention="gtda", closed=False).fit(v).sets_
    lo, hi = sets.intervals(0)
    assert lo[0] == -np.inf and hi[-1] == np.inf
    members = sets.members(v)
    assert members[0].tolist() == [0, 1, 2, 3]  # 4 lies on the open right end
    assert members[1].tolist() == [3, 4, 5]
    assert members[3].tolist() == [7, 8, 9, 10]
    covered = np.unique(np.concatenate(members))
    assert covered.tolist() == list(range(11))


def test_kmapper_cover_matches_kmapper():
    km = pytest.importorskip("kmapper")
    rng = np.random.default_rng(0)
    v = rng.normal(size=(500, 1)) ** 2
    for n, p in [(10, 0.3), (7, 0.55), (15, 0.1), (3, 0.0)]:
        cov = km.Cover(n_cubes=n, perc_overlap=p)
        data = np.column_stack([np.arange(v.shape[0]), v])
        centres = cov.fit(data)
        theirs = [cov.transform_single(data, c)[:, 0].astype(int).tolist() for c in centres]
        ours = [m.tolist() for m in UniformCover(n, p).fit(v).sets_.members(v)]
        assert ours == theirs


def test_product_cover_order_and_members():
    rng = np.random.default_rng(1)
    v = rng.uniform(size=(300, 2))
    sets = UniformCover((2, 3), (0.2, 0.3)).fit(v).sets_
    assert sets.n_sets == 6
    assert sets.grid.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    for s, mem in enumerate(sets.members(v)):
        inside = np.all((v >= sets.lower[s]) & (v <= sets.upper[s]), axis=1)
        assert mem.tolist() == np.flatnonzero(inside).tolist()


def test_balanced_cover_equal_counts():
    v = np.random.default_rng(2).permutation(100).astype(float)
    sets = BalancedCover(4, 0.0).fit(v).sets_
    assert [m.size for m in sets.members(v)] == [25, 25, 25, 25]
    sets = BalancedCover(5, 0.2).fit(np.exp(v / 10)).sets_
    sizes = [m.size for m in sets.members(np.exp(v / 10))]
    assert max(sizes) - min(sizes) <= 1
    assert np.unique(np.concatenate(sets.members(np.exp(v / 10)))).size == 100


def test_cover_dict_round_trip():
    v = np.linspace(0, 1, 50)
    for cover in (UniformCover(5, 0.3, convention="gtda", closed=False), BalancedCover(4, 0.25)):
        sets = cover.fit(v).sets_
        back = CoverSets.from_dict(sets.to_dict())
        np.testing.assert_array_equal(back.lower, sets.lower)
        np.testing.assert_array_equal(back.upper, sets.upper)
        assert [m.tolist() for m in back.members(v)] == [m.tolist() for m in sets.members(v)]


@pytest.mark.parametrize(
    ("kwargs", "values", "match"),
    [
        ({"n_intervals": 20}, np.arange(5.0), "more than the number of points"),
        ({"overlap": 1.0}, np.arange(50.0), r"overlap must be in \[0, 1\)"),
        ({"n_intervals": 0}, np.arange(50.0), "positive integer"),
        ({"n_intervals": 3}, np.ones(5), "constant"),
        ({"convention": "nope"}, np.arange(50.0), "unknown cover convention"),
        ({"n_intervals": [2, 3]}, np.arange(50.0), "coordinate"),
    ],
)
def test_cover_errors(kwargs, values, match):
    with pytest.raises(InvalidInputError, match=match):
        UniformCover(**kwargs).fit(values)
