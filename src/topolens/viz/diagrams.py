"""Plots of persistence diagrams: diagram scatter, barcode, Betti curves; PNG rendering.

Three kinds of classes are drawn so that a reader can always tell them apart:

* finite classes: filled dots (diagram) or solid bars (barcode);
* essential classes (never die): filled triangles on a solid line labelled ``inf`` above the
  largest finite death (diagram), or solid bars ending in a filled arrow at the right edge;
* censored classes (still alive at the filtration threshold ``t``, true death ``>= t``
  unknown): hollow circles on a dashed line labelled ``alive at threshold t`` (diagram), or
  bars that turn dashed after ``t`` and end in a hollow arrow (barcode).

All functions create a :class:`matplotlib.figure.Figure` with an Agg canvas (no pyplot, no
display) unless an ``ax`` is given, and return the figure. matplotlib is imported lazily.
"""

from __future__ import annotations

import base64
import io
import math
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._deps import require
from ..diagrams import PersistenceDiagrams
from ..exceptions import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "figure_to_data_uri",
    "figure_to_png_bytes",
    "plot_barcode",
    "plot_betti_curves",
    "plot_diagram",
]

_PURPOSE = "figures (topolens.viz)"
_GREY = "0.35"
#: Resolution the report renders figures at (:class:`topolens.report.Figure`'s default).
REPORT_DPI = 110
#: Barcode geometry at ``REPORT_DPI``: every row is at least this many pixels high and each
#: bar at least ``_BAR_MIN_PX`` thick, so bars never blur into a moiré.
_ROW_MIN_PX = 4.0
_BAR_MIN_PX = 2.0
_BARCODE_WIDTH_IN = 12.0
_BARCODE_MAX_HEIGHT_IN = 11.0
_BARCODE_MARGIN_IN = 1.3  # title, x axis, padding


# ----------------------------------------------------------------------------- helpers
def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """Return ``(figure, axes)``: the given axes' figure, or a new Agg-backed figure."""
    if ax is not None:
        return ax.figure, ax
    mfigure = require("matplotlib.figure", purpose=_PURPOSE)
    agg = require("matplotlib.backends.backend_agg", purpose=_PURPOSE)
    fig = mfigure.Figure(figsize=figsize, layout="constrained")
    agg.FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _as_diagrams(obj: Any) -> PersistenceDiagrams:
    if isinstance(obj, PersistenceDiagrams):
        return obj
    if isinstance(obj, np.ndarray) and obj.ndim == 2:
        obj = [obj]
    if isinstance(obj, Sequence) and any(isinstance(x, PersistenceDiagrams) for x in obj):
        raise InvalidInputError(
            "expected one PersistenceDiagrams, found a list of them; plot them one at a time, "
            "or use plot_betti_curves(list) to summarise resamples."
        )
    try:
        return PersistenceDiagrams(tuple(obj))
    except TypeError as exc:
        raise InvalidInputError(
            f"expected a PersistenceDiagrams (or a list of (m, 2) arrays, one per dimension); "
            f"found {type(obj).__name__}."
        ) from exc


def _resolve_dims(max_dim: int, dims: int | Iterable[int] | None) -> list[int]:
    if dims is None:
        return list(range(max_dim + 1))
    if isinstance(dims, (int, np.integer)):
        dims = [int(dims)]
    out = [int(k) for k in dims]
    bad = [k for k in out if not 0 <= k <= max_dim]
    if bad:
        raise InvalidInputError(
            f"homology dimension(s) {bad} not available; the diagrams hold dimensions 0..{max_dim}."
        )
    return out


def _threshold(d: PersistenceDiagrams) -> float | None:
    """The finite filtration threshold recorded in ``metadata["threshold"]``, if any."""
    t = d.metadata.get("threshold")
    try:
        t = float(t)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return t if math.isfinite(t) else None


def _color(dim: int) -> str:
    return f"C{dim % 10}"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


# ----------------------------------------------------------------------------- diagram
def plot_diagram(
    diagrams: PersistenceDiagrams,
    dims: int | Iterable[int] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Scatter plot of (birth, death) pairs per homology dimension, with the diagonal.

    Parameters
    ----------
    diagrams : PersistenceDiagrams
        The diagrams to draw (a list of ``(m, 2)`` arrays, one per dimension, is accepted too).
    dims : int or iterable of int, optional
        Homology dimensions to draw. Default: all.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into. Default: a new figure (Agg canvas, no pyplot).
    title : str, optional
        Axes title. Default: ``"Persistence diagram"``.

    Returns
    -------
    matplotlib.figure.Figure
        The new figure, or the figure of ``ax``.

    Notes
    -----
    Essential classes (never die) are drawn as filled triangles on a solid line labelled
    ``inf`` placed above every finite value. Censored classes (alive at the threshold ``t``,
    death unknown but ``>= t``) are drawn as hollow circles on a dashed line labelled
    ``alive at threshold t``, below the ``inf`` line: they are *not* essential.
    """
    d = _as_diagrams(diagrams)
    dims = _resolve_dims(d.max_dim, dims)
    fig, ax = _new_axes(ax, (5.0, 4.6))
    thr = _threshold(d)

    vals = [d[k][:, 0] for k in dims] + [d.finite(k)[:, 1] for k in dims]
    has_cens = any(len(d.censored_births(k)) for k in dims)
    has_ess = any(len(d.essential(k)) for k in dims)
    if has_cens and thr is not None:
        vals.append(np.array([thr]))
    allv = np.concatenate(vals) if vals else np.empty(0)
    lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + (abs(lo) if lo != 0 else 1.0)
    span = hi - lo
    step = 0.08 * span
    y = hi + step
    y_cens = y_inf = None
    if has_cens:
        y_cens, y = y, y + step
    if has_ess:
        y_inf, y = y, y + step
    top = y - step + 0.07 * span if (has_cens or has_ess) else hi + 0.05 * span
    left = lo - 0.05 * span

    # diagonal and the half-plane below it (where no point can lie)
    ax.fill_between([left, top], [left, top], left, color="0.93", zorder=0, linewidth=0)
    ax.plot([left, top], [left, top], color=_GREY, linewidth=0.8, zorder=1)
    # line labels on the right: essential H0 classes are usually born at the left edge
    text_kw = {"transform": ax.get_yaxis_transform(), "fontsize": 8, "color": _GREY,
               "va": "bottom", "ha": "right"}
    if y_inf is not None:
        ax.axhline(y_inf, color=_GREY, linewidth=0.8, linestyle="-", zorder=1)
        ax.text(0.99, y_inf, "inf", **text_kw)
    if y_cens is not None:
        ax.axhline(y_cens, color=_GREY, linewidth=0.8, linestyle="--", zorder=1)
        label = "alive at threshold" + (f" t={_fmt(thr)}" if thr is not None else "")
        ax.text(0.99, y_cens, label, **text_kw)

    n_drawn = 0
    for k in dims:
        c = _color(k)
        fin = d.finite(k)
        if len(fin):
            ax.scatter(fin[:, 0], fin[:, 1], s=18, color=c, alpha=0.8, edgecolors="none",
                       label=f"H{k} ({len(fin)})", zorder=3)
        ess = d.essential(k)
        if len(ess):
            ax.scatter(ess, np.full(len(ess), y_inf), s=36, marker="^", color=c,
                       label=f"H{k} essential ({len(ess)})", zorder=3)
        cen = d.censored_births(k)
        if len(cen):
            ax.scatter(cen, np.full(len(cen), y_cens), s=36, marker="o", facecolors="none",
                       edgecolors=c, linewidths=1.2,
                       label=f"H{k} alive at threshold ({len(cen)})", zorder=3)
        n_drawn += len(fin) + len(ess) + len(cen)

    if n_drawn == 0:
        ax.text(0.5, 0.5, "no classes", transform=ax.transAxes, ha="center", va="center",
                color=_GREY)
    else:
        ax.legend(loc="lower right", fontsize=8, frameon=True)
    ax.set_xlim(left, hi + 0.05 * span)
    ax.set_ylim(left, top)
    ax.set_xlabel("birth")
    ax.set_ylabel("death")
    ax.set_title("Persistence diagram" if title is None else title)
    return fig


# ----------------------------------------------------------------------------- barcode
def plot_barcode(
    diagrams: PersistenceDiagrams,
    dims: int | Iterable[int] | None = None,
    ax: Axes | None = None,
    max_bars: int = 100,
    *,
    title: str | None = None,
) -> Figure:
    """Persistence barcode: one horizontal bar ``[birth, death)`` per class.

    Bars are grouped by homology dimension (top to bottom) and, within a dimension, sorted by
    birth and then by decreasing length. A new figure is wide (12 in) and tall enough that at
    110 dpi every bar is at least 2 px thick on a row of at least 4 px; when the bars would
    not fit on 11 in, only the longest of each dimension are drawn.

    Parameters
    ----------
    diagrams : PersistenceDiagrams
        The diagrams to draw.
    dims : int or iterable of int, optional
        Homology dimensions to draw. Default: all.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into. Default: a new figure.
    max_bars : int, default 100
        At most this many bars per dimension: when a dimension has more classes, only the
        ``max_bars`` longest are drawn (essential and censored ones count as longest) and the
        title says how many shorter bars are not shown and how long they are at most. A new
        figure may lower the cap further so that the bars stay readable.
    title : str, optional
        Axes title. Default: ``"Persistence barcode"``.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Essential bars run to the right edge and end in a filled arrow. Censored bars are solid up
    to the threshold ``t`` (known alive), dashed after it (death unknown) and end in a hollow
    arrow; a dotted vertical line marks ``t``.
    """
    if int(max_bars) < 1:
        raise InvalidInputError(f"max_bars must be a positive integer, found {max_bars!r}.")
    max_bars = int(max_bars)
    d = _as_diagrams(diagrams)
    dims = _resolve_dims(d.max_dim, dims)
    thr = _threshold(d)

    caps = _bar_caps([len(d[k]) for k in dims], max_bars, fit=ax is None)
    groups: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    notes: list[str] = []
    for k, cap in zip(dims, caps, strict=True):
        arr, cens = d[k], d.censored[k]
        length = arr[:, 1] - arr[:, 0]  # inf for essential and censored classes
        idx = np.arange(len(arr))
        if len(arr) > cap:
            order = np.argsort(-length, kind="stable")
            idx, hidden = order[:cap], order[cap:]
            notes.append(f"H{k}: {cap} longest of {len(arr)} shown, {hidden.size} shorter bars "
                         f"(length <= {_fmt(float(length[hidden].max()))}) not shown")
        sel_b, sel_len = arr[idx, 0], length[idx]
        idx = idx[np.lexsort((-sel_len, sel_b))]
        groups.append((k, arr[idx, 0], arr[idx, 1], cens[idx]))

    births = np.concatenate([g[1] for g in groups]) if groups else np.empty(0)
    deaths = np.concatenate([g[2] for g in groups]) if groups else np.empty(0)
    cens_all = np.concatenate([g[3] for g in groups]) if groups else np.empty(0, bool)
    vals = [births, deaths[np.isfinite(deaths)]]
    if thr is not None and cens_all.any():
        vals.append(np.array([thr]))
    allv = np.concatenate(vals)
    lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + (abs(lo) if lo != 0 else 1.0)
    span = hi - lo
    edge = hi + 0.06 * span

    n_total = sum(len(g[1]) for g in groups)
    gap = max(1.0, 0.05 * n_total)
    n_rows = sum(max(len(g[1]), 1) for g in groups) + gap * max(len(groups) - 1, 0) + 1.6
    height = _BARCODE_MARGIN_IN + n_rows * _ROW_MIN_PX / REPORT_DPI
    fig, ax = _new_axes(ax, (_BARCODE_WIDTH_IN, float(np.clip(height, 2.6, _BARCODE_MAX_HEIGHT_IN))))
    # bar thickness: ~60% of the vertical space of one row, in points, never under 2 px
    axes_pt = max(fig.get_figheight() - _BARCODE_MARGIN_IN, 0.5) * 72.0
    lw = float(np.clip(0.6 * axes_pt / n_rows, _BAR_MIN_PX * 72.0 / REPORT_DPI, 6.0))
    ms = float(np.clip(lw * 1.8, 3.0, 7.0))
    cursor = 0.0
    ticks, ticklabels = [], []
    labelled: set[str] = set()

    def _lab(key: str) -> bool:
        """True the first time ``key`` is seen (to add one legend entry per kind)."""
        if key in labelled:
            return False
        labelled.add(key)
        return True

    for gi, (k, b, dth, cen) in enumerate(groups):
        c = _color(k)
        ys = cursor + np.arange(len(b), dtype=float)
        fin = np.isfinite(dth)
        ess = ~fin & ~cen
        if fin.any():
            ax.hlines(ys[fin], b[fin], dth[fin], colors=c, linewidth=lw, label=f"H{k}")
        if ess.any():
            ax.hlines(ys[ess], b[ess], edge, colors=c, linewidth=lw,
                      label=None if fin.any() else f"H{k}")
            ax.plot(np.full(ess.sum(), edge), ys[ess], linestyle="none", marker=">",
                    markersize=ms, color=c)
            if _lab("ess"):  # one neutral legend entry for all dimensions
                ax.plot([], [], linestyle="none", marker=">", markersize=6, color=_GREY,
                        label="essential (never dies)")
        if cen.any():
            cut = thr if thr is not None else b[cen]
            known_end = np.maximum(b[cen], cut)
            ax.hlines(ys[cen], b[cen], known_end, colors=c, linewidth=lw,
                      label=None if (fin.any() or ess.any()) else f"H{k}")
            ax.hlines(ys[cen], known_end, edge, colors=c, linewidth=max(lw * 0.7, 0.8),
                      linestyles="dashed", alpha=0.8)
            ax.plot(np.full(cen.sum(), edge), ys[cen], linestyle="none", marker=">",
                    markersize=ms, markerfacecolor="none", markeredgecolor=c)
            if _lab("cen"):
                ax.plot([], [], linestyle="--", marker=">", markersize=6,
                        markerfacecolor="none", color=_GREY,
                        label="alive at threshold (death unknown)")
        if len(b):
            ticks.append(cursor + (len(b) - 1) / 2.0)
            ticklabels.append(f"H{k}")
        else:
            ticks.append(cursor)
            ticklabels.append(f"H{k} (none)")
        cursor += max(len(b), 1)
        if gi < len(groups) - 1:
            ax.axhline(cursor - 1 + gap / 2.0, color="0.85", linewidth=0.8)
            cursor += gap

    if thr is not None and cens_all.any():
        ax.axvline(thr, color=_GREY, linewidth=0.8, linestyle=":",
                   label=f"threshold t={_fmt(thr)}")
    if n_total == 0:
        ax.text(0.5, 0.5, "no classes", transform=ax.transAxes, ha="center", va="center",
                color=_GREY)
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
                  borderaxespad=0.0)
    ax.set_xlim(lo - 0.03 * span, edge + 0.03 * span)
    ax.set_ylim(max(cursor - 1, 0) + 0.8, -0.8)  # first bar on top
    ax.set_yticks(ticks, ticklabels)
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel("filtration value")
    head = "Persistence barcode" if title is None else title
    ax.set_title(head + "".join(f"\n({n})" for n in notes), fontsize=10)
    return fig


def _bar_caps(counts: list[int], max_bars: int, *, fit: bool) -> list[int]:
    """Bars drawn per dimension: at most ``max_bars`` each and, on a new figure (``fit``), few
    enough in total for rows of ``_ROW_MIN_PX`` pixels on the tallest figure."""
    caps = [min(c, max_bars) for c in counts]
    if not fit:
        return caps
    rows = int((_BARCODE_MAX_HEIGHT_IN - _BARCODE_MARGIN_IN) * REPORT_DPI / _ROW_MIN_PX)
    budget = max(rows - 2 - 2 * max(len(counts) - 1, 0), len(counts))
    budget = int(budget / (1.0 + 0.05 * max(len(counts) - 1, 0)))  # the gaps between groups
    if sum(caps) <= budget:
        return caps
    # one common cap, the largest that fits: small dimensions keep every bar
    lo, hi = 1, max(caps)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if sum(min(c, mid) for c in caps) <= budget else (lo, mid - 1)
    return [min(c, lo) for c in caps]


# ------------------------------------------------------------------------ Betti curves
def _as_diagram_list(obj: Any) -> tuple[list[PersistenceDiagrams], bool]:
    """Return ``(list of diagrams, is_single)``."""
    if isinstance(obj, PersistenceDiagrams):
        return [obj], True
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)):
        items = list(obj)
        if not items:
            raise InvalidInputError("plot_betti_curves needs at least one PersistenceDiagrams.")
        if all(isinstance(x, PersistenceDiagrams) for x in items):
            return items, len(items) == 1
    return [_as_diagrams(obj)], True


def _default_grid(dlist: list[PersistenceDiagrams], dims: list[int], n: int = 256) -> np.ndarray:
    vals = []
    thrs = []
    for d in dlist:
        for k in dims:
            vals.append(d[k][:, 0])
            vals.append(d.finite(k)[:, 1])
        thr = _threshold(d)
        if thr is not None and any(len(d.censored_births(k)) for k in dims):
            thrs.append(thr)
    allv = np.concatenate([*vals, np.asarray(thrs, dtype=np.float64)])
    lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + (abs(lo) if lo != 0 else 1.0)
    # run slightly past the last death so that the curves visibly drop, but not past a
    # threshold beyond which censored deaths are unknown
    end = hi + 0.02 * (hi - lo)
    if thrs and min(thrs) >= hi:
        end = min(thrs)
    return np.linspace(lo, end, n)


def plot_betti_curves(
    diagrams_or_list: PersistenceDiagrams | Sequence[PersistenceDiagrams],
    dims: int | Iterable[int] | None = None,
    ax: Axes | None = None,
    grid: np.ndarray | Sequence[float] | None = None,
    *,
    band: str = "minmax",
    title: str | None = None,
) -> Figure:
    """Betti numbers against the filtration value, one curve per homology dimension.

    The Betti number at ``t`` counts the classes with ``birth <= t < death``
    (:func:`topolens.vectorize.betti_curve`); essential and censored classes count as alive.

    Parameters
    ----------
    diagrams_or_list : PersistenceDiagrams or sequence of PersistenceDiagrams
        One diagram, or several (e.g. bootstrap resamples): then the mean curve is drawn with a
        shaded band.
    dims : int or iterable of int, optional
        Homology dimensions. Default: all dimensions held by every diagram.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into. Default: a new figure.
    grid : array-like of shape (g,), optional
        Increasing filtration values at which to evaluate. Default: 256 points from the
        smallest birth to just past the largest finite death (or the threshold).
    band : {"minmax", "std"}, default "minmax"
        Band drawn around the mean for a list: the pointwise min–max range, or mean ± one
        standard deviation.
    title : str, optional
        Axes title. Default: ``"Betti curves"`` (with the number of resamples for a list).

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Past the filtration threshold ``t`` the deaths of censored classes are unknown, so that
    part of the axis is shaded grey when the grid extends beyond ``t``.
    """
    if band not in ("minmax", "std"):
        raise InvalidInputError(f"band must be 'minmax' or 'std', found {band!r}.")
    from ..vectorize import betti_curve  # core module; never imports matplotlib

    dlist, single = _as_diagram_list(diagrams_or_list)
    common_max = min(d.max_dim for d in dlist)
    dims = _resolve_dims(common_max, dims)
    if grid is None:
        g = _default_grid(dlist, dims)
    else:
        g = np.asarray(grid, dtype=np.float64).reshape(-1)
        if g.size < 2 or not np.isfinite(g).all() or (np.diff(g) <= 0).any():
            raise InvalidInputError(
                "grid must be a 1-D array of at least 2 finite, strictly increasing values; "
                f"found {g.size} value(s)."
            )
    ticker = require("matplotlib.ticker", purpose=_PURPOSE)
    fig, ax = _new_axes(ax, (6.0, 3.8))

    thrs = [t for d in dlist if (t := _threshold(d)) is not None and d.n_censored > 0]
    if thrs and g[-1] > min(thrs):
        ax.axvspan(min(thrs), g[-1], color="0.92", zorder=0, linewidth=0,
                   label="beyond threshold (censored deaths unknown)")

    for k in dims:
        c = _color(k)
        curves = np.stack([np.asarray(betti_curve(d[k], g), dtype=np.float64) for d in dlist])
        if single:
            ax.plot(g, curves[0], drawstyle="steps-post", color=c, linewidth=1.5, label=f"H{k}")
            continue
        mean = curves.mean(axis=0)
        if band == "minmax":
            low, high = curves.min(axis=0), curves.max(axis=0)
            band_label = "min–max"
        else:
            sd = curves.std(axis=0)
            low, high = mean - sd, mean + sd
            band_label = "±1 std"
        ax.fill_between(g, low, high, step="post", color=c, alpha=0.22, linewidth=0,
                        label=f"H{k} {band_label}")
        ax.plot(g, mean, drawstyle="steps-post", color=c, linewidth=1.5, label=f"H{k} mean")

    ax.set_xlim(g[0], g[-1])
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlabel("filtration value")
    ax.set_ylabel("Betti number")
    if title is None:
        title = "Betti curves" if single else f"Betti curves (mean over {len(dlist)} diagrams)"
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8, frameon=True)
    return fig


# --------------------------------------------------------------------------- rendering
def figure_to_png_bytes(fig: Figure, dpi: int = 110, *, close: bool = True) -> bytes:
    """Render a matplotlib figure to PNG bytes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Any figure (one made by :mod:`topolens.viz`, or a pyplot figure).
    dpi : int, default 110
        Resolution.
    close : bool, default True
        Release the figure after rendering: it is closed in pyplot (if pyplot manages it) and
        cleared, so rendering many figures does not make memory grow. Pass ``False`` to keep
        using the figure.

    Returns
    -------
    bytes
        The PNG file content.
    """
    if not hasattr(fig, "savefig"):
        raise InvalidInputError(
            f"expected a matplotlib Figure, found {type(fig).__name__}."
        )
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        if close:
            _close(fig)
    return buf.getvalue()


def figure_to_data_uri(fig: Figure, dpi: int = 110, *, close: bool = True) -> str:
    """Render a figure to a ``data:image/png;base64,...`` URI (for self-contained HTML).

    Parameters are those of :func:`figure_to_png_bytes`.
    """
    png = figure_to_png_bytes(fig, dpi=dpi, close=close)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _close(fig: Figure) -> None:
    plt = sys.modules.get("matplotlib.pyplot")  # never import pyplot just to close
    if plt is not None:
        plt.close(fig)
    fig.clear()
