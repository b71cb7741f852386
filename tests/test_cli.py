import subprocess
import sys

import numpy as np
import pytest
import torch

from topolens import PersistenceDiagrams
from topolens.cli.main import build_parser, load_model, main

from .conftest import relu_activations

COMMANDS = ["demo", "analyze", "persistence", "layers", "info", "mapper", "filters"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_for_every_subcommand(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([cmd, "--help"])
    assert exc.value.code == 0
    assert "usage: topolens" in capsys.readouterr().out


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "topolens", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and all(c in out.stdout for c in COMMANDS)


def test_persistence_command(tmp_path, capsys):
    np.save(tmp_path / "a.npy", relu_activations(100, 30))
    assert main(["persistence", str(tmp_path / "a.npy"), "--out", str(tmp_path / "d.npz")]) == 0
    assert "H1:" in capsys.readouterr().out
    d = PersistenceDiagrams.load(tmp_path / "d.npz")
    assert d.metadata["dissimilarity"] == "abs_correlation" and len(d[0]) == 30


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.full((5, 4), np.nan))
    assert main(["persistence", str(tmp_path / "bad.npy")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("topolens persistence: error:") and "NaN" in err


def test_bad_threshold_rejected_by_parser():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["persistence", "x.npy", "--threshold", "half"])


MODEL_FILE = """
import torch.nn as nn
def make():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
"""


def test_layers_and_analyze_with_safe_weights(tmp_path, capsys):
    f = tmp_path / "m.py"
    f.write_text(MODEL_FILE)
    assert main(["layers", "--model", f"{f}:make"]) == 0
    assert "Linear" in capsys.readouterr().out
    model = load_model(f"{f}:make")
    torch.save(model.state_dict(), tmp_path / "w.pt")
    out = tmp_path / "rep"
    rc = main(["-q", "analyze", "--model", f"{f}:make", "--weights", str(tmp_path / "w.pt"),
               "--data", "digits", "--max-inputs", "300", "--layers", "1", "2",
               "--n-inputs", "200", "--n-neurons", "16", "--resamples", "2", "--out", str(out),
               "--store", str(tmp_path / "acts")])
    assert rc == 0
    # the stored activations can be analysed again without the model
    assert main(["-q", "analyze", "--activations", str(tmp_path / "acts"), "--layers", "2",
                 "--n-neurons", "16", "--resamples", "1", "--out", str(tmp_path / "rep2")]) == 0
    assert (tmp_path / "rep2" / "report.html").exists()
    html = (out / "report.html").read_text()
    assert "Activation topology" in html and "<script>" not in html
    assert len(list((out / "diagrams").glob("*.npz"))) == 6  # layers 1, 2 and all, x2


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_untrusted_checkpoint_refused(tmp_path, capsys):
    f = tmp_path / "m.py"
    f.write_text(MODEL_FILE)
    torch.save({"state_dict": _Evil()}, tmp_path / "evil.pt")
    rc = main(["analyze", "--model", f"{f}:make", "--weights", str(tmp_path / "evil.pt"), "--data", "digits"])
    err = capsys.readouterr()
    assert rc == 2 and "weights_only=True" in err.err and "pwned" not in err.out


def test_unknown_layer_lists_available(tmp_path, capsys):
    f = tmp_path / "m.py"
    f.write_text(MODEL_FILE)
    rc = main(["-q", "analyze", "--model", f"{f}:make", "--data", "digits", "--layers", "nope",
               "--out", str(tmp_path / "r")])
    assert rc == 2 and "nope" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--out", str(out), "--epochs", "1", "--n-inputs", "300",
                 "--n-neurons", "100", "--resamples", "2"]) == 0
    html = (out / "report.html").read_text()
    assert "report written to" in capsys.readouterr().out
    for needle in ("Training", "Activation topology", "pool1", "relu3", "all", "data:image/png;base64,",
                   "Mapper of activations", "Largest nodes of relu3", "<iframe"):
        assert needle in html
    assert "http://" not in html and "https://" not in html
    assert (out / "mapper.html").exists() and (out / "graphs" / "relu3.json").exists()
    # every resample draws its own inputs, so the demo's resamples are real ones
    assert "all resamples would be identical" not in html
    assert len(list((out / "diagrams").glob("fc2_resample*.npz"))) == 2


def test_quiet_after_subcommand_and_clear_load_errors(tmp_path, capsys):
    assert main(["info", "-q"]) == 0
    assert main(["persistence", str(tmp_path / "missing.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["analyze", "--model", "no_such_module_xyz:f"]) == 2
    assert "could not import" in capsys.readouterr().err


def test_analyze_with_a_graph_section(tmp_path, capsys):
    f = tmp_path / "m.py"
    f.write_text(MODEL_FILE)
    out = tmp_path / "rep"
    rc = main(["-q", "analyze", "--model", f"{f}:make", "--data", "digits", "--max-inputs", "200",
               "--layers", "2", "--n-inputs", "100", "--n-neurons", "16", "--resamples", "1",
               "--graphs", "2", "--out", str(out)])
    assert rc == 0
    html = (out / "report.html").read_text()
    assert "Neural persistence per layer" in html and "FGSM" in html
    assert html.count("data:image/png") >= 3  # the two inputs and the adversarial one
    rc = main(["-q", "analyze", "--activations", str(tmp_path), "--graphs", "1", "--out", str(out)])
    assert rc == 2 and "--graphs needs the model" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "match"), [
    (["analyze", "--max-inputs", "-3"], "--max-inputs: must be at least 1"),
    (["analyze", "--max-inputs", "0"], "--max-inputs: must be at least 1"),
    (["analyze", "--n-neurons", "0"], "--n-neurons: must be at least 1"),
    (["analyze", "--resamples", "x"], "--resamples: expected an integer"),
    (["analyze", "--expected-accuracy", "99"], "--expected-accuracy: must lie in"),
    (["mapper", "--max-inputs", "-1"], "--max-inputs: must be at least 1"),
    (["demo", "--epochs", "0"], "--epochs: must be at least 1"),
    (["zoo", "train", "g.yaml", "--out", "z", "--jobs", "0"], "--jobs: must be a positive"),
])
def test_numbers_are_range_checked_when_parsing(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert match in capsys.readouterr().err


def test_two_neurons_and_provenance(tmp_path, capsys):
    import hashlib

    f = tmp_path / "m.py"
    f.write_text(MODEL_FILE)
    torch.save(load_model(f"{f}:make").state_dict(), tmp_path / "w.pt")
    out = tmp_path / "rep"
    assert main(["-q", "analyze", "--model", f"{f}:make", "--weights", str(tmp_path / "w.pt"),
                 "--data", "digits", "--max-inputs", "120", "--layers", "2", "--n-inputs", "100",
                 "--n-neurons", "2", "--resamples", "1", "--expected-accuracy", "0.95",
                 "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    digest = hashlib.sha256((tmp_path / "w.pt").read_bytes()).hexdigest()
    assert digest in html and str((tmp_path / "w.pt").resolve()) in html
    assert "digits" in html and "expected accuracy" in html.lower()
    dg = PersistenceDiagrams.load(next((out / "diagrams").glob("2_*.npz")))
    assert len(dg[0]) == 2  # two neurons: two H0 classes


def test_bad_out_is_refused_before_recording(tmp_path, capsys):
    f = tmp_path / "m.py"
    f.write_text(MODEL_FILE)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (blocker, blocker / "rep"):
        rc = main(["-q", "analyze", "--model", f"{f}:make", "--data", "digits", "--out", str(out)])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and "--out" in err


@pytest.mark.parametrize(("argv", "match"), [
    (["analyze", "--model", "os:system"], "builtin"),
    (["analyze", "--model", "builtins:exit"], "builtin"),
    (["analyze", "--model", "topolens.models:SmallCNN", "--transform", "builtins:print"], "builtin"),
    (["analyze", "--model", "topolens.models:SmallCNN", "--normalize", "0.1", "-1"], "positive"),
    (["zoo", "train", "no-such-grid.yaml", "--out", "z"], "does not exist"),
])
def test_user_errors_are_one_line_in_a_real_process(tmp_path, argv, match):
    res = subprocess.run([sys.executable, "-m", "topolens", *argv, *(["--out", "r"] if argv[0] == "analyze" else [])],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and match in lines[0], res.stderr


def test_a_multi_line_message_is_printed_as_one_error_line(tmp_path, capsys):
    # the data sets' "not found" message lists the files it looked for, one per line
    rc = main(["analyze", "-q", "--model", "torch.nn:Flatten", "--data", "mnist", "--data-root",
               str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("topolens analyze: error:"), err
    assert "not found" in err and "train-images" in err
