"""Generalization-gap study: train a zoo, extract features, score predictors (issue 3).

Trains a zoo of MLPs on Fashion-MNIST (or MNIST) from a PGDL-style grid, computes
Ballester et al.'s topological features and the PGDL baselines per model, and prints the
table of predictors (R^2 under 5x2-fold CV, Kendall's tau, CMI, 5x2cv p-values against
the topological predictor). Everything is cached in the zoo folder, so a second run only
prints (and a killed run resumes).

    TOPOLENS_DATA=../shared/data .venv/bin/python benchmarks/study_generalization.py
    .venv/bin/python benchmarks/study_generalization.py --quick      # 8 models, bundled MNIST sample

Nothing is tuned on test folds: the predictors, their estimators and the feature
parameters are fixed below before looking at any score.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from topolens.generalization import FeatureParams, predict_gap, zoo_features
from topolens.zoo import load_grid, train_zoo

GRID = {
    "name": "fashion-mlp-study",
    "dataset": "fashion_mnist",
    "sampling": "random",
    "n_models": 64,
    "seed": 0,
    "hyperparameters": {
        "architecture": "mlp",
        "depth": [1, 2, 3],
        "width": [128, 512],
        "dropout": [0.0, 0.3],
        "weight_decay": [0.0, 0.0005],
        "learning_rate": [0.01, 0.05],
        "batch_size": [32, 128],
        "epochs": 60,
        "stop_train_accuracy": 0.99,
        "train_size": [500, 2000, 8000],
        "label_noise": [0.0, 0.2],
        "seed": [0, 1],
    },
}

FEATURES = FeatureParams(n_inputs=2000, n_neurons=1000, n_resamples=5, max_dim=1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "topolens-study" / "zoo"),
                    help="zoo folder (default: %(default)s)")
    ap.add_argument("--n-models", type=int, default=GRID["n_models"])
    ap.add_argument("--dataset", default=GRID["dataset"], choices=("fashion_mnist", "mnist", "mnist_sample"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="8 models on the bundled MNIST sample")
    ap.add_argument("--markdown", help="also write the tables to this file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    grid = dict(GRID, n_models=args.n_models, dataset=args.dataset)
    params = FEATURES
    if args.quick:
        grid = dict(grid, n_models=8, dataset="mnist_sample", n_test=1000)
        grid["hyperparameters"] = dict(grid["hyperparameters"], train_size=[500, 1000], epochs=5,
                                       width=[32, 64])
        params = FeatureParams(n_inputs=300, n_neurons=100, n_resamples=2, max_dim=1, margin_inputs=500)
        args.out = args.out + "-quick"
    grid = load_grid(grid)

    t0 = time.perf_counter()
    zoo = train_zoo(grid, args.out, n_jobs=args.jobs)
    t_train = time.perf_counter() - t0
    t1 = time.perf_counter()
    table = zoo_features(zoo, params, n_jobs=args.jobs)
    t_feat = time.perf_counter() - t1
    t2 = time.perf_counter()
    result = predict_gap(table)
    t_pred = time.perf_counter() - t2

    gaps = zoo.gaps()
    train_seconds = zoo.metric("seconds")
    lines = [
        f"## Zoo: {len(zoo)} models, {grid.dataset}, {grid.sampling} sampling from "
        f"{int(np.prod([len(v) for v in grid.hyperparameters.values()]))} configs",
        "",
        f"gap (train - test accuracy): min {gaps.min():.4f}, median {np.median(gaps):.4f}, "
        f"max {gaps.max():.4f}, std {gaps.std():.4f}; test accuracy "
        f"{zoo.metric('test_accuracy').min():.3f} to {zoo.metric('test_accuracy').max():.3f}",
        f"varying hyperparameters: {', '.join(table.hyperparameters)}; "
        f"{int((zoo.metric('train_accuracy') >= 0.99).sum())} of {len(zoo)} models reached "
        f"training accuracy 0.99 (median epochs {np.median(zoo.metric('epochs_run')):.0f})",
        f"features: {json.dumps(params.to_dict())}",
        f"wall time this run: training {t_train:.0f} s (sum over models "
        f"{train_seconds.sum():.0f} s), features {t_feat:.0f} s, scoring {t_pred:.1f} s "
        f"(cached steps take ~0 s); {args.jobs} worker(s), {os.cpu_count()} CPU(s), "
        f"torch {torch.__version__}, Python {platform.python_version()}",
        "",
        result.to_markdown(),
        "",
        "Top features by |Kendall tau| with the gap:",
        "",
        "| feature | Kendall tau | CMI |",
        "|---|--:|--:|",
    ]
    for r in result.per_feature[:12]:
        cmi = "n/a" if r["cmi"] is None else f"{r['cmi']:.3f}"
        lines.append(f"| {r['feature']} | {r['kendall_tau']:.3f} | {cmi} |")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")


if __name__ == "__main__":
    main()
