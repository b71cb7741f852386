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
