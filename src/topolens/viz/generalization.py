"""Figures of generalization-gap prediction (predicted vs true gap, feature correlations)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .diagrams import _new_axes

__all__ = ["plot_feature_correlations", "plot_gap_scatter"]


def plot_gap_scatter(result: Any, predictor: str = "topology", ax: Any = None,
                     title: str | None = None) -> Any:
    """Out-of-fold predicted gap (mean over repeats) against the true gap, one dot per model.

    Parameters
    ----------
    result : topolens.generalization.GapPrediction
    predictor : str
        Name of the predictor to draw.
    """
    p = result[predictor]
    fig, ax = _new_axes(ax, (4.2, 4.0))
    y = np.asarray(result.gaps)
    ax.scatter(y, p.predictions, s=18, color="#1f77b4", alpha=0.8, edgecolor="none")
    lo = float(min(y.min(), p.predictions.min()))
    hi = float(max(y.max(), p.predictions.max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "--", color="#888888", lw=1)
    ax.set_xlabel("true gap (train - test accuracy)")
    ax.set_ylabel("predicted gap (out of fold)")
    ax.set_title(title or f"{predictor}: R² {p.r2_mean:.2f}, τ {p.kendall_tau:.2f}", fontsize=10)
    return fig


def plot_feature_correlations(per_feature: Sequence[dict[str, Any]], top: int = 20, ax: Any = None,
                              title: str | None = "Kendall τ of each feature with the gap") -> Any:
    """Horizontal bars of the Kendall tau of the ``top`` features most correlated with the gap."""
    rows = [r for r in per_feature if np.isfinite(r["kendall_tau"])][:top]
    fig, ax = _new_axes(ax, (6.0, 0.25 * max(len(rows), 4) + 1.0))
    names = [r["feature"] for r in rows][::-1]
    taus = [r["kendall_tau"] for r in rows][::-1]
    colors = ["#1f77b4" if n.startswith("topo_") else "#ff7f0e" for n in names]
    ax.barh(range(len(names)), taus, color=colors)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.axvline(0, color="#444444", lw=0.8)
    ax.set_xlabel("Kendall τ (blue: topological, orange: baseline)")
    if title:
        ax.set_title(title, fontsize=10)
    return fig
