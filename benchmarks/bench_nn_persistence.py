"""Differentiable persistence in topolens.nn against torch-topological (issue 6).

    TOPOLENS_DATA=../shared/data .venv/bin/python benchmarks/bench_nn_persistence.py

Forward + backward wall time, median of repeats, one torch thread, both libraries on the same
inputs in one run, with the diagrams checked equal:

1. graphs: lower-star persistence of a batch of 128 MUTAG graphs (the first 128; random graphs
   of MUTAG's size when the data is absent) under k = 8 vertex filtrations (TOGL's default),
   per-vertex H0 pairs. Peer: torch-topological's ``TOGL.compute_persistent_homology`` (one
   gudhi SimplexTree per graph and filtration); that module imports torch-geometric and
   torch-scatter, so torch-scatter is aliased to torch-geometric's ``scatter`` when missing.
2. images: cubical persistence (H0, H1) of 128 MNIST-size 28x28 images; peer:
   ``torch_topological.nn.CubicalComplex``.
3. point clouds: Vietoris-Rips H0 + H1 of 16 clouds of 100 points in R^3; peer:
   ``torch_topological.nn.VietorisRipsComplex`` (giotto-ph).
4. 2-Wasserstein distance between diagrams of 100 points (L-inf ground metric); peer:
   ``torch_topological.nn.WassersteinDistance(p=inf, q=2)`` (POT).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, versions


def _rows(a) -> np.ndarray:
    """Finite diagram rows in lexicographic order (pairs compared whole)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    a = a[np.isfinite(a).all(1) & (a[:, 1] > a[:, 0])]
    return a[np.lexsort((a[:, 1], a[:, 0]))]


def _same(a, b, atol=1e-6) -> bool:
    a, b = _rows(a), _rows(b)
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol))


def _gudhi_lower_star(f: np.ndarray, edges: np.ndarray) -> np.ndarray:
    import gudhi

    st = gudhi.SimplexTree()
    for i, x in enumerate(f.tolist()):
        st.insert([i], filtration=x)
    for a, b in edges.tolist():
        st.insert([a, b], filtration=max(f[a], f[b]))
    st.compute_persistence()
    return st.persistence_intervals_in_dimension(0)


def _peer_total_persistence(out) -> torch.Tensor:
    """Sum of the finite lifetimes of torch-topological's nested PersistenceInformation lists."""
    total = 0
    for per in out:
        for info in per:
            life = info.diagram[:, 1] - info.diagram[:, 0]
            total = total + life[torch.isfinite(life)].sum()
    return total


def timed(fn, repeats: int) -> float:
    fn()  # warm-up (numba compilation, caches)
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def mutag_batch(n_graphs: int, seed: int):
    from topolens.datasets.tu import load_tu
    from topolens.exceptions import DataNotFoundError

    try:
        graphs = load_tu("MUTAG").graphs[:n_graphs]
        src = "MUTAG"
    except DataNotFoundError:
        import networkx as nx

        graphs = None
        src = "random graphs of MUTAG size (18 vertices, 20 edges)"
        rng = np.random.default_rng(seed)
        sizes = [(18, 20)] * n_graphs
        gs = [nx.gnm_random_graph(n, m, seed=int(rng.integers(1 << 30))) for n, m in sizes]
        edges = [np.array(list(g.edges), dtype=np.int64).reshape(-1, 2) for g in gs]
        ns = [n for n, _ in sizes]
    if graphs is not None:
        edges = [g.edges for g in graphs]
        ns = [g.n_nodes for g in graphs]
    offs = np.cumsum([0, *ns])
    # both directions, as torch-geometric stores undirected graphs
    ei = np.concatenate([np.concatenate([e, e[:, ::-1]]) + o for e, o in zip(edges, offs[:-1], strict=True)]).T
    return torch.as_tensor(np.ascontiguousarray(ei)), offs, src


def import_peer_togl():
    try:
        import torch_scatter  # noqa: F401
    except ImportError:
        import torch_geometric.utils

        shim = types.ModuleType("torch_scatter")
        shim.scatter = torch_geometric.utils.scatter
        sys.modules["torch_scatter"] = shim
    with contextlib.redirect_stdout(io.StringIO()):  # the module runs a demo at import
        import torch_topological.nn.graphs as peer
    return peer


def bench_graphs(args, rows):
    from topolens.nn.functional import vertex_filtration_persistence

    ei, offs, src = mutag_batch(args.graphs, args.seed)
    n, k = int(offs[-1]), 8
    g = torch.Generator().manual_seed(args.seed)
    base = torch.rand(n, k, generator=g)

    def ours():
        f = base.clone().requires_grad_(True)
        vp = vertex_filtration_persistence(f, ei)
        pairs = torch.where(torch.isinf(vp.vertex_pairs), f.detach().max(), vp.vertex_pairs)
        pairs.sum().backward()
        return vp

    t_ours = timed(ours, args.repeats)
    try:
        peer = import_peer_togl()
    except ImportError as e:
        rows.append(["graphs: 128 x 8 lower-star H0", f"{t_ours * 1e3:.1f} ms", "n/a", "-", f"peer missing: {e}"])
        return

    class PeerTOGL(peer.TOGL):
        # torch-topological 0.1.9 raises IndexError on a graph without finite H0 pairs (gudhi then
        # returns no generator list); such a graph's pairs are all (b, b), which is what we return
        def _compute_persistent_homology(self, vertices, f_vertices, edges, f_edges, offset):
            try:
                return super()._compute_persistent_homology(vertices, f_vertices, edges, f_edges, offset)
            except IndexError:
                return torch.stack((f_vertices, f_vertices), dim=1)

    layer = PeerTOGL(n_features=k, n_filtrations=k, hidden_dim=8, out_dim=k, aggregation_fn="mean")
    layer.filtrations = torch.nn.Identity()  # feed the same vertex values to both
    # vertex and edge slices per graph, as torch-geometric's Batch provides them
    src_v = ei[0].numpy()
    e_order = np.argsort(src_v, kind="stable")
    ei_sorted = ei[:, torch.as_tensor(e_order)]
    e_slices = torch.as_tensor(np.searchsorted(src_v[e_order], offs))
    v_slices = torch.as_tensor(offs)
    batch = torch.as_tensor(np.repeat(np.arange(len(offs) - 1), np.diff(offs)))

    def theirs():
        f = base.clone().requires_grad_(True)
        d = layer.compute_persistent_homology(f, ei_sorted, v_slices, e_slices, batch, n)
        d.sum().backward()
        return d

    t_peer = timed(theirs, max(1, args.repeats // 3))
    # H0 diagrams per graph (filtration 0) against gudhi's lower-star persistence, for both
    d_peer = theirs().detach()
    vp = ours()
    ours_ok = peer_ok = True
    ei_np = ei.numpy()
    for i in range(len(offs) - 1):
        lo, hi = offs[i], offs[i + 1]
        sel = (ei_np[0] >= lo) & (ei_np[0] < hi) & (ei_np[0] < ei_np[1])
        ref = _gudhi_lower_star(base[lo:hi, 0].double().numpy(), ei_np[:, sel].T - lo)
        ours_ok &= _same(vp.vertex_pairs[lo:hi, 0].detach().numpy(), ref)
        peer_ok &= _same(d_peer[0, lo:hi].numpy(), ref)
    rows.append(["graphs: 128 x 8 lower-star H0 (fwd+bwd)", f"{t_ours * 1e3:.1f} ms", f"{t_peer * 1e3:.1f} ms",
                 f"{t_peer / t_ours:.0f}x", f"{src}; H0 = gudhi's: topolens {ours_ok}, torch-topological {peer_ok}"])


def bench_cubical(args, rows):
    from topolens.nn.functional import cubical_diagrams, total_persistence

    g = torch.Generator().manual_seed(args.seed)
    try:
        from topolens.datasets import load_mnist
        from topolens.exceptions import DataNotFoundError

        imgs = torch.as_tensor(load_mnist(split="test")[0][:128], dtype=torch.float32)
        src = "MNIST test images"
    except DataNotFoundError:
        imgs = torch.rand(128, 28, 28, generator=g)
        src = "random 28x28 images"
    imgs = imgs.reshape(128, 28, 28).float()

    def ours():
        x = imgs.clone().requires_grad_(True)
        ds = cubical_diagrams(list(x))
        sum(total_persistence(d[0]) + total_persistence(d[1]) for d in ds).backward()
        return ds

    import gudhi
    import torch_topological.nn.cubical_complex as peer_cc

    # torch-topological 0.1.9 hands gudhi a torch tensor, which gudhi 3.13's bindings refuse:
    # the shim converts it to numpy, nothing else changes
    class _Gudhi(types.SimpleNamespace):
        @staticmethod
        def CubicalComplex(dimensions, top_dimensional_cells):
            return gudhi.CubicalComplex(dimensions=list(dimensions),
                                        top_dimensional_cells=np.asarray(top_dimensional_cells.detach()))

    peer_cc.gudhi = _Gudhi()
    cc = peer_cc.CubicalComplex(dim=2)

    def theirs():
        x = imgs.clone().requires_grad_(True)
        out = cc(x)
        _peer_total_persistence(out).backward()
        return out

    t_ours, t_peer = timed(ours, args.repeats), timed(theirs, args.repeats)
    a, b = ours()[0], theirs()[0]
    # the peer reports an essential class's death as the image's largest value
    top = float(imgs[0].max())
    same = all(_same(np.nan_to_num(a[k].detach().numpy(), posinf=top), b[k].diagram.detach().numpy())
               for k in (0, 1))
    rows.append(["images: 128 x 28x28 cubical H0+H1 (fwd+bwd)", f"{t_ours * 1e3:.1f} ms",
                 f"{t_peer * 1e3:.1f} ms", f"{t_peer / t_ours:.1f}x", f"{src}; diagrams equal: {same}"])


def bench_rips(args, rows):
    from torch_topological.nn import VietorisRipsComplex

    from topolens.nn.functional import rips_diagrams, total_persistence

    g = torch.Generator().manual_seed(args.seed)
    clouds = torch.randn(16, 100, 3, generator=g)

    def ours():
        x = clouds.clone().requires_grad_(True)
        ds = rips_diagrams(x, max_dim=1)
        sum(total_persistence(d[0]) + total_persistence(d[1]) for d in ds).backward()
        return ds

    vr = VietorisRipsComplex(dim=1)

    def theirs():
        x = clouds.clone().requires_grad_(True)
        out = vr(x)
        _peer_total_persistence(out).backward()
        return out

    t_ours, t_peer = timed(ours, args.repeats), timed(theirs, args.repeats)
    a, b = ours()[0], theirs()[0]
    same = all(_same(a[k].detach().numpy(), b[k].diagram.detach().numpy(), atol=1e-5) for k in (0, 1))
    rows.append(["clouds: 16 x 100 pts Rips H0+H1 (fwd+bwd)", f"{t_ours * 1e3:.1f} ms", f"{t_peer * 1e3:.1f} ms",
                 f"{t_peer / t_ours:.1f}x", f"finite diagrams equal: {same}"])


def bench_wasserstein(args, rows):
    from torch_topological.nn import WassersteinDistance
    from torch_topological.nn.data import PersistenceInformation

    from topolens.nn.functional import wasserstein_distance

    g = torch.Generator().manual_seed(args.seed)
    b1, b2 = torch.rand(100, generator=g), torch.rand(100, generator=g)
    d1 = torch.stack([b1, b1 + torch.rand(100, generator=g)], 1).double()
    d2 = torch.stack([b2, b2 + torch.rand(100, generator=g)], 1).double()

    def ours():
        x = d1.clone().requires_grad_(True)
        w = wasserstein_distance(x, d2, p=2.0)
        w.backward()
        return w.item()

    peer = WassersteinDistance(p=torch.inf, q=2)

    def theirs():
        x = d1.clone().requires_grad_(True)
        w = peer([PersistenceInformation(None, x, 0)], [PersistenceInformation(None, d2, 0)])
        w.backward()
        return w.item()

    t_ours, t_peer = timed(ours, args.repeats), timed(theirs, args.repeats)
    a, b = ours(), theirs()
    rows.append(["2-Wasserstein, 100 vs 100 points (fwd+bwd)", f"{t_ours * 1e3:.2f} ms", f"{t_peer * 1e3:.2f} ms",
                 f"{t_peer / t_ours:.1f}x", f"values {a:.6f} vs {b:.6f} (peer: W^q, no root)"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graphs", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=["graphs", "cubical", "rips", "wasserstein"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(versions(("numpy", "torch", "gudhi", "torch-topological", "giotto-ph", "POT")))
    rows: list[list[str]] = []
    for name in args.only:
        globals()[f"bench_{name}"](args, rows)
    print(table(["task", "topolens", "torch-topological", "ratio", "check"], rows))


if __name__ == "__main__":
    main()
