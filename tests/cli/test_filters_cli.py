"""``topolens filters`` and the filter section of ``topolens analyze``."""

import json

import numpy as np
import pytest
import torch

from topolens.cli.main import main
from topolens.models import SmallCNN

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

FAST = ["--landmarks", "30", "--max-dim", "1", "--no-mapper"]


def _numbers(out):
    assert (out / "filters.html").is_file()
    return json.loads((out / "filters.json").read_text())


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("w")
    paths = []
    for seed in range(2):
        torch.manual_seed(seed)
        p = d / f"seed{seed}.pt"
        torch.save(SmallCNN(c1=6, c2=2, hidden=4).state_dict(), p)
        paths.append(p)
    return paths


def test_model_with_weights(tmp_path, weights, capsys):
    out = tmp_path / "o"
    rc = main(["-q", "filters", "--model", "topolens.models:SmallCNN", "--model-kwargs", "c1=6", "c2=2",
               "hidden=4", "--weights", str(weights[0]), "--out", str(out), *FAST])
    assert rc == 0
    text = capsys.readouterr().out
    assert "6 learned filters (5x5)" in text and "filters.html" in text
    d = _numbers(out)
    assert d["filters"]["n_filters"] == 6 and d["filters"]["counts"][0]["layer"] == "conv1"  # first conv layer
    assert "sha256" in d["provenance"]["weights"]
    assert (weights[0]).is_file()  # inputs are never touched


def test_checkpoints_are_pooled(tmp_path, weights, capsys):
    out = tmp_path / "o"
    assert main(["-q", "filters", "--checkpoints", *map(str, weights), "--layer", "conv2", "--k", "5",
                 "--out", str(out), *FAST]) == 0
    d = _numbers(out)
    assert d["filters"]["n_filters"] == 2 * 2 * 6  # 2 checkpoints x 2 x 6 kernel slices of conv2
    assert d["filters"]["models"] == ["seed0.pt", "seed1.pt"] and d["n_core"] == 7
    assert "Z/2:" in capsys.readouterr().out


def test_images_from_npy_and_from_a_folder_of_pngs(tmp_path, capsys):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(3, 16, 16), dtype=np.uint8)
    np.save(tmp_path / "imgs.npy", imgs)
    assert main(["-q", "filters", "--images", str(tmp_path / "imgs.npy"), "--n-per-image", "100",
                 "--out", str(tmp_path / "o1"), *FAST]) == 0
    d = _numbers(tmp_path / "o1")
    assert d["kind"] == "image patches" and d["filters"]["n_filters"] == 60  # 20% of 3 x 100
    folder = tmp_path / "pngs"
    folder.mkdir()
    Image.fromarray(imgs[0]).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 256, size=(12, 14, 3), dtype=np.uint8)).save(folder / "b.PNG")
    Image.fromarray(imgs[2]).convert("P").save(folder / "c.png")  # palette: read as RGB
    (folder / "notes.txt").write_text("not an image")
    assert main(["-q", "filters", "--images", str(folder), "--out", str(tmp_path / "o2"), *FAST]) == 0
    d = _numbers(tmp_path / "o2")
    positions = 14 * 14 + 10 * 12 + 14 * 14  # every position (fewer than --n-per-image)
    assert d["provenance"]["images read"] == "3" and d["provenance"]["patches sampled"] == str(positions)
    assert d["filters"]["n_filters"] == round(0.2 * positions)


@pytest.mark.parametrize("make_args, match", [
    (lambda t, w: ["--model", "torch.nn:Linear", "--model-kwargs", "in_features=3", "out_features=2"],
     "no Conv2d layer"),
    (lambda t, w: ["--checkpoints", str(w[0]), "--layer", "conv9"], "no conv layer 'conv9'"),
    (lambda t, w: ["--checkpoints", str(w[0]), "--layer", "fc1"], "'fc1'"),
    (lambda t, w: ["--images", str(t / "empty")], "holds no PNG or JPEG"),
    (lambda t, w: ["--images", str(t / "bad")], "cut.png (OSError: image file is truncated)"),
    (lambda t, w: [], "give one of --model"),
    (lambda t, w: ["--checkpoints", str(w[0]), "--images", str(t / "empty")], "give one source"),
    (lambda t, w: ["--checkpoints", str(t / "missing.pt")], "does not exist"),
])
def test_errors_are_one_line(tmp_path, weights, capsys, make_args, match):
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(bad / "ok.png")
    data = (tmp_path / "x.png")
    Image.fromarray(np.arange(400, dtype=np.uint8).reshape(20, 20)).save(data)
    (bad / "cut.png").write_bytes(data.read_bytes()[:-40])  # truncated PNG
    rc = main(["-q", "filters", *make_args(tmp_path, weights), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("topolens filters: error:"), err
    assert match in err


def test_analyze_adds_the_filter_section_unless_told_not_to(tmp_path, weights, capsys):
    common = ["-q", "analyze", "--model", "topolens.models:SmallCNN", "--model-kwargs", "c1=6", "c2=2", "hidden=4",
              "--weights", str(weights[0]), "--max-inputs", "40", "--n-inputs", "30", "--n-neurons", "20",
              "--resamples", "1", "--layers", "fc1"]
    assert main([*common, "--out", str(tmp_path / "with")]) == 0
    html = (tmp_path / "with" / "report.html").read_text()
    assert "Topology of the convolution filters (conv1)" in html and "Persistence diagram of the core" in html
    assert main([*common, "--no-filters", "--out", str(tmp_path / "without")]) == 0
    assert "Topology of the convolution filters" not in (tmp_path / "without" / "report.html").read_text()
