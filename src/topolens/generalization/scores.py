"""Scores of generalization-gap predictors over a zoo of trained models.

A *zoo* is a set of trained models; model ``i`` has a generalization gap ``g_i`` (train minus
test accuracy), a hyperparameter configuration (a dict of name -> hashable value) and a
vector of features or measure values. This module scores how well a measure predicts the
gaps, following the PGDL competition (Jiang et al. 2020, arXiv:2012.07976), "Fantastic
generalization measures" (Jiang et al. 2019, arXiv:1912.02178) and Ballester et al.
(Neurocomputing 2024):

* :func:`kendall_tau`: rank correlation of a measure with the gaps;
* :func:`conditional_mutual_information`: the PGDL / Fantastic conditional mutual information
  score, which discounts measures that only track one hyperparameter;
* :func:`repeated_cv_r2` on :func:`five_by_two_splits`: R^2 of a regression of the gap on
  features under 5x2-fold cross-validation, compared with :func:`paired_5x2cv_ttest`
  (Dietterich 1998); :func:`compare_predictors` runs all of it on identical splits.

All functions are pure: numpy arrays in, floats and frozen dataclasses out.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from .._validation import _to_numpy, check_choice, check_int
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError

__all__ = [
    "CMIResult",
    "CVResult",
    "PredictorComparison",
    "TTestResult",
    "compare_predictors",
    "conditional_mutual_information",
    "five_by_two_splits",
    "kendall_tau",
    "paired_5x2cv_ttest",
    "repeated_cv_r2",
    "repeated_kfold_splits",
]

Hyperparameters = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]


def _vector(x: Any, name: str, *, n: int | None = None, min_len: int = 2) -> np.ndarray:
    """Validate a finite 1-D float vector (of length ``n`` when given)."""
    arr = _to_numpy(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidInputError(f"{name} must be numeric, found dtype {arr.dtype}.")
    if arr.ndim != 1:
        raise ShapeError(
            f"{name} must be 1-D with one value per model, found shape {arr.shape}. "
            "Pass one number per model, e.g. x.ravel() for a column vector."
        )
    if n is not None and arr.shape[0] != n:
        raise ShapeError(
            f"{name} has {arr.shape[0]} value(s) but {n} model(s) were given; pass one value "
            "per model, in the same model order as the gaps."
        )
    if arr.shape[0] < min_len:
        raise InvalidInputError(
            f"{name} has {arr.shape[0]} value(s); at least {min_len} models are needed."
        )
    arr = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr))
        raise NonFiniteError(
            f"{name} contains {bad.size} NaN or infinite value(s) (first at index "
            f"{bad[:5].tolist()}). Drop those models or fix the computation that produced them."
        )
    return arr


# --------------------------------------------------------------------------- Kendall tau


def kendall_tau(measure: Any, gap: Any) -> float:
    """Kendall's tau-b rank correlation between a measure and the generalization gaps.

    Parameters
    ----------
    measure, gap : array-like of shape (n_models,)
        Finite values, ``n_models >= 2``.

    Returns
    -------
    float
        Tau-b in ``[-1, 1]``; ``nan`` if either input is constant (tau-b is undefined).
    """
    gap = _vector(gap, "gap")
    measure = _vector(measure, "measure", n=gap.shape[0])
    if np.ptp(gap) == 0 or np.ptp(measure) == 0:
        return float("nan")
    return float(stats.kendalltau(measure, gap, variant="b").statistic)


# --------------------------------------------------------------- conditional mutual information


@dataclass(frozen=True)
class CMIResult:
    """Result of :func:`conditional_mutual_information`.

    Attributes
    ----------
    score : float
        Minimum of ``per_set`` over the conditioning sets of the largest size (``nan`` if no
        such set had usable pairs; equal to ``unconditional`` when there are no conditioning
        sets).
    unconditional : float
        Normalised mutual information without conditioning, in ``[0, 1]``.
    per_set : dict
        Normalised conditional mutual information of each conditioning set (a tuple of
        hyperparameter names); ``nan`` where no group had enough pairs or the conditioning
        fixes the gap ordering of every pair (no entropy left to explain).
    argmin : tuple of str
        The conditioning set attaining ``score`` (``()`` when it is the unconditional value).
    n_pairs : int
        Number of unordered model pairs used for the unconditional value.
    """

    score: float
    unconditional: float
    per_set: dict[tuple[str, ...], float]
    argmin: tuple[str, ...]
    n_pairs: int


def _encode_hparams(hparams: Hyperparameters, n: int) -> tuple[list[str], np.ndarray]:
    """Integer codes of shape (n_models, n_hparams) and the hyperparameter names."""
    if isinstance(hparams, Mapping):
        columns = {str(k): list(v) for k, v in hparams.items()}
    else:
        rows = list(hparams)
        if not all(isinstance(r, Mapping) for r in rows):
            raise InvalidInputError(
                "hparams must be a sequence of dicts (one per model) or a dict mapping each "
                f"hyperparameter name to a sequence of values; found {type(hparams).__name__} "
                "holding non-dict items."
            )
        names = list(rows[0]) if rows else []
        for i, r in enumerate(rows):
            if set(r) != set(names):
                raise InvalidInputError(
                    f"hparams[{i}] has keys {sorted(map(str, r))} but hparams[0] has "
                    f"{sorted(map(str, names))}; every model must give the same hyperparameters."
                )
        if len(rows) != n:
            raise ShapeError(
                f"hparams has {len(rows)} model(s) but {n} gaps were given; pass one dict "
                "per model."
            )
        columns = {str(k): [r[k] for r in rows] for k in names}
    codes = np.zeros((n, len(columns)), dtype=np.int64)
    for c, (name, values) in enumerate(columns.items()):
        if len(values) != n:
            raise ShapeError(
                f"hyperparameter {name!r} has {len(values)} value(s) but {n} gaps were given; "
                "pass one value per model."
            )
        table: dict[Any, int] = {}
        try:
            codes[:, c] = [table.setdefault(v, len(table)) for v in values]
        except TypeError as exc:
            raise InvalidInputError(
                f"hyperparameter {name!r} has an unhashable value ({exc}); use numbers, strings "
                "or tuples."
            ) from None
    return list(columns), codes


def _normalised_cmi(
    group: np.ndarray, cell: np.ndarray, n_groups: int, min_group_pairs: int
) -> float:
    """``sum_u p(u) I(V_mu; V_g | u) / sum_u p(u) H(V_g | u)`` from oriented pairs.

    ``group`` labels each oriented pair with its conditioning value ``u``; ``cell`` indexes
    its ``(V_mu, V_g)`` combination as ``(v_mu + 1) * 2 + (v_g > 0)``.
    """
    counts = np.bincount(group * 6 + cell, minlength=n_groups * 6).reshape(n_groups, 3, 2)
    counts = counts[counts.sum(axis=(1, 2)) >= min_group_pairs].astype(np.float64)
    if counts.shape[0] == 0:
        return float("nan")
    n_g = counts.sum(axis=(1, 2))
    p = counts / n_g[:, None, None]
    p_mu, p_g = p.sum(axis=2), p.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = p / (p_mu[:, :, None] * p_g[:, None, :])
        mi = np.where(p > 0, p * np.log(np.where(p > 0, ratio, 1.0)), 0.0).sum(axis=(1, 2))
        h_g = -np.where(p_g > 0, p_g * np.log(np.where(p_g > 0, p_g, 1.0)), 0.0).sum(axis=1)
    w = n_g / n_g.sum()
    h = float(w @ h_g)
    if h <= 0:  # the conditioning fixes the gap ordering of every pair: nothing to explain
        return float("nan")
    return float(np.clip((w @ mi) / h, 0.0, 1.0))


def conditional_mutual_information(
    measure: Any,
    gap: Any,
    hparams: Hyperparameters,
    *,
    max_conditioning: int = 2,
    tie: str = "drop",
    min_group_pairs: int = 2,
) -> CMIResult:
    """Conditional mutual information score of a measure (Jiang et al. 2019 sec. 6; PGDL).

    Over the ordered pairs of distinct models ``(i, j)`` let ``V_g = sign(g_i - g_j)`` and
    ``V_mu = sign(mu_i - mu_j)`` (every unordered pair counts in both orientations, so the
    result does not depend on the order of the models). As in the PGDL scoring program, the
    conditioning variable of a set ``S`` of hyperparameters is the *pair* of assignments
    ``U_S = (S-values of model i, S-values of model j)``: pairs whose hyperparameters in
    ``S`` fix the gap ordering (e.g. a larger training set always generalizing better) carry
    no entropy, so a measure that only tracks those hyperparameters scores near 0. Then

    ``CMI_S = sum_u p(u) I(V_mu; V_g | U_S = u) / sum_u p(u) H(V_g | U_S = u)``

    with ``p(u)`` the fraction of pairs with ``U_S = u``; it lies in ``[0, 1]``. The score
    is the minimum of ``CMI_S`` over the sets of size ``max_conditioning`` (PGDL: all pairs
    of distinct hyperparameters; fewer if fewer hyperparameters are given). ``per_set``
    holds every set of size ``1 .. max_conditioning``; the unconditional value (``S``
    empty) is reported separately.

    Differences from the PGDL program, all deliberate: pairs of a model with itself and
    pairs with equal gaps are left out (PGDL counts them as "-"), groups are weighted by
    their share of pairs (Jiang et al. 2019's definition; PGDL averages groups equally) and
    groups with fewer than ``min_group_pairs`` pairs are skipped.

    Parameters
    ----------
    measure, gap : array-like of shape (n_models,)
        Measure values and generalization gaps, finite, ``n_models >= 2``.
    hparams : sequence of dict, or dict of name -> sequence
        Hyperparameter configuration of each model; values must be hashable.
    max_conditioning : int, default 2
        Largest conditioning set size. 0 (or no hyperparameters) gives score = unconditional.
    tie : {"drop", "half"}, default "drop"
        Pairs with equal measure values: dropped, or kept with ``V_mu = 0`` as a third
        symbol (which carries no information about ``V_g``). Pairs with equal gaps are
        always dropped.
    min_group_pairs : int, default 2
        Conditioning groups with fewer oriented pairs are left out of the average (a single
        pair is always "perfectly predicted"). A set with no group left gets ``nan``.

    Returns
    -------
    CMIResult
    """
    gap = _vector(gap, "gap")
    n = gap.shape[0]
    measure = _vector(measure, "measure", n=n)
    max_conditioning = check_int(max_conditioning, "max_conditioning", minimum=0)
    min_group_pairs = check_int(min_group_pairs, "min_group_pairs", minimum=1)
    check_choice(tie, "tie", ("drop", "half"))
    names, codes = _encode_hparams(hparams, n)

    i, j = np.triu_indices(n, k=1)
    v_g = np.sign(gap[i] - gap[j]).astype(np.int64)
    v_mu = np.sign(measure[i] - measure[j]).astype(np.int64)
    keep = v_g != 0
    if tie == "drop":
        keep &= v_mu != 0
    i, j, v_g, v_mu = i[keep], j[keep], v_g[keep], v_mu[keep]
    if i.size == 0:
        what = "different gaps" + (" and different measure values" if tie == "drop" else "")
        raise InvalidInputError(
            f"no pair of the {n} models has {what}, so the score is undefined. Use more models "
            "with distinct gaps" + (", or tie='half'." if tie == "drop" else ".")
        )
    # both orientations: (i, j) with (v_mu, v_g) and (j, i) with (-v_mu, -v_g)
    first, second = np.concatenate([i, j]), np.concatenate([j, i])
    v_mu, v_g = np.concatenate([v_mu, -v_mu]), np.concatenate([v_g, -v_g])
    cell = (v_mu + 1) * 2 + (v_g > 0)

    unconditional = _normalised_cmi(np.zeros(first.size, np.int64), cell, 1, min_group_pairs)
    per_set: dict[tuple[str, ...], float] = {}
    top = min(max_conditioning, len(names))
    for size in range(1, top + 1):
        for cols in itertools.combinations(range(len(names)), size):
            _, label = np.unique(codes[:, cols], axis=0, return_inverse=True)
            label = label.ravel()
            n_values = int(label.max()) + 1
            per_set[tuple(names[c] for c in cols)] = _normalised_cmi(
                label[first] * n_values + label[second], cell, n_values * n_values,
                min_group_pairs)
    finite = {s: v for s, v in per_set.items() if len(s) == top and np.isfinite(v)}
    if not per_set:
        score, argmin = unconditional, ()
    elif finite:
        argmin = min(finite, key=finite.__getitem__)
        score = finite[argmin]
    else:
        score, argmin = float("nan"), ()
    return CMIResult(score, unconditional, per_set, argmin, int(i.size))


# ------------------------------------------------------------------------ cross-validation


@dataclass(frozen=True, eq=False)
class CVResult:
    """Result of :func:`repeated_cv_r2`.

    Attributes
    ----------
    scores : ndarray of shape (n_repeats, n_splits)
        Held-out R^2 of each fold.
    mean, std : float
        Mean and standard deviation of ``scores``.
    predictions : ndarray of shape (n_repeats, n_samples)
        Out-of-fold predictions of each repeat.
    """

    scores: np.ndarray
    mean: float
    std: float
    predictions: np.ndarray


def _check_splits(n_samples: Any, n_repeats: Any, n_splits: Any, seed: Any,
                  seed_name: str) -> tuple[int, int, int, int]:
    """Validated ``(n_samples, n_repeats, n_splits, seed)`` of a repeated k-fold split."""
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    n_repeats = check_int(n_repeats, "n_repeats", minimum=1)
    n_splits = check_int(n_splits, "n_splits", minimum=2)
    seed = check_int(seed, seed_name, minimum=0)
    if n_samples < 2 * n_splits:
        raise InvalidInputError(
            f"{n_samples} sample(s) is too few for {n_splits}-fold cross-validation: each "
            f"fold needs at least 2 samples, so at least {2 * n_splits} are needed. Use more "
            "models or fewer folds."
        )
    return n_samples, n_repeats, n_splits, seed


def five_by_two_splits(
    n_samples: int, n_repeats: int = 5, seed: int = 0, *, n_splits: int = 2
) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """Repeated k-fold splits (5x2 by default), deterministic from ``seed``.

    Repeat ``r`` shuffles with ``KFold(shuffle=True)`` and a random state derived from
    ``(seed, r)`` only, so the first repeats do not change with ``n_repeats``. The test folds
    of a repeat partition ``range(n_samples)``; for 2 folds they swap train and test.

    Returns
    -------
    list of (repeat, fold, train_idx, test_idx)
    """
    from sklearn.model_selection import KFold

    n_samples, n_repeats, n_splits, seed = _check_splits(n_samples, n_repeats, n_splits, seed, "seed")
    out = []
    for r in range(n_repeats):
        state = int(np.random.SeedSequence([seed, r]).generate_state(1)[0] % (2**31 - 1))
        kf = KFold(n_splits=n_splits, shuffle=True, random_state=state)
        for f, (train, test) in enumerate(kf.split(np.zeros(n_samples))):
            out.append((r, f, train, test))
    return out


def repeated_kfold_splits(
    n_samples: int, n_repeats: int = 5, random_state: int = 1, *, n_splits: int = 2
) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """The splits of scikit-learn's ``RepeatedKFold(n_splits, n_repeats, random_state)``.

    Ballester et al.'s protocol (``RepeatedKFold(n_splits=2, n_repeats=5, random_state=1)``
    over the models in their order), in the format of :func:`five_by_two_splits`: split ``i``
    of ``RepeatedKFold.split`` is fold ``i % n_splits`` of repeat ``i // n_splits``.

    Returns
    -------
    list of (repeat, fold, train_idx, test_idx)
    """
    from sklearn.model_selection import RepeatedKFold

    n_samples, n_repeats, n_splits, random_state = _check_splits(n_samples, n_repeats, n_splits,
                                                                 random_state, "random_state")
    rkf = RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=random_state)
    return [(i // n_splits, i % n_splits, train, test)
            for i, (train, test) in enumerate(rkf.split(np.zeros(n_samples)))]


def _features(X: Any, n: int) -> np.ndarray:
    arr = _to_numpy(X)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ShapeError(
            f"X must have shape (n_samples, n_features) = ({n}, k), found shape {arr.shape}. "
            "Pass one row per model in the order of y (k = 0 gives the mean predictor)."
        )
    if not np.issubdtype(arr.dtype, np.number):
        raise InvalidInputError(f"X must be numeric, found dtype {arr.dtype}.")
    arr = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise NonFiniteError(
            f"X contains {int((~np.isfinite(arr)).sum())} NaN or infinite value(s); impute or "
            "drop those models/features first."
        )
    return arr


def repeated_cv_r2(
    X: Any,
    y: Any,
    *,
    n_repeats: int = 5,
    n_splits: int = 2,
    estimator: Any = None,
    seed: int = 0,
    splits: Sequence[tuple[int, int, np.ndarray, np.ndarray]] | None = None,
) -> CVResult:
    """Held-out R^2 of a regression of the gap ``y`` on features ``X`` (5x2-fold CV).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features of each model; a 1-D array is one feature. With 0 columns the "mean
        predictor" baseline is used (``DummyRegressor``: always predicts the training mean).
    y : array-like of shape (n_samples,)
        Generalization gaps, at least ``2 * n_splits`` of them.
    n_repeats, n_splits : int
        Folds of :func:`five_by_two_splits`.
    estimator : sklearn regressor, optional
        Cloned for every fold; default ``make_pipeline(StandardScaler(), LinearRegression())``.
    seed : int
        Seed of the splits; the same seed gives the same splits for any ``X``.
    splits : list of (repeat, fold, train_idx, test_idx), optional
        Explicit splits (e.g. :func:`repeated_kfold_splits`) instead of
        :func:`five_by_two_splits`; ``n_repeats`` and ``n_splits`` are then read from them.

    Returns
    -------
    CVResult
    """
    from sklearn.base import clone
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = _vector(y, "y", min_len=1)
    X = _features(X, y.shape[0])
    if splits is None:
        splits = five_by_two_splits(y.shape[0], n_repeats, seed, n_splits=n_splits)
    else:
        splits = list(splits)
        n_repeats = 1 + max(r for r, _, _, _ in splits)
        n_splits = 1 + max(f for _, f, _, _ in splits)
    if X.shape[1] == 0:
        estimator = DummyRegressor(strategy="mean")
    elif estimator is None:
        estimator = make_pipeline(StandardScaler(), LinearRegression())
    scores = np.empty((n_repeats, n_splits))
    predictions = np.empty((n_repeats, y.shape[0]))
    for r, f, train, test in splits:
        model = clone(estimator).fit(X[train], y[train])
        pred = np.asarray(model.predict(X[test]), dtype=np.float64).ravel()
        predictions[r, test] = pred
        scores[r, f] = r2_score(y[test], pred)
    return CVResult(scores, float(scores.mean()), float(scores.std()), predictions)


# ------------------------------------------------------------------------- 5x2cv t-test


@dataclass(frozen=True)
class TTestResult:
    """Result of :func:`paired_5x2cv_ttest` (differences are ``scores_a - scores_b``)."""

    t: float
    p_value: float
    dof: int
    mean_difference: float


def paired_5x2cv_ttest(scores_a: Any, scores_b: Any) -> TTestResult:
    """Dietterich's (1998) 5x2cv paired t-test of two models scored on the same splits.

    With ``p_r^(f) = a[r, f] - b[r, f]``, ``pbar_r`` the mean of repeat ``r`` and
    ``s_r^2 = (p_r^(1) - pbar_r)^2 + (p_r^(2) - pbar_r)^2``, the statistic
    ``t = p_1^(1) / sqrt(mean_r s_r^2)`` follows Student's t with ``n_repeats`` (5) degrees
    of freedom under the null hypothesis of equal performance; the p-value is two-sided.

    Degenerate case: if every ``s_r^2`` is 0, ``t = 0`` and ``p = 1`` when ``p_1^(1) = 0``,
    else ``t = +-inf`` and ``p = 0``.

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (n_repeats, 2)
        Per-fold scores (e.g. ``CVResult.scores``); ``(5, 2)`` for the classical test.

    Returns
    -------
    TTestResult
    """
    a, b = _to_numpy(scores_a), _to_numpy(scores_b)
    if a.ndim != 2 or a.shape[1] != 2 or a.shape[0] < 2 or a.shape != b.shape:
        raise ShapeError(
            f"scores_a and scores_b must both have shape (n_repeats, 2) with n_repeats >= 2 "
            f"(classically (5, 2)), found {a.shape} and {b.shape}. Pass CVResult.scores of two "
            "predictors computed with the same seed and n_splits=2."
        )
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise NonFiniteError("scores_a or scores_b contains NaN or infinite values.")
    p = a - b
    s2 = ((p - p.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    dof, first, var = p.shape[0], float(p[0, 0]), float(s2.mean())
    if var == 0:
        t = 0.0 if first == 0 else float(np.copysign(np.inf, first))
        return TTestResult(t, 1.0 if first == 0 else 0.0, dof, float(p.mean()))
    t = first / np.sqrt(var)
    return TTestResult(float(t), float(2 * stats.t.sf(abs(t), dof)), dof, float(p.mean()))


@dataclass(frozen=True, eq=False)
class PredictorComparison:
    """One row of :func:`compare_predictors`.

    Attributes
    ----------
    cv : CVResult
    kendall_tau : float
        Mean over repeats of Kendall's tau-b between the out-of-fold predictions and ``y``.
    ttest : TTestResult or None
        5x2cv test of the reference predictor against this one (``None`` for the reference).
    """

    cv: CVResult
    kendall_tau: float
    ttest: TTestResult | None


def compare_predictors(
    features: Mapping[str, Any],
    y: Any,
    *,
    reference: str,
    n_repeats: int = 5,
    seed: int = 0,
    estimator: Any = None,
    splits: Sequence[tuple[int, int, np.ndarray, np.ndarray]] | None = None,
) -> dict[str, PredictorComparison]:
    """Compare gap predictors on identical 5x2-fold splits.

    Parameters
    ----------
    features : dict of name -> array-like of shape (n_models, k)
        Features of each predictor; ``k = 0`` is the mean-predictor baseline.
    y : array-like of shape (n_models,)
        Generalization gaps.
    reference : str
        Name in ``features`` tested against every other predictor (``a = reference``).
    n_repeats, seed
        As in :func:`repeated_cv_r2` (2 folds per repeat).
    estimator : scikit-learn regressor, or dict of name -> regressor, optional
        One estimator for every predictor, or one per predictor name (a name missing
        from the dict gets the default linear regression).
    splits : list of (repeat, fold, train_idx, test_idx), optional
        Explicit splits for every predictor (see :func:`repeated_cv_r2`).

    Returns
    -------
    dict of name -> PredictorComparison
    """
    if reference not in features:
        raise InvalidInputError(
            f"reference {reference!r} is not a key of features ({sorted(features)}); "
            "pass the name of one of the predictors."
        )
    per_name = estimator if isinstance(estimator, Mapping) else dict.fromkeys(features, estimator)
    results = {
        name: repeated_cv_r2(X, y, n_repeats=n_repeats, estimator=per_name.get(name), seed=seed,
                             splits=splits)
        for name, X in features.items()
    }
    y = _vector(y, "y")
    out = {}
    for name, cv in results.items():
        tau = float(np.mean([kendall_tau(pred, y) for pred in cv.predictions]))
        test = None if name == reference else paired_5x2cv_ttest(
            results[reference].scores, cv.scores
        )
        out[name] = PredictorComparison(cv, tau, test)
    return out
