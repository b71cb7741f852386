"""The zoo folder: atomic records, resume, validation of corrupt records (topolens.zoo.store)."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from tests.conftest import TINY_GRID
from topolens.exceptions import (
    ConfigError,
    CorruptRecordError,
    TopolensWarning,
    UntrustedCheckpointError,
)
from topolens.zoo import Zoo, load_grid, train_zoo
from topolens.zoo import store as store_mod


class Evil:
    """Stands for arbitrary code in a pickle: torch.load(weights_only=True) must refuse it."""


@pytest.fixture
def zoo_copy(tiny_zoo_path, tmp_path):
    dst = tmp_path / "zoo"
    shutil.copytree(tiny_zoo_path, dst)
    return dst


def test_zoo_holds_every_model_with_valid_records(tiny_zoo_path):
    zoo = Zoo.load(tiny_zoo_path)
    grid = load_grid(TINY_GRID)
    assert len(zoo) == grid.size == 4
    assert sorted(zoo.model_ids) == sorted(c.model_id for c in grid.configs())
    assert set(zoo.hyperparameters()) == {"depth", "label_noise"}
    assert np.allclose(zoo.gaps(), zoo.metric("train_accuracy") - zoo.metric("test_accuracy"))
    rec = zoo[0]
    states = rec.load_states()
    assert set(states) == {"initial", "final"}
    model = rec.load_model()
    x = zoo.data().x_test[:5]
    assert model(x).shape == (5, 10)
    assert not any(tmp.name.endswith(".tmp") for tmp in tiny_zoo_path.rglob("*"))


def test_rerun_trains_nothing_and_resumes_a_killed_run(zoo_copy, monkeypatch):
    calls = []
    real = store_mod.train_model

    def counting(config, data):
        calls.append(config.model_id)
        return real(config, data)

    monkeypatch.setattr(store_mod, "train_model", counting)
    before = {r.model_id: r.weights_sha256 for r in Zoo.load(zoo_copy)}
    train_zoo(TINY_GRID, zoo_copy, progress=False)
    assert calls == []
    # a run killed after writing weights but before the record: that model alone is redone
    victim = sorted(before)[1]
    (zoo_copy / "models" / victim / "record.json").unlink()
    assert len(Zoo.load(zoo_copy)) == 3
    zoo = train_zoo(TINY_GRID, zoo_copy, progress=False)
    assert calls == [victim]
    assert {r.model_id: r.weights_sha256 for r in zoo} == before  # deterministic retraining


def test_corrupt_record_is_reported_by_path(zoo_copy):
    victim = Zoo.load(zoo_copy).model_ids[0]
    path = zoo_copy / "models" / victim / "record.json"
    path.write_text(path.read_text()[:50])
    with pytest.raises(CorruptRecordError, match=rf"{victim}.*record.json.*not valid JSON"):
        Zoo.load(zoo_copy)
    with pytest.warns(TopolensWarning, match="corrupt"):
        zoo = Zoo.load(zoo_copy, strict=False)
    assert len(zoo) == 3 and zoo.corrupt[0][0].name == victim
    with pytest.warns(TopolensWarning, match="Retraining a corrupt model"):
        assert len(train_zoo(TINY_GRID, zoo_copy, progress=False)) == 4


@pytest.mark.parametrize("damage, match", [
    (lambda d: d["metrics"].__setitem__("gap", 0.9), "gap != train_accuracy - test_accuracy"),
    (lambda d: d["metrics"].__setitem__("test_accuracy", float("nan")), "finite numbers"),
    (lambda d: d["config"].__setitem__("width", 13), "do not match the config"),
    (lambda d: d["config"].__setitem__("depht", 1), "invalid config"),
    (lambda d: d.__setitem__("version", 99), "version"),
])
def test_inconsistent_records_are_refused(zoo_copy, damage, match):
    victim = Zoo.load(zoo_copy).model_ids[0]
    path = zoo_copy / "models" / victim / "record.json"
    d = json.loads(path.read_text())
    damage(d)
    path.write_text(json.dumps(d))
    with pytest.raises(CorruptRecordError, match=match):
        Zoo.load(zoo_copy)


def test_altered_weights_fail_the_checksum_and_pickles_are_untrusted(zoo_copy):
    rec = Zoo.load(zoo_copy)[0]
    w = rec.weights_path
    w.write_bytes(w.read_bytes()[:-10])
    with pytest.raises(CorruptRecordError, match="checksum"):
        Zoo.load(zoo_copy)
    w.write_bytes(pickle.dumps({"initial": Evil(), "final": {}}, protocol=2))
    zoo = Zoo.load(zoo_copy, verify_weights=False)
    with pytest.raises(UntrustedCheckpointError, match="weights_only=True") as info:
        zoo[rec.model_id].load_states()
    msg = str(info.value)  # our words: what was found and what to do, not torch's text
    assert "\x1b" not in msg and "PyTorch 2.6" not in msg and "Evil" in msg and "retrain" in msg
    w.write_bytes(b"")
    with pytest.raises(CorruptRecordError, match="not a readable PyTorch file"):
        zoo[rec.model_id].load_states()


def test_folder_of_another_data_set_is_refused(zoo_copy):
    with pytest.raises(ConfigError, match="holds a zoo on 'mnist_sample'"):
        train_zoo({**TINY_GRID, "n_test": 100}, zoo_copy, progress=False)
    with pytest.raises(CorruptRecordError, match="not a zoo"):
        Zoo.load(zoo_copy / "models")


def test_parallel_workers_give_the_same_zoo(tiny_zoo_path, tmp_path):
    zoo = train_zoo(TINY_GRID, tmp_path / "par", n_jobs=2, progress=False)
    ref = Zoo.load(tiny_zoo_path)
    assert zoo.model_ids == ref.model_ids
    for a, b in zip(zoo, ref, strict=True):
        sa, sb = a.load_states()["final"], b.load_states()["final"]
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        assert a.metrics["gap"] == b.metrics["gap"]


def test_jobs_on_threads_of_this_process_are_not_taken_for_orphans(tiny_zoo_path, tmp_path):
    # under joblib's threading backend the jobs run in this very process, whose parent is
    # not itself: the watchdog must not end it (it once called os._exit(1) here)
    import joblib

    with joblib.parallel_config(backend="threading"):
        zoo = train_zoo(TINY_GRID, tmp_path / "thr", n_jobs=2, progress=False)
    assert zoo.model_ids == Zoo.load(tiny_zoo_path).model_ids


@pytest.mark.parametrize("n_jobs", [0, -2, 1.5, True])
def test_bad_n_jobs_are_refused_before_training(tmp_path, n_jobs):
    from topolens.exceptions import InvalidInputError

    with pytest.raises(InvalidInputError, match="n_jobs must be a positive number"):
        train_zoo(TINY_GRID, tmp_path / "z", n_jobs=n_jobs, progress=False)
    assert not (tmp_path / "z").exists()


def test_temporary_files_of_a_killed_run_are_removed(zoo_copy):
    rec = Zoo.load(zoo_copy)[0]
    leftover = rec.path / ".weights.pt.abc123.pt.tmp"
    leftover.write_bytes(b"half")
    user_file = rec.path / "notes.txt"
    user_file.write_text("mine")
    train_zoo(TINY_GRID, zoo_copy, progress=False)
    assert not leftover.exists() and user_file.exists()


def test_trained_zoo_keeps_its_grid_and_one_data_access(tiny_zoo_path):
    from topolens.zoo import load_zoo_data, zoo_data

    zoo = Zoo.load(tiny_zoo_path)
    assert zoo.source is None and zoo.name == zoo.grid.name == "tiny" and zoo.dataset == "mnist_sample"
    assert all(r.kind == "grid" and r.architecture is None and r.hparams == {} for r in zoo)
    d = json.loads((zoo[0].path / "record.json").read_text())
    assert "kind" not in d and d["version"] == 1  # records written before imported zoos existed
    assert zoo_data(tiny_zoo_path) is load_zoo_data("mnist_sample", None, 300)  # the same cached data


def _arrays(rng, n_train=7, n_test=5):
    return {"x_train": rng.random((n_train, 3, 4, 4), dtype=np.float32),
            "y_train": rng.integers(0, 10, n_train).astype(np.int64),
            "x_test": rng.random((n_test, 3, 4, 4), dtype=np.float32),
            "y_test": rng.integers(0, 10, n_test).astype(np.int64)}


def test_stored_data_round_trip_checksums_and_refusals(tmp_path):
    import hashlib

    from topolens.exceptions import ShapeError

    arrays = _arrays(np.random.default_rng(0))
    assert store_mod.write_zoo_data(tmp_path, arrays, name="pgdl:t") is True
    meta = json.loads((tmp_path / "data" / "data.json").read_text())
    for k, a in arrays.items():  # the checksum is that of the file, computed independently
        f = tmp_path / "data" / f"{k}.npy"
        assert meta["arrays"][k] == {"shape": list(a.shape), "dtype": str(a.dtype), "bytes": f.stat().st_size,
                                     "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
    data = store_mod.load_stored_data(tmp_path, verify=True)
    assert data.name == "pgdl:t"
    for k, a in arrays.items():
        t = getattr(data, k)
        assert isinstance(t, torch.Tensor) and t.dtype == torch.from_numpy(a).dtype
        np.testing.assert_array_equal(t.numpy(), a)
    assert store_mod.write_zoo_data(tmp_path, arrays, name="pgdl:t") is False  # already stored
    with pytest.raises(ConfigError, match="already holds other data"):
        store_mod.write_zoo_data(tmp_path, _arrays(np.random.default_rng(1)), name="pgdl:t")
    bad = [({"x_train": arrays["x_train"].astype(np.float64)}, ShapeError, "x_train: expected float32"),
           ({"x_train": (arrays["x_train"] * 255).astype(np.uint8)}, ShapeError, "x_train: expected float32"),
           ({"y_test": arrays["y_test"][:-1]}, ShapeError, r"y_test: expected int64 labels of shape \(5,\)"),
           ({"x_test": arrays["x_test"][:, :, :2]}, ShapeError, "differ in shape")]
    for change, err, match in bad:
        with pytest.raises(err, match=match):
            store_mod.write_zoo_data(tmp_path / "other", {**arrays, **change}, name="pgdl:t")
    from topolens.exceptions import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"missing \['y_test'\]"):
        store_mod.write_zoo_data(tmp_path / "other", {k: v for k, v in arrays.items() if k != "y_test"},
                                 name="pgdl:t")
    assert not (tmp_path / "other").exists()  # refused before writing


def test_stored_data_over_the_memory_budget_is_refused_before_reading(tmp_path, monkeypatch):
    from topolens.exceptions import MemoryBudgetError
    from topolens.homology import memory

    store_mod.write_zoo_data(tmp_path, _arrays(np.random.default_rng(2), n_train=50), name="pgdl:t")
    monkeypatch.setattr(memory, "memory_budget", lambda limit: 1000)
    store_mod._load_stored_data.cache_clear()
    with pytest.raises(MemoryBudgetError, match=r"takes [\d,]+ bytes .*, more than the memory budget of 1,000 bytes"):
        store_mod.load_stored_data(tmp_path)
