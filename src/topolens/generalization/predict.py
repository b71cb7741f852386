"""Predict the generalization gap of a zoo's models and score every predictor honestly.

:func:`predict_gap` regresses the gaps on each predictor's features under the same 5x2-fold
repeated cross-validation (Ballester et al. 2024) and reports, per predictor:

* R^2 on the held-out folds (mean and standard deviation over the 10 folds);
* Kendall's tau between out-of-fold predictions and gaps (mean over repeats);
* the PGDL conditional mutual information (Jiang et al. 2020) of the out-of-fold
  prediction, averaged over repeats, minimised over conditioning on pairs of varying hyperparameters;
* Dietterich's 5x2cv paired t-test of the reference predictor (default ``"topology"``)
  against it, on the fold R^2 values.

Predictors: ``topology`` (all topological features; standardised ridge regression whose
penalty is chosen by leave-one-out *inside each training fold*, so nothing is tuned on a
test fold), ``topology_linear`` (the same features, plain least squares as in the
paper), each baseline alone (least squares on one feature), ``baselines`` (all baselines,
ridge as above) and ``mean_gap`` (always predicts the training folds' mean gap).

``protocol="ballester2024"`` (:func:`paper_predictors`) runs Ballester et al.'s own protocol
on a table computed with ``FeatureParams.preset("ballester2024")``: plain least squares
(``LinearRegression``) on the paper's best set (``paper_best``) and on its 4-number H1 set
(``paper_h1``), topolens' ridge on topolens' summaries (``topology``), each baseline alone
(least squares), all baselines (ridge), the margin through the same least squares as
``paper_best`` (``margin_ls``) and ``mean_gap``; every row on the splits of
``RepeatedKFold(n_splits=2, n_repeats=5, random_state=1)`` over the models in table order, the
R^2 spread as the authors' ``pandas.DataFrame.std`` (``ddof=1``), and the 5x2cv t-test of
``paper_best`` against every row (:func:`~topolens.generalization.scores.paired_5x2cv_ttest`,
which is the authors' ``compute_significance_test``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..exceptions import InvalidInputError
from .features import FeatureTable
from .scores import (
    CMIResult,
    compare_predictors,
    conditional_mutual_information,
    kendall_tau,
    repeated_kfold_splits,
)

__all__ = ["PROTOCOLS", "GapPrediction", "PredictorScore", "default_predictors", "paper_predictors",
           "predict_gap"]

#: Scoring protocols of :func:`predict_gap`.
PROTOCOLS = ("topolens", "ballester2024")

RIDGE_ALPHAS = np.logspace(-3, 4, 15)


def _ridge() -> Any:
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS))


@dataclass(frozen=True, eq=False)
class PredictorScore:
    """Scores of one predictor (see the module docstring)."""

    name: str
    features: list[str]
    r2_mean: float
    r2_std: float
    kendall_tau: float
    cmi: CMIResult | None
    t: float | None
    p_value: float | None
    predictions: np.ndarray  # out-of-fold predictions averaged over repeats


@dataclass(frozen=True, eq=False)
class GapPrediction:
    """Result of :func:`predict_gap`."""

    predictors: list[PredictorScore]
    reference: str
    gaps: np.ndarray
    per_feature: list[dict[str, Any]] = field(default_factory=list)
    protocol: str = "topolens"

    def __getitem__(self, name: str) -> PredictorScore:
        for p in self.predictors:
            if p.name == name:
                return p
        raise KeyError(f"No predictor {name!r}; known: {[p.name for p in self.predictors]}")

    def rows(self) -> list[dict[str, Any]]:
        """One dict per predictor (JSON-ready)."""
        out = []
        for p in self.predictors:
            out.append({
                "predictor": p.name, "n_features": len(p.features), "r2_mean": p.r2_mean,
                "r2_std": p.r2_std, "kendall_tau": p.kendall_tau,
                "cmi": None if p.cmi is None else p.cmi.score,
                "cmi_unconditional": None if p.cmi is None else p.cmi.unconditional,
                "cmi_argmin": None if p.cmi is None else list(p.cmi.argmin),
                "t_vs_reference": p.t, "p_vs_reference": p.p_value,
            })
        return out

    def to_markdown(self) -> str:
        """The score table as Markdown (``p`` is the 5x2cv test of the reference vs the row)."""
        head = (f"| predictor | features | R^2 (mean ± std) | Kendall tau | CMI | "
                f"p ({self.reference} vs row) |\n|---|--:|--:|--:|--:|--:|")
        lines = [head]
        for r in self.rows():
            cmi = "n/a" if r["cmi"] is None or not np.isfinite(r["cmi"]) else f"{r['cmi']:.3f}"
            p = "(reference)" if r["p_vs_reference"] is None else f"{r['p_vs_reference']:.3f}"
            tau = "n/a" if not np.isfinite(r["kendall_tau"]) else f"{r['kendall_tau']:.3f}"
            lines.append(f"| {r['predictor']} | {r['n_features']} | {r['r2_mean']:.3f} ± "
                         f"{r['r2_std']:.3f} | {tau} | {cmi} | {p} |")
        return "\n".join(lines)


def default_predictors(table: FeatureTable) -> tuple[dict[str, np.ndarray], dict[str, list[str]],
                                                      dict[str, Any]]:
    """Feature matrices, feature names and estimators of the standard predictors."""
    feats: dict[str, np.ndarray] = {"topology": table.topological,
                                    "topology_linear": table.topological}
    names: dict[str, list[str]] = {"topology": list(table.topological_names),
                                   "topology_linear": list(table.topological_names)}
    est: dict[str, Any] = {"topology": _ridge(), "baselines": _ridge()}
    for j, b in enumerate(table.baseline_names):
        feats[b] = table.baselines[:, [j]]
        names[b] = [b]
    feats["baselines"] = table.baselines
    names["baselines"] = list(table.baseline_names)
    feats["mean_gap"] = np.zeros((len(table), 0))
    names["mean_gap"] = []
    return feats, names, est


def paper_predictors(table: FeatureTable) -> tuple[dict[str, np.ndarray], dict[str, list[str]],
                                                    dict[str, Any]]:
    """The predictors of ``protocol="ballester2024"`` (see the module docstring).

    Raises
    ------
    InvalidInputError
        If the table lacks the paper's feature sets (``table.feature_sets``).
    """
    from sklearn.linear_model import LinearRegression

    sets = table.feature_sets
    if "paper_best" not in sets or "paper_h1" not in sets:
        raise InvalidInputError(
            f"the feature table has no paper feature sets (it has {sorted(sets)}); compute the "
            "features with FeatureParams.preset('ballester2024') (or summaries='ballester2024'), "
            "e.g. 'topolens zoo predict ZOO --preset ballester2024'.")

    def cols(ns: list[str]) -> np.ndarray:
        return np.column_stack([table.column(n) for n in ns])

    topo = sets.get("topolens", list(table.topological_names))
    feats = {"paper_best": cols(sets["paper_best"]), "paper_h1": cols(sets["paper_h1"]),
             "topology": cols(topo)}
    names = {"paper_best": list(sets["paper_best"]), "paper_h1": list(sets["paper_h1"]),
             "topology": list(topo)}
    est: dict[str, Any] = {"paper_best": LinearRegression(), "paper_h1": LinearRegression(),
                           "topology": _ridge(), "baselines": _ridge()}
    for j, b in enumerate(table.baseline_names):
        feats[b], names[b], est[b] = table.baselines[:, [j]], [b], LinearRegression()
    feats["baselines"], names["baselines"] = table.baselines, list(table.baseline_names)
    if "margin" in table.baseline_names:
        feats["margin_ls"], names["margin_ls"] = cols(["margin"]), ["margin"]
        est["margin_ls"] = LinearRegression()
    feats["mean_gap"], names["mean_gap"] = np.zeros((len(table), 0)), []
    return feats, names, est


def predict_gap(table: FeatureTable, *, protocol: str = "topolens", reference: str | None = None,
                n_repeats: int = 5, seed: int = 0, random_state: int = 1, max_conditioning: int = 2,
                predictors: tuple[dict[str, np.ndarray], dict[str, list[str]], dict[str, Any]]
                | None = None) -> GapPrediction:
    """Score gap predictors on a zoo's feature table (see the module docstring).

    Parameters
    ----------
    table : FeatureTable
        From :func:`topolens.generalization.zoo_features`.
    protocol : {"topolens", "ballester2024"}
        Predictors and splits: :func:`default_predictors` on :func:`five_by_two_splits`, or
        :func:`paper_predictors` on ``RepeatedKFold(n_splits=2, n_repeats, random_state)``.
    reference : str, optional
        Predictor tested against all the others (default ``"topology"``, or ``"paper_best"``
        under ``protocol="ballester2024"``).
    n_repeats, seed
        5x2-fold cross-validation: ``n_repeats`` repeats of 2 folds, splits from ``seed``
        (``protocol="topolens"``).
    random_state : int
        ``RepeatedKFold``'s random state under ``protocol="ballester2024"`` (the authors': 1).
    max_conditioning : int
        Largest conditioning set of the CMI score (PGDL: 2).
    predictors : (features, names, estimators), optional
        Custom predictors in the format of :func:`default_predictors`.
    """
    from .._validation import check_choice

    check_choice(protocol, "protocol", PROTOCOLS)
    paper = protocol == "ballester2024"
    if len(table) < 4:
        raise InvalidInputError(f"Need at least 4 models to cross-validate, the zoo has {len(table)}.")
    if predictors is None:
        predictors = paper_predictors(table) if paper else default_predictors(table)
    feats, names, est = predictors
    reference = reference if reference is not None else ("paper_best" if paper else "topology")
    if reference not in feats:
        raise InvalidInputError(f"reference {reference!r} is not a predictor; known: {sorted(feats)}.")
    y = np.asarray(table.gaps, dtype=np.float64)
    splits = repeated_kfold_splits(len(y), n_repeats, random_state) if paper else None
    comp = compare_predictors(feats, y, reference=reference, n_repeats=n_repeats, seed=seed,
                              estimator={k: est.get(k) for k in feats}, splits=splits)
    hp = {k: v for k, v in table.hyperparameters.items()}
    out = []
    for name, c in comp.items():
        pred = c.cv.predictions.mean(axis=0)
        cmi = _cmi(pred, y, hp, max_conditioning) if names[name] else None
        out.append(PredictorScore(
            name=name, features=names[name], r2_mean=c.cv.mean,
            r2_std=float(c.cv.scores.std(ddof=1)) if paper else c.cv.std,
            kendall_tau=c.kendall_tau, cmi=cmi,
            t=None if c.ttest is None else c.ttest.t,
            p_value=None if c.ttest is None else c.ttest.p_value, predictions=pred))
    per_feature = []
    for j, n in enumerate(list(table.topological_names) + list(table.baseline_names)):
        col = np.hstack([table.topological, table.baselines])[:, j]
        if np.ptp(col) == 0:
            continue
        cmi = _cmi(col, y, hp, max_conditioning)
        per_feature.append({"feature": n, "kendall_tau": kendall_tau(col, y),
                            "cmi": None if cmi is None else cmi.score})
    per_feature.sort(key=lambda d: -abs(d["kendall_tau"]) if np.isfinite(d["kendall_tau"]) else 0)
    return GapPrediction(out, reference, y, per_feature, protocol)


def _cmi(measure: np.ndarray, y: np.ndarray, hp: dict[str, list[Any]],
         max_conditioning: int) -> CMIResult | None:
    try:
        return conditional_mutual_information(measure, y, hp, max_conditioning=max_conditioning)
    except InvalidInputError:  # e.g. no pair with distinct gap and measure
        return None
