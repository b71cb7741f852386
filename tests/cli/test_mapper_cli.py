"""``topolens mapper`` end to end (topolens.cli.mapper)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from topolens.cli.main import main
from topolens.mapper import MapperGraph
from topolens.viz.mapper_html import validate_payload

from ..mapper.conftest import blobs
from ..test_cli import MODEL_FILE


def _payload(html: str) -> dict:
    start = html.index('<script type="application/json" id="payload">') + len(
        '<script type="application/json" id="payload">')
    return json.loads(html[start:html.index("</script>", start)])


def test_from_a_saved_array_with_labels_and_images(tmp_path, capsys):
    x, y = blobs(400, 6, 4, seed=1)
    np.save(tmp_path / "acts.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "img.npy", np.random.default_rng(0).uniform(size=(400, 8, 8)))
    out = tmp_path / "out"
    assert main(["mapper", "-q", "--activations", str(tmp_path / "acts.npy"), "--labels",
                 str(tmp_path / "y.npy"), "--images", str(tmp_path / "img.npy"),
                 "--intervals", "6", "--eps", "1.0", "--min-samples", "4", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "acts:" in text and "explorer written to" in text
    g = MapperGraph.load(out / "graphs" / "acts.json")
    assert g.params["eps"] == 1.0 and g.cover.n_sets == 6
    payload = _payload((out / "mapper.html").read_text())
    validate_payload(payload)
    assert len(payload["layers"][0]["nodes"]) == g.n_nodes
    assert payload["images"]["height"] == 8
    assert (out / "graphs" / "acts.graphml").exists()
    assert (out / "graphs" / "acts_nodes.csv").read_text().startswith("node,size,purity")


def test_from_a_model_and_the_bundled_sample(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["mapper", "-q", "--model", "topolens.models:SmallCNN", "--data", "mnist-sample",
                 "--max-inputs", "300", "--out", str(out)]) == 0
    assert "relu3:" in capsys.readouterr().out  # the penultimate layer by default
    payload = _payload((out / "mapper.html").read_text())
    assert payload["predictions"] is not None and payload["images"]["width"] == 28
    assert payload["labels"]["names"][:3] == ["0", "1", "2"]


def test_sweep_table(tmp_path, capsys):
    x, _ = blobs(300, 5, 3, seed=2)
    np.save(tmp_path / "a.npy", x)
    assert main(["mapper", "-q", "--activations", str(tmp_path / "a.npy"), "--sweep",
                 "--intervals", "5", "8", "--overlap", "0.2", "0.4", "--eps", "1.0",
                 "--out", str(tmp_path / "s")]) == 0
    text = capsys.readouterr().out
    assert text.count("\n| ") >= 5 and "(ref)" in text
    assert (tmp_path / "s" / "sweep_a.md").exists()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--intervals", "5", "8"], "one value unless --sweep"),
        (["--lens", "nope"], "unknown lens"),
        (["--noise", "singletons", "--eps", "-1"], "eps"),
    ],
)
def test_bad_arguments_are_one_clear_line(tmp_path, capsys, args, match):
    x, _ = blobs(100, 4, 2)
    np.save(tmp_path / "a.npy", x)
    rc = main(["mapper", "--activations", str(tmp_path / "a.npy"), *args, "--out", str(tmp_path / "o")])
    assert rc == 2
    assert match in capsys.readouterr().err


def test_no_source_and_nan_activations(tmp_path, capsys):
    assert main(["mapper", "--activations", str(tmp_path / "missing.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = np.ones((20, 3))
    bad[4, 1] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    assert main(["mapper", "--activations", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "o")]) == 2
    assert "NaN" in capsys.readouterr().err
    np.save(tmp_path / "empty.npy", np.zeros((20, 0)))
    assert main(["mapper", "--activations", str(tmp_path / "empty.npy"), "--out", str(tmp_path / "o")]) == 2
    assert "empty" in capsys.readouterr().err



def test_analyze_with_a_mapper_section(tmp_path, capsys):
    f = tmp_path / "m.py"
    f.write_text(MODEL_FILE)
    out = tmp_path / "rep"
    assert main(["-q", "analyze", "--model", f"{f}:make", "--data", "digits", "--max-inputs", "300",
                 "--layers", "1", "2", "--n-inputs", "200", "--n-neurons", "16", "--resamples", "1",
                 "--mapper", "2", "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "Mapper of activations" in html and "<iframe" in html
    payload = _payload((out / "mapper.html").read_text())
    assert payload["images"]["width"] == 8 and payload["labels"] is not None
    assert payload["predictions"] is not None  # as 'topolens mapper' gives them
    # the same run information as a report without --mapper, and the explorer knows what it maps
    assert "wall time: recording" in html and "input transform" in html
    assert "none given: the weights the model builds itself" in html
    assert "digits" in (out / "mapper.html").read_text()
    rc = main(["-q", "analyze", "--model", f"{f}:make", "--data", "digits", "--max-inputs", "100",
               "--layers", "1", "--mapper", "3", "--out", str(tmp_path / "r2")])
    assert rc == 2 and "--mapper" in capsys.readouterr().err


def test_the_explorer_names_the_weights_it_mapped(tmp_path, capsys):
    import hashlib

    import torch

    from topolens.models import SmallCNN

    weights = tmp_path / "w.pt"
    torch.manual_seed(0)
    torch.save(SmallCNN().state_dict(), weights)
    out = tmp_path / "m"
    assert main(["mapper", "-q", "--model", "topolens.models:SmallCNN", "--weights", str(weights),
                 "--data", "mnist-sample", "--max-inputs", "100", "--out", str(out)]) == 0
    html = (out / "mapper.html").read_text()
    assert hashlib.sha256(weights.read_bytes()).hexdigest() in html
    assert "mnist-sample" in html
