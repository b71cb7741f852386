"""Per-model features and their cache (topolens.generalization.features)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from topolens.exceptions import InvalidInputError
from topolens.generalization import FeatureParams, hidden_layers, zoo_features
from topolens.generalization import features as feat_mod
from topolens.generalization.baselines import BASELINE_NAMES
from topolens.zoo import Zoo

SMALL = FeatureParams(n_inputs=120, n_neurons=10, n_resamples=2, max_dim=1, margin_inputs=100)


@pytest.fixture
def zoo(tiny_zoo_path, tmp_path):
    dst = tmp_path / "zoo"
    shutil.copytree(tiny_zoo_path, dst, ignore=shutil.ignore_patterns("features"))
    return Zoo.load(dst)


def test_features_shape_names_and_determinism(zoo, tmp_path):
    t = zoo_features(zoo, SMALL, progress=False)
    assert t.topological.shape == (4, len(SMALL.feature_names()))
    assert t.topological_names == SMALL.feature_names()
    assert t.baseline_names == list(BASELINE_NAMES)
    assert np.all(np.isfinite(t.topological)) and np.all(np.isfinite(t.baselines))
    assert np.array_equal(t.gaps, zoo.gaps())
    # H0 of n points has n - 1 finite classes: the neuron count is a feature
    assert np.all(t.column("topo_H0_n_finite") == SMALL.n_neurons - 1)
    again = zoo_features(zoo, SMALL, cache=False, progress=False)
    assert np.array_equal(again.topological, t.topological)
    assert np.array_equal(again.baselines, t.baselines)
    other_seed = zoo_features(zoo, FeatureParams(**{**SMALL.to_dict(), "seed": 5}), progress=False)
    assert not np.array_equal(other_seed.topological, t.topological)


def test_cache_is_reused_and_invalidated(zoo, monkeypatch):
    zoo_features(zoo, SMALL, progress=False)
    calls = []
    real = feat_mod.model_features

    def counting(record, data, params, **kw):
        calls.append((record.model_id, params.key))
        return real(record, data, params, **kw)

    monkeypatch.setattr(feat_mod, "model_features", counting)
    zoo_features(zoo, SMALL, progress=False)
    assert calls == []  # all four from the cache
    changed = FeatureParams(**{**SMALL.to_dict(), "n_resamples": 3})
    assert changed.key != SMALL.key
    zoo_features(zoo, changed, progress=False)
    assert len(calls) == 4 and {k for _, k in calls} == {changed.key}
    # a retrained model (new weights checksum) makes its cached features stale
    calls.clear()
    rec = zoo[0]
    cache = zoo.path / "features" / SMALL.key / f"{rec.model_id}.npz"
    with np.load(cache) as z:
        d = dict(z)
    d["weights_sha256"] = np.array("0" * 64)
    np.savez(cache, **d)
    zoo_features(zoo, SMALL, progress=False)
    assert calls == [(rec.model_id, SMALL.key)]
    # an unreadable cache file is recomputed, not trusted
    calls.clear()
    cache.write_bytes(b"garbage")
    zoo_features(zoo, SMALL, progress=False)
    assert calls == [(rec.model_id, SMALL.key)]


def test_parameter_validation_and_layers(zoo):
    with pytest.raises(InvalidInputError, match="n_resamples"):
        FeatureParams(n_resamples=0)
    with pytest.raises(InvalidInputError, match="margin_quantile"):
        FeatureParams(margin_quantile=2)
    with pytest.raises(InvalidInputError, match="exceeds the 6000 training images"):
        zoo_features(zoo, FeatureParams(n_inputs=7000, n_neurons=5, n_resamples=1), progress=False)
    model = zoo[0].load_model()
    assert hidden_layers(model)[0] == "relu1"
    import torch.nn as nn

    with pytest.raises(InvalidInputError, match=r"no nn\.ReLU"):
        hidden_layers(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


def test_a_failing_model_is_named(zoo):
    bad = FeatureParams(**{**SMALL.to_dict(), "layers": ("nope",)})
    from topolens.exceptions import LayerNotFoundError

    with pytest.raises(LayerNotFoundError, match=rf"model {zoo[0].model_id}.*nope"):
        zoo_features(zoo, bad, progress=False)
