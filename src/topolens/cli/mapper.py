"""``topolens mapper``: Mapper graphs of activations and the offline explorer.

::

    topolens mapper --activations acts.npy [--labels y.npy] [--images x.npy] --out DIR
    topolens mapper --activations DIR            # a folder written by Activations.save
    topolens mapper --model pkg.mod:make --weights w.pt --data mnist-sample --layers relu3 --out DIR
    topolens mapper ... --sweep --intervals 6 8 10 12 --overlap 0.2 0.3 0.4

Writes ``DIR/mapper.html`` (open it in any browser, offline) and, per layer,
``DIR/graphs/<layer>.json`` (node-link), ``.graphml`` and ``_nodes.csv``. ``--sweep`` prints
a stability table over the given settings instead (and writes ``DIR/sweep_<layer>.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._args import add_model_args, at_least
from ._loaders import (
    build_transform,
    load_array,
    load_data,
    load_model,
    model_provenance,
    parse_model_kwargs,
    protected_inputs,
    refuse_recording_options,
)
from ._output import OutputFolder

__all__ = ["add_mapper_parser", "cmd_mapper"]


def _lens(text: str) -> Any:
    t = text.strip()
    if t.lower().startswith("col"):
        try:
            return int(t[3:])
        except ValueError:
            raise argparse.ArgumentTypeError(f"column lens must look like col3; got {text!r}") from None
    return t


def add_mapper_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "mapper", parents=[common], help="Mapper graphs of activations and the offline explorer",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("activations (a saved array/folder, or a model and data)")
    src.add_argument("--activations", help=".npy array (n_inputs, n_neurons) or a folder saved by "
                     "Activations.save")
    src.add_argument("--labels", help=".npy of integer labels, one per input")
    src.add_argument("--images", help=".npy of input images (n, h, w) or (n, c, h, w) for the inspector")
    add_model_args(src, accuracy=False)
    src.add_argument("--data", default="mnist-sample", help="mnist-sample, mnist, fashion-mnist, "
                     "digits, or a .npy/.npz file of inputs (default: %(default)s)")
    src.add_argument("--split", choices=("train", "test"), default="train")
    src.add_argument("--data-root", help="data folder (default: $TOPOLENS_DATA)")
    src.add_argument("--max-inputs", type=at_least(1), default=2000,
                     help="inputs to record (>= 1; default: %(default)s)")
    src.add_argument("--layers", nargs="+", help="layer names or globs (default: the penultimate layer)")
    g = p.add_argument_group("Mapper")
    g.add_argument("--lens", type=_lens, default="l2norm",
                   help="l2norm (default), pca, pca2, mean, or colN for column N")
    g.add_argument("--cover", choices=("uniform", "gtda", "balanced"), default="uniform",
                   help="uniform intervals with KeplerMapper's convention, giotto-tda's, or "
                        "quantile intervals (default: %(default)s)")
    g.add_argument("--intervals", type=at_least(1), nargs="+", default=[10], help="intervals per lens "
                   "coordinate (several values with --sweep; default: 10)")
    g.add_argument("--overlap", type=float, nargs="+", default=[0.3],
                   help="overlap fraction (several with --sweep; default: 0.3)")
    g.add_argument("--eps", type=float, nargs="+", help="DBSCAN radius (default: from --eps-quantile)")
    g.add_argument("--eps-quantile", type=float, nargs="+",
                   help="quantile of the (min_samples-1)-NN distances giving eps (default: 0.7)")
    g.add_argument("--min-samples", type=at_least(1), default=5, help="DBSCAN min_samples (default: %(default)s)")
    g.add_argument("--noise", choices=("drop", "singletons", "together"), default="drop",
                   help="noise points: left out (KeplerMapper), single-input nodes, or one node per "
                        "cover set (giotto-tda)")
    g.add_argument("--seed", type=at_least(0), default=0)
    g.add_argument("--sweep", action="store_true", help="stability table over the given settings")
    p.add_argument("--out", default="topolens-mapper", help="output folder (default: %(default)s)")
    p.set_defaults(func=cmd_mapper)


def _single(values: list[Any] | None, flag: str) -> Any:
    from ..exceptions import InvalidInputError

    if values is None:
        return None
    if len(values) != 1:
        raise InvalidInputError(f"{flag} takes one value unless --sweep is given; got {values}.")
    return values[0]


def _saved_sources(args: argparse.Namespace) -> tuple[dict[str, Any], Any, Any, Any]:
    """(layers, labels, predictions, images) of ``--activations FILE.npy|DIR``."""
    from ..exceptions import InvalidInputError

    refuse_recording_options(args, "mapped")
    path = Path(args.activations)
    predictions = None
    if path.is_dir():
        from ..activations import Activations

        acts = Activations.load(path)
        layers = {k: acts[k] for k in acts}
        if args.layers:
            import fnmatch

            layers = {k: v for k, v in layers.items()
                      if any(fnmatch.fnmatchcase(k, pat) for pat in args.layers)}
            if not layers:
                raise InvalidInputError(f"--layers {args.layers} match no layer of {path}; "
                                        f"available: {', '.join(acts)}")
        labels, predictions = acts.labels, getattr(acts, "predictions", None)
    else:
        x = load_array(str(path))
        layers = {path.stem: x.reshape(len(x), -1) if x.ndim > 2 else x}
        labels = None
    if args.labels:
        labels = load_array(args.labels)
    images = load_array(args.images) if args.images else None
    return layers, labels, predictions, images


def _load_sources(args: argparse.Namespace) -> tuple[dict[str, Any], Any, Any, Any, dict[str, Any]]:
    """(layers, labels, predictions, images, provenance) from the command-line arguments."""
    import numpy as np

    from ..exceptions import InvalidInputError

    if args.activations:
        return (*_saved_sources(args), {"activations": str(Path(args.activations).resolve())})
    if not args.model:
        raise InvalidInputError("give --activations FILE.npy|DIR, or --model module:name with --data.")
    from ..activations import list_layers, record_activations

    transform, desc = build_transform(args.normalize, args.transform)
    provenance = model_provenance(args, desc)
    model = load_model(args.model, args.weights, parse_model_kwargs(args.model_kwargs))
    x, y = load_data(args.data, args.split, args.data_root, args.max_inputs)
    names = [n for n, _ in list_layers(model)]
    chosen = args.layers or ([names[-2]] if len(names) >= 2 else names)
    acts = record_activations(model, x if y is None else (x, y), chosen, transform=transform,
                              progress=not args.quiet)
    layers = {k: acts[k] for k in acts}
    predictions = acts.predictions if y is not None else None
    images = x.numpy() if hasattr(x, "numpy") and x.ndim in (3, 4) else None
    labels = None if y is None else np.asarray(y)
    return layers, labels, predictions, images, provenance


def cmd_mapper(args: argparse.Namespace) -> int:
    from ..exceptions import InvalidInputError

    out = Path(args.out)
    with OutputFolder(out, command="mapper", protect=protected_inputs(args)):
        layers, labels, predictions, images, provenance = _load_sources(args)
        if not layers:
            raise InvalidInputError("no activations to map; check --layers.")
        if args.sweep:
            _sweep(args, layers, out)
            return 0
        run = _map(args, layers, labels, predictions, images, out, provenance)
    for name, g in run.graphs.items():
        s = g.summary()
        print(f"{name}: {s['n_nodes']} nodes, {s['n_edges']} edges, {s['b0']} components, "
              f"{s['b1']} cycles, {s['coverage']:.1%} of inputs covered, eps {g.params.get('eps', float('nan')):.4g}")
    print(f"explorer written to {run.explorer_path.resolve()}")
    return 0


def _sweep(args: argparse.Namespace, layers: dict[str, Any], out: Path) -> None:
    """``--sweep``: a stability table per layer, printed and written to ``sweep_<layer>.md``."""
    from .._io import atomic_write_text
    from ..mapper import stability_sweep

    for name, x in layers.items():
        res = stability_sweep(x.reshape(len(x), -1), lens=args.lens, n_intervals=args.intervals,
                              overlap=args.overlap, eps=args.eps, eps_quantiles=args.eps_quantile,
                              min_samples=args.min_samples, cover=args.cover, noise=args.noise,
                              random_state=args.seed, progress=not args.quiet)
        md = res.to_markdown()
        print(f"## {name}\n\n{md}\n")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        print(f"written to {atomic_write_text(out / f'sweep_{safe}.md', md + chr(10))}")


def _map(args: argparse.Namespace, layers: dict[str, Any], labels: Any, predictions: Any,
         images: Any, out: Path, provenance: dict[str, Any]) -> Any:
    """The Mapper graphs, their files and the explorer."""
    from ..pipeline import mapper_analysis

    return mapper_analysis(
        {k: v.reshape(len(v), -1) for k, v in layers.items()}, labels=labels,
        predictions=predictions, images=images, out=out, lens=args.lens, cover=args.cover,
        n_intervals=_single(args.intervals, "--intervals"), overlap=_single(args.overlap, "--overlap"),
        eps=_single(args.eps, "--eps"), eps_quantile=_single(args.eps_quantile, "--eps-quantile"),
        min_samples=args.min_samples, noise=args.noise, seed=args.seed, progress=not args.quiet,
        title=f"Mapper of {', '.join(layers)}", provenance=provenance)
