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


def test_label_coding_of_negative_float_and_string_labels():
    from topolens.mapper import MapperGraph
    from topolens.mapper.stats import encode_labels

    g = MapperGraph.from_nodes([np.array([0, 1, 2]), np.array([2, 3])], 4)
    st = node_statistics(g, labels=np.array([-1, 0, 1, 1]), predictions=np.array([-1, 0, 1, 1]))
    assert st.class_names == ["-1", "0", "1"] and st.misclassification.tolist() == [0.0, 0.0]
    st = node_statistics(g, labels=[0.0, 1, 1, 0], predictions=[0, 1, 1, 0])
    assert st.class_names == ["0", "1"] and st.misclassification.tolist() == [0.0, 0.0]
    codes, pred, names = encode_labels(np.array(["b", "a", "b", "c"]), 4,
                                       predictions=np.array(["a", "a", "b", "c"]))
    assert names == ["a", "b", "c"] and codes.tolist() == [1, 0, 1, 2] and pred.tolist() == [0, 0, 1, 2]
    with pytest.raises(InvalidInputError, match="no label has"):
        encode_labels(np.array(["a", "b", "a", "b"]), 4, predictions=np.array(["a", "z", "a", "b"]))
    with pytest.raises(InvalidInputError, match="class_names"):
        encode_labels(np.array(["a", "b", "a", "b"]), 4, class_names=["x", "y"])


def test_pipeline_and_payload_agree_on_label_names():
    from topolens.pipeline import mapper_analysis
    from topolens.viz.mapper_payload import ExplorerLayer, explorer_payload

    x, y = blobs(240, 5, 3, seed=5)
    labels = y - 1  # -1, 0, 1
    run = mapper_analysis({"a": x}, labels=labels, predictions=labels, progress=False,
                          n_intervals=5, eps_quantile=0.8)
    names = run.payload["labels"]["names"]
    assert names == ["-1", "0", "1"]
    shown = [names[c] for c in run.payload["labels"]["of_input"]]
    assert shown == [str(v) for v in labels]
    assert all(v == 0.0 for v in run.stats["a"].misclassification)
    layer = ExplorerLayer("a", run.graphs["a"], run.stats["a"])
    with pytest.raises(InvalidInputError, match="class codes"):
        explorer_payload([layer], labels=np.array(["a"] * 240))


def test_nan_labels_and_predictions_are_refused():
    from topolens.exceptions import InvalidInputError
    from topolens.mapper.stats import encode_labels

    with pytest.raises(InvalidInputError, match=r"labels hold 1 NaN.*index 2"):
        encode_labels(np.array([0.0, 1.0, np.nan, 1.0]), 4)
    with pytest.raises(InvalidInputError, match="predictions hold 1 NaN"):
        encode_labels(np.array([0, 1, 1, 0]), 4, predictions=np.array([0.0, np.inf, 1.0, 0.0]))
