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


RESNETISH = '''
import torch
from torch import nn


class ResNetish(nn.Module):
    """torchvision-style stem: 7x7 conv1 without bias, BatchNorm, max-pool; then a 3x3 block."""

    def __init__(self, width=4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        x = self.layer1(self.maxpool(torch.relu(self.bn1(self.conv1(x)))))
        return self.fc(x.mean((2, 3)))
'''


def test_models_from_other_packages_and_training_checkpoints(tmp_path, monkeypatch, capsys):
    (tmp_path / "r2_resnetish.py").write_text(RESNETISH)
    monkeypatch.syspath_prepend(str(tmp_path))
    from r2_resnetish import ResNetish

    out = tmp_path / "r"
    assert main(["-q", "filters", "--model", "r2_resnetish:ResNetish", "--out", str(out), *FAST]) == 0
    d = _numbers(out)
    assert d["filters"]["kernel_size"] == 7 and d["filters"]["n_filters"] == 4 * 3  # conv1: 4 out x 3 RGB slices
    assert "initial weights" in d["provenance"]["weights"]
    # checkpoints as a training loop saves them, and an nn.Sequential's state dict (layer "0")
    paths = []
    for epoch in range(2):
        torch.manual_seed(epoch)
        m = ResNetish()
        opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        m(torch.randn(2, 3, 16, 16)).sum().backward()
        opt.step()
        paths.append(tmp_path / f"epoch{epoch}.pt")
        torch.save({"epoch": epoch, "model_state_dict": m.state_dict(), "optimizer_state_dict": opt.state_dict(),
                    "loss": 0.5}, paths[-1])
    assert main(["-q", "filters", "--checkpoints", *map(str, paths), "--k", "5", "--out", str(tmp_path / "c"),
                 *FAST]) == 0
    d = _numbers(tmp_path / "c")
    assert d["filters"]["n_filters"] == 2 * 12 and d["filters"]["counts"][0]["layer"] == "conv1"
    text = capsys.readouterr().out
    assert "Z/2: dominant bars (b0, b1) = (" in text
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(1, 5, 3), torch.nn.ReLU()).state_dict(), tmp_path / "s.pt")
    assert main(["-q", "filters", "--checkpoints", str(tmp_path / "s.pt"), "--out", str(tmp_path / "s"), *FAST]) == 0
    assert _numbers(tmp_path / "s")["filters"]["counts"][0]["layer"] == "0"


def test_image_files_users_have_and_the_report_matches_the_numbers(tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "photos"
    folder.mkdir()
    ramp = np.add.outer(np.arange(40), 2 * np.arange(40)).astype(np.uint8)
    Image.fromarray(np.dstack([ramp, ramp.T, ramp])).save(folder / "a.jpg", quality=90)  # JPEG, RGB
    Image.fromarray(np.dstack([ramp, ramp, ramp, np.full_like(ramp, 200)])).save(folder / "b.png")  # RGBA
    Image.fromarray(rng.integers(0, 65535, size=(30, 30)).astype(np.uint16)).save(folder / "c.png")  # 16-bit
    out = tmp_path / "o"
    assert main(["-q", "filters", "--images", str(folder), "--n-per-image", "200", "--max-dim", "1",
                 "--landmarks", "40", "--out", str(out)]) == 0
    d = _numbers(out)
    assert d["provenance"]["images read"] == "3" and d["provenance"]["patches sampled"] == "600"
    html = (out / "filters.html").read_text()
    import re

    assert not re.search(r"(src|href)\s*=\s*[\"']?https?://", html)  # self-contained: nothing fetched
    assert f"{d['circle_share']:.3f}" in html and f"{d['circle_share_core']:.3f}" in html
    for field in ("Z/2", "Z/3"):
        b = d["persistence"][field]["dominant_betti"]
        assert "(" + ", ".join(map(str, b)) + ")" in html
    assert f"X(k={d['params']['k']}, p={d['params']['p']:g})" in html


@pytest.mark.parametrize("make, match", [
    (lambda t: (t / "trunc.pt").write_bytes(b"PK\x03\x04" + bytes(60)) and t / "trunc.pt", "not a readable PyTorch"),
    (lambda t: Image.fromarray(np.zeros((2, 2), np.uint8)).save(t / "tiny" / "a.png") or t / "tiny",
     "2x2 pixels, smaller than a 3x3 patch"),
])
def test_more_bad_inputs_are_one_line(tmp_path, make, match, capsys):
    (tmp_path / "tiny").mkdir()
    path = make(tmp_path)
    flag = "--checkpoints" if path.suffix == ".pt" else "--images"
    assert main(["-q", "filters", flag, str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err, err
