"""``topolens`` command: demo, analyze, persistence, layers, info, mapper, filters, zoo.

Every subcommand has ``--help``. Errors from bad input are printed as one ``error:`` line
(exit code 2; argparse's own errors too), as are operating-system errors such as a full disk
(exit code 1); unexpected errors keep their traceback. Loaders of models, transforms and data
live in :mod:`topolens.cli._loaders`, output folders in :mod:`topolens.cli._output`.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..exceptions import InvalidInputError, LayerNotFoundError, TopolensError
from ._args import add_model_args, at_least
from ._loaders import (
    DATASETS,
    _where,
    build_transform,
    load_array,
    load_data,
    load_model,
    model_provenance,
    parse_model_kwargs,
    protected_inputs,
    refuse_recording_options,
)
from ._output import OutputFolder, check_output_file

__all__ = ["build_parser", "load_data", "load_model", "main"]

logger = logging.getLogger("topolens")


# ----------------------------------------------------------------------------- helpers
def _threshold(text: str) -> Any:
    """'auto', 'none', a number, or 'q0.2' (a quantile of the dissimilarities)."""
    t = text.strip().lower()
    if t == "auto":
        return "auto"
    if t in ("none", "full"):
        return None
    try:
        if t.startswith("q"):
            return ("quantile", float(t[1:]))
        return float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"threshold must be 'auto', 'none', a number or 'q<quantile>' such as q0.2; found {text!r}"
        ) from None


def _add_persistence_args(p: argparse.ArgumentParser, *, n_inputs: int | None, n_neurons: int | None) -> None:
    g = p.add_argument_group("activation persistence")
    g.add_argument("--n-inputs", type=at_least(1), default=n_inputs,
                   help="inputs sampled per resample (>= 1; default: %(default)s)")
    g.add_argument("--n-neurons", type=at_least(1), default=n_neurons,
                   help="neurons sampled per resample (>= 1; default: %(default)s)")
    g.add_argument("--resamples", type=at_least(1), default=5, help="number of resamples (default: %(default)s)")
    g.add_argument("--max-dim", type=at_least(0), default=1, help="largest homology dimension (default: %(default)s)")
    g.add_argument("--threshold", type=_threshold, default=None,
                   help="'none' (default: exact and complete), 'auto', or a value")
    g.add_argument("--neuron-sampling", choices=("uniform", "max_activation"), default="uniform")
    g.add_argument("--seed", type=at_least(0), default=0)


def _persistence_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    thr = args.threshold
    if isinstance(thr, tuple):
        raise InvalidInputError(
            "quantile thresholds are available in 'topolens persistence'; use --threshold none, "
            "auto or a value here."
        )
    return dict(n_inputs=args.n_inputs, n_neurons=args.n_neurons, n_resamples=args.resamples,
                max_dim=args.max_dim, threshold=thr, neuron_sampling=args.neuron_sampling, seed=args.seed)


# ---------------------------------------------------------------------------- commands
def cmd_demo(args: argparse.Namespace) -> int:
    from ..pipeline import run_demo

    with OutputFolder(args.out, command="demo"):
        res = run_demo(args.out, epochs=args.epochs, n_inputs=args.n_inputs, n_neurons=args.n_neurons,
                       n_resamples=args.resamples, seed=args.seed, progress=not args.quiet)
    print(f"test accuracy {res.info['test accuracy']:.3f}; report written to {res.report_path.resolve()}")
    return 0


def _select_layers(acts: Any, patterns: list[str] | None) -> Any:
    """The recorded layers matching ``--layers`` (all when not given)."""
    if not patterns:
        return acts
    import fnmatch

    from ..activations import Activations

    chosen = [k for k in acts if any(fnmatch.fnmatchcase(k, p) for p in patterns)]
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(k, p) for k in acts)]
    if unmatched:
        raise LayerNotFoundError(f"--layers {unmatched} match no recorded layer; available: {', '.join(acts)}")
    return Activations({k: acts[k] for k in chosen}, labels=acts.labels,
                       shapes={k: acts.shapes[k] for k in chosen})


def _analyze_saved(args: argparse.Namespace, kw: dict[str, Any]) -> Any:
    """``analyze --activations DIR``."""
    from ..activations import Activations
    from ..pipeline import analyze_activations

    if args.graphs:
        raise InvalidInputError("--graphs needs the model itself (--model with --data), not --activations: "
                                "neural persistence and induced graphs are computed from its weights.")
    refuse_recording_options(args, "analysed")
    saved = Activations.load(args.activations)
    predictions = getattr(saved, "predictions", None)
    acts = _select_layers(saved, args.layers)
    prov = {"activations": str(Path(args.activations).resolve())}
    if args.expected_accuracy is not None:
        prov["expected accuracy"] = args.expected_accuracy
    return analyze_activations(acts, out=args.out, provenance=prov, predictions=predictions,
                               progress=not args.quiet,
                               extra_sections=_mapper_sections(args, acts, None, predictions, prov), **kw)


def _analyze_model(args: argparse.Namespace, kw: dict[str, Any]) -> Any:
    """``analyze --model ... --data ...``: record, then analyse."""
    from ..pipeline import analyze_activations, record_for_analysis

    if not args.model:
        raise InvalidInputError("give --model module:name (with --data) or --activations DIR.")
    transform, desc = build_transform(args.normalize, args.transform)
    model = load_model(args.model, args.weights, parse_model_kwargs(args.model_kwargs))
    prov = model_provenance(args, desc)
    x, y = load_data(args.data, args.split, args.data_root, args.max_inputs)
    data = x if y is None else (x, y)
    graphs = _graph_sections(args, model, x, y, transform)
    filters = None
    if not args.no_filters:
        from .filters import analyze_filter_section

        filters = analyze_filter_section(model, seed=args.seed, progress=not args.quiet)
    acts, info = record_for_analysis(model, data, layers=args.layers, reduce=args.reduce,
                                     store=args.store, transform=transform, progress=not args.quiet)
    mapper = None
    if args.mapper:
        images = x.numpy() if hasattr(x, "numpy") and x.ndim in (3, 4) else None
        mapper = _mapper_sections(args, acts, images, acts.predictions, provenance=prov)
    return analyze_activations(acts, out=args.out, info=info, provenance=prov, progress=not args.quiet,
                               extra_sections=_chain(mapper, graphs, filters), **kw)


def cmd_analyze(args: argparse.Namespace) -> int:
    kw = _persistence_kwargs(args)
    with OutputFolder(args.out, command="analyze", protect=protected_inputs(args)):
        res = _analyze_saved(args, kw) if args.activations else _analyze_model(args, kw)
    print(f"report written to {res.report_path.resolve()}")
    return 0


def _chain(*callbacks: Any) -> Any:
    """One report callback calling the given ones (None entries skipped) in order."""
    live = [c for c in callbacks if c is not None]
    if not live:
        return None

    def run(rep: Any) -> None:
        for c in live:
            c(rep)

    return run


def _graph_sections(args: argparse.Namespace, model: Any, x: Any, y: Any, transform: Any = None) -> Any:
    """The report callback adding the weight/induced graph section for ``--graphs N`` (or None).

    The graphs are induced by the inputs the model sees: ``transform`` (from ``--normalize``
    / ``--transform``) is applied to them first.
    """
    if not args.graphs:
        return None
    from ..pipeline import weight_graph_analysis

    if transform is not None:
        import torch

        with torch.no_grad():
            x = transform(x[: max(args.graphs, 1)])
        if not isinstance(x, torch.Tensor):
            raise InvalidInputError(f"the input transform returned a {type(x).__name__}, not a tensor.")

    run = weight_graph_analysis(model, x, y, n_examples=args.graphs,
                                eps=args.graphs_eps if y is not None else None)
    return run.add_to


def _mapper_sections(args: argparse.Namespace, acts: Any, images: Any, predictions: Any = None,
                     provenance: dict[str, Any] | None = None) -> Any:
    """The report callback adding a Mapper section for ``--mapper LAYER ...`` (or None)."""
    if not args.mapper:
        return None
    missing = [name for name in args.mapper if name not in acts]
    if missing:
        raise LayerNotFoundError(
            f"--mapper {missing} are not among the recorded layers ({', '.join(acts)}); record "
            "them with --layers too."
        )
    from ..pipeline import mapper_analysis

    run = mapper_analysis({k: acts[k] for k in args.mapper}, labels=acts.labels, images=images,
                          predictions=predictions, out=args.out, progress=not args.quiet,
                          title=f"Mapper of {', '.join(args.mapper)}", provenance=provenance)

    def add(rep: Any) -> None:
        from ..report import add_mapper_section
        from ..viz.mapper_html import render_explorer

        add_mapper_section(rep, run, explorer_html=render_explorer(run.payload))

    return add


def cmd_persistence(args: argparse.Namespace) -> int:

    from ..dissimilarity import pairwise_dissimilarity
    from ..homology import rips_persistence

    target = None
    if args.out:  # checked before the computation; a folder means a file inside it
        target = check_output_file(args.out, default_name=f"{Path(args.input).stem}.npz", suffix=".npz")
    x = load_array(args.input)
    if args.points == "distance":
        d = x
    else:
        d = pairwise_dissimilarity(x, args.metric, points=args.points)
    kw: dict[str, Any] = {}
    if isinstance(args.threshold, tuple):
        kw["threshold_quantile"] = args.threshold[1]
    else:
        kw["threshold"] = args.threshold
    dg = rips_persistence(d, args.max_dim, backend=args.backend, **kw,
                          metadata={"source": str(args.input), "dissimilarity": args.metric if args.points != "distance" else "precomputed"})
    print(dg.describe())
    if target is not None:
        try:
            print(f"diagrams written to {dg.save(target)}")
        except OSError as exc:
            raise InvalidInputError(f"could not write {target}: {exc.strerror or exc}") from exc
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    from ..activations import list_layers

    if not args.model:
        raise InvalidInputError("give --model module:name, the model whose layers to list.")
    model = load_model(args.model, args.weights, parse_model_kwargs(args.model_kwargs))
    for name, kind in list_layers(model):
        print(f"{name}\t{kind}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import platform

    import torch

    print(f"topolens {__version__} (python {platform.python_version()}, torch {torch.__version__})")
    print(f"device: {'cuda (' + torch.cuda.get_device_name(0) + ')' if torch.cuda.is_available() else 'cpu'}")
    for mod, what in (("gudhi", "default backend"), ("ripser", "backend 'ripser'"),
                      ("gph", "backend 'giotto' (AGPL)"), ("matplotlib", "figures and reports")):
        ok = importlib.util.find_spec(mod) is not None
        print(f"  {mod:<11} {'yes' if ok else 'no ':<4} {what}")
    return 0


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="topolens", description="Topological analysis of deep neural networks in PyTorch.")
    parser.add_argument("--version", action="version", version=f"topolens {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="more log output (-vv: debug)")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", default=False, help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", parents=[common], help="train a small CNN on bundled MNIST and write the report",
                       description="Train a small CNN on the bundled MNIST sample (CPU, about a minute), "
                       "compute the persistent homology of its neurons' activations and write a "
                       "self-contained HTML report.")
    p.add_argument("--out", default="topolens-report", help="output folder (default: %(default)s)")
    p.add_argument("--epochs", type=at_least(1), default=5)
    p.add_argument("--n-inputs", type=at_least(1), default=1000, help="training inputs used for topology")
    p.add_argument("--n-neurons", type=at_least(1), default=400, help="neurons sampled per layer and resample")
    p.add_argument("--resamples", type=at_least(1), default=5)
    p.add_argument("--seed", type=at_least(0), default=0)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("analyze", parents=[common], help="activation topology of your model, as an HTML report",
                       description="Record a model's activations on a data set (or load recorded ones) "
                       "and write the activation-topology report. Weights are loaded with "
                       "torch.load(weights_only=True).")
    src = p.add_argument_group("what to analyse")
    add_model_args(src)
    src.add_argument("--data", default="mnist-sample",
                     help=f"one of {', '.join(DATASETS)} or a .npy/.npz file of inputs (default: %(default)s)")
    src.add_argument("--split", choices=("train", "test"), default="train")
    src.add_argument("--data-root", help="data folder (default: $TOPOLENS_DATA)")
    src.add_argument("--max-inputs", type=at_least(1), default=2000,
                     help="inputs to record (>= 1; default: %(default)s)")
    src.add_argument("--activations", help="folder of activations saved by Activations.save, instead of --model")
    src.add_argument("--layers", nargs="+", help="layer names or glob patterns (default: all leaf layers)")
    src.add_argument("--store", help="stream activations to memory-mapped files in this folder "
                     "(for layers too large for RAM; reusable with --activations)")
    src.add_argument("--reduce", choices=("flatten", "mean", "max"), default="flatten",
                     help="conv outputs: one neuron per (channel, position) or pooled per channel")
    p.add_argument("--mapper", nargs="+", metavar="LAYER",
                   help="also add a Mapper section (and mapper.html) for these recorded layers")
    p.add_argument("--graphs", type=at_least(0), default=0, metavar="N",
                   help="also add a weight/induced graph section: neural persistence and the induced "
                        "graphs of the first N inputs (needs --model; default: off)")
    p.add_argument("--graphs-eps", type=float, default=0.1, metavar="EPS",
                   help="FGSM radius of the adversarial example in that section (default: %(default)s)")
    p.add_argument("--no-filters", action="store_true",
                   help="leave out the section on the topology of the first conv layer's filters (added for "
                        "models with a square Conv2d first layer; see topolens filters)")
    p.add_argument("--out", default="topolens-report", help="output folder (default: %(default)s)")
    _add_persistence_args(p, n_inputs=1000, n_neurons=500)
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("persistence", parents=[common], help="persistence diagrams of a saved matrix",
                       description="Persistent homology of a .npy matrix: activations (n_inputs, n_neurons) "
                       "with neurons or inputs as points, or a precomputed distance matrix.")
    p.add_argument("input", help=".npy file")
    p.add_argument("--points", choices=("neurons", "inputs", "distance"), default="neurons",
                   help="neurons (columns) or inputs (rows) as points, or 'distance' for a distance matrix")
    p.add_argument("--metric", choices=("abs_correlation", "correlation", "cosine", "euclidean"),
                   default="abs_correlation")
    p.add_argument("--max-dim", type=at_least(0), default=1)
    p.add_argument("--threshold", type=_threshold, default=None,
                   help="'none' (default: exact and complete), 'auto', a value, or q<quantile> e.g. q0.2")
    p.add_argument("--backend", choices=("auto", "gudhi", "ripser", "giotto"), default="auto")
    p.add_argument("--out", help="save the diagrams to this .npz file (a folder: FOLDER/<input>.npz)")
    p.set_defaults(func=cmd_persistence)

    p = sub.add_parser("layers", parents=[common], help="list a model's layers (names for --layers)",
                       description="List the modules of a model, as accepted by --layers.")
    add_model_args(p, transforms=False)
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("info", parents=[common], help="versions, backends and device", description="Show versions, "
                       "available persistence backends and the compute device.")
    p.set_defaults(func=cmd_info)

    from .filters import add_filters_parser
    from .mapper import add_mapper_parser
    from .zoo import add_zoo_parser

    add_mapper_parser(sub, common)
    add_filters_parser(sub, common)
    add_zoo_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``topolens`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # warnings go through logging as one line each (no source line echo)
    warnings.formatwarning = lambda message, category, *a, **k: f"{category.__name__}: {message}"
    logging.captureWarnings(True)
    try:
        return int(args.func(args) or 0)
    except TopolensError as exc:  # one line, even for a message that lists paths line by line
        print(f"topolens {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:  # the environment, not a bug: a full disk, a file removed meanwhile
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"topolens {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except SystemExit as exc:  # argparse is done: this is the user's model or transform
        print(f"topolens {args.command}: error: the model, the transform or code they call ran "
              f"sys.exit({exc.code!r}) during the run{_where(exc)}; the run stopped.",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130
