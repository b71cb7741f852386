"""Keras configs + HDF5 weights -> torch (topolens.zoo._keras), against a numpy NHWC oracle."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from topolens.exceptions import (
    CorruptRecordError,
    DataNotFoundError,
    InvalidInputError,
    ShapeError,
    TopolensError,
)
from topolens.zoo._keras import keras_model, keras_sequential, load_keras_weights

# ---------------------------------------------------------------- numpy oracle (NHWC, Keras rules)


def _pads(n, k, s, padding):
    if padding == "valid":
        return (n - k) // s + 1, 0, 0
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


def _pair(v):
    v = tuple(v) if isinstance(v, (list, tuple)) else (v, v)
    return int(v[0]), int(v[1])


def _act(x, name):
    if name in (None, "linear"):
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "tanh":
        return np.tanh(x)
    if name == "softmax":
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    raise AssertionError(name)


def np_conv(x, kernel, bias, strides, padding):
    n, h, w, _ = x.shape
    kh, kw, _, o = kernel.shape
    sh, sw = strides
    ho, t, _ = _pads(h, kh, sh, padding)
    wo, left, _ = _pads(w, kw, sw, padding)
    out = np.zeros((n, ho, wo, o))
    for i in range(ho):
        for j in range(wo):
            for di in range(kh):
                for dj in range(kw):
                    r, q = i * sh + di - t, j * sw + dj - left
                    if 0 <= r < h and 0 <= q < w:
                        out[:, i, j, :] += x[:, r, q, :] @ kernel[di, dj]
    return out + (0 if bias is None else bias)


def np_pool(x, k, s, padding, kind):
    n, h, w, c = x.shape
    ho, t, _ = _pads(h, k[0], s[0], padding)
    wo, left, _ = _pads(w, k[1], s[1], padding)
    out = np.zeros((n, ho, wo, c))
    for i in range(ho):
        for j in range(wo):
            r0, q0 = i * s[0] - t, j * s[1] - left
            win = x[:, max(r0, 0):min(r0 + k[0], h), max(q0, 0):min(q0 + k[1], w), :]
            out[:, i, j] = win.max((1, 2)) if kind == "max" else win.mean((1, 2))
    return out


def np_forward(layers, weights, x):
    """Keras semantics in NHWC; ``weights``: per weighted layer a dict of Keras arrays."""
    it = iter(weights)
    for layer in layers:
        cls = layer["layer_name"]
        if cls == "Conv2D":
            w = next(it)
            x = np_conv(x, w["kernel"], w.get("bias"), _pair(layer.get("strides", 1)),
                        layer.get("padding", "valid"))
            x = _act(x, layer.get("activation"))
        elif cls == "Dense":
            w = next(it)
            x = _act(x @ w["kernel"] + w.get("bias", 0), layer.get("activation"))
        elif cls in ("MaxPooling2D", "AveragePooling2D"):
            k = _pair(layer.get("pool_size", 2))
            s = _pair(layer["strides"]) if layer.get("strides") else k
            x = np_pool(x, k, s, layer.get("padding", "valid"), "max" if cls[0] == "M" else "avg")
        elif cls == "GlobalAveragePooling2D":
            x = x.mean((1, 2))
        elif cls == "Flatten":
            x = x.reshape(len(x), -1)  # C order of NHWC = Keras' channels-last flatten
        elif cls == "BatchNormalization":
            w = next(it)
            eps = layer.get("epsilon", 1e-3)
            x = w["gamma"] * (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + eps) + w["beta"]
        elif cls in ("Activation",):
            x = _act(x, layer["activation"])
        elif cls == "ReLU":
            x = np.maximum(x, 0)
        elif cls == "Dropout":
            pass
        else:
            raise AssertionError(cls)
    return x


# ---------------------------------------------------------------- Keras-layout files


def random_weights(layers, input_shape, rng):
    """Keras-shaped weights for the config (shapes derived independently of topolens)."""
    h, w, c = input_shape if len(input_shape) == 3 else (None, None, input_shape[0])
    flat = None if len(input_shape) == 3 else input_shape[0]
    out = []
    for layer in layers:
        cls = layer["layer_name"]
        if cls == "Conv2D":
            kh, kw = _pair(layer["kernel_size"])
            s = _pair(layer.get("strides", 1))
            o = layer["filters"]
            out.append({"kernel": rng.normal(size=(kh, kw, c, o)) * 0.5, "bias": rng.normal(size=o)})
            if layer.get("use_bias") is False:
                del out[-1]["bias"]
            h = _pads(h, kh, s[0], layer.get("padding", "valid"))[0]
            w = _pads(w, kw, s[1], layer.get("padding", "valid"))[0]
            c = o
        elif cls in ("MaxPooling2D", "AveragePooling2D"):
            k = _pair(layer.get("pool_size", 2))
            s = _pair(layer["strides"]) if layer.get("strides") else k
            h = _pads(h, k[0], s[0], layer.get("padding", "valid"))[0]
            w = _pads(w, k[1], s[1], layer.get("padding", "valid"))[0]
        elif cls == "GlobalAveragePooling2D":
            flat = c
        elif cls == "Flatten":
            flat = h * w * c
        elif cls == "Dense":
            u = layer["units"]
            out.append({"kernel": rng.normal(size=(flat, u)) / np.sqrt(flat), "bias": rng.normal(size=u)})
            flat = u
        elif cls == "BatchNormalization":
            n = flat if flat is not None else c
            out.append({"gamma": rng.uniform(0.5, 2, n), "beta": rng.normal(size=n),
                        "moving_mean": rng.normal(size=n), "moving_variance": rng.uniform(0.1, 3, n)})
    return out


def write_h5(path, layers, weights, prefix_group=False):
    """Keras ``save_weights`` layout: root attr layer_names, groups with weight_names."""
    order = ["kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"]
    it = iter(weights)
    counts: dict[str, int] = {}
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if prefix_group else f
        names = []
        for layer in layers:
            base = layer["layer_name"].lower()
            n = counts.get(base, 0)
            counts[base] = n + 1
            name = f"{base}_{n + 7}"  # arbitrary names: matching is by order
            names.append(name.encode())
            g = root.create_group(name)
            wnames = []
            if layer["layer_name"] in ("Conv2D", "Dense", "BatchNormalization"):
                w = next(it)
                for key in order:
                    if key in w:
                        wn = f"{name}/{key}:0"
                        g.create_dataset(wn, data=np.asarray(w[key], np.float32))
                        wnames.append(wn.encode())
            g.attrs["weight_names"] = np.array(wnames, dtype="S")
        root.attrs["layer_names"] = np.array(names, dtype="S")


CONFIGS = {
    "same_stride2_odd": ([
        {"layer_name": "Conv2D", "filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
         "activation": "relu"},
        {"layer_name": "Conv2D", "filters": 2, "kernel_size": [2, 3], "padding": "same"},
        {"layer_name": "Flatten"},
        {"layer_name": "Dense", "units": 4, "activation": "softmax"},
    ], [7, 5, 2]),
    "valid_pool_dropout": ([
        {"layer_name": "Conv2D", "filters": 4, "kernel_size": 2, "padding": "valid", "activation": "tanh"},
        {"layer_name": "MaxPooling2D", "pool_size": 2},
        {"layer_name": "Dropout", "rate": 0.5},
        {"layer_name": "Flatten"},
        {"layer_name": "Dropout", "rate": 0.3},
        {"layer_name": "Dense", "units": 5, "activation": "relu"},
        {"layer_name": "Dense", "units": 3},
    ], [7, 6, 3]),
    "same_pooling_bn_gap": ([
        {"layer_name": "Conv2D", "filters": 3, "kernel_size": 3, "padding": "same", "use_bias": False},
        {"layer_name": "BatchNormalization"},
        {"layer_name": "ReLU"},
        {"layer_name": "MaxPooling2D", "pool_size": 3, "strides": 2, "padding": "same"},
        {"layer_name": "AveragePooling2D", "pool_size": 2, "strides": 2.0, "padding": "same"},
        {"layer_name": "GlobalAveragePooling2D"},
        {"layer_name": "Dense", "units": 2},
    ], [6, 7, 2]),
    "flatten_bn_dense": ([
        {"layer_name": "Conv2D", "filters": 2, "kernel_size": 1},
        {"layer_name": "AveragePooling2D", "pool_size": [2, 1], "padding": "valid"},
        {"layer_name": "Flatten"},
        {"layer_name": "BatchNormalization", "epsilon": 0.01},
        {"layer_name": "Dense", "units": 3},
    ], [4, 3, 2]),
    "dense_stack": ([
        {"layer_name": "Dense", "units": 6, "activation": "relu"},
        {"layer_name": "BatchNormalization"},
        {"layer_name": "Dropout", "rate": 0.1},
        {"layer_name": "Dense", "units": 4},
        {"layer_name": "Activation", "activation": "softmax"},
    ], [5]),
    "flatten_last": ([
        {"layer_name": "Conv2D", "filters": 3, "kernel_size": 2, "strides": [2, 1], "padding": "same"},
        {"layer_name": "Flatten"},
    ], [5, 3, 2]),
}


def _to_torch(x_nhwc):
    x = x_nhwc if x_nhwc.ndim == 2 else x_nhwc.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


@pytest.mark.parametrize("key", sorted(CONFIGS))
def test_matches_numpy_keras(key, tmp_path):
    layers, input_shape = CONFIGS[key]
    rng = np.random.default_rng(len(key))
    weights = random_weights(layers, input_shape, rng)
    path = tmp_path / "weights.hdf5"
    write_h5(path, layers, weights)
    model = keras_model({"model_config": layers, "input_shape": input_shape}, path)
    assert not model.training
    x = rng.normal(size=(3, *input_shape)).astype(np.float32)
    want = np_forward(layers, [{k: np.float32(v) for k, v in w.items()} for w in weights],
                      x.astype(np.float64))
    with torch.no_grad():
        got = model(_to_torch(x)).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_keras_class_name_form_and_full_model_file(tmp_path):
    layers, input_shape = CONFIGS["valid_pool_dropout"]
    keras_form = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, *input_shape]}}]
    keras_form += [{"class_name": d["layer_name"], "config": {k: v for k, v in d.items() if k != "layer_name"}}
                   for d in layers]
    rng = np.random.default_rng(0)
    weights = random_weights(layers, input_shape, rng)
    write_h5(tmp_path / "m.h5", layers, weights, prefix_group=True)
    model = load_keras_weights(keras_sequential({"class_name": "Sequential", "config": {"layers": keras_form}},
                                                [None, *input_shape]), tmp_path / "m.h5")
    x = rng.normal(size=(2, *input_shape)).astype(np.float32)
    with torch.no_grad():
        got = model(_to_torch(x)).numpy()
    np.testing.assert_allclose(got, np_forward(layers, weights, x.astype(np.float64)), rtol=1e-5, atol=1e-5)


def test_layer_names_follow_keras():
    layers, shape = CONFIGS["valid_pool_dropout"]
    model = keras_sequential(layers, shape)
    names = [n for n, _ in model.named_children()]
    assert names[:3] == ["conv2d", "conv2d__act", "max_pooling2d"]
    assert model.keras_layers == [("conv2d", "Conv2D"), ("dense", "Dense"), ("dense_1", "Dense")]
    assert model.keras_input_shape == (3, 7, 6)


@pytest.mark.parametrize("layers, shape, match", [
    ([{"layer_name": "LSTM", "units": 3}], [4], "LSTM.*Supported layers: Conv2D"),
    ([{"layer_name": "Conv2D", "filters": 2, "kernel_size": 3, "padding": "full"}], [5, 5, 1], "padding"),
    ([{"layer_name": "Dense", "units": 2, "activation": "swish"}], [4], "swish"),
    ([{"layer_name": "Dense", "units": 2, "foo": 1}], [4], "foo"),
    ([{"layer_name": "Conv2D", "filters": 2, "kernel_size": 3, "data_format": "channels_first"}],
     [5, 5, 1], "channels_first"),
    ([{"layer_name": "Dense", "units": 0}], [4], "units"),
    ([{"units": 3}], [4], "layer_name"),
    ([], [4], "no layers"),
    ("Dense", [4], "list"),
])
def test_invalid_config(layers, shape, match):
    with pytest.raises(InvalidInputError, match=match):
        keras_sequential(layers, shape)


@pytest.mark.parametrize("layers, shape, match", [
    ([{"layer_name": "Dense", "units": 2}], [3, 3, 1], "Flatten"),
    ([{"layer_name": "Conv2D", "filters": 2, "kernel_size": 4}], [3, 3, 1], "does not fit"),
    ([{"layer_name": "MaxPooling2D"}], [4], "image input"),
    ([{"layer_name": "Dense", "units": 2}], [2, 3], "input_shape"),
])
def test_shape_errors(layers, shape, match):
    with pytest.raises(ShapeError, match=match):
        keras_sequential(layers, shape)


@pytest.fixture
def small(tmp_path):
    layers, shape = CONFIGS["same_stride2_odd"]
    weights = random_weights(layers, shape, np.random.default_rng(1))
    return layers, shape, weights, tmp_path


def test_wrong_kernel_shape(small):
    layers, shape, weights, tmp = small
    weights[1]["kernel"] = weights[1]["kernel"][:, :, :2]  # in-channels 2 instead of 3
    write_h5(tmp / "w.h5", layers, weights)
    with pytest.raises(ShapeError, match=r"conv2d_8.*\(2, 3, 2, 2\); expected \(2, 3, 3, 2\)"):
        keras_model({"model_config": layers, "input_shape": shape}, tmp / "w.h5")


def test_missing_layer(small):
    layers, shape, weights, tmp = small
    write_h5(tmp / "w.h5", layers[:2], weights[:2])
    with pytest.raises(ShapeError, match=r"2 layers with weights.*the model has 3"):
        keras_model({"model_config": layers, "input_shape": shape}, tmp / "w.h5")


def test_missing_truncated_and_foreign_files(small):
    layers, shape, weights, tmp = small
    cfg = {"model_config": layers, "input_shape": shape}
    with pytest.raises(DataNotFoundError, match="does not exist"):
        keras_model(cfg, tmp / "absent.h5")
    write_h5(tmp / "w.h5", layers, weights)
    data = (tmp / "w.h5").read_bytes()
    (tmp / "cut.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptRecordError):
        keras_model(cfg, tmp / "cut.h5")
    (tmp / "text.h5").write_text("not hdf5")
    with pytest.raises(CorruptRecordError, match="HDF5"):
        keras_model(cfg, tmp / "text.h5")
    with h5py.File(tmp / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(CorruptRecordError, match="layer_names"):
        keras_model(cfg, tmp / "other.h5")


def test_config_path_and_bad_config(tmp_path):
    layers, shape = CONFIGS["dense_stack"]
    (tmp_path / "config.json").write_text(__import__("json").dumps({"model_config": layers, "input_shape": shape}))
    model = keras_model(tmp_path / "config.json")
    assert model(torch.zeros(2, 5)).shape == (2, 4)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(CorruptRecordError):
        keras_model(tmp_path / "bad.json")
    with pytest.raises(InvalidInputError, match="model_config"):
        keras_model({"layers": layers})
    with pytest.raises(TopolensError):
        load_keras_weights(torch.nn.Sequential(), tmp_path / "config.json")


def test_huge_config_refused_before_allocating():
    from topolens.exceptions import MemoryBudgetError

    layers = [{"layer_name": "Dense", "units": 1 << 20}, {"layer_name": "Dense", "units": 1 << 20}]
    with pytest.raises(MemoryBudgetError, match="parameters"):
        keras_sequential(layers, [4])
