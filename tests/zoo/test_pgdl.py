"""PGDL task folders -> torch models and numpy data (topolens.zoo.pgdl).

The tests write PGDL folders in both published layouts (Keras save_weights HDF5 files, TFRecord
shards with their CRCs) and compute every model's train/test accuracy with the independent numpy
NHWC implementation of the Keras layers from test_keras.py; the loaded torch models must
reproduce the accuracies written into model_configs.json exactly.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from tests.zoo.test_keras import np_forward, random_weights, write_h5
from tests.zoo.test_tfrecord import write_shard
from topolens.exceptions import (
    CorruptRecordError,
    DataNotFoundError,
    InvalidInputError,
    MemoryBudgetError,
    ShapeError,
)
from topolens.zoo.pgdl import PGDLTask, load_pgdl_task

INPUT = [6, 5, 2]  # Keras (H, W, C)
ARCHS = {
    "3": [
        {"layer_name": "Conv2D", "filters": 3, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"layer_name": "MaxPooling2D", "pool_size": 2},
        {"layer_name": "Flatten"},
        {"layer_name": "Dense", "units": 4, "activation": "relu"},
        {"layer_name": "Dropout", "rate": 0.5},
        {"layer_name": "Dense", "units": 3},
    ],
    "10": [
        {"layer_name": "Conv2D", "filters": 4, "kernel_size": 2, "strides": 2, "padding": "valid"},
        {"layer_name": "BatchNormalization"},
        {"layer_name": "ReLU"},
        {"layer_name": "GlobalAveragePooling2D"},
        {"layer_name": "Dense", "units": 3, "activation": "softmax"},
    ],
    "2": [
        {"layer_name": "Conv2D", "filters": 2, "kernel_size": 1, "activation": "tanh"},
        {"layer_name": "AveragePooling2D", "pool_size": 2, "padding": "same"},
        {"layer_name": "Flatten"},
        {"layer_name": "Dense", "units": 3},
    ],
}
HPARAMS = {"depth": [1, 2], "width": [2, 4]}


def oracle_predict(layers, weights, x_nhwc):
    logits = np_forward(layers, [{k: np.float32(v) for k, v in w.items()} for w in weights],
                        x_nhwc.astype(np.float64))
    top2 = np.sort(logits, axis=1)[:, -2:]
    assert (top2[:, 1] - top2[:, 0] > 1e-5).all(), "near-tie: pick another seed"
    return logits.argmax(1)


def make_task(root, task="task9", layout="public", id_style="plain", onehot=False, seed=0, archs=None,
              sizes=(24, 17)):
    """Write a PGDL task; return {id: (layers, final weights, initial weights)} and the data.

    ``archs`` (default :data:`ARCHS`) maps a model id to its Keras layers; ``sizes`` are the
    numbers of train and test examples (each split is written as two shards).
    """
    archs = ARCHS if archs is None else archs
    rng = np.random.default_rng(seed)
    base = root / "input_data" / task if layout == "public" else root / task
    data = {}
    for split, n in zip(("train", "test"), sizes, strict=True):
        x = rng.normal(size=(n, *INPUT)).astype(np.float32)
        y = rng.integers(0, 3, n).astype(np.int32)
        folder = base / "dataset_1" / split
        folder.mkdir(parents=True)
        ys = np.eye(3, dtype=np.float32)[y] if onehot else y
        write_shard(folder / "shard_0.tfrecord", x[:10], ys[:10])
        write_shard(folder / "shard_1.tfrecord", x[10:], ys[10:])
        data[split] = (x, y)
    specs, truth = {}, {}
    for i, (mid, layers) in enumerate(archs.items()):
        folder = base / f"model_{mid}"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"model_config": layers, "input_shape": INPUT}))
        final, init = random_weights(layers, INPUT, rng), random_weights(layers, INPUT, rng)
        write_h5(folder / "weights.hdf5", layers, final)
        write_h5(folder / "weights_init.hdf5", layers, init)
        acc = {s: float(np.mean(oracle_predict(layers, final, x) == y)) for s, (x, y) in data.items()}
        key = mid if id_style == "plain" else f"model_{mid}"
        specs[key] = {"metrics": {"train_acc": acc["train"], "test_acc": acc["test"], "train_loss": 0.1},
                      "hparams": {h: {"current_value": v[i % 2], "possible_values": v}
                                  for h, v in HPARAMS.items()}}
        truth[key] = (layers, final, init)
    ref = root / "reference_data" / task if layout == "public" else base
    ref.mkdir(parents=True, exist_ok=True)
    (ref / "model_configs.json").write_text(json.dumps(specs))
    return truth, data


def torch_accuracy(model, x, y):
    assert not model.training
    with torch.no_grad():
        return float(np.mean(model(torch.from_numpy(x)).numpy().argmax(1) == y))


@pytest.mark.parametrize("layout,id_style,onehot", [("public", "plain", False), ("sample", "prefixed", True)])
def test_reproduces_reference_accuracies(tmp_path, layout, id_style, onehot):
    truth, data = make_task(tmp_path, layout=layout, id_style=id_style, onehot=onehot)
    task = load_pgdl_task(tmp_path, "task9")
    assert isinstance(task, PGDLTask) and task.layout == layout and task.task == "task9"
    want_ids = ["2", "3", "10"] if id_style == "plain" else ["model_2", "model_3", "model_10"]
    assert list(task.models) == want_ids and list(task.initial_models) == want_ids
    for split in ("train", "test"):
        x, y = getattr(task, split)
        assert x.dtype == np.float32 and x.shape[1:] == (2, 6, 5) and y.dtype == np.int64
        np.testing.assert_array_equal(x, data[split][0].transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(y, data[split][1])
    for mid in task.models:
        model = task.models[mid]
        assert torch_accuracy(model, *task.train) == task.metrics[mid]["train_acc"]
        assert torch_accuracy(model, *task.test) == task.metrics[mid]["test_acc"]
        layers, _, init = truth[mid]  # initial weights: against the oracle directly
        x, y = data["test"]
        assert torch_accuracy(task.initial_models[mid], *task.test) == np.mean(oracle_predict(layers, init, x) == y)
    assert task.hparam_values()[want_ids[0]] == {"depth": 1, "width": 2}  # "2" is written third
    assert task.hparam_values()[want_ids[2]] == {"depth": 2, "width": 4}
    assert task.hparams[want_ids[2]]["depth"]["possible_values"] == [1, 2]
    gaps = task.gaps()
    assert gaps[want_ids[1]] == task.metrics[want_ids[1]]["train_acc"] - task.metrics[want_ids[1]]["test_acc"]


def test_select_models_and_split(tmp_path):
    make_task(tmp_path, layout="public")
    task = load_pgdl_task(tmp_path, "task9", models=["model_10", "2"], split="test", verify=False)
    assert list(task.models) == ["10", "2"] and set(task.metrics) == {"10", "2"}
    assert task.train is None and task.test[0].shape == (17, 2, 6, 5)
    with pytest.raises(InvalidInputError, match=r"model '7' is not in this task; available ids: \['2', '3', '10'\]"):
        load_pgdl_task(tmp_path, "task9", models=["7"])
    assert list(load_pgdl_task(tmp_path, "task9", models=3, split=(), verify=False).models) == ["3"]
    for bad in ([None], 3.5):
        with pytest.raises(InvalidInputError, match=r"model ids|list of model ids"):
            load_pgdl_task(tmp_path, "task9", models=bad)
    with pytest.raises(InvalidInputError, match="split must"):
        load_pgdl_task(tmp_path, "task9", split=7)
    with pytest.raises(InvalidInputError, match="root must be"):
        load_pgdl_task(None, "task9")
    with pytest.raises(InvalidInputError, match="split must name"):
        load_pgdl_task(tmp_path, "task9", split=("val",))
    with pytest.raises(MemoryBudgetError, match="max_data_bytes"):
        load_pgdl_task(tmp_path, "task9", max_data_bytes=100)


def test_unknown_task_and_root(tmp_path):
    make_task(tmp_path, task="task1_v4", layout="public")
    make_task(tmp_path, task="task2_v1", layout="sample", seed=1)
    with pytest.raises(DataNotFoundError, match=r"'task5' not found.*Tasks found: \['task1_v4', 'task2_v1'\]"):
        load_pgdl_task(tmp_path, "task5")
    with pytest.raises(DataNotFoundError, match="is not a folder"):
        load_pgdl_task(tmp_path / "nowhere", "task1_v4")
    with pytest.raises(InvalidInputError, match="task folder name"):
        load_pgdl_task(tmp_path, "")


@pytest.fixture
def public(tmp_path):
    make_task(tmp_path, layout="public")
    return tmp_path, tmp_path / "input_data" / "task9"


@pytest.mark.parametrize("name", ["config.json", "weights.hdf5"])
def test_missing_model_files(public, name):
    root, base = public
    (base / "model_3" / name).unlink()
    with pytest.raises(DataNotFoundError, match=rf"model '3': .*model_3' lacks \['{name}'\]"):
        load_pgdl_task(root, "task9", verify=False)


def test_missing_shards_and_truncated_shard(public):
    root, base = public
    shard = base / "dataset_1" / "train" / "shard_1.tfrecord"
    shard.write_bytes(shard.read_bytes()[:-7])
    with pytest.raises(CorruptRecordError, match=r"shard_1\.tfrecord"):
        load_pgdl_task(root, "task9")
    for p in (base / "dataset_1" / "test").iterdir():
        p.unlink()
    with pytest.raises(DataNotFoundError, match=r"no test shards"):
        load_pgdl_task(root, "task9", split="test")


def test_wrong_kernel_shape(public):
    root, base = public
    with h5py.File(base / "model_2" / "weights.hdf5", "r+") as f:
        group = f[f.attrs["layer_names"][0].decode()]
        name = group.attrs["weight_names"][0].decode()
        del group[name]
        group.create_dataset(name, data=np.zeros((1, 1, 3, 2), np.float32))
    with pytest.raises(ShapeError, match=r"model '2' \(weights.hdf5\).*shape \(1, 1, 3, 2\); expected \(1, 1, 2, 2\)"):
        load_pgdl_task(root, "task9")
    task = load_pgdl_task(root, "task9", verify=False)  # lazily: the error comes on access
    with pytest.raises(ShapeError, match=r"expected \(1, 1, 2, 2\)"):
        task.models["2"]


def test_model_configs_errors(public):
    root, _ = public
    path = root / "reference_data" / "task9" / "model_configs.json"
    specs = json.loads(path.read_text())
    path.write_text(json.dumps({**specs, "model_2": specs["2"]}))
    with pytest.raises(CorruptRecordError, match=r"same model folder twice.*\['model_2'\]"):
        load_pgdl_task(root, "task9")
    path.write_text(json.dumps({**specs, "44": specs["2"]}))
    with pytest.raises(CorruptRecordError, match=r"without a model folder .*\['44'\]"):
        load_pgdl_task(root, "task9")
    del specs["3"]
    path.write_text(json.dumps(specs))
    with pytest.raises(CorruptRecordError, match=r"model folders without an entry in model_configs.json: \['model_3'\]"):
        load_pgdl_task(root, "task9")
    path.write_text(json.dumps({"2": {"metrics": {"train_acc": "high"}}}))
    with pytest.raises(CorruptRecordError, match=r"metrics\['train_acc'\] of model '2'"):
        load_pgdl_task(root, "task9")
    path.write_text("{not json")
    with pytest.raises(CorruptRecordError, match="not readable JSON"):
        load_pgdl_task(root, "task9")
    path.unlink()
    with pytest.raises(DataNotFoundError, match=r"model_configs\.json not found"):
        load_pgdl_task(root, "task9")


def test_input_shape_mismatch_and_bad_labels(public):
    root, base = public
    cfg = base / "model_10" / "config.json"  # global pooling: same weights, other input size
    cfg.write_text(json.dumps({"model_config": ARCHS["10"], "input_shape": [6, 6, 2]}))
    with pytest.raises(ShapeError, match=r"model '10' takes input \(2, 6, 6\).*\(2, 6, 5\)"):
        load_pgdl_task(root, "task9")
    shard = base / "dataset_1" / "test" / "shard_0.tfrecord"
    soft = np.full((10, 3), 1 / 3, np.float32)
    write_shard(shard, np.zeros((10, *INPUT), np.float32), soft)
    for p in (base / "dataset_1" / "test").glob("shard_1*"):
        p.unlink()
    with pytest.raises(ShapeError, match="not one-hot"):
        load_pgdl_task(root, "task9", split="test", verify=False)
