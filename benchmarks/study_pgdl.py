"""Generalization-gap prediction in Ballester et al.'s own setting (issue 15, part 4).

Trains a PGDL-style zoo of VGG-like CNNs on Fashion-MNIST (every model on the same fixed
training subset, each trained to a common criterion with an epoch cap), computes the
paper's exact features (``FeatureParams.preset("ballester2024")``) and the PGDL baselines
per model, and scores the paper's predictors (``predict_gap(protocol="ballester2024")``:
least squares, ``RepeatedKFold(n_splits=2, n_repeats=5, random_state=1)``, Dietterich's
5x2cv t-test of ``paper_best`` against every row). Models that miss the training criterion
are reported apart and left out of the main table; a second table scores all models.
The protocol is written in benchmarks/README.md, section 21, before any run. Everything is
cached in the zoo folder: a killed run resumes, a second run only prints.

    TOPOLENS_DATA=../shared/data .venv/bin/python benchmarks/study_pgdl.py --jobs 2
    .venv/bin/python benchmarks/study_pgdl.py --quick                # smoke: 8 tiny models, bundled sample
    .venv/bin/python benchmarks/study_pgdl.py --pgdl ROOT --task task8 --jobs 2   # a real PGDL task
    make study-pgdl            # the full study;  make study-pgdl QUICK=1  the smoke version

``--pgdl ROOT --task T`` imports the PGDL task (public-data or starting-kit layout) into
the zoo folder with :func:`topolens.zoo.import_pgdl`, then runs the same features and
predictors (PGDL trained its own models to a criterion, so no model is flagged).

Outputs: the gap distribution, the training criterion's outcome, the time per model, the
score tables as Markdown (stdout, and ``--markdown FILE``), and ``study_pgdl.json`` in the
zoo folder with everything (command line, grid, feature parameters, versions, per-model
gaps and flags, timings, every table row). Nothing is tuned on test folds; the constants
below are fixed before any score is seen.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from topolens._io import atomic_write_text
from topolens.exceptions import TopolensError
from topolens.generalization import FeatureParams, FeatureTable, predict_gap, zoo_features
from topolens.zoo import Zoo, import_pgdl, load_grid, train_zoo

logger = logging.getLogger("study_pgdl")

# --- the zoo (issue 15 part 3); TRAIN_SIZE, EPOCH_CAP and LEARNING_RATE were fixed from the
# --- sizing runs of the vgg models (README section 21) before the single full run
#: the one fixed training subset every model trains on (a seeded subset of Fashion-MNIST's
#: 60,000 training images: the same indices for every model, as every config has seed SEED)
TRAIN_SIZE = 2000
#: epoch cap of the training criterion
EPOCH_CAP = 100
#: SGD learning rate (momentum 0.9), the same for every model
LEARNING_RATE = 0.05
#: the common training criterion (either one): training cross-entropy <= 0.01 or 100% accuracy
STOP_TRAIN_LOSS = 0.01
STOP_TRAIN_ACCURACY = 1.0
#: initialisation / batch order / training subset seed of every model
SEED = 0
#: test images used to measure the gap (None: all 10,000)
N_TEST = None

GRID: dict[str, Any] = {
    "name": "pgdl-fashion-vgg",
    "dataset": "fashion_mnist",
    "sampling": "grid",
    "seed": 0,
    "n_test": N_TEST,
    "hyperparameters": {
        "architecture": "vgg",
        "depth": [1, 2],
        "width": [16, 32],
        "dense_layers": [1, 2],
        "dense_width": 64,
        "dropout": [0.0, 0.5],
        "weight_decay": [0.0, 0.0005],
        "batch_size": [32, 256],
        "optimizer": "sgd",
        "momentum": 0.9,
        "learning_rate": LEARNING_RATE,
        "epochs": EPOCH_CAP,
        "stop_train_loss": STOP_TRAIN_LOSS,
        "stop_train_accuracy": STOP_TRAIN_ACCURACY,
        "train_size": TRAIN_SIZE,
        "seed": SEED,
    },
}

#: the paper's features: 2,000 training inputs, 3,000 neurons by importance over every layer
#: with weights, 20 resamples, 1 - |corr| (undefined -> 0), H0 and H1, the paper's summaries
FEATURES = FeatureParams.preset("ballester2024")

#: --quick: 8 tiny vgg models on the bundled MNIST sample, a smaller preset (smoke test only)
QUICK_GRID: dict[str, Any] = {
    "name": "pgdl-quick-vgg",
    "dataset": "mnist_sample",
    "sampling": "grid",
    "seed": 0,
    "n_test": 1000,
    "hyperparameters": dict(GRID["hyperparameters"], depth=[1, 2], width=[8, 16], dense_layers=1,
                            dense_width=32, dropout=[0.0, 0.5], weight_decay=0.0, batch_size=32,
                            learning_rate=0.05, epochs=40, train_size=300),
}
QUICK_FEATURES = dict(n_inputs=300, n_neurons=200, n_resamples=2, margin_inputs=300)

#: the flagged-miss rule needs at least this many models left to cross-validate
MIN_MODELS = 4


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="zoo folder (default: $TMPDIR/topolens-study-pgdl/<zoo>)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default: %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 8 tiny models on the bundled MNIST sample, a smaller preset")
    ap.add_argument("--pgdl", metavar="ROOT", help="a PGDL data folder: import --task from it instead "
                    "of training the zoo")
    ap.add_argument("--task", help="the PGDL task with --pgdl (e.g. task8)")
    ap.add_argument("--markdown", help="also write the printed tables to this file")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    ap.add_argument("--n-inputs", type=int, help="override the preset's inputs (e.g. a tiny PGDL "
                    "folder); the study itself never sets it")
    ap.add_argument("--n-neurons", type=int, help="override the preset's neurons per resample")
    ap.add_argument("--n-resamples", type=int, help="override the preset's resamples")
    args = ap.parse_args(argv)
    if (args.pgdl is None) != (args.task is None):
        ap.error("--pgdl ROOT and --task T go together")
    if args.pgdl is not None and args.quick and not args.out:
        ap.error("--quick --pgdl needs --out (a --quick run on a PGDL task is for tiny test folders)")
    if args.out is None:
        name = f"pgdl-{args.task}" if args.pgdl else ("zoo-quick" if args.quick else "zoo")
        args.out = str(Path(tempfile.gettempdir()) / "topolens-study-pgdl" / name)
    return args


def feature_params(args: argparse.Namespace) -> FeatureParams:
    over: dict[str, Any] = dict(QUICK_FEATURES) if args.quick else {}
    for field in ("n_inputs", "n_neurons", "n_resamples"):
        if getattr(args, field) is not None:
            over[field] = getattr(args, field)
    if "n_inputs" in over:
        over.setdefault("margin_inputs", over["n_inputs"])
    return FeatureParams.preset("ballester2024", **over)


def build_zoo(args: argparse.Namespace) -> tuple[Zoo, dict[str, Any]]:
    """Train (or import) the zoo; return it and what happened (wall time, models added)."""
    t0 = time.perf_counter()
    progress = not args.no_progress
    if args.pgdl is not None:
        zoo = import_pgdl(args.pgdl, args.task, args.out, progress=progress)
        info = {"kind": "pgdl", "root": str(args.pgdl), "task": args.task,
                **getattr(zoo, "last_import", {})}
    else:
        grid = load_grid(QUICK_GRID if args.quick else GRID)
        zoo = train_zoo(grid, args.out, n_jobs=args.jobs, progress=progress)
        info = {"kind": "grid", "grid": grid.to_dict(), "n_configs": grid.size}
    info["wall_seconds"] = time.perf_counter() - t0
    return zoo, info


def compute_features(zoo: Zoo, params: FeatureParams, args: argparse.Namespace) -> tuple[FeatureTable, dict]:
    """Features of every model (cached); the timing of this run and of the runs that computed them.

    Each cache file holds the seconds its model took (``FeatureTable.seconds``); this script
    also keeps its own record in ``ZOO/features/<key>/study_timing.json``: wall time x
    workers / models, per run that computed any (a rerun that reads the cache adds nothing).
    """
    folder = Path(zoo.path) / "features" / params.key
    todo = [r.model_id for r in zoo if not (folder / f"{r.model_id}.npz").exists()]
    t0 = time.perf_counter()
    table = zoo_features(zoo, params, n_jobs=args.jobs, progress=not args.no_progress)
    wall = time.perf_counter() - t0
    log_file = folder / "study_timing.json"
    runs = json.loads(log_file.read_text()) if log_file.exists() else []
    if todo:
        workers = max(1, min(args.jobs if args.jobs > 0 else (os.cpu_count() or 1), len(todo)))
        runs.append({"models": len(todo), "wall_seconds": wall, "workers": workers,
                     "seconds_per_model": wall * workers / len(todo)})
        atomic_write_text(log_file, json.dumps(runs, indent=1))
    measured = [] if table.seconds is None else [float(v) for v in table.seconds]
    return table, {"wall_seconds_this_run": wall, "computed_this_run": len(todo), "runs": runs,
                   "seconds_per_model_measured": measured}


def subset_table(table: FeatureTable, keep: np.ndarray) -> FeatureTable:
    """The rows ``keep`` (bool mask) of a feature table, hyperparameters that still vary."""
    hp = {k: [v for v, m in zip(vals, keep, strict=True) if m] for k, vals in table.hyperparameters.items()}
    hp = {k: v for k, v in hp.items() if len({repr(x) for x in v}) > 1}
    return FeatureTable(
        model_ids=[m for m, k in zip(table.model_ids, keep, strict=True) if k],
        topological_names=list(table.topological_names), topological=table.topological[keep],
        baseline_names=list(table.baseline_names), baselines=table.baselines[keep],
        gaps=table.gaps[keep], hyperparameters=hp, params=table.params,
        feature_sets=dict(table.feature_sets))


def describe(values: np.ndarray) -> dict[str, float]:
    return {"min": float(values.min()), "median": float(np.median(values)), "max": float(values.max()),
            "std": float(values.std()), "mean": float(values.mean())}


def zoo_summary(zoo: Zoo, met: np.ndarray) -> tuple[list[str], dict[str, Any]]:
    """Lines on the gap distribution, the criterion and the epochs; and the same as a dict."""
    gaps, test_acc = zoo.gaps(), zoo.metric("test_accuracy")
    g = describe(gaps)
    lines = [f"gap (train - test accuracy), all {len(zoo)} models: min {g['min']:.4f}, median "
             f"{g['median']:.4f}, max {g['max']:.4f}, std {g['std']:.4f}; test accuracy "
             f"{test_acc.min():.3f} to {test_acc.max():.3f}"]
    out: dict[str, Any] = {"gap_all": g, "test_accuracy": describe(test_acc),
                           "criterion_met": int(met.sum()), "criterion_missed": int((~met).sum())}
    if met.any() and not met.all():
        gm = describe(gaps[met])
        lines.append(f"gap, the {int(met.sum())} models that met the criterion: min {gm['min']:.4f}, "
                     f"median {gm['median']:.4f}, max {gm['max']:.4f}, std {gm['std']:.4f}")
        out["gap_met"] = gm
    records = list(zoo)
    if zoo.grid is not None:
        epochs = zoo.metric("epochs_run").astype(int)
        edges = np.unique(np.quantile(epochs, np.linspace(0, 1, 6)).round().astype(int))
        hist, _ = np.histogram(epochs, bins=edges if len(edges) > 1 else 1)
        pairs = list(itertools.pairwise(edges))  # np.histogram: [lo, hi) but the last bin [lo, hi]
        bins = [f"{lo}-{hi if k == len(pairs) - 1 else hi - 1}" for k, (lo, hi) in enumerate(pairs)
                ] or [str(epochs[0])]
        lines.append(f"training criterion (cross-entropy <= {STOP_TRAIN_LOSS} or accuracy >= "
                     f"{STOP_TRAIN_ACCURACY} on the training set, eval mode) met by {int(met.sum())} of "
                     f"{len(zoo)} models; epochs run: " + ", ".join(
                         f"{b}: {h}" for b, h in zip(bins, hist.tolist(), strict=True))
                     + f" (cap {records[0].config.epochs})")
        out["epochs_histogram"] = dict(zip(bins, hist.tolist(), strict=True))
        out["epochs_run"] = epochs.tolist()
        missed = [(r.model_id, r.gap, int(r.metrics["epochs_run"]), r.metrics["train_loss"],
                   r.metrics["train_accuracy"]) for r, m in zip(records, met, strict=True) if not m]
        out["flagged"] = [dict(zip(("model_id", "gap", "epochs_run", "train_loss", "train_accuracy"), x,
                                   strict=True)) for x in missed]
        if missed:
            lines.append(f"flagged (missed the criterion at the cap, left out of the main table): "
                         f"{len(missed)}; their gaps: " + ", ".join(f"{x[1]:.3f}" for x in missed))
    return lines, out


def timing_lines(zoo: Zoo, build: dict[str, Any], feat: dict[str, Any], t_pred: float,
                 jobs: int) -> tuple[list[str], dict[str, Any]]:
    out: dict[str, Any] = {"build": build, "features": feat, "scoring_seconds": t_pred}
    lines = []
    if zoo.grid is not None:
        sec = zoo.metric("seconds")
        out["train_seconds"] = describe(sec)
        out["train_seconds_per_model"] = sec.tolist()
        lines.append(f"training time per model (from the records, 1 torch thread): median {np.median(sec):.1f} s, "
                     f"min {sec.min():.1f} s, max {sec.max():.1f} s, sum {sec.sum():.0f} s")
    runs = feat["runs"]
    if runs:
        per = sum(r["seconds_per_model"] * r["models"] for r in runs) / sum(r["models"] for r in runs)
        out["feature_seconds_per_model"] = per
        lines.append(f"feature time per model (wall x workers / models, over the runs that computed "
                     f"them): {per:.1f} s")
    measured = np.array(feat.get("seconds_per_model_measured") or [], dtype=float)
    if measured.size and np.isfinite(measured).all():
        out["feature_seconds"] = describe(measured)
        lines.append(f"feature time per model (measured in each worker, {jobs} at a time): median "
                     f"{np.median(measured):.1f} s, min {measured.min():.1f} s, max {measured.max():.1f} s")
    lines.append(f"wall time this run: zoo {build['wall_seconds']:.0f} s, features "
                 f"{feat['wall_seconds_this_run']:.0f} s ({feat['computed_this_run']} computed), scoring "
                 f"{t_pred:.1f} s (cached steps take ~0 s); {jobs} worker(s), {os.cpu_count()} CPU(s), "
                 f"torch {torch.__version__}, Python {platform.python_version()}")
    return lines, out


def score(table: FeatureTable, title: str) -> tuple[list[str], dict[str, Any] | None]:
    """One scores table under the paper's protocol, or a line saying why it was not scored."""
    if len(table) < MIN_MODELS:
        return [f"### {title}", "", f"not scored: {len(table)} models (cross-validation needs at least "
                f"{MIN_MODELS})"], None
    result = predict_gap(table, protocol="ballester2024")
    feats = [f"| {r['feature']} | {r['kendall_tau']:.3f} | "
             f"{'n/a' if r['cmi'] is None else format(r['cmi'], '.3f')} |" for r in result.per_feature[:8]]
    lines = [f"### {title}", "", result.to_markdown(), "",
             "Strongest single features by |Kendall tau| with the gap:", "",
             "| feature | Kendall tau | CMI |", "|---|--:|--:|", *feats]
    return lines, {"n_models": len(table), "model_ids": list(table.model_ids),
                   "reference": result.reference, "protocol": result.protocol, "rows": result.rows(),
                   "per_feature": result.per_feature,
                   "predictions": {p.name: p.predictions.tolist() for p in result.predictors}}


#: the verdict rule of README section 21 (fixed before any run): at least this share of the zoo
#: must meet the training criterion, and the p-value threshold of the 5x2cv tests
MIN_MET_SHARE = 0.5
ALPHA = 0.05
BASELINE_ROWS = ("dist_init", "log_prod_spec", "log_sum_spec", "log_prod_fro", "log_sum_fro", "margin",
                 "baselines", "margin_ls")


def verdict(scores: dict[str, Any] | None, n_met: int, n_models: int) -> tuple[list[str], dict[str, Any]]:
    """README section 21's rule applied mechanically to the main table (no judgement involved)."""
    if scores is None or n_met < MIN_MET_SHARE * n_models:
        why = f"inconclusive: {n_met} of {n_models} models met the training criterion (the rule needs " \
              f"at least {MIN_MET_SHARE:.0%})"
        return [f"**Verdict (rule of README section 21):** {why}"], {"verdict": why}
    rows = {r["predictor"]: r for r in scores["rows"]}
    best = rows["paper_best"]
    p_mean = rows["mean_gap"]["p_vs_reference"]
    s1 = bool(best["r2_mean"] > 0 and best["kendall_tau"] > 0 and p_mean is not None and p_mean < ALPHA)
    s2 = bool(s1 and best["r2_mean"] >= rows["margin_ls"]["r2_mean"])
    others = [rows[b]["r2_mean"] for b in BASELINE_ROWS if b in rows]
    p_margin = rows["margin_ls"]["p_vs_reference"]
    s3 = bool(s1 and all(best["r2_mean"] > o for o in others) and p_margin is not None and p_margin < ALPHA)
    out = {"topology_predicts_the_gap": s1, "at_least_as_well_as_the_margin": s2,
           "beats_the_baselines": s3, "paper_best_r2": best["r2_mean"], "p_vs_mean_gap": p_mean,
           "p_vs_margin_ls": p_margin}
    lines = ["**Verdict (rule of README section 21, main table):**",
             f"1. topology predicts the gap (paper_best R^2 > 0, tau > 0, p < {ALPHA} vs mean_gap): "
             f"{'yes' if s1 else 'no'} (R^2 {best['r2_mean']:.3f}, tau {best['kendall_tau']:.3f}, p {p_mean:.3f})",
             f"2. at least as well as the margin (R^2 >= margin_ls's {rows['margin_ls']['r2_mean']:.3f}): "
             f"{'yes' if s2 else 'no'}",
             f"3. beats the baselines (R^2 above every baseline row, p < {ALPHA} vs margin_ls, p "
             f"{p_margin:.3f}): {'yes' if s3 else 'no'}"]
    return lines, out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = shlex.join([sys.executable, *(sys.argv if argv is None else ["study_pgdl.py", *argv])])
    logger.info("command: %s", command)
    torch.manual_seed(0)  # every random step below is seeded itself (configs, probe inputs, resamples)
    params = feature_params(args)
    zoo, build = build_zoo(args)
    table, feat = compute_features(zoo, params, args)
    met = (zoo.metric("criterion_met") > 0.5 if zoo.grid is not None
           else np.ones(len(zoo), dtype=bool))  # PGDL's own models: trained to its criterion
    head, summary = zoo_summary(zoo, met)
    t0 = time.perf_counter()
    title = (f"Scores: the {int(met.sum())} models that met the training criterion (main table)"
             if zoo.grid is not None else f"Scores: all {len(zoo)} models of the PGDL task (main table)")
    main_lines, main_scores = score(subset_table(table, met), title)
    all_lines, all_scores = (score(table, f"Scores: all {len(zoo)} models, flagged ones included "
                                   "(not the main table)") if not met.all() else ([], None))
    t_pred = time.perf_counter() - t0
    times, timing = timing_lines(zoo, build, feat, t_pred, args.jobs)
    lines = [f"## Zoo: {zoo.name}, {len(zoo)} models, {zoo.dataset}" + (" (--quick)" if args.quick else ""),
             "", *head, f"features: {json.dumps(params.to_dict())}", *times, "", *main_lines, ""]
    if all_lines:
        lines += [*all_lines, ""]
    verdict_lines, verdict_d = verdict(main_scores, int(met.sum()), len(zoo))
    lines += [*verdict_lines, ""]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    report = {"command": command, "quick": args.quick, "zoo": str(zoo.path), "zoo_name": zoo.name,
              "dataset": zoo.dataset, "features": params.to_dict(), "feature_key": params.key,
              "summary": summary, "timing": timing, "main": main_scores, "verdict": verdict_d, "all_models": all_scores,
              "models": [{"model_id": r.model_id, "gap": r.gap, "criterion_met": bool(m),
                          "metrics": r.metrics,
                          "config": None if r.config is None else r.config.to_dict(),
                          "hparams": r.hparams} for r, m in zip(zoo, met, strict=True)],
              "versions": {"python": platform.python_version(), "torch": torch.__version__,
                           "numpy": np.__version__, "cpus": os.cpu_count()}}
    out = Path(zoo.path) / "study_pgdl.json"
    atomic_write_text(out, json.dumps(report, indent=1, default=_json_default))
    logger.info("wrote %s", out)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (tuple, set)):
        return list(o)
    return str(o)


if __name__ == "__main__":
    try:
        main()
    except TopolensError as exc:  # missing data, a bad PGDL folder, memory: one clear line
        sys.exit(f"study_pgdl: {type(exc).__name__}: {exc}")
