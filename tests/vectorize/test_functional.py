"""Tests of topolens.vectorize.functional: hand-computed cases, gudhi as oracle, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gudhi import representations as gr
from hypothesis import given, settings
from hypothesis import strategies as st

from topolens import PersistenceDiagrams
from topolens.exceptions import InvalidInputError, ShapeError
from topolens.vectorize import (
    betti_curve,
    complex_polynomial,
    diagram_points,
    persistence_image,
    persistence_landscape,
    persistent_entropy,
    summary_feature_names,
    summary_statistics,
    summary_vector,
)

SQRT2 = math.sqrt(2.0)


def random_dgm(rng: np.random.Generator, m: int, scale: float = 5.0) -> np.ndarray:
    b = rng.uniform(0.0, scale, m)
    return np.column_stack([b, b + rng.uniform(0.01, 0.6 * scale, m)])


@pytest.fixture
def dgms() -> list[np.ndarray]:
    rng = np.random.default_rng(12345)
    return [random_dgm(rng, m) for m in (9, 14, 1, 3)]


# Hypothesis strategy: finite diagrams with births in [0, 10] and lifetimes in [0, 5]
_point = st.tuples(st.floats(0.0, 10.0, allow_nan=False), st.floats(0.0, 5.0, allow_nan=False))
diagram_st = st.lists(_point, min_size=0, max_size=12).map(
    lambda pts: np.array([[b, b + ell] for b, ell in pts], dtype=np.float64).reshape(-1, 2)
)
FAST = settings(max_examples=40, deadline=None)


# ----------------------------------------------------------------------------- diagram_points
class TestDiagramPoints:
    def test_plain_array_and_finite_filter(self) -> None:
        d = diagram_points([[0.0, 1.0], [0.5, np.inf]])
        assert d.dtype == np.float64 and d.shape == (2, 2)
        assert diagram_points(d, finite=True).tolist() == [[0.0, 1.0]]

    def test_inf_death_cap(self) -> None:
        d = diagram_points([[0.0, 1.0], [0.5, np.inf]], inf_death=4.0)
        assert d.tolist() == [[0.0, 1.0], [0.5, 4.0]]
        with pytest.raises(InvalidInputError, match="inf_death"):
            diagram_points([[0.0, 1.0], [5.0, np.inf]], inf_death=4.0)
        with pytest.raises(InvalidInputError, match="finite"):
            diagram_points([[0.0, 1.0]], inf_death=np.inf)

    def test_persistence_diagrams_need_dim(self) -> None:
        pd_ = PersistenceDiagrams([[[0, 1]], [[0.2, 0.7]]])
        assert diagram_points(pd_, 1).tolist() == [[0.2, 0.7]]
        with pytest.raises(InvalidInputError, match="dim="):
            diagram_points(pd_)
        with pytest.raises(InvalidInputError, match="not available"):
            diagram_points(pd_, 3)

    def test_empty_inputs(self) -> None:
        assert diagram_points([]).shape == (0, 2)
        assert diagram_points(np.empty((0, 2))).shape == (0, 2)

    @pytest.mark.parametrize(
        ("bad", "exc", "match"),
        [
            ([[0.0, 1.0, 2.0]], ShapeError, "shape"),
            ([0.0, 1.0], ShapeError, "shape"),
            ([[0.0, np.nan]], InvalidInputError, "NaN"),
            ([[-np.inf, 1.0]], InvalidInputError, "infinite birth"),
            ([[2.0, 1.0]], InvalidInputError, "death < birth"),
            ([["a", "b"]], InvalidInputError, "numeric"),
        ],
    )
    def test_bad_diagrams(self, bad, exc, match) -> None:
        with pytest.raises(exc, match=match):
            diagram_points(bad)
        with pytest.raises(exc, match=match):
            persistence_landscape(bad)

    def test_torch_tensor_accepted(self) -> None:
        torch = pytest.importorskip("torch")
        t = torch.tensor([[0.0, 1.0], [0.5, 2.0]])
        assert betti_curve(t, [0.75]).tolist() == [2]


# ----------------------------------------------------------------------------- Betti curve
class TestBettiCurve:
    def test_hand_computed(self) -> None:
        grid = [-1.0, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0]
        out = betti_curve([[0.0, 1.0], [0.5, 2.0]], grid)
        assert out.dtype == np.int64
        assert out.tolist() == [0, 1, 1, 2, 1, 1, 0, 0]

    def test_unsorted_grid_and_diagonal_points(self) -> None:
        out = betti_curve([[0.0, 1.0], [0.5, 2.0], [0.7, 0.7]], [1.5, 0.7, -5.0])
        assert out.tolist() == [1, 2, 0]

    def test_infinite_and_censored_alive_forever(self) -> None:
        d = PersistenceDiagrams(
            [[[0.0, 1.0], [0.0, np.inf]], [[0.3, np.inf], [0.2, 0.4]]],
            censored=[[False, False], [True, False]],
            metadata={"threshold": 1.0},
        )
        grid = [0.0, 0.3, 0.5, 1.0, 100.0, np.inf]
        assert betti_curve(d, grid, dim=0).tolist() == [2, 2, 2, 1, 1, 0]
        assert betti_curve(d, grid, dim=1).tolist() == [0, 2, 1, 1, 1, 0]

    def test_empty(self) -> None:
        assert betti_curve(np.empty((0, 2)), [0.0, 1.0]).tolist() == [0, 0]

    def test_bad_grid(self) -> None:
        with pytest.raises(ShapeError, match="1-D"):
            betti_curve([[0, 1]], [[0.0, 1.0]])
        with pytest.raises(InvalidInputError, match="NaN"):
            betti_curve([[0, 1]], [np.nan])

    def test_matches_gudhi_predefined_grid(self, dgms) -> None:
        grid = np.linspace(-0.5, 9.0, 57)
        ref = gr.BettiCurve(predefined_grid=grid).fit_transform(dgms)
        ours = np.stack([betti_curve(d, grid) for d in dgms])
        np.testing.assert_array_equal(ours, ref)

    @FAST
    @given(diagram_st, st.lists(st.floats(-1.0, 16.0, allow_nan=False), min_size=1, max_size=20))
    def test_matches_brute_force(self, dgm, grid) -> None:
        t = np.asarray(grid)
        brute = ((dgm[:, 0][None, :] <= t[:, None]) & (t[:, None] < dgm[:, 1][None, :])).sum(1)
        np.testing.assert_array_equal(betti_curve(dgm, t), brute)


# ----------------------------------------------------------------------------- landscape
class TestLandscape:
    def test_hand_computed_single_point(self) -> None:
        out = persistence_landscape([[0.0, 2.0]], num_landscapes=2, resolution=5,
                                    sample_range=(0.0, 2.0))
        np.testing.assert_allclose(out, [[0, 0.5, 1, 0.5, 0], [0, 0, 0, 0, 0]])

    def test_hand_computed_two_points(self) -> None:
        # tents of (0, 2) and (1, 3) at t = 0, 0.5, ..., 3
        out = persistence_landscape([[0.0, 2.0], [1.0, 3.0]], num_landscapes=3, resolution=7,
                                    sample_range=(0.0, 3.0))
        np.testing.assert_allclose(out[0], [0, 0.5, 1, 0.5, 1, 0.5, 0])
        np.testing.assert_allclose(out[1], [0, 0, 0, 0.5, 0, 0, 0])
        np.testing.assert_allclose(out[2], 0.0)

    def test_learned_range_drops_end_points(self) -> None:
        # learned range [0, 2] with 3 samples -> linspace(0, 2, 5)[1:-1] = 0.5, 1, 1.5
        out = persistence_landscape([[0.0, 2.0]], num_landscapes=1, resolution=3)
        np.testing.assert_allclose(out, [[0.5, 1.0, 0.5]])
        half = persistence_landscape([[0.0, 2.0]], num_landscapes=1, resolution=3,
                                     sample_range=(None, 2.0))
        # learned start only: linspace(0, 2, 4)[1:] = 2/3, 4/3, 2
        np.testing.assert_allclose(half, [[2 / 3, 2 / 3, 0.0]])

    def test_infinite_points_dropped_and_empty(self) -> None:
        a = persistence_landscape([[0.0, 2.0], [0.5, np.inf]], 2, 10, (0.0, 2.0))
        b = persistence_landscape([[0.0, 2.0]], 2, 10, (0.0, 2.0))
        np.testing.assert_array_equal(a, b)
        empty = persistence_landscape(np.empty((0, 2)), 3, 8)
        assert empty.shape == (3, 8) and not empty.any()

    def test_persistence_diagrams_input(self) -> None:
        d = PersistenceDiagrams([[[0, np.inf]], [[0.0, 2.0], [1.0, 3.0]]])
        np.testing.assert_array_equal(
            persistence_landscape(d, 2, 9, dim=1),
            persistence_landscape([[0.0, 2.0], [1.0, 3.0]], 2, 9),
        )

    @pytest.mark.parametrize("sample_range", [(0.5, 7.0), (None, None), (None, 6.0), (1.0, None)])
    def test_matches_gudhi(self, dgms, sample_range) -> None:
        g_range = [np.nan if v is None else v for v in sample_range]
        for d in dgms:
            ref = gr.Landscape(num_landscapes=4, resolution=37, sample_range=g_range)(d)
            ours = persistence_landscape(d, 4, 37, sample_range)
            np.testing.assert_allclose(ours.ravel() * SQRT2, ref, rtol=1e-12, atol=1e-12)

    def test_bad_parameters(self) -> None:
        with pytest.raises(InvalidInputError, match="num_landscapes"):
            persistence_landscape([[0, 1]], num_landscapes=0)
        with pytest.raises(InvalidInputError, match="resolution"):
            persistence_landscape([[0, 1]], resolution=2.5)
        with pytest.raises(InvalidInputError, match="minimum exceeds"):
            persistence_landscape([[0, 1]], sample_range=(2.0, 1.0))
        with pytest.raises(InvalidInputError, match="2 entries"):
            persistence_landscape([[0, 1]], sample_range=(0.0,))

    @FAST
    @given(diagram_st, st.integers(1, 6), st.randoms(use_true_random=False))
    def test_properties(self, dgm, k, rnd) -> None:
        out = persistence_landscape(dgm, k, 25, (0.0, 15.0))
        assert out.shape == (k, 25)
        assert (out >= 0).all()
        assert (np.diff(out, axis=0) <= 1e-12).all()  # non-increasing over k
        if len(dgm):
            assert out.max() <= (dgm[:, 1] - dgm[:, 0]).max() / 2 + 1e-12
        perm = list(range(len(dgm)))
        rnd.shuffle(perm)
        np.testing.assert_array_equal(persistence_landscape(dgm[perm], k, 25, (0.0, 15.0)), out)


# ----------------------------------------------------------------------------- image
class TestPersistenceImage:
    def test_hand_computed_single_point(self) -> None:
        sigma = 0.5
        img = persistence_image([[1.0, 3.0]], bandwidth=sigma, resolution=(3, 5),
                                im_range=(0.0, 2.0, 0.0, 4.0))
        assert img.shape == (5, 3)
        # pixel (persistence 2, birth 1) is the point itself
        assert img[2, 1] == pytest.approx(1.0 / (2 * np.pi * sigma**2))
        assert img[2, 0] == pytest.approx(np.exp(-1.0 / (2 * sigma**2)) / (2 * np.pi * sigma**2))
        assert np.unravel_index(img.argmax(), img.shape) == (2, 1)

    def test_linear_weight_is_persistence(self) -> None:
        kw = dict(bandwidth=0.3, resolution=(4, 4), im_range=(0, 1, 0, 3))
        const = persistence_image([[0.5, 3.0]], weight="constant", **kw)
        lin = persistence_image([[0.5, 3.0]], weight="linear", **kw)
        np.testing.assert_allclose(lin, 2.5 * const)

    @pytest.mark.parametrize(
        ("ours_w", "gudhi_w"),
        [("constant", lambda p: 1.0), ("linear", lambda p: p[1]),
         (lambda p: p[1] ** 2, lambda p: p[1] ** 2)],
    )
    def test_matches_gudhi(self, dgms, ours_w, gudhi_w) -> None:
        g = gr.PersistenceImage(bandwidth=0.4, weight=gudhi_w, resolution=[13, 9]).fit(dgms)
        ref = g.transform(dgms)
        for d, r in zip(dgms, ref, strict=True):
            ours = persistence_image(d, 0.4, ours_w, (13, 9), im_range=g.im_range_fixed_)
            assert ours.shape == (9, 13)
            np.testing.assert_allclose(ours.ravel(), r, rtol=1e-12, atol=1e-14)
        # range learned from the single diagram, as gudhi's __call__ does
        np.testing.assert_allclose(
            persistence_image(dgms[0], 0.4, ours_w, (13, 9)).ravel(),
            gr.PersistenceImage(bandwidth=0.4, weight=gudhi_w, resolution=[13, 9])(dgms[0]),
            rtol=1e-12, atol=1e-14,
        )

    def test_empty_and_infinite(self) -> None:
        assert not persistence_image(np.empty((0, 2)), resolution=(4, 3)).any()
        a = persistence_image([[0.0, 1.0], [0.0, np.inf]], im_range=(0, 1, 0, 1))
        b = persistence_image([[0.0, 1.0]], im_range=(0, 1, 0, 1))
        np.testing.assert_array_equal(a, b)

    def test_bad_parameters(self) -> None:
        with pytest.raises(InvalidInputError, match="bandwidth"):
            persistence_image([[0, 1]], bandwidth=0.0)
        with pytest.raises(InvalidInputError, match="weight"):
            persistence_image([[0, 1]], weight="quadratic")
        with pytest.raises(InvalidInputError, match="resolution"):
            persistence_image([[0, 1]], resolution=10)
        with pytest.raises(InvalidInputError, match="4 entries"):
            persistence_image([[0, 1]], im_range=(0, 1))

    @FAST
    @given(diagram_st, st.randoms(use_true_random=False))
    def test_order_invariance(self, dgm, rnd) -> None:
        perm = list(range(len(dgm)))
        rnd.shuffle(perm)
        kw = dict(bandwidth=0.7, resolution=(6, 5), im_range=(0, 10, 0, 5))
        a, b = persistence_image(dgm, **kw), persistence_image(dgm[perm], **kw)
        assert (a >= 0).all()
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------- entropy
class TestEntropy:
    def test_hand_computed(self) -> None:
        assert persistent_entropy([[0, 1], [2, 3]]) == pytest.approx(np.log(2))
        assert persistent_entropy([[0, 1], [2, 3]], normalize=True) == pytest.approx(1.0)
        # lifetimes 1 and 3 -> p = 1/4, 3/4
        expected = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
        assert persistent_entropy([[0, 1], [0, 3]]) == pytest.approx(expected)

    def test_degenerate_cases_are_zero(self) -> None:
        assert persistent_entropy(np.empty((0, 2))) == 0.0
        assert persistent_entropy([[0, 1]]) == 0.0
        assert persistent_entropy([[0, 1]], normalize=True) == 0.0
        assert persistent_entropy([[1, 1], [2, 2]]) == 0.0
        # diagonal points and infinite deaths are ignored
        assert persistent_entropy([[0, 1], [2, 3], [4, 4], [0, np.inf]]) == pytest.approx(np.log(2))

    def test_matches_gudhi(self, dgms) -> None:
        ref = gr.Entropy(mode="scalar").fit_transform(dgms)[:, 0]
        np.testing.assert_allclose([persistent_entropy(d) for d in dgms], ref, rtol=1e-12)

    @FAST
    @given(diagram_st, st.randoms(use_true_random=False))
    def test_bounds_and_order_invariance(self, dgm, rnd) -> None:
        e = persistent_entropy(dgm)
        n = int(((dgm[:, 1] - dgm[:, 0]) > 0).sum())
        assert 0.0 <= e <= (np.log(n) if n > 1 else 0.0) + 1e-9
        assert 0.0 <= persistent_entropy(dgm, normalize=True) <= 1.0 + 1e-9
        perm = list(range(len(dgm)))
        rnd.shuffle(perm)
        assert persistent_entropy(dgm[perm]) == pytest.approx(e, abs=1e-12)


# ----------------------------------------------------------------------------- polynomial
class TestComplexPolynomial:
    def test_hand_computed(self) -> None:
        # roots i and 1 + 2i: (z - i)(z - 1 - 2i) = z^2 - (1 + 3i) z + (-2 + i)
        out = complex_polynomial([[0.0, 1.0], [1.0, 2.0]], n_coeffs=3)
        assert out.dtype == np.complex128
        np.testing.assert_allclose(out, [-(1 + 3j), -2 + 1j, 0])

    def test_matches_numpy_poly(self) -> None:
        rng = np.random.default_rng(3)
        d = random_dgm(rng, 6)
        full = np.poly(d[:, 0] + 1j * d[:, 1])[1:]
        np.testing.assert_allclose(complex_polynomial(d, 6), full, rtol=1e-12)

    @pytest.mark.parametrize("kind", ["R", "S", "T"])
    def test_matches_gudhi(self, dgms, kind) -> None:
        d0 = np.vstack([dgms[0], [[0.0, 0.0]]])  # a point at the origin for kind "S"
        data = [*dgms, d0, np.array([[0.0, 1e-300], [1e-310, 2e-310]])]
        ref = gr.ComplexPolynomial(polynomial_type=kind, threshold=7).fit_transform(data)
        ours = np.stack([complex_polynomial(d, 7, kind) for d in data])
        np.testing.assert_allclose(ours, ref, rtol=1e-11, atol=1e-11)

    def test_empty_infinite_and_large(self) -> None:
        assert not complex_polynomial(np.empty((0, 2)), 4).any()
        np.testing.assert_array_equal(complex_polynomial([[0, 1], [0, np.inf]], 2),
                                      complex_polynomial([[0, 1]], 2))
        big = np.column_stack([np.zeros(3000), np.full(3000, 10.0)])
        assert np.isfinite(complex_polynomial(big, 3)).all()

    def test_bad_parameters(self) -> None:
        with pytest.raises(InvalidInputError, match="kind"):
            complex_polynomial([[0, 1]], kind="Q")
        with pytest.raises(InvalidInputError, match="n_coeffs"):
            complex_polynomial([[0, 1]], n_coeffs=0)

    @FAST
    @given(diagram_st, st.sampled_from("RST"), st.randoms(use_true_random=False))
    def test_order_invariance(self, dgm, kind, rnd) -> None:
        perm = list(range(len(dgm)))
        rnd.shuffle(perm)
        a, b = complex_polynomial(dgm, 4, kind), complex_polynomial(dgm[perm], 4, kind)
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * (1 + np.abs(a).max()))


# ----------------------------------------------------------------------------- summaries
class TestSummaryStatistics:
    def test_hand_computed(self) -> None:
        d = PersistenceDiagrams(
            [[[0.0, 1.0], [0.0, 3.0], [0.0, np.inf]], [[1.0, 2.0], [2.0, np.inf]]],
            censored=[[False, False, False], [False, True]],
        )
        s = summary_statistics(d, dims=(0, 1), top_k=3, n_poly=1)
        assert s["H0_lifetime_top1"] == 3.0 and s["H0_lifetime_top2"] == 1.0
        assert s["H0_lifetime_top3"] == 0.0  # padded
        assert s["H0_lifetime_mean"] == 2.0
        assert s["H0_midlife_mean"] == 1.0
        assert s["H0_birth_mean"] == 0.0 and s["H0_birth_std"] == 0.0
        assert s["H0_death_mean"] == 2.0 and s["H0_death_std"] == 1.0
        assert s["H0_n_finite"] == 2.0
        assert s["H0_entropy"] == pytest.approx(persistent_entropy([[0, 1], [0, 3]]))
        # roots i and 3i: c1 = -(4i)
        assert s["H0_polyR1_re"] == 0.0 and s["H0_polyR1_im"] == -4.0
        assert s["H1_n_finite"] == 1.0 and s["H1_lifetime_top1"] == 1.0
        assert s["H1_midlife_mean"] == 1.5 and s["H1_entropy"] == 0.0

    def test_key_order_and_vector(self) -> None:
        names = summary_feature_names((0, 1), top_k=2, n_poly=1)
        assert names[:2] == ["H0_lifetime_top1", "H0_lifetime_top2"]
        assert names[2:10] == ["H0_lifetime_mean", "H0_midlife_mean", "H0_birth_mean",
                               "H0_birth_std", "H0_death_mean", "H0_death_std", "H0_entropy",
                               "H0_n_finite"]
        assert names[10:12] == ["H0_polyR1_re", "H0_polyR1_im"]
        assert names[12] == "H1_lifetime_top1" and len(names) == 24
        d = PersistenceDiagrams([[[0, 1]], [[0.5, 0.75]]])
        s = summary_statistics(d, top_k=2, n_poly=1)
        assert list(s) == names
        vnames, vec = summary_vector(d, top_k=2, n_poly=1)
        assert vnames == names and vec.dtype == np.float64
        np.testing.assert_array_equal(vec, list(s.values()))

    def test_empty_diagrams_give_zeros(self) -> None:
        d = PersistenceDiagrams([np.empty((0, 2)), [[0.0, np.inf]]], censored=[[], [True]])
        _, vec = summary_vector(d)
        assert np.isfinite(vec).all() and not vec.any()

    def test_ripser_style_list_and_single_dim(self) -> None:
        lst = [np.array([[0.0, 1.0]]), np.array([[0.2, 0.5]])]
        assert summary_statistics(lst, dims=1, top_k=1, n_poly=0) == {
            "H1_lifetime_top1": pytest.approx(0.3), "H1_lifetime_mean": pytest.approx(0.3),
            "H1_midlife_mean": pytest.approx(0.35), "H1_birth_mean": 0.2, "H1_birth_std": 0.0,
            "H1_death_mean": 0.5, "H1_death_std": 0.0, "H1_entropy": 0.0, "H1_n_finite": 1.0,
        }

    def test_errors(self) -> None:
        d = PersistenceDiagrams([[[0, 1]]])
        with pytest.raises(InvalidInputError, match="not available"):
            summary_statistics(d, dims=(0, 1))
        with pytest.raises(InvalidInputError, match="wrap"):
            summary_statistics(np.array([[0.0, 1.0]]))
        with pytest.raises(InvalidInputError, match="repeated"):
            summary_statistics(d, dims=(0, 0))
        with pytest.raises(InvalidInputError, match="top_k"):
            summary_statistics(d, dims=0, top_k=-1)
        with pytest.raises(InvalidInputError, match="empty"):
            summary_statistics(d, dims=())

    def test_top_k_matches_gudhi_persistence_lengths(self, dgms) -> None:
        ref = gr.PersistenceLengths(num_lengths=5).fit_transform(dgms)
        for d, r in zip(dgms, ref, strict=True):
            s = summary_statistics(PersistenceDiagrams([d]), dims=0, top_k=5)
            np.testing.assert_allclose([s[f"H0_lifetime_top{i}"] for i in range(1, 6)], r)

    @FAST
    @given(diagram_st, st.randoms(use_true_random=False))
    def test_order_invariance_and_finite(self, dgm, rnd) -> None:
        perm = list(range(len(dgm)))
        rnd.shuffle(perm)
        _, a = summary_vector(PersistenceDiagrams([dgm]), dims=0, top_k=4)
        _, b = summary_vector(PersistenceDiagrams([dgm[perm]]), dims=0, top_k=4)
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * (1 + np.abs(a).max()))
