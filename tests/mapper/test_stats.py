import numpy as np
import pytest

from topolens.exceptions import InvalidInputError, ShapeError
from topolens.mapper import mapper_graph, node_statistics

from .conftest import blobs


def test_statistics_against_a_loop():
    x, y = blobs(500, 6, 4, seed=3)
    g = mapper_graph(x, eps=1.0, min_samples=4)
    pred = np.where(np.arange(500) % 9 == 0, (y + 1) % 4, y)
    lens = np.linalg.norm(x, axis=1)
    st = node_statistics(g, x, labels=y, predictions=pred, lens=lens, top_k=3)
    for i, m in enumerate(g.members):
        assert st.size[i] == m.size
        counts = np.bincount(y[m], minlength=4)
        np.testing.assert_array_equal(st.label_counts[i], counts)
        p = counts / m.size
        assert st.purity[i] == pytest.approx(p.max())
        assert st.entropy[i] == pytest.approx(-sum(q * np.log2(q) for q in p if q > 0))
        assert st.misclassification[i] == pytest.approx(np.mean(pred[m] != y[m]))
        assert st.mean_lens[i, 0] == pytest.approx(lens[m].mean())
        np.testing.assert_allclose(st.mean_activation[i], x[m].mean(axis=0), rtol=1e-5, atol=1e-6)
        assert st.top_neurons[i].tolist() == np.argsort(-x[m].mean(axis=0), kind="stable")[:3].tolist()
    assert st.available() == ["size", "purity", "entropy", "mean_lens", "misclassification"]
    row = st.rows()[0]
    assert {"node", "size", "purity", "top_labels", "top_neurons"} <= set(row)


def test_string_labels_and_class_names():
    x, y = blobs(300, 4, 3, seed=1)
    g = mapper_graph(x, eps=1.0, min_samples=4)
    names = np.array(["cat", "dog", "<b>eel</b>"])[y]
    st = node_statistics(g, labels=names)
    assert st.class_names == ["<b>eel</b>", "cat", "dog"]
    st2 = node_statistics(g, labels=y, class_names=["a", "b", "c"])
    top = st2.top_labels(0, 2)
    assert top and top[0][0] in {"a", "b", "c"}


def test_statistics_errors():
    x, y = blobs(200, 4, 2, seed=0)
    g = mapper_graph(x, eps=1.0, min_samples=3)
    with pytest.raises(ShapeError, match="one entry per point"):
        node_statistics(g, labels=y[:10])
    with pytest.raises(ShapeError, match="activations the graph was built from"):
        node_statistics(g, x[:10])
    with pytest.raises(InvalidInputError, match="need labels"):
        node_statistics(g, predictions=y)
    with pytest.raises(InvalidInputError, match="class name"):
        node_statistics(g, labels=y, class_names=["only one"])
