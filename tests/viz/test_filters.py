"""Figures of filters: thumbnail grid, Klein-bottle scatter, explorer thumbnails."""

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")

from topolens.exceptions import NonFiniteError, ShapeError
from topolens.filters import (
    circle_filters,
    klein_coordinates,
    klein_filters,
    three_circle_filters,
)
from topolens.filters._extract import extract_filters
from topolens.viz import figure_to_png_bytes
from topolens.viz.filters import filter_thumbnails, plot_filter_grid, plot_klein_scatter
from topolens.viz.mapper_payload import images_to_uint8


def _png(fig):
    png = figure_to_png_bytes(fig)
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    return png


def _scatter_offsets(fig):
    from matplotlib.collections import PathCollection

    ax = fig.axes[0]
    cols = [c for c in ax.collections if isinstance(c, PathCollection)]
    return np.concatenate([c.get_offsets() for c in cols]) if cols else np.empty((0, 2))


def _n_thumbnails(fig):
    from matplotlib.offsetbox import AnnotationBbox

    return sum(isinstance(a, AnnotationBbox) for a in fig.axes[0].get_children())


@pytest.mark.parametrize("make", [
    lambda: circle_filters(24, normalize="dnorm"),
    lambda: klein_filters(6, 8, normalize="dnorm"),
    lambda: three_circle_filters(16, 12, normalize="dnorm"),
])
def test_klein_scatter_puts_each_filter_at_its_coordinates(make):
    x = make()
    c = klein_coordinates(x)
    fig = plot_klein_scatter(c, x, n_thumbnails=10)
    off = _scatter_offsets(fig)
    np.testing.assert_allclose(np.sort(off[:, 0]), np.sort(c.theta1))
    np.testing.assert_allclose(np.sort(off[:, 1]), np.sort(c.theta2))
    assert _n_thumbnails(fig) == min(10, len(x))
    _png(fig)


def test_circle_filters_sit_on_the_primary_circle_lines():
    c = klein_coordinates(circle_filters(40))
    off = _scatter_offsets(plot_klein_scatter(c))
    # the primary circle is theta2 = pi/2 or 3 pi/2 in the fundamental domain
    d = np.minimum(np.abs(off[:, 1] - np.pi / 2), np.abs(off[:, 1] - 3 * np.pi / 2))
    assert d.max() < 1e-3


def test_degenerate_inputs_render():
    one = circle_filters(1)
    fig = plot_klein_scatter(klein_coordinates(one), one)
    assert _n_thumbnails(fig) == 1
    _png(fig)
    same = np.repeat(klein_filters(1, 1), 7, axis=0)
    fig = plot_klein_scatter(klein_coordinates(same), same, n_thumbnails=5)
    assert _n_thumbnails(fig) == 1  # all on one point: one thumbnail, not five stacked
    _png(fig)
    # constant filters have NaN coordinates: left out and counted in the title
    x = np.vstack([circle_filters(5), np.ones((2, 9))])
    fig = plot_klein_scatter(klein_coordinates(x), x)
    assert len(_scatter_offsets(fig)) == 5 and "2 without coordinates" in fig.axes[0].get_title()
    _png(fig)
    _png(plot_filter_grid(one))
    _png(plot_filter_grid(np.zeros((2, 9))))  # all-zero filters: drawn white, no division by zero


def test_klein_scatter_takes_plain_angles_and_checks_lengths():
    t1, t2 = np.array([0.1, 1.0]), np.array([2.0, 5.0])
    np.testing.assert_allclose(_scatter_offsets(plot_klein_scatter((t1, t2))), np.c_[t1, t2])
    np.testing.assert_allclose(_scatter_offsets(plot_klein_scatter(np.c_[t1, t2])), np.c_[t1, t2])
    with pytest.raises(ShapeError, match="images has 3 filters but coords 2"):
        plot_klein_scatter((t1, t2), circle_filters(3))
    with pytest.raises(ShapeError, match="color has 3"):
        plot_klein_scatter((t1, t2), color=[1, 2, 3])


def test_filter_grid_inputs():
    torch.manual_seed(0)
    fs = extract_filters(torch.nn.Conv2d(3, 4, 3), normalize="dnorm")
    fig = plot_filter_grid(fs, max_filters=5)
    assert "5 of 12" in fig.texts[0].get_text()
    _png(fig)
    imgs = fs.images()
    _png(plot_filter_grid(imgs.astype(np.float16), labels=[f"f{i}" for i in range(12)]))
    _png(plot_filter_grid(torch.as_tensor(imgs)))
    _png(plot_filter_grid(imgs.reshape(12, 9).tolist()))
    with pytest.raises(ShapeError, match="labels has 2"):
        plot_filter_grid(imgs, labels=["a", "b"])
    with pytest.raises(ShapeError, match="not k \\* k"):
        plot_filter_grid(np.zeros((3, 8)))
    with pytest.raises(NonFiniteError, match="NaN"):
        plot_filter_grid(np.full((2, 9), np.nan))
    with pytest.raises(ShapeError, match="no filters"):
        plot_filter_grid(np.zeros((0, 9)))


def test_filter_thumbnails_colours_and_upscaling():
    f = np.array([[-2.0, 0.0, 2.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]])
    th = filter_thumbnails(f, scale=5, border=False)
    assert th.shape == (1, 15, 15, 3) and th.dtype == np.uint8
    # nearest-neighbour: every 5 x 5 block is one colour
    blocks = th[0].reshape(3, 5, 3, 5, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()
    px = blocks[:, 0, :, 0].astype(int)
    red, white, blue = px[0, 2], px[0, 1], px[0, 0]
    assert red[0] > red[2] + 50 and blue[2] > blue[0] + 50  # positive red, negative blue
    assert white.min() > 235 and np.ptp(white) < 10  # 0 is (near) white
    # scaling is per filter: 2 f gives the same thumbnail
    np.testing.assert_array_equal(filter_thumbnails(2 * f, scale=5, border=False), th)
    framed = filter_thumbnails(np.stack([f, -f]), scale=4)
    assert framed.shape == (2, 12, 12, 3) and (framed[:, 0] == 150).all()
    # the explorer takes them as they are
    np.testing.assert_array_equal(images_to_uint8(framed), framed)
