"""The one persistence-diagram type of topolens, with converters and distances.

A :class:`PersistenceDiagrams` holds, for each homology dimension ``0..max_dim``:

* ``dgms[k]``: float64 array of shape ``(m_k, 2)`` of (birth, death) pairs; ``death`` is
  ``np.inf`` for a class that never dies in the computed filtration;
* ``censored[k]``: bool array of shape ``(m_k,)``; ``True`` marks a class that was still
  alive at the filtration's threshold (its true death is unknown and at least the threshold).
  Such a class is *not* essential: it is reported with ``death = inf`` but flagged here, so
  no vectorization mistakes it for an essential class. :meth:`essential` excludes them;
* ``pairs[k]`` (optional): int64 array of shape ``(m_k, 4)`` of critical edges
  ``[b_u, b_v, d_u, d_v]``: the class is born when the edge ``(b_u, b_v)`` enters the
  filtration (``b_u == b_v`` for a vertex) and dies when ``(d_u, d_v)`` enters
  (``-1, -1`` when it never dies). For Vietoris-Rips and flag filtrations every birth and
  death value is the filtration value of such an edge, which is what makes
  persistence differentiable (gather ``D[b_u, b_v]`` and ``D[d_u, d_v]`` from a live tensor);
* ``metadata``: JSON-serialisable dict (filtration, dissimilarity, threshold, backend, ...).

Converters: :meth:`from_gudhi` / :meth:`to_gudhi` (list of ``(dim, (birth, death))``),
:meth:`from_ripser` / :meth:`to_ripser` (list of ``(m_k, 2)`` arrays, as ripser.py and
giotto-ph return under ``"dgms"``). Distances: :meth:`bottleneck` (exact, our own matching:
gudhi 3.13's was wrong on a small case) and :meth:`wasserstein` through gudhi (hera).

Layout: ``_core`` (the class), ``_fields`` (validation of every field, shared by all the ways
in), ``_files`` (``.npz`` and dict I/O), ``_convert`` (gudhi, ripser), ``_distances`` and
``_bottleneck`` (distances) with ``_matching`` (its numba kernels).
"""

from __future__ import annotations

from ._bottleneck import bottleneck_distance
from ._core import PersistenceDiagrams

__all__ = ["PersistenceDiagrams", "bottleneck_distance"]
