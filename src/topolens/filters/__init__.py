"""Topology of image patches and convolution filters (Carlsson et al. 2008; Carlsson & Gabrielsson).

The points are patches or filters, as the rows of an ``(n, size * size)`` array (pixel ``(i, j)``
at index ``i * size + j``, row 0 at the top).

* :mod:`._basis`: the contrast norm (:func:`dnorm`), the DCT basis and coordinates on the sphere;
* :mod:`._patches`: patches of images (:func:`image_patches`, :func:`high_contrast`);
* :mod:`._density`: the density filtration X(k, p) and max-min landmarks;
* :mod:`._extract`: learned filters of models, state dicts and zoos as a :class:`FilterSet`;
* :mod:`._topology`: persistence of filter sets over Z/2 and Z/3 (landmarks), circle share, Mapper;
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
from ._density import METRICS, DensityFiltered, density_filter, maxmin_landmarks
from ._extract import MODES, FilterSet, extract_filters
from ._klein import (
    KleinCoordinates,
    circle_filters,
    klein_canonical,
    klein_coordinates,
    klein_filter,
    klein_filters,
    three_circle_filters,
)
from ._patches import LOG_EPS, LUMINANCE_WEIGHTS, high_contrast, image_patches
from ._topology import (
    AUTO_FULL_LANDMARKS,
    AUTO_MIN_QUANTILE,
    circle_share,
    circle_similarity,
    filter_mapper,
    filter_persistence,
)

__all__ = [
    "AUTO_FULL_LANDMARKS",
    "AUTO_MIN_QUANTILE",
    "LOG_EPS",
    "LUMINANCE_WEIGHTS",
    "METRICS",
    "MODES",
    "NORMALIZATIONS",
    "DensityFiltered",
    "FilterSet",
    "KleinCoordinates",
    "check_square_size",
    "circle_filters",
    "circle_share",
    "circle_similarity",
    "dct_basis",
    "density_filter",
    "dnorm",
    "extract_filters",
    "filter_mapper",
    "filter_persistence",
    "grid_laplacian",
    "high_contrast",
    "image_patches",
    "klein_canonical",
    "klein_coordinates",
    "klein_filter",
    "klein_filters",
    "maxmin_landmarks",
    "normalize_filters",
    "three_circle_filters",
    "to_dct",
]
