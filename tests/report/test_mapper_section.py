"""The Mapper section of a report (topolens.report.sections.add_mapper_section)."""

from __future__ import annotations

import html

import numpy as np

from topolens.pipeline import mapper_analysis
from topolens.report import Report, add_mapper_section
from topolens.viz.mapper_html import render_explorer

HOSTILE = "</script><img src=x onerror=alert(1)>"


def test_section_tables_iframe_and_escaping(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 240)
    x = np.maximum(rng.normal(size=(3, 5))[y] * 3 + rng.normal(size=(240, 5)), 0)
    names = np.array(["cat", HOSTILE, "dog"])[y]
    run = mapper_analysis({"fc": x}, labels=names, predictions=names, progress=False,
                          n_intervals=5, eps_quantile=0.8, out=tmp_path / "m")
    assert run.stats["fc"].class_names == sorted(["cat", HOSTILE, "dog"])
    rep = Report(f"report {HOSTILE}")
    add_mapper_section(rep, run, explorer_html=render_explorer(run.payload))
    assert rep.allow_scripts  # the embedded explorer needs its script
    text = rep.to_html()
    assert "<img src=x" not in text and "onerror=alert(1)>" not in text
    assert "Largest nodes of fc" in text and 'sandbox="allow-scripts allow-same-origin"' in text
    # the explorer document sits, attribute-escaped, in the iframe's srcdoc
    start = text.index('srcdoc="') + len('srcdoc="')
    doc = html.unescape(text[start:text.index('"', start)])
    assert doc.startswith("<!DOCTYPE html>") and "<img src=x" not in doc
    for f in run.files:
        assert f.exists()
    assert (tmp_path / "m" / "mapper.html").read_text().count("<img src=x") == 0


def test_largest_nodes_columns_are_explained():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    x = np.maximum(rng.normal(size=(3, 5))[y] * 3 + rng.normal(size=(200, 5)), 0)
    run = mapper_analysis({"fc": x}, labels=y, predictions=(y + (rng.random(200) < 0.2)) % 3,
                          progress=False, n_intervals=5, eps_quantile=0.8)
    rep = Report("r")
    add_mapper_section(rep, run)
    html_ = rep.to_html()
    cap = html_[html_.index("Largest nodes of fc"):]
    cap = cap[:cap.index("</caption>")]
    for column in ("size: number of inputs", "top labels:", "purity:", "mean lens:", "misclassified:"):
        assert column in cap
    run = mapper_analysis({"fc": x}, labels=y, progress=False, n_intervals=5, eps_quantile=0.8)
    rep = Report("r")
    add_mapper_section(rep, run)
    assert "misclassified:" not in rep.to_html()  # no predictions, no such column
