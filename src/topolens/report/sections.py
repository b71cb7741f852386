"""Report sections built from analysis results. Each later analysis adds its own builder here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..topology import ActivationDiagrams
from ..vectorize import summary_statistics
from .html import Callout, Figure, Grid, KeyValue, RawHTML, Report, Section, Table, Text

__all__ = [
    "HOW_TO_READ",
    "activation_summary_table",
    "add_activation_topology_section",
    "add_filters_section",
    "add_gap_prediction_section",
    "add_mapper_section",
    "add_weight_graph_section",
    "display_parameters",
]

#: A short "how to read this" per kind of section, for a reader new to the methods.
HOW_TO_READ: dict[str, str] = {
    "run": (
        "What was analysed: the weights (when a file was given, with its SHA-256, to check that "
        "it is the file you think), the data and split, the layers, and the model's accuracy on the very inputs "
        "recorded. A warning box means the results probably do not describe the model as it was "
        "trained (most often: the inputs were not normalised as in training)."
    ),
    "activation topology": (
        "Each neuron is a point, and two neurons are close when their activations are strongly "
        "correlated. A dot (birth, death) in the persistence diagram is a feature of that cloud: "
        "H0 dots are groups of neurons merging at 'death', H1 dots are loops; dots far from the "
        "diagonal are robust structure, dots near it are noise.\n\n"
        "The barcode draws the same features as bars from birth to death (longer = more "
        "persistent). A Betti curve counts the features alive at each filtration value: H0 the "
        "clusters of neurons, H1 the loops; the summary table averages these over resamples."
    ),
    "mapper": (
        "Each node is a cluster of inputs whose activations are similar and whose lens value "
        "falls in the same interval; an edge joins two clusters that share inputs, and a node's "
        "size grows with its number of inputs.\n\n"
        "Pie slices give the classes in a node: pure branches that stay apart mean the layer "
        "separates the classes, mixed nodes and bridges are where the network confuses them "
        "(compare the misclassified share). Click a node to see its inputs."
    ),
    "weight graphs": (
        "Neural persistence measures how a layer's large weights are organised, normalised to "
        "[0, 1]: near 1, a few strong connections dominate; near 0, the weights are spread "
        "evenly; it tends to rise during training and plateau when learning stops.\n\n"
        "Each drawing shows the strongest connections one input activates (its most persistent "
        "subgraph): red dots are neurons, blue lines connections, darker when stronger. An "
        "adversarial input that moves this subgraph is one the topology can detect."
    ),
    "training": (
        "The loss should fall and the accuracy rise with each epoch; a test accuracy far below "
        "the train accuracy means over-fitting. The topology in the next sections is that of "
        "the model at the last epoch."
    ),
    "filters": (
        "Each filter is a point on a sphere (mean-centred, divided by its contrast). The Betti numbers "
        "of the dominant bars (b0, b1, b2) tell the models apart: the primary circle (edges at every "
        "angle) gives (1, 1, 0), one long H1 bar; the three-circle model (the primary circle and two "
        "secondary ones, each meeting it twice) (1, 5, 0); a Klein bottle (1, 2, 1) over Z/2 but "
        "(1, 1, 0) over Z/3, because one of its H1 classes and its H2 class need Z/2 coefficients: "
        "compare the two fields (a torus gives (1, 2, 1) over both). Bars shorter than the connection "
        "scale are sampling noise; a set that matches none of these has no such shape at this density.\n\n"
        "On the Klein-bottle plot, points near the green lines are edge filters (the primary circle), "
        "near the purple ones line or bar filters (the secondary circles). A share near 1 within cosine "
        "0.9 of the circle means the filters are mostly edge detectors."
    ),
    "generalization": (
        "Each row predicts a model's generalization gap (train minus test accuracy) from some "
        "features: R^2 near 1 and Kendall's tau near 1 mean accurate predictions; R^2 at or "
        "below 0 is no better than always predicting the mean gap.\n\n"
        "In the scatter plots, each point is a model: its out-of-fold predicted gap against the "
        "true one; points on the diagonal are predicted exactly."
    ),
}

_PARAMETER_DEFAULTS = {
    "threshold": "none (full filtration)",
    "n_inputs": "all",
    "n_neurons": "all",
    "layers": "all",
    "backend": "auto",
    "device": "auto",
}


def display_parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with every absent value (None, empty) spelled out for a reader.

    ``threshold=None`` becomes ``"none (full filtration)"``, ``layers=None`` or ``[]`` and
    ``n_inputs``/``n_neurons=None`` become ``"all"``; other absent values become ``"default"``.
    """
    out: dict[str, Any] = {}
    for k, v in params.items():
        empty = v is None or (isinstance(v, (str, list, tuple, dict)) and len(v) == 0)
        out[k] = _PARAMETER_DEFAULTS.get(k, "default") if empty else v
    return out


#: Bars drawn per dimension in a report's barcodes (the longest ones).
_BARCODE_BARS = 100

_COLUMNS = (
    "group", "neurons", "inputs", "dropped const.", "threshold", "H0 classes", "H1 classes",
    "H1 censored", "H0 mean life", "H1 mean life", "H1 max life", "H0 entropy", "H1 entropy",
)


def _mean_over_resamples(result: ActivationDiagrams, group: str, max_dim: int) -> dict[str, float]:
    stats = [summary_statistics(d, dims=tuple(range(max_dim + 1)), top_k=5) for d in result[group]]
    return {k: float(np.mean([s[k] for s in stats])) for k in stats[0]}


def activation_summary_table(result: ActivationDiagrams) -> tuple[list[list[Any]], list[str]]:
    """One row per group (layer): sample sizes and the main summaries, averaged over resamples."""
    rows: list[list[Any]] = []
    for group in result.groups:
        dgs = result[group]
        max_dim = min(d.max_dim for d in dgs)
        s = _mean_over_resamples(result, group, max_dim)
        meta = [d.metadata for d in dgs]
        thr = [m.get("threshold") for m in meta]
        h1 = max_dim >= 1
        rows.append([
            group,
            int(np.mean([m["n_points"] for m in meta])),
            int(np.mean([m.get("n_inputs", 0) for m in meta])),
            int(np.mean([m.get("n_constant_dropped", 0) for m in meta])),
            ("none (full filtration)" if all(t is None for t in thr)
             else float(np.mean([t for t in thr if t is not None]))),
            float(np.mean([d.n_classes(0) for d in dgs])),
            float(np.mean([d.n_classes(1) for d in dgs])) if h1 else float("nan"),
            int(sum(int(d.censored[1].sum()) for d in dgs)) if h1 else 0,
            s.get("H0_lifetime_mean", float("nan")),
            s.get("H1_lifetime_mean", float("nan")) if h1 else float("nan"),
            float(np.mean([d.lifetimes(1).max(initial=0.0) for d in dgs])) if h1 else float("nan"),
            s.get("H0_entropy", float("nan")),
            s.get("H1_entropy", float("nan")) if h1 else float("nan"),
        ])
    return rows, list(_COLUMNS)


def add_activation_topology_section(
    report: Report,
    result: ActivationDiagrams,
    *,
    title: str = "Activation topology",
    layer_info: Mapping[str, str] | None = None,
    seconds: float | None = None,
) -> Section:
    """Add diagrams, barcodes and Betti curves per group plus the summary table to ``report``.

    Parameters
    ----------
    report : Report
    result : ActivationDiagrams
        From :func:`topolens.topology.activation_persistence`.
    layer_info : mapping, optional
        Group name -> short description (e.g. the module type and output shape).
    seconds : float, optional
        Wall time of the persistence computation, shown under the heading.
    """
    from ..viz import plot_barcode, plot_betti_curves, plot_diagram
    from ..viz.diagrams import _bar_caps

    p = result.params
    intro = (
        "Persistent homology of neurons (Ballester et al., 2024): neurons are the points, "
        f"dissimilarity {p.get('metric', 'abs_correlation').replace('abs_correlation', '1 - |corr|')} "
        f"over a sample of inputs; H0..H{p.get('max_dim')} of the Vietoris-Rips filtration, "
        f"{p.get('n_resamples')} resample(s) per group (neuron sampling: {p.get('neuron_sampling')}). "
        "Censored classes (still alive at a threshold) are drawn hollow; the default (no "
        "threshold) has none."
    )
    computed = p.get("n_resamples_computed") or {}
    single = sorted(g for g, c in computed.items() if c == 1 and (p.get("n_resamples") or 1) > 1)
    if single:
        intro += (f" {', '.join(single)}: every input and every usable neuron were taken, so all "
                  "resamples would be identical and one was computed.")
    rows, cols = activation_summary_table(result)
    sec = report.add_section(title, [Table(rows, cols, caption="Summary per group (mean over resamples).")],
                             intro=intro, how_to_read=HOW_TO_READ["activation topology"],
                             seconds=seconds)
    sec.add(KeyValue(display_parameters(p), caption="Parameters of the analysis"))
    for group in result.groups:
        dgs = result[group]
        desc = (layer_info or {}).get(group)
        sec.add(Text(f"{group}" + (f": {desc}" if desc else "") + f" — first resample: "
                     f"{dgs[0].describe()}"))
        sec.add(Grid([
            Figure(plot_diagram(dgs[0], title=f"{group}: persistence diagram"),
                   caption=f"Persistence diagram of {group} (resample 0)."),
            Figure(plot_betti_curves(dgs, title=f"{group}: Betti curves"),
                   caption=f"Betti curves of {group}: mean and range over {len(dgs)} resample(s)."),
        ], min_width=420))
        # the barcode full width, so that every bar is drawn apart (click to enlarge)
        # (the caps plot_barcode uses: it may draw fewer than _BARCODE_BARS so that rows stay readable)
        counts = [dgs[0].n_classes(k) for k in dgs[0].dims]
        cut = any(c > cap for c, cap in zip(counts, _bar_caps(counts, _BARCODE_BARS, fit=True), strict=True))
        sec.add(Figure(plot_barcode(dgs[0], title=f"{group}: barcode", max_bars=_BARCODE_BARS),
                       wide=True, caption=f"Barcode of {group} (resample 0)" + (
                           ": only the longest bars of each dimension are drawn, the title says "
                           "how many shorter ones are left out." if cut else ": every bar is drawn.")))
    return sec


_PROTOCOLS = {
    "topolens": "topolens' protocol: ridge on all summaries, seeded 2-fold splits",
    "ballester2024": "Ballester et al.'s protocol: least squares on the paper's feature sets, "
                     "RepeatedKFold(n_splits=2, n_repeats=5, random_state=1)",
}


def add_gap_prediction_section(report: Report, result: Any, table: Any, *,
                               title: str = "Generalization-gap prediction") -> Section:
    """Add the predictor score table, predicted-vs-true scatters and feature correlations.

    Parameters
    ----------
    report : Report
    result : topolens.generalization.GapPrediction
    table : topolens.generalization.FeatureTable
    """
    from ..viz import plot_feature_correlations, plot_gap_scatter

    rows = result.rows()
    baseline_rows = set(table.baseline_names) | {"baselines", "margin_ls"}
    best_baseline = max((r for r in rows if r["predictor"] in baseline_rows),
                        key=lambda r: r["r2_mean"], default=None)
    shown = [result.reference] + ([best_baseline["predictor"]] if best_baseline else [])
    gaps = np.asarray(table.gaps)
    intro = (
        f"{len(table)} models. Each predictor regresses the gap (train minus test accuracy; "
        f"here {gaps.min():.3f} to {gaps.max():.3f}, mean {gaps.mean():.3f}) on its features "
        f"under 5x2-fold cross-validation ({_PROTOCOLS.get(result.protocol, result.protocol)}): R^2 on held-out folds, Kendall's tau of the "
        "out-of-fold predictions, the PGDL conditional mutual information (minimum over "
        "conditioning on any pair of varying hyperparameters) and Dietterich's 5x2cv paired t-test of "
        f"'{result.reference}' against each row (small p: the R^2 difference is unlikely "
        "under equal skill).")
    score_rows = [{k: (v if not isinstance(v, list) else ", ".join(map(str, v)))
                   for k, v in r.items()} for r in rows]
    blocks: list[Any] = [
        Table(score_rows, caption="Gap predictors (5x2-fold cross-validation)"),
        Grid([Figure(plot_gap_scatter(result, name),
                     caption=f"{name}: out-of-fold prediction vs true gap") for name in shown]
             + [Figure(plot_feature_correlations(result.per_feature),
                       caption="Features most rank-correlated with the gap")]),
        Table(result.per_feature[:30], caption="Per-feature Kendall tau and CMI with the gap "
              "(30 strongest)"),
        KeyValue(table.params.to_dict(), caption="Feature parameters"),
    ]
    return report.add_section(title, blocks, intro=intro, how_to_read=HOW_TO_READ["generalization"])


def _explorer_frame(report: Report, explorer_html: str, height: int, title: str) -> RawHTML:
    """An explorer page in a sandboxed iframe (why ``allow-same-origin``: see :func:`add_mapper_section`);
    the report then allows inline scripts."""
    import html as _html

    report.allow_scripts = True
    return RawHTML(
        f'<iframe class="tl-mapper" title="{_html.escape(title, quote=True)}" sandbox="allow-scripts allow-same-origin" '
        f'srcdoc="{_html.escape(explorer_html, quote=True)}" style="height:{int(height)}px"></iframe>',
        css=(".tl-mapper { width: 100%; border: 1px solid #d0d4da; border-radius: 6px; }\n"
             "@media print { .tl-mapper { break-inside: avoid; } }"))


def add_mapper_section(report: Report, run: Any, *, layer: str | None = None,
                       explorer_html: str | None = None, title: str = "Mapper of activations",
                       height: int = 720) -> Section:
    """Add a Mapper section: graph summaries per layer, the largest nodes, and the explorer.

    Parameters
    ----------
    report : Report
    run : topolens.pipeline.MapperRun
        Graphs and node statistics per layer.
    layer : str, optional
        The layer whose nodes are tabulated (default: the last one).
    explorer_html : str, optional
        The explorer document (:func:`topolens.viz.mapper_html.render_explorer`); embedded in a
        sandboxed ``iframe`` (``srcdoc``), which needs the report to allow inline scripts.

    Notes
    -----
    The iframe is sandboxed with ``allow-scripts allow-same-origin``. Without
    ``allow-same-origin`` its document has an opaque origin, and Chromium does not render an
    off-screen cross-origin frame at all: a full-page capture (or a print) of the report then
    shows an empty box where the explorer is. Same-origin is safe here: the only script that
    can run in the frame is the explorer's own (its Content-Security-Policy admits that
    script by hash, nothing else), and every text of the payload is escaped; the sandbox still
    forbids forms, pop-ups and navigating the report.
    """
    layer = layer if layer is not None else list(run.graphs)[-1]
    rows = []
    for name, g in run.graphs.items():
        s = g.summary()
        rows.append([name, g.n_points, s["n_nodes"], s["n_edges"], s["b0"], s["b1"],
                     s["coverage"], g.params.get("eps"), g.params.get("lens")])
    rows = [[("chosen per cover set" if v is None and j == 7 else v) for j, v in enumerate(r)] for r in rows]
    blocks: list[Any] = [Table(rows, ["layer", "inputs", "nodes", "edges", "components (b0)",
                                      "cycles (b1)", "coverage", "eps", "lens"],
                               caption="Mapper graphs (coverage: share of inputs in some node)")]
    g, st = run.graphs[layer], run.stats[layer]
    order = np.argsort(-g.sizes, kind="stable")[:12]
    node_rows = []
    for i in order:
        r = {"node": int(i), "size": int(g.sizes[i]),
             "top labels": ", ".join(f"{n} ({c})" for n, c in st.top_labels(int(i), 3))}
        if st.purity is not None:
            r["purity"] = float(st.purity[i])
        if st.mean_lens is not None:
            r["mean lens"] = float(st.mean_lens[i, 0])
        if st.misclassification is not None:
            r["misclassified"] = float(st.misclassification[i])
        node_rows.append(r)
    explained = ["top labels: its most frequent classes, with their number of inputs"]
    if st.purity is not None:
        explained.append("purity: the share of its inputs in its most frequent class")
    if st.mean_lens is not None:
        explained.append("mean lens: the mean lens value of its inputs")
    if st.misclassification is not None:
        explained.append("misclassified: the share of its inputs the model gets wrong")
    blocks.append(Table(node_rows, caption=f"Largest nodes of {layer} (size: number of inputs; "
                                           + "; ".join(explained) + ")"))
    if explorer_html is not None:
        blocks.append(_explorer_frame(report, explorer_html, height, "Mapper explorer"))
    params = g.params
    eps = params.get("eps")
    eps_text = f"{float(eps):.4g}" if isinstance(eps, (int, float, np.number)) else "chosen per cover set"
    intro = (
        f"TopoAct-style Mapper graphs: each input's activation vector is a point, the lens is "
        f"{params.get('lens') or 'the L2 norm'}, the cover is {params.get('cover') or 'uniform'}, and "
        f"DBSCAN (eps {eps_text}, min_samples "
        f"{params.get('min_samples') or 'default'}) clusters each cover set; nodes are clusters, edges join "
        "clusters that share inputs. Inputs DBSCAN calls noise are "
        + {"drop": "left out", "singletons": "kept as single-input nodes",
           "together": "kept as one node per cover set"}.get(params.get("noise"), "left out")
        + ". Click a node in the explorer to see its inputs; several layers are linked through "
        "their shared inputs.")
    if node_rows and "misclassified" not in node_rows[0]:
        blocks.insert(0, Text("No predictions were given, so the misclassified share of each node "
                              "is not shown."))
    return report.add_section(title, blocks, intro=intro, how_to_read=HOW_TO_READ["mapper"],
                              seconds=getattr(run, "seconds", None))


def add_weight_graph_section(report: Report, *, neural_persistence: Any = None, network: Any = None,
                             examples: Any = (), percentile: float | None = 90.0,
                             title: str = "Weight and induced graphs", intro: str | None = None,
                             attack: Mapping[str, Any] | None = None,
                             seconds: float | None = None) -> Section:
    """Add a section on the network's graphs: neural persistence and input-induced subgraphs.

    Parameters
    ----------
    report : Report
    neural_persistence : topolens.graphs.NeuralPersistence, optional
        Tabulated per layer (NP, normalised NP) with the mean normalised NP.
    network : topolens.graphs.UnrolledNetwork, optional
        Needed to draw the examples.
    examples : sequence of (label, image or None, InducedGraph[, dict])
        Inputs whose most persistent subgraph is drawn on the network's layers. The optional
        dict adds columns to the example's row (e.g. ``{"label": 7, "prediction": 7}``).
    percentile : float or None
        The cut the graphs were built with (for the text).
    attack : mapping, optional
        An adversarial example's outcome: ``eps``, ``input``, ``label``, ``clean prediction``,
        ``adversarial prediction`` (see :func:`topolens.pipeline.weight_graph_analysis`);
        the section then says whether the attack changed the prediction.
    seconds : float, optional
        Wall time of the computation, shown under the heading.
    """
    blocks: list[Any] = []
    if neural_persistence is not None:
        rows = neural_persistence.rows()
        rows.append({"layer": "mean (normalised)", "NP": "not averaged (scale differs per layer)",
                     "normalized NP": neural_persistence.mean_normalized})
        blocks.append(Table(rows, caption=f"Neural persistence per layer (p = {neural_persistence.p:g})"))
    if attack is not None:
        blocks.append(_attack_callout(attack))
    if examples:
        if network is None:
            raise TypeError("network= is needed to draw induced-graph examples")
        ex_rows, figs = _induced_examples(network, examples)
        blocks.append(Table(ex_rows, caption="Induced graphs of the example inputs (persistence in "
                                             "units of |w h(x)|)"))
        blocks.extend(figs)
    if intro is None:
        cut = (f"each layer's {percentile:g}th percentile" if percentile is not None
               else "zero")
        intro = (
            "Neural persistence (Rieck et al. 2019) is the p-norm of the H0 lifetimes of each layer's "
            "weight graph (weights normalised by the largest |w|, superlevel filtration). The induced "
            "graph of an input (Gebhart et al. 2019) weighs each connection by |w_uv h_u(x)|; keeping "
            f"the edges above {cut}, its H0 persistence groups the spanning-"
            "forest edges into persistent subgraphs. Drawn here: the most persistent subgraph of each "
            "example (with the younger subgraphs merged into it), columns being the network's layers."
        )
    return report.add_section(title, blocks, intro=intro, how_to_read=HOW_TO_READ["weight graphs"],
                              seconds=seconds)


def _attack_callout(attack: Mapping[str, Any]) -> Callout:
    """Whether the adversarial input changed the model's prediction, in words."""
    clean, adv = attack.get("clean prediction"), attack.get("adversarial prediction")
    label = attack.get("label")
    changed = clean != adv
    what = "changed the prediction" if changed else "did not change the prediction"
    text = (f"FGSM with eps {attack.get('eps', 'n/a')} on {attack.get('input', 'input 0')}: label "
            f"{label if label is not None else 'n/a'}, clean prediction {clean}, adversarial "
            f"prediction {adv}. The attack {what}"
            + ("." if label is None else
               f" (the clean prediction is {'right' if clean == label else 'wrong'}, the "
               f"adversarial one {'right' if adv == label else 'wrong'})."))
    return Callout(text, title=f"Adversarial example: the attack {what}", kind="note")


def _induced_examples(network: Any, examples: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    """One table row and one drawing per example (label, image, graph[, extra columns])."""
    from ..viz.induced import plot_subgraph, subgraph_persistence_text

    ex_rows: list[dict[str, Any]] = []
    figs: list[Any] = []
    for item in examples:
        label, image, g = item[:3]
        extra = dict(item[3]) if len(item) > 3 and item[3] else {}
        pers = g.subgraph_persistence
        finite = pers[np.isfinite(pers)]
        ex_rows.append({"input": str(label), **extra, "kept edges": int(g.edge_ids.size),
                        "subgraphs": g.n_subgraphs, "H0 points": len(g.diagram[0]),
                        "top subgraph own edges": int((g.subgraph == 0).sum()),
                        "top subgraph persistence": (subgraph_persistence_text(g, 0) if g.n_subgraphs
                                                     else "no subgraph"),
                        "largest finite persistence": (float(finite.max()) if finite.size
                                                       else "none (every subgraph is essential)")})
        if g.n_subgraphs:
            figs.append(Figure(plot_subgraph(network, g, 0, image=image), caption=(
                f"{label}: its most persistent subgraph (persistence {subgraph_persistence_text(g, 0)}). "
                "Red dots: neurons; blue lines: connections, darker = larger |w h(x)|"
                + ("; right: the input in grey levels, its pixels in the subgraph circled in red."
                   if image is not None else "."))))
        else:
            figs.append(Text(f"{label}: no edge with a positive weight, nothing to draw."))
    return ex_rows, figs


def _filter_parameter_rows(run: Any) -> dict[str, Any]:
    """The parameter table of the filter section, in words where a value is absent."""
    p = run.params
    dens = run.density
    thr = p.get("threshold")
    meta = next(iter(run.diagrams.values())).metadata if run.diagrams else {}
    return {
        "what": run.kind + f" ({run.filters.kernel_size}x{run.filters.kernel_size})",
        "filters analysed": p.get("n_filters"),
        "constant filters dropped": p.get("n_dropped_constant"),
        "density filtration": (f"X(k={dens.k}, p={dens.p:g}): the {len(run.core)} densest, radius "
                               f"{dens.radius:.4g}" if dens is not None else
                               f"skipped (k={p.get('k')} needs more than {p.get('k')} filters): all "
                               f"{len(run.core)} in the core"),
        "landmarks": ("no persistence computed" if not meta else
                      f"none: all {meta.get('n_landmarks')} core filters are points"
                      if meta.get("n_landmarks") == meta.get("n_filters") else
                      f"{meta.get('n_landmarks')} max-min landmarks of {meta.get('n_filters')} (covering radius "
                      f"{float(meta.get('covering_radius', 0.0)):.4g})"),
        "threshold": "none (full filtration)" if thr is None else f"{float(thr):.4g}",
        "distance": p.get("metric"),
        "coefficients": p.get("coefficients"),
        "circle cosine": p.get("circle_cos"),
        "seed": p.get("seed"),
        **{str(k): v for k, v in run.provenance.items()},
    }


def _filter_persistence_rows(run: Any) -> list[dict[str, Any]]:
    rows = []
    for prime, d in (run.diagrams or {}).items():
        for k in d.dims:
            life = np.sort(d.lifetimes(k))[::-1]
            fin = life[np.isfinite(life)]
            rows.append({"field": f"Z/{prime}", "dimension": f"H{k}", "classes": d.n_classes(k),
                         "never die": len(d.essential(k)), "censored": int(np.asarray(d.censored[k]).sum()),
                         "longest finite bars": ", ".join(f"{v:.3g}" for v in fin[:4]) or "none",
                         "ratio 1st / 2nd": (f"{fin[0] / fin[1]:.2f}" if len(fin) > 1 and fin[1] > 0 else "n/a")})
    return rows


def add_filters_section(report: Report, run: Any, *, title: str = "Topology of the convolution filters",
                        explorer: bool = True, height: int = 640, n_thumbnails: int = 30) -> Section:
    """Add the filter-space section: persistence over Z/2 and Z/3, the Klein bottle, the circle share,
    the parameters and the Mapper explorer of the filters.

    Parameters
    ----------
    report : Report
    run : topolens.pipeline.FilterRun
        From :func:`topolens.pipeline.filter_analysis`.
    explorer : bool
        Embed the Mapper explorer (when the run has one); the report then allows inline scripts.
    height : int
        Height of the explorer's frame in pixels.
    n_thumbnails : int
        Filter thumbnails drawn on the Klein-bottle scatter.
    """
    from ..viz import plot_barcode, plot_diagram
    from ..viz.filters import plot_filter_grid, plot_klein_scatter

    fs, cos = run.filters, run.params.get("circle_cos", 0.9)
    n = len(fs)
    what = fs.summary() if run.kind == "learned filters" else f"{n} {run.kind} ({fs.kernel_size}x{fs.kernel_size})."
    intro = (
        f"{what} Each filter is mean-centred and divided by its contrast (D-norm) and taken to "
        "its DCT coordinates on the unit sphere, where Euclidean distance is the D-distance of Carlsson "
        "et al. (2008); the density filtration keeps the filters with the most close neighbours, and its "
        "core's Vietoris-Rips persistence is computed over Z/2 and Z/3. "
        f"{run.circle_share:.1%} of the {n} filters ({run.circle_share_core:.1%} of the core) lie within "
        f"cosine {cos:g} of a filter of the primary circle (a pure edge).")
    blocks: list[Any] = [Callout(note, title="Note", kind="note") for note in run.notes]
    blocks.append(KeyValue(_filter_parameter_rows(run), caption="Parameters and provenance"))
    cosine = run.coordinates.cosine
    in_core = np.isin(run.coordinate_index, run.core)
    medians = [f"{np.median(c[np.isfinite(c)]):.3f}" if np.isfinite(c).any() else "n/a"
               for c in (cosine, cosine[in_core])]
    blocks.append(Table([
        [f"filters within cosine {cos:g} of the primary circle", f"{run.circle_share:.3f}",
         f"{run.circle_share_core:.3f}"],
        ["median cosine to the nearest Klein-bottle filter", *medians],
    ], ["", "all filters", "density core"], caption="How close the filters are to the circle and Klein models "
        "(cosine of the D-normalised filters; 1: on the model)"))
    if run.diagrams:
        blocks.append(Table(
            [[f"Z/{q}", "(" + ", ".join(map(str, b["betti"])) + ")", f"{b['scale']:.3g}"]
             for q, b in run.dominant_betti().items()],
            ["field", "(b0, b1, ...)", "connection scale eps"],
            caption="Betti numbers of the dominant bars: H0 classes that never die, and bars of each higher "
                    "dimension longer than eps, the core's longest finite H0 bar (the scale at which it connects)"))
        blocks.append(Table(_filter_persistence_rows(run), caption="Persistence of the core (landmarks)"))
        blocks.append(Grid([Figure(plot_diagram(d, title=f"Z/{p}: persistence diagram"),
                                   caption=f"Persistence diagram of the core over Z/{p}.")
                            for p, d in run.diagrams.items()], min_width=380))
        blocks.extend(Figure(plot_barcode(d, title=f"Z/{p}: barcode", max_bars=30), wide=True,
                             caption=f"Barcode of the core over Z/{p} (at most the 30 longest bars per dimension).")
                      for p, d in run.diagrams.items())
    imgs = fs.images()[run.coordinate_index]
    blocks.append(Grid([
        Figure(plot_klein_scatter(run.coordinates, imgs, n_thumbnails=n_thumbnails, seed=run.params.get("seed", 0)),
               caption="The filters on the Klein bottle: (theta1, theta2) of the nearest bottle filter, over the "
                       "fundamental domain (arrows: edges glued, the left and right ones with a flip); colour: "
                       "cosine to that filter; thumbnails: a spread-out sample."),
        Figure(plot_filter_grid(fs.subset(run.core), title="Core filters"),
               caption="Filters of the density core (red positive, blue negative)."),
    ], min_width=420))
    if run.mapper is not None:
        s = run.mapper.graph_.summary()
        blocks.append(Text(f"Mapper of the core (lens: its two principal components): {s['n_nodes']} nodes, "
                           f"{s['n_edges']} edges, {s['b0']} component(s), {s['b1']} cycle(s) (with a 2-D lens "
                           "the cells of the cover overlap in fours, so the graph has small triangles even "
                           "where the filters have no loop: read its shape, and count loops in the "
                           "persistence above). Pie slices: "
                           f"filters near the primary circle (cosine >= {cos:g}) or off it; click a node for "
                           "its filters."))
        if explorer and run.payload is not None:
            from ..viz.mapper_html import render_explorer

            blocks.append(_explorer_frame(report, render_explorer(run.payload, title="Mapper of the filters"),
                                          height, "Mapper explorer of the filters"))
    return report.add_section(title, blocks, intro=intro, how_to_read=HOW_TO_READ["filters"],
                              seconds=run.seconds)
