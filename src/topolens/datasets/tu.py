"""TU graph classification benchmarks (Morris et al. 2020) in their original text format.

A data set ``NAME`` is read from ``<root>/tu/NAME.zip`` (holding ``NAME/``) or from the folder
``<root>/tu/NAME/``, with ``root`` from :func:`~topolens.datasets.data_root` (``TOPOLENS_DATA``).
Files (1-based node ids, one line per item):

* ``NAME_A.txt``: ``u, v`` per (directed) edge, all graphs together;
* ``NAME_graph_indicator.txt``: the graph of each node;
* ``NAME_graph_labels.txt``: the class of each graph;
* optional ``NAME_node_labels.txt``, ``NAME_edge_labels.txt`` (aligned with ``_A``) and
  ``NAME_node_attributes.txt`` (comma-separated floats per node).

Edges are made undirected and deduplicated (``u < v``; IMDB lists every edge in both
directions and some twice); self-loops are dropped and counted. An edge keeps the label of its
first occurrence. Nothing is downloaded.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..exceptions import DataNotFoundError, IntegrityError
from ._root import _resolve_root

__all__ = ["TU_DATASETS", "Graph", "GraphDataset", "load_tu"]

logger = logging.getLogger(__name__)

#: the TU sets used by the benchmarks of issue 6
TU_DATASETS = ("MUTAG", "PROTEINS", "COX2", "NCI1", "NCI109", "PTC_MR", "ENZYMES", "IMDB-BINARY", "IMDB-MULTI")


@dataclass(frozen=True)
class Graph:
    """One undirected graph.

    Attributes
    ----------
    n_nodes : int
    edges : int64 ndarray of shape (n_edges, 2)
        ``u < v``, sorted, no duplicates, 0-based within the graph.
    node_labels, edge_labels : int64 ndarray or None
    node_attributes : float64 ndarray of shape (n_nodes, d) or None
    """

    n_nodes: int
    edges: np.ndarray
    node_labels: np.ndarray | None = None
    edge_labels: np.ndarray | None = None
    node_attributes: np.ndarray | None = None

    @property
    def n_edges(self) -> int:
        return int(self.edges.shape[0])

    def adjacency(self) -> np.ndarray:
        """Dense symmetric 0/1 adjacency matrix (n_nodes, n_nodes)."""
        a = np.zeros((self.n_nodes, self.n_nodes), dtype=np.float32)
        a[self.edges[:, 0], self.edges[:, 1]] = 1
        a[self.edges[:, 1], self.edges[:, 0]] = 1
        return a


@dataclass(frozen=True)
class GraphDataset:
    """A list of graphs with one class label each."""

    name: str
    graphs: list[Graph]
    y: np.ndarray
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i: int) -> Graph:
        return self.graphs[i]

    def stats(self) -> dict[str, float]:
        """Number of graphs, mean nodes and mean (undirected) edges, classes."""
        return {"graphs": len(self.graphs), "mean nodes": float(np.mean([g.n_nodes for g in self.graphs])),
                "mean edges": float(np.mean([g.n_edges for g in self.graphs])),
                "classes": int(np.unique(self.y).size)}


def _numbers(text: str, dtype: type, where: str) -> np.ndarray:
    try:
        return np.array(text.replace(",", " ").split(), dtype=dtype)
    except ValueError as exc:
        raise IntegrityError(f"{where}: not a list of numbers ({exc}).") from exc


class _Source:
    """The files of one data set, in a zip or a folder."""

    def __init__(self, name: str, root: str | os.PathLike | None) -> None:
        base, how = _resolve_root(root)
        folder, archive = base / "tu" / name, base / "tu" / f"{name}.zip"
        self.name = name
        if folder.is_dir():
            self.folder, self.zip = folder, None
        elif archive.is_file():
            self.folder, self.zip = None, zipfile.ZipFile(archive)
        else:
            have = sorted(p.stem for p in (base / "tu").glob("*")) if (base / "tu").is_dir() else []
            raise DataNotFoundError(
                f"TU data set {name!r} not found: neither {archive} nor {folder} exists (data root from "
                f"{how}). Available there: {', '.join(have) or 'none'}. Put the TU zip (holding {name}/) "
                "in <root>/tu/ or set TOPOLENS_DATA."
            )

    def read(self, suffix: str, required: bool = True) -> str | None:
        fname = f"{self.name}_{suffix}.txt"
        if self.folder is not None:
            p = self.folder / fname
            if p.is_file():
                return p.read_text()
        else:
            for member in (f"{self.name}/{fname}", fname):
                try:
                    with self.zip.open(member) as fh:
                        return io.TextIOWrapper(fh, encoding="utf-8").read()
                except KeyError:
                    continue
        if required:
            raise DataNotFoundError(f"TU data set {self.name!r} lacks {fname}; it is required.")
        return None


def load_tu(name: str, root: str | os.PathLike | None = None) -> GraphDataset:
    """Load a TU graph classification data set.

    Parameters
    ----------
    name : str
        E.g. ``"MUTAG"``, ``"PROTEINS"``, ``"IMDB-BINARY"`` (the zip's name).
    root : path-like, optional
        Data root; default ``TOPOLENS_DATA``, else ``~/.cache/topolens``.

    Returns
    -------
    GraphDataset

    Raises
    ------
    DataNotFoundError
        The set or one of its required files is missing.
    IntegrityError
        The files contradict each other (node ids out of range, edges across graphs, counts).
    """
    src = _Source(name, root)
    indicator = _numbers(src.read("graph_indicator"), np.int64, "graph_indicator") - 1
    y = _numbers(src.read("graph_labels"), np.int64, "graph_labels")
    a = _numbers(src.read("A"), np.int64, "A")
    if a.size % 2:
        raise IntegrityError(f"{name}_A.txt has an odd number of node ids; expected 'u, v' per line.")
    a = a.reshape(-1, 2) - 1
    n_nodes, n_graphs = indicator.size, y.size
    if n_nodes == 0 or indicator.min() < 0 or indicator.max() != n_graphs - 1 or np.any(np.diff(indicator) < 0):
        raise IntegrityError(
            f"{name}_graph_indicator.txt must number the graphs 1..{n_graphs} in non-decreasing order "
            f"(one per line of graph_labels); found values {indicator.min() + 1}..{indicator.max() + 1}."
        )
    if a.size and (a.min() < 0 or a.max() >= n_nodes):
        raise IntegrityError(f"{name}_A.txt refers to node {int(a.max()) + 1} but there are {n_nodes} nodes.")
    if np.any(indicator[a[:, 0]] != indicator[a[:, 1]]):
        raise IntegrityError(f"{name}_A.txt has edges between different graphs.")
    node_labels = src.read("node_labels", required=False)
    node_labels = _numbers(node_labels, np.int64, "node_labels") if node_labels is not None else None
    edge_labels = src.read("edge_labels", required=False)
    edge_labels = _numbers(edge_labels, np.int64, "edge_labels") if edge_labels is not None else None
    attrs = src.read("node_attributes", required=False)
    if attrs is not None:
        rows = [r for r in attrs.splitlines() if r.strip()]
        attrs = _numbers(attrs, np.float64, "node_attributes").reshape(len(rows), -1)
    for what, arr, n in (("node_labels", node_labels, n_nodes), ("edge_labels", edge_labels, len(a)),
                         ("node_attributes", attrs, n_nodes)):
        if arr is not None and len(arr) != n:
            raise IntegrityError(f"{name}_{what}.txt has {len(arr)} entries; expected {n}.")
    # undirected, deduplicated, no self-loops; the first occurrence keeps its label
    loops = a[:, 0] == a[:, 1]
    lo, hi = np.minimum(a[:, 0], a[:, 1]), np.maximum(a[:, 0], a[:, 1])
    key = lo * n_nodes + hi
    key[loops] = -1
    uniq, first = np.unique(key, return_index=True)
    keep = first[uniq >= 0]
    keep.sort()
    e_lo, e_hi = lo[keep], hi[keep]
    e_lab = edge_labels[keep] if edge_labels is not None else None
    starts = np.searchsorted(indicator, np.arange(n_graphs + 1))
    g_of_edge = indicator[e_lo]
    order = np.lexsort((e_hi, e_lo, g_of_edge))
    e_lo, e_hi, g_of_edge = e_lo[order], e_hi[order], g_of_edge[order]
    e_lab = e_lab[order] if e_lab is not None else None
    e_starts = np.searchsorted(g_of_edge, np.arange(n_graphs + 1))
    graphs = []
    for k in range(n_graphs):
        s0, s1 = starts[k], starts[k + 1]
        es = slice(e_starts[k], e_starts[k + 1])
        graphs.append(Graph(
            int(s1 - s0), np.column_stack([e_lo[es], e_hi[es]]) - s0,
            node_labels[s0:s1] if node_labels is not None else None,
            e_lab[es] if e_lab is not None else None,
            attrs[s0:s1] if attrs is not None else None,
        ))
    info = {"self-loops dropped": int(loops.sum()),
            "reverse or repeated edge lines merged": int(len(a) - loops.sum() - keep.size)}
    logger.info("TU %s: %d graphs; %s", name, n_graphs, info)
    return GraphDataset(name, graphs, y, info)


def _write_tu(folder: Path, name: str, graphs: list[tuple[int, list[tuple[int, int]]]], labels: list[int],
              node_labels: list[int] | None = None) -> Path:
    """Write a small TU data set (for tests and examples): ``graphs`` = [(n_nodes, [(u, v), ...])]."""
    d = folder / name
    d.mkdir(parents=True, exist_ok=True)
    ind, edges, off = [], [], 0
    for k, (n, es) in enumerate(graphs):
        ind += [k + 1] * n
        edges += [(u + off + 1, v + off + 1) for u, v in es]
        off += n
    (d / f"{name}_graph_indicator.txt").write_text("\n".join(map(str, ind)) + "\n")
    (d / f"{name}_A.txt").write_text("\n".join(f"{u}, {v}" for u, v in edges) + "\n")
    (d / f"{name}_graph_labels.txt").write_text("\n".join(map(str, labels)) + "\n")
    if node_labels is not None:
        (d / f"{name}_node_labels.txt").write_text("\n".join(map(str, node_labels)) + "\n")
    return d
