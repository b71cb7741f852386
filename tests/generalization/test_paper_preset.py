"""Ballester et al.'s own setting: weighted layers, importance sampling, the paper's summaries
and regression protocol (issue 15 part 2)."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn as nn

from topolens.exceptions import InvalidInputError
from topolens.generalization import (
    FeatureParams,
    FeatureTable,
    importance_sample_activations,
    paired_5x2cv_ttest,
    predict_gap,
    repeated_kfold_splits,
    topological_features,
    weighted_layers,
)
from topolens.generalization.baselines import BASELINE_NAMES
from topolens.topology import (
    argmax_counts,
    importance_probabilities,
    sample_by_importance,
    sample_neurons,
)
from topolens.zoo.grid import ModelConfig
from topolens.zoo.train import build_model


def test_weighted_layers_of_grid_models():
    mlp = build_model(ModelConfig(architecture="mlp", depth=2, width=8, seed=0))
    assert weighted_layers(mlp) == ["relu1", "relu2", "out"]  # Dense+ReLU -> the ReLU; logits
    bn = build_model(ModelConfig(architecture="mlp", depth=1, width=8, batch_norm=True, seed=0))
    # fc1 is followed by BatchNorm (no fused activation); BatchNorm's own output is pre-ReLU
    assert weighted_layers(bn) == ["fc1", "bn1", "out"]
    cnn = build_model(ModelConfig(architecture="cnn", depth=1, width=4, seed=0))
    names = weighted_layers(cnn)
    assert names[-1] == "out" and len(names) == 3
    kinds = dict(cnn.named_modules())
    assert isinstance(kinds[names[0]], nn.ReLU) and isinstance(kinds[names[1]], nn.ReLU)


def test_weighted_layers_of_keras_model():
    from topolens.zoo._keras import keras_sequential

    layers = [{"layer_name": "Conv2D", "filters": 3, "kernel_size": 3, "padding": "same", "activation": "relu"},
              {"layer_name": "BatchNormalization"},
              {"layer_name": "MaxPooling2D", "pool_size": 2},
              {"layer_name": "Conv2D", "filters": 2, "kernel_size": 3, "activation": None},
              {"layer_name": "Flatten"},
              {"layer_name": "Dense", "units": 5, "activation": "relu"},
              {"layer_name": "Dense", "units": 4}]
    model = keras_sequential(layers, [8, 8, 1])
    assert weighted_layers(model) == ["conv2d__act", "batch_normalization", "conv2d_1", "dense__act", "dense_1"]
    x = torch.randn(5, 1, 8, 8)
    smp = importance_sample_activations(model.eval(), x, weighted_layers(model), 20, 2, seed=0)
    # every channel at every position: 8*8*3 (conv) + 8*8*3 (BN) + 2*2*2 (valid conv after pooling) + 5 + 4
    assert smp.counts.size == 192 + 192 + 8 + 5 + 4


def test_importance_weights_against_brute_force():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(30, 12))
    a[:, 7] = 0.0  # never the largest
    counts = np.zeros(12, int)
    for row in a:  # brute force: the largest |activation| of every input
        best = max(range(12), key=lambda j: (abs(row[j]), -j))
        counts[best] += 1
    assert np.array_equal(argmax_counts(a), counts)
    p = importance_probabilities(counts)
    n, m = 30, int((counts == 0).sum())
    expect = np.array([c / (n + 1) if c else 1 / (m * (n + 1)) for c in counts])
    np.testing.assert_allclose(p, expect, rtol=1e-12)
    assert p.sum() == pytest.approx(1.0)
    # every neuron largest somewhere: normalised counts
    np.testing.assert_allclose(importance_probabilities(np.array([2, 1, 1])), [0.5, 0.25, 0.25])
    with pytest.raises(InvalidInputError):
        importance_probabilities(np.array([0, 0]))


def test_importance_sampling_without_replacement_and_seeded():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 50))
    p = importance_probabilities(argmax_counts(a))
    s1 = sample_by_importance(p, 20, np.random.default_rng(3))
    s2 = sample_by_importance(p, 20, np.random.default_rng(3))
    assert np.array_equal(s1, s2) and np.unique(s1).size == 20 and np.all(np.diff(s1) > 0)
    assert np.array_equal(sample_neurons(a, 20, np.random.default_rng(3), scheme="importance"), s1)
    # importance favours winners: over many draws of 5, winners are picked more often
    hits = np.zeros(50)
    g = np.random.default_rng(9)
    for _ in range(400):
        hits[sample_by_importance(p, 5, g)] += 1
    win = argmax_counts(a) > 0
    assert hits[win].mean() > 2 * hits[~win].mean()


def test_streamed_sample_equals_full_matrix():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 30), nn.ReLU(), nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 3)).eval()
    x = torch.randn(50, 6)
    layers = weighted_layers(model)
    smp = importance_sample_activations(model, x, layers, 10, 4, seed=2)
    with torch.no_grad():
        h1 = torch.relu(model[0](x))
        h2 = torch.relu(model[2](h1))
        full = torch.cat([h1, h2, model[4](h2)], 1).numpy()
    assert np.array_equal(smp.counts, argmax_counts(full))
    np.testing.assert_array_equal(smp.activations, full[:, smp.neurons])
    assert len(smp.columns) == 4 and all(c.size == 10 for c in smp.columns)
    again = importance_sample_activations(model, x, layers, 10, 4, seed=2)
    assert all(np.array_equal(u, v) for u, v in zip(smp.columns, again.columns, strict=True))


def test_constant_neuron_dissimilarity_one():
    from topolens.dissimilarity import pairwise_dissimilarity

    rng = np.random.default_rng(0)
    a = rng.normal(size=(25, 6))
    a[:, 2] = 3.0
    with pytest.warns(Warning):
        d = pairwise_dissimilarity(a, "abs_correlation", points="neurons", constant="zero")
    with np.errstate(invalid="ignore", divide="ignore"):
        oracle = 1 - np.clip(np.nan_to_num(np.abs(np.corrcoef(a.T)), nan=0.0), 0, 1)
    np.fill_diagonal(oracle, 0)
    np.testing.assert_allclose(d, oracle, atol=1e-5)
    assert np.all(d[2, np.arange(6) != 2] == 1.0)


def _tiny_diagram_model():
    """A linear model whose 4 neurons have known correlations."""
    model = nn.Sequential(nn.Linear(2, 4, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]))
    return model.eval()


def test_paper_summaries_by_hand():
    model = _tiny_diagram_model()
    x = torch.tensor(np.random.default_rng(0).normal(size=(40, 2)), dtype=torch.float32)
    p = FeatureParams.preset("ballester2024", n_inputs=40, n_neurons=4, n_resamples=1)
    names, v = topological_features(model, x, p)
    col = dict(zip(names, v, strict=True))
    a = (x @ model[0].weight.T).detach().numpy().astype(np.float64)
    d = 1 - np.abs(np.corrcoef(a.T))
    np.fill_diagonal(d, 0)
    # H0 of 4 points: deaths are the minimum spanning tree's edge lengths (Kruskal by hand)
    edges = sorted((d[i, j], i, j) for i in range(4) for j in range(i + 1, 4))
    parent = list(range(4))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    deaths = []
    for w, i, j in edges:
        if find(i) != find(j):
            parent[find(i)] = find(j)
            deaths.append(w)
    deaths = np.array(deaths)
    assert col["topo_H0_death_mean"] == pytest.approx(deaths.mean(), abs=1e-5)
    assert col["topo_H0_death_std"] == pytest.approx(deaths.std(), abs=1e-5)
    assert col["topo_H0_death_mean_sq"] == pytest.approx(deaths.mean() ** 2, abs=1e-5)
    assert col["topo_H0_birth_mean"] == 0 and col["topo_H0_birth_std_sq"] == 0
    sets = p.feature_sets()
    assert len(sets["paper_best"]) == 16 and set(sets["paper_best"]) <= set(names)
    assert sets["paper_h1"] == ["topo_H1_birth_std", "topo_H1_death_std", "topo_H1_birth_mean",
                                "topo_H1_death_mean"]


def test_squares_are_averaged_per_resample():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 40), nn.ReLU(), nn.Linear(40, 3)).eval()
    x = torch.randn(60, 5)
    p = FeatureParams.preset("ballester2024", n_inputs=60, n_neurons=12, n_resamples=3)
    names, v = topological_features(model, x, p)
    col = dict(zip(names, v, strict=True))
    # the mean of squares exceeds the square of the mean unless every resample agrees
    assert col["topo_H0_death_mean_sq"] > col["topo_H0_death_mean"] ** 2


def test_cache_key_unchanged_for_defaults():
    assert FeatureParams().key == "f-6d98a890be84"  # the key before the new fields existed
    assert FeatureParams.preset("topolens") == FeatureParams()
    assert FeatureParams(constant="zero").key != FeatureParams().key
    paper = FeatureParams.preset("ballester2024")
    assert (paper.n_inputs, paper.n_neurons, paper.n_resamples, paper.max_dim) == (2000, 3000, 20, 1)
    assert (paper.layer_selection, paper.neuron_sampling, paper.constant, paper.summaries) == \
        ("weighted", "importance", "zero", "ballester2024")
    assert FeatureParams.preset("ballester2024", n_neurons=50).n_neurons == 50
    with pytest.raises(InvalidInputError):
        FeatureParams.preset("nope")
    with pytest.raises(InvalidInputError):
        FeatureParams(layer_selection="all")
    with pytest.raises(InvalidInputError):
        FeatureParams(summaries="ballester2024", max_dim=0)


def _paper_table(n=16, seed=0):
    rng = np.random.default_rng(seed)
    params = FeatureParams.preset("ballester2024")
    names = params.feature_names()
    topo = rng.normal(size=(n, len(names)))
    base = rng.normal(size=(n, len(BASELINE_NAMES)))
    gaps = topo[:, names.index("topo_H1_death_mean")] + 0.3 * rng.normal(size=n)
    hp = {"lr": [i % 2 for i in range(n)], "width": [i % 3 for i in range(n)]}
    return FeatureTable([f"m{i}" for i in range(n)], names, topo, list(BASELINE_NAMES), base, gaps,
                        hp, params)


def test_repeated_kfold_splits_match_sklearn():
    from sklearn.model_selection import RepeatedKFold

    ours = repeated_kfold_splits(11)
    theirs = list(RepeatedKFold(n_splits=2, n_repeats=5, random_state=1).split(np.zeros(11)))
    assert len(ours) == 10
    for i, (r, f, tr, te) in enumerate(ours):
        assert (r, f) == (i // 2, i % 2)
        assert np.array_equal(tr, theirs[i][0]) and np.array_equal(te, theirs[i][1])


def test_paper_rows_match_cross_val_score():
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import RepeatedKFold, cross_val_score

    t = _paper_table()
    res = predict_gap(t, protocol="ballester2024")
    rows = [p.name for p in res.predictors]
    assert rows[:3] == ["paper_best", "paper_h1", "topology"]
    assert {"baselines", "margin_ls", "mean_gap", *BASELINE_NAMES} <= set(rows)
    assert res.reference == "paper_best" and res.protocol == "ballester2024"
    cv = RepeatedKFold(n_splits=2, n_repeats=5, random_state=1)
    for name in ("paper_best", "paper_h1", "margin_ls", "dist_init"):
        X = np.column_stack([t.column(c) for c in res[name].features])
        ref = cross_val_score(LinearRegression(), X, t.gaps, cv=cv, scoring="r2")
        assert res[name].r2_mean == pytest.approx(ref.mean(), rel=1e-9, abs=1e-12)
        assert res[name].r2_std == pytest.approx(ref.std(ddof=1), rel=1e-9, abs=1e-12)
    assert res["margin_ls"].features == ["margin"]
    assert res["paper_h1"].features == t.feature_sets["paper_h1"]
    # the default protocol is unchanged
    default = predict_gap(t)
    assert default.reference == "topology" and "paper_best" not in [p.name for p in default.predictors]


def test_paper_protocol_needs_paper_columns():
    t = _paper_table()
    plain = FeatureTable(t.model_ids, FeatureParams().feature_names(),
                         np.random.default_rng(0).normal(size=(16, len(FeatureParams().feature_names()))),
                         t.baseline_names, t.baselines, t.gaps, t.hyperparameters, FeatureParams())
    with pytest.raises(InvalidInputError, match="ballester2024"):
        predict_gap(plain, protocol="ballester2024")
    with pytest.raises(InvalidInputError):
        predict_gap(t, protocol="paper")


def test_5x2cv_t_by_hand():
    a = np.array([[0.5, 0.4], [0.6, 0.3], [0.2, 0.5], [0.4, 0.4], [0.7, 0.1]])
    b = np.array([[0.3, 0.5], [0.2, 0.2], [0.1, 0.4], [0.6, 0.1], [0.3, 0.3]])
    p = a - b  # p_1 = 0.2, -0.1, 0.4, 0.1, 0.1, ...
    s2 = [(p[i, 0] - p[i].mean()) ** 2 + (p[i, 1] - p[i].mean()) ** 2 for i in range(5)]
    t = 0.2 / np.sqrt(sum(s2) / 5)  # Dietterich 1998: p_1^(1) / sqrt(mean of s_i^2)
    res = paired_5x2cv_ttest(a, b)
    assert res.t == pytest.approx(t, rel=1e-12) and res.dof == 5
    from scipy import stats

    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(t), 5), rel=1e-12)


def test_cli_preset_parsing():
    from topolens.cli.zoo import _feature_args, _params

    p = argparse.ArgumentParser(prog="topolens zoo predict")
    _feature_args(p)
    args = p.parse_args(["--preset", "ballester2024", "--n-neurons", "500"])
    got = _params(args)
    assert got == FeatureParams.preset("ballester2024", n_neurons=500)
    assert _params(p.parse_args([])) == FeatureParams()
    args = p.parse_args(["--preset", "ballester2024", "--seed", "3", "--constant", "drop"])
    assert _params(args) == FeatureParams.preset("ballester2024", seed=3, data_seed=3, constant="drop")
    assert p.parse_args(["--preset", "ballester2024"]).protocol is None
    assert p.parse_args(["--protocol", "ballester2024"]).protocol == "ballester2024"
    with pytest.raises(SystemExit):
        p.parse_args(["--preset", "paper"])


def test_weighted_layers_of_vgg():
    vgg = build_model(ModelConfig(architecture="vgg", depth=2, width=4, dense_layers=2, dense_width=8,
                                  seed=0))
    names = weighted_layers(vgg)
    mods = dict(vgg.named_modules())
    convs = [n for n, m in vgg.named_modules() if isinstance(m, nn.Conv2d)]
    assert len(names) == len(convs) + 2 + 1  # every conv, both dense layers, the logits
    assert names[-1] == "out" and all(isinstance(mods[n], nn.ReLU) for n in names[:-1])
    x = torch.randn(7, 1, 28, 28)
    smp = importance_sample_activations(vgg.eval(), x, names, 30, 2, seed=1)
    with torch.no_grad():  # every channel at every position of every weighted layer
        total = sum(int(np.prod(o.shape[1:])) for o in _outputs(vgg, names, x))
    assert smp.counts.size == total and smp.counts.sum() == 7


def _outputs(model, names, x):
    got = {}
    hooks = [dict(model.named_modules())[n].register_forward_hook(
        lambda _m, _i, o, n=n: got.__setitem__(n, o)) for n in names]
    model(x)
    for h in hooks:
        h.remove()
    return [got[n] for n in names]


def test_zoo_features_and_paper_protocol_end_to_end(tiny_zoo_path, tmp_path, capsys):
    import json
    import shutil

    from topolens.cli.main import main
    from topolens.generalization import zoo_features
    from topolens.zoo import Zoo

    dst = tmp_path / "zoo"
    shutil.copytree(tiny_zoo_path, dst, ignore=shutil.ignore_patterns("features"))
    p = FeatureParams.preset("ballester2024", n_inputs=100, n_neurons=12, n_resamples=2, margin_inputs=100)
    t = zoo_features(Zoo.load(dst), p, progress=False)
    assert t.topological_names == p.feature_names() and set(t.feature_sets) == {"topolens", "paper_best",
                                                                               "paper_h1"}
    assert np.all(np.isfinite(t.topological))
    assert t.seconds is not None and t.seconds.shape == (len(t),) and np.all(t.seconds > 0)  # per-model time
    res = predict_gap(t, protocol="ballester2024")
    assert np.isfinite(res["paper_best"].r2_mean) and res["paper_best"].t is None
    assert res["paper_h1"].p_value is not None
    out = tmp_path / "scores.json"
    assert main(["zoo", "predict", str(dst), "--preset", "ballester2024", "--n-inputs", "100",
                 "--n-neurons", "12", "--resamples", "2", "--json", str(out), "-q"]) == 0
    assert "paper_best" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["protocol"] == "ballester2024"
    assert [r["predictor"] for r in saved["predictors"]][:2] == ["paper_best", "paper_h1"]
    rep = tmp_path / "rep"  # the report scores with the preset's protocol (cached features reused)
    assert main(["zoo", "report", str(dst), "--preset", "ballester2024", "--n-inputs", "100",
                 "--n-neurons", "12", "--resamples", "2", "--out", str(rep), "-q"]) == 0
    html = (rep / "zoo-report.html").read_text()
    assert "Ballester et al.&#x27;s protocol" in html or "Ballester et al.'s protocol" in html
    assert "paper_best" in html and "margin_ls" in html


def test_memory_estimated_before_recording(monkeypatch):
    from topolens.exceptions import MemoryBudgetError
    from topolens.homology import memory

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 3)).eval()
    x = torch.randn(400, 1, 8, 8)
    monkeypatch.setattr(memory, "available_memory", lambda: 1_500_000)  # 1.2 MB budget
    full = FeatureParams(n_inputs=400, n_neurons=20, n_resamples=1, layer_selection="weighted")
    with pytest.raises(MemoryBudgetError, match="400 inputs x 515 neurons"):
        topological_features(model, x, full)  # the 400 x 515 matrix is refused before recording
    # importance sampling streams the inputs and keeps only the 20 sampled neurons: it fits
    _, v = topological_features(model, x, dataclasses.replace(full, neuron_sampling="importance"))
    assert np.all(np.isfinite(v))


@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.float64])
def test_importance_sample_takes_user_dtypes_and_refuses_bad_input(dtype):
    from topolens.exceptions import NonFiniteError, ShapeError, TopolensError

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 9), nn.ReLU(), nn.Linear(9, 3)).eval()
    x = (np.random.default_rng(0).random((20, 3, 2, 2)) * 200).astype(dtype)  # RGB-like images
    smp = importance_sample_activations(model, x, weighted_layers(model), 5, 2)
    with torch.no_grad():
        ref = model[2](model[1](torch.from_numpy(x.astype(np.float32)).flatten(1)))
    np.testing.assert_allclose(smp.activations[:, :np.searchsorted(smp.neurons, 9)],
                               ref.numpy()[:, smp.neurons[smp.neurons < 9]], rtol=1e-5)
    bad = x.astype(np.float64)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        importance_sample_activations(model, bad, weighted_layers(model), 5, 2)
    with pytest.raises(ShapeError):
        importance_sample_activations(model, x[:1], weighted_layers(model), 5, 2)
    with pytest.raises(TopolensError):
        importance_sample_activations(model, x, "relu", 5, 2)
    with pytest.raises(TopolensError):
        weighted_layers("not a model")
    with pytest.raises(TopolensError):
        argmax_counts(np.array([[1.0, np.nan]]))
    with pytest.raises(TopolensError):
        sample_by_importance(np.array([0.5, 0.2]), 1, np.random.default_rng(0))


def test_weighted_layers_of_frozen_model():
    # Keras counts every layer with weights (get_weights() is non-empty for frozen layers too)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.BatchNorm1d(4, affine=False), nn.Linear(4, 2)).eval()
    for prm in model.parameters():
        prm.requires_grad_(False)
    assert weighted_layers(model) == ["1", "2", "3"]  # BatchNorm: its running statistics are weights
    no_stats = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, affine=False, track_running_stats=False))
    assert weighted_layers(no_stats) == ["0"]


def _authors_features(full, neurons, columns):
    """The authors' pipeline (compute_persistence_diagrams_pgdl + diagram_vectorizations +
    get_original_and_squared_vectorizations), on the resamples' neurons of ``full``."""
    gph = pytest.importorskip("gph")
    vecs = []
    for c in columns:
        a = full[:, neurons[c]].T  # their activations are (neurons, inputs)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.abs(np.corrcoef(a))
        d = 1 - np.clip(np.nan_to_num(r, copy=False, nan=0.0), 0, 1)
        np.fill_diagonal(d, 0)
        dgms = gph.ripser_parallel(d, metric="precomputed", maxdim=1)["dgms"]
        per = []
        for g in (g[np.isfinite(g[:, 1])] for g in dgms):
            o = np.array([np.std(g[:, 0]), np.std(g[:, 1]), np.mean(g[:, 0]), np.mean(g[:, 1])])
            per.append(np.concatenate([o, o ** 2]))
        vecs.append(np.concatenate(per))  # dims 0 then 1: 'original_and_squared_..._dim_0_1'
    return np.mean(vecs, axis=0)


def test_paper_best_set_equals_the_authors_pipeline():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 40), nn.ReLU(), nn.Linear(40, 25), nn.ReLU(), nn.Linear(25, 3)).eval()
    with torch.no_grad():
        model[0].bias[:5] = -100.0  # 5 dead ReLUs: constant neurons, correlation nan -> 0
    x = torch.randn(60, 4)
    p = FeatureParams.preset("ballester2024", n_inputs=60, n_neurons=30, n_resamples=3, seed=5)
    names, v = topological_features(model, x, p)
    col = dict(zip(names, v, strict=True))
    smp = importance_sample_activations(model, x, weighted_layers(model), 30, 3, seed=5)
    with torch.no_grad():
        h1 = torch.relu(model[0](x))
        h2 = torch.relu(model[2](h1))
        full = torch.cat([h1, h2, model[4](h2)], 1).numpy().astype(np.float64)
    assert any((full[:, smp.neurons[c]].std(0) == 0).any() for c in smp.columns)  # the nan rule is exercised
    want = _authors_features(full, smp.neurons, smp.columns)
    got = np.array([col[n] for n in p.feature_sets()["paper_best"]])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.abs(want[8:]).max() > 0  # H1 is not empty


def test_paper_t_tests_equal_the_authors_compute_significance_test():
    from scipy import stats
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import RepeatedKFold, cross_val_score

    def authors(a, b):  # extract_statistics_from_persistence_diagrams.compute_significance_test
        p_1 = [a[i] - b[i] for i in range(0, 10, 2)]
        p_2 = [a[i + 1] - b[i + 1] for i in range(0, 10, 2)]
        s2 = [(p_1[i] - (p_1[i] + p_2[i]) / 2) ** 2 + (p_2[i] - (p_1[i] + p_2[i]) / 2) ** 2 for i in range(5)]
        t = p_1[0] / np.sqrt(np.sum(s2) / 5.0)
        return t, stats.t.sf(np.abs(t), 5) * 2

    t = _paper_table(n=20, seed=3)
    res = predict_gap(t, protocol="ballester2024")
    cv = RepeatedKFold(n_splits=2, n_repeats=5, random_state=1)

    def folds(name):
        X = np.column_stack([t.column(c) for c in res[name].features])
        return cross_val_score(LinearRegression(), X, t.gaps, cv=cv, scoring="r2")

    ref = folds("paper_best")
    for name in ("paper_h1", "margin_ls", "log_sum_fro"):
        want_t, want_p = authors(ref, folds(name))
        assert res[name].t == pytest.approx(want_t, rel=1e-9)
        assert res[name].p_value == pytest.approx(want_p, rel=1e-9)


def test_importance_sample_refuses_inputs_the_model_cannot_take():
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).eval()
    with pytest.raises(InvalidInputError, match=r"shape \(1, 4\)"):  # a TopolensError, not torch's RuntimeError
        importance_sample_activations(model, np.zeros((10, 4)), ["1", "2"], 4, 2)
    lstm = nn.Sequential(nn.LSTM(3, 4))
    with pytest.raises(InvalidInputError, match="returned a tuple"):
        importance_sample_activations(lstm, np.zeros((5, 2, 3)), ["0"], 2, 1)


def test_importance_sample_refuses_a_shared_activation_module():
    class Shared(nn.Module):  # one nn.ReLU after every layer: registered last, called twice
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.out, self.act = nn.Linear(3, 5), nn.Linear(5, 4), nn.Linear(4, 2), nn.ReLU()

        def forward(self, x):
            return self.out(self.act(self.fc2(self.act(self.fc1(x)))))

    model = Shared().eval()
    with pytest.raises(InvalidInputError, match="more than once"):
        importance_sample_activations(model, np.zeros((10, 3)), ["fc1", "act"], 4, 2)


def test_input_pool_trained_probes_the_images_the_model_trained_on(tiny_zoo_path, monkeypatch):
    from topolens.generalization import features as F
    from topolens.zoo import Zoo
    from topolens.zoo.train import training_subset

    zoo = Zoo.load(tiny_zoo_path)
    rec, data = zoo[0], zoo.data()
    seen = {}

    def capture(model, x, params, device=None):
        seen["x"] = x
        return params.feature_names(), np.zeros(len(params.feature_names()))

    monkeypatch.setattr(F, "topological_features", capture)
    trained = FeatureParams(n_inputs=200, n_neurons=8, n_resamples=1, input_pool="trained")
    F.model_features(rec, data, trained)
    idx, _ = training_subset(rec.config, data.y_train.numpy())  # 300 of the 6000 images
    pool = data.x_train[torch.from_numpy(idx)].reshape(len(idx), -1)
    rows = seen["x"].reshape(len(seen["x"]), -1)
    def member(a, b):  # exact row equality (cdist's GEMM trick is not exact)
        return (a[:, None, :] == b[None, :, :]).all(dim=2).any(dim=1)

    hits = member(rows, pool)
    assert len(rows) == 200 and bool(hits.all())  # every probe image is one it trained on
    F.model_features(rec, data, dataclasses.replace(trained, input_pool="all"))
    rows_all = seen["x"].reshape(200, -1)
    assert not bool(member(rows_all, pool).all())  # 300 of 6000: mostly unseen
    with pytest.raises(InvalidInputError, match="trained on"):
        F.model_features(rec, data, dataclasses.replace(trained, n_inputs=301))
    assert FeatureParams.preset("ballester2024").input_pool == "trained"
    assert FeatureParams(input_pool="all").key == FeatureParams().key
    with pytest.raises(InvalidInputError):
        FeatureParams(input_pool="test")


def test_input_pool_trained_warns_when_models_train_on_different_subsets(tiny_zoo_path, tmp_path):
    import shutil

    from topolens.exceptions import TopolensWarning
    from topolens.generalization import zoo_features
    from topolens.zoo import ModelConfig, Zoo, train_zoo

    dst = tmp_path / "zoo"
    shutil.copytree(tiny_zoo_path, dst, ignore=shutil.ignore_patterns("features"))
    zoo = Zoo.load(dst)
    other = ModelConfig.from_dict({**zoo[0].config.to_dict(), "train_size": 200})
    train_zoo(zoo.grid, dst, configs=[other], progress=False)
    p = FeatureParams(n_inputs=100, n_neurons=8, n_resamples=1, input_pool="trained", margin_inputs=50)
    with pytest.warns(TopolensWarning, match="different training subsets"):
        zoo_features(Zoo.load(dst), p, progress=False)


@pytest.mark.parametrize("preset", ["topolens", "ballester2024"])
def test_topological_features_take_numpy_inputs_and_float64_models(preset):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 20), nn.ReLU(), nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 2)).eval()
    x = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    p = FeatureParams.preset(preset, n_inputs=30, n_neurons=10, n_resamples=2)
    _, ref = topological_features(model, torch.from_numpy(x), p)
    _, from_numpy = topological_features(model, x, p)  # the memory probe once refused numpy arrays
    np.testing.assert_array_equal(from_numpy, ref)
    _, dbl = topological_features(model.double(), x.astype(np.float64), p)
    np.testing.assert_allclose(dbl, ref, atol=1e-4)


def test_streamed_sample_equals_full_matrix_of_a_cnn():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(3), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).eval()
    with torch.no_grad():
        model[2].running_mean.uniform_(-1, 1)
        model[2].running_var.uniform_(0.5, 2)
    x = torch.randn(40, 1, 8, 8)
    layers = weighted_layers(model)
    assert layers == ["1", "2", "5"]  # conv after its ReLU, BatchNorm, logits
    smp = importance_sample_activations(model, x, layers, 30, 3, seed=1)
    with torch.no_grad():  # by hand: each layer's NCHW output flattened per input, layers side by side
        h = torch.relu(model[0](x))
        b = model[2](h)
        full = torch.cat([h.reshape(40, -1), b.reshape(40, -1), model[5](model[4](model[3](b)))], 1).numpy()
    assert smp.counts.size == full.shape[1] == 192 + 192 + 5
    assert np.array_equal(smp.counts, argmax_counts(full))
    np.testing.assert_array_equal(smp.activations, full[:, smp.neurons])
