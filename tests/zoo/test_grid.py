"""Grid schema, safe loading and expansion (topolens.zoo.grid)."""

from __future__ import annotations

import json

import pytest

from topolens.exceptions import ConfigError
from topolens.zoo import HYPERPARAMETERS, Grid, ModelConfig, load_grid


def test_yaml_and_json_give_the_same_grid(tmp_path):
    d = {"name": "g", "dataset": "fashion-mnist", "hyperparameters": {"depth": [1, 2], "width": 32,
                                                                      "label_noise": [0, 0.2]}}
    (tmp_path / "g.json").write_text(json.dumps(d))
    (tmp_path / "g.yaml").write_text(
        "name: g\ndataset: fashion-mnist\nhyperparameters:\n  depth: [1, 2]\n  width: 32\n"
        "  label_noise: [0, 0.2]\n")
    a, b = load_grid(tmp_path / "g.json"), load_grid(tmp_path / "g.yaml")
    assert a == b
    assert a.dataset == "fashion_mnist"
    assert a.size == 4
    configs = a.configs()
    assert [(c.depth, c.label_noise) for c in configs] == [(1, 0.0), (1, 0.2), (2, 0.0), (2, 0.2)]
    assert all(c.width == 32 and c.epochs == ModelConfig().epochs for c in configs)


def test_unknown_keys_are_named():
    with pytest.raises(ConfigError, match=r"depht.*known ones.*depth"):
        load_grid({"hyperparameters": {"depht": [1]}})
    with pytest.raises(ConfigError, match=r"hyperparams"):
        load_grid({"hyperparams": {"depth": [1]}, "hyperparameters": {"depth": 1}})


@pytest.mark.parametrize("hp, match", [
    ({"depth": [0]}, "integer >= 1"),
    ({"depth": [1.5]}, "integer"),
    ({"dropout": [1.0]}, r"\[0.0, 1.0\)"),
    ({"learning_rate": [0]}, r"\(0.0"),
    ({"optimizer": ["rmsprop"]}, "sgd"),
    ({"batch_norm": ["yes"]}, "true or false"),
    ({"width": []}, "empty"),
    ({"width": [8, 8]}, "twice"),
    ({"seed": [10**23]}, r"at most 2\*\*64"),  # torch.manual_seed overflowed mid-training
])
def test_bad_values(hp, match):
    with pytest.raises(ConfigError, match=match):
        load_grid({"hyperparameters": hp})


def test_yaml_is_loaded_safely(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("hyperparameters: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="Could not parse"):
        load_grid(p)


def test_random_sampling_is_seeded_and_distinct():
    d = {"sampling": "random", "n_models": 5, "seed": 3,
         "hyperparameters": {"depth": [1, 2, 3], "width": [8, 16, 32], "dropout": [0, 0.5]}}
    a, b = load_grid(d).configs(), load_grid(d).configs()
    assert a == b and len({c.model_id for c in a}) == 5
    other = load_grid({**d, "seed": 4}).configs()
    assert {c.model_id for c in other} != {c.model_id for c in a}
    with pytest.raises(ConfigError, match="exceeds the 18"):
        load_grid({**d, "n_models": 19}).configs()
    with pytest.raises(ConfigError, match="n_models"):
        load_grid({"sampling": "random", "hyperparameters": {"depth": 1}})
    with pytest.raises(ConfigError, match="only used with sampling: random"):
        load_grid({"n_models": 3, "hyperparameters": {"depth": 1}})


def test_model_id_is_a_stable_hash_of_the_config():
    a = ModelConfig(depth=2, width=64)
    assert a.model_id == ModelConfig.from_dict(a.to_dict()).model_id
    assert a.model_id != ModelConfig(depth=2, width=65).model_id
    assert ModelConfig(width=64.0).width == 64 and isinstance(ModelConfig(width=64.0).width, int)
    assert set(a.to_dict()) == set(HYPERPARAMETERS)


def test_grid_round_trip():
    g = load_grid({"name": "x", "n_test": 100, "hyperparameters": {"depth": [1, 2]}})
    assert Grid.from_dict(g.to_dict()) == g


def test_grid_files_that_cannot_be_read(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_grid(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_grid(tmp_path)
    p = tmp_path / "latin.yaml"
    p.write_bytes(b"name: caf\xe9\nhyperparameters: {depth: 1}\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_grid(p)


def _big(n_values: int, n_names: int) -> dict:
    ints = ("depth", "width", "batch_size", "epochs", "seed", "train_size")
    floats = ("dropout", "weight_decay", "learning_rate", "momentum", "label_noise")
    hp = {name: list(range(1, n_values + 1)) for name in ints}
    hp.update({name: [(i + 1) / (n_values + 2) for i in range(n_values)] for name in floats})
    return {k: hp[k] for k in list(hp)[:n_names]}


def test_a_huge_grid_is_counted_not_expanded():
    g = load_grid({"hyperparameters": _big(20, 7)})
    assert g.size == 20**7
    with pytest.raises(ConfigError, match=r"1,280,000,000 configs.*sampling: random"):
        g.configs()
    first = next(g.iter_configs())  # streaming still works
    assert first.depth == 1 and first.dropout == pytest.approx(1 / 22)
    small = load_grid({"hyperparameters": {"depth": [1, 2, 3]}})
    with pytest.raises(ConfigError, match="more than the 2"):
        small.configs(max_configs=2)
    with pytest.raises(ConfigError, match="n_models=200,000"):
        load_grid({"sampling": "random", "n_models": 200_000, "hyperparameters": _big(20, 7)}).configs()


def test_random_sampling_beyond_int64():
    wide = _big(60, 11)
    g = load_grid({"sampling": "random", "n_models": 5, "seed": 2, "hyperparameters": wide})
    assert g.n_combinations == 60**11 > 2**63 - 1 and g.size == 5
    a, b = g.configs(), g.configs()
    assert a == b and len({c.model_id for c in a}) == 5
    for c in a:
        for name, values in wide.items():
            assert getattr(c, name) in values
    # product order: the position of each config in the product increases
    names = list(g.hyperparameters)

    def position(c):
        k = 0
        for n in names:
            k = k * len(g.hyperparameters[n]) + g.hyperparameters[n].index(getattr(c, n))
        return k

    assert [position(c) for c in a] == sorted(position(c) for c in a)


def test_random_positions_match_the_cartesian_product():
    d = {"sampling": "random", "n_models": 7, "seed": 5,
         "hyperparameters": {"depth": [1, 2, 3], "width": [8, 16], "dropout": [0, 0.25, 0.5]}}
    drawn = load_grid(d).configs()
    full = load_grid({"hyperparameters": d["hyperparameters"]}).configs()
    assert all(c in full for c in drawn) and drawn == sorted(drawn, key=full.index)
