"""Scoring gap predictors on a feature table (topolens.generalization.predict)."""

from __future__ import annotations

import numpy as np
import pytest

from topolens.exceptions import InvalidInputError
from topolens.generalization import FeatureParams, FeatureTable, predict_gap


def _table(n=40, seed=0, informative=True):
    rng = np.random.default_rng(seed)
    gaps = rng.uniform(0, 0.3, n)
    hp = {"depth": list(rng.integers(1, 4, n)), "noise": list(rng.choice([0.0, 0.2], n))}
    topo = rng.normal(size=(n, 6))
    if informative:
        topo[:, 0] = 3 * gaps + rng.normal(scale=0.01, size=n)
    base = rng.normal(size=(n, 6))
    names = [f"topo_f{i}" for i in range(6)]
    bnames = ["dist_init", "log_prod_spec", "log_sum_spec", "log_prod_fro", "log_sum_fro", "margin"]
    return FeatureTable([f"m{i}" for i in range(n)], names, topo, bnames, base, gaps, hp,
                        FeatureParams())


def test_informative_topology_beats_noise_baselines():
    res = predict_gap(_table())
    top = res["topology"]
    assert top.r2_mean > 0.9 and top.kendall_tau > 0.8 and top.cmi.score > 0.5
    for name in ("dist_init", "margin", "baselines", "mean_gap"):
        row = res[name]
        assert row.r2_mean < 0.2
        assert row.p_value is not None and row.p_value < 0.05
    assert res["mean_gap"].r2_mean <= 0 and res["mean_gap"].cmi is None
    assert res.per_feature[0]["feature"] == "topo_f0"
    md = res.to_markdown()
    assert md.count("\n") == len(res.predictors) + 1 and "(reference)" in md
    assert {r["predictor"] for r in res.rows()} == {p.name for p in res.predictors}


def test_uninformative_features_are_not_flattered():
    res = predict_gap(_table(informative=False))
    assert res["topology"].r2_mean < 0.1
    assert abs(res["topology"].kendall_tau) < 0.4


def test_same_splits_same_scores_and_errors():
    t = _table()
    a, b = predict_gap(t, seed=3), predict_gap(t, seed=3)
    assert a["topology"].r2_mean == b["topology"].r2_mean
    with pytest.raises(InvalidInputError, match="reference"):
        predict_gap(t, reference="nope")
    small = _table(n=3)
    with pytest.raises(InvalidInputError, match="at least 4 models"):
        predict_gap(small)
