"""The Mapper graph: nodes (clusters of points), edges (shared points), optional triangles.

Nodes are numbered in a canonical order that does not depend on how the work was split:
by cover set, then by cluster label (scikit-learn's numbering), then, for noise singletons,
by point index. Edges ``(i, j)``, ``i < j``, join nodes that share at least ``min_shared``
points and carry the shared count and the Jaccard similarity ``|A & B| / |A | B|``.
Triangles (2-simplices of the nerve) are triples of nodes with a common point.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .._io import atomic_path, atomic_write_text
from ..exceptions import InvalidInputError
from .cover import CoverSets

__all__ = ["FORMAT_VERSION", "MapperGraph"]

FORMAT_VERSION = 1


def _incidence(members: Sequence[np.ndarray], n_points: int) -> csr_matrix:
    sizes = np.fromiter((m.size for m in members), dtype=np.int64, count=len(members))
    rows = np.concatenate(members) if len(members) else np.empty(0, np.int64)
    cols = np.repeat(np.arange(len(members)), sizes)
    return csr_matrix((np.ones(rows.size, np.int64), (rows, cols)), shape=(n_points, len(members)))


def _edges(inc: csr_matrix, sizes: np.ndarray, min_shared: int) -> tuple[np.ndarray, ...]:
    gram = (inc.T @ inc).tocoo()
    keep = (gram.row < gram.col) & (gram.data >= min_shared)
    i, j, s = gram.row[keep].astype(np.int64), gram.col[keep].astype(np.int64), gram.data[keep]
    order = np.lexsort((j, i))
    i, j, s = i[order], j[order], s[order].astype(np.int64)
    jac = s / (sizes[i] + sizes[j] - s)
    return np.column_stack([i, j]).reshape(-1, 2), s, jac.astype(np.float64)


def _triangles(inc: csr_matrix) -> np.ndarray:
    inc = inc.tocsr()
    counts = np.diff(inc.indptr)
    found = []
    for k in np.unique(counts[counts >= 3]):
        pts = np.flatnonzero(counts == k)
        starts = inc.indptr[pts]
        nodes = np.sort(inc.indices[starts[:, None] + np.arange(k)[None, :]], axis=1)
        nodes = np.unique(nodes, axis=0)
        for combo in itertools.combinations(range(int(k)), 3):
            found.append(nodes[:, combo])
    if not found:
        return np.empty((0, 3), dtype=np.int64)
    return np.unique(np.concatenate(found).astype(np.int64), axis=0)


@dataclass
class MapperGraph:
    """A Mapper graph over ``n_points`` points.

    Attributes
    ----------
    members : list of ndarray
        Sorted point indices (int64) of each node.
    cube : ndarray of shape (n_nodes,)
        Index of the node's cover set in :attr:`cover` (its row in ``cover.lower``).
    cluster : ndarray of shape (n_nodes,)
        The cluster label inside the cover set (``-1`` for a noise singleton).
    edges : ndarray of shape (n_edges, 2)
        Node pairs ``i < j`` in lexicographic order.
    shared, jaccard : ndarray of shape (n_edges,)
        Shared-point count and Jaccard similarity of each edge.
    triangles : ndarray of shape (n_triangles, 3) or None
        Node triples with a common point, when asked for.
    n_points : int
    cover : CoverSets or None
        The fitted cover (bounds of every set).
    params : dict
        How the graph was made (lens, eps, min_samples, noise policy, ...).
    """

    members: list[np.ndarray]
    cube: np.ndarray
    cluster: np.ndarray
    edges: np.ndarray
    shared: np.ndarray
    jaccard: np.ndarray
    n_points: int
    cover: CoverSets | None = None
    triangles: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_nodes(cls, members: Sequence[np.ndarray], n_points: int, *,
                   cube: Sequence[int] | None = None, cluster: Sequence[int] | None = None,
                   cover: CoverSets | None = None, min_shared: int = 1, triangles: bool = False,
                   params: dict[str, Any] | None = None) -> MapperGraph:
        """Build the graph (edges, Jaccard, triangles) from node member lists."""
        mem = [np.unique(np.asarray(m, dtype=np.int64)) for m in members]
        n_nodes = len(mem)
        for k, m in enumerate(mem):
            if m.size == 0:
                raise InvalidInputError(f"node {k} has no members; every node needs at least one point.")
            if m[0] < 0 or m[-1] >= n_points:
                raise InvalidInputError(
                    f"node {k} has member indices outside [0, {n_points}); members must index the points."
                )
        if min_shared < 1:
            raise InvalidInputError(f"min_shared must be >= 1; got {min_shared}.")
        cube_a = np.zeros(n_nodes, np.int64) if cube is None else np.asarray(cube, np.int64)
        cl_a = np.zeros(n_nodes, np.int64) if cluster is None else np.asarray(cluster, np.int64)
        if cube_a.shape != (n_nodes,) or cl_a.shape != (n_nodes,):
            raise InvalidInputError("cube and cluster need one entry per node.")
        sizes = np.array([m.size for m in mem], dtype=np.int64)
        inc = _incidence(mem, n_points)
        e, s, j = _edges(inc, sizes, min_shared)
        tri = _triangles(inc) if triangles else None
        return cls(mem, cube_a, cl_a, e, s, j, int(n_points), cover, tri, dict(params or {}))

    # ------------------------------------------------------------------ basic properties
    @property
    def n_nodes(self) -> int:
        return len(self.members)

    @property
    def n_edges(self) -> int:
        return int(self.edges.shape[0])

    @property
    def sizes(self) -> np.ndarray:
        return np.array([m.size for m in self.members], dtype=np.int64)

    def incidence(self) -> csr_matrix:
        """Sparse (n_points, n_nodes) 0/1 matrix: which points each node holds."""
        return _incidence(self.members, self.n_points)

    def covered(self) -> np.ndarray:
        """Boolean mask of the points that belong to at least one node."""
        mask = np.zeros(self.n_points, dtype=bool)
        for m in self.members:
            mask[m] = True
        return mask

    def components(self) -> np.ndarray:
        """Connected-component label of every node."""
        if self.n_nodes == 0:
            return np.empty(0, dtype=np.int64)
        adj = csr_matrix((np.ones(self.n_edges), (self.edges[:, 0], self.edges[:, 1])),
                         shape=(self.n_nodes, self.n_nodes))
        return connected_components(adj, directed=False)[1].astype(np.int64)

    def betti_numbers(self) -> tuple[int, int]:
        """(b0, b1) of the graph: components and independent cycles (``E - V + b0``)."""
        b0 = int(np.unique(self.components()).size)
        return b0, self.n_edges - self.n_nodes + b0

    def node_keys(self) -> list[tuple[int, frozenset[int]]]:
        """(cover set, member set) of each node: an identity independent of numbering."""
        return [(int(c), frozenset(m.tolist())) for c, m in zip(self.cube, self.members, strict=True)]

    def summary(self) -> dict[str, Any]:
        b0, b1 = self.betti_numbers()
        return {"n_nodes": self.n_nodes, "n_edges": self.n_edges, "b0": b0, "b1": b1,
                "coverage": float(self.covered().mean()) if self.n_points else 0.0,
                "n_triangles": None if self.triangles is None else int(self.triangles.shape[0])}

    def __repr__(self) -> str:
        return (f"MapperGraph(n_nodes={self.n_nodes}, n_edges={self.n_edges}, "
                f"n_points={self.n_points})")

    # ------------------------------------------------------------------ export
    def to_dict(self) -> dict[str, Any]:
        """Node-link form (networkx's ``node_link_data`` layout with ``edges="links"``)."""
        return {
            "directed": False,
            "multigraph": False,
            "graph": {
                "format": "topolens.mapper",
                "version": FORMAT_VERSION,
                "n_points": self.n_points,
                "params": self.params,
                "cover": None if self.cover is None else self.cover.to_dict(),
                "triangles": None if self.triangles is None else self.triangles.tolist(),
            },
            "nodes": [
                {"id": i, "cube": int(self.cube[i]), "cluster": int(self.cluster[i]),
                 "size": int(m.size), "members": m.tolist()}
                for i, m in enumerate(self.members)
            ],
            "links": [
                {"source": int(a), "target": int(b), "shared": int(s), "jaccard": float(j)}
                for (a, b), s, j in zip(self.edges, self.shared, self.jaccard, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MapperGraph:
        """Inverse of :meth:`to_dict`; edges are recomputed and checked against the record."""
        try:
            meta = data["graph"]
            if meta.get("format") != "topolens.mapper":
                raise InvalidInputError(
                    f"not a topolens Mapper graph (graph.format={meta.get('format')!r}); expected "
                    "'topolens.mapper' as written by MapperGraph.save()."
                )
            if int(meta.get("version", 0)) > FORMAT_VERSION:
                raise InvalidInputError(
                    f"Mapper graph format version {meta.get('version')} is newer than this "
                    f"topolens understands ({FORMAT_VERSION}); upgrade topolens."
                )
            nodes = sorted(data["nodes"], key=lambda d: d["id"])
            if [d["id"] for d in nodes] != list(range(len(nodes))):
                raise InvalidInputError("node ids must be 0 .. n_nodes - 1.")
            cover = None if meta.get("cover") is None else CoverSets.from_dict(meta["cover"])
            min_shared = int(meta.get("params", {}).get("min_shared", 1))
            graph = cls.from_nodes(
                [np.asarray(d["members"], dtype=np.int64) for d in nodes], int(meta["n_points"]),
                cube=[d["cube"] for d in nodes], cluster=[d["cluster"] for d in nodes],
                cover=cover, min_shared=min_shared, triangles=meta.get("triangles") is not None,
                params=meta.get("params", {}),
            )
            links = {(int(e["source"]), int(e["target"])) for e in data["links"]}
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(
                f"not a valid Mapper graph record ({exc!r}); expected the node-link JSON written "
                "by MapperGraph.save()."
            ) from exc
        mine = {(int(a), int(b)) for a, b in graph.edges}
        links = {(min(a, b), max(a, b)) for a, b in links}
        if links != mine:
            raise InvalidInputError(
                f"the record's {len(links)} edge(s) do not match the {len(mine)} edge(s) implied by "
                "the node members; the file was edited or is corrupt."
            )
        return graph

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the node-link JSON atomically."""
        return atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> MapperGraph:
        """Read a graph written by :meth:`save` (plain JSON; no code is executed)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"{path}: not readable as JSON ({exc}).") from exc
        try:
            return cls.from_dict(data)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{path}: {exc}") from exc

    def to_networkx(self) -> Any:
        """An undirected ``networkx.Graph`` with node attributes members/size/cube/cluster and
        edge attributes shared/jaccard."""
        import networkx as nx

        g = nx.Graph(n_points=self.n_points, **{k: v for k, v in self.params.items()
                                                 if isinstance(v, (int, float, str, bool))})
        for i, m in enumerate(self.members):
            g.add_node(i, members=m.tolist(), size=int(m.size), cube=int(self.cube[i]),
                       cluster=int(self.cluster[i]))
        for (a, b), s, j in zip(self.edges, self.shared, self.jaccard, strict=True):
            g.add_edge(int(a), int(b), shared=int(s), jaccard=float(j))
        return g

    def write_graphml(self, path: str | os.PathLike) -> Path:
        """Write GraphML atomically; members are stored as a space-separated string."""
        import networkx as nx

        g = self.to_networkx()
        for _, d in g.nodes(data=True):
            d["members"] = " ".join(map(str, d["members"]))
        with atomic_path(path) as tmp:
            nx.write_graphml(g, tmp)
        return Path(path)

    # ------------------------------------------------------------------ layout
    def layout(self, seed: int = 0, iterations: int = 100) -> np.ndarray:
        """Seeded force-directed positions in [0, 1]^2, shape (n_nodes, 2).

        Fruchterman-Reingold (networkx) weighted by Jaccard similarity; the same seed gives the
        same layout.
        """
        import networkx as nx

        if self.n_nodes == 0:
            return np.empty((0, 2))
        g = nx.Graph()
        g.add_nodes_from(range(self.n_nodes))
        g.add_weighted_edges_from((int(a), int(b), float(j))
                                  for (a, b), j in zip(self.edges, self.jaccard, strict=True))
        pos = nx.spring_layout(g, seed=seed, iterations=iterations, weight="weight")
        xy = np.array([pos[i] for i in range(self.n_nodes)], dtype=np.float64)
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        return (xy - lo) / span
