"""Generalization-gap prediction from activation topology (Ballester et al. 2024).

The workflow over a :mod:`topolens.zoo` of trained models::

    from topolens.zoo import Zoo
    from topolens.generalization import FeatureParams, zoo_features, predict_gap

    zoo = Zoo.load("my-zoo")
    table = zoo_features(zoo, FeatureParams(n_inputs=500, n_neurons=500, n_resamples=5))
    result = predict_gap(table)
    print(result.to_markdown())

Modules: :mod:`~.features` (topological features and caching), :mod:`~.baselines`
(PGDL baselines), :mod:`~.scores` (R^2 under 5x2-fold CV, Kendall's tau, conditional
mutual information, Dietterich's 5x2cv t-test), :mod:`~.predict` (all of it per predictor).
"""

from .baselines import (
    BASELINE_NAMES,
    baseline_measures,
    distance_from_init,
    norm_measures,
    output_margin,
    weight_matrices,
)
from .features import (
    PAPER_PARAMS,
    PRESETS,
    FeatureParams,
    FeatureTable,
    ImportanceSample,
    feature_layers,
    hidden_layers,
    importance_sample_activations,
    model_features,
    topological_features,
    weighted_layers,
    zoo_features,
)
from .predict import (
    PROTOCOLS,
    GapPrediction,
    PredictorScore,
    default_predictors,
    paper_predictors,
    predict_gap,
)
from .scores import (
    CMIResult,
    CVResult,
    TTestResult,
    compare_predictors,
    conditional_mutual_information,
    five_by_two_splits,
    kendall_tau,
    paired_5x2cv_ttest,
    repeated_cv_r2,
    repeated_kfold_splits,
)

__all__ = [
    "BASELINE_NAMES",
    "PAPER_PARAMS",
    "PRESETS",
    "PROTOCOLS",
    "CMIResult",
    "CVResult",
    "FeatureParams",
    "FeatureTable",
    "GapPrediction",
    "ImportanceSample",
    "PredictorScore",
    "TTestResult",
    "baseline_measures",
    "compare_predictors",
    "conditional_mutual_information",
    "default_predictors",
    "distance_from_init",
    "feature_layers",
    "five_by_two_splits",
    "hidden_layers",
    "importance_sample_activations",
    "kendall_tau",
    "model_features",
    "norm_measures",
    "output_margin",
    "paired_5x2cv_ttest",
    "paper_predictors",
    "predict_gap",
    "repeated_cv_r2",
    "repeated_kfold_splits",
    "topological_features",
    "weight_matrices",
    "weighted_layers",
    "zoo_features",
]
