"""extract_filters and FilterSet: hand-built models with known weights are the oracles."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from torch import nn

from topolens.exceptions import (
    InvalidInputError,
    LayerNotFoundError,
    MemoryBudgetError,
    NonFiniteError,
    ShapeError,
    TopolensError,
)
from topolens.filters._extract import FilterSet, extract_filters


def _brute_dnorm_rows(rows: np.ndarray, k: int) -> np.ndarray:
    """Mean-centred rows divided by sqrt(sum of squared 4-neighbour differences), by loops."""
    out = np.empty_like(rows)
    for r, row in enumerate(rows):
        img = (row - row.mean()).reshape(k, k)
        s = 0.0
        for i in range(k):
            for j in range(k):
                if i + 1 < k:
                    s += (img[i, j] - img[i + 1, j]) ** 2
                if j + 1 < k:
                    s += (img[i, j] - img[i, j + 1]) ** 2
        out[r] = img.ravel() / np.sqrt(s)
    return out


def _net(seed: int = 0) -> nn.Sequential:
    """conv (2 -> 3, 3x3), relu, conv (3 -> 4, 3x3), flatten, linear; weights from a seeded generator."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.arange(2 * 3 * 9, dtype=torch.float32).reshape(3, 2, 3, 3) ** 1.5 % 7)
    return net


def _expected_slices(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, outs, ins = [], [], []
    for o in range(w.shape[0]):
        for i in range(w.shape[1]):
            rows.append(w[o, i].ravel())
            outs.append(o)
            ins.append(i)
    return np.array(rows, dtype=np.float64), np.array(outs), np.array(ins)


def test_slices_in_order_with_provenance() -> None:
    net = _net()
    fs = extract_filters(net, normalize=None)
    w0 = net[0].weight.detach().double().numpy()
    w2 = net[2].weight.detach().double().numpy()
    r0, o0, i0 = _expected_slices(w0)
    r2, o2, i2 = _expected_slices(w2)
    assert len(fs) == 6 + 12 and fs.kernel_size == 3
    np.testing.assert_array_equal(fs.raw, np.r_[r0, r2])
    np.testing.assert_array_equal(fs.points, np.r_[r0, r2])
    assert fs.layer.tolist() == ["0"] * 6 + ["2"] * 12
    np.testing.assert_array_equal(fs.out_channel, np.r_[o0, o2])
    np.testing.assert_array_equal(fs.in_channel, np.r_[i0, i2])
    assert fs.model.tolist() == [0] * 18 and fs.model_names == ["model 0"]
    assert fs.mode == "slices" and fs.normalize is None and fs.n_dropped == 0
    np.testing.assert_array_equal(fs.images(), np.r_[r0, r2].reshape(-1, 3, 3))
    assert fs.points.dtype == np.float64


def test_dnorm_and_unit_normalisation_match_brute_force() -> None:
    net = _net()
    raw = extract_filters(net, normalize=None).raw
    fs = extract_filters(net)  # dnorm by default
    np.testing.assert_allclose(fs.points, _brute_dnorm_rows(raw, 3), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(fs.raw, raw)
    unit = extract_filters(net, normalize="unit")
    centred = raw - raw.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(unit.points, centred / np.linalg.norm(centred, axis=1, keepdims=True), atol=1e-12)


def test_layer_selection_by_name_and_weight_key() -> None:
    net = _net()
    fs = extract_filters(net, "2")
    assert len(fs) == 12 and set(fs.layer) == {"2"}
    assert len(extract_filters(net, ["2.weight", "0"])) == 18
    assert extract_filters(net, ["2", "0"]).layer[0] == "2"  # the order asked for
    assert len(extract_filters(net, ["0", "0"])) == 6  # repeated names count once


def test_channel_mean() -> None:
    net = _net()
    fs = extract_filters(net, "0", mode="channel_mean", normalize=None)
    w = net[0].weight.detach().double().numpy()
    np.testing.assert_allclose(fs.points, w.mean(axis=1).reshape(3, 9), rtol=0, atol=1e-12)
    assert fs.in_channel.tolist() == [-1, -1, -1] and fs.out_channel.tolist() == [0, 1, 2]
    assert fs.mode == "channel_mean"


@pytest.mark.parametrize("wrap", [None, "state_dict", "model_state_dict", "model"])
def test_state_dicts_and_checkpoints_equal_the_module(wrap: str | None) -> None:
    net = _net()
    state = net.state_dict()
    src = state if wrap is None else {wrap: state, "epoch": 3, "optimizer": {"lr": 0.1}}
    a, b = extract_filters(net), extract_filters(src)
    np.testing.assert_array_equal(a.points, b.points)
    assert a.layer.tolist() == b.layer.tolist()
    np.testing.assert_array_equal(a.in_channel, b.in_channel)


def test_numpy_state_dict_and_root_conv() -> None:
    net = _net()
    arrays = {k: v.numpy() for k, v in net.state_dict().items()}
    np.testing.assert_array_equal(extract_filters(arrays, "0").points, extract_filters(net, "0").points)
    conv = nn.Conv2d(1, 2, 3)
    fs = extract_filters(conv, normalize=None)
    np.testing.assert_array_equal(fs.raw, conv.weight.detach().double().numpy().reshape(2, 9))


def test_pooled_models_keep_provenance() -> None:
    nets = [_net(0), _net(1), _net(2)]
    fs = extract_filters(nets, "2", normalize=None)
    assert len(fs) == 36 and fs.model_names == ["model 0", "model 1", "model 2"]
    assert fs.model.tolist() == [0] * 12 + [1] * 12 + [2] * 12
    for m, net in enumerate(nets):
        np.testing.assert_array_equal(fs.raw[fs.model == m], _expected_slices(net[2].weight.detach().double().numpy())[0])
    named = extract_filters([nets[0].state_dict(), {"state_dict": nets[1].state_dict()}], names=["epoch 1", "epoch 2"])
    assert named.model_names == ["epoch 1", "epoch 2"]
    assert named.to_dict()["counts"] == [{"model": "epoch 1", "layer": "0", "n": 6},
                                         {"model": "epoch 1", "layer": "2", "n": 12},
                                         {"model": "epoch 2", "layer": "0", "n": 6},
                                         {"model": "epoch 2", "layer": "2", "n": 12}]
    json.dumps(named.to_dict())
    assert "epoch 2 / 2" in named.summary() and "36 3x3 kernel slices" in named.summary()


def test_half_model_read_without_modifying_it() -> None:
    net = _net().half()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    grads = [p.requires_grad for p in net.parameters()]
    fs = extract_filters(net, normalize=None)
    assert fs.raw.dtype == np.float64
    np.testing.assert_array_equal(fs.raw[:6], _expected_slices(net[0].weight.detach().float().numpy())[0])
    for k, v in net.state_dict().items():
        assert v.dtype == torch.float16 and torch.equal(v, before[k])
    assert [p.requires_grad for p in net.parameters()] == grads
    fs.points[:] = 0  # the arrays are copies: writing to them cannot reach the model
    assert torch.equal(net[0].weight, before["0.weight"])


def test_grouped_and_depthwise_convs() -> None:
    torch.manual_seed(0)
    grouped = nn.Conv2d(4, 6, 3, groups=2)  # weight (6, 2, 3, 3): outputs 0-2 see inputs 0-1, 3-5 see 2-3
    fs = extract_filters(grouped, normalize=None)
    assert len(fs) == 12
    np.testing.assert_array_equal(fs.out_channel, np.repeat(np.arange(6), 2))
    np.testing.assert_array_equal(fs.in_channel, [0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3])
    np.testing.assert_array_equal(fs.raw, grouped.weight.detach().double().numpy().reshape(12, 9))
    depthwise = nn.Conv2d(3, 3, 3, groups=3)
    dw = extract_filters(depthwise)
    np.testing.assert_array_equal(dw.in_channel, dw.out_channel)
    # a state dict does not know the groups: the index within the group
    assert extract_filters(grouped.state_dict()).in_channel.tolist() == [0, 1] * 6


def test_conv_transpose_is_not_read() -> None:
    net = nn.Sequential(nn.ConvTranspose2d(2, 3, 3), nn.Conv2d(3, 2, 3))
    fs = extract_filters(net)
    assert set(fs.layer) == {"1"} and len(fs) == 6
    with pytest.raises(InvalidInputError, match=r"no Conv2d layer.*ConvTranspose2d layers are not read"):
        extract_filters(nn.Sequential(nn.ConvTranspose2d(2, 3, 3)))
    with pytest.raises(InvalidInputError, match="'0' is a ConvTranspose2d, not a Conv2d"):
        extract_filters(net, "0")


def test_several_kernel_sizes_raise_naming_the_layers() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 5), nn.Conv2d(4, 4, 1))
    with pytest.raises(ShapeError, match=r"different kernel sizes \[3, 5\].*0 \(3x3\).*1 \(5x5\).*layer="):
        extract_filters(net)
    fs = extract_filters(net, "1")
    assert fs.kernel_size == 5 and fs.points.shape == (16, 25)


@pytest.mark.parametrize(("net", "layer", "err", "match"), [
    (nn.Sequential(nn.Conv2d(1, 2, (3, 5))), "0", ShapeError, r"non-square 3x5 kernel.*\(2, 1, 3, 5\)"),
    (nn.Sequential(nn.Conv2d(1, 2, 1)), "0", ShapeError, "1x1 kernel, which has no spatial structure"),
    (nn.Sequential(nn.Conv2d(1, 2, 1), nn.Conv2d(2, 2, (1, 3))), None, ShapeError,
     r"no Conv2d layer has a square kernel larger than 1x1.*0 \(1x1\), 1 \(1x3\)"),
    (nn.Sequential(nn.Linear(3, 4), nn.ReLU()), None, InvalidInputError, r"no Conv2d layer \(found <root>"),
    (nn.Linear(3, 4), None, InvalidInputError, r"no Conv2d layer \(found <root> \(Linear\)\)"),
    (nn.Sequential(nn.Conv2d(1, 2, 3)), "conv9", LayerNotFoundError, r"no conv layer 'conv9'.*0 \(3x3\)"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(2, 2)), "1", InvalidInputError, "'1' is a Linear, not a Conv2d"),
])
def test_bad_models_and_layers(net, layer, err, match) -> None:
    with pytest.raises(err, match=match):
        extract_filters(net, layer)


def test_constant_filters_are_dropped_or_refused(caplog: pytest.LogCaptureFixture) -> None:
    conv = nn.Conv2d(2, 2, 3)
    with torch.no_grad():
        conv.weight[0, 1] = 0.25  # one constant slice
    with caplog.at_level(logging.WARNING, logger="topolens.filters._extract"):
        fs = extract_filters(conv)
    assert len(fs) == 3 and fs.n_dropped == 1
    assert "dropped 1 of 4 constant" in caplog.text and "out 0 in 1" in caplog.text
    assert [(o, i) for o, i in zip(fs.out_channel, fs.in_channel, strict=True)] == [(0, 0), (1, 0), (1, 1)]
    assert extract_filters(conv, normalize=None).n_dropped == 1  # constant whatever the normalisation
    with torch.no_grad():
        conv.weight.fill_(0.5)
    with pytest.raises(InvalidInputError, match=r"all 4 filters .* are constant \(zero contrast"):
        extract_filters(conv)
    with torch.no_grad():
        conv.weight.zero_()
    with pytest.raises(InvalidInputError, match="constant"):
        extract_filters(conv, mode="channel_mean")


def test_other_bad_inputs() -> None:
    net = _net()
    with torch.no_grad():
        net[2].weight[1, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="layer '2' contains 1 NaN"):
        extract_filters(net)
    good = _net()
    cases = [
        (lambda: extract_filters(good, mode="mean"), "mode must be one of 'slices', 'channel_mean'"),
        (lambda: extract_filters(good, normalize="l2"), "normalize must be one of 'dnorm', 'unit'"),
        (lambda: extract_filters([good, good], names=["a"]), "names must be 2 string"),
        (lambda: extract_filters([good, good], names=["a", "a"]), "names must be distinct"),
        (lambda: extract_filters([]), "empty list of models"),
        (lambda: extract_filters("model.pt"), r"is a path .*torch.load\(path, weights_only=True\)"),
        (lambda: extract_filters(torch.zeros(2, 1, 3, 3)), "is a tensor of shape"),
        (lambda: extract_filters(42), "is a int; expected a torch nn.Module"),
        (lambda: extract_filters({"a": 1, "b": "x"}), "mapping without tensors"),
        (lambda: extract_filters({1: torch.zeros(2, 1, 3, 3)}), "non-string keys"),
        (lambda: extract_filters(good, layer=[]), "non-empty list of names"),
        (lambda: extract_filters(nn.LazyConv2d(4, 3)), "lazy LazyConv2d whose weight is not initialised"),
        (lambda: extract_filters({"c.weight": torch.zeros(2, 1, 3, 3, dtype=torch.complex64)}), "complex"),
        (lambda: extract_filters(nn.Conv2d(1, 2, 3, device="meta")), "'meta' device"),
    ]
    for call, match in cases:
        with pytest.raises(TopolensError, match=match):
            call()


def test_memory_is_estimated_first() -> None:
    with pytest.raises(MemoryBudgetError, match=r"the 18 filters of 2 layer\(s\).*mode='channel_mean'"):
        extract_filters(_net(), memory_limit=100)


def test_filterset_subset_concat_and_validation() -> None:
    fs = extract_filters([_net(0), _net(1)], names=["a", "b"])
    sub = fs.subset(fs.layer == "2")
    assert len(sub) == 24 and set(sub.layer) == {"2"} and sub.model_names == ["a", "b"]
    picked = fs.subset([5, 0])
    np.testing.assert_array_equal(picked.points, fs.points[[5, 0]])
    np.testing.assert_array_equal(picked.raw, fs.raw[[5, 0]])
    back = FilterSet.concat([fs.subset(fs.model == 0), fs.subset(fs.model == 1)])
    np.testing.assert_array_equal(back.points, fs.points)
    np.testing.assert_array_equal(back.model, fs.model)
    assert back.model_names == ["a", "b"]
    other = extract_filters(_net(2), names="c")
    pooled = FilterSet.concat([fs, other])
    assert pooled.model_names == ["a", "b", "c"] and pooled.model[-1] == 2 and len(pooled) == 54
    with pytest.raises(InvalidInputError, match=r"set 1 differs from set 0 in normalize 'unit' \(set 0: 'dnorm'\)"):
        FilterSet.concat([fs, extract_filters(_net(), normalize="unit")])
    with pytest.raises(InvalidInputError, match="kernel_size 5"):
        FilterSet.concat([fs, extract_filters(nn.Conv2d(1, 2, 5))])
    with pytest.raises(InvalidInputError, match="non-empty list"):
        FilterSet.concat([])
    with pytest.raises(InvalidInputError, match="item 1 is a ndarray"):
        FilterSet.concat([fs, fs.points])
    with pytest.raises(ShapeError, match=r"mask must have shape \(36,\)"):
        fs.subset(np.ones(3, dtype=bool))
    with pytest.raises(InvalidInputError, match="outside the 36 filters"):
        fs.subset([36])
    with pytest.raises(ShapeError, match=r"FilterSet\.layer has shape"):
        FilterSet(points=np.zeros((2, 9)), kernel_size=3, layer=["a"], out_channel=[0, 1], in_channel=[0, 0],
                  model=[0, 0], model_names=["m"])
    assert "36 filters 3x3" in repr(fs)
