"""Topological priors: circle and Klein first layers (Love et al., JMLR 2023; issue 14, benchmark 3).

Four variants of one small CNN (:class:`_filters_train.SmallNet`), the same in everything but the
first two layers:

* ``NOL``: ordinary learned ``nn.Conv2d`` first layer;
* ``CF``: :class:`topolens.nn.CircleConv2d`, fixed circle filters (buffers, never trained);
* ``KF``: :class:`topolens.nn.KleinConv2d`, fixed Klein-bottle filters;
* ``KF+KL``: ``KF`` followed by :class:`topolens.nn.KleinLocalConv2d` (the Love et al. Klein-local
  connectivity mask on the second layer, default ``tau``).

Paired design: for one seed every variant starts its shared layers (conv2 and fc) from the same
weights (the local conv2 gets the same initial weight, masked in ``forward``) and sees the same
batches. Measurements (README section 19 states the protocol):

1. batches to reach each validation-accuracy threshold (validation every ``--eval-every`` batches
   on a fixed held-out split of the training set); a run that never gets there is censored;
2. test accuracy after training on only ``--small-n`` training images;
3. test accuracy of the full-data models on shifted test images: inverted (``1 - x``) and with
   Gaussian noise (``--noise-sigma``, clipped to [0, 1]).

    TOPOLENS_DATA=/work/shared/data .venv/bin/python benchmarks/study_priors.py
    TOPOLENS_DATA=/work/shared/data .venv/bin/python benchmarks/study_priors.py --quick   # smoke run

Raw per-run results go to ``$TMPDIR/topolens-bench/study_priors.json``; the tables are printed.
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
from _filters_train import (
    SmallNet,
    accuracy,
    first_reach,
    fmt_median_iqr,
    load_dataset,
    split_validation,
    train,
)
from topolens.nn.priors import CircleConv2d, KleinConv2d, KleinLocalConv2d

logger = logging.getLogger("study_priors")
VARIANTS = ("NOL", "CF", "KF", "KF+KL")
THRESHOLDS = {"mnist": (0.95, 0.97, 0.98), "fashion": (0.80, 0.85, 0.88)}


def make_net(variant: str, seed: int, c1: int, c2: int) -> SmallNet:
    """The network of one variant; shared layers (conv2, fc) identical across variants for a seed."""
    torch.manual_seed(seed)
    conv2 = nn.Conv2d(c1, c2, 3, padding=1)
    fc_state = nn.Linear(c2 * 7 * 7, 10).state_dict()
    torch.manual_seed(seed + 10_000)  # conv1's own stream: NOL's weights, and the biases of CF / KF
    if variant == "NOL":
        conv1: nn.Module = nn.Conv2d(1, c1, 3, padding=1)
    elif variant == "CF":
        conv1 = CircleConv2d(1, c1, 3, padding=1)
    else:
        conv1 = KleinConv2d(1, c1, 3, padding=1)
    if variant == "KF+KL":
        local = KleinLocalConv2d.after(conv1, c2, 3, padding=1)
        with torch.no_grad():
            local.weight.copy_(conv2.weight)
            local.bias.copy_(conv2.bias)
        conv2 = local
    net = SmallNet(conv1, conv2, c2)
    net.fc.load_state_dict(fc_state)
    return net


def shifted(x: torch.Tensor, kind: str, sigma: float) -> torch.Tensor:
    if kind == "inverted":
        return 1.0 - x
    gen = torch.Generator().manual_seed(777)  # the same noise for every model
    return (x + sigma * torch.randn(x.shape, generator=gen)).clamp_(0.0, 1.0)


def run_dataset(name: str, args: argparse.Namespace, bar: tqdm) -> list[dict[str, Any]]:
    xtr, ytr, xte, yte = load_dataset(name)
    xtr, ytr, xva, yva = split_validation(xtr, ytr, args.n_val)
    xte, yte = xte[:args.n_test], yte[:args.n_test]
    shifts = {k: shifted(xte, k, args.noise_sigma) for k in ("inverted", "noise")}
    xs, ys = xtr[:args.small_n], ytr[:args.small_n]
    rows = []
    for seed in range(args.seeds):
        for variant in VARIANTS:
            t0 = time.perf_counter()
            net = make_net(variant, seed, args.c1, args.c2)
            n_trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
            out = train(net, xtr, ytr, n_batches=args.max_batches, batch=args.batch, lr=args.lr, seed=seed,
                        eval_every=args.eval_every, xval=xva, yval=yva)
            row = {"dataset": name, "variant": variant, "seed": seed, "curve": out["curve"],
                   "reach": {str(t): first_reach(out["curve"], t) for t in THRESHOLDS[name]},
                   "test_clean": accuracy(net, xte, yte),
                   **{f"test_{k}": accuracy(net, v, yte) for k, v in shifts.items()},
                   "n_trainable": n_trainable}
            small = make_net(variant, seed, args.c1, args.c2)
            train(small, xs, ys, n_batches=args.small_batches, batch=args.batch, lr=args.lr, seed=seed)
            row["test_small"] = accuracy(small, xte, yte)
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
            logger.info("%s %s seed %d: reach %s, test %.4f, small %.4f (%.0f s)", name, variant, seed,
                        row["reach"], row["test_clean"], row["test_small"], row["seconds"])
            bar.update(1)
    return rows


def _reach_cell(values: list[int | None], cap: int) -> str:
    v = sorted(np.inf if x is None else x for x in values)
    med = float(np.median(v))
    n_cens = sum(x is None for x in values)
    med_s = f"> {cap}" if not np.isfinite(med) else f"{med:.0f}"
    return f"{med_s} ({', '.join('>' + str(cap) if not np.isfinite(x) else str(int(x)) for x in v)})" + \
        (f", {n_cens} censored" if n_cens else "")


def _paired_reach(prior: list[int | None], base: list[int | None], cap: int) -> str:
    """Sign count earlier / tie / later than NOL per seed (censored = later than any cap), and the
    median paired difference over the seeds where both reached the threshold."""
    inf = cap + 10**9
    p = [inf if x is None else x for x in prior]
    b = [inf if x is None else x for x in base]
    earlier = sum(a < c for a, c in zip(p, b, strict=True))
    ties = sum(a == c for a, c in zip(p, b, strict=True))
    later = len(p) - earlier - ties
    both = [a - c for a, c in zip(p, b, strict=True) if a < inf and c < inf]
    med = f"{np.median(both):+.0f} (n={len(both)})" if both else "-"
    return f"{earlier}/{ties}/{later}; {med}"


def tables(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    out = []
    for name in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r for r in rows if r["dataset"] == name]

        def of(variant: str, rr: list[dict[str, Any]] = rs) -> list[dict[str, Any]]:
            return sorted((r for r in rr if r["variant"] == variant), key=lambda r: r["seed"])

        head = ["variant", "trainable params"] + [f"batches to {t}" for t in THRESHOLDS[name]]
        body = [[v, str(of(v)[0]["n_trainable"])] + [_reach_cell([r["reach"][str(t)] for r in of(v)], args.max_batches)
                                                    for t in THRESHOLDS[name]] for v in VARIANTS]
        out.append(f"**{name}: batches to reach validation accuracy** (median over seeds; per seed sorted)\n\n"
                   + table(head, body))
        head = ["variant"] + [f"vs NOL at {t}: earlier/tie/later; median diff" for t in THRESHOLDS[name]]
        base = of("NOL")
        body = [[v] + [_paired_reach([r["reach"][str(t)] for r in of(v)], [r["reach"][str(t)] for r in base],
                                     args.max_batches) for t in THRESHOLDS[name]] for v in VARIANTS[1:]]
        out.append(f"**{name}: paired comparison with NOL** (per seed)\n\n" + table(head, body))
        keys = [("test_clean", "test, full data"), ("test_small", f"test, {args.small_n} images"),
                ("test_inverted", "test, inverted"), ("test_noise", f"test, noise sigma {args.noise_sigma}")]
        head = ["variant"] + [lab for _, lab in keys]
        body = [[v] + [fmt_median_iqr([r[k] for r in of(v)]) for k, _ in keys] for v in VARIANTS]
        out.append(f"**{name}: test accuracy** (median [IQR] over seeds)\n\n" + table(head, body))
        body = []
        for v in VARIANTS[1:]:
            cells = []
            for k, _ in keys:
                d = [a[k] - b[k] for a, b in zip(of(v), base, strict=True)]
                cells.append(f"{fmt_median_iqr(d)} ({sum(x > 0 for x in d)}/{len(d)} > 0)")
            body.append([v, *cells])
        out.append(f"**{name}: paired test-accuracy difference vs NOL** (median [IQR], seeds with a gain)\n\n"
                   + table(head, body))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion"], choices=["mnist", "fashion"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--c1", type=int, default=16, help="first-layer channels")
    ap.add_argument("--c2", type=int, default=32, help="second-layer channels")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-batches", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--n-val", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--small-n", type=int, default=1000)
    ap.add_argument("--small-batches", type=int, default=300)
    ap.add_argument("--noise-sigma", type=float, default=0.3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="2 seeds, 200 batches: a smoke run")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "topolens-bench" / "study_priors.json")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.max_batches, args.small_batches, args.n_test = 2, 200, 50, 1000
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with tqdm(total=len(args.datasets) * args.seeds * len(VARIANTS), desc="runs", disable=args.no_progress) as bar:
        for name in args.datasets:
            rows += run_dataset(name, args, bar)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": rows}, indent=1))
    print(versions(("numpy", "torch")))
    print(f"total {time.perf_counter() - t0:.0f} s; raw results in {args.out}\n")
    print(tables(rows, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
