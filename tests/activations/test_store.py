"""The activation store never deletes or overwrites what topolens did not write."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from topolens.activations import Activations, record_activations
from topolens.exceptions import IntegrityError, InvalidInputError


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _foreign_manifest(folder, listed: str) -> None:
    """A manifest written by another tool that lists an unrelated file."""
    (folder / "manifest.json").write_text(json.dumps(
        {"name": "my-dataset", "layers": [{"file": listed}], "labels": {"file": "notes.txt"}}))


@pytest.mark.parametrize("how", ["record", "save"])
def test_foreign_manifest_is_refused_and_its_files_survive(tmp_path, how) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    precious = folder / "0000_precious.f32"  # even a name that looks like ours
    precious.write_bytes(b"user data")
    (folder / "notes.txt").write_text("keep me")
    _foreign_manifest(folder, precious.name)
    before = sorted(p.name for p in folder.iterdir())
    acts = Activations({"a": np.ones((3, 2))})
    with pytest.raises(InvalidInputError, match="not written by topolens") as info:
        if how == "record":
            record_activations(_model(), torch.randn(5, 3), store=folder)
        else:
            acts.save(folder)
    assert "'my-dataset'" not in str(info.value) and "new directory" in str(info.value)
    assert sorted(p.name for p in folder.iterdir()) == before
    assert precious.read_bytes() == b"user data" and (folder / "notes.txt").read_text() == "keep me"


def test_unreadable_manifest_and_unrelated_files_are_refused(tmp_path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="cannot read"):
        record_activations(_model(), torch.randn(5, 3), store=folder)
    assert (folder / "manifest.json").read_text() == "{not json"
    other = tmp_path / "y"
    other.mkdir()
    (other / "README.md").write_text("mine")
    (other / "sub").mkdir()
    with pytest.raises(InvalidInputError, match=r"2 entries that topolens did not write \('README.md', 'sub'\)"):
        Activations({"a": np.ones((3, 2))}).save(other)
    assert sorted(p.name for p in other.iterdir()) == ["README.md", "sub"]


def test_replacing_a_store_removes_only_listed_files_of_our_naming(tmp_path) -> None:
    store = tmp_path / "s"
    record_activations(_model(), (torch.randn(6, 3), torch.arange(6)), ["0", "2"], store=store)
    meta = json.loads((store / "manifest.json").read_text())
    # a tampered topolens manifest that lists a file outside our naming scheme
    meta["layers"].append({"name": "evil", "file": "important.txt", "n_neurons": 1, "shape": [1]})
    (store / "manifest.json").write_text(json.dumps(meta))
    (store / "important.txt").write_text("x")
    with pytest.raises(InvalidInputError, match=r"important\.txt"):
        record_activations(_model(), torch.randn(4, 3), "0", store=store)
    assert (store / "important.txt").read_text() == "x"
    # even if the file were not there to be refused, the cleanup would not take it
    from topolens.activations._store import _old_store_files

    text = (store / "manifest.json").read_text()
    assert _old_store_files(store) == {"0000_0.f32", "0001_2.f32", "labels.npy", "predictions.npy"}
    (store / "manifest.json").write_text(text)  # _old_store_files invalidates the old store
    (store / "important.txt").unlink()
    again = record_activations(_model(), torch.randn(4, 3), "0", store=store)
    assert sorted(p.name for p in store.iterdir()) == ["0000_0.f32", "manifest.json", "predictions.npy"]
    assert again.n_inputs == 4 and again.labels is None


def test_predictions_saved_loaded_and_old_stores_load(tmp_path) -> None:
    model = _model()
    xs = torch.randn(9, 3)
    acts = record_activations(model, xs, "0")
    with torch.no_grad():
        expected = model(xs).argmax(1).numpy()
    np.testing.assert_array_equal(acts.predictions, expected)
    assert acts.predictions.dtype == np.int64 and not acts.predictions.flags.writeable
    disk = record_activations(model, xs, "0", store=tmp_path / "s")
    np.testing.assert_array_equal(disk.predictions, expected)
    assert Activations.load(tmp_path / "s") == acts
    saved = acts.save(tmp_path / "saved")
    np.testing.assert_array_equal(Activations.load(saved, mmap=False).predictions, expected)
    # a store written before predictions existed: no key in the manifest
    meta = json.loads((saved / "manifest.json").read_text())
    del meta["predictions"]
    (saved / "predictions.npy").unlink()
    (saved / "manifest.json").write_text(json.dumps(meta))
    assert Activations.load(saved).predictions is None
    # a hostile predictions file is an IntegrityError, not numpy's error
    meta["predictions"] = {"file": "predictions.npy"}
    (saved / "manifest.json").write_text(json.dumps(meta))
    np.save(saved / "predictions.npy", np.zeros(9, dtype=np.float64))
    with pytest.raises(IntegrityError, match="integer"):
        Activations.load(saved)
    (saved / "predictions.npy").write_bytes(b"\x93NUMPY trunc")
    with pytest.raises(IntegrityError, match="predictions"):
        Activations.load(saved)


def test_no_predictions_for_non_classifier_outputs() -> None:
    xs = torch.randn(5, 3)
    assert record_activations(nn.Sequential(nn.Linear(3, 1)), xs).predictions is None  # 1 output
    assert record_activations(nn.Sequential(nn.Linear(3, 2), nn.Unflatten(1, (1, 2))), xs,
                              "0").predictions is None  # 3-D output
    with pytest.raises(InvalidInputError, match="integer class"):
        Activations({"a": np.ones((3, 2))}, predictions=[0.5, 1.0, 0.0])


@pytest.mark.parametrize("how", ["record", "save"])
@pytest.mark.parametrize("name", ["labels.npy", "predictions.npy", "0000_0.f32"])
def test_files_named_like_ours_but_listed_by_no_manifest_are_foreign(tmp_path, how, name) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / name).write_bytes(b"the user's own file")
    with pytest.raises(InvalidInputError, match=rf"did not write \('{name}'\).*unless this folder's"):
        if how == "record":
            record_activations(_model(), (torch.randn(5, 3), torch.arange(5)), store=folder)
        else:
            Activations({"0": np.ones((3, 4))}, labels=[0, 1, 2], predictions=[1, 0, 1]).save(folder)
    assert sorted(p.name for p in folder.iterdir()) == [name]
    assert (folder / name).read_bytes() == b"the user's own file"
    # next to an earlier store, an unlisted file of our naming is foreign too
    store = tmp_path / "s"
    record_activations(_model(), torch.randn(5, 3), "0", store=store)
    (store / "labels.npy").write_bytes(b"dropped in by the user")
    with pytest.raises(InvalidInputError, match=r"'labels.npy'"):
        record_activations(_model(), (torch.randn(5, 3), torch.arange(5)), "0", store=store)
    assert (store / "labels.npy").read_bytes() == b"dropped in by the user"
    assert Activations.load(store).n_inputs == 5  # the earlier store is intact


def test_symlinks_in_a_store_are_replaced_not_followed(tmp_path) -> None:
    import os

    store = tmp_path / "s"
    record_activations(_model(), torch.randn(5, 3), "0", store=store)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"keep")
    (store / "0000_0.f32").unlink()
    os.symlink(outside, store / "0000_0.f32")  # listed by the manifest, but a link elsewhere
    acts = record_activations(_model(), torch.randn(6, 3), "0", store=store)
    assert acts.n_inputs == 6 and not (store / "0000_0.f32").is_symlink()
    assert outside.read_bytes() == b"keep"
    os.symlink(tmp_path, store / "linked_dir")
    with pytest.raises(InvalidInputError, match="linked_dir"):
        record_activations(_model(), torch.randn(6, 3), "0", store=store)


def test_hostile_store_files_give_topolens_errors(tmp_path, monkeypatch) -> None:
    store = tmp_path / "s"
    record_activations(_model(), torch.randn(5, 3), "0", store=store)
    text = (store / "manifest.json").read_text()
    (store / "manifest.json").write_text("[" * 100_000)  # json recursion limit
    with pytest.raises(IntegrityError, match="RecursionError"):
        Activations.load(store)
    with pytest.raises(InvalidInputError, match="cannot read"):
        record_activations(_model(), torch.randn(5, 3), "0", store=store)
    (store / "manifest.json").write_text(text)

    def unreadable(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(np, "memmap", unreadable)
    monkeypatch.setattr(np, "fromfile", unreadable)
    for mmap in (True, False):
        with pytest.raises(IntegrityError, match=r"cannot read data file '0000_0.f32'.*PermissionError"):
            Activations.load(store, mmap=mmap)


@pytest.mark.parametrize("bad", [5, None, "", b"dir", ["a"]])
def test_directory_arguments_must_be_paths(tmp_path, bad) -> None:
    acts = Activations({"a": np.ones((3, 2))})
    with pytest.raises(InvalidInputError, match="directory must be a directory path"):
        Activations.load(bad)
    with pytest.raises(InvalidInputError, match="directory must be a directory path"):
        acts.save(bad)
    if bad is not None:  # store=None means "in memory"
        with pytest.raises(InvalidInputError, match="store must be a directory path"):
            record_activations(_model(), torch.randn(4, 3), store=bad)


@pytest.mark.parametrize("how", ["record", "save"])
def test_failed_replacement_leaves_no_orphans_and_the_folder_reusable(tmp_path, monkeypatch, how) -> None:
    from topolens.activations import _store

    store = tmp_path / "s"
    record_activations(_model(), (torch.randn(5, 3), torch.arange(5)), ["0", "2"], store=store)
    real = _store._write_npy

    def disk_full(directory, fname, arr):
        if fname == "labels.npy":
            raise OSError(28, "No space left on device")
        return real(directory, fname, arr)

    monkeypatch.setattr(_store, "_write_npy", disk_full)
    acts = Activations({"0": np.ones((4, 4))}, labels=[0, 1, 2, 3])
    with pytest.raises(OSError, match="No space left"):
        if how == "record":
            record_activations(_model(), (torch.randn(4, 3), torch.arange(4)), "0", store=store)
        else:
            acts.save(store)
    assert list(store.iterdir()) == []  # neither the old store's files nor half of the new one
    monkeypatch.setattr(_store, "_write_npy", real)
    assert record_activations(_model(), torch.randn(4, 3), "0", store=store).n_inputs == 4
