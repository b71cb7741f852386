import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topolens import (
    ConstantNeuronWarning,
    InvalidInputError,
    LayerNotFoundError,
    NonFiniteError,
    ShapeError,
    TopolensWarning,
    activation_persistence,
)
from topolens.dissimilarity import correlation_dissimilarity
from topolens.homology import rips_persistence
from topolens.topology import sample_neurons

from .conftest import relu_activations


@pytest.fixture
def acts():
    return {"a": relu_activations(300, 60, seed=1), "b": relu_activations(300, 25, seed=2)}


def test_per_layer_and_all(acts):
    res = activation_persistence(acts, n_inputs=200, n_neurons=30, n_resamples=2, seed=3)
    assert res.groups == ["a", "b"]
    assert all(len(res[g]) == 2 for g in res.groups)
    d = res["a"][0]
    assert d.metadata["n_points"] == 30 and d.metadata["n_inputs"] == 200 and d.max_dim == 1
    allres = activation_persistence(acts, group="all", n_resamples=1)
    assert allres.groups == ["all"] and allres["all"][0].metadata["n_points"] == 85


def test_matches_direct_computation(acts):
    res = activation_persistence(acts, layers=["a"], n_inputs=150, n_neurons=40, seed=0)
    rows, cols = res.input_indices["a"][0], res.neuron_indices["a"][0]
    ref = rips_persistence(correlation_dissimilarity(acts["a"][rows][:, cols]), 1)
    assert res["a"][0].allclose(ref, atol=0)
    assert np.all(np.diff(rows) > 0) and len(set(cols.tolist())) == 40


def test_deterministic_from_seed_and_independent_of_other_groups(acts):
    one = activation_persistence(acts, n_inputs=100, n_neurons=20, n_resamples=3, seed=7)
    two = activation_persistence(acts, n_inputs=100, n_neurons=20, n_resamples=3, seed=7)
    alone = activation_persistence(acts, layers=["b"], n_inputs=100, n_neurons=20, n_resamples=3, seed=7)
    other = activation_persistence(acts, n_inputs=100, n_neurons=20, n_resamples=3, seed=8)
    for r in range(3):
        assert one["a"][r].allclose(two["a"][r], atol=0)
        assert one["b"][r].allclose(alone["b"][r], atol=0)
        np.testing.assert_array_equal(one.neuron_indices["b"][r], alone.neuron_indices["b"][r])
    assert not np.array_equal(one.input_indices["a"][0], other.input_indices["a"][0])
    assert not np.array_equal(one.input_indices["a"][0], one.input_indices["a"][1])


def test_constant_neurons_dropped_with_one_warning(acts):
    a = acts["a"].copy()
    a[:, :7] = 0.0
    with pytest.warns(ConstantNeuronWarning, match="7 of 60") as rec:
        res = activation_persistence(a, n_resamples=3)
    assert len([w for w in rec if issubclass(w.category, ConstantNeuronWarning)]) == 1
    d = res["activations"][0]
    assert d.metadata["n_constant_dropped"] == 7 and d.metadata["n_points"] == 53
    assert not np.isin(np.arange(7), res.neuron_indices["activations"][0]).any()
    with pytest.raises(InvalidInputError, match="constant"):
        activation_persistence(a, constant="raise")


def test_max_activation_sampling_prefers_frequent_winners():
    rng = np.random.default_rng(0)
    a = rng.random((500, 50)).astype(np.float32)
    a[:, 10] += 5.0  # neuron 10 is the largest on every input
    picks = sample_neurons(a, 5, rng, scheme="max_activation")
    assert 10 in picks and len(picks) == 5 and np.all(np.diff(picks) > 0)
    b = rng.random((500, 50))
    picks = sample_neurons(b, 20, np.random.default_rng(1), scheme="max_activation")
    counts = np.bincount(np.abs(b).argmax(1), minlength=50)
    assert counts[picks].mean() > counts[np.setdiff1d(np.arange(50), picks)].mean()


def test_bad_inputs(acts):
    bad = acts["a"].copy()
    bad[5, 3] = np.nan
    with pytest.raises(NonFiniteError, match="NaN"):
        activation_persistence(bad)
    with pytest.raises(LayerNotFoundError, match="available: a, b"):
        activation_persistence(acts, layers=["c"])
    with pytest.raises(ShapeError, match="no neurons"):
        activation_persistence({"empty": np.zeros((10, 0), np.float32)})
    with pytest.raises(ShapeError, match=r"\(n_inputs, n_neurons\)"):
        activation_persistence({"x": np.zeros((10, 3, 3), np.float32)})
    with pytest.raises(InvalidInputError, match="non-constant"):
        activation_persistence(np.c_[np.ones(10), np.arange(10.0)].astype(np.float32))
    with pytest.raises(InvalidInputError, match="n_resamples"):
        activation_persistence(acts, n_resamples=0)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_invariant_to_neuron_order(seed):
    """Using all neurons, the diagrams do not depend on the order of the columns."""
    a = relu_activations(80, 30, seed=seed % 101)
    p = np.random.default_rng(seed).permutation(30)
    x = activation_persistence(a, threshold=None)["activations"][0]
    y = activation_persistence(a[:, p], threshold=None)["activations"][0]
    assert x.allclose(y, atol=1e-6)


def test_max_activation_ignores_inputs_where_all_neurons_are_off():
    g = np.random.default_rng(0)
    a = np.maximum(g.normal(size=(1000, 50)), 0)
    a[:600] = 0.0
    picks = [sample_neurons(a, 5, np.random.default_rng(s), scheme="max_activation") for s in range(100)]
    assert sum(0 in p for p in picks) < 40  # column 0 was picked ~always when zero rows counted for it


def test_n_jobs_gives_identical_results(acts):
    kw = dict(n_inputs=200, n_neurons=30, n_resamples=3, seed=5)
    one = activation_persistence(acts, **kw)
    two = activation_persistence(acts, n_jobs=2, **kw)
    assert one.groups == two.groups and one.params == two.params
    for g in one.groups:
        for a, b in zip(one[g], two[g], strict=True):
            assert a.allclose(b, atol=0) and a.metadata == b.metadata
        for x, y in zip(one.neuron_indices[g] + one.input_indices[g],
                        two.neuron_indices[g] + two.input_indices[g], strict=True):
            np.testing.assert_array_equal(x, y)
    assert len(activation_persistence(acts, n_jobs=-1, n_resamples=2, n_inputs=299)["a"]) == 2


def test_n_jobs_lowered_to_fit_the_memory_budget(acts, caplog):
    from topolens.homology import estimate_rips_memory

    one = estimate_rips_memory(60, 1) + 8 * 300 * 60
    with caplog.at_level("INFO", logger="topolens.topology"):
        res = activation_persistence(acts, layers=["a"], n_resamples=2, n_jobs=2, n_inputs=299,
                                     memory_limit=int(1.5 * one))
    assert "n_jobs lowered from 2 to 1" in caplog.text
    ref = activation_persistence(acts, layers=["a"], n_resamples=2, n_inputs=299)
    assert len(res["a"]) == 2  # distinct resamples (all 300 inputs would make them identical)
    assert all(x.allclose(y, atol=0) for x, y in zip(res["a"], ref["a"], strict=True))


@pytest.mark.parametrize("n_jobs", [0, -2, 1.5, True])
def test_bad_n_jobs(acts, n_jobs):
    with pytest.raises(InvalidInputError, match="n_jobs"):
        activation_persistence(acts, n_jobs=n_jobs)


def test_certified_threshold_is_the_full_diagram(acts):
    kw = dict(layers=["a"], n_inputs=250, n_resamples=2, seed=1)
    cert = activation_persistence(acts, threshold="certified", **kw)
    full = activation_persistence(acts, threshold=None, **kw)  # 60 neurons: plain full run
    for c, f in zip(cert["a"], full["a"], strict=True):
        assert c.allclose(f, atol=0) and c.metadata["threshold_mode"] == "certified"
        assert c.metadata["complete"] and c.metadata["threshold"] is None


def test_identical_resamples_are_computed_once_with_a_warning(acts):
    a = acts["a"].copy()
    a[:, :5] = 0.0  # 55 usable neurons
    with pytest.warns(TopolensWarning, match=r"'activations': every resample would be identical, so 1 "
                      r"was computed instead of 4: all 300 inputs.*all 55 usable.*5 constant.*"
                      r"n_inputs < 300 or n_neurons < 55"):
        res = activation_persistence(a, n_neurons=100, n_resamples=4, seed=2)
    assert len(res["activations"]) == 1 and res.params["n_resamples_computed"] == {"activations": 1}
    ref = rips_persistence(correlation_dissimilarity(a[:, 5:]), 1)
    assert res["activations"][0].allclose(ref, atol=1e-6)
    # per group: the small layer b is degenerate, a (sampled neurons) is not
    with pytest.warns(TopolensWarning, match="'b': every resample") as rec:
        mixed = activation_persistence(acts, n_neurons=30, n_resamples=3)
    assert [str(w.message)[:4] for w in rec if issubclass(w.category, TopolensWarning)
            and "identical" in str(w.message)] == ["'b':"]
    assert len(mixed["a"]) == 3 and len(mixed["b"]) == 1
    assert mixed.params["n_resamples_computed"] == {"a": 3, "b": 1}
    # sampling inputs (or neurons) makes resamples differ: no warning, all computed
    with warnings.catch_warnings():
        warnings.simplefilter("error", TopolensWarning)
        assert len(activation_persistence(acts, layers=["b"], n_inputs=200, n_resamples=3)["b"]) == 3


def test_two_neurons_and_validation_before_the_float32_cast():
    a = relu_activations(50, 10, seed=3).astype(np.float64)
    res = activation_persistence(a, n_neurons=2, n_resamples=2, n_inputs=40, max_dim=1)
    d = res["activations"][0]
    assert d.metadata["n_points"] == 2 and len(d[0]) == 2 and len(d[1]) == 0
    cols = res.neuron_indices["activations"][0]
    rows = res.input_indices["activations"][0]
    c = abs(np.corrcoef(a[rows][:, cols].T)[0, 1])
    np.testing.assert_allclose(np.sort(d[0][:, 1])[0], 1 - c, atol=1e-5)
    big = a.copy()
    big[3, 4] = 1e300
    with pytest.raises(NonFiniteError, match="exceeds float32's largest finite value") as info:
        activation_persistence(big)
    assert "NaN" not in str(info.value)  # not the report of real NaN/inf entries
    with pytest.raises(InvalidInputError, match="complex"):
        activation_persistence(a * (1 + 1j))
    with pytest.raises(NonFiniteError, match=r"\(layer 'y'\) contains 50 NaN"):
        activation_persistence({"x": a, "y": np.where(np.arange(10) == 2, np.nan, a)}, group="all")


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_progress_bar_counts_skipped_identical_resamples(acts, monkeypatch, n_jobs):
    import tqdm.auto

    bars = []

    class Bar:
        def __init__(self, total=None, **kwargs):
            self.total, self.n = total, 0
            bars.append(self)

        def update(self, k=1):
            self.n += k

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    with pytest.warns(TopolensWarning, match="'b': every resample"):
        res = activation_persistence(acts, n_neurons=30, n_resamples=3, progress=True, n_jobs=n_jobs)
    assert res.params["n_resamples_computed"] == {"a": 3, "b": 1}
    assert [(b.total, b.n) for b in bars] == [(6, 6)]  # b's 2 skipped resamples counted as done


def test_activation_persistence_importance_sampling():
    from topolens.topology import argmax_counts, importance_probabilities, sample_by_importance

    rng = np.random.default_rng(0)
    acts = {"a": rng.normal(size=(40, 30)), "b": rng.normal(size=(40, 20))}
    res = activation_persistence(acts, group="all", n_neurons=10, n_resamples=2, neuron_sampling="importance",
                                 max_dim=0, seed=4)
    assert all(ix.size == 10 for ix in res.neuron_indices["all"])
    # the same draw by hand: the group's stream, all inputs, the authors' probabilities
    import zlib

    g = np.random.default_rng([4, zlib.crc32(b"all"), 0])
    full = np.hstack([acts["a"], acts["b"]])
    want = sample_by_importance(importance_probabilities(argmax_counts(full)), 10, g)
    assert np.array_equal(res.neuron_indices["all"][0], want)
