"""Learned first-layer filters of small MNIST / Fashion-MNIST CNNs (issue 14, benchmark 2).

Gabrielsson & Carlsson (arXiv 1810.03234) found that the 3x3 first-layer filters of CNNs trained
on MNIST concentrate, after density filtering, on the primary circle of edge orientations. This
script trains ``--seeds`` small CNNs (:class:`_filters_train.SmallNet`, 3x3 first layer with
``--c1`` channels) on each dataset, keeps the first-layer weights at the checkpoints
``--checkpoints`` (batches; 0 is the initialisation), pools them over the seeds of one dataset and
checkpoint with :func:`topolens.filters.extract_filters`, and measures (README section 18 states
the protocol):

* the share of filters within cosine 0.9 of a primary-circle filter
  (:func:`topolens.filters._topology.circle_share`), pooled and per seed;
* for each (k, p) of the grid, the density-filtered set X(k, p) of the filters' DCT coordinates on
  S^7 (:func:`topolens.filters.density_filter`), its max-min landmarks and H1 over Z/2 and Z/3
  (:func:`topolens.filters._topology.filter_persistence`): the number of *dominant* H1 bars
  (lifetime >= ``--dominant``, a rule fixed before the run) and the longest H1 lifetime.

    TOPOLENS_DATA=/work/shared/data .venv/bin/python benchmarks/study_filters.py
    TOPOLENS_DATA=/work/shared/data .venv/bin/python benchmarks/study_filters.py --quick   # smoke run

Raw results go to ``$TMPDIR/topolens-bench/study_filters.json``; the tables are printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, versions
from _filters_train import SmallNet, accuracy, fmt_median_iqr, load_dataset, split_validation, train
from topolens.filters import density_filter, to_dct
from topolens.filters._extract import extract_filters
from topolens.filters._topology import circle_share, filter_persistence

logger = logging.getLogger("study_filters")


def train_seeds(name: str, args: argparse.Namespace, bar: tqdm) -> tuple[dict[int, list[dict]], dict[int, list[float]]]:
    """First-layer weights {checkpoint: [state dict per seed]} and validation accuracies."""
    xtr, ytr, _, _ = load_dataset(name)
    xtr, ytr, xva, yva = split_validation(xtr, ytr, args.n_val)
    weights: dict[int, list[dict]] = {c: [] for c in args.checkpoints}
    accs: dict[int, list[float]] = {c: [] for c in args.checkpoints}
    for seed in range(args.seeds):
        torch.manual_seed(seed)
        net = SmallNet(nn.Conv2d(1, args.c1, 3, padding=1), nn.Conv2d(args.c1, args.c2, 3, padding=1), args.c2)

        def keep(b: int, model: nn.Module) -> None:
            weights[b].append({"conv1.weight": model.conv1.weight.detach().clone()})
            accs[b].append(accuracy(model, xva, yva))

        t0 = time.perf_counter()
        train(net, xtr, ytr, n_batches=max(args.checkpoints), batch=args.batch, lr=args.lr, seed=seed,
              checkpoints=args.checkpoints, on_checkpoint=keep)
        logger.info("%s seed %d: %.0f s, validation accuracy %s", name, seed, time.perf_counter() - t0,
                    {c: round(accs[c][-1], 4) for c in args.checkpoints})
        bar.update(1)
    return weights, accs


def dominant(dgm: Any, dim: int, cut: float) -> tuple[int, float]:
    life = dgm.lifetimes(dim)
    return int(np.sum(life >= cut)), float(life.max()) if len(life) else 0.0


def analyse(states: list[dict], args: argparse.Namespace) -> dict[str, Any]:
    """Circle share and the H1 signature of X(k, p) for one pool of filters."""
    fs = extract_filters(states, layer="conv1")
    per_seed = [circle_share(extract_filters(s, layer="conv1").points, cos=0.9) for s in states]
    y = to_dct(fs.points)
    out: dict[str, Any] = {"n_filters": len(y), "n_dropped": fs.n_dropped,
                           "circle_share": circle_share(fs.points, cos=0.9), "circle_share_seeds": per_seed,
                           "density": {}}
    grid = [(k, p) for k in args.k for p in args.p if p < 1.0] + [(0, 1.0)]
    for k, p in grid:
        idx = np.arange(len(y)) if p >= 1.0 else density_filter(y, k=k, p=p).indices
        dg = filter_persistence(y[idx], max_dim=1, coeffs=(2, 3), n_landmarks=args.landmarks, seed=0,
                                progress=False)
        cell = {"n_points": len(idx)}
        for q in (2, 3):
            cell[f"dominant_z{q}"], cell[f"longest_z{q}"] = dominant(dg[q], 1, args.dominant)
        out["density"][f"{k},{p}"] = cell
    return out


def tables(results: dict[str, Any], args: argparse.Namespace) -> str:
    out = []
    hk = f"{args.headline[0]},{args.headline[1]}"
    head = ["dataset", "batches", "val. acc. (median [IQR])", "filters", "circle share, pooled",
            "circle share per seed (median [IQR])", f"X({args.headline[0]}, {args.headline[1]}) dominant H1 Z/2 / Z/3",
            "longest H1 Z/2", "all filters: dominant H1 Z/2 / Z/3", "longest H1 Z/2 (all)"]
    body = []
    for name, res in results.items():
        for c in args.checkpoints:
            r = res["checkpoints"][str(c)]
            h, a = r["density"][hk], r["density"]["0,1.0"]
            body.append([name, str(c), fmt_median_iqr(res["accuracy"][str(c)]), str(r["n_filters"]),
                         f"{r['circle_share']:.3f}", fmt_median_iqr(r["circle_share_seeds"], 3),
                         f"{h['dominant_z2']} / {h['dominant_z3']}", f"{h['longest_z2']:.3f}",
                         f"{a['dominant_z2']} / {a['dominant_z3']}", f"{a['longest_z2']:.3f}"])
    out.append("**Formation over training** (filters pooled over seeds)\n\n" + table(head, body))
    last = str(max(args.checkpoints))
    keys = list(next(iter(results.values()))["checkpoints"][last]["density"])
    head = ["dataset", "k", "p", "points", "dominant H1 Z/2", "dominant H1 Z/3", "longest H1 Z/2", "longest H1 Z/3"]
    body = []
    for name, res in results.items():
        for key in keys:
            r = res["checkpoints"][last]["density"][key]
            k, p = key.split(",")
            body.append([name, "-" if k == "0" else k, p, str(r["n_points"]), str(r["dominant_z2"]),
                         str(r["dominant_z3"]), f"{r['longest_z2']:.3f}", f"{r['longest_z3']:.3f}"])
    out.append(f"**(k, p) sensitivity after {last} batches**\n\n" + table(head, body))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion"], choices=["mnist", "fashion"])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--c1", type=int, default=32, help="first-layer channels")
    ap.add_argument("--c2", type=int, default=16, help="second-layer channels")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--checkpoints", type=int, nargs="+", default=[0, 100, 300, 1000, 2000])
    ap.add_argument("--n-val", type=int, default=1000)
    ap.add_argument("--k", type=int, nargs="+", default=[5, 15, 30])
    ap.add_argument("--p", type=float, nargs="+", default=[0.3, 0.5])
    ap.add_argument("--headline", type=float, nargs=2, default=[15, 0.3], metavar=("K", "P"))
    ap.add_argument("--landmarks", type=int, default=100)
    ap.add_argument("--dominant", type=float, default=0.5, help="H1 lifetime that makes a bar dominant")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="2 seeds, checkpoints 0 100: a smoke run")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "topolens-bench" / "study_filters.json")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    args.headline = [int(args.headline[0]), float(args.headline[1])]
    if args.quick:
        args.seeds, args.checkpoints = 2, [0, 100]
    args.checkpoints = sorted(set(args.checkpoints))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    with tqdm(total=len(args.datasets) * args.seeds, desc="trainings", disable=args.no_progress) as bar:
        for name in args.datasets:
            weights, accs = train_seeds(name, args, bar)
            results[name] = {"accuracy": {str(c): v for c, v in accs.items()},
                             "checkpoints": {str(c): analyse(weights[c], args) for c in args.checkpoints}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1))
    print(versions(("numpy", "torch", "gudhi")))
    print(f"total {time.perf_counter() - t0:.0f} s; raw results in {args.out}\n")
    print(tables(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
