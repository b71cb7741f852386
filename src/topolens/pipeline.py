"""End-to-end analyses: model + data -> activations -> diagrams -> report.

This is the top of the stack (like :mod:`topolens.cli`, which is a thin layer over it): it
imports the core, :mod:`topolens.viz` and :mod:`topolens.report`; nothing imports it.
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .activations import Activations, record_activations
from .topology import ActivationDiagrams, activation_persistence

__all__ = ["AnalysisResult", "FilterRun", "MapperRun", "analyze", "contrast_filter_set", "filter_analysis",
           "mapper_analysis", "patch_filter_set", "run_demo"]

logger = logging.getLogger(__name__)


@dataclass
class AnalysisResult:
    """What :func:`analyze` and :func:`run_demo` produce.

    ``info`` holds what the report's provenance table shows (accuracy, times, versions...);
    ``warnings`` the messages of the report's warning boxes (also logged).
    """

    activations: Activations
    diagrams: ActivationDiagrams
    report_path: Path | None
    info: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


#: Accuracy below this multiple of chance (1 / number of classes) is "near chance".
NEAR_CHANCE_FACTOR = 1.5
#: Accuracy more than this far below the expected (training) accuracy gets a warning.
ACCURACY_DROP = 0.10
_NORMALIZE_HINT = (
    "The likely cause is missing input normalisation: the model was trained on transformed "
    "inputs (e.g. normalised with the training mean and std) but was given raw ones. Pass the "
    "same transform as in training: --normalize MEAN STD or --transform module:function on the "
    "command line, transform= in the Python API. Other causes: the wrong weights file, or none "
    "at all (a model with its initial, random weights is at chance), or labels coded "
    "differently from the model's outputs."
)


def model_accuracy(labels: Any, predictions: Any) -> dict[str, Any] | None:
    """The model's accuracy on the recorded inputs, or None when it cannot be computed.

    Parameters
    ----------
    labels, predictions : array-like (n_inputs,) or None
        True classes and the model's predicted classes (argmax of its output), same coding.

    Returns
    -------
    dict or None
        ``accuracy``, ``n_correct``, ``n_inputs``, ``n_classes`` (distinct labels) and
        ``chance`` (1 / n_classes); None when either array is missing, their lengths differ or
        the labels are not integer class codes.
    """
    if labels is None or predictions is None:
        return None
    y = np.asarray(labels).reshape(-1)
    pred = np.asarray(predictions).reshape(-1)
    if y.size == 0 or y.size != pred.size or y.dtype.kind not in "iub" or pred.dtype.kind not in "iub":
        return None
    n_correct = int(np.count_nonzero(y == pred))
    n_classes = int(np.unique(y).size)
    return {"accuracy": n_correct / y.size, "n_correct": n_correct, "n_inputs": int(y.size),
            "n_classes": n_classes, "chance": 1.0 / max(n_classes, 1)}


def _parse_accuracy(value: Any) -> float | None:
    """``0.99``, ``"0.99"``, ``"99%"`` or ``"99"`` -> 0.99; None for anything else."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    pct = text.endswith("%")
    try:
        v = float(text.rstrip("%").strip())
    except ValueError:
        return None
    if not np.isfinite(v) or v < 0:
        return None
    v = v / 100.0 if pct or v > 1.0 else v
    return v if v <= 1.0 else None


def accuracy_warnings(acc: dict[str, Any] | None, expected: float | None = None) -> list[str]:
    """Warnings for an accuracy near chance or far below the expected (training) accuracy.

    Parameters
    ----------
    acc : dict or None
        From :func:`model_accuracy`.
    expected : float, optional
        The accuracy the model should have (e.g. its training accuracy), in [0, 1].

    Returns
    -------
    list of str
        Empty when the accuracy looks right (or is unknown). Near chance means below
        ``NEAR_CHANCE_FACTOR`` x 1 / n_classes (with at least 2 classes); far below means
        more than ``ACCURACY_DROP`` under ``expected``.
    """
    if acc is None:
        return []
    a, k = acc["accuracy"], acc["n_classes"]
    out = []
    if k >= 2 and a < NEAR_CHANCE_FACTOR * acc["chance"]:
        out.append(f"The model's accuracy on the recorded inputs is {a:.3f}, near chance "
                   f"(1/{k} = {acc['chance']:.3f} for {k} classes): the topology below is that of "
                   f"a model that does not recognise these inputs. {_NORMALIZE_HINT}")
    if expected is not None and expected - a > ACCURACY_DROP:
        out.append(f"The model's accuracy on the recorded inputs is {a:.3f}, "
                   f"{100 * (expected - a):.0f} points below the expected (training) accuracy "
                   f"{expected:.3f}. {_NORMALIZE_HINT}")
    return out


def _accuracy_text(acc: dict[str, Any] | None, labels: Any, predictions: Any) -> str:
    if acc is not None:
        return (f"{acc['accuracy']:.4f} ({acc['n_correct']} of {acc['n_inputs']} recorded inputs; "
                f"{acc['n_classes']} classes, chance {acc['chance']:.3f})")
    if labels is None:
        return "not available: the inputs have no labels"
    if predictions is None:
        return "not available: no predictions recorded (the model's output was not kept)"
    return "not available: labels and predictions do not match (length or type)"


def _versions() -> dict[str, str]:
    import torch

    dev = "cuda (" + torch.cuda.get_device_name(0) + ")" if torch.cuda.is_available() else "cpu"
    return {"topolens version": __version__, "torch version": torch.__version__,
            "numpy version": np.__version__, "python version": platform.python_version(),
            "platform": platform.platform(terse=True), "compute device": dev}


def analyze_activations(
    activations: Activations,
    *,
    out: str | Path | None = "topolens-report",
    title: str = "topolens report",
    include_all: bool = True,
    n_inputs: int | None = 1000,
    n_neurons: int | None = 500,
    n_resamples: int = 5,
    max_dim: int = 1,
    threshold: Any = None,
    neuron_sampling: str = "uniform",
    seed: int = 0,
    device: Any = None,
    progress: bool = True,
    info: dict[str, Any] | None = None,
    extra_sections: Any = None,
    pre_sections: Any = None,
    provenance: dict[str, Any] | None = None,
    predictions: Any = None,
    expected_accuracy: float | None = None,
) -> AnalysisResult:
    """Activation persistence of recorded activations and a self-contained HTML report.

    Parameters
    ----------
    activations : Activations
        Layer name -> (n_inputs, n_neurons) arrays, e.g. from :func:`record_activations`.
    out : path or None
        Folder for ``report.html`` and ``diagrams/`` (None: compute only).
    include_all : bool
        Also analyse all layers' neurons together (Ballester et al.'s "all neurons").
    n_inputs, n_neurons, n_resamples, max_dim, threshold, neuron_sampling, seed, device
        See :func:`topolens.topology.activation_persistence`.
    info : dict, optional
        More rows for the report's provenance table (e.g. ``{"model": ...}``).
    extra_sections : callable, optional
        ``f(report)`` adding sections after the activation-topology section.
    pre_sections : callable, optional
        ``f(report)`` adding sections before it (e.g. how the model was trained).
    provenance : dict, optional
        Display strings shown first in the provenance table: ``weights``, ``weights sha256``,
        ``data``, ``split``, ``expected accuracy`` (``"0.99"`` or ``"99%"``: a warning is shown
        when the accuracy on the recorded inputs is more than 10 points below it)...
    predictions : array-like (n_inputs,), optional
        The model's predicted classes of the recorded inputs (default:
        ``activations.predictions``), compared with ``activations.labels`` for the accuracy.
    expected_accuracy : float, optional
        The training accuracy, when known (overrides ``provenance["expected accuracy"]``).

    Returns
    -------
    AnalysisResult
        ``info`` has the accuracy (``"accuracy on recorded inputs"``) and the wall times;
        ``warnings`` the accuracy warnings (near chance, far below the expected accuracy),
        which are also logged and shown in the report.
    """
    kw = dict(n_inputs=n_inputs, n_neurons=n_neurons, n_resamples=n_resamples, max_dim=max_dim,
              threshold=threshold, neuron_sampling=neuron_sampling, seed=seed, device=device,
              progress=progress)
    provenance = {str(k): v for k, v in (provenance or {}).items()}
    if predictions is None:
        predictions = getattr(activations, "predictions", None)
    acc = model_accuracy(activations.labels, predictions)
    if expected_accuracy is None:
        expected_accuracy = _parse_accuracy(provenance.get("expected accuracy"))
    warnings = accuracy_warnings(acc, expected_accuracy)
    for w in warnings:
        logger.warning("%s", w)
    t0 = time.perf_counter()
    result = activation_persistence(activations, group="layer", **kw)
    if include_all and len(activations) > 1:
        allres = activation_persistence(activations, group="all", **kw)
        for store in ("diagrams", "input_indices", "neuron_indices"):
            getattr(result, store).update(getattr(allres, store))
        computed = allres.params.get("n_resamples_computed")
        if isinstance(computed, dict):  # the report lists every group's, "all" included
            result.params["n_resamples_computed"] = {**(result.params.get("n_resamples_computed")
                                                        or {}), **computed}
    info = dict(info or {})
    info["persistence seconds"] = round(time.perf_counter() - t0, 2)
    if acc is not None:
        info["accuracy on recorded inputs"] = round(acc["accuracy"], 4)
    logger.info("activation persistence done in %.1f s", info["persistence seconds"])
    report_path = None
    if out is not None:
        facts = _Provenance(provenance, info, _accuracy_text(acc, activations.labels, predictions),
                            expected_accuracy, warnings)
        report_path = _write_report(activations, result, Path(out), title, facts, extra_sections,
                                    pre_sections)
    return AnalysisResult(activations, result, report_path, info, warnings)


@dataclass
class _Provenance:
    """What the report's first section states about the run."""

    given: dict[str, Any]
    info: dict[str, Any]
    accuracy_text: str
    expected: float | None
    warnings: list[str]

    def rows(self, activations: Activations) -> dict[str, Any]:
        rows: dict[str, Any] = dict(self.given)
        for k, v in self.info.items():
            if k in ("persistence seconds", "accuracy on recorded inputs") or k.endswith(" seconds"):
                continue  # times are listed together below
            rows.setdefault(k, v)
        rows.setdefault("inputs recorded", activations.n_inputs)
        rows["layers"] = ", ".join(activations) or "none"
        rows["accuracy on recorded inputs"] = self.accuracy_text
        if self.expected is not None:
            rows["expected accuracy"] = f"{self.expected:.4f}"
        return rows


def _layer_table(activations: Activations) -> Any:
    from .report import Table

    rows = [[name, str(tuple(activations.shapes.get(name, ()))) if activations.shapes.get(name) else
             "not recorded", int(activations[name].shape[1])] for name in activations]
    if len(activations) > 1:
        rows.append(["all", "all recorded layers' neurons together",
                     int(sum(activations[n].shape[1] for n in activations))])
    return Table(rows, ["layer", "output shape (per input)", "neurons"], caption="Recorded layers")


def _write_report(activations: Activations, result: ActivationDiagrams, out: Path, title: str,
                  facts: _Provenance, extra_sections: Any, pre_sections: Any = None) -> Path:
    from .report import Callout, KeyValue, Report, add_activation_topology_section
    from .report.sections import HOW_TO_READ, display_parameters

    t_report = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    for group, dgs in result.diagrams.items():
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in group)
        for r, dg in enumerate(dgs):
            dg.save(out / "diagrams" / f"{safe}_resample{r}.npz")
    rep = Report(title, subtitle="Topological analysis of a neural network's activations",
                 parameters=display_parameters(result.params))
    prov = KeyValue({}, caption="Provenance")  # filled at the end, when every time is known
    run = rep.add_section("Run and provenance", [], intro="What was analysed, how well the model "
                          "does on the recorded inputs, and how long each part took.",
                          how_to_read=HOW_TO_READ["run"])
    for w in facts.warnings:
        run.add(Callout(w, title="Warning: the model's accuracy on the recorded inputs is suspicious"))
    run.add(prov, _layer_table(activations))
    if pre_sections is not None:
        pre_sections(rep)
    layer_info = {name: f"output shape {tuple(activations.shapes.get(name, ()))}, "
                        f"{activations[name].shape[1]} neurons" for name in activations}
    layer_info["all"] = "all recorded layers' neurons together"
    add_activation_topology_section(rep, result, layer_info=layer_info,
                                    seconds=facts.info.get("persistence seconds"))
    if extra_sections is not None:
        extra_sections(rep)
    times = _times(rep, facts.info, time.perf_counter() - t_report)
    prov.items.update({**facts.rows(activations), **times, **_versions()})
    path = rep.write(out / "report.html")
    logger.info("report written to %s", path)
    return path


def _times(rep: Any, info: dict[str, Any], report_seconds: float) -> dict[str, str]:
    """Wall time per part (recording, each section that says how long it took, the report
    itself) and their total."""
    from .report.html import _seconds

    parts: dict[str, float] = {}
    for key in ("recording seconds", "training seconds"):
        if isinstance(info.get(key), (int, float)):
            parts[key.replace(" seconds", "")] = float(info[key])
    for sec in rep.sections:
        if sec.seconds is not None:
            parts[sec.title] = float(sec.seconds)
    parts["figures and report"] = report_seconds
    out = {f"wall time: {k}": _seconds(v) for k, v in parts.items()}
    # the sum of the parts above: loading the data and the model, and starting Python, are not
    # counted
    out["wall time: total of the parts above"] = _seconds(sum(parts.values()))
    return out


def record_for_analysis(model: Any, data: Any, *, layers: Any = None, reduce: str = "flatten",
                        batch_size: int = 256, max_inputs: int | None = None,
                        store: str | Path | None = None, transform: Any = None,
                        progress: bool = True) -> tuple[Activations, dict[str, Any]]:
    """Record ``model``'s activations on ``data`` for a report: the activations and the run
    information the report shows about the recording (inputs, transform, time).

    The arguments go to :func:`topolens.record_activations`; ``transform`` is a callable applied
    to each input batch before the model (e.g. the training normalisation).
    """
    t0 = time.perf_counter()
    acts = record_activations(model, data, layers, batch_size=batch_size, reduce=reduce,
                              max_inputs=max_inputs, store=store, progress=progress, transform=transform)
    info = {"model class": type(model).__name__, "inputs recorded": acts.n_inputs,
            "input transform": ("none" if transform is None
                                else getattr(transform, "__name__", None) or repr(transform)),
            "recording seconds": round(time.perf_counter() - t0, 2)}
    return acts, info


def analyze(model: Any, data: Any, *, layers: Any = None, reduce: str = "flatten",
            batch_size: int = 256, max_inputs: int | None = None, store: str | Path | None = None,
            transform: Any = None, **kwargs: Any) -> AnalysisResult:
    """Record ``model``'s activations on ``data`` and run :func:`analyze_activations`.

    ``layers``, ``reduce``, ``batch_size``, ``max_inputs``, ``store`` and ``transform`` go to
    :func:`record_for_analysis`; everything else (``provenance=`` included) to
    :func:`analyze_activations`.
    """
    acts, info = record_for_analysis(model, data, layers=layers, reduce=reduce,
                                     batch_size=batch_size, max_inputs=max_inputs, store=store,
                                     transform=transform, progress=kwargs.get("progress", True))
    return analyze_activations(acts, info={**info, **kwargs.pop("info", {})}, **kwargs)


@dataclass
class MapperRun:
    """What :func:`mapper_analysis` produces: per layer, the fitted Mapper, its graph and node
    statistics, and the files written."""

    mappers: dict[str, Any]
    graphs: dict[str, Any]
    stats: dict[str, Any]
    explorer_path: Path | None = None
    files: list[Path] = field(default_factory=list)
    payload: dict[str, Any] | None = field(default=None, repr=False)
    seconds: float | None = None
    predictions: Any = field(default=None, repr=False)


def _nodes_csv(stats: Any) -> str:
    import csv
    import io

    rows = stats.rows()
    buf = io.StringIO()
    if rows:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def mapper_analysis(
    activations: Any,
    *,
    labels: Any = None,
    predictions: Any = None,
    images: Any = None,
    class_names: Any = None,
    out: str | Path | None = None,
    title: str = "Mapper of activations",
    lens: Any = "l2norm",
    cover: Any = "uniform",
    n_intervals: Any = 10,
    overlap: Any = 0.3,
    eps: float | None = None,
    eps_quantile: float | None = None,
    min_samples: int | None = None,
    noise: str = "drop",
    seed: int = 0,
    device: Any = None,
    images_per_node: int = 12,
    progress: bool = True,
    provenance: dict[str, Any] | None = None,
) -> MapperRun:
    """Mapper graphs of one or more layers' activations, node statistics, and the explorer.

    Parameters
    ----------
    activations : Activations or mapping of layer name -> array (n_inputs, n_neurons)
        The inputs are the points. Every layer must hold the same inputs.
    labels, predictions : array-like (n_inputs,), optional
        Classes of the inputs, and the model's predictions coded the same way: class codes
        0..C-1 (named by ``class_names``) or any values such as strings (default: both from
        ``activations``, when present; given ``labels``, no default predictions). See
        :func:`topolens.mapper.stats.encode_labels`. With predictions, each node's
        misclassified share is computed and shown.
    images : array-like, optional
        The inputs as images, shown in the explorer's node inspector.
    class_names : sequence of str, optional
    out : path, optional
        Folder for ``mapper.html`` (the explorer) and ``graphs/<layer>.json``, ``.graphml``
        and ``_nodes.csv``; None computes only.
    lens, cover, n_intervals, overlap, eps, eps_quantile, min_samples, noise
        See :class:`topolens.mapper.Mapper`.
    provenance : dict, optional
        What was analysed (weights and SHA-256, data, split...), shown in the explorer's header.
    """
    from ._io import atomic_write_text
    from .exceptions import InvalidInputError
    from .mapper import DEFAULT_EPS_QUANTILE, DEFAULT_MIN_SAMPLES, Mapper, node_statistics

    layers = dict(activations.items()) if hasattr(activations, "items") else None
    if not layers:
        raise InvalidInputError(
            "activations must be a non-empty mapping of layer name -> (n_inputs, n_neurons) "
            "array, e.g. from topolens.record_activations."
        )
    t0 = time.perf_counter()
    if labels is None:  # the activations' own predictions are coded like their labels, not like others
        labels = getattr(activations, "labels", None)
        if predictions is None:
            predictions = getattr(activations, "predictions", None)
    if labels is not None:  # code labels and predictions once, for the statistics and the explorer
        from .mapper.stats import encode_labels

        n_inputs = len(next(iter(layers.values())))
        labels, predictions, class_names = encode_labels(labels, n_inputs, predictions=predictions,
                                                         class_names=class_names)
    elif predictions is not None:
        raise InvalidInputError("predictions need labels to compare with; pass labels too.")
    mappers, graphs, stats = {}, {}, {}
    names = list(layers)
    it: Any = names
    if progress and len(names) > 1:
        from tqdm.auto import tqdm

        it = tqdm(names, desc="Mapper", unit="layer")
    for name in it:
        m = Mapper(lens, cover, n_intervals=n_intervals, overlap=overlap, eps=eps,
                   eps_quantile=DEFAULT_EPS_QUANTILE if eps_quantile is None else eps_quantile,
                   min_samples=DEFAULT_MIN_SAMPLES if min_samples is None else min_samples,
                   noise=noise, device=device, random_state=seed)
        try:
            m.fit(layers[name])
        except InvalidInputError as exc:
            raise type(exc)(f"layer {name!r}: {exc}") from exc
        graphs[name] = m.graph_
        stats[name] = node_statistics(m.graph_, m.x_, labels=labels, predictions=predictions,
                                      lens=m.lens_.values, class_names=class_names)
        mappers[name] = m
        logger.info("Mapper of %s: %d nodes, %d edges, eps %.4g", name, m.graph_.n_nodes,
                    m.graph_.n_edges, m.eps_ if m.eps_ is not None else float("nan"))
    run = MapperRun(mappers, graphs, stats, predictions=predictions)
    from .viz.mapper_payload import ExplorerLayer, explorer_payload

    run.payload = explorer_payload(
        [ExplorerLayer(k, graphs[k], stats[k]) for k in names], labels=labels,
        class_names=class_names if labels is not None else None,
        predictions=predictions, images=images, images_per_node=images_per_node, title=title,
        seed=seed)
    if out is not None:
        from .viz.mapper_html import write_explorer

        out = Path(out)
        run.explorer_path = write_explorer(run.payload, out / "mapper.html", title=title,
                                           provenance=provenance)
        run.files.append(run.explorer_path)
        for name in names:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
            run.files.append(graphs[name].save(out / "graphs" / f"{safe}.json"))
            run.files.append(graphs[name].write_graphml(out / "graphs" / f"{safe}.graphml"))
            run.files.append(atomic_write_text(out / "graphs" / f"{safe}_nodes.csv",
                                               _nodes_csv(stats[name])))
    run.seconds = time.perf_counter() - t0
    return run


@dataclass
class WeightGraphRun:
    """Neural persistence of a model and the induced graphs of a few example inputs."""

    neural_persistence: Any
    network: Any
    examples: list[tuple[Any, ...]]
    seconds: float
    percentile: float = 90.0
    attack: dict[str, Any] | None = None

    def add_to(self, report: Any) -> Any:
        from .report import add_weight_graph_section

        return add_weight_graph_section(report, neural_persistence=self.neural_persistence,
                                        network=self.network, examples=self.examples,
                                        percentile=self.percentile, attack=self.attack,
                                        seconds=self.seconds)


def weight_graph_analysis(model: Any, x: Any, y: Any = None, *, n_examples: int = 2, eps: float | None = 0.1,
                          percentile: float = 90.0) -> WeightGraphRun:
    """Neural persistence of ``model`` and induced graphs of its first ``n_examples`` inputs.

    With ``eps`` (and labels ``y``), the FGSM adversarial version of the first input is added
    as an example, so the report shows how its most persistent subgraph moves, and
    ``attack`` records the label, the clean and the adversarial prediction.
    """
    from .attacks import fgsm
    from .exceptions import InvalidInputError
    from .graphs import induced_graphs, neural_persistence, unroll

    if isinstance(n_examples, bool) or not isinstance(n_examples, int) or n_examples < 1:
        raise InvalidInputError(f"n_examples must be a positive integer; got {n_examples!r}.")
    t0 = time.perf_counter()
    npers = neural_persistence(model)
    x = x[:n_examples]
    net = unroll(model, tuple(x.shape[1:]))
    xs, names = [x], [f"input {i}" for i in range(len(x))]
    truth = [int(y[i]) if y is not None else None for i in range(len(x))]
    if eps is not None and y is not None:
        xs.append(fgsm(model, x[:1], y[:1], eps).detach().cpu())
        names.append(f"input 0, FGSM eps {eps:g}")
        truth.append(int(y[0]))
    import torch

    xx = torch.cat([torch.as_tensor(a).float() for a in xs])
    graphs, out = induced_graphs(net, xx, percentile=percentile, return_outputs=True)
    preds = [int(o.argmax()) for o in out]
    # an image panel for image inputs (C, H, W) only
    examples = [(name, xx[i].numpy() if xx.ndim == 4 else None, g,
                 {"label": "n/a" if truth[i] is None else truth[i], "prediction": preds[i]})
                for i, (name, g) in enumerate(zip(names, graphs, strict=True))]
    attack = None
    if len(xs) > 1:
        attack = {"eps": f"{eps:g}", "input": "input 0", "label": truth[-1],
                  "clean prediction": preds[0], "adversarial prediction": preds[-1]}
    return WeightGraphRun(npers, net, examples, time.perf_counter() - t0, percentile, attack)


#: Fewer core filters than this: no persistence (a loop needs 4 points in a Rips complex)
FILTER_MIN_PERSISTENCE = 4
#: Fewer core filters than this: no Mapper graph (each cover set needs a few points to cluster)
FILTER_MIN_MAPPER = 20
#: At most this many filters are placed on the Klein bottle (a seeded sample beyond)
FILTER_MAX_COORDINATES = 3000
#: The circle share's cosine (the issue's "within cosine 0.9 of some circle filter")
FILTER_CIRCLE_COS = 0.9


@dataclass
class FilterRun:
    """What :func:`filter_analysis` produces (the report's filter section reads it).

    Attributes
    ----------
    filters : topolens.filters.FilterSet
        Every filter (or patch) analysed, normalised (mean-centred, D-norm).
    points : numpy.ndarray
        ``(n, k * k - 1)`` their DCT coordinates on the unit sphere (Euclidean distance there is
        the D-distance of Carlsson et al.).
    core : numpy.ndarray
        Rows of ``filters`` in the density-filtered core ``X(k, p)`` (densest first); every row
        when the filtration was skipped.
    density : topolens.filters.DensityFiltered or None
        None when the set was too small to filter (see ``notes``).
    diagrams : dict of int to PersistenceDiagrams, or None
        Coefficient p -> diagrams over Z/p of the core (landmarks above ``n_landmarks``); None when
        the core is too small (see ``notes``).
    coordinates : topolens.filters.KleinCoordinates
        Klein-bottle coordinates of the filters at ``coordinate_index``.
    coordinate_index : numpy.ndarray
        Rows of ``filters`` placed on the bottle (all of them up to ``FILTER_MAX_COORDINATES``).
    circle_similarity : numpy.ndarray
        ``(n,)`` each filter's largest cosine with a primary-circle filter.
    circle_share, circle_share_core : float
        Share of all filters, and of the core, within cosine ``params["circle_cos"]`` of a circle filter.
    mapper : topolens.mapper.Mapper or None
        The Mapper of the core (PCA lens), None when skipped (see ``notes``).
    stats : NodeStatistics or None
    payload : dict or None
        The explorer payload of the Mapper graph, with filter thumbnails.
    params, provenance : dict
    notes : list of str
        What was skipped and why, in words for the report.
    seconds : float
    """

    filters: Any
    points: np.ndarray
    core: np.ndarray
    density: Any
    diagrams: dict[int, Any] | None
    coordinates: Any
    coordinate_index: np.ndarray
    circle_similarity: np.ndarray
    circle_share: float
    circle_share_core: float
    mapper: Any = None
    stats: Any = None
    payload: dict[str, Any] | None = field(default=None, repr=False)
    params: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    kind: str = "learned filters"

    def to_dict(self) -> dict[str, Any]:
        """The numbers of the run, JSON-ready (no arrays beyond short lists)."""
        out: dict[str, Any] = {"kind": self.kind, "filters": self.filters.to_dict(), "params": dict(self.params),
                               "provenance": {str(k): str(v) for k, v in self.provenance.items()},
                               "n_core": len(self.core), "circle_share": _json_float(self.circle_share),
                               "circle_share_core": _json_float(self.circle_share_core),
                               "notes": list(self.notes), "seconds": round(float(self.seconds), 3)}
        if self.density is not None:
            out["density"] = {"k": int(self.density.k), "p": float(self.density.p),
                              "radius": float(self.density.radius), "n_points": int(self.density.n_points)}
        if self.diagrams is not None:
            out["persistence"] = {f"Z/{p}": _diagram_numbers(d) for p, d in self.diagrams.items()}
            for p, dom in self.dominant_betti().items():
                out["persistence"][f"Z/{p}"].update(dominant_betti=dom["betti"], connection_scale=dom["scale"])
        c = self.coordinates
        ok = np.isfinite(c.cosine)
        out["klein"] = {"n_placed": int(ok.sum()),
                        "median_cosine": _json_float(np.median(c.cosine[ok])) if ok.any() else None,
                        "median_residual": _json_float(np.median(c.residual[ok])) if ok.any() else None}
        if self.mapper is not None:
            out["mapper"] = self.mapper.graph_.summary()
        return out

    def dominant_betti(self) -> dict[int, dict[str, Any]]:
        """Per coefficient field: the Betti numbers of the dominant bars and the scale that decides them.

        The scale ``eps`` is the core's connection scale, its longest finite H0 bar (the radius at
        which the Rips complex becomes connected). ``betti[0]`` counts the H0 classes that never die;
        ``betti[k]`` (k >= 1) the bars of dimension k longer than ``eps`` (a bar alive at the
        threshold counts up to it): features that outlive the sampling. On the model spaces this
        gives (1, 1, 0) for a circle, (1, 5, 0) for three circles and (1, 2, 1) over Z/2 but
        (1, 1, 0) over Z/3 for a Klein bottle. Empty when no persistence was computed.
        """
        out: dict[int, dict[str, Any]] = {}
        for p, d in (self.diagrams or {}).items():
            eps = _connection_scale(d)
            thr = d.metadata.get("threshold")
            betti = [len(d.essential(0))]
            for k in d.dims[1:]:
                life = d.lifetimes(k)
                if thr is not None:
                    life = np.r_[life, float(thr) - d.censored_births(k)]
                betti.append(int((life > eps).sum()) + len(d.essential(k)))
            out[p] = {"betti": betti, "scale": eps}
        return out


def _connection_scale(d: Any) -> float:
    """The longest finite H0 bar: the scale at which the Rips complex of the points connects (0 if none)."""
    h0 = d.lifetimes(0)
    return float(h0.max()) if len(h0) else 0.0


def _json_float(v: Any) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _diagram_numbers(d: Any) -> dict[str, Any]:
    """Per dimension: class counts and the longest lifetimes; and the run's threshold."""
    dims = {}
    for k in d.dims:
        life = np.sort(d.lifetimes(k))[::-1]
        dims[f"H{k}"] = {"n_classes": int(d.n_classes(k)), "n_essential": len(d.essential(k)),
                         "n_censored": int(np.asarray(d.censored[k]).sum()),
                         "longest": [_json_float(v) for v in life[:5]]}
    meta = d.metadata
    return {"dims": dims, "threshold": _json_float(meta["threshold"]) if meta.get("threshold") is not None else None,
            "n_landmarks": meta.get("n_landmarks"), "covering_radius": meta.get("covering_radius"),
            "describe": d.describe()}


def patch_filter_set(images: Any, *, size: int = 3, n_per_image: int | None = 2000, top: float = 0.2,
                     log: bool = False, seed: int = 0, name: str = "images") -> Any:
    """High-contrast ``size x size`` patches of images as a FilterSet (the patches are the points).

    :func:`topolens.filters.image_patches` (a seeded sample of ``n_per_image`` positions per image)
    then :func:`topolens.filters.high_contrast` (the ``top`` fraction by D-norm), mean-centred and
    D-normalised; ``raw`` keeps the patches' grey levels.
    """
    from .filters import image_patches

    return contrast_filter_set(image_patches(images, size, n_per_image, log=log, seed=seed), top=top, size=size,
                               name=name)


def contrast_filter_set(patches: Any, *, top: float = 0.2, size: int | None = None, name: str = "images") -> Any:
    """The ``top`` fraction of ``patches`` by contrast as a FilterSet (see :func:`patch_filter_set`);
    ``out_channel`` holds each kept patch's row in ``patches``."""
    import math

    from .filters import high_contrast, normalize_filters
    from .filters._extract import FilterSet

    kept, index = high_contrast(patches, top, size=size, return_index=True)
    size = math.isqrt(kept.shape[1])
    points, _ = normalize_filters(kept, "dnorm", size=size)
    n = len(kept)
    return FilterSet(points=points, kernel_size=size, layer=np.full(n, "patches"), out_channel=index,
                     in_channel=np.full(n, -1), model=np.zeros(n, dtype=np.int64), model_names=[name],
                     mode="slices", normalize="dnorm", n_dropped=0, raw=kept)


def _filter_set(source: Any, layer: Any, names: Any) -> tuple[Any, str]:
    """A FilterSet and its kind from a FilterSet, a model / state dict / list of them, or rows."""
    from .filters import normalize_filters
    from .filters._extract import FilterSet, extract_filters

    if isinstance(source, FilterSet):
        return source, "image patches" if list(np.unique(source.layer)) == ["patches"] else "learned filters"
    if isinstance(source, np.ndarray) or type(source).__name__ == "Tensor":
        from .filters._basis import _patch_rows

        rows, size, _ = _patch_rows(source, "filters", None)
        points, norms = normalize_filters(rows, "dnorm", size=size)
        keep = norms > 0
        if not keep.any():
            from .exceptions import InvalidInputError

            raise InvalidInputError(f"all {len(rows)} rows are constant (zero contrast); there is no filter "
                                    "direction to study.")
        n = int(keep.sum())
        fs = FilterSet(points=points[keep], kernel_size=size, layer=np.full(n, "rows"),
                       out_channel=np.flatnonzero(keep), in_channel=np.full(n, -1), model=np.zeros(n, np.int64),
                       model_names=["array"], n_dropped=int((~keep).sum()), raw=rows[keep])
        return fs, "filters (rows of an array)"
    return extract_filters(source, layer, normalize="dnorm", names=names), "learned filters"


def _filter_topology(run_points: np.ndarray, core: np.ndarray, *, max_dim: int, n_landmarks: int, seed: int,
                     progress: bool, notes: list[str]) -> dict[int, Any] | None:
    from .filters._topology import filter_persistence

    if len(core) < FILTER_MIN_PERSISTENCE:
        notes.append(f"Persistence was not computed: the core holds {len(core)} filter(s), fewer than "
                     f"{FILTER_MIN_PERSISTENCE} (a loop needs at least 4 points). Pool more filters "
                     "(several models or checkpoints, or more layers) to see their shape.")
        return None
    return filter_persistence(run_points[core], max_dim=max_dim, coeffs=(2, 3), n_landmarks=n_landmarks,
                              seed=seed, progress=progress)


def _filter_mapper(fs: Any, run_points: np.ndarray, core: np.ndarray, similarity: np.ndarray, *, seed: int,
                   notes: list[str], cos: float, eps: float | None = None) -> tuple[Any, Any, dict[str, Any] | None]:
    """The Mapper of the core (PCA lens), node statistics and the explorer payload with thumbnails.

    ``eps`` (DBSCAN's radius): the core's connection scale when persistence was computed, so that
    the graph is connected where the filters are (Mapper's default, a quantile of the
    ``min_samples``-neighbour distances, broke a sampled circle into 26 pieces)."""
    from .exceptions import InvalidInputError
    from .filters._topology import filter_mapper
    from .mapper import node_statistics
    from .viz.filters import filter_thumbnails
    from .viz.mapper_payload import ExplorerLayer, explorer_payload

    if len(core) < FILTER_MIN_MAPPER:
        notes.append(f"No Mapper graph: the core holds {len(core)} filter(s), fewer than {FILTER_MIN_MAPPER} "
                     "(each cover set needs a few filters to cluster).")
        return None, None, None
    try:
        extra = {} if eps is None or not eps > 0 else {"eps": float(eps)}
        m = filter_mapper(run_points[core], lens="pca2", n_intervals=6, overlap=0.35, seed=seed, min_samples=3,
                          **extra)
    except InvalidInputError as exc:
        notes.append(f"No Mapper graph: {exc}")
        return None, None, None
    near = np.where(similarity[core] >= cos, 0, 1)
    names = [f"near the circle (cos >= {cos:g})", "off the circle"]
    stats = node_statistics(m.graph_, labels=near, lens=m.lens_.values, class_names=names)
    payload = explorer_payload([ExplorerLayer("filters (core)", m.graph_, stats)], labels=near, class_names=names,
                               images=filter_thumbnails(fs.images()[core], scale=max(2, 24 // fs.kernel_size)),
                               title="Mapper of the filters", seed=seed)
    return m, stats, payload


def filter_analysis(source: Any, *, layer: Any = None, k: int = 15, p: float = 0.3, n_landmarks: int = 200,
                    max_dim: int = 2, seed: int = 0, progress: bool = True, names: Any = None,
                    mapper: bool = True, provenance: dict[str, Any] | None = None) -> FilterRun:
    """The topology of a set of convolution filters or image patches (Carlsson & Gabrielsson).

    The filters are mean-centred and D-normalised and taken to their DCT coordinates on the unit
    sphere; the density filtration ``X(k, p)`` keeps the densest fraction ``p`` by the distance to
    the ``k``-th neighbour; the core's Vietoris-Rips persistence is computed over Z/2 and Z/3
    (``n_landmarks`` max-min landmarks above that many points); each filter is placed on the Klein
    bottle; the share near the primary circle is counted; and the core gets a Mapper graph (PCA lens)
    with filter thumbnails for the explorer.

    Parameters
    ----------
    source : nn.Module, state dict, list of those, FilterSet or array-like
        A model or its state dict (its square conv kernels, see
        :func:`topolens.filters.extract_filters`); a list (checkpoints or seeds: pooled); a FilterSet
        (e.g. :func:`patch_filter_set` of images); or ``(n, k * k)`` rows.
    layer : str or list of str, optional
        The conv layers to read (default: every square one; they must share one kernel size).
    k, p : int, float
        The density filtration. A set of at most ``k`` filters is not filtered (``notes`` says so).
    n_landmarks : int
        Landmarks of the persistence computation.
    max_dim : int
        Largest homology dimension (2: a Klein bottle's H2 over Z/2).
    seed : int
        Seeds of the landmarks, the coordinates' sample and the Mapper.
    progress : bool
        tqdm bars.
    names : list of str, optional
        Model names when ``source`` is a list.
    mapper : bool
        Build the Mapper graph and its explorer payload.
    provenance : dict, optional
        What was analysed (files, SHA-256...), kept for the report.

    Returns
    -------
    FilterRun
    """
    from ._validation import check_int
    from .filters import density_filter, klein_coordinates, to_dct
    from .filters._topology import circle_similarity

    k = check_int(k, "k", minimum=1)
    n_landmarks = check_int(n_landmarks, "n_landmarks", minimum=2)
    seed = check_int(seed, "seed", minimum=0)
    t0 = time.perf_counter()
    fs, kind = _filter_set(source, layer, names)
    notes: list[str] = []
    pts = to_dct(fs.points, size=fs.kernel_size)
    n = len(fs)
    density = None
    if n <= k:
        notes.append(f"The density filtration X(k={k}, p={p:g}) was skipped: there are {n} filter(s), and the "
                     f"k-th neighbour needs at least k + 1 = {k + 1}. Every filter is in the core.")
        core = np.arange(n)
    else:
        density = density_filter(pts, k, p, progress=progress)
        core = density.indices
    logger.info("filters: %d in the core of %d (%s)", len(core), n, fs.summary())
    diagrams = _filter_topology(pts, core, max_dim=max_dim, n_landmarks=n_landmarks, seed=seed, progress=progress,
                                notes=notes)
    rng = np.random.default_rng(seed)
    placed = np.arange(n) if n <= FILTER_MAX_COORDINATES else np.sort(rng.choice(n, FILTER_MAX_COORDINATES, replace=False))
    if len(placed) < n:
        notes.append(f"{len(placed)} of the {n} filters (a seeded sample) are placed on the Klein bottle.")
    coords = klein_coordinates(fs.points[placed], size=fs.kernel_size)
    sim = circle_similarity(fs.points, size=fs.kernel_size)
    share = float(np.mean(sim >= FILTER_CIRCLE_COS))
    share_core = float(np.mean(sim[core] >= FILTER_CIRCLE_COS))
    m = stats = payload = None
    if mapper:
        eps = None if diagrams is None else _connection_scale(next(iter(diagrams.values()))) or None
        m, stats, payload = _filter_mapper(fs, pts, core, sim, seed=seed, notes=notes, cos=FILTER_CIRCLE_COS,
                                           eps=eps)
    thr = None if diagrams is None else next(iter(diagrams.values())).metadata.get("threshold")
    params = {"k": k, "p": p, "n_landmarks": n_landmarks, "max_dim": max_dim, "seed": seed,
              "threshold": thr, "n_filters": n, "n_dropped_constant": int(fs.n_dropped),
              "n_core": len(core), "kernel_size": fs.kernel_size, "circle_cos": FILTER_CIRCLE_COS,
              "metric": "D-distance (DCT coordinates)", "coefficients": "Z/2, Z/3",
              "density_filtered": density is not None}
    return FilterRun(filters=fs, points=pts, core=core, density=density, diagrams=diagrams, coordinates=coords,
                     coordinate_index=placed, circle_similarity=sim, circle_share=share, circle_share_core=share_core,
                     mapper=m, stats=stats, payload=payload, params=params, provenance=dict(provenance or {}),
                     notes=notes, seconds=time.perf_counter() - t0, kind=kind)


def _demo_filters(model: Any, epochs: int, x: Any, y: Any, *, seed: int, n_seeds: int, progress: bool,
                  n_train: int = 3000) -> FilterRun:
    """The first-layer filters of the demo CNN pooled with those of ``n_seeds`` more SmallCNNs
    (``c1=16``, trained one epoch on a seeded ``n_train`` of the training images, which keeps the
    demo's added time near 15 s on one core), and their filter analysis; ``seconds`` includes the
    training."""
    from .models import SmallCNN, train_classifier

    t0 = time.perf_counter()
    models, names = [model], [f"demo SmallCNN ({epochs} epoch(s))"]
    import torch

    rows = np.sort(np.random.default_rng(seed).permutation(len(x))[:n_train])
    xs, ys = x[rows], y[rows]
    for s in range(seed + 1, seed + 1 + n_seeds):
        torch.manual_seed(s)  # the initial weights too
        extra = SmallCNN(c1=16, c2=8, hidden=32)
        train_classifier(extra, xs, ys, epochs=1, seed=s, progress=False)
        models.append(extra)
        names.append(f"SmallCNN c1=16, seed {s} (1 epoch, {len(rows)} images)")
    trained = time.perf_counter() - t0
    logger.info("trained %d extra SmallCNN(s) for their first-layer filters in %.1f s", n_seeds, trained)
    run = filter_analysis(models, layer="conv1", k=8, p=0.5, seed=seed, progress=progress, names=names,
                          provenance={"models": "; ".join(names), "extra models' training seconds": round(trained, 1)})
    run.seconds += trained
    return run


def run_demo(
    out: str | Path = "topolens-report",
    *,
    epochs: int = 5,
    n_inputs: int = 1000,
    n_neurons: int = 400,
    n_resamples: int = 5,
    seed: int = 0,
    progress: bool = True,
    filter_seeds: int = 3,
) -> AnalysisResult:
    """The main job: train a small CNN on the bundled MNIST sample (CPU, about a minute),
    record activations of its hidden layers on training inputs and write the report.

    ``filter_seeds`` more SmallCNNs (16 first-layer filters each, seeds ``seed + 1 ...``) are
    trained for one epoch on 3000 of the training images so that the filter section pools enough first-layer filters (one demo
    CNN has 8); 0 leaves them out (the section then has the demo CNN's 8 filters only).
    """
    import torch

    from .datasets import as_tensor_dataset, load_mnist_sample
    from .models import SmallCNN, evaluate, train_classifier
    from .report import Figure, Table

    torch.manual_seed(seed)
    x_tr, y_tr = as_tensor_dataset(*load_mnist_sample("train")).tensors
    x_te, y_te = as_tensor_dataset(*load_mnist_sample("test")).tensors
    model = SmallCNN()
    logger.info("training SmallCNN on %d MNIST sample images for %d epoch(s)", len(x_tr), epochs)
    hist = train_classifier(model, x_tr, y_tr, x_test=x_te, y_test=y_te, epochs=epochs, seed=seed,
                            progress=progress)
    gen = np.random.default_rng(seed)
    rows = np.sort(gen.choice(len(x_tr), size=min(n_inputs, len(x_tr)), replace=False))
    layers = ["pool1", "pool2", "relu3", "fc2"]
    t0 = time.perf_counter()
    acts = record_activations(model, (x_tr[rows], y_tr[rows]), layers, batch_size=500, progress=False)
    recording = time.perf_counter() - t0
    predictions = acts.predictions  # SmallCNN's output is (N, 10) logits: always recorded
    train_acc = float(hist.train_accuracy[-1])
    per_resample = max(2, int(0.8 * len(rows))) if n_resamples > 1 else None
    info = {
        "model": "SmallCNN (conv-pool-conv-pool-fc-fc), trained here (no weights file)",
        "data": f"bundled MNIST sample: {len(x_tr)} train / {len(x_te)} test images",
        "split": f"train: {len(rows)} of the {len(x_tr)} training images (seed {seed})",
        "epochs": epochs, "training seconds": round(hist.seconds, 1),
        "recording seconds": round(recording, 2),
        "train accuracy": round(train_acc, 4),
        "test accuracy": round(evaluate(model, x_te, y_te), 4),
        "inputs for topology": len(rows),
        # each resample draws its own 80% of the recorded inputs: with all of them, layers whose
        # neurons are all taken would give identical resamples
        "inputs per resample": per_resample,
    }

    def training_section(rep: Any) -> None:
        from .report.sections import HOW_TO_READ
        from .viz import plot_training_history

        rep.add_section("Training", [
            Table([[e + 1, hist.train_loss[e], hist.train_accuracy[e], hist.test_accuracy[e]]
                   for e in range(epochs)], ["epoch", "train loss", "train acc.", "test acc."]),
            Figure(plot_training_history(hist), caption="Loss and accuracy per epoch."),
        ], intro="The demo model and how it learned.", how_to_read=HOW_TO_READ["training"])

    # Mapper (TopoAct) of the penultimate layer, linked with pool2 through the shared inputs
    mapper_layers = {"pool2": acts["pool2"], "relu3": acts["relu3"]}
    mapper_run = mapper_analysis(
        mapper_layers, labels=y_tr[rows].numpy(), predictions=predictions,
        images=x_tr[rows], out=out, seed=seed, progress=progress,
        title="Mapper of the demo CNN's activations (pool2, relu3) on MNIST",
        provenance={k: info[k] for k in ("model", "data", "split")})
    info["mapper seconds"] = round(mapper_run.seconds or 0.0, 2)

    graph_run = weight_graph_analysis(model, x_te, y_te, n_examples=2, eps=0.1)
    info["weight/induced graph seconds"] = round(graph_run.seconds, 2)
    filter_run = _demo_filters(model, epochs, x_tr, y_tr, seed=seed, n_seeds=filter_seeds, progress=progress)
    info["filter seconds"] = round(filter_run.seconds, 2)

    def later_sections(rep: Any) -> None:
        from .report import add_mapper_section
        from .viz.mapper_html import render_explorer

        add_mapper_section(rep, mapper_run, layer="relu3",
                           explorer_html=render_explorer(mapper_run.payload))
        graph_run.add_to(rep)
        from .report import add_filters_section

        add_filters_section(rep, filter_run, title="Topology of the first-layer filters")

    return analyze_activations(
        acts, out=out, title="topolens demo: activation topology of a small CNN on MNIST",
        n_inputs=per_resample, n_neurons=n_neurons, n_resamples=n_resamples, seed=seed, progress=progress,
        info=info, pre_sections=training_section, extra_sections=later_sections,
        predictions=predictions, expected_accuracy=train_acc,
    )
