"""Figures of convolution filters and image patches: thumbnails, and filters placed on the Klein bottle.

* :func:`plot_filter_grid`: the filters as small images, in a diverging colour map centred at 0
  (red positive, blue negative, white 0), each scaled to its own largest ``|value|``;
* :func:`plot_klein_scatter`: each filter at its Klein-bottle coordinates ``(theta1, theta2)``
  (:func:`topolens.filters.klein_coordinates`) over the fundamental domain
  ``[0, pi) x [0, 2 pi)``, with the edge identifications drawn as arrows, the primary circle and
  the two secondary circles marked, and thumbnails of a spread-out subsample;
* :func:`filter_thumbnails`: the filters as upscaled uint8 RGB images (nearest neighbour, same
  colour map), e.g. for the Mapper explorer (``explorer_payload(images=...)``).

matplotlib is imported lazily (only :func:`plot_filter_grid` and :func:`plot_klein_scatter` need it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._deps import require
from .._validation import _nonfinite_report, _to_numpy, check_int
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError
from .diagrams import _new_axes

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["filter_thumbnails", "plot_filter_grid", "plot_klein_scatter"]

_PURPOSE = "figures (topolens.viz)"
#: the diverging colour map of every filter drawing (0 is white)
FILTER_CMAP = "RdBu_r"
_CIRCLE_COLOR = "#2c7a2c"
_SECONDARY_COLOR = "#8e44ad"


# ----------------------------------------------------------------------------- inputs
def _filter_images(images: Any, name: str = "filters") -> np.ndarray:
    """``(n, k, k)`` float64 images from a FilterSet, ``(n, k * k)``, ``(n, k, k)`` or one ``(k, k)``."""
    points = getattr(images, "points", None)
    kernel = getattr(images, "kernel_size", None)
    if points is not None and kernel is not None:  # a FilterSet (duck-typed: viz imports no computation)
        arr = np.asarray(points, dtype=np.float64).reshape(len(points), int(kernel), int(kernel))
    else:
        arr = _to_numpy(images, name)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) \
                or np.iscomplexobj(arr):
            raise InvalidInputError(f"{name} must be real numbers; found dtype {arr.dtype}.")
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim == 2 and arr.shape[0] == arr.shape[1] and math.isqrt(arr.shape[1]) ** 2 != arr.shape[1]:
            arr = arr[None]  # one (k, k) filter whose k is not a square
        if arr.ndim == 2:
            k = math.isqrt(arr.shape[1])
            if k * k != arr.shape[1] or k < 1:
                raise ShapeError(f"{name} have {arr.shape[1]} values per row, not k * k for a square k x k "
                                 "filter; pass (n, k * k) rows or (n, k, k) images.")
            arr = arr.reshape(len(arr), k, k)
        elif arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
            raise ShapeError(f"{name} must be (n, k * k) rows, (n, k, k) or (k, k) images, or a FilterSet; "
                             f"found shape {arr.shape}.")
    if len(arr) == 0:
        raise ShapeError(f"no {name} to draw (0 rows); pass at least one filter.")
    if not np.isfinite(arr).all():
        raise NonFiniteError(f"{name} contain {_nonfinite_report(arr.reshape(len(arr), -1))}; filters must be "
                             "finite.")
    return arr


def _scaled(images: np.ndarray) -> np.ndarray:
    """Each image divided by its largest ``|value|`` (all-zero images stay 0): values in [-1, 1]."""
    peak = np.abs(images).reshape(len(images), -1).max(axis=1)
    peak = np.where(peak > 0, peak, 1.0)
    return images / peak[:, None, None]


def _colormap(name: str) -> Any:
    mpl = require("matplotlib", purpose=_PURPOSE)
    return mpl.colormaps[name]


def _rgb(images: np.ndarray, cmap: str) -> np.ndarray:
    """``(n, k, k, 3)`` float RGB of each image in ``cmap``, 0 at the map's centre, per-image scale."""
    return _colormap(cmap)((_scaled(images) + 1.0) / 2.0)[..., :3]


def _even(n: int, m: int) -> np.ndarray:
    """``min(n, m)`` indices spread evenly over ``range(n)`` (all of them when ``n <= m``)."""
    if n <= m:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, m).round().astype(np.int64))


# ----------------------------------------------------------------------------- thumbnails
def filter_thumbnails(images: Any, scale: int = 8, *, cmap: str = FILTER_CMAP, border: bool = True) -> np.ndarray:
    """The filters as uint8 RGB thumbnails, upscaled (nearest neighbour) so a 3x3 filter is visible.

    Each filter is scaled to its own largest ``|value|`` and coloured with the diverging ``cmap``
    (white for 0), then every pixel becomes a ``scale x scale`` block.

    Parameters
    ----------
    images : FilterSet or array-like
        ``(n, k * k)`` rows, ``(n, k, k)`` images or a single ``(k, k)`` filter.
    scale : int
        Pixels per filter pixel (>= 1).
    cmap : str
        A matplotlib colour map name.
    border : bool
        A one-pixel grey frame around each thumbnail (so white filter pixels stay visible on a
        white page).

    Returns
    -------
    numpy.ndarray
        ``(n, k * scale, k * scale, 3)`` uint8 (the layout ``explorer_payload(images=...)`` takes).
    """
    scale = check_int(scale, "scale", minimum=1)
    arr = _filter_images(images)
    rgb = np.rint(_rgb(arr, cmap) * 255).astype(np.uint8)
    out = np.repeat(np.repeat(rgb, scale, axis=1), scale, axis=2)
    if border and out.shape[1] >= 3:
        out[:, 0, :], out[:, -1, :], out[:, :, 0], out[:, :, -1] = 150, 150, 150, 150
    return np.ascontiguousarray(out)


# ----------------------------------------------------------------------------- grid
def plot_filter_grid(images_or_filterset: Any, *, max_filters: int = 64, ncols: int | None = None,
                     labels: Any = None, cmap: str = FILTER_CMAP, title: str | None = None,
                     thumb_size: float = 0.75) -> Figure:
    """The filters as a grid of thumbnails (diverging colour map centred at 0, each filter scaled to
    its own largest ``|value|``).

    Parameters
    ----------
    images_or_filterset : FilterSet or array-like
        ``(n, k * k)`` rows, ``(n, k, k)`` images or one ``(k, k)`` filter (a FilterSet: its points).
    max_filters : int
        At most this many are drawn, spread evenly over the set (the title says how many of how many).
    ncols : int, optional
        Columns (default: about ``sqrt(2 n)``, at most 16).
    labels : sequence of str, optional
        A caption per filter (e.g. its layer and channel), same length as the filters.
    cmap : str
        A diverging matplotlib colour map.
    title : str, optional
    thumb_size : float
        Inches per thumbnail.

    Returns
    -------
    matplotlib.figure.Figure
    """
    arr = _filter_images(images_or_filterset)
    max_filters = check_int(max_filters, "max_filters", minimum=1)
    n_all = len(arr)
    if labels is not None:
        labels = [str(s) for s in labels]
        if len(labels) != n_all:
            raise ShapeError(f"labels has {len(labels)} entries; expected one per filter ({n_all}).")
    idx = _even(n_all, max_filters)
    n = len(idx)
    ncols = min(n, 16, max(1, round(math.sqrt(2 * n)))) if ncols is None else check_int(ncols, "ncols", minimum=1)
    nrows = math.ceil(n / ncols)
    fig, _ = _new_axes(None, (max(2.5, ncols * thumb_size), nrows * thumb_size + 0.6))
    fig.clear()
    rgb = _rgb(arr[idx], cmap)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for j, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if j >= n:
            continue
        ax.imshow(rgb[j], interpolation="nearest")
        ax.add_patch(_frame(ax, arr.shape[1]))
        if labels is not None:
            ax.set_title(labels[idx[j]], fontsize=6)
    k = arr.shape[1]
    shown = f"{n} of {n_all}" if n < n_all else f"{n_all}"
    fig.suptitle((title or "Filters") + f" ({shown} {k}x{k}; red > 0 > blue, each scaled to its max |value|)",
                 fontsize=9)
    return fig


def _frame(ax: Axes, k: int) -> Any:
    patches = require("matplotlib.patches", purpose=_PURPOSE)
    return patches.Rectangle((-0.5, -0.5), k, k, fill=False, edgecolor="0.6", linewidth=0.6)


# ----------------------------------------------------------------------------- Klein bottle
def _angles_of(coords: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(theta1, theta2, cosine or None) from KleinCoordinates, a (theta1, theta2) pair or an (n, 2) array."""
    if hasattr(coords, "theta1") and hasattr(coords, "theta2"):
        t1, t2 = np.asarray(coords.theta1, float), np.asarray(coords.theta2, float)
        cos = getattr(coords, "cosine", None)
        return t1.ravel(), t2.ravel(), None if cos is None else np.asarray(cos, float).ravel()
    if isinstance(coords, tuple) and len(coords) == 2:
        t1 = np.asarray(_to_numpy(coords[0], "theta1"), float).ravel()
        t2 = np.asarray(_to_numpy(coords[1], "theta2"), float).ravel()
    else:
        arr = np.asarray(_to_numpy(coords, "coords"), dtype=float)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ShapeError(f"coords must be KleinCoordinates, a (theta1, theta2) pair or an (n, 2) array; "
                             f"found shape {arr.shape}.")
        t1, t2 = arr[:, 0], arr[:, 1]
    if t1.shape != t2.shape:
        raise ShapeError(f"theta1 has {t1.size} entries and theta2 {t2.size}; expected one pair per filter.")
    return t1, t2, None


def _spread(t1: np.ndarray, t2: np.ndarray, m: int, seed: int) -> np.ndarray:
    """Up to ``m`` points spread over the domain (greedy farthest point on the torus of angles, seeded);
    stops early when every point coincides with a chosen one."""
    n = len(t1)
    if n == 0 or m == 0:
        return np.empty(0, dtype=np.int64)
    xy = np.stack([t1 / np.pi, t2 / (2 * np.pi)], axis=1)  # both in [0, 1)
    chosen = [int(np.random.default_rng(seed).integers(n))]
    near = np.full(n, np.inf)
    for _ in range(min(m, n) - 1):
        d = np.abs(xy - xy[chosen[-1]])
        d = np.minimum(d, 1.0 - d)  # both angles wrap
        near = np.minimum(near, np.hypot(d[:, 0], d[:, 1]))
        nxt = int(np.argmax(near))
        if near[nxt] <= 1e-9:
            break
        chosen.append(nxt)
    return np.array(chosen, dtype=np.int64)


def _draw_domain(ax: Axes, circles: bool) -> None:
    """The fundamental domain with its identifications, and the three circles."""
    pi = np.pi
    ax.plot([0, pi, pi, 0, 0], [0, 0, 2 * pi, 2 * pi, 0], color="0.3", linewidth=1.0, zorder=1)
    arrow = {"arrowstyle": "-|>", "color": "0.3", "linewidth": 1.0, "mutation_scale": 12}
    double = {**arrow, "arrowstyle": "-|>,head_length=0.5,head_width=0.25"}
    # top and bottom edges (theta2 = 0 ~ 2 pi): same direction, one head
    for y in (0.0, 2 * pi):
        ax.annotate("", xy=(0.6 * pi, y), xytext=(0.4 * pi, y), arrowprops=arrow, annotation_clip=False)
    # left and right edges ((0, t) ~ (pi, 2 pi - t)): opposite directions, two heads
    for x, (a, b) in ((0.0, (0.9 * pi, 1.1 * pi)), (pi, (1.1 * pi, 0.9 * pi))):
        for off in (0.0, 0.12 * pi):
            ax.annotate("", xy=(x, b + off * np.sign(b - a)), xytext=(x, a + off * np.sign(b - a)),
                        arrowprops=double, annotation_clip=False)
    if not circles:
        return
    for y in (pi / 2, 3 * pi / 2):
        ax.axhline(y, color=_CIRCLE_COLOR, linewidth=1.4, alpha=0.6, zorder=1)
    for x in (0.0, pi / 2, pi):
        ax.axvline(x, color=_SECONDARY_COLOR, linewidth=1.2, linestyle="--", alpha=0.6, zorder=1)
    ax.text(pi * 1.01, pi / 2, "primary circle", color=_CIRCLE_COLOR, fontsize=7, va="bottom", ha="left")
    ax.text(pi * 1.01, 3 * pi / 2, "primary circle", color=_CIRCLE_COLOR, fontsize=7, va="bottom", ha="left")
    ax.text(pi / 2, 2.03 * pi, "secondary\nt1 = pi/2", color=_SECONDARY_COLOR, fontsize=7, ha="center", va="bottom")
    ax.text(0.0, 2.03 * pi, "secondary\nt1 = 0 ~ pi", color=_SECONDARY_COLOR, fontsize=7, ha="left", va="bottom")


def plot_klein_scatter(coords: Any, images: Any = None, *, color: Any = None, n_thumbnails: int = 30,
                       thumbnail_scale: int = 6, circles: bool = True, title: str | None = None,
                       ax: Axes | None = None, seed: int = 0, cmap: str = FILTER_CMAP) -> Figure:
    """The filters placed on the Klein bottle: ``(theta1, theta2)`` over the fundamental domain.

    The square ``[0, pi) x [0, 2 pi)`` is drawn with its identifications: the bottom and top
    edges (``theta2 = 0 ~ 2 pi``, one arrow head, same direction) and the left and right edges
    (``(0, t) ~ (pi, 2 pi - t)``, two heads, opposite directions: the twist that makes it a Klein
    bottle). The primary circle (the edge filters, ``theta2 = pi / 2`` and ``3 pi / 2``) is a solid
    green line, the secondary circles (``theta1 = 0 ~ pi`` and ``theta1 = pi / 2``) dashed purple.

    Parameters
    ----------
    coords : KleinCoordinates, (theta1, theta2) pair or (n, 2) array
        From :func:`topolens.filters.klein_coordinates`. NaN entries (constant filters) are left
        out (the title counts them).
    images : FilterSet or array-like, optional
        The filters, aligned with ``coords``: thumbnails of a spread-out subsample are drawn
        next to their points (as ``OffsetImage`` insets).
    color : array-like (n,), optional
        Colour of the points (default: the cosine similarity to the model filter when ``coords``
        has it, i.e. how close each filter lies to the bottle).
    n_thumbnails : int
        At most this many thumbnails (greedy farthest-point choice, seeded).
    thumbnail_scale : int
        Screen pixels per filter pixel of a thumbnail.
    circles : bool
        Mark the primary and secondary circles.
    title : str, optional
    ax : matplotlib Axes, optional
    seed : int
        Seed of the thumbnail choice.

    Returns
    -------
    matplotlib.figure.Figure
    """
    t1, t2, cos = _angles_of(coords)
    n_thumbnails = check_int(n_thumbnails, "n_thumbnails", minimum=0)
    seed = check_int(seed, "seed", minimum=0)
    values = cos if color is None else np.asarray(_to_numpy(color, "color"), dtype=float).ravel()
    if values is not None and values.shape != t1.shape:
        raise ShapeError(f"color has {values.size} entries; expected one per filter ({t1.size}).")
    imgs = None
    if images is not None:
        imgs = _filter_images(images, "images")
        if len(imgs) != len(t1):
            raise ShapeError(f"images has {len(imgs)} filters but coords {len(t1)}; pass the filters the "
                             "coordinates were computed from.")
    ok = np.isfinite(t1) & np.isfinite(t2)
    fig, ax = _new_axes(ax, (7.5, 7.0))
    _draw_domain(ax, circles)
    pts = np.flatnonzero(ok)
    if len(pts):
        kw: dict[str, Any] = {"s": 14, "alpha": 0.75, "edgecolors": "none", "zorder": 3}
        if values is not None and np.isfinite(values[pts]).any():
            sc = ax.scatter(t1[pts], t2[pts], c=values[pts], cmap="viridis", vmin=min(0.0, np.nanmin(values[pts])),
                            vmax=1.0, **kw)
            fig.colorbar(sc, ax=ax, shrink=0.7, label="cosine to the nearest bottle filter"
                         if color is None else "colour value")
        else:
            ax.scatter(t1[pts], t2[pts], color="C0", **kw)
    else:
        ax.text(np.pi / 2, np.pi, "no filter has Klein coordinates", ha="center", va="center", color="0.35")
    if imgs is not None and len(pts) and n_thumbnails:
        _add_thumbnails(ax, t1, t2, imgs, pts, n_thumbnails, thumbnail_scale, seed, cmap)
    ax.set_xlim(-0.12 * np.pi, 1.12 * np.pi)
    ax.set_ylim(-0.1 * np.pi, 2.25 * np.pi)
    ax.set_xticks([0, np.pi / 2, np.pi], ["0", "pi/2", "pi"])
    ax.set_yticks([0, np.pi / 2, np.pi, 3 * np.pi / 2, 2 * np.pi], ["0", "pi/2", "pi", "3pi/2", "2pi"])
    ax.set_xlabel("theta1 (edge direction)")
    ax.set_ylabel("theta2 (linear <-> quadratic)")
    dropped = int((~ok).sum())
    extra = f"; {dropped} without coordinates (constant)" if dropped else ""
    ax.set_title((title or "Filters on the Klein bottle") + f" ({len(pts)} filters{extra})", fontsize=10)
    return fig


def _add_thumbnails(ax: Axes, t1: np.ndarray, t2: np.ndarray, imgs: np.ndarray, pts: np.ndarray, m: int,
                    scale: int, seed: int, cmap: str) -> None:
    offsetbox = require("matplotlib.offsetbox", purpose=_PURPOSE)
    pick = pts[_spread(t1[pts], t2[pts], m, seed)]
    rgb = _rgb(imgs[pick], cmap)
    for j, i in enumerate(pick):
        box = offsetbox.OffsetImage(rgb[j], zoom=scale, interpolation="nearest")
        ab = offsetbox.AnnotationBbox(box, (t1[i], t2[i]), xybox=(14, 14), xycoords="data", boxcoords="offset points",
                                      pad=0.15, frameon=True, arrowprops={"arrowstyle": "-", "color": "0.5",
                                                                          "linewidth": 0.6},
                                      bboxprops={"edgecolor": "0.5", "linewidth": 0.5}, zorder=4)
        ax.add_artist(ab)
