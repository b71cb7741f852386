"""Tests of topolens.pipeline: the report explains itself (provenance, accuracy warnings,
how-to-read boxes, no empty cells)."""

from __future__ import annotations

import hashlib
import logging
import re

import numpy as np
import pytest
import torch
from torch import nn

from topolens import record_activations
from topolens.pipeline import (
    NEAR_CHANCE_FACTOR,
    _parse_accuracy,
    accuracy_warnings,
    analyze_activations,
    model_accuracy,
)

N_CLASSES = 10


def _blobs(n: int = 400, d: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Ten well separated Gaussian classes: a trained MLP gets them nearly all right."""
    g = np.random.default_rng(seed)
    centres = g.normal(size=(N_CLASSES, d)) * 4
    y = g.integers(0, N_CLASSES, n)
    x = centres[y] + g.normal(size=(n, d))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y)


def _mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(),
                         nn.Linear(16, N_CLASSES))


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def _predictions(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).argmax(1).numpy()


def _report(tmp_path, model, x, y, name, **kw):
    acts = record_activations(model, (x, y), ["1", "3"], progress=False)
    res = analyze_activations(acts, out=tmp_path / name, n_inputs=None, n_neurons=None,
                              n_resamples=1, max_dim=1, progress=False,
                              predictions=_predictions(model, x), **kw)
    return res, res.report_path.read_text()


@pytest.fixture(scope="module")
def data():
    return _blobs()


def test_near_chance_model_gets_a_warning_box_and_a_log_warning(tmp_path, data, caplog):
    x, _ = data
    y = torch.tensor(np.random.default_rng(9).integers(0, N_CLASSES, len(x)))  # unrelated labels
    with caplog.at_level(logging.WARNING, logger="topolens.pipeline"):
        res, html = _report(tmp_path, _mlp(1).eval(), x, y, "random")
    acc = model_accuracy(y.numpy(), _predictions(_mlp(1), x))
    assert acc["accuracy"] < NEAR_CHANCE_FACTOR / N_CLASSES  # the premise: untrained = chance
    assert len(res.warnings) == 1 and "near chance" in res.warnings[0]
    assert "--normalize" in res.warnings[0] and "--transform" in res.warnings[0]
    assert 'class="tl-callout tl-callout-warning"' in html and "near chance" in html
    assert any("near chance" in r.getMessage() for r in caplog.records)


def test_good_model_has_no_warning_and_states_its_accuracy(tmp_path, data, caplog):
    x, y = data
    model = _train(_mlp(2), x, y)
    pred = _predictions(model, x)
    truth = float((pred == y.numpy()).mean())
    assert truth > 0.9
    with caplog.at_level(logging.WARNING, logger="topolens.pipeline"):
        res, html = _report(tmp_path, model, x, y, "good", provenance={
            "weights": "model.pt", "weights sha256": hashlib.sha256(b"w").hexdigest(),
            "data": "blobs", "split": "test", "expected accuracy": f"{truth:.2f}"})
    assert res.warnings == [] and "tl-callout-warning" not in html
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "accuracy" in r.getMessage()]
    assert res.info["accuracy on recorded inputs"] == pytest.approx(truth, abs=1e-4)
    # provenance: weights and hash, data and split, accuracy with counts, layers, times, versions
    assert hashlib.sha256(b"w").hexdigest() in html and "model.pt" in html
    assert re.search(r"<th scope=\"row\">split</th>\s*<td>test</td>", html)
    assert f"{truth:.4f} ({int((pred == y.numpy()).sum())} of {len(y)} recorded inputs" in html
    assert "Recorded layers" in html and "(32,)" in html and "(16,)" in html
    assert "wall time: total" in html and "wall time: Activation topology" in html
    assert "torch version" in html and "numpy version" in html


def test_far_below_expected_accuracy_warns(tmp_path, data):
    """The third-party-model case: trained on normalised inputs, given raw ones."""
    x, y = data
    model = _train(_mlp(3), x, y)
    train_acc = float((_predictions(model, x) == y.numpy()).mean())
    raw = x + 8.0  # the inputs before the normalisation (centring) the model was trained with
    res, html = _report(tmp_path, model, raw, y, "drop",
                        provenance={"expected accuracy": f"{100 * train_acc:.0f}%"})
    acc = res.info["accuracy on recorded inputs"]
    assert acc < train_acc - 0.1  # the premise
    assert any("points below the expected" in w for w in res.warnings)
    assert "tl-callout-warning" in html and f"{train_acc:.4f}" in html
    # the same model on the inputs it expects: no warning
    res, _ = _report(tmp_path, model, x, y, "ok", provenance={"expected accuracy": f"{train_acc:.4f}"})
    assert res.warnings == []


def test_no_empty_cell_and_how_to_read_in_every_section(tmp_path, data):
    x, y = data
    _, html = _report(tmp_path, _train(_mlp(4), x, y), x, y, "cells")
    assert re.search(r"<td[^>]*>\s*</td>", html) is None
    assert "none (full filtration)" in html  # threshold None spelled out
    assert re.search(r"<th scope=\"row\">layers</th>\s*<td>all</td>", html)  # layers None: all
    n_sections = html.count('<section id="sec-')
    assert n_sections >= 2 and html.count("How to read this") == n_sections
    # the barcode spans the page (not a third of it)
    assert html.count("tl-figure tl-wide") == 3  # layers 1, 3 and "all"


def test_accuracy_helpers():
    assert model_accuracy(None, [1]) is None and model_accuracy([1, 2], [1]) is None
    assert model_accuracy(np.array(["a", "b"]), np.array([0, 1])) is None
    acc = model_accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]))
    assert acc == {"accuracy": 0.75, "n_correct": 3, "n_inputs": 4, "n_classes": 3, "chance": 1 / 3}
    assert accuracy_warnings(acc) == []
    assert accuracy_warnings({**acc, "accuracy": 0.4})  # < 1.5 / 3
    assert accuracy_warnings(acc, expected=0.86) and not accuracy_warnings(acc, expected=0.85)
    assert accuracy_warnings(None, expected=1.0) == []
    assert [_parse_accuracy(v) for v in ("0.99", "99%", "99", 0.5, "x", None, "-1", "150")] == \
        [0.99, 0.99, 0.99, 0.5, None, None, None, None]


def test_report_numbers_agree_with_their_labels(tmp_path, data):
    """Regressions from reading a rendered report: the "all" group was missing from
    n_resamples_computed; the barcode caption said shorter bars were left out when every bar
    was drawn; the total wall time is the sum of the listed parts (not the process's)."""
    x, y = data
    res, html = _report(tmp_path, _train(_mlp(5), x, y), x, y, "labels")
    assert set(res.diagrams.params["n_resamples_computed"]) == {"1", "3", "all"}
    assert "wall time: total of the parts above" in html
    # 32 and 16 neurons: fewer than 100 bars per dimension, so all are drawn
    assert html.count(": every bar is drawn.</figcaption>") == 3 and "shorter ones are left out" not in html


def test_near_chance_hint_names_missing_weights():
    acc = {"accuracy": 0.1, "n_correct": 10, "n_inputs": 100, "n_classes": 10, "chance": 0.1}
    (w,) = accuracy_warnings(acc)
    assert "initial, random weights" in w


def test_mapper_takes_the_activations_predictions_only_with_their_labels():
    """Labels given in another coding (names) do not get the activations' integer predictions
    (they were refused as 'predictions hold classes that no label has', never passed)."""
    from topolens import Activations
    from topolens.pipeline import mapper_analysis

    a = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
    acts = Activations({"fc": a}, labels=np.arange(60) % 3, predictions=(np.arange(60) + 1) % 3)
    assert mapper_analysis(acts, labels=np.array(["a", "b", "c"] * 20), progress=False).predictions is None
    own = mapper_analysis(acts, progress=False)
    np.testing.assert_array_equal(own.predictions, acts.predictions)
