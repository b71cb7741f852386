import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist, squareform
from sklearn.cluster import DBSCAN

from topolens.exceptions import InvalidInputError
from topolens.mapper import dbscan_labels
from topolens.mapper.cluster import check_noise_policy, is_plain_dbscan


def _pairs(x: np.ndarray, eps: float):
    d = squareform(pdist(x))
    i, j = np.nonzero(np.triu(d <= eps, 1))
    return i, j


def _ours(x, members, eps, min_samples):
    rows, cols = _pairs(x, eps)
    return dbscan_labels(np.asarray(members), rows, cols, min_samples, len(x))


def test_border_point_goes_to_the_first_discovered_cluster():
    # cluster A = {0..3}, cluster B = {5..8}; point 4 is a border point of both
    a = [0.0, 0.1, 0.2, 0.3]
    b = [1.7, 1.8, 1.9, 2.0]
    for order in ([*a, 1.0, *b], [*b, 1.0, *a]):
        x = np.array(order)[:, None]
        ref = DBSCAN(eps=0.71, min_samples=3).fit_predict(x)
        ours = _ours(x, np.arange(len(x)), 0.71, 3)
        assert ours.tolist() == ref.tolist()
        assert ours[4] == 0  # the cluster holding point 0 is discovered first


@settings(max_examples=80, deadline=None)
@given(
    pts=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=1, max_size=60),
    eps=st.sampled_from([1.0, 1.5, 2.0, 2.5, 3.0]),
    min_samples=st.integers(1, 6),
    data=st.data(),
)
def test_matches_sklearn_dbscan_on_subsets(pts, eps, min_samples, data):
    # integer lattice points: distances exactly at eps occur and must count as neighbours
    x = np.array(pts, dtype=float)
    mask = data.draw(st.lists(st.booleans(), min_size=len(pts), max_size=len(pts)))
    members = np.flatnonzero(mask)
    if members.size == 0:
        return
    ref = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(x[members])
    ours = _ours(x, members, eps, min_samples)
    assert ours.tolist() == ref.tolist()


def test_empty_and_all_noise():
    x = np.arange(5.0)[:, None] * 10
    assert _ours(x, np.array([], dtype=np.int64), 1.0, 2).tolist() == []
    assert _ours(x, np.arange(5), 1.0, 2).tolist() == [-1] * 5


def test_plain_dbscan_detection_and_noise_policy():
    assert is_plain_dbscan(DBSCAN())
    assert is_plain_dbscan(DBSCAN(metric="minkowski", p=2))
    assert not is_plain_dbscan(DBSCAN(metric="manhattan"))
    assert not is_plain_dbscan(None)
    assert check_noise_policy("singletons") == "singletons"
    with pytest.raises(InvalidInputError, match="noise policy"):
        check_noise_policy("keep")
