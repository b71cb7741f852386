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

__all__ = ["AnalysisResult", "MapperRun", "analyze", "mapper_analysis", "run_demo"]

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


def run_demo(
    out: str | Path = "topolens-report",
    *,
    epochs: int = 5,
    n_inputs: int = 1000,
    n_neurons: int = 400,
    n_resamples: int = 5,
    seed: int = 0,
    progress: bool = True,
) -> AnalysisResult:
    """The main job: train a small CNN on the bundled MNIST sample (CPU, about a minute),
    record activations of its hidden layers on training inputs and write the report.
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

    def later_sections(rep: Any) -> None:
        from .report import add_mapper_section
        from .viz.mapper_html import render_explorer

        add_mapper_section(rep, mapper_run, layer="relu3",
                           explorer_html=render_explorer(mapper_run.payload))
        graph_run.add_to(rep)

    return analyze_activations(
        acts, out=out, title="topolens demo: activation topology of a small CNN on MNIST",
        n_inputs=per_resample, n_neurons=n_neurons, n_resamples=n_resamples, seed=seed, progress=progress,
        info=info, pre_sections=training_section, extra_sections=later_sections,
        predictions=predictions, expected_accuracy=train_acc,
    )
