import numpy as np
import pytest

from topolens.exceptions import InvalidInputError, NonFiniteError, ShapeError
from topolens.mapper import compute_lens


def test_l2norm_default_and_lipschitz():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    lv = compute_lens(x)
    assert lv.values.shape == (3, 1)
    np.testing.assert_allclose(lv.values[:, 0], [5.0, 0.0, 1.0])
    assert lv.lipschitz and lv.name == "l2norm"


@pytest.mark.parametrize("lens", ["l2norm", "pca", "pca2", "mean", 1, [0, 2]])
def test_builtin_lenses_are_1_lipschitz(lens):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    lv = compute_lens(x, lens)
    assert lv.lipschitz
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    for j in range(lv.n_dims):
        diff = np.abs(lv.values[:, None, j] - lv.values[None, :, j])
        assert (diff <= d + 1e-9).all()


def test_pca_matches_sklearn_up_to_sign():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 6)) @ rng.normal(size=(6, 6))
    ours = compute_lens(x, "pca2").values
    ref = PCA(2).fit_transform(x)
    for j in range(2):
        assert min(np.abs(ours[:, j] - ref[:, j]).max(), np.abs(ours[:, j] + ref[:, j]).max()) < 1e-8


def test_callable_transformer_and_columns():
    from sklearn.decomposition import PCA

    x = np.arange(20.0).reshape(10, 2)
    assert compute_lens(x, lambda a: a[:, 0] * 2).values[:, 0].tolist() == (x[:, 0] * 2).tolist()
    assert compute_lens(x, PCA(1)).values.shape == (10, 1)
    assert not compute_lens(x, lambda a: a.sum(1)).lipschitz
    np.testing.assert_array_equal(compute_lens(x, [1, 0]).values, x[:, [1, 0]])


def test_lens_errors():
    x = np.ones((5, 3))
    with pytest.raises(InvalidInputError, match="unknown lens"):
        compute_lens(x, "l7norm")
    with pytest.raises(InvalidInputError, match="out of range"):
        compute_lens(x, 3)
    with pytest.raises(ShapeError, match="expected"):
        compute_lens(x, lambda a: a[:3, 0])
    with pytest.raises(NonFiniteError):
        compute_lens(x, lambda a: np.full(5, np.nan))
    with pytest.raises(InvalidInputError, match="principal components"):
        compute_lens(np.ones((5, 2)), "pca3")
