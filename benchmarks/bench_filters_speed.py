"""Filter topology speed at 50,000 filters (issue 14, benchmark 4).

Times the filter pipeline of :mod:`topolens.filters` stage by stage on 50,000 3x3 kernel slices,
with the direct peer of each stage side by side on the same input:

* ``extract_filters`` of a VGG-style stack (VGG-16's first five conv layers, conv1_1 .. conv3_1:
  3-64-64-128-128-256 channels, 61,632 slices; torch's default random initialisation, seed 0:
  the weights only matter for the speed here), then a seeded subset of 50,000;
* ``density_filter(k=15, p=0.3)`` vs scikit-learn's ``NearestNeighbors`` (its default
  ``algorithm="auto"``) called directly for the same 15-th neighbour distances;
* ``maxmin_landmarks`` (200) vs ``gudhi.subsampling.choose_n_farthest_points`` from the same
  starting point (the landmark sets are asserted equal);
* ``filter_persistence`` (H0-H2 over Z/2 and Z/3 of the landmarks, full filtration) vs
  ``ripser.ripser`` on the same landmark matrix (diagrams asserted equal).

The issue's target: extraction + density filtration + persistence of 50,000 filters in under a
minute.

    .venv/bin/python benchmarks/bench_filters_speed.py            # README section 20
    .venv/bin/python benchmarks/bench_filters_speed.py --quick    # 5,000 filters, seconds

Options: ``--n-filters`` (50000), ``--k`` (15), ``--p`` (0.3), ``--landmarks`` (200),
``--max-dim`` (2), ``--repeats`` (3; best of, candidates round-robin), ``--seed`` (0),
``--threads`` (torch threads, 2). ``OMP_WAIT_POLICY=PASSIVE`` is set unless already set.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, versions
from topolens.diagrams import PersistenceDiagrams
from topolens.filters import density_filter, maxmin_landmarks
from topolens.filters._extract import extract_filters
from topolens.filters._topology import filter_persistence
from topolens.homology import rips_persistence

#: VGG-16's conv1_1 .. conv3_1 (in, out) channels
VGG_CONVS = ((3, 64), (64, 64), (64, 128), (128, 128), (128, 256))
TARGET_S = 60.0


def vgg_stack(seed: int) -> nn.Sequential:
    """VGG-16's first five conv layers (3x3, padding 1) with ReLU and the two max-pools between."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(VGG_CONVS):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
        if i in (1, 3):
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class Timer:
    """Best-of-``repeats`` wall times per name; ``run`` returns the last result."""

    def __init__(self) -> None:
        self.best: dict[str, float] = {}
        self.first: dict[str, float] = {}

    def run(self, name: str, fn: Any) -> Any:
        t = time.perf_counter()
        out = fn()
        sec = time.perf_counter() - t
        self.first.setdefault(name, sec)
        self.best[name] = min(self.best.get(name, np.inf), sec)
        return out


def sklearn_knn(x: np.ndarray, k: int) -> np.ndarray:
    """The k-th other-point distance of every row with scikit-learn's NearestNeighbors, directly."""
    from sklearn.neighbors import NearestNeighbors

    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return dist[:, k]


def gudhi_landmarks(x: np.ndarray, m: int, start: int) -> np.ndarray:
    from gudhi.subsampling import choose_n_farthest_points

    return np.asarray(choose_n_farthest_points(points=x, nb_points=m, starting_point=start))


def ripser_dgms(d: np.ndarray, max_dim: int, coeff: int) -> PersistenceDiagrams:
    from ripser import ripser

    return PersistenceDiagrams.from_ripser(ripser(d, maxdim=max_dim, distance_matrix=True, coeff=coeff)["dgms"])


def one_round(model: nn.Module, args: argparse.Namespace, tm: Timer) -> dict[str, Any]:
    """Every stage once, topolens then its peer; equalities asserted."""
    from scipy.spatial.distance import pdist, squareform

    fs = tm.run("extract_filters", lambda: extract_filters(model, normalize="dnorm"))
    pick = np.sort(np.random.default_rng(args.seed).choice(len(fs), size=min(args.n_filters, len(fs)),
                                                           replace=False))
    x = tm.run("subset", lambda: fs.subset(pick)).points
    core = tm.run("density_filter", lambda: density_filter(x, k=args.k, p=args.p))
    delta = tm.run("sklearn NearestNeighbors", lambda: sklearn_knn(x, args.k))
    if not np.allclose(np.sort(delta)[:len(core)], core.distances, rtol=1e-9, atol=1e-12):
        raise AssertionError("scikit-learn's k-th neighbour distances differ from density_filter's")
    pts = x[core.indices]
    idx = tm.run("maxmin_landmarks", lambda: maxmin_landmarks(pts, args.landmarks, seed=args.seed))
    g = tm.run("gudhi choose_n_farthest_points", lambda: gudhi_landmarks(pts, args.landmarks, int(idx[0])))
    if not np.allclose(g, pts[idx], atol=1e-12):
        raise AssertionError("gudhi's farthest points differ from maxmin_landmarks (order or set)")
    fp = tm.run("filter_persistence", lambda: filter_persistence(
        pts, max_dim=args.max_dim, coeffs=(2, 3), n_landmarks=args.landmarks, threshold="auto",
        seed=args.seed, progress=False))
    d = squareform(pdist(pts[np.asarray(fp[2].metadata["landmarks"])]))
    out = {"n_extracted": len(fs), "n": len(x), "n_core": len(core), "fp": fp}
    for p in (2, 3):
        mine = tm.run(f"rips_persistence Z/{p}", lambda p=p: rips_persistence(d, args.max_dim, coeff=p))
        other = tm.run(f"ripser.py Z/{p}", lambda p=p: ripser_dgms(d, args.max_dim, p))
        if not (mine.allclose(fp[p]) and other.allclose(fp[p], atol=1e-6, rtol=1e-6)):
            raise AssertionError(f"diagrams over Z/{p} differ between filter_persistence, rips_persistence "
                                 "and ripser.py")
    return out


def report(tm: Timer, res: dict[str, Any], args: argparse.Namespace) -> None:
    b = tm.best
    rows = [
        ["extract_filters (all slices)", f"{res['n_extracted']:,} filters", f"{b['extract_filters']:.3f}", "-", "-"],
        ["density_filter", f"{res['n']:,} x 9, k={args.k}", f"{b['density_filter']:.3f}",
         f"{b['sklearn NearestNeighbors']:.3f}", f"{b['sklearn NearestNeighbors'] / b['density_filter']:.2f}x"],
        ["maxmin_landmarks", f"{res['n_core']:,} -> {args.landmarks}", f"{b['maxmin_landmarks']:.3f}",
         f"{b['gudhi choose_n_farthest_points']:.3f}",
         f"{b['gudhi choose_n_farthest_points'] / b['maxmin_landmarks']:.2f}x"],
    ]
    for p in (2, 3):
        rows.append([f"rips_persistence H0-H{args.max_dim} Z/{p}", f"{args.landmarks} landmarks",
                     f"{b[f'rips_persistence Z/{p}']:.3f}", f"{b[f'ripser.py Z/{p}']:.3f}",
                     f"{b[f'ripser.py Z/{p}'] / b[f'rips_persistence Z/{p}']:.2f}x"])
    rows.append(["filter_persistence (landmarks + Z/2 + Z/3)", f"{res['n_core']:,} points",
                 f"{b['filter_persistence']:.3f}", "-", "-"])
    print(f"\n### Stages (best of {args.repeats}; peer / topolens > 1: topolens faster)\n")
    print(table(["stage", "input", "topolens [s]", "peer [s]", "peer / topolens"], rows))
    stages = ("extract_filters", "subset", "density_filter", "filter_persistence")
    best, first = sum(b[s] for s in stages), sum(tm.first[s] for s in stages)
    print(f"\npipeline extract + subset + density_filter + filter_persistence: best {best:.2f} s, first round "
          f"{first:.2f} s; target {TARGET_S:.0f} s: {'met' if max(best, first) < TARGET_S else 'NOT met'}")
    for p in (2, 3):
        print(f"Z/{p}: {res['fp'][p].describe()}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5,000 filters, 100 landmarks, one round")
    ap.add_argument("--n-filters", type=int, default=50000)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--p", type=float, default=0.3)
    ap.add_argument("--landmarks", type=int, default=200)
    ap.add_argument("--max-dim", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.quick:
        args.n_filters, args.landmarks, args.repeats = min(args.n_filters, 5000), min(args.landmarks, 100), 1
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    print(versions(("numpy", "scipy", "scikit-learn", "torch", "gudhi", "ripser")))
    model = vgg_stack(args.seed)
    tm = Timer()
    for r in range(args.repeats):
        res = one_round(model, args, tm)
        print(f"round {r + 1}/{args.repeats} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    report(tm, res, args)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
