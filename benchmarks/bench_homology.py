"""Benchmarks of topolens' persistence and dissimilarity code against the real peers.

Run from the repository root::

    .venv/bin/python benchmarks/bench_homology.py            # full run (~8 minutes, 2 cores)
    .venv/bin/python benchmarks/bench_homology.py --quick    # small sizes (~1 minute)

Every section runs topolens and its peers side by side in this one process (memory in
fresh subprocesses), on the same matrices, and prints a Markdown table with the times,
the ratio peer / topolens and whether the diagrams agree.

Data: real activations, not random matrices. A ``SmallCNN`` is trained (seeded) for two
epochs on the MNIST sample bundled with topolens, its activations on 2000 training inputs
are recorded and cached in a temporary folder (``--cache-dir``), constant neurons are
dropped, ``n`` neurons are sampled (seeded) and ``D = 1 - |corr|`` is built with
:func:`topolens.dissimilarity.correlation_dissimilarity`. Building ``D`` is never timed.

Timing: ``time.perf_counter``, best of ``--repeats`` runs (default 3; 5 in section 4);
candidates are run round-robin (topolens, peer 1, peer 2, ..., then again) so that a
burst of machine noise hits all of them alike, and every candidate is warmed up once on
a small matrix first (imports, first-call costs). A candidate whose single run takes more
than ``--slow`` seconds (default 15) is run only once.

Sections: 1 H0, 2 H1, 3 threshold="auto", 4 distance matrix, 5 memory estimate.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
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

N_INPUTS = 2000
EPOCHS = 2
SEED = 0
MAIN_LAYER = "relu1"  # 8 x 24 x 24 = 4608 neurons
LAYERS = ("relu1", "pool1", "conv2", "relu2")  # the last three only for section 4 beyond relu1
TORCH_THREADS = 2
COEFF = 2  # coefficient field for every engine (topolens' default)
RESULT_TAG = "@@RESULT "


# --------------------------------------------------------------------------- data
def _cache_path(cache_dir: Path) -> Path:
    import torch

    tv = torch.__version__.replace("+", "_")
    return cache_dir / f"acts-smallcnn-e{EPOCHS}-n{N_INPUTS}-s{SEED}-torch{tv}.npz"


def load_activations(cache_dir: Path) -> dict[str, np.ndarray]:
    """Activations (N_INPUTS, n_neurons) of LAYERS of a trained SmallCNN, cached on disk."""
    path = _cache_path(cache_dir)
    if path.exists():
        with np.load(path) as f:
            acts = {k: f[k] for k in LAYERS}
        print(f"activations: cached {path}")
        return acts
    import torch

    from topolens.activations import record_activations
    from topolens.datasets import as_tensor_dataset, load_mnist_sample
    from topolens.models import SmallCNN, train_classifier

    t0 = time.perf_counter()
    images, labels = load_mnist_sample("train")
    x, y = as_tensor_dataset(images, labels).tensors
    torch.manual_seed(SEED)
    model = SmallCNN()
    hist = train_classifier(model, x, y, epochs=EPOCHS, seed=SEED)
    rec = record_activations(model, x[:N_INPUTS], list(LAYERS))
    acts = {k: np.ascontiguousarray(rec[k], dtype=np.float32) for k in LAYERS}
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **acts)
    os.replace(tmp, path)
    print(f"activations: trained SmallCNN for {EPOCHS} epochs (train accuracy "
          f"{hist.train_accuracy[-1]:.3f}) and recorded {N_INPUTS} inputs in "
          f"{time.perf_counter() - t0:.1f} s; cached {path}")
    return acts


def _drop_constant(a: np.ndarray) -> np.ndarray:
    from topolens.dissimilarity import constant_neurons

    return np.ascontiguousarray(a[:, ~constant_neurons(a)])


class Data:
    """Neuron pools and the 1 - |corr| matrices built from them (each built once)."""

    def __init__(self, acts: dict[str, np.ndarray]) -> None:
        self.main = _drop_constant(acts[MAIN_LAYER])
        self.wide = _drop_constant(np.hstack([acts[k] for k in LAYERS]))
        self._d: dict[tuple[int, int], np.ndarray] = {}
        print(f"neurons: {MAIN_LAYER} {acts[MAIN_LAYER].shape[1]} ({self.main.shape[1]} non-constant); "
              f"{'+'.join(LAYERS)} {self.wide.shape[1]} non-constant; inputs {self.main.shape[0]}")

    def columns(self, n: int, sample: int = 0) -> tuple[np.ndarray, str]:
        """(N_INPUTS, n) activations of n neurons sampled with a fixed seed, and their source."""
        pool, name = (self.main, MAIN_LAYER) if n <= self.main.shape[1] else (self.wide, "+".join(LAYERS))
        if n > pool.shape[1]:
            raise SystemExit(f"only {pool.shape[1]} non-constant neurons available, {n} requested")
        idx = np.sort(np.random.default_rng(SEED + n + 1000 * sample).choice(pool.shape[1], n, replace=False))
        return np.ascontiguousarray(pool[:, idx]), name

    def dissimilarity(self, n: int, sample: int = 0) -> np.ndarray:
        """1 - |corr| of n neurons of MAIN_LAYER (sample 0 is kept for reuse; others are not)."""
        if (n, sample) in self._d:
            return self._d[(n, sample)]
        from topolens.dissimilarity import correlation_dissimilarity

        a, name = self.columns(n, sample)
        if name != MAIN_LAYER:
            raise SystemExit(f"n={n} exceeds the {self.main.shape[1]} neurons of {MAIN_LAYER}")
        d = correlation_dissimilarity(a)
        if sample == 0:
            self._d[(n, sample)] = d
        return d


# --------------------------------------------------------------------------- timing
def bench(cands: dict[str, Callable[[], Any]], repeats: int, slow: float) -> tuple[dict[str, float], dict[str, Any]]:
    """Best-of-``repeats`` times (round-robin) and the output of each candidate's first run."""
    best: dict[str, float] = {}
    outs: dict[str, Any] = {}
    for r in range(repeats):
        for name, fn in cands.items():
            if r > 0 and best[name] > slow:
                continue
            gc.collect()
            t0 = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t0
            best[name] = min(dt, best.get(name, np.inf))
            if r == 0:
                outs[name] = out
            del out
    return best, outs


def warm_up(cands: dict[str, Callable[[np.ndarray], Any]], d_small: np.ndarray) -> None:
    for fn in cands.values():
        fn(d_small)


def _deaths(dgm: Any) -> np.ndarray:
    """Sorted deaths of the pairs with positive lifetime (engines disagree on zero-length ones)."""
    d = np.asarray(dgm, dtype=np.float64).reshape(-1, 2)
    return np.sort(d[d[:, 1] > d[:, 0], 1])


def _canon(dgm: Any) -> np.ndarray:
    d = np.asarray(dgm, dtype=np.float64).reshape(-1, 2)
    d = d[d[:, 1] > d[:, 0]]
    return d[np.lexsort((d[:, 1], d[:, 0]))]


def same_deaths(a: Any, b: Any) -> bool:
    x, y = _deaths(a), _deaths(b)
    return x.shape == y.shape and bool(np.allclose(x, y))


def same_dgm(a: Any, b: Any) -> bool:
    x, y = _canon(a), _canon(b)
    if x.shape != y.shape or not np.array_equal(np.isinf(x), np.isinf(y)):
        return False
    fin = np.isfinite(x)
    return bool(np.allclose(x[fin], y[fin]))


# --------------------------------------------------------------------------- output
def fmt_t(t: float) -> str:
    return f"{t:.3f}" if t < 100 else f"{t:.1f}"


def fmt_mib(b: float) -> str:
    return f"{b / 2**20:.0f}"


class Targets:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []

    def add(self, what: str, goal: str, value: str, met: bool) -> None:
        self.rows.append([what, goal, value, "MET" if met else "NOT MET"])
        print(f"target {what}: {goal} -> {value}: {'MET' if met else 'NOT MET'}")


def section(title: str) -> None:
    print(f"\n## {title}\n", flush=True)


def peer_cells(times: dict[str, float], peers: list[str], ref: str) -> list[str]:
    return [f"{fmt_t(times[p])} ({times[p] / times[ref]:.1f}x)" for p in peers]


# --------------------------------------------------------------------------- engines
def _gudhi_rp(dims: list[int], threshold: float = float("inf")) -> Any:
    from gudhi.sklearn.rips_persistence import RipsPersistence

    return RipsPersistence(homology_dimensions=dims, threshold=threshold, input_type="full distance matrix",
                           homology_coeff_field=COEFF, n_jobs=1)


def _gudhi_st_h0(d: np.ndarray) -> np.ndarray:
    import gudhi

    st = gudhi.RipsComplex(distance_matrix=d).create_simplex_tree(max_dimension=1)
    st.compute_persistence(homology_coeff_field=COEFF, persistence_dim_max=True)
    return st.persistence_intervals_in_dimension(0)


def h0_candidates() -> dict[str, Callable[[np.ndarray], Any]]:
    import gph
    import ripser

    from topolens.homology.rips import rips_persistence

    return {
        "topolens": lambda d: rips_persistence(d, 0)[0],
        "gudhi RipsPersistence": lambda d: _gudhi_rp([0]).fit_transform([d])[0][0],
        "gudhi SimplexTree": _gudhi_st_h0,
        "ripser.py": lambda d: ripser.ripser(d, maxdim=0, distance_matrix=True, coeff=COEFF)["dgms"][0],
        "giotto-ph 1t": lambda d: gph.ripser_parallel(d, maxdim=0, metric="precomputed", coeff=COEFF,
                                                       n_threads=1)["dgms"][0],
        "giotto-ph 2t": lambda d: gph.ripser_parallel(d, maxdim=0, metric="precomputed", coeff=COEFF,
                                                       n_threads=2)["dgms"][0],
    }


def h1_candidates() -> dict[str, Callable[[np.ndarray], Any]]:
    """Each returns [H0, H1] (all engines compute both; gudhi is asked for both dimensions)."""
    import gph
    import ripser

    from topolens.homology.rips import rips_persistence

    def tl(d: np.ndarray) -> list[np.ndarray]:
        dg = rips_persistence(d, 1)
        return [dg[0], dg[1]]

    return {
        "topolens": tl,
        "gudhi RipsPersistence": lambda d: list(_gudhi_rp([0, 1]).fit_transform([d])[0]),
        "ripser.py": lambda d: ripser.ripser(d, maxdim=1, distance_matrix=True, coeff=COEFF)["dgms"],
        "giotto-ph 1t": lambda d: gph.ripser_parallel(d, maxdim=1, metric="precomputed", coeff=COEFF,
                                                       n_threads=1)["dgms"],
        "giotto-ph 2t": lambda d: gph.ripser_parallel(d, maxdim=1, metric="precomputed", coeff=COEFF,
                                                       n_threads=2)["dgms"],
    }


def _bind(cands: dict[str, Callable[[np.ndarray], Any]], d: np.ndarray) -> dict[str, Callable[[], Any]]:
    return {k: (lambda f=f: f(d)) for k, f in cands.items()}


# --------------------------------------------------------------------------- sections
def run_h0(data: Data, sizes: list[int], args: argparse.Namespace, targets: Targets) -> None:
    section("1. H0 (exact): topolens native Prim vs the peers")
    cands = h0_candidates()
    warm_up(cands, data.dissimilarity(sizes[0])[:100, :100].copy())
    peers = [k for k in cands if k != "topolens"]
    from topolens._validation import check_distance_matrix
    from topolens.homology.h0 import rips_h0

    parts = {"validation": check_distance_matrix, "Prim": rips_h0}  # topolens' two main steps
    rows, last = [], None
    for n in sizes:
        d = data.dissimilarity(n)
        t, out = bench({**_bind(cands, d), **_bind(parts, d)}, args.repeats, args.slow)
        ok = [p for p in peers if same_deaths(out["topolens"], out[p])]
        fastest = min(peers, key=t.__getitem__)
        ratio = t[fastest] / t["topolens"]
        rows.append([str(n), fmt_t(t["topolens"]), fmt_t(t["validation"]), fmt_t(t["Prim"]),
                     *peer_cells(t, peers, "topolens"),
                     f"{ratio:.1f}x ({fastest})", "yes" if len(ok) == len(peers) else
                     "NO: " + ", ".join(p for p in peers if p not in ok)])
        last = (n, ratio, fastest)
        print(f"  n={n} done", flush=True)
    print()
    print(table(["n", "topolens [s]", "of which validation [s]", "of which Prim [s]",
                 *(f"{p} [s] (ratio)" for p in peers), "fastest peer / topolens", "equal deaths"], rows))
    print("\ntopolens = rips_persistence(D, 0): check_distance_matrix (validation), enclosing radius, "
          "then Prim (rips_h0); the two parts are timed separately.")
    if last is not None and last[0] >= 4000:
        targets.add("H0 at n=4000", ">= 7x faster than the fastest peer", f"{last[1]:.1f}x vs {last[2]}",
                    last[1] >= 7.0)


def run_h1(data: Data, sizes: list[int], args: argparse.Namespace, targets: Targets) -> None:
    section("2. H1 (full filtration): topolens (gudhi backend + native H0) vs the peers")
    cands = h1_candidates()
    warm_up(cands, data.dissimilarity(sizes[0])[:100, :100].copy())
    peers = [k for k in cands if k != "topolens"]
    rows = []
    for n in sizes:
        d = data.dissimilarity(n)
        t, out = bench(_bind(cands, d), args.repeats, args.slow)
        ref = out["topolens"]
        ok = [p for p in peers if same_dgm(ref[0], out[p][0]) and same_dgm(ref[1], out[p][1])]
        fastest = min(peers, key=t.__getitem__)
        ratio = t[fastest] / t["topolens"]
        rows.append([str(n), str(len(_canon(ref[1]))), fmt_t(t["topolens"]), *peer_cells(t, peers, "topolens"),
                     f"{ratio:.2f}x ({fastest})", "yes" if len(ok) == len(peers) else
                     "NO: " + ", ".join(p for p in peers if p not in ok)])
        targets.add(f"H1 at n={n}", "no slower than the fastest peer (ratio >= 1)",
                    f"{ratio:.2f}x vs {fastest}", ratio >= 1.0)
        print(f"  n={n} done", flush=True)
    print()
    print(table(["n", "H1 bars", "topolens [s]", *(f"{p} [s] (ratio)" for p in peers),
                 "fastest peer / topolens", "equal H0+H1"], rows))


def run_auto(data: Data, n: int, n_samples: int, args: argparse.Namespace, targets: Targets,
             tmpdir: Path) -> None:
    from topolens.diagrams import PersistenceDiagrams
    from topolens.homology.rips import rips_persistence

    section(f"3. threshold='auto' at n={n} vs the full run ({n_samples} neuron samples)")
    warm_up({"tl": lambda x: rips_persistence(x, 1, threshold="auto")},
            data.dissimilarity(n)[:100, :100].copy())
    rows, detail = [], []
    all_equal, speeds, mem_ratios = True, [], []
    for s in range(n_samples):
        d = data.dissimilarity(n, sample=s)
        cands = {
            "topolens auto": lambda d=d: rips_persistence(d, 1, threshold="auto"),
            "gudhi full": lambda d=d: _gudhi_rp([0, 1]).fit_transform([d])[0],
        }
        if s == 0:
            cands["topolens full"] = lambda d=d: rips_persistence(d, 1)
        t, out = bench(cands, args.repeats, args.slow)
        auto = out["topolens auto"]
        gfull = PersistenceDiagrams([np.asarray(x).reshape(-1, 2) for x in out["gudhi full"]])
        equal = auto.allclose(gfull) and auto.n_censored == 0
        if s == 0:
            equal = equal and auto.allclose(out["topolens full"])
        all_equal &= equal
        tried = auto.metadata["auto_thresholds"]
        stop = f"{len(tried)} run(s), last at the {_quantile_of(d, tried[-1]):.0%} quantile"
        t_fin = tried[-1]
        h1_full = _canon(gfull[1])
        missed = int((h1_full[:, 0] > t_fin).sum()) if not auto.metadata["complete"] else 0
        speed = t["gudhi full"] / t["topolens auto"]
        speeds.append(speed)

        dpath = tmpdir / f"D{n}-s{s}.npy"
        np.save(dpath, d)
        specs = {"base": {"what": "load"},
                 "auto": {"what": "topolens", "max_dim": 1, "kw": {"threshold": "auto"}},
                 "gudhi": {"what": "gudhi", "max_dim": 1}}
        if s == 0:
            specs["tl full"] = {"what": "topolens", "max_dim": 1, "kw": {}}
            specs["gudhi thr"] = {"what": "gudhi", "max_dim": 1, "threshold": t_fin}
        mem = {k: measure({**v, "path": str(dpath)}) for k, v in specs.items()}
        dpath.unlink()
        m = {k: (v["peak"] - mem["base"]["peak"]) if v and mem["base"] else float("nan")
             for k, v in mem.items() if k != "base"}
        mem_ratios.append(m["gudhi"] / max(m["auto"], 1))
        rows.append([str(s), f"{stop} ({t_fin:.4f})", str(auto.metadata["complete"]),
                     f"{len(_canon(auto[1]))} / {len(h1_full)}", str(missed), str(auto.n_censored),
                     "yes" if equal else "NO", fmt_t(t["topolens auto"]), fmt_t(t["gudhi full"]),
                     f"{speed:.2f}x", fmt_mib(m["auto"]), fmt_mib(m["gudhi"]), f"{mem_ratios[-1]:.1f}x"])
        if s == 0:
            detail = [
                "sample 0 (the matrix of sections 1-2): thresholds tried "
                + ", ".join(f"{v:.4f}" for v in tried)
                + f"; enclosing radius {auto.metadata['enclosing_radius']:.4f}; largest H1 death "
                f"{h1_full[:, 1].max():.4f} (the {_quantile_of(d, h1_full[:, 1].max()):.0%} quantile of the "
                "dissimilarities)",
                f"sample 0: topolens full {fmt_t(t['topolens full'])} s, peak {fmt_mib(m['tl full'])} MiB; "
                f"gudhi alone at the final auto threshold: {fmt_t(mem['gudhi thr']['seconds'])} s (1 run), "
                f"peak {fmt_mib(m['gudhi thr'])} MiB; baseline subprocess (imports + D) peak "
                f"{fmt_mib(mem['base']['peak'])} MiB, D itself {fmt_mib(d.nbytes)} MiB",
            ]
        print(f"  sample {s} done", flush=True)
    print()
    print(table(["sample", "auto stopped at", "complete", "H1 bars auto / full", "H1 bars born after it",
                 "n_censored", "identical", "auto [s]", "gudhi full [s]", "speed-up", "auto peak [MiB]",
                 "gudhi full peak [MiB]", "memory ratio"], rows))
    print("\n" + "\n".join(detail))
    print("peak = peak RSS of a fresh subprocess minus that of a subprocess that only loads D; "
          "sample s samples the neurons with seed "
          f"{SEED} + n + 1000 s.")
    targets.add(f"auto n={n} identical diagram", "allclose to the full run and n_censored == 0",
                f"{sum(r[6] == 'yes' for r in rows)} of {len(rows)} samples identical", all_equal)
    targets.add(f"auto n={n} speed-up", ">= 4x faster than gudhi's full run",
                ", ".join(f"{x:.2f}x" for x in speeds), min(speeds) >= 4.0)
    targets.add(f"auto n={n} memory", "~13x less than gudhi's full run (issue's claim)",
                ", ".join(f"{x:.1f}x" for x in mem_ratios) + " less", min(mem_ratios) >= 13.0)


def _quantile_of(d: np.ndarray, v: float) -> float:
    """Fraction of the off-diagonal entries of d that are <= v."""
    n = d.shape[0]
    return float(((d <= v).sum() - n) / (n * (n - 1)))


def run_dist(data: Data, sizes: list[int], args: argparse.Namespace, targets: Targets) -> None:
    import torch

    from topolens.dissimilarity import correlation_dissimilarity

    section(f"4. distance matrix 1 - |corr| of (n_inputs={N_INPUTS}, n) activations")
    reps = max(5, args.repeats)
    rows = []
    for n in sizes:
        a, src = data.columns(n)
        z = a - a.mean(axis=0, dtype=np.float64).astype(np.float32)
        z /= np.linalg.norm(z, axis=0)
        zt = torch.from_numpy(z)
        cands = {
            "topolens": lambda a=a: correlation_dissimilarity(a),
            "numpy corrcoef f64": lambda a=a: 1.0 - np.abs(np.corrcoef(a, rowvar=False)),
            "torch f32 GEMM": lambda zt=zt: (zt.T @ zt).numpy(),
            "numpy f32 Z.T@Z": lambda z=z: z.T @ z,
        }
        if n == sizes[0]:
            bench(cands, 1, args.slow)  # warm-up
        t, out = bench(cands, reps, args.slow)
        err = float(np.abs(out["topolens"] - out["numpy corrcoef f64"]).max())
        del out
        ratio = t["topolens"] / t["torch f32 GEMM"]
        rows.append([str(n), src, fmt_t(t["topolens"]),
                     *(f"{fmt_t(t[p])} ({t[p] / t['topolens']:.2f}x)" for p in list(cands)[1:]),
                     f"{ratio:.2f}", f"{err:.1e}"])
        targets.add(f"distance matrix n={n}", "topolens <= 1.10 x torch float32 GEMM", f"{ratio:.2f}x",
                    ratio <= 1.10)
        print(f"  n={n} done", flush=True)
    print()
    print(table(["n", "neurons from", "topolens [s]", *(f"{p} [s] (ratio)" for p in list(cands)[1:]),
                 "topolens / torch GEMM", "max |diff| vs corrcoef"], rows))


def run_memory(data: Data, configs: list[tuple[int, int, float | None, str]], args: argparse.Namespace,
               targets: Targets, tmpdir: Path) -> None:
    from topolens.homology.memory import estimate_rips_memory
    from topolens.homology.rips import _edge_fraction, distance_quantile, enclosing_radius

    section("5. memory estimate (estimate_rips_memory) vs measured peak RSS")
    base: dict[int, dict[str, Any] | None] = {}
    rows, all_ok = [], True
    for n, max_dim, q, backend in configs:
        d = data.dissimilarity(n)
        dpath = tmpdir / f"D{n}.npy"
        if not dpath.exists():
            np.save(dpath, d)
        if n not in base:
            base[n] = measure({"what": "load", "path": str(dpath)})
        t = float("inf") if q is None else distance_quantile(d, q)
        frac = _edge_fraction(d, t, enclosing_radius(d))
        est = estimate_rips_memory(n, max_dim, frac)
        kw: dict[str, Any] = {"backend": backend}
        if q is not None:
            kw["threshold_quantile"] = q
        m = measure({"what": "topolens", "max_dim": max_dim, "kw": kw, "path": str(dpath)})
        b = base[n]
        if m is None or b is None:
            rows.append([str(n), f"H0..H{max_dim}", "full" if q is None else f"q={q}", backend, "", "", "", "failed", "", "", ""])
            all_ok = False
            continue
        measured = m["peak"] - b["imports"]  # the estimate counts the matrix itself too
        ok = est >= measured
        all_ok &= ok
        # bytes per edge below the threshold, after 16 bytes per matrix entry (H1 runs only)
        per_edge = f"{(measured - 16.0 * n * n) / (frac * n * (n - 1) / 2):.0f}" if max_dim == 1 else ""
        rows.append([str(n), f"H0..H{max_dim}", "full" if q is None else f"q={q}", backend, f"{frac:.3f}",
                     fmt_t(m["seconds"]), fmt_mib(est), fmt_mib(measured), f"{est / measured:.2f}",
                     "yes" if ok else "NO", per_edge])
        print(f"  n={n} H{max_dim} {q} {backend} done", flush=True)
    print()
    print(table(["n", "dims", "threshold", "backend", "edge fraction", "time [s]", "estimate [MiB]",
                 "measured [MiB]", "estimate / measured", "conservative", "measured B/edge"], rows))
    print("\nmeasured = peak RSS of a fresh subprocess running rips_persistence(D, ...) minus its RSS "
          "after the imports, before loading D (the estimate counts the n x n matrix itself); "
          "measured B/edge = (measured - 16 n^2) / edges below the threshold.")
    targets.add("memory estimate", "estimate >= measured peak for every configuration",
                "all conservative" if all_ok else "some under-estimate", all_ok)


# --------------------------------------------------------------------------- subprocess worker
def measure(spec: dict[str, Any]) -> dict[str, Any] | None:
    """Run one configuration in a fresh interpreter; its peak RSS (bytes) and time."""
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)],
                          capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    print(f"worker {spec} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}", file=sys.stderr)
    return None


def worker(spec: dict[str, Any]) -> None:
    import gph  # noqa: F401  (same imports in every worker: a common baseline)
    import gudhi.sklearn.rips_persistence  # noqa: F401
    import ripser  # noqa: F401

    from topolens.homology.rips import rips_persistence

    def maxrss() -> int:
        # VmHWM: this process's peak RSS. Not getrusage's ru_maxrss, which Linux carries over
        # from the forked parent across exec (it would report the benchmark's own peak).
        try:
            with open("/proc/self/status") as fh:
                for ln in fh:
                    if ln.startswith("VmHWM:"):
                        return int(ln.split()[1]) * 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    imports = maxrss()
    d = np.load(spec["path"])
    loaded = maxrss()
    t0 = time.perf_counter()
    info: dict[str, Any] = {}
    if spec["what"] == "topolens":
        dg = rips_persistence(d, spec["max_dim"], memory_limit=None, **spec["kw"])
        info = {"n_censored": dg.n_censored, "auto_thresholds": dg.metadata.get("auto_thresholds")}
    elif spec["what"] == "gudhi":
        _gudhi_rp(list(range(spec["max_dim"] + 1)), spec.get("threshold", float("inf"))).fit_transform([d])
    seconds = time.perf_counter() - t0
    print(RESULT_TAG + json.dumps({"imports": imports, "loaded": loaded, "peak": maxrss(), "seconds": seconds,
                                   **info}), flush=True)


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    p.add_argument("--sizes", type=int, nargs="+", help="n for sections 1, 2 and 4 (overrides the defaults)")
    p.add_argument("--h0-sizes", type=int, nargs="+")
    p.add_argument("--h1-sizes", type=int, nargs="+")
    p.add_argument("--dist-sizes", type=int, nargs="+")
    p.add_argument("--auto-n", type=int, help="n for section 3 (default 2000; 1000 with --quick)")
    p.add_argument("--auto-samples", type=int, help="neuron samples in section 3 (default 3; 1 with --quick)")
    p.add_argument("--h1-4000", action="store_true",
                   help="also H1 at n=4000 (section 2, ~3 minutes, ~5 GiB) and in section 5")
    p.add_argument("--sections", type=int, nargs="+", default=[1, 2, 3, 4, 5], choices=[1, 2, 3, 4, 5])
    p.add_argument("--repeats", type=int, default=3, help="best of this many runs (default 3)")
    p.add_argument("--slow", type=float, default=15.0,
                   help="a candidate whose single run exceeds this many seconds is run only once")
    p.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "topolens-bench",
                   help="where the trained activations are cached (default: %(default)s)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return
    import torch

    torch.set_num_threads(TORCH_THREADS)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    q = args.quick
    h0 = args.h0_sizes or args.sizes or ([500, 1000] if q else [500, 1000, 2000, 4000])
    h1 = args.h1_sizes or args.sizes or ([500] if q else [500, 1000, 2000])
    if args.h1_4000 and 4000 not in h1:
        h1 = [*h1, 4000]
    dist = args.dist_sizes or args.sizes or ([1000, 2000] if q else [1000, 2000, 4000, 8000])
    auto_n = args.auto_n or (1000 if q else 2000)
    if q:
        mem = [(1000, 0, None, "auto"), (500, 1, None, "gudhi"), (1000, 1, None, "gudhi"), (1000, 1, 0.2, "gudhi")]
    else:
        mem = [(2000, 0, None, "auto"), (4000, 0, None, "auto"),
               (1000, 1, None, "gudhi"), (2000, 1, None, "gudhi"), (2000, 1, 0.2, "gudhi"),
               (2000, 1, 0.5, "gudhi"), (4000, 1, 0.2, "gudhi"), (4000, 1, 0.5, "gudhi"),
               (1000, 2, 0.2, "gudhi"), (2000, 2, 0.1, "gudhi"),
               (2000, 1, None, "ripser"), (2000, 1, None, "giotto")]
        if args.h1_4000:
            mem.append((4000, 1, None, "gudhi"))

    start = time.perf_counter()
    print("# topolens homology benchmarks\n")
    print(versions())
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    print(f"timing: best of {args.repeats} runs, round-robin (5 runs in section 4); a run over "
          f"{args.slow:g} s is not repeated; coefficients Z/{COEFF} everywhere")
    data = Data(load_activations(args.cache_dir))
    targets = Targets()
    with tempfile.TemporaryDirectory(prefix="topolens-bench-") as tmp:
        tmpdir = Path(tmp)
        if 1 in args.sections:
            run_h0(data, h0, args, targets)
        if 2 in args.sections:
            run_h1(data, h1, args, targets)
        if 3 in args.sections:
            run_auto(data, auto_n, args.auto_samples or (1 if q else 3), args, targets, tmpdir)
        if 4 in args.sections:
            run_dist(data, dist, args, targets)
        if 5 in args.sections:
            run_memory(data, mem, args, targets, tmpdir)
    section("Targets")
    print(table(["what", "target", "measured", "status"], targets.rows))
    print(f"\ntotal wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
