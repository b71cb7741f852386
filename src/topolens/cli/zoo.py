"""``topolens zoo``: train a model zoo, extract features, predict the gap, write a report.

::

    topolens zoo train GRID --out ZOO [--data ROOT] [--jobs N]
    topolens zoo import-pgdl ROOT --task task1_v4 --out ZOO [--models ID ...] [--no-verify]
    topolens zoo features ZOO [--n-inputs 2000 --n-neurons 3000 --resamples 20 ...]
    topolens zoo predict ZOO [feature options] [--json scores.json]
    topolens zoo report ZOO [feature options] [--out DIR]

``features``, ``predict`` and ``report`` share the feature options (defaults: the paper's
scale) and the per-model feature cache, so running them in sequence computes features once.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import Any

from ._args import at_least, n_jobs
from ._output import OutputFolder, check_folder, check_output_file

__all__ = ["add_zoo_parser"]


#: ``--option`` dest -> FeatureParams field; an option left out keeps the preset's value.
_PARAM_OPTIONS = {"n_inputs": "n_inputs", "n_neurons": "n_neurons", "resamples": "n_resamples",
                  "max_dim": "max_dim", "sampling": "neuron_sampling",
                  "layer_selection": "layer_selection", "constant": "constant", "summaries": "summaries",
                  "input_pool": "input_pool"}


def _feature_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("features (defaults: the --preset's values; topolens: Ballester et "
                             "al.'s scale on the nn.ReLU outputs)")
    g.add_argument("--preset", choices=("topolens", "ballester2024"), default="topolens",
                   help="parameter set (default: %(default)s); 'ballester2024': the paper's exact "
                   "features (every weighted layer, importance sampling, undefined correlation = 0, "
                   "the paper's summaries). Options given explicitly override the preset's values")
    g.add_argument("--n-inputs", type=at_least(1), help="fixed training inputs (topolens: 2000)")
    g.add_argument("--n-neurons", type=at_least(1), help="neurons per resample (topolens: 3000)")
    g.add_argument("--resamples", type=at_least(1), help="neuron resamples averaged (topolens: 20)")
    g.add_argument("--max-dim", type=at_least(0), help="largest homology dimension (topolens: 1)")
    g.add_argument("--layers", nargs="+", help="layer names (default: by --layer-selection)")
    g.add_argument("--layer-selection", choices=("relu", "weighted"),
                   help="neurons: every nn.ReLU, or every layer with weights (topolens: relu)")
    g.add_argument("--sampling", choices=("uniform", "max_activation", "importance"),
                   help="neuron sampling scheme (topolens: uniform)")
    g.add_argument("--constant", choices=("drop", "zero", "raise"),
                   help="constant neurons: dropped, or dissimilarity 1, or an error (topolens: drop)")
    g.add_argument("--summaries", choices=("topolens", "ballester2024"),
                   help="summary columns; ballester2024 adds the paper's squares (topolens: topolens)")
    g.add_argument("--input-pool", choices=("all", "trained"),
                   help="draw the probe inputs from the whole training split or from the images each "
                   "model trained on (topolens: all; ballester2024: trained)")
    g.add_argument("--seed", type=at_least(0), help="seed of the input sample and resamples (default: 0)")
    if p.prog.split()[-1] in ("predict", "report"):
        p.add_argument("--protocol", choices=("topolens", "ballester2024"),
                       help="predictors and CV splits (default: ballester2024 with --preset "
                       "ballester2024, else topolens); ballester2024: least squares on the paper's "
                       "sets, RepeatedKFold(2, --repeats, random_state=1); --cv-seed applies to topolens only")
    g.add_argument("--jobs", type=n_jobs, default=1, help="worker processes over models (-1: all cores)")
    g.add_argument("--data", help="data root (default: $TOPOLENS_DATA)")
    g.add_argument("--no-cache", action="store_true", help="recompute cached features")


def _params(args: argparse.Namespace) -> Any:
    from ..generalization import FeatureParams

    over: dict[str, Any] = {f: getattr(args, o) for o, f in _PARAM_OPTIONS.items()
                            if getattr(args, o, None) is not None}
    if args.layers:
        over["layers"] = tuple(args.layers)
    if args.seed is not None:
        over["data_seed"] = over["seed"] = args.seed
    return FeatureParams.preset(args.preset, **over)


def _protocol(args: argparse.Namespace) -> str:
    """``--protocol``, else the one matching ``--preset``."""
    given = getattr(args, "protocol", None)
    return given or ("ballester2024" if args.preset == "ballester2024" else "topolens")


def _table(args: argparse.Namespace) -> Any:
    from ..generalization import zoo_features
    from ..zoo import Zoo

    zoo = Zoo.load(args.zoo)
    return zoo_features(zoo, _params(args), n_jobs=args.jobs, root=args.data,
                        cache=not args.no_cache, progress=not args.quiet)


def _csv(table: Any) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    names = table.topological_names + table.baseline_names
    hp = list(table.hyperparameters)
    w.writerow(["model_id", "gap", *hp, *names])
    for i, mid in enumerate(table.model_ids):
        w.writerow([mid, repr(float(table.gaps[i])), *(table.hyperparameters[h][i] for h in hp),
                    *(repr(float(v)) for v in table.topological[i]),
                    *(repr(float(v)) for v in table.baselines[i])])
    return buf.getvalue()


def cmd_train(args: argparse.Namespace) -> int:
    from ..zoo import load_grid, train_zoo

    grid = load_grid(args.grid)  # a bad grid fails before the folder is touched
    check_folder(Path(args.out), "--out")  # and a bad folder before any training
    zoo = train_zoo(grid, args.out, n_jobs=args.jobs, root=args.data, progress=not args.quiet)
    g = zoo.gaps()
    print(f"{len(zoo)} models in {Path(args.out).resolve()}; gap min {g.min():.4f}, "
          f"mean {g.mean():.4f}, max {g.max():.4f}")
    return 0


def cmd_import_pgdl(args: argparse.Namespace) -> int:
    from ..zoo import import_pgdl

    # --out is checked (not a file, not inside ROOT, writable) by import_pgdl before it writes
    zoo = import_pgdl(args.root, args.task, args.out, models=args.models, progress=not args.quiet,
                      verify=not args.no_verify)
    done = getattr(zoo, "last_import", {})
    g = zoo.gaps()
    print(f"{len(zoo)} models of PGDL {args.task} in {Path(args.out).resolve()} "
          f"({done.get('imported', 0)} imported, {done.get('skipped', 0)} already there); "
          f"gap min {g.min():.4f}, mean {g.mean():.4f}, max {g.max():.4f}")
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from .._io import atomic_write_text

    table = _table(args)
    out = Path(args.zoo) / "features" / table.params.key / "features.csv"
    atomic_write_text(out, _csv(table))
    print(f"{len(table)} models x {table.topological.shape[1]} topological + "
          f"{table.baselines.shape[1]} baseline features; table written to {out.resolve()}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .._io import atomic_write_text
    from ..generalization import predict_gap

    target = check_output_file(args.json, flag="--json", default_name="scores.json") if args.json else None
    result = predict_gap(_table(args), protocol=_protocol(args), n_repeats=args.repeats,
                         seed=args.cv_seed)
    print(result.to_markdown())
    if target is not None:
        atomic_write_text(target, json.dumps({"protocol": result.protocol, "predictors": result.rows(),
                                                 "per_feature": result.per_feature}, indent=1))
        print(f"scores written to {target.resolve()}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    with OutputFolder(args.out, command="zoo report", protect=[args.zoo]):
        path = _write_zoo_report(args)
    print(f"report written to {path.resolve()}")
    return 0


def _write_zoo_report(args: argparse.Namespace) -> Path:
    from ..generalization import predict_gap
    from ..report import KeyValue, Report, add_gap_prediction_section
    from ..zoo import Zoo

    table = _table(args)
    result = predict_gap(table, protocol=_protocol(args), n_repeats=args.repeats, seed=args.cv_seed)
    zoo = Zoo.load(args.zoo)
    rep = Report(f"Model zoo: {zoo.name}", subtitle="Generalization-gap prediction from "
                 "activation topology (Ballester et al., 2024)")
    rep.add_section("Zoo", [KeyValue({"folder": str(Path(args.zoo).resolve()), "models": len(zoo),
                                      "dataset": zoo.dataset,
                                      "varying hyperparameters": ", ".join(table.hyperparameters)},
                                     caption="Zoo")])
    add_gap_prediction_section(rep, result, table)
    return rep.write(Path(args.out) / "zoo-report.html")


def add_zoo_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``topolens zoo ...`` on the top-level subparsers."""
    z = sub.add_parser("zoo", parents=[common], help="model zoos: train, features, gap prediction, report",
                       description="Generalization-gap prediction over a population of models "
                       "(Ballester et al. 2024). See 'topolens zoo COMMAND --help'.")
    zsub = z.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND", required=True)

    p = zsub.add_parser("train", parents=[common], help="train every model of a grid (resumable)",
                        description="Train the models of a YAML/JSON grid (schema: topolens.zoo.grid) "
                        "into a zoo folder. Finished models are skipped, so rerunning resumes.")
    p.add_argument("grid", help="grid file (.yaml/.yml or .json)")
    p.add_argument("--out", required=True, help="zoo folder")
    p.add_argument("--data", help="data root (default: $TOPOLENS_DATA)")
    p.add_argument("--jobs", type=n_jobs, default=1, help="worker processes (-1: all cores)")
    p.set_defaults(func=cmd_train)

    p = zsub.add_parser("import-pgdl", parents=[common], help="convert a PGDL task into a zoo (resumable)",
                        description="Import the models (final and initial weights), hyperparameters, "
                        "accuracies and data of a PGDL task (public-data or starting-kit layout) into a "
                        "zoo folder, so that 'zoo features / predict / report' run on it. Models already "
                        "imported are skipped; ROOT is only read.")
    p.add_argument("root", help="PGDL folder (holding input_data/ and reference_data/, or the task folders)")
    p.add_argument("--task", required=True, help="task name, e.g. task1_v4")
    p.add_argument("--out", required=True, help="zoo folder")
    p.add_argument("--models", nargs="+", help="model ids to import (default: all), e.g. 6 model_7")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the TFRecord CRC checks and the up-front build of every model")
    p.set_defaults(func=cmd_import_pgdl)

    for name, func, help_ in (
        ("features", cmd_features, "compute (or reuse cached) per-model features; write features.csv"),
        ("predict", cmd_predict, "score gap predictors: R^2 (5x2 CV), Kendall tau, CMI, 5x2cv t-tests"),
        ("report", cmd_report, "HTML report: predicted vs true gap, per-feature correlations"),
    ):
        p = zsub.add_parser(name, parents=[common], help=help_, description=help_ + ".")
        p.add_argument("zoo", help="zoo folder made by 'topolens zoo train' or 'zoo import-pgdl'")
        _feature_args(p)
        if name != "features":
            p.add_argument("--repeats", type=at_least(1), default=5, help="repeats of 2-fold CV (default: 5)")
            p.add_argument("--cv-seed", type=int, default=0, help="seed of the CV splits")
        if name == "predict":
            p.add_argument("--json", help="also write the scores to this JSON file")
        if name == "report":
            p.add_argument("--out", default="topolens-zoo-report", help="output folder")
        p.set_defaults(func=func)
