"""``topolens zoo ...`` end to end on a tiny grid (topolens.cli.zoo)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TINY_GRID
from topolens.cli.main import main

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
