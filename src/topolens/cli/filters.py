"""``topolens filters``: the topology of a model's convolution filters, or of image patches.

::

    topolens filters --model pkg.mod:Net --weights net.pt [--layer conv1] --out DIR
    topolens filters --checkpoints seed0.pt seed1.pt seed2.pt [--layer conv1] --out DIR   # pooled
    topolens filters --images photos/ --size 3 --n-per-image 2000 --out DIR               # PNG / JPEG
    topolens filters --images images.npy --out DIR                                        # (n, h, w[, 3])

Filters (or the high-contrast patches of the images) are mean-centred, divided by their contrast
and taken to DCT coordinates; the density filtration X(k, p) keeps the densest ones, whose
persistence over Z/2 and Z/3 tells a circle, three circles or a Klein bottle apart (Carlsson et al.
2008; Carlsson & Gabrielsson 2018). Writes ``DIR/filters.html`` (the report section: diagrams, the
filters on the Klein bottle, the share near the primary circle, the Mapper explorer of the filters)
and ``DIR/filters.json`` (the numbers).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from ..exceptions import InvalidInputError
from ._args import _float, add_model_args, at_least
from ._loaders import load_array, load_model, parse_model_kwargs, protected_inputs
from ._output import OutputFolder

__all__ = ["IMAGE_SUFFIXES", "add_filters_parser", "cmd_filters", "read_image_folder_patches"]

logger = logging.getLogger(__name__)

#: the image files ``--images DIR`` reads (case-insensitive), through Pillow
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _fraction_open(text: str) -> float:
    """A number in (0, 1]."""
    value = _float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], found {value}")
    return value


def add_filters_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "filters", parents=[common], help="topology of convolution filters or image patches (circle, Klein bottle)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("what to analyse (one of --model, --checkpoints, --images)")
    add_model_args(src, transforms=False)
    src.add_argument("--checkpoints", nargs="+", metavar="FILE",
                     help="state dict files (e.g. several seeds or epochs of one model): their filters are pooled")
    src.add_argument("--layer", nargs="+", metavar="NAME",
                     help="conv layers to read (default: the first conv layer; several must share one kernel size)")
    src.add_argument("--images", metavar="DIR|FILE.npy",
                     help="a folder of PNG/JPEG images or a .npy of images (n, h, w) or (n, h, w, 3): their "
                          "high-contrast patches are the points")
    g = p.add_argument_group("patches (--images)")
    g.add_argument("--size", type=at_least(2), default=3, help="patch side (default: %(default)s)")
    g.add_argument("--n-per-image", type=at_least(1), default=1000,
                   help="patch positions sampled per image (default: %(default)s)")
    g.add_argument("--top", type=_fraction_open, default=0.2,
                   help="fraction of the patches kept, by contrast (default: %(default)s)")
    g.add_argument("--log", action="store_true", help="log intensities (Lee, Pedersen & Mumford)")
    g = p.add_argument_group("analysis")
    g.add_argument("--k", type=at_least(1), default=15, help="density filtration: k-th neighbour (default: %(default)s)")
    g.add_argument("--p", type=_fraction_open, default=0.3,
                   help="density filtration: fraction kept (default: %(default)s)")
    g.add_argument("--landmarks", type=at_least(2), default=200,
                   help="max-min landmarks for persistence (default: %(default)s)")
    g.add_argument("--max-dim", type=at_least(0), default=2, help="largest homology dimension (default: %(default)s)")
    g.add_argument("--no-mapper", action="store_true", help="leave out the Mapper graph and its explorer")
    g.add_argument("--seed", type=at_least(0), default=0)
    p.add_argument("--out", default="topolens-filters", help="output folder (default: %(default)s)")
    p.set_defaults(func=cmd_filters)


# ----------------------------------------------------------------------------- sources
def _check_sources(args: argparse.Namespace) -> str:
    given = [flag for flag, v in (("--model", args.model), ("--checkpoints", args.checkpoints),
                                  ("--images", args.images)) if v]
    if len(given) != 1:
        raise InvalidInputError(
            ("give one of --model (with --weights), --checkpoints or --images" if not given else
             f"give one source, not {' and '.join(given)}") + "; see topolens filters --help.")
    if args.weights and not args.model:
        raise InvalidInputError("--weights needs --model (the model to load them into); for state dicts "
                                "alone use --checkpoints FILE ...")
    if args.images and args.layer:
        raise InvalidInputError("--layer applies to models and checkpoints, not to --images.")
    return given[0]


def _checkpoint_states(paths: list[str]) -> tuple[list[Any], list[str], dict[str, Any]]:
    """The state dicts of ``--checkpoints``, their names and provenance."""
    from .._io import safe_torch_load, sha256_file

    states, names, prov = [], [], {}
    for i, path in enumerate(paths):
        state = safe_torch_load(path, what="--checkpoints file", corrupt_error=InvalidInputError)
        if not isinstance(state, dict):
            raise InvalidInputError(f"--checkpoints file {path} holds a {type(state).__name__}, not a state dict; "
                                    "save torch.save(model.state_dict(), path).")
        name = Path(path).name
        names.append(name if name not in names else f"{name} ({i})")
        states.append(state)
        prov[f"checkpoint {i}"] = f"{Path(path).resolve()} (sha256 {sha256_file(path)})"
    return states, names, prov


def _pillow() -> Any:
    from .._deps import require

    return require("PIL.Image", extra="viz", purpose="reading --images folders of PNG/JPEG files")


def _read_image(image_module: Any, path: Path) -> Any:
    """One image file as a numpy array (grey or RGB), with an error naming the file."""
    import numpy as np

    try:
        with image_module.open(path) as img:
            img.load()
            if img.mode not in ("L", "RGB", "I", "I;16", "F"):
                img = img.convert("RGB")
            return np.asarray(img)
    except (OSError, SyntaxError, ValueError, image_module.DecompressionBombError) as exc:
        raise InvalidInputError(f"--images: could not read {path} ({type(exc).__name__}: {exc}); the file is "
                                "truncated or not an image. Remove it or replace it.") from None


def read_image_folder_patches(folder: str | Path, *, size: int = 3, n_per_image: int | None = 1000,
                              log: bool = False, seed: int = 0, progress: bool = True) -> tuple[Any, int]:
    """The patches of every PNG/JPEG image of ``folder`` (sorted by name), one image in memory at a time.

    Returns ``(patches (n, size * size), number of images)``.
    """
    import numpy as np
    from tqdm.auto import tqdm

    from ..filters import image_patches

    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        others = sorted(p.name for p in folder.iterdir())[:5]
        raise InvalidInputError(f"--images {folder} holds no PNG or JPEG image (found: {others or 'nothing'}); "
                                "give a folder of .png/.jpg files or a .npy array of images.")
    if n_per_image is not None:  # the pooled patches (each image's own read is checked by image_patches)
        from ..homology.memory import check_memory

        check_memory(2 * 8 * len(files) * n_per_image * size * size, "auto",
                     what=f"up to {n_per_image} patches of each of {len(files)} images",
                     hint="Lower --n-per-image or use fewer images")
    pil = _pillow()
    parts = []
    for i, path in enumerate(tqdm(files, desc="images", unit="image", disable=not progress, leave=False)):
        arr = _read_image(pil, path)
        h, w = arr.shape[:2]
        if h < size or w < size:
            raise InvalidInputError(f"--images: {path} is {w}x{h} pixels, smaller than a {size}x{size} patch.")
        positions = (h - size + 1) * (w - size + 1)
        take = None if n_per_image is None or n_per_image >= positions else n_per_image
        parts.append(image_patches(arr, size, take, log=log, seed=seed + i))
    return np.concatenate(parts), len(files)


def _image_source(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from ..pipeline import contrast_filter_set

    path = Path(args.images)
    if path.is_dir():
        patches, n_images = read_image_folder_patches(path, size=args.size, n_per_image=args.n_per_image,
                                                      log=args.log, seed=args.seed, progress=not args.quiet)
    else:
        from ..filters import image_patches

        images = load_array(str(path))
        n_images = len(images) if images.ndim >= 3 else 1
        patches = image_patches(images, args.size, _per_image(images, args.size, args.n_per_image),
                                log=args.log, seed=args.seed)
    fs = contrast_filter_set(patches, top=args.top, size=args.size, name=path.name)
    prov = {"images": str(path.resolve()), "images read": n_images, "patches sampled": len(patches),
            "patches kept (top contrast)": f"{len(fs)} (top {args.top:g})", "log intensities": args.log}
    return fs, prov


def _per_image(images: Any, size: int, n_per_image: int) -> int | None:
    """``n_per_image``, or None (every position) when the images have no more positions than that."""
    shape = images.shape
    hw = shape[1:3] if images.ndim == 4 and shape[-1] in (1, 3, 4) else shape[-2:]
    positions = max(0, hw[0] - size + 1) * max(0, hw[1] - size + 1)
    return None if positions and n_per_image >= positions else n_per_image


def _source(args: argparse.Namespace, kind: str) -> tuple[Any, Any, dict[str, Any]]:
    """(source for filter_analysis, model names, provenance)."""
    if kind == "--images":
        fs, prov = _image_source(args)
        return fs, None, prov
    if kind == "--checkpoints":
        states, names, prov = _checkpoint_states(args.checkpoints)
        return states, names, prov
    from .._io import sha256_file

    model = load_model(args.model, args.weights, parse_model_kwargs(args.model_kwargs))
    prov = {"model": args.model}
    if args.weights:
        prov["weights"] = f"{Path(args.weights).resolve()} (sha256 {sha256_file(args.weights)})"
    else:
        prov["weights"] = "none given: the model's initial weights (pass --weights FILE)"
    return model, None, prov


def _default_layer(source: Any, kind: str) -> list[str] | None:
    """No ``--layer``: the first conv layer (of the first checkpoint), refused with the reason when its
    kernel does not fit."""
    if kind == "--images":
        return None
    name, why = first_conv_layer(source[0] if kind == "--checkpoints" else source)
    if name is None:
        where = "the first checkpoint" if kind == "--checkpoints" else "the model"
        raise InvalidInputError(f"no filters to analyse in {where}: {why}" + (
            "" if "no Conv2d" in why else " Name square conv layers with --layer."))
    return [name]


def cmd_filters(args: argparse.Namespace) -> int:
    from .._io import atomic_write_text
    from ..pipeline import filter_analysis
    from ..report import Report, add_filters_section

    kind = _check_sources(args)
    out = Path(args.out)
    with OutputFolder(out, command="filters", protect=[*protected_inputs(args), *(args.checkpoints or [])]):
        source, names, prov = _source(args, kind)
        layer = args.layer or _default_layer(source, kind)
        run = filter_analysis(source, layer=layer, k=args.k, p=args.p, n_landmarks=args.landmarks,
                              max_dim=args.max_dim, seed=args.seed, progress=not args.quiet, names=names,
                              mapper=not args.no_mapper, provenance=prov)
        rep = Report("topolens filters: the topology of " + run.kind,
                     subtitle="Carlsson & Gabrielsson: circles and the Klein bottle in filter space")
        add_filters_section(rep, run)
        html_path = rep.write(out / "filters.html")
        json_path = atomic_write_text(out / "filters.json", json.dumps(run.to_dict(), indent=1) + "\n")
    print(f"{len(run.filters)} {run.kind} ({run.filters.kernel_size}x{run.filters.kernel_size}), "
          f"{len(run.core)} in the density core; {run.circle_share:.1%} within cosine "
          f"{run.params['circle_cos']:g} of the primary circle")
    dominant = run.dominant_betti()
    for p, d in (run.diagrams or {}).items():
        b = dominant[p]
        names = ", ".join(f"b{k}" for k in range(len(b["betti"])))
        print(f"Z/{p}: dominant bars ({names}) = ({', '.join(map(str, b['betti']))}) at connection scale "
              f"{b['scale']:.3g}; {d.describe()}")
    for note in run.notes:
        print(f"note: {note}")
    print(f"report written to {Path(html_path).resolve()}; numbers in {Path(json_path).resolve()}")
    return 0


# ----------------------------------------------------------------------------- analyze
def first_conv_layer(model: Any) -> tuple[str | None, str]:
    """The name of the first conv layer of a model (its first ``Conv2d``) or of a state dict (its first
    4-D ``.weight``), when its kernel is square and larger than 1x1; else None with the reason."""
    from collections.abc import Mapping

    from torch import nn

    if isinstance(model, Mapping):
        from ..filters._extract import _unwrap_checkpoint

        convs = [(key[: -len(".weight")], tuple(v.shape[2:])) for key, v in _unwrap_checkpoint(model).items()
                 if isinstance(key, str) and key.endswith(".weight") and getattr(v, "ndim", 0) == 4]
    else:
        convs = [(name, tuple(m.kernel_size)) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        return None, "the model has no Conv2d layer, so there are no convolution filters to study."
    name, (kh, kw) = convs[0]
    if kh != kw or kh < 2:
        return None, (f"its first conv layer {name!r} has a {kh}x{kw} kernel; the filter analysis needs square "
                      "k x k kernels with k >= 2 (run topolens filters --layer NAME for another layer).")
    return name, ""


def analyze_filter_section(model: Any, *, seed: int = 0, progress: bool = True,
                           provenance: dict[str, Any] | None = None) -> Any:
    """The report callback of ``analyze``'s filter section (the model's first conv layer), computed now.

    A model without a square first conv layer gets a section holding only a note saying why.
    """
    from ..exceptions import TopolensError
    from ..pipeline import filter_analysis

    layer, why = first_conv_layer(model)
    if layer is None:
        logger.info("no filter section: %s", why)

        def note(rep: Any) -> None:
            from ..report import Callout

            rep.add_section("Topology of the convolution filters", [Callout(
                f"No filter analysis: {why}", title="Note", kind="note")])

        return note
    try:
        run = filter_analysis(model, layer=layer, seed=seed, progress=progress, provenance=provenance)
    except TopolensError as exc:
        raise type(exc)(f"the filter section (layer {layer!r}): {exc} Leave the section out with "
                        "--no-filters.") from exc

    def add(rep: Any) -> None:
        from ..report import add_filters_section

        add_filters_section(rep, run, title=f"Topology of the convolution filters ({layer})")

    return add
