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
    """What :func:`analyze` and :func:`run_demo` produce."""

    activations: Activations
    diagrams: ActivationDiagrams
    report_path: Path | None
    info: dict[str, Any] = field(default_factory=dict)


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
    extra_sections : callable, optional
        ``f(report)`` adding sections after the activation-topology section.
    pre_sections : callable, optional
        ``f(report)`` adding sections before it (e.g. how the model was trained).
    """
    kw = dict(n_inputs=n_inputs, n_neurons=n_neurons, n_resamples=n_resamples, max_dim=max_dim,
              threshold=threshold, neuron_sampling=neuron_sampling, seed=seed, device=device,
              progress=progress)
    t0 = time.perf_counter()
    result = activation_persistence(activations, group="layer", **kw)
    if include_all and len(activations) > 1:
        allres = activation_persistence(activations, group="all", **kw)
        for store in ("diagrams", "input_indices", "neuron_indices"):
            getattr(result, store).update(getattr(allres, store))
    info = dict(info or {})
    info["persistence seconds"] = round(time.perf_counter() - t0, 2)
    logger.info("activation persistence done in %.1f s", info["persistence seconds"])
    report_path = None
    if out is not None:
        report_path = _write_report(activations, result, Path(out), title, info, extra_sections,
                                    pre_sections)
    return AnalysisResult(activations, result, report_path, info)


def _write_report(activations: Activations, result: ActivationDiagrams, out: Path, title: str,
                  info: dict[str, Any], extra_sections: Any, pre_sections: Any = None) -> Path:
    import torch

    from .report import KeyValue, Report, add_activation_topology_section

    out.mkdir(parents=True, exist_ok=True)
    for group, dgs in result.diagrams.items():
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in group)
        for r, dg in enumerate(dgs):
            dg.save(out / "diagrams" / f"{safe}_resample{r}.npz")
    rep = Report(title, subtitle="Topological analysis of a neural network's activations",
                 parameters=result.params)
    env = {"topolens": __version__, "torch": torch.__version__, "python": platform.python_version(),
           "device": "cuda" if torch.cuda.is_available() else "cpu"}
    rep.add_section("Run", [KeyValue({**info, **env}, caption="Run information")],
                    intro="What was analysed and how long it took.")
    if pre_sections is not None:
        pre_sections(rep)
    layer_info = {name: f"output shape {tuple(activations.shapes.get(name, ()))}, "
                        f"{activations[name].shape[1]} neurons" for name in activations}
    layer_info["all"] = "all recorded layers' neurons together"
    add_activation_topology_section(rep, result, layer_info=layer_info)
    if extra_sections is not None:
        extra_sections(rep)
    path = rep.write(out / "report.html")
    logger.info("report written to %s", path)
    return path


def analyze(model: Any, data: Any, *, layers: Any = None, reduce: str = "flatten",
            batch_size: int = 256, max_inputs: int | None = None, store: str | Path | None = None,
            **kwargs: Any) -> AnalysisResult:
    """Record ``model``'s activations on ``data`` and run :func:`analyze_activations`.

    ``layers``, ``reduce``, ``batch_size``, ``max_inputs`` and ``store`` go to
    :func:`topolens.record_activations`; everything else to :func:`analyze_activations`.
    """
    progress = kwargs.get("progress", True)
    acts = record_activations(model, data, layers, batch_size=batch_size, reduce=reduce,
                              max_inputs=max_inputs, store=store, progress=progress)
    info = {"model": type(model).__name__, "inputs recorded": acts.n_inputs,
            "layers": ", ".join(acts), **kwargs.pop("info", {})}
    return analyze_activations(acts, info=info, **kwargs)


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
) -> MapperRun:
    """Mapper graphs of one or more layers' activations, node statistics, and the explorer.

    Parameters
    ----------
    activations : Activations or mapping of layer name -> array (n_inputs, n_neurons)
        The inputs are the points. Every layer must hold the same inputs.
    labels, predictions : array-like (n_inputs,), optional
        Classes of the inputs, and the model's predictions coded the same way: class codes
        0..C-1 (named by ``class_names``) or any values such as strings (default labels:
        ``activations.labels`` when present). See :func:`topolens.mapper.stats.encode_labels`.
    images : array-like, optional
        The inputs as images, shown in the explorer's node inspector.
    class_names : sequence of str, optional
    out : path, optional
        Folder for ``mapper.html`` (the explorer) and ``graphs/<layer>.json``, ``.graphml``
        and ``_nodes.csv``; None computes only.
    lens, cover, n_intervals, overlap, eps, eps_quantile, min_samples, noise
        See :class:`topolens.mapper.Mapper`.
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
    if labels is None:
        labels = getattr(activations, "labels", None)
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
    run = MapperRun(mappers, graphs, stats)
    from .viz.mapper_payload import ExplorerLayer, explorer_payload

    run.payload = explorer_payload(
        [ExplorerLayer(k, graphs[k], stats[k]) for k in names], labels=labels,
        class_names=class_names if labels is not None else None,
        predictions=predictions, images=images, images_per_node=images_per_node, title=title,
        seed=seed)
    if out is not None:
        from .viz.mapper_html import write_explorer

        out = Path(out)
        run.explorer_path = write_explorer(run.payload, out / "mapper.html", title=title)
        run.files.append(run.explorer_path)
        for name in names:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
            run.files.append(graphs[name].save(out / "graphs" / f"{safe}.json"))
            run.files.append(graphs[name].write_graphml(out / "graphs" / f"{safe}.graphml"))
            run.files.append(atomic_write_text(out / "graphs" / f"{safe}_nodes.csv",
                                               _nodes_csv(stats[name])))
    return run


@dataclass
class WeightGraphRun:
    """Neural persistence of a model and the induced graphs of a few example inputs."""

    neural_persistence: Any
    network: Any
    examples: list[tuple[str, Any, Any]]
    seconds: float
    percentile: float = 90.0

    def add_to(self, report: Any) -> Any:
        from .report import add_weight_graph_section

        return add_weight_graph_section(report, neural_persistence=self.neural_persistence,
                                        network=self.network, examples=self.examples,
                                        percentile=self.percentile)


def weight_graph_analysis(model: Any, x: Any, y: Any = None, *, n_examples: int = 2, eps: float | None = 0.1,
                          percentile: float = 90.0) -> WeightGraphRun:
    """Neural persistence of ``model`` and induced graphs of its first ``n_examples`` inputs.

    With ``eps``, the FGSM adversarial version of the first input is added as an example, so
    the report shows how its most persistent subgraph moves.
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
    xs, labels = [x], [f"input {i}" + (f" (label {int(y[i])})" if y is not None else "") for i in range(len(x))]
    if eps is not None and y is not None:
        xs.append(fgsm(model, x[:1], y[:1], eps).detach().cpu())
        labels.append(f"input 0, FGSM eps {eps:g}")
    import torch

    xx = torch.cat([torch.as_tensor(a).float() for a in xs])
    graphs, out = induced_graphs(net, xx, percentile=percentile, return_outputs=True)
    labels = [f"{lab}, predicted {int(o.argmax())}" for lab, o in zip(labels, out, strict=True)]
    # an image panel for image inputs (C, H, W) only
    examples = [(lab, xx[i].numpy() if xx.ndim == 4 else None, g)
                for i, (lab, g) in enumerate(zip(labels, graphs, strict=True))]
    return WeightGraphRun(npers, net, examples, time.perf_counter() - t0, percentile)


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
    acts = record_activations(model, (x_tr[rows], y_tr[rows]), layers, batch_size=500, progress=False)
    info = {
        "model": "SmallCNN (conv-pool-conv-pool-fc-fc)",
        "data": f"bundled MNIST sample: {len(x_tr)} train / {len(x_te)} test images",
        "epochs": epochs, "training seconds": round(hist.seconds, 1),
        "train accuracy": round(hist.train_accuracy[-1], 4),
        "test accuracy": round(evaluate(model, x_te, y_te), 4),
        "inputs for topology": len(rows),
    }

    def training_section(rep: Any) -> None:
        from .viz import plot_training_history

        rep.add_section("Training", [
            Table([[e + 1, hist.train_loss[e], hist.train_accuracy[e], hist.test_accuracy[e]]
                   for e in range(epochs)], ["epoch", "train loss", "train acc.", "test acc."]),
            Figure(plot_training_history(hist), caption="Loss and accuracy per epoch."),
        ], intro="The demo model and how it learned.")

    # Mapper (TopoAct) of the penultimate layer, linked with pool2 through the shared inputs
    mapper_layers = {"pool2": acts["pool2"], "relu3": acts["relu3"]}
    t0 = time.perf_counter()
    mapper_run = mapper_analysis(
        mapper_layers, labels=y_tr[rows].numpy(), predictions=acts["fc2"].argmax(axis=1),
        images=x_tr[rows], out=out, seed=seed, progress=progress,
        title="Mapper of the demo CNN's activations (pool2, relu3) on MNIST")
    info["mapper seconds"] = round(time.perf_counter() - t0, 2)

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
        n_inputs=None, n_neurons=n_neurons, n_resamples=n_resamples, seed=seed, progress=progress,
        info=info, pre_sections=training_section, extra_sections=later_sections,
    )
