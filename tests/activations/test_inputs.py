"""Input transforms: normalize() and record_activations(transform=...)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from topolens.activations import normalize, record_activations
from topolens.exceptions import InvalidInputError, ShapeError


def test_normalize_per_channel_matches_a_hand_computation() -> None:
    x = torch.rand(5, 3, 4, 4)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    out = normalize(mean, std)(x)
    ref = (x.numpy() - np.array(mean)[None, :, None, None]) / np.array(std)[None, :, None, None]
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6, atol=1e-6)
    assert out.dtype == x.dtype
    np.testing.assert_allclose(normalize(0.5, 2.0)(x).numpy(), (x.numpy() - 0.5) / 2, rtol=1e-6)
    np.testing.assert_allclose(normalize([1.0, 2.0], 4.0)(torch.ones(2, 2)).numpy(), [[0.0, -0.25]] * 2)
    t = pickle.loads(pickle.dumps(normalize(mean, std)))
    assert t == normalize(mean, std) and "0.485" in repr(t)


@pytest.mark.parametrize(("mean", "std", "match"), [
    ([0.5, 0.5], [0.2, 0.2, 0.2], "2 value"),
    (0.5, 0.0, "std must be > 0"),
    ([0.5], [-1.0], "std must be > 0"),
    ([float("nan")], 1.0, "finite"),
    ("a", 1.0, "number"),
    ([[0.5]], 1.0, "1-D"),
    ([], 1.0, "1-D"),
])
def test_normalize_validates(mean, std, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        normalize(mean, std)


def test_normalize_checks_the_channels_of_the_inputs() -> None:
    with pytest.raises(ShapeError, match=r"3 per-channel values.*\(2, 1, 4, 4\).*axis 1"):
        normalize([0.1, 0.2, 0.3], [1.0, 1.0, 1.0])(torch.zeros(2, 1, 4, 4))


def test_transform_applied_after_conversion_before_forward() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten(), nn.Linear(2 * 4, 3))
    imgs = np.random.default_rng(0).random((6, 3, 2, 2))  # float64: cast to float32 first
    seen = []

    def spy(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.dtype)
        return normalize([0.5, 0.4, 0.3], [0.2, 0.2, 0.2])(x)

    acts = record_activations(model, imgs, ["0", "2"], transform=spy, batch_size=4)
    assert seen == [torch.float32, torch.float32]
    x = normalize([0.5, 0.4, 0.3], [0.2, 0.2, 0.2])(torch.from_numpy(imgs).float())
    with torch.no_grad():
        np.testing.assert_allclose(acts["2"], model(x).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(acts.predictions, model(x).argmax(1).numpy())
    raw = record_activations(model, imgs, "2")
    assert not np.allclose(raw["2"], acts["2"])


def test_bad_transforms_give_clear_errors() -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    xs = torch.randn(4, 3)
    with pytest.raises(InvalidInputError, match="transform must be a callable"):
        record_activations(model, xs, transform="normalize")
    with pytest.raises(InvalidInputError, match="returned a ndarray"):
        record_activations(model, xs, transform=lambda x: x.numpy())
    with pytest.raises(ShapeError, match="keep the batch axis"):
        record_activations(model, xs, transform=lambda x: x[:2])
    with pytest.raises(InvalidInputError, match=r"raised ZeroDivisionError on batch 0") as info:
        record_activations(model, xs, transform=lambda x: 1 / 0)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_transform_results_are_cast_like_the_inputs() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    xs = torch.randn(6, 3)
    mean = np.full(3, 0.5)  # numpy statistics: float64 arithmetic
    acts = record_activations(model, xs, transform=lambda x: x - torch.from_numpy(mean))
    with torch.no_grad():
        ref = model(xs - 0.5)
    np.testing.assert_allclose(acts["2"], ref.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(acts.predictions, ref.argmax(1).numpy())
    assert record_activations(model, xs, transform=lambda x: x.half())["2"].dtype == np.float32
    with pytest.raises(InvalidInputError, match="transform's outputs for batch 0 are complex"):
        record_activations(model, xs, transform=lambda x: x * (1 + 1j))
    with pytest.raises(InvalidInputError, match="the transform's outputs for batch 0 are on the 'meta' device"):
        record_activations(model, xs, transform=lambda x: x.to("meta"))


@pytest.mark.parametrize("dtype", [">f4", ">f8", np.longdouble])
def test_non_native_and_long_double_inputs_are_converted(dtype) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    xs = np.random.default_rng(1).random((5, 3))
    acts = record_activations(model, xs.astype(dtype))
    with torch.no_grad():
        np.testing.assert_allclose(acts["0"], model(torch.from_numpy(xs).float()).numpy(), rtol=1e-6)


def test_refusals_say_what_to_do() -> None:
    from topolens.activations import Activations

    with pytest.raises(ShapeError, match=r"'a': 3, 'b': 4\. Pass activations recorded on the same inputs"):
        Activations({"a": np.ones((3, 2)), "b": np.ones((4, 2))})
    with pytest.raises(ShapeError, match=r"gives 6\. Pass shapes="):
        Activations({"a": np.ones((3, 2))}, shapes={"a": (2, 3)})
    with pytest.raises(InvalidInputError, match=r"dtype <U1; expected numbers\. Convert"):
        record_activations(nn.Sequential(nn.Linear(2, 2)), [np.array([["a", "b"]])])
    with pytest.raises(InvalidInputError, match=r"found list; convert it first"):
        normalize(0.5, 0.2)([1.0, 2.0])
