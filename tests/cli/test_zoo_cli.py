"""``topolens zoo ...`` end to end on a tiny grid (topolens.cli.zoo)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import TINY_GRID
from topolens.cli.main import main
from topolens.zoo import Zoo, read_record

FEAT = ["--n-inputs", "100", "--n-neurons", "8", "--resamples", "2", "-q"]


@pytest.fixture
def grid_file(tmp_path):
    p = tmp_path / "grid.json"
    p.write_text(json.dumps(TINY_GRID))
    return p


def test_train_features_predict_report(grid_file, tmp_path, capsys):
    zoo = tmp_path / "zoo"
    assert main(["zoo", "train", str(grid_file), "--out", str(zoo), "-q"]) == 0
    assert "4 models" in capsys.readouterr().out
    assert main(["zoo", "features", str(zoo), *FEAT]) == 0
    out = capsys.readouterr().out
    csv_path = next(zoo.glob("features/*/features.csv"))
    assert str(csv_path) in out
    lines = csv_path.read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("model_id,gap,depth,label_noise,topo_H0_")
    scores = tmp_path / "scores.json"
    assert main(["zoo", "predict", str(zoo), *FEAT, "--json", str(scores)]) == 0
    out = capsys.readouterr().out
    assert "| topology |" in out and "| mean_gap |" in out
    assert {r["predictor"] for r in json.loads(scores.read_text())["predictors"]} >= {"topology", "margin"}
    rep = tmp_path / "rep"
    assert main(["zoo", "report", str(zoo), *FEAT, "--out", str(rep)]) == 0
    html = (rep / "zoo-report.html").read_text()
    assert "Generalization-gap prediction" in html and "data:image/png;base64," in html


def test_bad_grid_is_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("hyperparameters: {depth: [1], widht: 3}\n")
    assert main(["zoo", "train", str(bad), "--out", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err
    assert "widht" in err and "known ones" in err and "Traceback" not in err
    assert main(["zoo", "predict", str(tmp_path / "missing"), *FEAT]) == 2
    assert "is not a zoo" in capsys.readouterr().err


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err, err
    return err


def test_grid_files_that_cannot_be_read(tmp_path, capsys):
    out = str(tmp_path / "z")
    assert main(["zoo", "train", str(tmp_path / "missing.yaml"), "--out", out]) == 2
    assert "does not exist" in _error_line(capsys)
    assert main(["zoo", "train", str(tmp_path), "--out", out]) == 2
    assert "is a folder" in _error_line(capsys)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\nhyperparameters: {depth: 1}\n".encode("latin-1"))
    assert main(["zoo", "train", str(latin), "--out", out]) == 2
    assert "not UTF-8" in _error_line(capsys)
    for text in ("hyperparameters: !!python/object/apply:os.system ['echo pwned']\n",
                 "hyperparameters:\n  depth: [1\n  width: 2\n"):  # YAML's errors span lines
        (tmp_path / "y.yaml").write_text(text)
        assert main(["zoo", "train", str(tmp_path / "y.yaml"), "--out", out]) == 2
        assert "at line" in _error_line(capsys)
    assert main(["zoo", "predict", str(latin), *FEAT]) == 2  # a file, not a zoo folder
    assert "not a zoo folder" in _error_line(capsys)


@pytest.mark.parametrize("jobs", ["0", "-2", "two"])
def test_bad_jobs_are_refused_when_parsing(grid_file, tmp_path, capsys, jobs):
    with pytest.raises(SystemExit) as exc:
        main(["zoo", "train", str(grid_file), "--out", str(tmp_path / "z"), "--jobs", jobs])
    assert exc.value.code == 2
    assert "--jobs" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()


def _grid(tmp_path, hp, **top):
    p = tmp_path / "g.json"
    p.write_text(json.dumps({"dataset": "mnist_sample", "n_test": 100, **top, "hyperparameters": hp}))
    return str(p)


def test_absurd_widths_and_huge_grids_are_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "z"
    t0 = time.perf_counter()
    assert main(["zoo", "train", _grid(tmp_path, {"width": 10**9, "epochs": 1}), "--out", str(out)]) == 2
    err = _error_line(capsys)
    assert "GiB" in err and "width" in err and not (out / "models").exists()
    hp = {name: list(range(1, 21)) for name in ("depth", "width", "batch_size", "epochs", "seed",
                                                 "train_size")}
    hp["label_noise"] = [i / 20 for i in range(20)]  # 20^7 configs
    assert main(["zoo", "train", _grid(tmp_path, hp), "--out", str(out)]) == 2
    err = _error_line(capsys)
    assert "1,280,000,000 configs" in err and "sampling: random" in err
    assert time.perf_counter() - t0 < 30


def test_a_bad_out_fails_before_training(grid_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (blocker, blocker / "zoo"):
        assert main(["zoo", "train", str(grid_file), "--out", str(out), "-q"]) == 2
        _error_line(capsys)
    assert main(["zoo", "report", str(tmp_path / "nozoo"), "--out", str(blocker), *FEAT]) == 2
    assert "existing file" in _error_line(capsys)
    assert main(["zoo", "predict", str(tmp_path / "nozoo"), *FEAT, "--json", str(blocker / "s.json")]) == 2
    assert "is a file, not a folder" in _error_line(capsys)


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="scans /proc for the workers")
def test_workers_stop_when_the_parent_is_killed(tmp_path):
    grid = _grid(tmp_path, {"depth": [1, 2], "width": [32, 48, 64], "epochs": 4, "train_size": 3000,
                            "batch_size": 32})
    zoo = tmp_path / "zoo"
    proc = subprocess.Popen([sys.executable, "-m", "topolens", "zoo", "train", grid, "--out", str(zoo),
                             "--jobs", "2", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not list(zoo.glob("models/*/record.json")):  # workers are mid-training now
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no model finished in time"
            time.sleep(0.05)
        workers = _children(proc.pid)
        assert len(workers) >= 2
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        t0 = time.monotonic()
        while any(_alive(w) for w in workers) and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)], "workers outlived their parent"
        assert time.monotonic() - t0 < 5
    finally:
        for w in _children(proc.pid):
            os.kill(w, signal.SIGKILL)
        proc.kill()
    records = sorted(zoo.glob("models/*/record.json"))
    time.sleep(1.0)
    assert sorted(zoo.glob("models/*/record.json")) == records  # nobody writes any more
    for r in records:  # every record on disk is whole
        read_record(r.parent)
    assert len(records) < 6
    assert main(["zoo", "train", grid, "--out", str(zoo), "-q"]) == 0  # resumes
    assert len(Zoo.load(zoo)) == 6 and not list(zoo.glob("models/*/.*.tmp"))


def test_import_pgdl_then_predict_and_report(tmp_path, capsys):
    from tests.zoo.test_import_pgdl import SIX
    from tests.zoo.test_pgdl import make_task

    root, zoo = tmp_path / "pgdl", tmp_path / "zoo"
    make_task(root, layout="sample", id_style="prefixed", archs=SIX, sizes=(40, 20))
    before = sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*"))
    assert main(["zoo", "import-pgdl", str(root), "--task", "task9", "--out", str(zoo), "-q"]) == 0
    out = capsys.readouterr().out
    assert "6 models of PGDL task9" in out and "(6 imported, 0 already there)" in out and "gap min" in out
    assert main(["zoo", "import-pgdl", str(root), "--task", "task9", "--out", str(zoo), "-q",
                 "--models", "model_1", "--no-verify"]) == 0
    assert "6 models of PGDL task9" in (out := capsys.readouterr().out) and "(0 imported, 1 already there)" in out
    assert sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*")) == before  # ROOT only read
    feat = ["--n-inputs", "30", "--n-neurons", "8", "--resamples", "2", "--layers", "conv2d__act",
            "dense__act", "-q"]
    scores = tmp_path / "scores.json"
    assert main(["zoo", "predict", str(zoo), *feat, "--repeats", "2", "--json", str(scores)]) == 0
    assert "| topology |" in capsys.readouterr().out
    assert {r["predictor"] for r in json.loads(scores.read_text())["predictors"]} >= {"topology", "margin"}
    rep = tmp_path / "rep"
    assert main(["zoo", "report", str(zoo), *feat, "--repeats", "2", "--out", str(rep)]) == 0
    html = (rep / "zoo-report.html").read_text()
    assert "PGDL task9" in html and "pgdl:task9" in html
    assert (root / "task9").is_dir()  # the report's OutputFolder never touches ROOT


def test_import_pgdl_errors_are_one_line(tmp_path, capsys, grid_file):
    from tests.zoo.test_pgdl import make_task

    make_task(tmp_path / "pgdl")
    zoo = tmp_path / "zoo"
    assert main(["zoo", "import-pgdl", str(tmp_path / "pgdl"), "--task", "task9", "--out", str(zoo), "-q"]) == 0
    capsys.readouterr()
    assert main(["zoo", "train", str(grid_file), "--out", str(zoo), "-q"]) == 2  # no grid models in it
    err = capsys.readouterr().err
    assert "imported from pgdl task 'task9'" in err and "another --out" in err and "Traceback" not in err
    assert main(["zoo", "import-pgdl", str(tmp_path / "pgdl"), "--task", "task5", "--out", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err
    assert "'task5' not found" in err and "task9" in err and "Traceback" not in err
    assert main(["zoo", "import-pgdl", str(tmp_path / "pgdl"), "--task", "task9", "--out",
                 str(tmp_path / "pgdl"), "-q"]) == 2
    assert "inside the task folder" in capsys.readouterr().err
