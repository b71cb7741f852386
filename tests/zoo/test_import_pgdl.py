"""PGDL tasks imported into the zoo store (topolens.zoo.pgdl.import_pgdl, topolens.zoo.store).

The PGDL folders are written by tests/zoo/test_pgdl.py's ``make_task`` (Keras HDF5 weights,
TFRecord shards with CRCs, model_configs.json with accuracies computed by an independent numpy
implementation of the Keras layers). The imported zoo must give the same outputs as the models
``load_pgdl_task`` builds, keep data, metrics and hyperparameters exactly, resume, detect
corruption, and feed ``zoo_features`` / ``predict_gap`` unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from tests.conftest import TINY_GRID
from tests.zoo.test_pgdl import make_task
from topolens.exceptions import (
    ConfigError,
    CorruptRecordError,
    DataNotFoundError,
    InvalidInputError,
    TopolensWarning,
)
from topolens.zoo import Zoo, import_pgdl, load_pgdl_task, read_record, train_zoo, zoo_data
from topolens.zoo.store import check_model_id

IDS = ["model_10", "model_2", "model_3"]  # zoo ids: PGDL folder names, sorted as strings


def _dense_relu(filters: int, units: int) -> list[dict]:
    """A tiny CNN whose ReLU modules are named conv2d__act and dense__act whatever its widths."""
    return [
        {"layer_name": "Conv2D", "filters": filters, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"layer_name": "Flatten"},
        {"layer_name": "Dense", "units": units, "activation": "relu"},
        {"layer_name": "Dense", "units": 3},
    ]


SIX = {str(i): _dense_relu(f, u) for i, (f, u) in enumerate(
    [(2, 4), (3, 4), (2, 5), (3, 5), (2, 6), (3, 6)], start=1)}


@pytest.fixture
def task_root(tmp_path):
    make_task(tmp_path / "pgdl", layout="public")
    return tmp_path / "pgdl"


def _run(x: np.ndarray, model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x)))


@pytest.mark.parametrize("layout,id_style", [("public", "plain"), ("sample", "prefixed")])
def test_import_reproduces_the_task(tmp_path, layout, id_style):
    truth, data = make_task(tmp_path / "pgdl", layout=layout, id_style=id_style)
    zoo = import_pgdl(tmp_path / "pgdl", "task9", tmp_path / "zoo", progress=False)
    assert zoo.last_import == {"imported": 3, "skipped": 0}
    zoo = Zoo.load(tmp_path / "zoo")
    assert zoo.grid is None and zoo.name == "PGDL task9" and zoo.dataset == "pgdl:task9"
    assert zoo.source == {"kind": "pgdl", "task": "task9", "layout": layout,
                          "root": str((tmp_path / "pgdl").resolve())}
    assert zoo.model_ids == IDS and "pgdl:task9" in repr(zoo)
    task = load_pgdl_task(tmp_path / "pgdl", "task9")
    specs = task.metrics
    stored = zoo.data(verify=True)
    for split in ("train", "test"):  # data identical to what load_pgdl_task returns (NCHW float32)
        x, y = getattr(stored, f"x_{split}"), getattr(stored, f"y_{split}")
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        np.testing.assert_array_equal(x.numpy(), data[split][0].transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(y.numpy(), data[split][1])
    for rec in zoo:
        mid = rec.source_id
        assert rec.kind == "pgdl" and rec.config is None and rec.model_id == f"model_{mid.removeprefix('model_')}"
        assert rec.architecture == {"kind": "keras", "model_config": truth[mid][0], "input_shape": [6, 5, 2]}
        x = task.test[0]
        assert torch.equal(_run(x, rec.load_model("final")), _run(x, task.models[mid]))
        assert torch.equal(_run(x, rec.load_model("initial")), _run(x, task.initial_models[mid]))
        states = rec.load_states()
        assert set(states["initial"]) == set(states["final"])
        assert all(not torch.equal(states["initial"][k], states["final"][k])
                   for k in states["final"] if k.endswith("weight"))
        # the first conv kernel as written (HWIO) is the stored OIHW tensor, transposed
        np.testing.assert_array_equal(states["final"]["conv2d.weight"].numpy(),
                                      np.float32(truth[mid][1][0]["kernel"]).transpose(3, 2, 0, 1))
        np.testing.assert_array_equal(states["initial"]["conv2d.weight"].numpy(),
                                      np.float32(truth[mid][2][0]["kernel"]).transpose(3, 2, 0, 1))
        m = specs[mid]
        assert rec.metrics == {"train_accuracy": m["train_acc"], "test_accuracy": m["test_acc"],
                               "gap": m["train_acc"] - m["test_acc"], "train_acc": m["train_acc"],
                               "test_acc": m["test_acc"], "train_loss": 0.1}
        acc = float(np.mean(_run(stored.x_train.numpy(), rec.load_model()).argmax(1).numpy()
                            == stored.y_train.numpy()))
        assert acc == rec.metrics["train_accuracy"]  # the oracle's accuracy, recomputed on stored data
        assert rec.hparams == task.hparam_values()[mid]
    assert zoo.hyperparameters() == {"depth": [2, 1, 1], "width": [4, 2, 2]}  # "2" written third: i=2
    np.testing.assert_array_equal(zoo.gaps(), [specs[r.source_id]["train_acc"] - specs[r.source_id]["test_acc"]
                                               for r in zoo])


def test_resume_skips_valid_models_and_redoes_missing_or_corrupt(task_root, tmp_path):
    out = tmp_path / "zoo"
    zoo = import_pgdl(task_root, "task9", out, models=["2"], progress=False)
    assert zoo.model_ids == ["model_2"] and zoo.last_import == {"imported": 1, "skipped": 0}
    sha = {p: p.read_bytes() for p in (out / "data").iterdir()}
    first = (out / "models" / "model_2" / "weights.pt").stat().st_mtime_ns
    zoo = import_pgdl(task_root, "task9", out, progress=False)
    assert zoo.model_ids == IDS and zoo.last_import == {"imported": 2, "skipped": 1}
    assert (out / "models" / "model_2" / "weights.pt").stat().st_mtime_ns == first
    assert {p: p.read_bytes() for p in (out / "data").iterdir()} == sha  # data written once
    (out / "models" / "model_3" / "record.json").unlink()  # killed between weights and record
    (out / "models" / "model_10" / "weights.pt").write_bytes(b"garbage")
    with pytest.warns(TopolensWarning, match="Reimporting a corrupt model"):
        zoo = import_pgdl(task_root, "task9", out, progress=False)
    assert zoo.last_import == {"imported": 2, "skipped": 1} and len(Zoo.load(out)) == 3


def test_corrupt_records_weights_and_data_are_detected(task_root, tmp_path):
    out = tmp_path / "zoo"
    import_pgdl(task_root, "task9", out, progress=False)
    rec = out / "models" / "model_3" / "record.json"
    good = rec.read_text()
    d = json.loads(good)
    for key, value, match in (("metrics", {**d["metrics"], "gap": 0.5}, "gap != train_accuracy"),
                              ("architecture", {"kind": "torch"}, "architecture must be"),
                              ("hparams", [1], "hparams must be"),
                              ("model_id", "model_4", "does not match the folder"),
                              ("kind", "tf", "unknown record kind")):
        rec.write_text(json.dumps({**d, key: value}))
        with pytest.raises(CorruptRecordError, match=match) as info:
            Zoo.load(out)
        assert str(rec) in str(info.value)
        if key != "kind":
            assert "zoo import-pgdl" in str(info.value)
    rec.write_text(good)
    shutil.copytree(out / "models" / "model_3", tmp_path / "stray")
    grid_zoo = tmp_path / "grid_zoo"
    (grid_zoo / "models").mkdir(parents=True)
    (grid_zoo / "zoo.json").write_text(json.dumps({"format": "topolens-zoo", "version": 1, "grid": TINY_GRID}))
    shutil.copytree(tmp_path / "stray", grid_zoo / "models" / "model_3")
    with pytest.raises(CorruptRecordError, match="a 'pgdl' record in a zoo trained from a grid"):
        Zoo.load(grid_zoo)
    w = out / "models" / "model_3" / "weights.pt"
    blob = w.read_bytes()
    w.write_bytes(blob[:-5])
    with pytest.raises(CorruptRecordError, match="checksum"):
        Zoo.load(out)
    w.write_bytes(blob)
    states = torch.load(w, weights_only=True)
    del states["final"]["dense.bias"]
    torch.save(states, w)
    zoo = Zoo.load(out, verify_weights=False)
    with pytest.raises(CorruptRecordError, match=r"final weights do not fit.*dense\.bias.*import-pgdl"):
        zoo["model_3"].load_model()
    w.write_bytes(blob)
    x = out / "data" / "x_train.npy"
    raw = x.read_bytes()
    x.write_bytes(raw[:-4])
    with pytest.raises(CorruptRecordError, match=r"x_train\.npy: .* bytes, data.json says"):
        zoo_data(out)
    x.write_bytes(raw[:-4] + b"\x00\x00\x80\x7f")  # same size, one value altered
    Zoo.load(out).data()  # sizes and shapes match: only the checksum sees it
    with pytest.raises(CorruptRecordError, match="SHA-256"):
        Zoo.load(out).data(verify=True)
    import_pgdl(task_root, "task9", out, progress=False)  # the import repairs its own data file
    assert x.read_bytes() == raw
    (out / "data" / "data.json").unlink()
    with pytest.raises(DataNotFoundError, match=r"data\.json is missing"):
        zoo_data(out)


def test_other_data_task_or_zoo_kind_is_refused(task_root, tmp_path):
    out = tmp_path / "zoo"
    import_pgdl(task_root, "task9", out, progress=False)
    other = tmp_path / "other"
    make_task(other, layout="public", seed=1)  # same task name, other data
    manifest = (out / "zoo.json").read_text()
    with pytest.raises(ConfigError, match=r"already holds other data.*new --out"):
        import_pgdl(other, "task9", out, progress=False)
    assert (out / "zoo.json").read_text() == manifest  # still names the first root
    make_task(other, task="task2_v1", layout="sample", seed=2)
    with pytest.raises(ConfigError, match="holds the PGDL task 'task9', not 'task2_v1'"):
        import_pgdl(other, "task2_v1", out, progress=False)
    with pytest.raises(ConfigError, match="imported from pgdl task 'task9'"):
        train_zoo(TINY_GRID, out, progress=False)
    grid_zoo = tmp_path / "grid_zoo"
    grid_zoo.mkdir()
    (grid_zoo / "zoo.json").write_text(json.dumps({"format": "topolens-zoo", "version": 1, "grid": TINY_GRID}))
    with pytest.raises(ConfigError, match="trained from the grid 'tiny'"):
        import_pgdl(task_root, "task9", grid_zoo, progress=False)
    for bad in (task_root, task_root / "input_data" / "task9" / "zoo"):
        with pytest.raises(ConfigError, match="PGDL root or lies inside the task folder"):
            import_pgdl(task_root, "task9", bad, progress=False)
    assert not (task_root / "input_data" / "task9" / "zoo").exists() and not (task_root / "zoo.json").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        import_pgdl(task_root, "task9", tmp_path / "file", progress=False)


def test_missing_initial_weights_and_inconsistent_gap(task_root, tmp_path):
    init = task_root / "input_data" / "task9" / "model_3" / "weights_init.hdf5"
    blob = init.read_bytes()
    init.unlink()
    with pytest.raises(DataNotFoundError, match=r"model '3': .*model_3/weights_init\.hdf5' is missing"):
        import_pgdl(task_root, "task9", tmp_path / "zoo", progress=False)
    assert not (tmp_path / "zoo" / "zoo.json").exists()  # refused before writing anything
    init.write_bytes(blob)
    cfg = task_root / "reference_data" / "task9" / "model_configs.json"
    specs = json.loads(cfg.read_text())
    m = specs["3"]["metrics"]
    m["gen_gap"] = m["train_acc"] - m["test_acc"] + 1e-7  # within 1e-6: accepted and kept
    cfg.write_text(json.dumps(specs))
    zoo = import_pgdl(task_root, "task9", tmp_path / "zoo", progress=False)
    assert zoo["model_3"].metrics["gen_gap"] == m["gen_gap"]
    m["gen_gap"] += 1e-4
    m["train_acc"] = 1.5
    cfg.write_text(json.dumps(specs))
    with pytest.raises(CorruptRecordError, match=r"model '3': train_acc=1.5 outside \[0, 1\]"):
        import_pgdl(task_root, "task9", tmp_path / "zoo2", progress=False)
    m["train_acc"] = 0.5
    cfg.write_text(json.dumps(specs))
    with pytest.raises(CorruptRecordError, match=r"gen_gap=.* but train_acc - test_acc"):
        import_pgdl(task_root, "task9", tmp_path / "zoo2", progress=False)


@pytest.mark.parametrize("bad", ["../x", "a/b", ".hidden", "model_..", "", "model 6", "m\\6", "x" * 129, 6])
def test_unsafe_model_ids_are_refused(bad):
    with pytest.raises(InvalidInputError, match="not a safe folder name"):
        check_model_id(bad)


def test_unsafe_ids_in_model_configs_and_records(task_root, tmp_path):
    base = task_root / "input_data" / "task9"
    (base / "model_3").rename(base / "model_3 x")
    cfg = task_root / "reference_data" / "task9" / "model_configs.json"
    specs = json.loads(cfg.read_text())
    specs["3 x"] = specs.pop("3")
    cfg.write_text(json.dumps(specs))
    with pytest.raises(InvalidInputError, match=r"model_configs\.json id '3 x'.*not a safe folder name"):
        import_pgdl(task_root, "task9", tmp_path / "zoo", progress=False)
    (base / "model_3 x").rename(base / "model_3")
    specs["3"] = specs.pop("3 x")
    cfg.write_text(json.dumps(specs))
    import_pgdl(task_root, "task9", tmp_path / "zoo", progress=False)
    folder = tmp_path / "zoo" / "models" / "model_3"
    rec = json.loads((folder / "record.json").read_text())
    (folder / "record.json").write_text(json.dumps({**rec, "model_id": "../model_3"}))
    with pytest.raises(CorruptRecordError, match="not a safe folder name"):
        read_record(folder)


def test_features_and_gap_prediction_on_an_imported_zoo(tmp_path):
    from topolens.generalization import FeatureParams, predict_gap, zoo_features
    from topolens.generalization.baselines import baseline_measures

    make_task(tmp_path / "pgdl", archs=SIX, sizes=(40, 20))
    import_pgdl(tmp_path / "pgdl", "task9", tmp_path / "zoo", progress=False)
    zoo = Zoo.load(tmp_path / "zoo")
    assert len(zoo) == 6
    params = FeatureParams(n_inputs=30, n_neurons=8, n_resamples=2, layers=("conv2d__act", "dense__act"),
                           margin_inputs=2000)
    table = zoo_features(zoo, params, progress=False)
    assert table.model_ids == zoo.model_ids and table.topological.shape[0] == 6
    assert np.isfinite(table.topological).all() and np.isfinite(table.baselines).all()
    np.testing.assert_array_equal(table.gaps, zoo.gaps())
    assert table.hyperparameters == {"depth": [1, 2, 1, 2, 1, 2], "width": [2, 4, 2, 4, 2, 4]}
    data = zoo.data()
    rec = zoo[0]  # the margin uses the whole stored training split (40 examples, no subset)
    want = baseline_measures(rec.load_model(), rec.load_states()["initial"], data.x_train, data.y_train,
                             quantile=params.margin_quantile)
    got = dict(zip(table.baseline_names, table.baselines[0], strict=True))
    assert got["margin"] == pytest.approx(want["margin"], rel=1e-12)
    assert got["dist_init"] > 0
    result = predict_gap(table, n_repeats=2, seed=0)
    names = {r["predictor"] for r in result.rows()}
    assert {"topology", "margin"} <= names
    again = zoo_features(Zoo.load(tmp_path / "zoo"), params, progress=False)  # from the cache
    np.testing.assert_array_equal(again.topological, table.topological)
    # fewer margin inputs than the split: a seeded draw over it (shards may be in class order)
    few = dataclasses.replace(params, margin_inputs=10)
    part = zoo_features(Zoo.load(tmp_path / "zoo"), few, progress=False)
    take = np.sort(np.random.default_rng([few.data_seed, 3]).choice(40, 10, replace=False))
    assert not np.array_equal(take, np.arange(10))
    want = baseline_measures(rec.load_model(), rec.load_states()["initial"], data.x_train[take],
                             data.y_train[take], quantile=few.margin_quantile)
    assert part.baselines[0, list(part.baseline_names).index("margin")] == pytest.approx(want["margin"], rel=1e-12)


def test_copied_zoo_is_self_contained(tmp_path):
    """An imported zoo holds its own data: it works after the PGDL folder is gone."""
    make_task(tmp_path / "pgdl")
    import_pgdl(tmp_path / "pgdl", "task9", tmp_path / "zoo", progress=False)
    shutil.rmtree(tmp_path / "pgdl")
    shutil.copytree(tmp_path / "zoo", tmp_path / "moved")
    zoo = Zoo.load(tmp_path / "moved")
    assert zoo.data().x_train.shape == (24, 2, 6, 5)
    assert zoo[0].load_model()(zoo.data().x_test[:2]).shape == (2, 3)


def test_the_papers_preset_runs_on_an_imported_zoo(tmp_path):
    """Ballester et al.'s setting (every weighted Keras layer, after its fused activation)."""
    from topolens.generalization import FeatureParams, predict_gap, zoo_features
    from topolens.generalization.features import weighted_layers

    make_task(tmp_path / "pgdl", archs=SIX, sizes=(40, 20), seed=3)
    zoo = import_pgdl(tmp_path / "pgdl", "task9", tmp_path / "zoo", progress=False)
    # the model the zoo builds knows its Keras layers: conv2d and dense after their ReLU, then the logits
    assert weighted_layers(zoo[0].load_model()) == ["conv2d__act", "dense__act", "dense_1"]
    params = FeatureParams.preset("ballester2024", n_inputs=30, n_neurons=12, n_resamples=2)
    table = zoo_features(zoo, params, progress=False)
    assert table.topological.shape[0] == 6 and np.isfinite(table.topological).all()
    result = predict_gap(table, n_repeats=2, seed=0, protocol="ballester2024")
    assert len(result.rows()) > 0


def test_rerunning_the_import_repairs_an_unreadable_data_json(task_root, tmp_path):
    out = tmp_path / "zoo"
    import_pgdl(task_root, "task9", out, progress=False)
    good = zoo_data(out).x_train.numpy().copy()
    (out / "data" / "data.json").write_text("{not json")
    with pytest.raises(CorruptRecordError, match=r"data\.json: not readable JSON.*Rerun 'topolens zoo import-pgdl'"):
        zoo_data(out)
    import_pgdl(task_root, "task9", out, progress=False)  # the rerun the message asks for must repair it
    np.testing.assert_array_equal(zoo_data(out, verify=True).x_train.numpy(), good)


@pytest.mark.parametrize("spelling", ["batch_none", "batch_minus_one", "first_layer_only"])
def test_stored_input_shape_whatever_config_json_spells(task_root, tmp_path, spelling):
    cfg = task_root / "input_data" / "task9" / "model_2" / "config.json"
    c = json.loads(cfg.read_text())
    hwc = list(c["input_shape"])
    if spelling == "first_layer_only":
        del c["input_shape"]
        c["model_config"][0]["batch_input_shape"] = [None, *hwc]
    else:
        c["input_shape"] = [None if spelling == "batch_none" else -1, *hwc]
    cfg.write_text(json.dumps(c))
    zoo = import_pgdl(task_root, "task9", tmp_path / "zoo", progress=False)
    assert zoo["model_2"].architecture["input_shape"] == hwc == [6, 5, 2]
    x = torch.from_numpy(zoo.data().x_train.numpy()[:4].copy())
    with torch.no_grad():
        np.testing.assert_allclose(zoo["model_2"].load_model()(x).numpy(),
                                   load_pgdl_task(task_root, "task9").models["2"](x).numpy(), rtol=1e-6)


def test_files_in_a_folder_that_is_not_a_zoo_are_never_overwritten(task_root, tmp_path):
    out = tmp_path / "project"
    (out / "data").mkdir(parents=True)
    mine = out / "data" / "x_train.npy"
    np.save(mine, np.arange(5))
    with pytest.raises(ConfigError, match=r"x_train\.npy.*not a zoo \(no zoo\.json\).*new or empty --out"):
        import_pgdl(task_root, "task9", out, progress=False)
    np.testing.assert_array_equal(np.load(mine), np.arange(5))
    mine.unlink()
    (out / "data" / "data.json").write_text('{"my": "own file"}')
    with pytest.raises(ConfigError, match=r"data\.json is not topolens-zoo-data data.*no zoo\.json"):
        import_pgdl(task_root, "task9", out, progress=False)
    assert (out / "data" / "data.json").read_text() == '{"my": "own file"}' and not (out / "zoo.json").exists()
    # a first import killed after its array files (no data.json, no zoo.json yet) resumes
    ref = import_pgdl(task_root, "task9", tmp_path / "ref", progress=False)
    shutil.rmtree(out / "data")
    (out / "data").mkdir()
    for k in ("x_train", "y_train"):
        shutil.copy(tmp_path / "ref" / "data" / f"{k}.npy", out / "data" / f"{k}.npy")
    zoo = import_pgdl(task_root, "task9", out, progress=False)
    np.testing.assert_array_equal(zoo.data(verify=True).x_test.numpy(), ref.data().x_test.numpy())


def test_resume_removes_only_its_own_temporary_files(task_root, tmp_path):
    out = tmp_path / "zoo"
    import_pgdl(task_root, "task9", out, progress=False)
    ours = [out / "data" / ".x_train.npy.abc123.npy.tmp", out / "data" / ".data.json.q1.json.tmp",
            out / "models" / "model_2" / ".weights.pt.zz.pt.tmp"]
    theirs = [out / "data" / ".notes.npy.1.tmp", out / "data" / "mine.txt", out / "models" / "model_2" / ".x.tmp"]
    for f in ours + theirs:
        f.write_text("x")
    import_pgdl(task_root, "task9", out, progress=False)
    assert not any(f.exists() for f in ours) and all(f.read_text() == "x" for f in theirs)


def test_trained_input_pool_of_an_imported_model_is_the_stored_split_uncopied(task_root, tmp_path, monkeypatch):
    import dataclasses

    import topolens.generalization.features as F

    zoo = import_pgdl(task_root, "task9", tmp_path / "zoo", progress=False)
    data, rec = zoo.data(), zoo["model_2"]
    seen, orig = [], F.fixed_input_sample
    monkeypatch.setattr(F, "fixed_input_sample", lambda x, p, **kw: seen.append(x) or orig(x, p, **kw))
    trained = F.FeatureParams(n_inputs=20, n_neurons=6, n_resamples=1, input_pool="trained",
                              layer_selection="weighted")
    a = F.model_features(rec, data, trained)
    assert seen[-1] is data.x_train  # imported models train on the whole split: no copy of it per model
    b = F.model_features(rec, data, dataclasses.replace(trained, input_pool="all"))
    np.testing.assert_array_equal(a["topological"], b["topological"])
