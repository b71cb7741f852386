"""Tests of topolens.generalization.baselines against hand-computed and numpy oracles."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from topolens.exceptions import InvalidInputError, NonFiniteError, ShapeError
from topolens.generalization.baselines import (
    BASELINE_NAMES,
    baseline_measures,
    distance_from_init,
    norm_measures,
    output_margin,
    weight_matrices,
)


def _diag_mlp(s1: list[float], s2: list[float]) -> nn.Sequential:
    """Two Linear layers with diagonal weights (singular values s1, s2) and a BatchNorm between."""
    model = nn.Sequential(nn.Linear(len(s1), len(s1)), nn.BatchNorm1d(len(s1)),
                          nn.Linear(len(s2), len(s2)))
    with torch.no_grad():
        model[0].weight.copy_(torch.diag(torch.tensor(s1)))
        model[2].weight.copy_(torch.diag(torch.tensor(s2)))
    return model


class _Logits(nn.Module):
    """Returns its input as logits, through an identity Linear plus a Dropout (mode matters)."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.lin = nn.Linear(n_classes, n_classes, bias=False)
        self.drop = nn.Dropout(0.9)
        with torch.no_grad():
            self.lin.weight.copy_(torch.eye(n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.lin(x))


# ---------------------------------------------------------------- weight_matrices


def test_weight_matrices_module_and_state_dict_agree() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4, 2))
    names = [n for n, _ in weight_matrices(model)]
    assert names == ["0.weight", "4.weight"]
    from_state = weight_matrices(model.state_dict())
    assert [n for n, _ in from_state] == names
    assert from_state[0][1].shape == (4, 3, 3, 3)


def test_weight_matrices_no_layers() -> None:
    with pytest.raises(InvalidInputError, match="no Linear or Conv"):
        weight_matrices(nn.Sequential(nn.ReLU(), nn.BatchNorm1d(3)))
    with pytest.raises(InvalidInputError, match="no Linear or Conv"):
        weight_matrices({"bn.weight": torch.ones(3), "fc.bias": torch.ones(2)})
    with pytest.raises(InvalidInputError, match="state dict"):
        weight_matrices([torch.ones(2, 2)])


# ---------------------------------------------------------------- distance_from_init


def test_distance_from_init_matches_numpy(rng: np.random.Generator) -> None:
    a0, a1 = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    b0, b1 = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    init = OrderedDict([("fc1.weight", torch.tensor(a0)), ("fc1.bias", torch.zeros(3)),
                        ("fc2.weight", torch.tensor(b0))])
    final = OrderedDict([("fc1.weight", torch.tensor(a1)), ("fc1.bias", torch.ones(3)),
                         ("fc2.weight", torch.tensor(b1))])
    expected = np.sqrt(np.sum((a1 - a0) ** 2) + np.sum((b1 - b0) ** 2))  # biases excluded
    assert distance_from_init(init, final) == pytest.approx(expected, rel=1e-12)
    assert distance_from_init(final, final) == 0.0


def test_distance_from_init_module_vs_state() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    init = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model[1].weight.add_(1.0)
    assert distance_from_init(init, model) == pytest.approx(math.sqrt(6.0), rel=1e-6)


def test_distance_from_init_mismatch() -> None:
    a = {"fc1.weight": torch.ones(2, 2), "fc2.weight": torch.ones(2, 2)}
    with pytest.raises(InvalidInputError, match=r"fc2\.weight"):
        distance_from_init(a, {"fc1.weight": torch.ones(2, 2)})
    with pytest.raises(ShapeError, match="shape"):
        distance_from_init(a, {"fc1.weight": torch.ones(2, 3), "fc2.weight": torch.ones(2, 2)})
    with pytest.raises(NonFiniteError):
        distance_from_init(a, {"fc1.weight": torch.full((2, 2), math.nan),
                               "fc2.weight": torch.ones(2, 2)})


# ---------------------------------------------------------------- norms


def test_log_norms_on_diagonal_weights() -> None:
    s1, s2 = [3.0, 1.0, 0.5], [2.0, 2.0, 1.0]
    m = norm_measures(_diag_mlp(s1, s2))
    # by hand: spectral norms 3 and 2, squared Frobenius norms 10.25 and 9
    assert m["log_prod_spec"] == pytest.approx(math.log(9.0) + math.log(4.0))
    assert m["log_sum_spec"] == pytest.approx(math.log(2 * math.sqrt(9.0 * 4.0)))
    assert m["log_prod_fro"] == pytest.approx(math.log(10.25 * 9.0))
    assert m["log_sum_fro"] == pytest.approx(math.log(2 * math.sqrt(10.25 * 9.0)))


def test_spectral_norm_matches_svd_and_conv_reshape(rng: np.random.Generator) -> None:
    k = rng.normal(size=(5, 3, 2, 2))
    m = norm_measures({"conv.weight": torch.tensor(k)})
    # conv kernel read as (out_channels, in_channels * kh * kw)
    sigma = np.linalg.svd(k.reshape(5, 12), compute_uv=False)[0]
    assert m["log_prod_spec"] == pytest.approx(2 * math.log(sigma), rel=1e-10)
    # a different reshape (e.g. (out*in, kh*kw)) would give another value
    other = np.linalg.svd(k.reshape(15, 4), compute_uv=False)[0]
    assert not math.isclose(sigma, other, rel_tol=1e-3)
    assert m["log_prod_fro"] == pytest.approx(math.log(np.sum(k**2)), rel=1e-10)
    assert m["log_sum_spec"] == pytest.approx(m["log_prod_spec"])  # d = 1


def test_log_space_does_not_overflow() -> None:
    state = {f"l{i}.weight": torch.eye(4) * 1e30 for i in range(40)}
    m = norm_measures(state)
    assert m["log_prod_spec"] == pytest.approx(40 * 2 * math.log(1e30))
    assert math.isfinite(m["log_prod_fro"])


def test_norm_errors() -> None:
    with pytest.raises(InvalidInputError, match=r"'b\.weight'.*all zeros"):
        norm_measures({"a.weight": torch.eye(2), "b.weight": torch.zeros(2, 2)})
    with pytest.raises(NonFiniteError, match=r"a\.weight"):
        norm_measures({"a.weight": torch.tensor([[1.0, math.nan], [0.0, 1.0]])})
    with pytest.raises(InvalidInputError, match="no Linear or Conv"):
        norm_measures(nn.ReLU())


# ---------------------------------------------------------------- output_margin


_LOGITS = torch.tensor([
    [3.0, 1.0, 0.0],   # y=0: 3 - 1 = 2
    [0.0, 5.0, 4.5],   # y=1: 5 - 4.5 = 0.5
    [2.0, 1.0, 0.0],   # y=2: 0 - 2 = -2 (misclassified)
    [1.0, 1.0, 1.0],   # y=0: 1 - 1 = 0 (tie)
])
_Y = torch.tensor([0, 1, 2, 0])
_MARGINS = np.array([2.0, 0.5, -2.0, 0.0])


@pytest.mark.parametrize("q", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_output_margin_hand_computed(q: float) -> None:
    got = output_margin(_Logits(3), _LOGITS, _Y, quantile=q, batch_size=3)
    assert got == pytest.approx(np.quantile(_MARGINS, q))


def test_output_margin_quantile_behaviour() -> None:
    model = _Logits(3)
    assert output_margin(model, _LOGITS, _Y, quantile=0.0) == pytest.approx(-2.0)
    assert output_margin(model, _LOGITS, _Y, quantile=1.0) == pytest.approx(2.0)
    # linear interpolation at 0.5 between the sorted margins 0 and 0.5
    assert output_margin(model, _LOGITS.numpy(), _Y.numpy(), quantile=0.5) == pytest.approx(0.25)
    qs = [output_margin(model, _LOGITS, _Y, quantile=q) for q in np.linspace(0, 1, 7)]
    assert qs == sorted(qs)


def test_output_margin_restores_train_mode() -> None:
    model = _Logits(3)
    model.train()
    # in train mode Dropout(0.9) would scramble the logits; the result shows eval mode was used
    assert output_margin(model, _LOGITS, _Y, quantile=0.5) == pytest.approx(0.25)
    assert model.training and model.drop.training and model.lin.training
    model.eval()
    output_margin(model, _LOGITS, _Y)
    assert not model.training and not model.drop.training


def test_output_margin_errors() -> None:
    model = _Logits(3)
    with pytest.raises(InvalidInputError, match=r"\[0, 2\]"):
        output_margin(model, _LOGITS, torch.tensor([0, 1, 3, 0]))
    with pytest.raises(InvalidInputError, match=r"\[0, 2\]"):
        output_margin(model, _LOGITS, torch.tensor([0, -1, 2, 0]))
    with pytest.raises(ShapeError):
        output_margin(model, _LOGITS, _Y[:3])
    with pytest.raises(InvalidInputError, match="integer"):
        output_margin(model, _LOGITS, _Y.float())
    with pytest.raises(InvalidInputError, match="quantile"):
        output_margin(model, _LOGITS, _Y, quantile=1.5)
    with pytest.raises(NonFiniteError):
        output_margin(model, torch.full((4, 3), math.nan), _Y)


# ---------------------------------------------------------------- baseline_measures


def test_baseline_measures_keys_and_values() -> None:
    model = _diag_mlp([3.0, 1.0, 0.5], [2.0, 2.0, 1.0])
    init = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model[2].weight[0, 1] = 2.0  # moves one entry by 2; spectral norm now 1 + sqrt(5)
    x = torch.eye(3)
    y = torch.tensor([0, 1, 2])
    out = baseline_measures(model, init, x, y, quantile=0.5)
    assert tuple(out) == BASELINE_NAMES
    assert out["dist_init"] == pytest.approx(2.0)
    assert out == {**out, **norm_measures(model)}
    assert out["log_prod_spec"] == pytest.approx(2 * math.log(3.0) + 2 * math.log(1 + math.sqrt(5)))
    assert out["margin"] == output_margin(model, x, y, quantile=0.5)
    assert all(isinstance(v, float) for v in out.values())
