"""Tests of topolens.activations: hooks, layer selection, batching, storage."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from topolens.activations import Activations, list_layers, record_activations
from topolens.exceptions import (
    IntegrityError,
    InvalidInputError,
    LayerNotFoundError,
    NonFiniteError,
    ShapeError,
    TopolensWarning,
)

# --------------------------------------------------------------------------- models


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(6 * 2 * 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(torch.relu(self.conv1(x)))
        x = self.pool2(torch.relu(self.conv2(x)))
        return self.fc(self.flatten(x))


class Block(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(d, d)
        self.act = nn.ReLU()
        self.lin2 = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.lin2(self.act(self.lin1(x)))


class ResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(4, 6)
        self.block = Block(6)
        self.head = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.stem(x)))


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(30, 5, generator=torch.Generator().manual_seed(1))


# --------------------------------------------------------------------------- values


def test_mlp_exact_values(x: torch.Tensor) -> None:
    model = _mlp()
    acts = record_activations(model, x)
    assert list(acts) == ["0", "1", "2", "3", "4"]
    with torch.no_grad():
        for k in range(5):
            expected = model[: k + 1](x).numpy()
            np.testing.assert_array_equal(acts[str(k)], expected)
            assert acts[str(k)].dtype == np.float32
            assert not acts[str(k)].flags.writeable
    assert acts.n_inputs == 30 and acts.labels is None and acts.reduce == "flatten"
    assert acts.shapes == {"0": (16,), "1": (16,), "2": (8,), "3": (8,), "4": (3,)}


def test_cnn_flatten_order_and_reduce() -> None:
    torch.manual_seed(0)
    model = SmallCNN()
    xs = torch.randn(9, 1, 8, 8)
    with torch.no_grad():
        c1 = model.conv1(xs)
        c2 = model.conv2(model.pool1(torch.relu(c1)))
    acts = record_activations(model, xs, ["conv1", "conv2", "fc"])
    np.testing.assert_array_equal(acts["conv1"], c1.reshape(9, -1).numpy())
    np.testing.assert_array_equal(acts["conv2"], c2.reshape(9, -1).numpy())
    assert acts.shapes["conv1"] == (4, 8, 8) and acts.shapes["conv2"] == (6, 4, 4)
    # neuron (channel c, position (i, j)) is column c*H*W + i*W + j
    assert acts["conv1"][3, 2 * 64 + 5 * 8 + 1] == c1[3, 2, 5, 1].item()

    mean = record_activations(model, xs, ["conv1", "conv2", "fc"], reduce="mean")
    np.testing.assert_array_equal(mean["conv1"], c1.mean((2, 3)).numpy())
    np.testing.assert_array_equal(mean["conv2"], c2.mean((2, 3)).numpy())
    np.testing.assert_array_equal(mean["fc"], acts["fc"])  # 2-D output: no-op
    assert mean.shapes["conv2"] == (6, 4, 4) and mean["conv2"].shape == (9, 6)
    mx = record_activations(model, xs, "conv1", reduce="max")
    np.testing.assert_array_equal(mx["conv1"], c1.amax((2, 3)).numpy())


def test_default_layers_are_leaves_without_passthrough() -> None:
    model = SmallCNN()
    names = list(record_activations(model, torch.randn(2, 1, 8, 8)))
    assert names == ["conv1", "pool1", "conv2", "pool2", "fc"]  # Flatten left out
    m2 = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Identity(), nn.Linear(4, 2))
    assert list(record_activations(m2, torch.randn(3, 3))) == ["0", "3"]
    leaf = nn.Linear(3, 2)
    acts = record_activations(leaf, torch.randn(4, 3))
    assert list(acts) == [""]
    assert list_layers(leaf) == [("", "Linear")]


def test_residual_block_and_inner_layers() -> None:
    torch.manual_seed(0)
    model = ResNet()
    xs = torch.randn(11, 4)
    acts = record_activations(model, xs, ["block", "block.*", "stem"])
    assert list(acts) == ["stem", "block", "block.lin1", "block.act", "block.lin2"]
    with torch.no_grad():
        s = model.stem(xs)
        h1 = model.block.lin1(s)
        h2 = model.block.lin2(torch.relu(h1))
        np.testing.assert_array_equal(acts["block.lin1"], h1.numpy())
        np.testing.assert_array_equal(acts["block.lin2"], h2.numpy())
        np.testing.assert_array_equal(acts["block"], (s + h2).numpy())
    cat = acts.concat()
    sl = acts.neuron_slices()
    assert cat.shape == (11, 30)
    for name, s_ in sl.items():
        np.testing.assert_array_equal(cat[:, s_], acts[name])
    sub = acts.concat(["block", "stem"])
    np.testing.assert_array_equal(sub[:, acts.neuron_slices(["block", "stem"])["stem"]], acts["stem"])


def test_inplace_relu_does_not_overwrite_recorded_output() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 10), nn.ReLU(inplace=True))
    xs = torch.randn(20, 3)
    acts = record_activations(model, xs, ["0", "1"])
    with torch.no_grad():
        pre = model[0](xs).numpy()
    np.testing.assert_array_equal(acts["0"], pre)
    assert (acts["0"] < 0).any()
    np.testing.assert_array_equal(acts["1"], np.maximum(pre, 0))


def _manual_batched(model: nn.Sequential, xs: torch.Tensor, upto: int, bs: int) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([model[: upto + 1](xs[i : i + bs]) for i in range(0, len(xs), bs)]).numpy()


def test_batching_invariance(x: torch.Tensor) -> None:
    # The recording itself adds no error: each batch size reproduces a manual forward
    # with the same batches bit for bit. Across batch sizes, CPU BLAS kernels (MKL) may
    # round a row differently depending on the number of rows, by about 1 ulp, so the two
    # runs are compared with a float32-level tolerance.
    model = _mlp()
    a = record_activations(model, x, batch_size=7)
    b = record_activations(model, x, batch_size=64)
    assert list(a) == list(b) and a.shapes == b.shapes
    for k in a:
        np.testing.assert_array_equal(a[k], _manual_batched(model, x, int(k), 7))
        np.testing.assert_array_equal(b[k], _manual_batched(model, x, int(k), 64))
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)
    cnn = SmallCNN()
    xs = torch.randn(20, 1, 8, 8)
    c = record_activations(cnn, xs, batch_size=3)
    d = record_activations(cnn, xs, batch_size=64)
    for k in c:
        np.testing.assert_allclose(c[k], d[k], rtol=1e-5, atol=1e-6)
    # batch sizes that split the data into the same batches give identical results
    assert record_activations(cnn, xs, batch_size=20) == d


# --------------------------------------------------------------------------- selection


def test_selection_by_name_glob_type_callable_module() -> None:
    model = ResNet()
    xs = torch.randn(3, 4)
    assert list(record_activations(model, xs, "block.lin2")) == ["block.lin2"]
    assert list(record_activations(model, xs, "block.lin?")) == ["block.lin1", "block.lin2"]
    assert list(record_activations(model, xs, "*lin[2]")) == ["block.lin2"]
    assert list(record_activations(model, xs, nn.Linear)) == [
        "stem", "block.lin1", "block.lin2", "head"]
    assert list(record_activations(model, xs, lambda n, m: n.startswith("b"))) == [
        "block", "block.lin1", "block.act", "block.lin2"]
    assert list(record_activations(model, xs, model.block.act)) == ["block.act"]
    # mixed list: union, in named_modules order
    assert list(record_activations(model, xs, ["head", nn.ReLU, "stem", "stem"])) == [
        "stem", "block.act", "head"]
    # the model itself only by the exact empty name
    assert list(record_activations(model, xs, "")) == [""]
    assert ("block", "Block") in list_layers(model)


def test_unknown_name_lists_available_and_close_matches() -> None:
    model = ResNet()
    with pytest.raises(LayerNotFoundError) as info:
        record_activations(model, torch.randn(2, 4), "block.lin3")
    msg = str(info.value)
    assert "'block.lin3'" in msg and "Did you mean" in msg and "'block.lin1'" in msg
    assert "'head' (Linear)" in msg and "'stem' (Linear)" in msg
    with pytest.raises(LayerNotFoundError, match=r"pattern 'conv\*'"):
        record_activations(model, torch.randn(2, 4), "conv*")
    with pytest.raises(LayerNotFoundError, match="no module of type Conv2d"):
        record_activations(model, torch.randn(2, 4), nn.Conv2d)
    with pytest.raises(LayerNotFoundError, match="returned False"):
        record_activations(model, torch.randn(2, 4), lambda n, m: False)
    with pytest.raises(LayerNotFoundError, match="not a submodule"):
        record_activations(model, torch.randn(2, 4), nn.ReLU())
    with pytest.raises(InvalidInputError, match="empty list"):
        record_activations(model, torch.randn(2, 4), [])
    with pytest.raises(InvalidInputError, match="cannot select"):
        record_activations(model, torch.randn(2, 4), 3)
    assert _hook_count(model) == 0


# --------------------------------------------------------------------------- hooks and modes


class Exploding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.fc(x)
        raise RuntimeError("boom in forward")


def test_hooks_removed_and_modes_restored() -> None:
    model = _mlp()
    model.train()
    model[1].eval()  # a mixed state must come back as it was
    before = {n: m.training for n, m in model.named_modules()}
    record_activations(model, torch.randn(4, 5))
    assert _hook_count(model) == 0
    assert {n: m.training for n, m in model.named_modules()} == before

    bad = Exploding()
    bad.train()
    # the model's own error comes back as a topolens error naming the batch, chained to the original
    with pytest.raises(InvalidInputError, match=r"raised RuntimeError on batch 0.*boom in forward") as info:
        record_activations(bad, torch.randn(4, 3))
    assert isinstance(info.value.__cause__, RuntimeError)
    assert _hook_count(bad) == 0
    assert bad.training and bad.fc.training


def test_eval_mode_and_no_grad_during_forward() -> None:
    seen = {}

    class Probe(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen["training"] = self.training
            seen["grad"] = torch.is_grad_enabled()
            return self.fc(x)

    m = Probe().train()
    record_activations(m, torch.randn(3, 2))
    assert seen == {"training": False, "grad": False}
    assert m.training


def test_nonfinite_output_names_layer() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    with torch.no_grad():
        model[0].bias[1] = float("nan")
    with pytest.raises(NonFiniteError) as info:
        record_activations(model, torch.randn(10, 2), batch_size=4)
    msg = str(info.value)
    assert "'0' (Linear)" in msg and "inputs 0..3" in msg and "NaN" in msg
    assert _hook_count(model) == 0
    acts = record_activations(model, torch.randn(10, 2), "0", check_finite=False)
    assert np.isnan(acts["0"][:, 1]).all()


def test_inf_in_later_batch_reports_inputs() -> None:
    class InfOn(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.where(x > 100, torch.full_like(x, float("inf")), x)

    model = nn.Sequential(nn.Linear(1, 1), InfOn())
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.zero_()
    xs = torch.zeros(10, 1)
    xs[7] = 1000.0
    with pytest.raises(NonFiniteError, match=r"'1' \(InfOn\).*inputs 6\.\.8.*\[7\]"):
        record_activations(model, xs, batch_size=3)


def test_output_errors() -> None:
    class TupleOut(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[str, torch.Tensor]:
            return ("meta", 2 * x)

    class DictOut(nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"y": x}

    class Empty(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :0]

    class Outer(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.inner(x)
            return out if isinstance(out, torch.Tensor) else x

    xs = torch.randn(4, 3)
    acts = record_activations(Outer(TupleOut()), xs, "inner")
    np.testing.assert_array_equal(acts["inner"], 2 * xs.numpy())  # first tensor element
    with pytest.raises(InvalidInputError, match=r"'inner' \(DictOut\) returned a dict"):
        record_activations(Outer(DictOut()), xs, "inner")
    with pytest.raises(ShapeError, match=r"'inner' \(Empty\).*0 neurons"):
        record_activations(Outer(Empty()), xs, "inner")


def test_reused_and_unused_modules() -> None:
    class Reuse(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.act = nn.ReLU()
            self.unused = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.fc(self.act(x)))

    m = Reuse()
    with pytest.raises(InvalidInputError, match=r"'act' \(ReLU\) ran more than once"):
        record_activations(m, torch.randn(4, 3), ["fc", "act"])
    with pytest.raises(InvalidInputError, match="never ran"):
        record_activations(m, torch.randn(4, 3), ["fc", "unused"])
    # default selection drops a module that never runs
    acts = record_activations(m, torch.randn(4, 3), lambda n, mod: n == "fc")
    assert list(acts) == ["fc"]
    assert _hook_count(m) == 0
    # default selection leaves a reused module out, with a warning, and records the rest
    with pytest.warns(TopolensWarning, match=r"leaves out \['act'\]"):
        acts = record_activations(m, torch.randn(8, 3), batch_size=3)
    assert list(acts) == ["fc"] and acts["fc"].shape == (8, 3)
    assert _hook_count(m) == 0


def test_default_selection_drops_unused_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    class Unused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 2)
            self.spare = nn.Linear(3, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)

    with caplog.at_level(logging.WARNING, logger="topolens.activations"):
        acts = record_activations(Unused(), torch.randn(5, 3), batch_size=2)
    assert list(acts) == ["fc"] and acts.n_inputs == 5
    assert "spare" in caplog.text


# --------------------------------------------------------------------------- data


def test_labels_from_tuple_dataset_and_loader() -> None:
    model = _mlp()
    xs = torch.randn(25, 5)
    ys = torch.arange(25) % 3
    ref = record_activations(model, xs)
    for data in (
        (xs, ys),
        (xs.numpy(), ys.numpy()),
        TensorDataset(xs, ys),
        DataLoader(TensorDataset(xs, ys), batch_size=6),
        [(xs[i : i + 10], ys[i : i + 10]) for i in range(0, 25, 10)],
        [{"x": xs[i : i + 10], "y": ys[i : i + 10]} for i in range(0, 25, 10)],
    ):
        acts = record_activations(model, data, batch_size=8)
        np.testing.assert_array_equal(acts.labels, ys.numpy())
        for k in ref:  # batches differ from ref's, so allow BLAS rounding (see above)
            np.testing.assert_allclose(acts[k], ref[k], rtol=1e-5, atol=1e-6)
    no_labels = record_activations(model, TensorDataset(xs))
    assert no_labels.labels is None
    assert record_activations(model, [xs[:5], xs[5:]]).labels is None


def test_numpy_float64_inputs_are_cast() -> None:
    model = _mlp()
    xs = np.random.default_rng(0).normal(size=(6, 5))
    acts = record_activations(model, xs, "4")
    with torch.no_grad():
        expected = model(torch.from_numpy(xs).float()).numpy()
    np.testing.assert_array_equal(acts["4"], expected)


def test_custom_dataset_and_generator() -> None:
    class DS(Dataset):
        def __len__(self) -> int:
            return 13

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            return torch.full((5,), float(i)), i

    acts = record_activations(_mlp(), DS(), "0", batch_size=4)
    np.testing.assert_array_equal(acts.labels, np.arange(13))
    gen = (torch.randn(3, 5) for _ in range(4))
    assert record_activations(_mlp(), gen, "0").n_inputs == 12


def test_max_inputs() -> None:
    model = _mlp()
    xs = torch.randn(50, 5)
    ys = torch.arange(50)
    full = record_activations(model, (xs, ys))
    for data in ((xs, ys), DataLoader(TensorDataset(xs, ys), batch_size=8)):
        acts = record_activations(model, data, batch_size=8, max_inputs=13)
        assert acts.n_inputs == 13
        np.testing.assert_array_equal(acts.labels, np.arange(13))
        np.testing.assert_array_equal(acts["2"], full["2"][:13])
    assert record_activations(model, xs, max_inputs=500).n_inputs == 50


def test_bad_arguments() -> None:
    model = _mlp()
    with pytest.raises(InvalidInputError, match="batch_size"):
        record_activations(model, torch.randn(3, 5), batch_size=0)
    with pytest.raises(InvalidInputError, match="reduce"):
        record_activations(model, torch.randn(3, 5), reduce="sum")
    with pytest.raises(InvalidInputError, match="no inputs"):
        record_activations(model, torch.randn(0, 5))
    with pytest.raises(ShapeError, match="labels"):
        record_activations(model, (torch.randn(3, 5), torch.arange(4)))
    with pytest.raises(InvalidInputError, match="expected a tensor"):
        record_activations(model, "data.npy")
    with pytest.raises(InvalidInputError, match="Module"):
        record_activations("model", torch.randn(3, 5))  # type: ignore[arg-type]


def test_shuffling_loader_warns() -> None:
    loader = DataLoader(TensorDataset(torch.randn(6, 5)), batch_size=3, shuffle=True)
    with pytest.warns(TopolensWarning, match="shuffle"):
        record_activations(_mlp(), loader, "0")


# --------------------------------------------------------------------------- storage


def test_store_round_trip(tmp_path) -> None:
    model = ResNet()
    xs = torch.randn(21, 4)
    ys = torch.arange(21)
    mem = record_activations(model, (xs, ys), ["stem", "block", "block.lin1"], batch_size=5)
    store = tmp_path / "acts"
    disk = record_activations(model, (xs, ys), ["stem", "block", "block.lin1"], batch_size=5,
                              store=store)
    assert disk == mem
    assert disk.directory == store
    assert isinstance(disk["block"], np.memmap) and not disk["block"].flags.writeable
    np.testing.assert_array_equal(disk.concat(), mem.concat())
    assert not list(store.glob("*.partial")) and not list(store.glob(".*"))

    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["n_inputs"] == 21
    assert [layer["name"] for layer in manifest["layers"]] == ["stem", "block", "block.lin1"]
    assert manifest["layers"][1]["shape"] == [6]

    again = Activations.load(store)
    assert again == mem and again.shapes == mem.shapes
    np.testing.assert_array_equal(again.labels, ys.numpy())
    in_ram = Activations.load(store, mmap=False)
    assert in_ram == mem and in_ram.directory is None

    # save() writes the same format; a second store replaces the first
    out = mem.save(tmp_path / "saved")
    assert Activations.load(out) == mem
    small = record_activations(model, xs[:4], "head", store=store)
    assert list(Activations.load(store)) == ["head"]
    assert small.labels is None
    assert len(list(store.glob("*.f32"))) == 1 and not (store / "labels.npy").exists()


def test_store_streams_unknown_length_and_cnn(tmp_path) -> None:
    model = SmallCNN()
    xs = torch.randn(10, 1, 8, 8)
    gen = (xs[i : i + 3] for i in range(0, 10, 3))
    disk = record_activations(model, gen, store=tmp_path / "s")
    assert disk == record_activations(model, xs, batch_size=3)  # same batches: identical
    assert disk.shapes["conv1"] == (4, 8, 8)


def test_store_failure_leaves_no_partial_files(tmp_path) -> None:
    model = nn.Sequential(nn.Linear(1, 1))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.zero_()
    xs = torch.zeros(9, 1)
    xs[8] = float("nan")
    with pytest.raises(NonFiniteError):
        record_activations(model, xs, batch_size=2, store=tmp_path / "s")
    assert list((tmp_path / "s").iterdir()) == []


def test_load_detects_corruption(tmp_path) -> None:
    mem = record_activations(_mlp(), torch.randn(8, 5), ["0", "2"])
    store = mem.save(tmp_path / "a")
    f = store / json.loads((store / "manifest.json").read_text())["layers"][1]["file"]
    f.write_bytes(f.read_bytes()[:-4])
    with pytest.raises(IntegrityError, match="bytes"):
        Activations.load(store)
    f.unlink()
    with pytest.raises(IntegrityError, match="missing"):
        Activations.load(store)
    (store / "manifest.json").write_text("{not json")
    with pytest.raises(IntegrityError):
        Activations.load(store)
    meta = {"format": "topolens.Activations", "version": 1, "n_inputs": 8, "dtype": "<f4",
            "reduce": "flatten", "layers": [{"name": "x", "file": "../evil.f32", "n_neurons": 1,
                                             "shape": [1]}]}
    (store / "manifest.json").write_text(json.dumps(meta))
    with pytest.raises(IntegrityError, match="plain file name"):
        Activations.load(store)
    with pytest.raises(InvalidInputError, match="manifest"):
        Activations.load(tmp_path / "nowhere")


def test_file_names_are_sanitized(tmp_path) -> None:
    acts = Activations({"a/../b c": np.ones((3, 2)), "": np.zeros((3, 1))})
    out = acts.save(tmp_path / "x")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["0000_a_.._b_c.f32", "0001_root.f32", "manifest.json"]
    assert Activations.load(out) == acts


# --------------------------------------------------------------------------- container


def test_activations_container() -> None:
    acts = Activations({"a": np.ones((4, 2)), "b": np.arange(12).reshape(4, 3)},
                       labels=[0, 1, 0, 1], shapes={"b": (3,)})
    assert acts.layers == ("a", "b") and len(acts) == 2 and "a" in acts
    assert acts.n_neurons == {"a": 2, "b": 3}
    assert acts["b"].dtype == np.float32
    with pytest.raises(ValueError, match="read-only"):
        acts["a"][0, 0] = 5.0
    with pytest.raises(KeyError):
        acts["c"]
    with pytest.raises(LayerNotFoundError, match="Did you mean 'a'"):
        acts.concat(["a", "aa"])
    assert acts.get("c") is None
    assert acts.neuron_slices() == {"a": slice(0, 2), "b": slice(2, 5)}
    assert acts.concat("b").shape == (4, 3)
    r = repr(acts)
    assert "n_inputs=4" in r and "'b': 3 neurons" in r
    with pytest.raises(ShapeError, match="same number of inputs"):
        Activations({"a": np.ones((4, 2)), "b": np.ones((3, 2))})
    with pytest.raises(ShapeError, match="0 neurons"):
        Activations({"a": np.ones((4, 0))})
    with pytest.raises(ShapeError, match="2-D"):
        Activations({"a": np.ones(4)})
    with pytest.raises(ShapeError, match="labels"):
        Activations({"a": np.ones((4, 2))}, labels=[1, 2])
