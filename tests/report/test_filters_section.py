"""The filter section of the report, and the filter_analysis it is built from."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")

from topolens.exceptions import InvalidInputError, LayerNotFoundError
from topolens.filters import circle_filters, klein_filters
from topolens.pipeline import FilterRun, filter_analysis, patch_filter_set
from topolens.report import Report, add_filters_section
from topolens.report.sections import HOW_TO_READ


def _noisy(x, scale, seed=0):
    return x + scale * np.random.default_rng(seed).normal(size=x.shape)


@pytest.fixture(scope="module")
def circle_run():
    # 120 noisy circle filters plus 40 uniform outliers: the core is the circle
    rng = np.random.default_rng(1)
    x = np.vstack([_noisy(circle_filters(120), 0.01), rng.normal(size=(40, 9))])
    return filter_analysis(x, k=10, p=0.5, n_landmarks=60, progress=False, provenance={"source": "test"})


def test_circle_filters_give_one_dominant_loop_and_a_full_circle_share(circle_run):
    run = circle_run
    assert isinstance(run, FilterRun) and len(run.filters) == 160 and len(run.core) == 80
    # the density core drops the outliers: every core filter is a circle filter
    assert (run.core < 120).all()
    assert run.circle_share_core == 1.0
    assert abs(run.circle_share - np.mean(run.circle_similarity >= 0.9)) < 1e-12
    assert 0.7 <= run.circle_share <= 0.8  # 120 circle filters of 160 (an outlier may land near)
    for p in (2, 3):
        life = np.r_[np.sort(run.diagrams[p].lifetimes(1))[::-1], 0.0]
        assert life[0] > 0.5 and life[0] > 5 * life[1]  # one dominant H1 bar over both fields
    json.dumps(run.to_dict())  # the CLI writes it
    # the Mapper of the circle core is one piece (its DBSCAN radius is the core's connection scale;
    # the default quantile radius broke a sampled circle into many components)
    assert run.mapper is not None and run.mapper.graph_.betti_numbers()[0] == 1


def test_section_holds_its_parts(circle_run):
    rep = Report("t")
    add_filters_section(rep, circle_run)
    html = rep.to_html()
    for part in ("Persistence diagram of the core over Z/2", "over Z/3", "Persistence of the core",
                 "The filters on the Klein bottle", "within cosine 0.9 of the primary circle",
                 "density filtration", "X(k=10, p=0.5)", "landmarks", "threshold", "constant filters dropped",
                 "filters analysed", 'class="tl-mapper"', "Mapper of the core", "source"):
        assert part in html, part
    assert HOW_TO_READ["filters"].split(".")[0] in html
    assert f"{circle_run.circle_share:.3f}" in html
    assert html.count("<img") >= 5  # two diagrams, two barcodes, the scatter, the grid
    assert rep.allow_scripts  # the explorer


def test_small_sets_explain_what_was_skipped():
    run = filter_analysis(circle_filters(10), progress=False)
    assert run.density is None and len(run.core) == 10 and run.mapper is None
    assert any("density filtration" in n and "skipped" in n for n in run.notes)
    rep = Report("t")
    add_filters_section(rep, run)
    html = rep.to_html()
    assert "was skipped" in html and "No Mapper graph" in html and 'class="tl-mapper"' not in html
    tiny = filter_analysis(circle_filters(3), progress=False)
    assert tiny.diagrams is None
    rep = Report("t")
    add_filters_section(rep, tiny)
    html = rep.to_html()
    assert "Persistence was not computed" in html and "Persistence diagram" not in html
    json.dumps(tiny.to_dict())


def test_pooled_models_and_patches():
    torch.manual_seed(0)
    models = [torch.nn.Sequential(torch.nn.Conv2d(2, 6, 3), torch.nn.ReLU()) for _ in range(2)]
    run = filter_analysis(models, k=5, n_landmarks=20, progress=False, mapper=False)
    assert len(run.filters) == 24 and run.kind == "learned filters" and run.mapper is None
    assert sorted(run.filters.model_names) == ["model 0", "model 1"]
    state = {k: v for k, v in models[0].state_dict().items()}
    assert len(filter_analysis(state, progress=False, mapper=False).filters) == 12
    with pytest.raises(LayerNotFoundError, match="conv9"):
        filter_analysis(models[0], layer="conv9", progress=False)
    with pytest.raises(InvalidInputError, match="no Conv2d"):
        filter_analysis(torch.nn.Linear(3, 2), progress=False)
    # patches of uint8 RGB images: the top 20% by contrast
    img = np.random.default_rng(0).integers(0, 256, size=(2, 12, 12, 3), dtype=np.uint8)
    fs = patch_filter_set(img, n_per_image=50, top=0.2)
    assert len(fs) == 20 and fs.kernel_size == 3
    run = filter_analysis(fs, k=5, n_landmarks=20, progress=False, mapper=False)
    assert run.kind == "image patches" and len(run.core) == 6


def test_klein_filters_over_z2_and_z3():
    # the Klein bottle: H2 over Z/2 but not over Z/3 (nothing density-filtered, all points)
    x = klein_filters(12, 24, normalize="dnorm")
    run = filter_analysis(x, k=300, n_landmarks=150, progress=False, mapper=False)
    assert run.density is None
    h2 = {p: np.sort(run.diagrams[p].lifetimes(2))[::-1] for p in (2, 3)}
    assert h2[2][0] > 2 * (h2[3][0] if len(h2[3]) else 0.0)  # equal if the fields were not passed through
    # the dominant bars (longer than the core's connection scale): the Klein bottle's signatures
    betti = run.dominant_betti()
    assert betti[2]["betti"] == [1, 2, 1] and betti[3]["betti"] == [1, 1, 0]
    assert betti[2]["scale"] == pytest.approx(run.diagrams[2].lifetimes(0).max())
    d = run.to_dict()
    assert d["persistence"]["Z/2"]["dominant_betti"] == [1, 2, 1]
    assert d["persistence"]["Z/3"]["dominant_betti"] == [1, 1, 0]
    rep = Report("t")
    add_filters_section(rep, run)
    html = rep.to_html()
    assert "(1, 2, 1)" in html and "(1, 1, 0)" in html and "Betti numbers of the dominant bars" in html


def test_circle_signature_in_the_section(circle_run):
    assert {p: b["betti"] for p, b in circle_run.dominant_betti().items()} == {2: [1, 1, 0], 3: [1, 1, 0]}
    # the how-to-read names each model's signature
    for sig in ("(1, 1, 0)", "(1, 5, 0)", "(1, 2, 1)"):
        assert sig in HOW_TO_READ["filters"], sig
