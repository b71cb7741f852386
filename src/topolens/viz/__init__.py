"""Figures of topolens results (optional: needs the ``viz`` extra, i.e. matplotlib).

Everything here draws with matplotlib's non-interactive Agg canvas on
:class:`matplotlib.figure.Figure` objects created directly, so no global pyplot state is
touched and no display is needed. matplotlib is imported lazily, inside the functions:
importing :mod:`topolens.viz` does not import it, and the computational modules of
topolens never import this package.

Functions
---------
plot_diagram
    Birth/death scatter with the diagonal, essential and censored classes marked apart.
plot_barcode
    One bar per class, grouped by homology dimension.
plot_betti_curves
    Betti numbers against the filtration value, with a band over bootstrap resamples.
plot_gap_scatter, plot_feature_correlations
    Predicted against true generalization gap; feature-gap rank correlations.
plot_filter_grid, plot_klein_scatter, filter_thumbnails
    Convolution filters as thumbnails, placed on the Klein bottle, or as explorer images.
figure_to_png_bytes, figure_to_data_uri
    Render a figure to PNG bytes or a ``data:image/png;base64,...`` URI and close it.

The Mapper explorer (no matplotlib) lives in :mod:`topolens.viz.mapper_html`
(``render_explorer``, ``write_explorer``) and :mod:`topolens.viz.mapper_payload`
(``explorer_payload``: graphs and node statistics -> the explorer's data).
"""

from __future__ import annotations

from .diagrams import (
    figure_to_data_uri,
    figure_to_png_bytes,
    plot_barcode,
    plot_betti_curves,
    plot_diagram,
)
from .filters import filter_thumbnails, plot_filter_grid, plot_klein_scatter
from .generalization import plot_feature_correlations, plot_gap_scatter
from .training import plot_training_history

__all__ = [
    "figure_to_data_uri",
    "figure_to_png_bytes",
    "filter_thumbnails",
    "plot_barcode",
    "plot_betti_curves",
    "plot_diagram",
    "plot_feature_correlations",
    "plot_filter_grid",
    "plot_gap_scatter",
    "plot_klein_scatter",
    "plot_training_history",
]
