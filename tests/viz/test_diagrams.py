"""Tests of topolens.viz: figures render for empty, essential/censored and bootstrap diagrams."""

from __future__ import annotations

import base64
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure

from topolens import InvalidInputError, PersistenceDiagrams
from topolens.viz import (
    figure_to_data_uri,
    figure_to_png_bytes,
    plot_barcode,
    plot_betti_curves,
    plot_diagram,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def empty() -> PersistenceDiagrams:
    return PersistenceDiagrams([np.empty((0, 2)), np.empty((0, 2))])


@pytest.fixture
def rich() -> PersistenceDiagrams:
    """H0 with one essential class, H1 with finite and censored classes; threshold 1.5."""
    inf = np.inf
    h0 = [[0.0, 0.3], [0.0, 0.5], [0.0, 1.1], [0.0, inf]]
    h1 = [[0.4, 0.9], [0.6, 0.7], [1.0, inf], [1.2, inf]]
    cens = [np.zeros(4, bool), np.array([False, False, True, True])]
    return PersistenceDiagrams([h0, h1], censored=cens, metadata={"threshold": 1.5})


def _texts(fig: Figure) -> str:
    ax = fig.axes[0]
    parts = [t.get_text() for t in ax.texts] + [ax.get_title()]
    leg = ax.get_legend()
    if leg is not None:
        parts += [t.get_text() for t in leg.get_texts()]
    return "\n".join(parts)


def _is_png(data: bytes) -> bool:
    return data.startswith(PNG_SIGNATURE) and data[-8:-4] == b"IEND"


# ------------------------------------------------------------------------------ diagram
def test_plot_diagram_empty_renders(empty):
    fig = plot_diagram(empty)
    assert isinstance(fig, Figure)
    assert "no classes" in _texts(fig)
    assert _is_png(figure_to_png_bytes(fig))


def test_plot_diagram_marks_essential_and_censored_apart(rich):
    fig = plot_diagram(rich, title="my diagram")
    text = _texts(fig)
    assert "my diagram" in text
    assert "inf" in text
    assert "alive at threshold t=1.5" in text
    assert "H0 essential (1)" in text
    assert "H1 alive at threshold (2)" in text
    ax = fig.axes[0]
    by_label = {c.get_label(): c for c in ax.collections}
    cens = by_label["H1 alive at threshold (2)"]
    ess = by_label["H0 essential (1)"]
    # censored markers are hollow, essential ones filled, and on different lines above
    # every finite death
    assert cens.get_facecolors().size == 0 or np.all(cens.get_facecolors()[:, 3] == 0)
    assert np.all(ess.get_facecolors()[:, 3] > 0)
    y_cens = cens.get_offsets()[:, 1]
    y_ess = ess.get_offsets()[:, 1]
    assert np.all(y_cens > 1.5) and np.all(y_ess > y_cens.max())
    assert {ln.get_linestyle() for ln in ax.lines} >= {"--", "-"}
    assert _is_png(figure_to_png_bytes(fig))


def test_plot_diagram_on_given_axes_and_dims(rich):
    fig = Figure()
    ax = fig.add_subplot()
    out = plot_diagram(rich, dims=1, ax=ax)
    assert out is fig
    text = _texts(fig)
    assert "H1" in text and "H0" not in text


def test_plot_diagram_accepts_arrays_and_rejects_bad_dims():
    fig = plot_diagram([np.array([[0.0, 1.0]])])
    assert isinstance(fig, Figure)
    with pytest.raises(InvalidInputError, match="not available"):
        plot_diagram(PersistenceDiagrams([[[0.0, 1.0]]]), dims=[2])
    with pytest.raises(InvalidInputError, match="list of them"):
        plot_barcode([PersistenceDiagrams([[[0.0, 1.0]]])] * 2)


# ------------------------------------------------------------------------------ barcode
def test_plot_barcode_empty_and_rich(empty, rich):
    assert _is_png(figure_to_png_bytes(plot_barcode(empty)))
    fig = plot_barcode(rich)
    text = _texts(fig)
    assert "essential (never dies)" in text
    assert "alive at threshold (death unknown)" in text
    assert "threshold t=1.5" in text
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["H0", "H1"]
    # censored tails are dashed
    styles = [c.get_linestyle() for c in fig.axes[0].collections]
    assert any(s != [(0.0, None)] and s[0][1] is not None for s in styles)
    assert _is_png(figure_to_png_bytes(fig))


def test_plot_barcode_truncates_and_says_so():
    rng = np.random.default_rng(0)
    b = rng.uniform(0, 1, 500)
    dgm = np.column_stack([b, b + rng.uniform(0, 1, 500)])
    longest = np.sort(dgm[:, 1] - dgm[:, 0])[-50:]
    fig = plot_barcode(PersistenceDiagrams([dgm]), max_bars=50)
    title = fig.axes[0].get_title()
    assert "50 longest of 500" in title
    segs = np.concatenate([np.asarray(c.get_segments()) for c in fig.axes[0].collections])
    assert len(segs) == 50
    drawn = np.sort(segs[:, 1, 0] - segs[:, 0, 0])
    np.testing.assert_allclose(drawn, longest)
    with pytest.raises(InvalidInputError):
        plot_barcode(PersistenceDiagrams([dgm]), max_bars=0)


# ------------------------------------------------------------------------- Betti curves
def test_plot_betti_curves_single(rich, empty):
    fig = plot_betti_curves(rich)
    ax = fig.axes[0]
    assert [ln.get_label() for ln in ax.lines] == ["H0", "H1"]
    h0 = ax.lines[0].get_ydata()
    assert h0[0] == 4 and h0[-1] == 1  # 4 components at 0, one essential left
    text = _texts(fig)
    assert "beyond threshold" not in text  # the default grid stops near the threshold
    assert _is_png(figure_to_png_bytes(fig))
    assert _is_png(figure_to_png_bytes(plot_betti_curves(empty)))


def test_plot_betti_curves_list_with_band(rich):
    rng = np.random.default_rng(1)
    boots = []
    for _ in range(8):
        d = rng.uniform(0.1, 1.0, 5)
        boots.append(PersistenceDiagrams([np.column_stack([np.zeros(5), d]),
                                          np.column_stack([d / 2, d])]))
    for band in ("minmax", "std"):
        fig = plot_betti_curves(boots, band=band)
        ax = fig.axes[0]
        assert [ln.get_label() for ln in ax.lines] == ["H0 mean", "H1 mean"]
        assert len(ax.collections) == 2  # one band per dimension
        assert "8 diagrams" in ax.get_title()
        assert _is_png(figure_to_png_bytes(fig))
    with pytest.raises(InvalidInputError):
        plot_betti_curves(boots, band="iqr")
    with pytest.raises(InvalidInputError):
        plot_betti_curves([])


def test_plot_betti_curves_grid_beyond_threshold(rich):
    grid = np.linspace(0.0, 3.0, 50)
    fig = plot_betti_curves(rich, dims=[1], grid=grid)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), grid)
    assert "beyond threshold" in _texts(fig)
    with pytest.raises(InvalidInputError, match="grid"):
        plot_betti_curves(rich, grid=[1.0, 0.5, 2.0])


# ---------------------------------------------------------------------------- rendering
def test_png_and_data_uri_close_figures(rich):
    fig = plot_diagram(rich)
    png = figure_to_png_bytes(fig, close=False)
    assert _is_png(png) and len(fig.axes) == 1
    uri = figure_to_data_uri(fig)
    assert uri.startswith("data:image/png;base64,")
    assert _is_png(base64.b64decode(uri.split(",", 1)[1], validate=True))
    assert len(fig.axes) == 0  # released after rendering
    with pytest.raises(InvalidInputError):
        figure_to_png_bytes(object())


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


def test_core_imports_do_not_import_matplotlib():
    res = _run("""
        import sys
        import topolens, topolens.diagrams, topolens.vectorize, topolens.viz, topolens.report
        bad = sorted(m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib."))
        assert not bad, bad
        print("ok")
    """)
    assert res.returncode == 0, res.stderr
    assert "ok" in res.stdout


def test_plotting_uses_no_pyplot():
    res = _run("""
        import sys
        import numpy as np
        from topolens import PersistenceDiagrams
        from topolens.viz import plot_diagram, plot_barcode, figure_to_png_bytes
        d = PersistenceDiagrams([[[0.0, 1.0], [0.0, np.inf]]])
        figure_to_png_bytes(plot_diagram(d)); figure_to_png_bytes(plot_barcode(d))
        assert "matplotlib.pyplot" not in sys.modules
        print("ok")
    """)
    assert res.returncode == 0, res.stderr


def test_missing_matplotlib_names_the_extra():
    res = _run("""
        import sys
        sys.modules["matplotlib"] = None  # make "import matplotlib" fail
        from topolens import MissingDependencyError, PersistenceDiagrams
        from topolens.viz import plot_diagram
        try:
            plot_diagram(PersistenceDiagrams([[[0.0, 1.0]]]))
        except MissingDependencyError as exc:
            assert "topolens[viz]" in str(exc), exc
            print("ok")
    """)
    assert res.returncode == 0, res.stderr
    assert "ok" in res.stdout


def test_plot_barcode_is_wide_and_every_bar_at_least_2px():
    """Regression: 200 bars in a third of the page were a moire; now the figure is full width,
    bars are capped to the longest ones with a note, and each bar is >= 2 px at 110 dpi."""
    from topolens.viz.diagrams import REPORT_DPI

    rng = np.random.default_rng(1)
    d0 = np.column_stack([np.zeros(600), rng.uniform(0, 1, 600)])
    b = rng.uniform(0, 1, 400)
    d1 = np.column_stack([b, b + rng.uniform(0, 0.3, 400)])
    fig = plot_barcode(PersistenceDiagrams([d0, d1]))
    w, h = fig.get_size_inches()
    assert w >= 10
    ax = fig.axes[0]
    segs = [np.asarray(c.get_segments()) for c in ax.collections]
    n_bars = sum(len(s) for s in segs)
    assert n_bars <= 200
    thickness_px = min(float(np.min(c.get_linewidth())) for c in ax.collections) * REPORT_DPI / 72
    assert thickness_px >= 2.0
    assert h * REPORT_DPI / n_bars >= 4.0  # at least 4 px of figure height per bar row
    title = ax.get_title()
    assert "500 shorter bars" in title and "300 shorter bars" in title
