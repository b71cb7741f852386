"""Stability of a Mapper graph under its settings: does the picture change?

:func:`stability_sweep` builds the graph for every combination of interval counts, overlaps and
DBSCAN radii from one shared neighbour graph, and reports for each setting the graph's size,
its Betti numbers (components b0 and independent cycles b1), the share of inputs it covers, and
how much it agrees with a reference setting:

``node_agreement``
    For each node, the best Jaccard similarity of its member set with a node of the other graph,
    averaged with node sizes as weights, in both directions and then averaged (1 = the same nodes).
``component_ari``
    Adjusted Rand index between the partitions of the inputs (covered by both) into connected
    components of the two graphs (1 = the same components, ~0 = unrelated).

Settings whose rows agree with their neighbours are the ones to trust.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..exceptions import InvalidInputError
from .build import DEFAULT_EPS_QUANTILE, DEFAULT_MIN_SAMPLES, Mapper, _cover_kwargs, _set_extent
from .cover import make_cover
from .graph import MapperGraph
from .lenses import Lens

__all__ = ["SweepResult", "component_ari", "node_agreement", "stability_sweep"]

logger = logging.getLogger(__name__)


def node_agreement(a: MapperGraph, b: MapperGraph) -> float:
    """Size-weighted mean best-match Jaccard of the nodes of ``a`` in ``b`` and vice versa."""
    if a.n_points != b.n_points:
        raise InvalidInputError("the graphs must be built over the same points.")
    if a.n_nodes == 0 or b.n_nodes == 0:
        return 1.0 if a.n_nodes == b.n_nodes else 0.0
    inter = (a.incidence().T @ b.incidence()).tocoo()
    sa, sb = a.sizes, b.sizes
    jac = inter.data / (sa[inter.row] + sb[inter.col] - inter.data)
    best_a = np.zeros(a.n_nodes)
    best_b = np.zeros(b.n_nodes)
    np.maximum.at(best_a, inter.row, jac)
    np.maximum.at(best_b, inter.col, jac)
    return float(0.5 * (np.average(best_a, weights=sa) + np.average(best_b, weights=sb)))


def _point_components(g: MapperGraph) -> np.ndarray:
    comp = g.components()
    out = np.full(g.n_points, -1, dtype=np.int64)
    for node in np.argsort(g.sizes)[::-1]:  # any node of a point gives the same component
        out[g.members[node]] = comp[node]
    return out


def component_ari(a: MapperGraph, b: MapperGraph) -> float:
    """Adjusted Rand index of the inputs' connected components in the two graphs."""
    from sklearn.metrics import adjusted_rand_score

    ca, cb = _point_components(a), _point_components(b)
    both = (ca >= 0) & (cb >= 0)
    if both.sum() < 2:
        return float("nan")
    return float(adjusted_rand_score(ca[both], cb[both]))


@dataclass
class SweepResult:
    """One row per setting (see the module docs for the columns)."""

    rows: list[dict[str, Any]]
    reference: int
    graphs: list[MapperGraph] | None = field(default=None, repr=False)

    COLUMNS = ("n_intervals", "overlap", "eps", "n_nodes", "n_edges", "b0", "b1", "coverage",
               "node_agreement", "component_ari")

    def table(self) -> tuple[list[list[Any]], list[str]]:
        """(rows, column names) of the sweep, for report tables."""
        cols = list(self.COLUMNS)
        return [[r[c] for c in cols] for r in self.rows], cols

    def to_markdown(self) -> str:
        """The sweep as a Markdown table; the reference row is marked "(ref)"."""
        rows, cols = self.table()
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for i, r in enumerate(rows):
            cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in r]
            if i == self.reference:
                cells[0] += " (ref)"
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def stability_sweep(x: Any, *, lens: Lens = "l2norm",
                    n_intervals: Sequence[int] = (6, 8, 10, 12, 15),
                    overlap: Sequence[float] = (0.2, 0.3, 0.4),
                    eps: Sequence[float] | None = None,
                    eps_quantiles: Sequence[float] | None = None,
                    min_samples: int = DEFAULT_MIN_SAMPLES, cover: Any = "uniform",
                    noise: str = "drop", reference: dict[str, Any] | None = None,
                    keep_graphs: bool = False, device: Any = None, random_state: int = 0,
                    progress: bool = True) -> SweepResult:
    """Mapper graphs of the rows of ``x`` for a grid of settings, and how stable they are.

    Parameters
    ----------
    x : array-like (n_points, n_features)
    lens : see :func:`~topolens.mapper.lenses.compute_lens`
    n_intervals, overlap : sequences
        Cover settings to try.
    eps : sequence of float, optional
        DBSCAN radii to try. Default: from ``eps_quantiles`` (default ``(DEFAULT_EPS_QUANTILE,)``)
        of the k-distances.
    min_samples, cover, noise : as in :class:`~topolens.mapper.Mapper`
        (a cover object is re-made with each ``n_intervals``/``overlap``; it is not modified).
    reference : dict, optional
        The setting the others are compared with (keys n_intervals, overlap, eps); default the
        middle of each list.
    keep_graphs : bool
        Keep every graph in the result (memory grows with the grid).

    Returns
    -------
    SweepResult
    """
    m = Mapper(lens, cover=cover, min_samples=min_samples, noise=noise, device=device,
               random_state=random_state)
    m._setup(x)
    if eps is None:
        qs = list(eps_quantiles) if eps_quantiles is not None else [DEFAULT_EPS_QUANTILE]
        eps = [m.eps_from_quantile(float(q)) for q in qs]  # k-distances computed once
    eps = [float(e) for e in eps]
    ns, ps = list(n_intervals), list(overlap)
    if not ns or not ps or not eps:
        raise InvalidInputError("n_intervals, overlap and eps each need at least one value.")
    settings = list(itertools.product(ns, ps, eps))
    if reference is None:
        reference = {"n_intervals": ns[len(ns) // 2], "overlap": ps[len(ps) // 2],
                     "eps": eps[len(eps) // 2]}
    ref_key = (reference["n_intervals"], float(reference["overlap"]), float(reference["eps"]))
    if ref_key not in settings:
        settings.append(ref_key)
    ref_index = settings.index(ref_key)
    # one neighbour graph for the largest radius and the longest cover set of the sweep
    extent = 0.0
    for k, p in itertools.product(ns, ps):
        cov = (make_cover(cover, n_intervals=k, overlap=p) if cover is None or isinstance(cover, str)
               else type(cover)(**_cover_kwargs(cover, k, p)))
        sets = cov.fit(m.lens_.values).sets_
        extent = max(extent, _set_extent(sets, m.lens_.values))
    m.prepare(max(eps), extent)
    graphs: list[MapperGraph] = []
    it = settings
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(settings, desc="Mapper sweep", unit="setting")
    for k, p, e in it:
        graphs.append(m.refit(cover=cover, n_intervals=k, overlap=p, eps=e))
    ref = graphs[ref_index]
    rows = []
    for (k, p, e), g in zip(settings, graphs, strict=True):
        s = g.summary()
        rows.append({"n_intervals": k, "overlap": p, "eps": e, "n_nodes": s["n_nodes"],
                     "n_edges": s["n_edges"], "b0": s["b0"], "b1": s["b1"],
                     "coverage": s["coverage"], "node_agreement": node_agreement(g, ref),
                     "component_ari": component_ari(g, ref)})
    return SweepResult(rows, ref_index, graphs if keep_graphs else None)
