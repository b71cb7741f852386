"""The report sections say what was computed."""

from __future__ import annotations

import numpy as np
import pytest

from topolens import activation_persistence
from topolens.exceptions import TopolensWarning
from topolens.report import Report, add_activation_topology_section


def test_identical_resamples_are_said_in_the_section() -> None:
    pytest.importorskip("matplotlib")
    a = np.random.default_rng(0).normal(size=(30, 6)).astype(np.float32)
    with pytest.warns(TopolensWarning):
        res = activation_persistence(a, n_resamples=3, max_dim=0)  # all inputs, all neurons
    rep = Report("t")
    sec = add_activation_topology_section(rep, res)
    assert sec is not None
    html = rep.to_html()
    assert "all resamples would be identical and one was computed" in html


def test_each_group_is_described_in_words_not_a_repr() -> None:
    pytest.importorskip("matplotlib")
    a = np.random.default_rng(1).normal(size=(40, 8)).astype(np.float32)
    res = activation_persistence(a, n_resamples=1, max_dim=1)
    rep = Report("t")
    add_activation_topology_section(rep, res)
    html = rep.to_html()
    assert "PersistenceDiagrams(" not in html
    n0 = len(res[res.groups[0]][0][0])
    assert f"H0: {n0} classes (1 never dies), longest finite bar" in html

def test_barcode_caption_follows_the_plot_caps() -> None:
    """100, 100 and 60 bars do not fit the tallest figure at readable rows: plot_barcode draws
    fewer than 100 of H0 and H1 although neither has more, so the caption must say bars are
    left out (it said every bar is drawn)."""
    pytest.importorskip("matplotlib")
    from topolens import PersistenceDiagrams
    from topolens.topology import ActivationDiagrams

    g = np.random.default_rng(0)
    dg = PersistenceDiagrams([np.c_[np.zeros(c), g.uniform(0.1, 1, c)] for c in (100, 100, 60)],
                             metadata={"n_points": 100})
    rep = Report("t")
    add_activation_topology_section(rep, ActivationDiagrams({"g": [dg]}, params={"n_resamples": 1}))
    html = rep.to_html()
    assert "every bar is drawn" not in html and "shorter ones are left out" in html
