"""Output folders and files: checked before the work, stale files cleaned (topolens.cli._output)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from topolens import PersistenceDiagrams
from topolens.cli._output import MANIFEST, OutputFolder, check_output_file
from topolens.cli.main import main
from topolens.exceptions import InvalidInputError

from ..conftest import relu_activations
from ..mapper.conftest import blobs


def _write(folder, rel, text="x"):
    p = folder / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_stale_files_of_the_previous_run_are_removed_and_nothing_else(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out, command="t"):
        _write(out, "report.html")
        _write(out, "diagrams/a.npz")
        _write(out, "diagrams/b.npz")
        _write(out, "graphs/old.json")
    _write(out, "notes.txt", "the user's own file")  # added later: not topolens'
    with OutputFolder(out, command="t"):
        _write(out, "report.html", "new")
        _write(out, "diagrams/a.npz", "new")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        MANIFEST, "diagrams/a.npz", "notes.txt", "report.html"]
    assert not (out / "graphs").exists()  # emptied folders go too
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["status"] == "done" and manifest["files"] == ["diagrams/a.npz", "report.html"]
    assert manifest["foreign"] == ["notes.txt"]


def test_a_failed_run_keeps_the_old_files_and_a_killed_run_is_cleaned_next_time(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out, command="t"):
        _write(out, "old.html")
    with pytest.raises(RuntimeError), OutputFolder(out, command="t"):
        _write(out, "partial.npz")
        raise RuntimeError("boom")
    assert (out / "old.html").exists() and (out / "partial.npz").exists()
    folder = OutputFolder(out, command="t").prepare()  # killed: finish() never runs
    _write(out, "killed.npz")
    del folder
    with OutputFolder(out, command="t"):
        _write(out, "fresh.html")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "fresh.html"]


def test_foreign_folders_files_and_unwritable_paths_are_refused(tmp_path):
    foreign = tmp_path / "mine"
    _write(foreign, "thesis.tex")
    with pytest.raises(InvalidInputError, match=r"did not write.*thesis\.tex"):
        OutputFolder(foreign, command="t").prepare()
    assert (foreign / "thesis.tex").exists() and not (foreign / MANIFEST).exists()
    f = _write(tmp_path, "afile")
    with pytest.raises(InvalidInputError, match="is an existing file"):
        OutputFolder(f, command="t").prepare()
    with pytest.raises(InvalidInputError, match="cannot create"):
        OutputFolder(f / "sub", command="t").prepare()
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(InvalidInputError, match="not writable"):
                OutputFolder(ro, command="t").prepare()
        finally:
            ro.chmod(0o700)


def test_inputs_inside_the_folder_are_never_removed(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out, command="t"):
        _write(out, "acts/layer.npy")
        _write(out, "report.html")
    with OutputFolder(out, command="t", protect=[out / "acts"]):
        _write(out, "report.html", "new")
    assert (out / "acts" / "layer.npy").exists()


@pytest.mark.parametrize("status", ["done", "running"])
def test_a_hand_made_manifest_deletes_nothing(tmp_path, status):
    victim = _write(tmp_path, "victim", "precious")
    outside = _write(tmp_path, "elsewhere/v.txt", "precious")
    out = tmp_path / "out"
    mine = _write(out, "thesis.tex", "the user's own file")
    os.utime(mine, (mine.stat().st_atime - 3600, mine.stat().st_mtime - 3600))  # older than the manifest
    os.symlink(outside.parent, out / "link")
    os.symlink(victim, out / "flink")
    listed = ["../victim", str(victim), "link/v.txt", "flink", "sub/../../victim", "thesis.tex"]
    (out / MANIFEST).write_text(json.dumps({"format": "topolens-output", "version": 1,
                                            "status": status, "files": listed, "foreign": []}))
    for _ in range(2):
        with OutputFolder(out, command="t"):
            _write(out, "report.html", "new")
    assert victim.read_text() == outside.read_text() == "precious" and mine.exists()
    assert (out / "link").is_symlink() and (out / "flink").is_symlink()
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["files"] == ["report.html"] and "thesis.tex" in manifest["foreign"]


def test_a_file_changed_since_topolens_wrote_it_is_kept(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out, command="t"):
        _write(out, "report.html")
        _write(out, "summary.md", "topolens'")
    _write(out, "summary.md", "now the user's notes, much longer")  # edited in place
    with OutputFolder(out, command="t"):
        _write(out, "report.html", "new")
    assert (out / "summary.md").read_text().startswith("now the user's")
    assert json.loads((out / MANIFEST).read_text())["foreign"] == ["summary.md"]


def test_output_files(tmp_path):
    assert check_output_file(tmp_path, default_name="x.npz") == tmp_path / "x.npz"
    assert check_output_file(tmp_path / "d", default_name="x.npz", suffix=".npz") == tmp_path / "d.npz"
    assert check_output_file(str(tmp_path / "new") + "/", default_name="x.npz") == tmp_path / "new" / "x.npz"
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(InvalidInputError, match="not a file"):
        check_output_file(tmp_path / "dir", default_name="x.npz", suffix=".npz")
    with pytest.raises(InvalidInputError, match="is a file, not a folder"):
        check_output_file(_write(tmp_path, "f") / "x.npz", default_name="x.npz")


def test_persistence_out_folder_writes_inside_and_bad_out_fails_first(tmp_path, capsys):
    np.save(tmp_path / "acts.npy", relu_activations(60, 12))
    folder = tmp_path / "dgms"
    folder.mkdir()
    assert main(["persistence", str(tmp_path / "acts.npy"), "--out", str(folder)]) == 0
    assert PersistenceDiagrams.load(folder / "acts.npz").max_dim == 1
    assert not (tmp_path / "dgms.npz").exists()
    capsys.readouterr()
    blocker = _write(tmp_path, "blocker")
    assert main(["persistence", str(tmp_path / "acts.npy"), "--out", str(blocker / "d.npz")]) == 2
    err = capsys.readouterr()
    assert "error:" in err.err and "H0:" not in err.out  # refused before computing


def test_cli_out_naming_a_file_or_a_foreign_folder(tmp_path, capsys):
    x, _ = blobs(80, 4, 2)
    np.save(tmp_path / "a.npy", x)
    f = _write(tmp_path, "report")
    for out in (f, tmp_path):  # tmp_path holds a.npy: not a topolens folder
        rc = main(["mapper", "-q", "--activations", str(tmp_path / "a.npy"), "--out", str(out)])
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("topolens mapper: error:") and err.count("\n") == 1


def test_rerunning_mapper_with_other_layers_leaves_no_stale_graph(tmp_path, capsys):
    x, _ = blobs(200, 5, 3, seed=1)
    np.save(tmp_path / "first.npy", x)
    np.save(tmp_path / "second.npy", x[:, ::-1].copy())
    out = tmp_path / "out"
    args = ["mapper", "-q", "--intervals", "5", "--eps", "1.0", "--out", str(out)]
    assert main([*args, "--activations", str(tmp_path / "first.npy")]) == 0
    assert (out / "graphs" / "first.json").exists()
    assert main([*args, "--activations", str(tmp_path / "second.npy")]) == 0
    names = sorted(p.name for p in (out / "graphs").iterdir())
    assert names == ["second.graphml", "second.json", "second_nodes.csv"]


def test_a_failed_run_into_a_new_folder_leaves_no_folder(tmp_path):
    out = tmp_path / "new" / "deeper"
    with pytest.raises(RuntimeError), OutputFolder(out, command="test"):
        raise RuntimeError("the run failed before writing anything")
    assert not (tmp_path / "new").exists()
    # a folder that existed is kept (with its manifest), and one the failed run wrote into is kept
    old = tmp_path / "old"
    old.mkdir()
    with pytest.raises(RuntimeError), OutputFolder(old, command="test"):
        raise RuntimeError("failed")
    assert old.is_dir()
    out = tmp_path / "partial"
    with pytest.raises(RuntimeError), OutputFolder(out, command="test"):
        (out / "half.txt").write_text("x")
        raise RuntimeError("failed")
    assert (out / "half.txt").is_file() and (out / MANIFEST).is_file()
