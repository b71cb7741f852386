"""Tests of the generalization-gap scores: Kendall tau, conditional MI, 5x2cv R^2 and t-test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.linear_model import Ridge

from topolens.exceptions import InvalidInputError, NonFiniteError, ShapeError
from topolens.generalization.scores import (
    CMIResult,
    compare_predictors,
    conditional_mutual_information,
    five_by_two_splits,
    kendall_tau,
    paired_5x2cv_ttest,
    repeated_cv_r2,
)

LN2 = math.log(2.0)


def _hb(c: float) -> float:
    """Binary entropy in nats, written out for the hand computations."""
    return -(c * math.log(c) + (1 - c) * math.log(1 - c))


# ----------------------------------------------------------------------------- kendall tau


def test_kendall_tau_values_and_validation():
    assert kendall_tau([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(1.0)
    assert kendall_tau([4, 3, 2, 1], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(-1.0)
    # 1 discordant pair of 6: (5 - 1) / 6
    assert kendall_tau([1, 3, 2, 4], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(4 / 6)
    assert math.isnan(kendall_tau([1, 1, 1], [0.1, 0.2, 0.3]))
    with pytest.raises(ShapeError, match="3 value"):
        kendall_tau([1, 2, 3], [0.1, 0.2])
    with pytest.raises(NonFiniteError):
        kendall_tau([1, np.nan], [0.1, 0.2])
    with pytest.raises(InvalidInputError, match="at least 2"):
        kendall_tau([1], [0.1])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)), min_size=3, max_size=15))
def test_kendall_tau_symmetric(pairs):
    a, b = np.array(pairs, dtype=float).T
    t_ab, t_ba = kendall_tau(a, b), kendall_tau(b, a)
    assert (math.isnan(t_ab) and math.isnan(t_ba)) or t_ab == pytest.approx(t_ba)


# ------------------------------------------------------------------ conditional mutual info

# 6 models: hyperparameter A splits them in two groups of 3; gaps strictly increasing.
GAP6 = [0.1, 0.2, 0.3, 0.5, 0.6, 0.7]
MU6 = [1, 2, 3, 3, 1, 2]
HP6 = [{"A": a} for a in (0, 0, 0, 1, 1, 1)]


def test_cmi_hand_computed_unconditional_four_models():
    # pairs (i<j): (0,1) (0,2) (0,3) (1,3) (2,3) concordant, (1,2) discordant -> c = 5/6.
    # Symmetrised joint of (V_mu, V_g): p(+,+) = p(-,-) = 5/12, p(+,-) = p(-,+) = 1/12,
    # both marginals (1/2, 1/2), so
    mi = 2 * (5 / 12) * math.log((5 / 12) / 0.25) + 2 * (1 / 12) * math.log((1 / 12) / 0.25)
    res = conditional_mutual_information([1, 3, 2, 4], [0.1, 0.2, 0.3, 0.4], {"A": [0] * 4})
    assert res.unconditional == pytest.approx(mi / LN2)
    assert res.unconditional == pytest.approx(1 - _hb(5 / 6) / LN2)
    assert res.n_pairs == 6
    assert res.per_set[("A",)] == pytest.approx(res.unconditional)  # one group: all pairs


def test_cmi_hand_computed_conditional_six_models():
    res = conditional_mutual_information(MU6, GAP6, HP6)
    assert isinstance(res, CMIResult)
    # A=0: models 0,1,2 with mu 1,2,3 -> 3 concordant pairs -> MI = ln 2.
    # A=1: models 3,4,5 with mu 3,1,2 -> (3,4) disc, (3,5) disc, (4,5) conc -> c = 1/3,
    #      MI = ln 2 - H_b(1/3). Both groups have 3 pairs (weight 1/2); H(V_g | A) = ln 2.
    cmi = 0.5 * LN2 + 0.5 * (LN2 - _hb(1 / 3))
    assert res.per_set == {("A",): pytest.approx(cmi / LN2)}
    assert res.score == pytest.approx(cmi / LN2)
    assert res.argmin == ("A",)
    # Unconditional, 15 pairs; measure ties (0,4), (1,5), (2,3) are dropped -> 12 pairs.
    # Concordant (mu_i < mu_j, i<j): from 0: 4, from 1: 2, from 4: 1 -> 7; discordant 5.
    assert res.n_pairs == 12
    assert res.unconditional == pytest.approx(1 - _hb(7 / 12) / LN2)


def test_cmi_tie_half_hand_computed():
    res = conditional_mutual_information(MU6, GAP6, HP6, tie="half")
    # 15 pairs: 7 concordant, 5 discordant, 3 measure ties. H(V_g) = ln 2;
    # H(V_g | V_mu) = (12/15) H_b(7/12) + (3/15) ln 2 (a tie says nothing about V_g).
    mi = LN2 - (12 / 15 * _hb(7 / 12) + 3 / 15 * LN2)
    assert res.n_pairs == 15
    assert res.unconditional == pytest.approx(mi / LN2)
    assert res.per_set[("A",)] == pytest.approx(1 - 0.5 * _hb(1 / 3) / LN2)  # no ties within A


def test_cmi_gap_ties_dropped_and_hparam_formats_agree():
    gap = [0.1, 0.1, 0.3, 0.4]
    rows = [{"A": "x", "B": 1.0}, {"A": "x", "B": 2.0}, {"A": "y", "B": 1.0}, {"A": "y", "B": 2.0}]
    cols = {"A": ["x", "x", "y", "y"], "B": [1.0, 2.0, 1.0, 2.0]}
    r1 = conditional_mutual_information([1, 3, 2, 4], gap, rows, min_group_pairs=1)
    r2 = conditional_mutual_information([1, 3, 2, 4], gap, cols, min_group_pairs=1)
    assert r1.n_pairs == 5 and repr(r1) == repr(r2)  # repr: nan != nan
    # pairs (0,2) (0,3) (1,3) (2,3) concordant, (1,2) discordant; (0,1) has equal gaps
    assert r1.unconditional == pytest.approx(1 - _hb(4 / 5) / LN2)
    assert set(r1.per_set) == {("A",), ("B",), ("A", "B")}
    # PGDL conditioning: a pair's group is (values of model i, values of model j).
    # A: groups (x,y) and (y,x) hold the 4 cross pairs, whose gap order A fixes (H = 0);
    #    group (y,y) holds pair (2,3) in both orientations, concordant: MI = H = ln 2.
    assert r1.per_set[("A",)] == pytest.approx(1.0)
    # B: (1,1) <- pair (0,2) and (2,2) <- pair (1,3), concordant (2 oriented pairs each,
    #    MI = H = ln 2); (1,2) <- (0,3) (-,-), (2,3) (-,-) and (2,1) reversed (-,+), so
    #    V_mu is constant there (MI 0) and H = H_b(1/3); (2,1) mirrors it. Weights 2,2,3,3.
    cmi_b = 0.4 * LN2 / (0.4 * LN2 + 0.6 * _hb(1 / 3))
    assert r1.per_set[("B",)] == pytest.approx(cmi_b)
    # each model has its own (A, B): every group holds one oriented pair, H = 0 -> nan
    assert math.isnan(r1.per_set[("A", "B")])
    assert math.isnan(r1.score) and r1.argmin == ()
    r3 = conditional_mutual_information([1, 3, 2, 4], gap, rows, min_group_pairs=1,
                                        max_conditioning=1)
    assert r3.score == pytest.approx(cmi_b) and r3.argmin == ("B",)


def _zoo(n=200, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, n)
    b = rng.integers(0, 3, n)
    return rng, {"A": a.tolist(), "B": b.tolist()}, a


def test_cmi_perfectly_monotone_measure_scores_one():
    rng, hp, _ = _zoo()
    gap = rng.normal(size=200)
    res = conditional_mutual_information(2 * gap + 1, gap, hp)
    assert res.score == pytest.approx(1.0)
    assert res.unconditional == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in res.per_set.values())
    assert res.n_pairs == 200 * 199 // 2


def test_cmi_independent_measure_near_zero():
    rng, hp, _ = _zoo()
    res = conditional_mutual_information(rng.normal(size=200), rng.normal(size=200), hp)
    assert res.unconditional < 0.02 and res.score < 0.02


def test_cmi_measure_predicting_only_through_one_hparam():
    rng, hp, a = _zoo(seed=1)
    gap = a + 0.1 * rng.normal(size=a.size)
    measure = a + 0.01 * rng.normal(size=a.size)  # noise independent of the gap's noise
    res = conditional_mutual_information(measure, gap, hp)
    assert res.unconditional > 0.4
    assert res.per_set[("B",)] > 0.4
    assert res.per_set[("A",)] < 0.05 and res.score < 0.05
    assert "A" in res.argmin
    # measure = A exactly: within A every pair is a measure tie -> no information at all
    half = conditional_mutual_information(a.astype(float), gap, hp, tie="half")
    assert half.per_set[("A",)] == 0.0 and half.score == 0.0


def test_cmi_max_conditioning_zero_and_errors():
    res = conditional_mutual_information(MU6, GAP6, HP6, max_conditioning=0)
    assert res.per_set == {} and res.argmin == () and res.score == res.unconditional
    with pytest.raises(InvalidInputError, match="tie"):
        conditional_mutual_information(MU6, GAP6, HP6, tie="ignore")
    with pytest.raises(ShapeError, match="one value per model"):
        conditional_mutual_information(MU6, GAP6, {"A": [0, 1]})
    with pytest.raises(InvalidInputError, match="same hyperparameters"):
        conditional_mutual_information(MU6, GAP6, [*HP6[:5], {"B": 1}])
    with pytest.raises(InvalidInputError, match="undefined"):
        conditional_mutual_information([1, 2, 3], [0.5, 0.5, 0.5], {})
    with pytest.raises(NonFiniteError):
        conditional_mutual_information([1, 2, np.inf], [0.1, 0.2, 0.3], {})


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-4, 4), st.integers(0, 6), st.integers(0, 2)),
             min_size=4, max_size=20),
    st.sampled_from(["drop", "half"]),
    st.randoms(use_true_random=False),
)
def test_cmi_invariant_to_monotone_transform_and_model_order(rows, tie, rnd):
    mu, gap, a = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    gap = gap + 0.01 * (np.arange(gap.size) % 3)  # some gap ties, some not
    hp = {"A": a.tolist()}
    try:
        base = conditional_mutual_information(mu, gap, hp, tie=tie)
    except InvalidInputError:  # no usable pair (all gaps or measures tied)
        assume(False)
    mono = conditional_mutual_information(np.exp(mu) + mu**3, gap, hp, tie=tie)
    perm = list(range(gap.size))
    rnd.shuffle(perm)
    shuffled = conditional_mutual_information(mu[perm], gap[perm], {"A": a[perm].tolist()},
                                              tie=tie)
    for other in (mono, shuffled):
        assert other.n_pairs == base.n_pairs
        np.testing.assert_allclose(
            [other.unconditional, other.per_set[("A",)]],
            [base.unconditional, base.per_set[("A",)]], atol=1e-12)


# ------------------------------------------------------------------------ cross-validation


def test_five_by_two_splits_deterministic_partitions():
    splits = five_by_two_splits(11, seed=3)
    assert len(splits) == 10
    again = five_by_two_splits(11, seed=3)
    for (r, f, tr, te), (r2, f2, tr2, te2) in zip(splits, again, strict=True):
        assert (r, f) == (r2, f2)
        np.testing.assert_array_equal(tr, tr2)
        np.testing.assert_array_equal(te, te2)
    for r in range(5):
        (_, _, tr0, te0), (_, _, tr1, te1) = splits[2 * r], splits[2 * r + 1]
        np.testing.assert_array_equal(np.sort(np.concatenate([te0, te1])), np.arange(11))
        np.testing.assert_array_equal(np.sort(tr0), np.sort(te1))  # folds swap train/test
        np.testing.assert_array_equal(np.sort(tr1), np.sort(te0))
    assert not np.array_equal(splits[0][3], splits[2][3])  # repeats differ
    assert not np.array_equal(splits[0][3], five_by_two_splits(11, seed=4)[0][3])
    # the first repeats do not depend on n_repeats
    np.testing.assert_array_equal(five_by_two_splits(11, 2, 3)[2][3], splits[2][3])


def test_repeated_cv_r2_linear_and_mean_predictor():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 1))
    y = 2 * x[:, 0] + 0.05 * rng.normal(size=60)
    res = repeated_cv_r2(x, y)
    assert res.scores.shape == (5, 2) and res.predictions.shape == (5, 60)
    assert res.mean > 0.95 and res.std == pytest.approx(res.scores.std())
    np.testing.assert_allclose(res.predictions[0], 2 * x[:, 0], atol=0.2)
    base = repeated_cv_r2(np.empty((60, 0)), y)
    assert (base.scores <= 0).all() and base.mean < 0
    ridge = repeated_cv_r2(x, y, estimator=Ridge(alpha=1.0), n_repeats=3)
    assert ridge.scores.shape == (3, 2) and ridge.mean > 0.9


def test_repeated_cv_r2_validation():
    y = np.arange(6.0)
    with pytest.raises(InvalidInputError, match="at least 4"):
        repeated_cv_r2(np.ones((3, 1)), y[:3])
    with pytest.raises(ShapeError, match="n_samples"):
        repeated_cv_r2(np.ones((5, 1)), y)
    with pytest.raises(NonFiniteError):
        repeated_cv_r2(np.full((6, 1), np.nan), y)
    with pytest.raises(NonFiniteError):
        repeated_cv_r2(np.ones((6, 1)), np.r_[y[:5], np.nan])


# -------------------------------------------------------------------------- 5x2cv t-test


def test_paired_ttest_hand_computed():
    b = np.linspace(0.1, 1.0, 10).reshape(5, 2)
    d = np.array([[1.0, 3.0], [2.0, 2.0], [0.0, 4.0], [1.0, 1.0], [3.0, 5.0]])
    # repeat means 2, 2, 2, 1, 4; s^2 = 1+1, 0, 4+4, 0, 1+1 -> mean s^2 = 12 / 5
    t = 1.0 / math.sqrt(12 / 5)
    res = paired_5x2cv_ttest(b + d, b)
    assert res.t == pytest.approx(t)
    assert res.dof == 5
    assert res.p_value == pytest.approx(2 * stats.t.sf(t, 5))
    assert res.mean_difference == pytest.approx(22 / 10)
    flipped = paired_5x2cv_ttest(b, b + d)
    assert flipped.t == pytest.approx(-t) and flipped.p_value == pytest.approx(res.p_value)


def test_paired_ttest_degenerate_and_errors():
    a = np.arange(10.0).reshape(5, 2)
    same = paired_5x2cv_ttest(a, a)
    assert same.t == 0.0 and same.p_value == 1.0 and same.mean_difference == 0.0
    shifted = paired_5x2cv_ttest(a + 1, a)  # constant difference: zero variance
    assert shifted.t == math.inf and shifted.p_value == 0.0
    with pytest.raises(ShapeError, match=r"\(5, 2\)"):
        paired_5x2cv_ttest(np.zeros((5, 3)), np.zeros((5, 3)))
    with pytest.raises(ShapeError):
        paired_5x2cv_ttest(np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(NonFiniteError):
        paired_5x2cv_ttest(np.full((5, 2), np.nan), a)


def test_compare_predictors_identical_splits():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 2))
    y = x[:, 0] + 0.1 * rng.normal(size=40)
    feats = {"good": x, "noise": rng.normal(size=(40, 1)), "mean": np.empty((40, 0))}
    out = compare_predictors(feats, y, reference="good", seed=2)
    assert set(out) == set(feats) and out["good"].ttest is None
    assert out["good"].cv.mean > 0.9 and out["good"].kendall_tau > 0.8
    np.testing.assert_allclose(out["good"].cv.scores, repeated_cv_r2(x, y, seed=2).scores)
    for name in ("noise", "mean"):
        test = out[name].ttest
        assert test is not None and test.mean_difference > 0.5
        direct = paired_5x2cv_ttest(out["good"].cv.scores, out[name].cv.scores)
        assert test == direct
    with pytest.raises(InvalidInputError, match="reference"):
        compare_predictors(feats, y, reference="missing")
