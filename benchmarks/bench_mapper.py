"""Mapper graphs of real activations: topolens.mapper vs KeplerMapper, giotto-tda and tda-mapper.

Run from the repository root (``make bench-mapper`` also creates the giotto-tda venv)::

    TOPOLENS_DATA=../shared/data .venv/bin/python benchmarks/bench_mapper.py           # 50,000 inputs
    TOPOLENS_DATA=../shared/data .venv/bin/python benchmarks/bench_mapper.py --quick   # first 5,000

Data: an MLP 784-512-512-10 (ReLU) trained with seed 0 (Adam 1e-3, batch 128, 2 epochs) on the
first 50,000 MNIST training images (``topolens.datasets.load_mnist``, root ``$TOPOLENS_DATA``);
the points are the second hidden layer's ReLU activations of those images (50,000 x 512), in
float64 for every tool. The activations are cached in ``--cache-dir`` (float32, exact), so
reruns skip the training. ``--n`` keeps the first n rows.

Every tool gets the same Mapper: lens = L2 norm of each row (no scaling), DBSCAN with
``eps`` = the 0.5 quantile of the 4-NN distances (``topolens.mapper.kdistance_eps(x, 5, 0.5)``)
and ``min_samples=5``, given explicitly, noise points left out of the nodes.

1. One graph, 10 intervals, 30% overlap: ``Mapper(...).fit(x)`` (a fresh object per run) vs
   ``KeplerMapper().map(lens, x, clusterer=DBSCAN(eps, min_samples=5), cover=km.Cover(10, 0.3))``.
   Node sets and edge sets must be identical (the script exits with status 1 otherwise).
2. A sweep of 10 cover settings (intervals 8, 10, 12, 15, 20 x overlap 0.3, 0.2):
   ``stability_sweep`` (one neighbour graph for the longest cover set), one ``Mapper.fit`` and
   9 ``refit`` calls, and 10 fresh fits vs 10 KeplerMapper ``map`` calls; identity with
   KeplerMapper checked for every setting (and the three topolens ways give the same graphs).
3. giotto-tda 0.6.2 (it pins scikit-learn 1.3.2, so it runs in its own venv, ``--gtda-python``,
   in a subprocess fed through a temporary .npy): ``make_mapper_pipeline(filter_func=<L2 norm>,
   cover=CubicalCover(n_intervals=10, overlap_frac=0.3), clusterer=DBSCAN(eps, min_samples=5),
   n_jobs=1).fit_transform(x)`` vs ``Mapper(cover=UniformCover(10, 0.3, convention="gtda",
   closed=False), noise="together")``. giotto-tda keeps each cover set's DBSCAN noise as one node
   (cluster label -1), which ``noise="together"`` reproduces, and drops empty and duplicate cover
   sets; the check compares the sets of member sets and the edges between member sets.
4. tda-mapper 0.12: ``MapperAlgorithm(CubicalCover(10, 0.3, algorithm="standard"),
   DBSCAN(eps, min_samples=5), n_jobs=1)``, its node member sets compared with topolens' closest
   cover (see ``tdamapper_note``); then repeated runs with ``n_jobs=2`` vs its ``n_jobs=1`` graph,
   and topolens' graph across ``n_jobs`` and torch thread counts.

Times are wall-clock (``time.perf_counter``), medians over ``--repeats`` runs, the tools
round-robin so that load on the machine hits them alike; every tool is warmed up once on the
first 500 points. Building the lens for KeplerMapper (``fit_transform``) is timed with its map.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from _common import table, versions

SEED = 0
EPOCHS = 2
N_TRAIN = 50_000
TORCH_THREADS = 2
MIN_SAMPLES = 5
EPS_QUANTILE = 0.5
ONE = (10, 0.3)
SWEEP = list(itertools.product((8, 10, 12, 15, 20), (0.3, 0.2)))  # (8, 0.3): the longest sets first
ROOT = Path(__file__).resolve().parent.parent

tdamapper_note = (
    "tda-mapper's CubicalCover uses KeplerMapper's centres and lengths (centre min + (k + 1/2) R/n, "
    "half-length R / (2n(1 - p))) but open intervals, computed in the scaled coordinate "
    "n (v - min) / R, and with algorithm='standard' keeps only the cubes whose centre is the "
    "nearest one for at least one point; DBSCAN sees each set's points in the order of its "
    "vantage-point tree search, not in index order, which can move border points between clusters. "
    "Compared with topolens' UniformCover(convention='kmapper', closed=True)."
)


# --------------------------------------------------------------------------- data
def load_activations(cache_dir: Path, data_root: str | None) -> np.ndarray:
    """Second hidden layer's ReLU activations (50,000, 512) of a trained MLP, cached (float32)."""
    import torch

    tv = torch.__version__.replace("+", "_")
    path = cache_dir / f"acts-mnist-mlp512x2-e{EPOCHS}-s{SEED}-n{N_TRAIN}-relu2-torch{tv}.npy"
    if path.exists():
        print(f"activations: cached {path}")
        return np.load(path)
    from topolens.datasets import as_tensor_dataset, load_mnist
    from topolens.models import train_classifier

    t0 = time.perf_counter()
    images, labels = load_mnist(data_root, "train")
    x, y = as_tensor_dataset(images[:N_TRAIN], labels[:N_TRAIN]).tensors
    torch.manual_seed(SEED)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 512), torch.nn.ReLU(),
                                torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    hist = train_classifier(model, x, y, epochs=EPOCHS, batch_size=128, lr=1e-3, seed=SEED)
    model.eval()
    with torch.no_grad():
        acts = torch.cat([model[:5](x[i:i + 5000]) for i in range(0, len(x), 5000)]).numpy()
    acts = np.ascontiguousarray(acts, dtype=np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, acts)
    os.replace(tmp, path)
    print(f"activations: trained the MLP for {EPOCHS} epochs on {len(x)} images (train accuracy "
          f"{hist.train_accuracy[-1]:.3f}) and recorded the second ReLU in "
          f"{time.perf_counter() - t0:.1f} s; cached {path}")
    return acts


# --------------------------------------------------------------------------- the tools
def topolens_graph(x: np.ndarray, eps: float, n: int, p: float, **kw: Any) -> Any:
    from topolens.mapper import Mapper

    return Mapper(n_intervals=n, overlap=p, eps=eps, min_samples=MIN_SAMPLES, **kw).fit(x)


def kmapper_graph(x: np.ndarray, eps: float, n: int, p: float) -> dict:
    import kmapper as km
    from sklearn.cluster import DBSCAN

    mapper = km.KeplerMapper(verbose=0)
    lens = mapper.fit_transform(x, projection="l2norm", scaler=None)
    return mapper.map(lens, x, clusterer=DBSCAN(eps=eps, min_samples=MIN_SAMPLES),
                      cover=km.Cover(n_cubes=n, perc_overlap=p))


def tdamapper_graph(x: np.ndarray, lens: np.ndarray, eps: float, n: int, p: float, n_jobs: int) -> Any:
    from sklearn.cluster import DBSCAN
    from tdamapper.cover import CubicalCover
    from tdamapper.learn import MapperAlgorithm

    algo = MapperAlgorithm(cover=CubicalCover(n_intervals=n, overlap_frac=p, algorithm="standard"),
                           clustering=DBSCAN(eps=eps, min_samples=MIN_SAMPLES), verbose=False,
                           n_jobs=n_jobs)
    return algo.fit_transform(x, lens[:, None])


GTDA_WORKER = r'''
import gc, json, sys, time
import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.preprocessing import FunctionTransformer
from gtda.mapper import CubicalCover, make_mapper_pipeline
import gtda, sklearn

cfg = json.load(open(sys.argv[1]))
x = np.load(cfg["x"])

def l2norm(a):
    return np.linalg.norm(a, axis=1).reshape(-1, 1)

def pipe():
    return make_mapper_pipeline(filter_func=FunctionTransformer(l2norm),
                                cover=CubicalCover(n_intervals=cfg["n"], overlap_frac=cfg["p"]),
                                clusterer=DBSCAN(eps=cfg["eps"], min_samples=cfg["min_samples"]),
                                n_jobs=1)

pipe().fit_transform(x[:500])  # warm-up
times = []
for _ in range(cfg["repeats"]):
    gc.collect()
    t0 = time.perf_counter()
    g = pipe().fit_transform(x)
    times.append(time.perf_counter() - t0)
nodes = [[int(v["pullback_set_label"]), int(v["partial_cluster_label"]),
          np.asarray(v["node_elements"]).tolist()] for v in g.vs]
out = {"times": times, "nodes": nodes, "edges": [list(e) for e in g.get_edgelist()],
       "lens_equal": bool(np.array_equal(l2norm(x)[:, 0], np.load(cfg["lens"]))),
       "versions": f"giotto-tda {gtda.__version__}, scikit-learn {sklearn.__version__}, "
                   f"numpy {np.__version__}"}
json.dump(out, open(cfg["out"], "w"))
'''


def run_gtda(python: str, x: np.ndarray, lens: np.ndarray, eps: float, repeats: int,
             timeout: float) -> dict:
    """giotto-tda in its own interpreter; raises RuntimeError with the reason on failure."""
    if not Path(python).exists():
        raise RuntimeError(f"no giotto-tda interpreter at {python} (make bench-mapper creates "
                           ".venv-gtda; or pass --gtda-python)")
    with tempfile.TemporaryDirectory(prefix="bench-mapper-") as tmp:
        t = Path(tmp)
        np.save(t / "x.npy", x)
        np.save(t / "lens.npy", lens)
        (t / "worker.py").write_text(GTDA_WORKER)
        cfg = {"x": str(t / "x.npy"), "lens": str(t / "lens.npy"), "out": str(t / "out.json"),
               "n": ONE[0], "p": ONE[1], "eps": eps, "min_samples": MIN_SAMPLES, "repeats": repeats}
        (t / "cfg.json").write_text(json.dumps(cfg))
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        try:
            proc = subprocess.run([python, str(t / "worker.py"), str(t / "cfg.json")], env=env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"giotto-tda timed out after {timeout:.0f} s") from exc
        if proc.returncode != 0:
            raise RuntimeError(f"giotto-tda failed (exit {proc.returncode}): "
                               f"{proc.stderr.strip().splitlines()[-1:] or proc.stdout[-300:]}")
        return json.loads((t / "out.json").read_text())


# --------------------------------------------------------------------------- comparisons
def kmapper_named(g: Any, lens: np.ndarray) -> tuple[dict[str, frozenset], set[frozenset]]:
    """topolens' graph under KeplerMapper's node names (it numbers only the non-empty cubes)."""
    members = g.cover.members(lens[:, None])
    rank = {c: r for r, c in enumerate(i for i, s in enumerate(members) if s.size)}
    names = [f"cube{rank[c]}_cluster{lab}" for c, lab in zip(g.cube, g.cluster, strict=True)]
    nodes = {nm: frozenset(m.tolist()) for nm, m in zip(names, g.members, strict=True)}
    return nodes, {frozenset((names[a], names[b])) for a, b in g.edges}


def compare_kmapper(g: Any, lens: np.ndarray, kg: dict) -> tuple[bool, bool, str]:
    ours, our_edges = kmapper_named(g, lens)
    theirs = {k: frozenset(int(i) for i in v) for k, v in kg["nodes"].items()}
    their_edges = {frozenset((a, b)) for a, ends in kg["links"].items() for b in ends}
    same_n, same_e = ours == theirs, our_edges == their_edges
    detail = ""
    if not same_n:
        only_a = len(set(ours.items()) - set(theirs.items()))
        only_b = len(set(theirs.items()) - set(ours.items()))
        detail = f"nodes: {only_a} only in topolens, {only_b} only in KeplerMapper"
    if not same_e:
        detail += (f"{'; ' if detail else ''}edges: {len(our_edges - their_edges)} only in topolens, "
                   f"{len(their_edges - our_edges)} only in KeplerMapper")
    return same_n, same_e, detail


def member_sets(members: list, edges: Any) -> tuple[set[frozenset], set[frozenset]]:
    """Sets of node member sets and of edges between member sets (numbering-free)."""
    sets = [frozenset(int(i) for i in m) for m in members]
    pairs = {frozenset((sets[a], sets[b])) for a, b in edges if sets[a] != sets[b]}
    return set(sets), pairs


class CapturedStderr:
    """Redirect file descriptor 2 (C libraries write there too) to a temporary file."""

    def __enter__(self) -> CapturedStderr:
        sys.stderr.flush()
        self._tmp = tempfile.TemporaryFile(mode="w+b")
        self._saved = os.dup(2)
        os.dup2(self._tmp.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        self.text = self._tmp.read().decode(errors="replace")
        self._tmp.close()


def same_graph(a: Any, b: Any) -> bool:
    return a.node_keys() == b.node_keys() and a.edges.tolist() == b.edges.tolist()


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def med(ts: list[float]) -> float:
    return statistics.median(ts)


def fmt_runs(ts: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in ts)


def round_robin(fns: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    last: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            last[name] = fn()
            times[name].append(time.perf_counter() - t0)
            print(f"  {name}: {times[name][-1]:.2f} s", flush=True)
    return times, last


# --------------------------------------------------------------------------- sections
def section_one(x: np.ndarray, lens: np.ndarray, eps: float, repeats: int) -> tuple[str, bool]:
    n, p = ONE
    print(f"\n[1] one graph, {n} intervals, overlap {p}", flush=True)
    times, last = round_robin({"topolens": lambda: topolens_graph(x, eps, n, p),
                               "KeplerMapper": lambda: kmapper_graph(x, eps, n, p)}, repeats)
    g, kg = last["topolens"].graph_, last["KeplerMapper"]
    same_n, same_e, detail = compare_kmapper(g, lens, kg)
    k_edges = sum(len(v) for v in kg["links"].values())
    ref = med(times["topolens"])
    head = ["tool", "median [s]", "runs [s]", "vs topolens", "nodes", "edges", "same nodes", "same edges"]
    body = [["topolens Mapper.fit", f"{ref:.2f}", fmt_runs(times["topolens"]), "1.00x",
             str(g.n_nodes), str(g.n_edges), "(itself)", "(itself)"],
            ["KeplerMapper 2.1 map", f"{med(times['KeplerMapper']):.2f}", fmt_runs(times["KeplerMapper"]),
             f"{med(times['KeplerMapper']) / ref:.2f}x", str(len(kg["nodes"])), str(k_edges),
             yes(same_n), yes(same_e)]]
    ratio = med(times["KeplerMapper"]) / ref
    out = (f"### 1. One graph ({n} intervals, {int(p * 100)}% overlap), {x.shape[0]} x {x.shape[1]}\n\n"
           + table(head, body)
           + f"\n\nKeplerMapper / topolens = {ratio:.2f}x (target >= 3x: {'MET' if ratio >= 3 else 'NOT MET'}); "
           + f"graphs identical: {yes(same_n and same_e)}"
           + (f" ({detail})" if detail else "")
           + f"; covered inputs {g.covered().mean():.3f}, b0/b1 {g.betti_numbers()}")
    return out, same_n and same_e


def section_sweep(x: np.ndarray, lens: np.ndarray, eps: float, kmapper_runs: int) -> tuple[str, bool]:
    from topolens.mapper import Mapper, stability_sweep

    print(f"\n[2] sweep of {len(SWEEP)} settings", flush=True)
    ns, ps = sorted({n for n, _ in SWEEP}), sorted({p for _, p in SWEEP}, reverse=True)

    def sweep() -> dict:
        res = stability_sweep(x, n_intervals=ns, overlap=ps, eps=[eps], min_samples=MIN_SAMPLES,
                              keep_graphs=True, progress=False)
        return {(r["n_intervals"], r["overlap"]): g for r, g in zip(res.rows, res.graphs, strict=True)}

    def refits() -> tuple[dict, int]:
        (n0, p0), builds = SWEEP[0], 0
        m = Mapper(n_intervals=n0, overlap=p0, eps=eps, min_samples=MIN_SAMPLES).fit(x)
        seen = getattr(getattr(m, "_neighbourhoods", None), "graph", None)  # diagnostic only
        out = {SWEEP[0]: m.graph_}
        for n, p in SWEEP[1:]:
            out[(n, p)] = m.refit(n_intervals=n, overlap=p)
            nb = getattr(getattr(m, "_neighbourhoods", None), "graph", None)
            builds += nb is not seen
            seen = nb
        return out, builds

    def fresh() -> dict:
        return {(n, p): topolens_graph(x, eps, n, p).graph_ for n, p in SWEEP}

    def theirs() -> tuple[dict, dict]:
        out, per = {}, {}
        for n, p in SWEEP:
            t0 = time.perf_counter()
            out[(n, p)] = kmapper_graph(x, eps, n, p)
            per[(n, p)] = time.perf_counter() - t0
            print(f"    KeplerMapper {n}/{p}: {per[(n, p)]:.2f} s", flush=True)
        return out, per

    names = {"sweep": "topolens stability_sweep", "refit": "topolens fit + 9 refits",
             "fresh": "topolens 10 fresh fits", "km": "KeplerMapper 10 maps"}
    times, last = round_robin({names["sweep"]: sweep, names["refit"]: refits, names["fresh"]: fresh},
                              max(kmapper_runs, 3))
    ktimes, klast = round_robin({names["km"]: theirs}, kmapper_runs)
    times.update(ktimes)
    ours = last[names["sweep"]]
    refit_graphs, builds = last[names["refit"]]
    k_graphs, k_per = klast[names["km"]]
    same_refit = sum(same_graph(refit_graphs[s], ours[s]) for s in SWEEP)
    same_fresh = sum(same_graph(last[names["fresh"]][s], ours[s]) for s in SWEEP)
    per_rows, n_same = [], 0
    for n, p in SWEEP:
        g = ours[(n, p)]
        same_n, same_e, detail = compare_kmapper(g, lens, k_graphs[(n, p)])
        n_same += same_n and same_e
        per_rows.append([str(n), f"{p:.1f}", str(g.n_nodes), str(g.n_edges), f"{k_per[(n, p)]:.2f}",
                         yes(same_n and same_e) + (f" ({detail})" if detail else "")])
    ref = med(times[names["sweep"]])
    head = ["tool", f"{len(SWEEP)} settings, median [s]", "runs [s]", "per setting [s]", "vs stability_sweep",
            "same graphs as KeplerMapper"]
    ident = {names["sweep"]: f"{n_same}/{len(SWEEP)}",
             names["refit"]: f"{n_same}/{len(SWEEP)} (same as the sweep: {same_refit}/{len(SWEEP)})",
             names["fresh"]: f"{n_same}/{len(SWEEP)} (same as the sweep: {same_fresh}/{len(SWEEP)})",
             names["km"]: "(reference)"}
    body = [[name, f"{med(ts):.2f}", fmt_runs(ts), f"{med(ts) / len(SWEEP):.2f}", f"{med(ts) / ref:.2f}x",
             ident[name]] for name, ts in times.items()]
    ratio = med(times[names["km"]]) / ref
    ratio_refit = med(times[names["km"]]) / med(times[names["refit"]])
    ok = n_same == len(SWEEP) and same_refit == len(SWEEP) and same_fresh == len(SWEEP)
    out = (f"### 2. Sweep of {len(SWEEP)} cover settings (intervals 8-20 x overlap 0.3, 0.2)\n\n"
           + table(head, body) + "\n\n"
           + table(["intervals", "overlap", "nodes", "edges", "KeplerMapper [s]", "identical"], per_rows)
           + f"\n\nKeplerMapper / topolens stability_sweep = {ratio:.2f}x "
           + f"(target >= 10x: {'MET' if ratio >= 10 else 'NOT MET'}); KeplerMapper / (fit + 9 refits) = "
           + f"{ratio_refit:.2f}x, whose 9 refits rebuilt the neighbour graph {builds} times "
           + "(a refit reuses it only when every new cover set lies inside one it was built for; "
           + "stability_sweep builds it once for the longest set). stability_sweep includes its "
           + "agreement columns (node_agreement, component_ari).")
    return out, ok


def section_gtda(x: np.ndarray, lens: np.ndarray, eps: float, repeats: int, python: str,
                 timeout: float) -> tuple[str, bool]:
    from topolens.mapper import Mapper, UniformCover

    n, p = ONE
    print(f"\n[3] giotto-tda ({python})", flush=True)

    def ours() -> Any:
        return Mapper(cover=UniformCover(n, p, convention="gtda", closed=False), eps=eps,
                      min_samples=MIN_SAMPLES, noise="together").fit(x)

    ours()  # warm
    times, last = round_robin({"topolens": ours}, repeats)
    g = last["topolens"].graph_
    title = f"### 3. giotto-tda 0.6.2, one graph ({n} intervals, {int(p * 100)}% overlap)\n\n"
    try:
        res = run_gtda(python, x, lens, eps, repeats, timeout)
    except RuntimeError as exc:
        print(f"  giotto-tda skipped: {exc}")
        return title + f"giotto-tda: **skipped** ({exc}); topolens {med(times['topolens']):.2f} s", True
    print(f"  giotto-tda: {fmt_runs(res['times'])} s", flush=True)
    # noise="together" keeps each cover set's DBSCAN noise as one node, as giotto-tda does
    t_sets, t_edges = member_sets([nd[2] for nd in res["nodes"]], res["edges"])
    o_sets, o_edges = member_sets(g.members, g.edges)
    n_noise = sum(1 for _, lab, _ in res["nodes"] if lab < 0)
    same_n, same_e = o_sets == t_sets, o_edges == t_edges
    ref = med(times["topolens"])
    head = ["tool", "median [s]", "runs [s]", "vs topolens", "nodes", "edges", "same member sets",
            "same edges"]
    body = [["topolens UniformCover(gtda, open), noise='together'", f"{ref:.2f}", fmt_runs(times["topolens"]), "1.00x",
             str(g.n_nodes), str(g.n_edges), "(itself)", "(itself)"],
            ["giotto-tda 0.6.2 pipeline, n_jobs=1", f"{med(res['times']):.2f}", fmt_runs(res["times"]),
             f"{med(res['times']) / ref:.2f}x",
             f"{len(res['nodes'])} ({n_noise} noise)", str(len(res["edges"])), yes(same_n), yes(same_e)]]
    detail = ""
    if not same_n:
        detail = f" nodes: {len(o_sets - t_sets)} only in topolens, {len(t_sets - o_sets)} only in giotto-tda;"
    if not same_e:
        detail += f" edges: {len(o_edges - t_edges)} only in topolens, {len(t_edges - o_edges)} only in giotto-tda;"
    out = (title + table(head, body)
           + f"\n\n{res['versions']} (own venv); lens values bitwise equal to topolens': "
           + f"{yes(res['lens_equal'])}; with noise='together' (each cover set's noise points one "
           + f"node, {n_noise} of them here, as giotto-tda): "
           + f"{'identical' if same_n and same_e else 'DIFFERENT:' + detail}")
    return out, same_n and same_e


def section_tdamapper(x: np.ndarray, lens: np.ndarray, eps: float, repeats: int, runs2: int,
                      jobs_check: bool) -> str:
    import torch

    from topolens.mapper import Mapper

    n, p = ONE
    print("\n[4] tda-mapper", flush=True)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    tdamapper_graph(x[:500], lens[:500], eps, n, p, 1)  # warm
    times, last = round_robin({"topolens": lambda: topolens_graph(x, eps, n, p),
                               "tda-mapper n_jobs=1": lambda: tdamapper_graph(x, lens, eps, n, p, 1)},
                              repeats)
    g = last["topolens"].graph_
    tg = last["tda-mapper n_jobs=1"]

    def t_sets(graph: Any) -> tuple[set[frozenset], set[frozenset]]:
        ids = {v: i for i, v in enumerate(graph.nodes())}
        return member_sets([graph.nodes[v]["ids"] for v in graph.nodes()],
                           [(ids[a], ids[b]) for a, b in graph.edges()])

    ref_sets, ref_edges = t_sets(tg)
    o_sets, o_edges = member_sets(g.members, g.edges)
    same_n, same_e = o_sets == ref_sets, o_edges == ref_edges
    ref = med(times["topolens"])
    head = ["tool", "median [s]", "runs [s]", "vs topolens", "nodes", "edges", "same member sets",
            "same edges"]
    body = [["topolens UniformCover(kmapper, closed)", f"{ref:.2f}", fmt_runs(times["topolens"]), "1.00x",
             str(g.n_nodes), str(g.n_edges), "(itself)", "(itself)"],
            ["tda-mapper 0.12, n_jobs=1", f"{med(times['tda-mapper n_jobs=1']):.2f}",
             fmt_runs(times["tda-mapper n_jobs=1"]), f"{med(times['tda-mapper n_jobs=1']) / ref:.2f}x",
             str(tg.number_of_nodes()), str(tg.number_of_edges()), yes(same_n), yes(same_e)]]
    diff = ""
    if not (same_n and same_e):
        diff = (f"not identical: {len(o_sets - ref_sets)} member sets only in topolens, "
                f"{len(ref_sets - o_sets)} only in tda-mapper; {len(o_edges - ref_edges)} edges only in "
                f"topolens, {len(ref_edges - o_edges)} only in tda-mapper")
    # where the difference comes from: the cover sets, or the order DBSCAN sees the points in
    from sklearn.cluster import DBSCAN
    from tdamapper.cover import CubicalCover

    t_cover = [np.sort(np.asarray(s, dtype=np.int64))
               for s in CubicalCover(n_intervals=n, overlap_frac=p, algorithm="standard").apply(lens[:, None])]
    same_cover = ({frozenset(s.tolist()) for s in t_cover}
                  == {frozenset(s.tolist()) for s in g.cover.members(lens[:, None]) if s.size})
    reordered = set()
    for s in t_cover:
        lab = DBSCAN(eps=eps, min_samples=MIN_SAMPLES).fit(x[s]).labels_
        reordered |= {frozenset(s[lab == k].tolist()) for k in np.unique(lab[lab >= 0])}
    cause = (f"Cover sets identical to topolens': {yes(same_cover)}; tda-mapper's cover sets clustered "
             f"with scikit-learn's DBSCAN in index order give topolens' member sets: "
             f"{yes(reordered == o_sets)}.")
    # determinism: tda-mapper with 2 threads vs its own n_jobs=1 graph
    det_rows = []
    n_diff, t2, blas_warnings = 0, [], 0
    for r in range(runs2):
        gc.collect()
        with CapturedStderr() as err:
            t0 = time.perf_counter()
            graph2 = tdamapper_graph(x, lens, eps, n, p, 2)
            t2.append(time.perf_counter() - t0)
        blas_warnings += err.text.count("OpenBLAS Warning")
        s, e = t_sets(graph2)
        n_diff += not (s == ref_sets and e == ref_edges)
        print(f"  tda-mapper n_jobs=2 run {r}: {t2[-1]:.2f} s, same as n_jobs=1: "
              f"{s == ref_sets and e == ref_edges} ({len(s)} member sets, {len(s - ref_sets)} not in the "
              f"n_jobs=1 graph; {len(e)} edges, {len(e ^ ref_edges)} differing)", flush=True)
    det_rows.append(["tda-mapper 0.12", "n_jobs=2", str(runs2), fmt_runs(t2), f"{n_diff}/{runs2}"])
    if jobs_check:
        threads = torch.get_num_threads()
        ref_g, k, t_tl = g, 0, []
        try:
            for jobs, th in itertools.product((1, 2), (1, 2)):
                torch.set_num_threads(th)
                gc.collect()
                t0 = time.perf_counter()
                gg = Mapper(n_intervals=n, overlap=p, eps=eps, min_samples=MIN_SAMPLES, n_jobs=jobs).fit(x).graph_
                t_tl.append(time.perf_counter() - t0)
                k += not same_graph(gg, ref_g)
                print(f"  topolens n_jobs={jobs}, torch threads {th}: {t_tl[-1]:.2f} s, identical: "
                      f"{same_graph(gg, ref_g)}", flush=True)
        finally:
            torch.set_num_threads(threads)
        det_rows.append(["topolens", "n_jobs 1, 1, 2, 2 x torch threads 1, 2, 1, 2", "4", fmt_runs(t_tl),
                         f"{k}/4"])
    out = (f"### 4. tda-mapper 0.12, one graph ({n} intervals, {int(p * 100)}% overlap)\n\n"
           + table(head, body) + "\n\n" + tdamapper_note
           + (f" Result: {diff}." if diff else " Result: identical node member sets and edges.")
           + " " + cause
           + "\n\n" + table(["tool", "setting", "runs", "times [s]", "graphs differing from n_jobs=1"],
                            det_rows)
           + "\n\ntopolens' reference for its row: the graph of the timed `Mapper(n_jobs=1)` fit at torch "
           + f"threads {TORCH_THREADS}; identity = same (cover set, member set) per node and same edges. "
           + "tda-mapper clones its clustering wrapper per cover set but the clone keeps the one DBSCAN "
           + "object by reference (tdamapper._common.clone), so with n_jobs > 1 threads fit the same "
           + "DBSCAN and read its labels_ back: a race"
           + (f" ({n_diff} of {runs2} runs differed here). " if n_diff else ", which did not show in these runs. ")
           + "During its "
           + f"n_jobs=2 runs OpenBLAS printed {blas_warnings} 'Detect OpenMP Loop' warnings (captured).")
    return out


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=N_TRAIN, help="use the first N inputs (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="--n 5000")
    p.add_argument("--repeats", type=int, default=3, help="runs per tool for one graph (default: %(default)s)")
    p.add_argument("--sweep-repeats", type=int, default=1,
                   help="runs of the KeplerMapper sweep (topolens: at least 3) (default: %(default)s)")
    p.add_argument("--tda-runs", type=int, default=6, help="tda-mapper n_jobs=2 runs (default: %(default)s)")
    p.add_argument("--sections", type=int, nargs="*", default=[1, 2, 3, 4], choices=[1, 2, 3, 4])
    p.add_argument("--gtda-python", default=str(ROOT / ".venv-gtda" / "bin" / "python"),
                   help="interpreter of a venv with giotto-tda 0.6.2 (default: %(default)s)")
    p.add_argument("--gtda-timeout", type=float, default=3600.0)
    p.add_argument("--data-root", default=os.environ.get("TOPOLENS_DATA"),
                   help="MNIST root (default: $TOPOLENS_DATA)")
    p.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "topolens" / "bench",
                   help="where the activations are cached (default: %(default)s)")
    args = p.parse_args(argv)
    if args.quick:
        args.n = 5000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(TORCH_THREADS)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import kmapper  # noqa: F401  (imports before any timing)
    import tdamapper.learn  # noqa: F401

    logging.getLogger().setLevel(logging.WARNING)  # tdamapper's import sets the root logger to INFO

    from topolens.mapper import kdistance_eps

    print(versions(("numpy", "scipy", "scikit-learn", "torch", "kmapper", "tda-mapper", "networkx")))
    acts = load_activations(args.cache_dir, args.data_root)
    x = np.ascontiguousarray(acts[:args.n], dtype=np.float64)
    lens = np.linalg.norm(x, axis=1)
    eps = kdistance_eps(x, MIN_SAMPLES, EPS_QUANTILE)
    print(f"points: {x.shape[0]} x {x.shape[1]} float64; lens L2 norm in [{lens.min():.3f}, {lens.max():.3f}]; "
          f"eps = {eps:.6g} (0.5 quantile of 4-NN distances), min_samples = {MIN_SAMPLES}", flush=True)
    # warm-up: imports and first calls of every tool
    topolens_graph(x[:500], eps, *ONE)
    kmapper_graph(x[:500], eps, *ONE)

    outs, ok = [], True
    t_start = time.perf_counter()
    if 1 in args.sections:
        o, good = section_one(x, lens, eps, args.repeats)
        outs.append(o)
        ok &= good
    if 2 in args.sections:
        o, good = section_sweep(x, lens, eps, args.sweep_repeats)
        outs.append(o)
        ok &= good
    if 3 in args.sections:
        o, good = section_gtda(x, lens, eps, args.repeats, args.gtda_python, args.gtda_timeout)
        outs.append(o)
        ok &= good
    if 4 in args.sections:
        outs.append(section_tdamapper(x, lens, eps, args.repeats, args.tda_runs, jobs_check=True))
    print()
    print(versions(("numpy", "scipy", "scikit-learn", "torch", "kmapper", "tda-mapper", "networkx")))
    print(f"points {x.shape[0]} x {x.shape[1]}, eps {eps:.6g}, min_samples {MIN_SAMPLES}; "
          f"total {time.perf_counter() - t_start:.0f} s\n")
    print("\n\n".join(outs))
    if not ok:
        print("\nFAILED: a graph differs from KeplerMapper's or giotto-tda's (see above)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
