"""Topology of image patches and convolution filters (Carlsson et al. 2008; Carlsson & Gabrielsson).

The points are patches or filters, as the rows of an ``(n, size * size)`` array (pixel ``(i, j)``
at index ``i * size + j``, row 0 at the top).

* :mod:`._basis`: the contrast norm (:func:`dnorm`), the DCT basis and coordinates on the sphere;
* :mod:`._klein`: the primary circle, the three-circle model and the Klein bottle in closed form,
  and :func:`klein_coordinates` (where a filter sits on the bottle).

The prior layers built from these filters live in :mod:`topolens.nn` (``CircleConv2d``,
``KleinConv2d`` ...); figures in :mod:`topolens.viz`.
"""

from __future__ import annotations

from ._basis import (
    NORMALIZATIONS,
    check_square_size,
    dct_basis,
    dnorm,
    grid_laplacian,
    normalize_filters,
    to_dct,
)
from ._klein import (
    KleinCoordinates,
    circle_filters,
    klein_canonical,
    klein_coordinates,
    klein_filter,
    klein_filters,
    three_circle_filters,
)

__all__ = [
    "NORMALIZATIONS",
    "KleinCoordinates",
    "check_square_size",
    "circle_filters",
    "dct_basis",
    "dnorm",
    "grid_laplacian",
    "klein_canonical",
    "klein_coordinates",
    "klein_filter",
    "klein_filters",
    "normalize_filters",
    "three_circle_filters",
    "to_dct",
]
