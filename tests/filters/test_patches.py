"""image_patches and high_contrast against brute-force double loops, argsort and real photographs."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from topolens.exceptions import (
    InvalidInputError,
    MemoryBudgetError,
    NonFiniteError,
    ShapeError,
    TopolensError,
)
from topolens.filters._basis import grid_laplacian
from topolens.filters._patches import LOG_EPS, high_contrast, image_patches

WEIGHTS = (0.299, 0.587, 0.114)


def _grey_brute(img: np.ndarray) -> np.ndarray:
    """(h, w) grey levels of one (h, w) or (h, w, c) image, pixel by pixel."""
    img = np.asarray(img)
    if img.ndim == 2:
        return img.astype(np.float64)
    h, w, c = img.shape
    out = np.empty((h, w))
    for r in range(h):
        for q in range(w):
            px = img[r, q].astype(np.float64)
            out[r, q] = px[0] if c == 1 else WEIGHTS[0] * px[0] + WEIGHTS[1] * px[1] + WEIGHTS[2] * px[2]
    return out


def _patches_brute(grey: np.ndarray, size: int) -> np.ndarray:
    """Every size x size patch of a 2-D image, double loop, pixel (i, j) at column i * size + j."""
    h, w = grey.shape
    rows = []
    for r in range(h - size + 1):
        for c in range(w - size + 1):
            rows.append([grey[r + i, c + j] for i in range(size) for j in range(size)])
    return np.array(rows, dtype=np.float64).reshape(-1, size * size)


def _brute_all(images_hwc: list[np.ndarray], size: int) -> np.ndarray:
    return np.concatenate([_patches_brute(_grey_brute(im), size) for im in images_hwc])


def _random(shape, dtype, seed=0):
    g = np.random.default_rng(seed)
    if dtype is bool:
        return g.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        return g.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    return (g.random(shape) * 10).astype(dtype)


# (input shape, dtype, how to get the per-image (h, w[, c]) arrays from the input)
LAYOUTS = [
    ((7, 6), np.uint8, lambda a: [a]),
    ((3, 7, 6), np.float32, lambda a: list(a)),
    ((2, 1, 6, 7), np.float16, lambda a: [im[0] for im in a]),
    ((2, 6, 7, 1), np.uint16, lambda a: list(a)),
    ((6, 7, 3), np.uint8, lambda a: [a]),
    ((2, 6, 5, 3), np.uint16, lambda a: list(a)),
    ((2, 3, 6, 5), np.float32, lambda a: [np.moveaxis(im, 0, -1) for im in a]),
    ((5, 6, 4), np.uint8, lambda a: [a[..., :3]]),  # RGBA: alpha dropped
    ((2, 5, 6), bool, lambda a: [im.astype(np.uint8) for im in a]),
    ((2, 5, 6), np.int32, lambda a: list(a)),
]


@pytest.mark.parametrize("shape, dtype, split", LAYOUTS)
@pytest.mark.parametrize("size", [2, 3])
def test_every_layout_and_dtype_equals_the_double_loop(shape, dtype, split, size):
    a = _random(shape, dtype)
    got = image_patches(a, size)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _brute_all(split(a), size), rtol=1e-12, atol=1e-12)


def test_torch_tensors_and_nested_lists():
    a = _random((2, 3, 6, 5), np.uint8, seed=3)
    expected = _brute_all([np.moveaxis(im, 0, -1) for im in a], 3)
    np.testing.assert_allclose(image_patches(torch.from_numpy(a)), expected, rtol=1e-12)
    half = torch.rand(2, 6, 5, dtype=torch.float16)
    np.testing.assert_allclose(image_patches(half), _brute_all(list(half.float().numpy()), 3), rtol=1e-12)
    nested = _random((5, 4), np.uint8, seed=4)
    np.testing.assert_array_equal(image_patches(nested.tolist()), _patches_brute(nested.astype(float), 3))



def test_channels_first_rgb_tensor_is_read_as_grey_stack_with_a_warning():
    # a torchvision image is (3, H, W): read as three grey images (the layout rule does not depend
    # on the array type), but no longer silently
    import warnings

    from topolens.exceptions import TopolensWarning

    rgb = torch.from_numpy(_random((3, 6, 7), np.uint8, seed=5))
    with pytest.warns(TopolensWarning, match=r"3 grey images.*images\[None\]"):
        stack = image_patches(rgb)
    np.testing.assert_allclose(stack, _brute_all(list(rgb.numpy()), 3), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = image_patches(rgb[None])  # the suggested fix: one RGB image, luminance
        np.testing.assert_allclose(one, _brute_all([np.moveaxis(rgb.numpy(), 0, -1)], 3), rtol=1e-12)
        image_patches(rgb[..., None])  # the grey stack, said explicitly
        image_patches(torch.zeros(5, 6, 7))  # five grey images: not ambiguous

def test_list_of_images_of_different_sizes():
    ims = [_random((6, 8, 3), np.uint8, 1), _random((5, 5), np.float32, 2), torch.from_numpy(_random((1, 4, 9), np.uint8, 3))]
    expected = np.concatenate([_brute_all([ims[0]], 3), _brute_all([ims[1]], 3), _brute_all([ims[2].numpy()[0]], 3)])
    np.testing.assert_allclose(image_patches(ims), expected, rtol=1e-12)


def test_luminance_weights_are_bt601():
    img = np.zeros((3, 3, 3), dtype=np.uint8)
    for c, w in enumerate(WEIGHTS):
        one = img.copy()
        one[..., c] = 100
        np.testing.assert_allclose(image_patches(one), np.full((1, 9), 100 * w))


def test_sampled_positions_are_distinct_patches_of_their_image_in_raster_order():
    a = _random((4, 9, 8), np.float32, seed=5)
    got = image_patches(a, 3, n_per_image=10, seed=7)
    assert got.shape == (40, 9)
    for i in range(4):
        full = _patches_brute(a[i].astype(np.float64), 3)
        rows = got[10 * i:10 * (i + 1)]
        pos = [int(np.flatnonzero((full == r).all(axis=1))[0]) for r in rows]
        assert pos == sorted(set(pos)) and len(pos) == 10


def test_sampling_is_uniform_over_positions():
    a = np.arange(25, dtype=np.float64).reshape(5, 5)  # each of the 9 positions has a distinct first pixel
    stack = np.broadcast_to(a, (900, 5, 5))
    first = image_patches(stack, 3, n_per_image=3, seed=11)[:, 0]
    counts = np.array([(first == v).sum() for v in a[:3, :3].ravel()])
    assert counts.sum() == 2700
    assert chisquare(counts).pvalue > 1e-3


def test_seeds_reproduce_and_differ():
    a = _random((3, 20, 20), np.uint8, seed=6)
    one = image_patches(a, n_per_image=5, seed=1)
    np.testing.assert_array_equal(one, image_patches(a, n_per_image=5, seed=1))
    assert not np.array_equal(one, image_patches(a, n_per_image=5, seed=2))


def test_n_per_image_capped_with_a_warning(caplog):
    a = _random((2, 5, 5), np.uint8)
    with caplog.at_level(logging.WARNING, logger="topolens.filters._patches"):
        got = image_patches(a, 3, n_per_image=50)
    np.testing.assert_array_equal(got, image_patches(a, 3))
    assert "n_per_image=50" in caplog.text and "9 positions" in caplog.text


@pytest.fixture(scope="module")
def photos():
    from sklearn.datasets import load_sample_images

    return load_sample_images().images


def test_sklearn_photographs(photos):
    assert [im.shape for im in photos] == [(427, 640, 3)] * 2 and photos[0].dtype == np.uint8
    all_p = image_patches(photos)
    assert all_p.shape == (2 * 425 * 638, 9) and all_p.dtype == np.float64
    crop = photos[1][100:106, 200:207]
    n0 = 425 * 638
    first_rows = all_p[n0 + 100 * 638 + 200: n0 + 100 * 638 + 205]  # image 1, row 100, columns 200..204
    np.testing.assert_allclose(first_rows, _patches_brute(_grey_brute(crop), 3)[:5], rtol=1e-12)
    s1 = image_patches(photos, n_per_image=1000, seed=1)
    assert s1.shape == (2000, 9)
    np.testing.assert_array_equal(s1, image_patches(photos, n_per_image=1000, seed=1))
    assert not np.array_equal(s1, image_patches(photos, n_per_image=1000, seed=2))
    assert len(np.unique(s1[:1000], axis=0)) > 900  # distinct positions (nearly distinct values)


def test_log_intensities():
    a = _random((6, 6), np.uint8, seed=8)
    np.testing.assert_allclose(image_patches(a, log=True), np.log1p(_patches_brute(a.astype(float), 3)), rtol=1e-12)
    f = a.astype(np.float32) / 255
    np.testing.assert_allclose(image_patches(f, log=True), np.log(_patches_brute(f.astype(float), 3) + LOG_EPS),
                               rtol=1e-12)
    # img / 255 and the uint8 image differ by a constant per patch: the same after mean-centring
    u, v = image_patches(a, log=True), image_patches(f, log=True)
    np.testing.assert_allclose(u - u.mean(1, keepdims=True), v - v.mean(1, keepdims=True), atol=1e-6)
    with pytest.raises(InvalidInputError, match=r"non-negative.*-0\.5"):
        image_patches(np.full((4, 4), -0.5), log=True)
    image_patches(np.full((4, 4), -0.5))  # negative values are fine without log


def test_memory_refusal_names_n_per_image():
    a = np.zeros((2, 50, 50), dtype=np.uint8)
    with pytest.raises(MemoryBudgetError, match="n_per_image"):
        image_patches(a, memory_limit=10_000)
    assert image_patches(a, n_per_image=5, memory_limit=10**7).shape == (10, 9)


@pytest.mark.parametrize("images, kwargs, exc, text", [
    (np.zeros((5, 5)), {"size": 1}, InvalidInputError, "size must be >= 2"),
    (np.zeros((5, 5)), {"size": 2.5}, InvalidInputError, "size must be an integer"),
    (np.zeros((5, 5)), {"n_per_image": 0}, InvalidInputError, "n_per_image must be >= 1"),
    (np.zeros((2, 5)), {}, ShapeError, "smaller than the 3x3 patch"),
    (np.zeros((2, 6, 3)), {}, ShapeError, r"read as one 2x6 image with 3 channels.*\(n, h, w, 1\)"),
    ([np.zeros((5, 5)), np.zeros((2, 9))], {}, ShapeError, r"images\[1\].*2x9"),
    (np.array([[1.0, np.nan, 0], [0, 0, 0], [0, 0, 0]]), {}, NonFiniteError, "1 NaN"),
    (np.full((2, 4, 4, 3), np.inf, dtype=np.float32), {}, NonFiniteError, "infinite"),
    (np.zeros((4, 4), dtype=complex), {}, InvalidInputError, "complex"),
    (np.array([["a"] * 4] * 4), {}, InvalidInputError, "real numeric"),
    ([], {}, InvalidInputError, "empty list"),
    (np.zeros((0, 5, 5)), {}, ShapeError, "empty"),
    (np.zeros((2, 2, 5, 5, 3)), {}, ShapeError, "expected one image"),
    (np.zeros((2, 5, 5, 7)), {}, ShapeError, "no channel axis"),
    ([np.zeros((5, 5)), [1, 2, 3]], {}, ShapeError, "mixes"),
    (np.zeros(9), {}, ShapeError, "expected one image"),
    (np.zeros((4, 4)), {"log": "yes"}, InvalidInputError, "log must be True or False"),
])
def test_bad_inputs(images, kwargs, exc, text):
    with pytest.raises(exc, match=text):
        image_patches(images, **kwargs)


# ---------------------------------------------------------------- high_contrast

def _dnorm_brute(x: np.ndarray) -> np.ndarray:
    d = grid_laplacian(round(x.shape[1] ** 0.5))
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", x, d, x), 0))


@pytest.mark.parametrize("top", [0.2, 0.5, 0.05, 1.0])
def test_high_contrast_against_argsort(top):
    x = np.random.default_rng(1).normal(size=(101, 9)) * np.random.default_rng(2).random((101, 1))
    kept, idx = high_contrast(x, top, return_index=True)
    n_keep = max(1, int(np.floor(top * 101 + 0.5)))
    expected = np.sort(np.argsort(-_dnorm_brute(x))[:n_keep])
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_array_equal(kept, x[expected])
    np.testing.assert_array_equal(high_contrast(x, top), kept)


def test_high_contrast_ties_are_stable_and_inputs_flexible():
    base = np.random.default_rng(3).normal(size=(4, 9))
    x = np.repeat(base, 3, axis=0)  # each norm three times
    order = np.argsort(-_dnorm_brute(base))
    _, idx = high_contrast(x, 4 / 12, return_index=True)  # the top patch's 3 copies + the first copy of the next
    np.testing.assert_array_equal(idx, np.sort([3 * order[0], 3 * order[0] + 1, 3 * order[0] + 2, 3 * order[1]]))
    # the rounding: 2.5 rows round up to 3; (n, 3, 3) and torch input
    assert len(high_contrast(x[:10], 0.25)) == 3
    np.testing.assert_array_equal(high_contrast(torch.from_numpy(x.reshape(-1, 3, 3)), 0.5), high_contrast(x, 0.5))


def test_high_contrast_refuses_zero_contrast_rows():
    x = np.vstack([np.random.default_rng(4).normal(size=(3, 9)), np.full((7, 9), 5.0)])
    assert len(high_contrast(x, 0.3)) == 3
    with pytest.raises(InvalidInputError, match=r"only 3 have non-zero contrast.*top <= 0\.3"):
        high_contrast(x, 0.4)


@pytest.mark.parametrize("top, exc, text", [
    (0.0, InvalidInputError, r"top must be in \(0, 1\]"),
    (1.5, InvalidInputError, r"top must be in \(0, 1\]"),
    (float("nan"), InvalidInputError, r"top must be in \(0, 1\]"),
    (True, InvalidInputError, "top must be a number"),
])
def test_high_contrast_bad_top(top, exc, text):
    with pytest.raises(exc, match=text):
        high_contrast(np.ones((3, 9)), top)


def test_high_contrast_bad_patches():
    with pytest.raises(ShapeError, match="8 values per row"):
        high_contrast(np.ones((3, 8)))
    with pytest.raises(NonFiniteError):
        high_contrast(np.full((3, 9), np.nan))
    with pytest.raises(TopolensError, match="empty"):
        high_contrast(np.ones((0, 9)))
