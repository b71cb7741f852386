"""Tests of the scikit-learn transformers of topolens.vectorize."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gudhi import representations as gr
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from topolens import PersistenceDiagrams
from topolens.exceptions import InvalidInputError, ShapeError
from topolens.vectorize import (
    BettiCurve,
    Entropy,
    Landscape,
    PersistenceImage,
    SummaryStatistics,
    persistence_image,
    persistence_landscape,
    persistent_entropy,
    summary_vector,
)

ALL = [BettiCurve, Landscape, PersistenceImage, Entropy, SummaryStatistics]
SINGLE_DIM = [BettiCurve, Landscape, PersistenceImage, Entropy]


def random_dgm(rng: np.random.Generator, m: int, scale: float = 5.0) -> np.ndarray:
    b = rng.uniform(0.0, scale, m)
    return np.column_stack([b, b + rng.uniform(0.01, 0.6 * scale, m)])


@pytest.fixture(scope="module")
def arrays() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [random_dgm(rng, m) for m in (5, 11, 1, 8, 0, 3)]


@pytest.fixture(scope="module")
def diagrams() -> list[PersistenceDiagrams]:
    rng = np.random.default_rng(11)
    out = []
    for i in range(12):
        h0 = np.vstack([random_dgm(rng, 6 + i % 3, 2.0), [[0.0, np.inf]]])
        h1 = random_dgm(rng, 2 + i % 4)
        out.append(PersistenceDiagrams([h0, h1]))
    return out


def small_params(cls: type) -> dict:
    return {
        BettiCurve: dict(resolution=15),
        Landscape: dict(num_landscapes=3, resolution=15),
        PersistenceImage: dict(resolution=(5, 4), bandwidth=0.5),
        Entropy: {},
        SummaryStatistics: dict(top_k=3, n_poly=2),
    }[cls]


def expected_width(cls: type) -> int:
    return {BettiCurve: 15, Landscape: 45, PersistenceImage: 20, Entropy: 1,
            SummaryStatistics: 2 * (3 + 8 + 4)}[cls]


# ----------------------------------------------------------------------------- contract
@pytest.mark.parametrize("cls", ALL)
def test_sklearn_api_checks(cls) -> None:
    est = cls(**small_params(cls))
    name = cls.__name__
    check_parameters_default_constructible(name, est)
    check_no_attributes_set_in_init(name, est)
    check_get_params_invariance(name, est)
    check_set_params(name, est)


@pytest.mark.parametrize("cls", ALL)
def test_clone_get_params_and_unfitted(cls, diagrams) -> None:
    est = cls(**small_params(cls))
    params = est.get_params()
    assert params == clone(est).get_params()
    with pytest.raises(NotFittedError):
        est.transform(diagrams)
    with pytest.raises(NotFittedError):
        est.get_feature_names_out()
    assert est.fit(diagrams) is est
    fitted = [a for a in vars(est) if a.endswith("_") and not a.startswith("_")]
    assert fitted, "fit must set trailing-underscore attributes"
    cl = clone(est)
    assert not any(a.endswith("_") for a in vars(cl))
    with pytest.raises(NotFittedError):
        cl.transform(diagrams)


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("dim", [0, 1])
def test_shapes_and_feature_names(cls, dim, diagrams) -> None:
    params = small_params(cls)
    if cls is not SummaryStatistics:
        params["dim"] = dim
    out = cls(**params).fit(diagrams[:8]).transform(diagrams[8:])
    assert out.shape == (4, expected_width(cls))
    assert out.dtype == np.float64 and np.isfinite(out).all()
    est = cls(**params)
    np.testing.assert_array_equal(est.fit_transform(diagrams), est.transform(diagrams))
    names = est.get_feature_names_out()
    assert len(names) == out.shape[1] and len(set(names)) == len(names)


@pytest.mark.parametrize("cls", SINGLE_DIM)
def test_arrays_and_persistence_diagrams_agree(cls, diagrams) -> None:
    arrays = [d[1] for d in diagrams]
    a = cls(dim=1, **small_params(cls)).fit_transform(diagrams)
    b = cls(dim=0, **small_params(cls)).fit_transform(arrays)  # dim ignored for arrays
    np.testing.assert_array_equal(a, b)


def test_invalid_params_raise_at_fit_not_init(diagrams) -> None:
    cases = [
        Landscape(num_landscapes=0), Landscape(resolution=-3), Landscape(sample_range=(3, 1)),
        BettiCurve(resolution=0), BettiCurve(grid=[[0.0, 1.0]]), PersistenceImage(bandwidth=-1),
        PersistenceImage(weight="cubic"), PersistenceImage(resolution=(0, 4)),
        PersistenceImage(im_range=(0, 1)), Entropy(dim=-1), SummaryStatistics(poly_kind="X"),
        SummaryStatistics(dims=(0, 5)), Landscape(dim=2),
    ]
    for est in cases:
        with pytest.raises(InvalidInputError):
            est.fit(diagrams)


@pytest.mark.parametrize("cls", ALL)
def test_bad_collections(cls, diagrams) -> None:
    est = cls()
    with pytest.raises(InvalidInputError, match="list"):
        est.fit(diagrams[0])
    with pytest.raises(InvalidInputError, match="empty"):
        est.fit([])
    with pytest.raises(ShapeError, match="Wrap it"):
        est.fit(np.array([[0.0, 1.0], [0.5, 2.0]]))


def test_bad_array_in_collection() -> None:
    with pytest.raises(InvalidInputError, match=r"X\[1\].*death < birth"):
        Landscape().fit([np.array([[0.0, 1.0]]), np.array([[2.0, 1.0]])])
    with pytest.raises(ShapeError, match="per dimension"):
        SummaryStatistics().fit([np.array([[0.0, 1.0]])])


# ----------------------------------------------------------------------------- values
def test_landscape_matches_gudhi(arrays) -> None:
    ref_est = gr.Landscape(num_landscapes=4, resolution=30).fit(arrays)
    est = Landscape(num_landscapes=4, resolution=30).fit(arrays)
    np.testing.assert_allclose(est.grid_, ref_est.grid_, rtol=1e-15)
    np.testing.assert_allclose(est.transform(arrays) * math.sqrt(2), ref_est.transform(arrays),
                               rtol=1e-12, atol=1e-12)
    fixed = Landscape(num_landscapes=2, resolution=9, sample_range=(0.0, 4.0)).fit(arrays)
    np.testing.assert_array_equal(fixed.grid_, np.linspace(0.0, 4.0, 9))
    np.testing.assert_allclose(
        fixed.transform(arrays[:1])[0],
        persistence_landscape(arrays[0], 2, 9, (0.0, 4.0)).ravel(),
    )


def test_landscape_range_learned_on_train_only(arrays) -> None:
    est = Landscape(num_landscapes=1, resolution=10).fit(arrays[:2])
    lo = min(a[:, 0].min() for a in arrays[:2])
    hi = max(a[:, 1].max() for a in arrays[:2])
    np.testing.assert_allclose(est.grid_, np.linspace(lo, hi, 12)[1:-1])
    far = [np.array([[100.0, 101.0]])]
    assert not est.transform(far).any()  # outside the learned grid


def test_persistence_image_matches_gudhi(arrays) -> None:
    ref_est = gr.PersistenceImage(bandwidth=0.3, weight=lambda p: p[1],
                                  resolution=[7, 6]).fit(arrays)
    est = PersistenceImage(bandwidth=0.3, weight="linear", resolution=(7, 6)).fit(arrays)
    np.testing.assert_allclose(est.im_range_, ref_est.im_range_fixed_)
    np.testing.assert_allclose(est.transform(arrays), ref_est.transform(arrays),
                               rtol=1e-12, atol=1e-14)
    part = PersistenceImage(resolution=(3, 3), im_range=(0.0, None, None, 2.0)).fit(arrays)
    assert part.im_range_[0] == 0.0 and part.im_range_[3] == 2.0
    assert part.im_range_[1] == max(a[:, 0].max() for a in arrays if len(a))
    np.testing.assert_allclose(
        part.transform(arrays[:1])[0],
        persistence_image(arrays[0], resolution=(3, 3), im_range=part.im_range_).ravel(),
    )


def test_betti_curve_matches_gudhi(arrays) -> None:
    ref_est = gr.BettiCurve(resolution=25).fit(arrays)
    est = BettiCurve(resolution=25).fit(arrays)
    np.testing.assert_allclose(est.grid_, ref_est.grid_, rtol=1e-15)
    np.testing.assert_array_equal(est.transform(arrays), ref_est.transform(arrays))


def test_betti_curve_explicit_grid_and_infinite(diagrams) -> None:
    est = BettiCurve(dim=0, grid=[-1.0, 0.0, 100.0]).fit(diagrams)
    out = est.transform(diagrams)
    # every H0 has one essential class born at 0 and alive forever
    np.testing.assert_array_equal(out[:, 0], 0)
    np.testing.assert_array_equal(out[:, 2], 1)
    # the learned range includes births of essential classes, not their infinite deaths
    auto = BettiCurve(dim=0, resolution=5).fit(diagrams)
    assert np.isfinite(auto.grid_).all()


def test_entropy_matches_functional_and_gudhi(arrays, diagrams) -> None:
    out = Entropy(dim=1).fit_transform(diagrams)
    np.testing.assert_allclose(out[:, 0], [persistent_entropy(d, dim=1) for d in diagrams])
    nonempty = [a for a in arrays if len(a)]
    np.testing.assert_allclose(Entropy().fit_transform(nonempty),
                               gr.Entropy().fit_transform(nonempty), rtol=1e-12)
    norm = Entropy(normalize=True).fit_transform(arrays)
    assert ((norm >= 0) & (norm <= 1 + 1e-12)).all()


def test_summary_statistics_matches_functional(diagrams) -> None:
    est = SummaryStatistics(dims=(0, 1), top_k=4).fit(diagrams)
    names, vec = summary_vector(diagrams[3], (0, 1), 4)
    assert list(est.get_feature_names_out()) == names
    np.testing.assert_array_equal(est.transform(diagrams)[3], vec)
    ripser_style = [[d[0], d[1]] for d in diagrams]
    np.testing.assert_array_equal(est.transform(ripser_style), est.transform(diagrams))


# ----------------------------------------------------------------------------- pipelines
def test_pipeline_with_regressor(diagrams) -> None:
    y = np.array([len(d[1]) for d in diagrams], dtype=float)
    pipe = Pipeline([
        ("features", FeatureUnion([
            ("landscape", Landscape(dim=1, num_landscapes=2, resolution=10)),
            ("image", PersistenceImage(dim=1, resolution=(4, 4), bandwidth=0.5)),
            ("betti", BettiCurve(dim=0, resolution=8)),
            ("entropy", Entropy(dim=1)),
            ("summary", SummaryStatistics(top_k=3)),
        ])),
        ("ridge", Ridge(alpha=1e-3)),
    ])
    pipe.fit(diagrams, y)
    pred = pipe.predict(diagrams)
    assert pred.shape == (len(diagrams),)
    # H1_n_finite is among the features, so a nearly unregularised ridge fits y closely
    assert np.abs(pred - y).max() < 0.1
    assert clone(pipe).get_params()["features__landscape__num_landscapes"] == 2


def test_grid_search(diagrams) -> None:
    y = np.array([d[1][:, 1].max() for d in diagrams])
    pipe = Pipeline([("land", Landscape(dim=1, resolution=8)), ("ridge", Ridge())])
    search = GridSearchCV(pipe, {"land__num_landscapes": [1, 2]}, cv=2).fit(diagrams, y)
    assert search.best_params_["land__num_landscapes"] in (1, 2)
    assert search.predict(diagrams[:2]).shape == (2,)
