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


def test_model_ids_of_configs_written_before_the_vgg_keys_are_unchanged():
    # literal ids computed with the code before dense_layers / dense_width / stop_train_loss
    assert ModelConfig().model_id == "m-6bbd67614544"
    old_cnn = dict(architecture="cnn", depth=2, width=32, dropout=0.5, batch_norm=True,
                   weight_decay=5e-4, batch_size=32, epochs=20, stop_train_accuracy=0.99,
                   train_size=1000, seed=3)
    assert ModelConfig(**old_cnn).model_id == "m-6e9ed46c07b8"
    # a record written before (without the new keys) reads back with the same id
    assert ModelConfig.from_dict(old_cnn).model_id == "m-6e9ed46c07b8"
    # explicit defaults and dense keys an mlp/cnn does not use leave the id alone
    assert ModelConfig(**old_cnn, dense_layers=1, dense_width=64,
                       stop_train_loss=None).model_id == "m-6e9ed46c07b8"
    assert ModelConfig(**old_cnn, dense_layers=2, dense_width=7).model_id == "m-6e9ed46c07b8"
    # but they do change a vgg's id, and stop_train_loss changes every id
    vgg = ModelConfig(architecture="vgg")
    assert len({vgg.model_id, ModelConfig(architecture="vgg", dense_layers=2).model_id,
                ModelConfig(architecture="vgg", dense_width=32).model_id,
                ModelConfig(architecture="vgg", stop_train_loss=0.01).model_id}) == 4
    assert ModelConfig(stop_train_loss=0.01).model_id != ModelConfig().model_id
    assert ModelConfig.from_dict(vgg.to_dict()) == vgg


def test_the_vgg_keys_in_a_grid():
    g = load_grid({"hyperparameters": {"architecture": "vgg", "dense_layers": [0, 1, 2],
                                       "dense_width": 64, "stop_train_loss": [None, 0.01],
                                       "stop_train_accuracy": 1}})
    configs = g.configs()
    assert len(configs) == 6 and len({c.model_id for c in configs}) == 6
    assert {(c.dense_layers, c.stop_train_loss) for c in configs} == {
        (d, s) for d in (0, 1, 2) for s in (None, 0.01)}
    assert all(isinstance(c.dense_layers, int) and c.stop_train_accuracy == 1.0 for c in configs)
    assert ModelConfig(dense_layers=2.0, stop_train_loss=1).dense_layers == 2
    assert isinstance(ModelConfig(stop_train_loss=1).stop_train_loss, float)


@pytest.mark.parametrize("hp, match", [
    ({"architecture": ["resnet"]}, r"'architecture'.*vgg"),
    ({"dense_layers": [-1]}, r"'dense_layers'.*integer >= 0"),
    ({"dense_layers": [1.5]}, r"'dense_layers'.*integer"),
    ({"dense_layers": [True]}, r"'dense_layers'"),
    ({"dense_width": [0]}, r"'dense_width'.*integer >= 1"),
    ({"dense_width": [None]}, r"'dense_width'"),
    ({"stop_train_loss": [0]}, r"'stop_train_loss'.*\(0.0, inf\)"),
    ({"stop_train_loss": [-0.01]}, r"'stop_train_loss'"),
    ({"stop_train_loss": [float("nan")]}, r"'stop_train_loss'"),
    ({"stop_train_loss": [float("inf")]}, r"'stop_train_loss'"),
    ({"stop_train_loss": ["0.01"]}, r"'stop_train_loss'.*number"),
])
def test_bad_values_of_the_vgg_keys_name_the_key(hp, match):
    with pytest.raises(ConfigError, match=match):
        load_grid({"hyperparameters": hp})
