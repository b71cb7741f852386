"""Architectures, training subsets and label noise (topolens.zoo.train)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from topolens.exceptions import ConfigError
from topolens.zoo import ModelConfig, build_model, load_zoo_data, train_model, training_subset


def test_label_noise_flips_exactly_the_fraction_to_other_classes():
    labels = np.arange(1000) % 10
    c = ModelConfig(train_size=400, label_noise=0.25, seed=7)
    idx, used = training_subset(c, labels)
    assert len(idx) == 400 and np.all(np.diff(idx) > 0)
    assert int((used != labels[idx]).sum()) == 100
    idx2, used2 = training_subset(c, labels)
    assert np.array_equal(idx, idx2) and np.array_equal(used, used2)
    _, clean = training_subset(ModelConfig(train_size=400, seed=7), labels)
    assert np.array_equal(clean, labels[idx])
    with pytest.raises(ConfigError, match="exceeds"):
        training_subset(ModelConfig(train_size=2000), labels)


@pytest.mark.parametrize("arch, depth, names", [
    ("mlp", 2, ["flatten", "fc1", "relu1", "drop1", "fc2", "relu2", "drop2", "out"]),
    ("cnn", 2, ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "drop", "fc",
                "relu_fc", "out"]),
])
def test_architectures(arch, depth, names):
    m = build_model(ModelConfig(architecture=arch, depth=depth, width=8, dropout=0.1))
    assert [n for n, _ in m.named_children()] == names
    assert m(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    bn = build_model(ModelConfig(architecture=arch, depth=1, width=8, batch_norm=True))
    assert "bn1" in dict(bn.named_children())


def test_too_deep_cnn_is_refused():
    with pytest.raises(ConfigError, match="too deep"):
        build_model(ModelConfig(architecture="cnn", depth=6, width=4))


def test_training_is_deterministic_and_measures_the_gap():
    data = load_zoo_data("mnist_sample", None, 200)
    c = ModelConfig(depth=1, width=16, epochs=2, train_size=200, label_noise=0.2, seed=1)
    a, b = train_model(c, data), train_model(c, data)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k])
    m = a.metrics
    assert m["gap"] == pytest.approx(m["train_accuracy"] - m["test_accuracy"])
    assert m["n_train"] == 200 and len(a.history["train_loss"]) == 2
    assert not torch.equal(a.initial_state["fc1.weight"], a.model.state_dict()["fc1.weight"])


def test_training_stops_at_the_target_accuracy():
    data = load_zoo_data("mnist_sample", None, 100)
    c = ModelConfig(depth=1, width=32, epochs=50, train_size=100, learning_rate=0.1,
                    stop_train_accuracy=0.9)
    out = train_model(c, data)
    h, m = out.history, out.metrics
    # the criterion is the eval-mode accuracy on the training subset, checked after the epoch
    assert h["checked_train_accuracy"][-1] >= 0.9 > max(h["checked_train_accuracy"][:-1], default=0)
    assert m["train_accuracy"] == h["checked_train_accuracy"][-1] >= 0.9
    assert m["epochs_run"] == len(h["train_accuracy"]) == h["checked_epochs"][-1] < 50
    assert m["criterion_met"] == 1.0


@pytest.mark.parametrize("config", [
    ModelConfig(depth=2, width=128),
    ModelConfig(depth=3, width=7, batch_norm=True, dropout=0.2),
    ModelConfig(architecture="cnn", depth=2, width=8),
    ModelConfig(architecture="cnn", depth=3, width=5, batch_norm=True, dropout=0.1),
    ModelConfig(architecture="vgg", depth=1, width=16, dense_layers=0),
    ModelConfig(architecture="vgg", depth=2, width=32, dense_layers=2, dropout=0.5),
    ModelConfig(architecture="vgg", depth=3, width=5, dense_layers=1, dense_width=7, batch_norm=True),
])
def test_the_size_estimate_counts_every_parameter(config):
    from topolens.zoo.train import _layer_sizes

    model = build_model(config)
    actual = sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    assert _layer_sizes(config, 28, 1)[0] == actual


def test_absurd_widths_are_refused_before_allocating():
    import time

    from topolens.exceptions import MemoryBudgetError
    from topolens.zoo import check_model_memory, estimate_model_memory

    huge = ModelConfig(depth=3, width=10**9)
    assert estimate_model_memory(huge) > 3 * 10**18  # Python ints: no overflow
    t0 = time.perf_counter()
    with pytest.raises(MemoryBudgetError, match=r"width 1,000,000,000 .* GiB"):
        build_model(huge)
    with pytest.raises(MemoryBudgetError, match="fewer --jobs"):
        check_model_memory(ModelConfig(width=4096, depth=2), copies=4, limit=10**8)
    check_model_memory(ModelConfig(width=16), limit=10**9)  # small models pass
    assert time.perf_counter() - t0 < 5


def _vgg(**kw):
    return ModelConfig(**{"architecture": "vgg", "width": 8, **kw})


@pytest.mark.parametrize("depth, dense, dropout, bn", [
    (1, 0, 0.0, False), (1, 1, 0.5, False), (2, 2, 0.5, True), (2, 1, 0.0, True), (2, 0, 0.3, False),
])
def test_vgg_layers_names_and_shapes(depth, dense, dropout, bn):
    m = build_model(_vgg(depth=depth, dense_layers=dense, dense_width=24, dropout=dropout,
                         batch_norm=bn))
    names = []
    for i in range(1, depth + 1):
        names += [f"conv{i}"] + ([f"bn{i}"] if bn else []) + [f"relu{i}", f"pool{i}"]
    names.append("flatten")
    for j in range(1, dense + 1):
        names += [f"fc{j}", f"relu_fc{j}"] + ([f"drop_fc{j}"] if dropout else [])
    names.append("out")
    children = dict(m.named_children())
    assert list(children) == names
    for i in range(1, depth + 1):  # the width doubles per block
        assert children[f"conv{i}"].out_channels == 8 * 2 ** (i - 1)
        assert children[f"conv{i}"].kernel_size == (3, 3) and children[f"conv{i}"].padding == (1, 1)
        if bn:
            assert isinstance(children[f"bn{i}"], torch.nn.BatchNorm2d)
    side = 28 // 2**depth
    flat = 8 * 2 ** (depth - 1) * side * side
    assert children["out"].in_features == (24 if dense else flat)
    if dense:
        assert children["fc1"].in_features == flat
    if dropout:
        assert all(children[f"drop_fc{j}"].p == dropout for j in range(1, dense + 1))
    m.eval()
    x = torch.rand(3, 1, 28, 28)
    assert m(x).shape == (3, 10)
    # record_activations picks the named layers; hidden_layers finds every ReLU
    from topolens import record_activations
    from topolens.generalization.features import hidden_layers

    relus = [f"relu{i}" for i in range(1, depth + 1)] + [f"relu_fc{j}" for j in range(1, dense + 1)]
    assert hidden_layers(m) == relus
    acts = record_activations(m, x, [*relus, "out"])
    assert np.asarray(acts["relu1"]).shape == (3, 8 * 28 * 28)
    assert np.asarray(acts["out"]).shape == (3, 10)


def test_vgg_parameter_count_by_hand():
    # conv 1->16 (3x3), conv 16->32, flatten 32*7*7, two dense of 64, out 10
    expect = (9 * 16 + 16) + (9 * 16 * 32 + 32) + (32 * 7 * 7 * 64 + 64) + (64 * 64 + 64) + (64 * 10 + 10)
    assert expect == 110_026
    m = build_model(_vgg(depth=2, width=16, dense_layers=2, dense_width=64))
    assert sum(p.numel() for p in m.parameters()) == expect
    bn = build_model(_vgg(depth=2, width=16, dense_layers=2, dense_width=64, batch_norm=True))
    assert sum(p.numel() for p in bn.parameters()) == expect + 2 * (16 + 32)
    m0 = build_model(_vgg(depth=1, width=16, dense_layers=0))
    assert sum(p.numel() for p in m0.parameters()) == 160 + 16 * 14 * 14 * 10 + 10


def test_too_deep_vgg_is_refused():
    with pytest.raises(ConfigError, match="too deep"):
        build_model(_vgg(depth=6, width=2))
    with pytest.raises(ConfigError, match="too deep"):  # before sizing 2**99 channels
        build_model(_vgg(depth=100, width=2))
    with pytest.raises(ConfigError, match="depth <= 4"):
        train_model(_vgg(depth=5, width=2), load_zoo_data("mnist_sample", None, 10))
    assert build_model(_vgg(depth=4, width=2))(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


@pytest.mark.parametrize("config", [
    _vgg(depth=1, dense_layers=0), _vgg(depth=2, dense_layers=2, dropout=0.5, batch_norm=True),
    ModelConfig(architecture="cnn", depth=2, width=8, dropout=0.2), ModelConfig(depth=2, width=32),
])
def test_the_activation_estimate_bounds_every_module_output(config):
    from topolens.zoo.train import _layer_sizes

    model = build_model(config).eval()
    sizes = []
    hooks = [mod.register_forward_hook(lambda _m, _i, o: sizes.append(o[0].numel()))
             for mod in model.children() if not isinstance(mod, torch.nn.Flatten)]  # a view
    model(torch.zeros(2, 1, 28, 28))
    for h in hooks:
        h.remove()
    actual = 28 * 28 + sum(sizes)
    estimate = _layer_sizes(config, 28, 1)[1]
    assert actual <= estimate <= 2 * actual  # an upper bound (4 maps per conv block), not loose


def test_vgg_memory_is_checked_before_building():
    from topolens.exceptions import MemoryBudgetError
    from topolens.zoo import check_model_memory, estimate_model_memory

    with pytest.raises(MemoryBudgetError, match="vgg of depth 2"):
        build_model(_vgg(depth=2, width=10**6))
    c = _vgg(depth=2, width=32, dense_layers=2, batch_size=32)
    params = sum(p.numel() for p in build_model(c).parameters())
    assert estimate_model_memory(c, training=False) == 4 * params
    check_model_memory(c, limit=10**10)  # the 2000-image eval batch dominates: ~1.1 GiB
    with pytest.raises(MemoryBudgetError):
        check_model_memory(c, limit=10**6)


def test_vgg_training_is_deterministic():
    data = load_zoo_data("mnist_sample", None, 50)
    c = _vgg(depth=2, width=4, dense_layers=2, dense_width=16, dropout=0.5, epochs=2,
             train_size=64, batch_size=16, seed=3)
    a, b = train_model(c, data), train_model(c, data)
    assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())
    assert all(torch.equal(v, b.initial_state[k]) for k, v in a.initial_state.items())
    assert a.metrics["criterion_met"] == 1.0  # no criterion set
    other = build_model(ModelConfig(**{**c.to_dict(), "seed": 4}))
    assert not torch.equal(other.state_dict()["conv1.weight"], a.initial_state["conv1.weight"])


def test_the_loss_criterion_stops_early_or_is_flagged_missed():
    data = load_zoo_data("mnist_sample", None, 50)
    easy = _vgg(depth=1, width=8, dense_layers=1, train_size=40, batch_size=8, learning_rate=0.05,
                epochs=60, stop_train_loss=0.05)
    out = train_model(easy, data)
    m, h = out.metrics, out.history
    assert m["criterion_met"] == 1.0 and m["epochs_run"] < 60
    assert m["train_loss"] <= 0.05 == easy.stop_train_loss
    assert m["epochs_run"] == len(h["train_loss"]) == h["checked_epochs"][-1]
    assert all(v > 0.05 for v in h["checked_train_loss"][:-1])
    # the same model, capped at 2 epochs: missed, flagged, and checked at the last epoch
    capped = train_model(ModelConfig(**{**easy.to_dict(), "epochs": 2}), data)
    assert capped.metrics["criterion_met"] == 0.0 and capped.metrics["epochs_run"] == 2
    assert capped.history["checked_epochs"][-1] == 2.0
    assert capped.metrics["train_loss"] == capped.history["checked_train_loss"][-1] > 0.05


def test_the_criterion_is_skipped_while_far_and_checked_every_few_epochs():
    from topolens.zoo.train import CHECK_EVERY

    data = load_zoo_data("mnist_sample", None, 50)
    last = 2 * CHECK_EVERY + 1
    c = _vgg(depth=1, width=4, dense_layers=1, dense_width=8, train_size=32, batch_size=32,
             learning_rate=1e-4, epochs=last, stop_train_loss=1e-6, stop_train_accuracy=1.0)
    plain = train_model(c, data)  # train and eval modes agree: only the last epoch is checked
    assert plain.history["checked_epochs"] == [last]
    assert plain.metrics["criterion_met"] == 0.0
    for extra in ({"dropout": 0.1}, {"batch_norm": True}):  # they differ: checked periodically
        out = train_model(ModelConfig(**{**c.to_dict(), **extra}), data)
        assert out.history["checked_epochs"] == [CHECK_EVERY, 2 * CHECK_EVERY, last]
        assert out.metrics["criterion_met"] == 0.0
    # a vgg without dense layers has no dropout module, whatever its dropout
    nodrop = train_model(ModelConfig(**{**c.to_dict(), "dense_layers": 0, "dropout": 0.5}), data)
    assert nodrop.history["checked_epochs"] == [last]


def test_the_criterion_uses_the_eval_mode_loss():
    # heavy dropout: the running (training-mode) loss stays far above the target while the
    # eval-mode loss of the same weights reaches it
    data = load_zoo_data("mnist_sample", None, 50)
    c = _vgg(depth=1, width=8, dense_layers=1, dense_width=256, dropout=0.7, train_size=40,
             batch_size=8, learning_rate=0.02, epochs=60, stop_train_loss=0.05)
    out = train_model(c, data)
    m, h = out.metrics, out.history
    assert m["criterion_met"] == 1.0 and m["epochs_run"] < 60
    assert m["train_loss"] <= 0.05
    assert min(h["train_loss"]) > 0.05  # running averages never met it
    assert h["train_loss"][-1] > 5 * m["train_loss"]


def test_absurd_depths_are_sized_at_once():
    # the mlp estimate is a closed form (a loop over 10**9 layers took minutes), and a
    # too-deep cnn/vgg is refused by the estimate itself, not only by build/check
    import time

    from topolens.exceptions import MemoryBudgetError
    from topolens.zoo import check_model_memory, estimate_model_memory
    from topolens.zoo.train import _layer_sizes

    t0 = time.perf_counter()
    with pytest.raises(MemoryBudgetError, match="depth 1000000000"):
        check_model_memory(ModelConfig(depth=10**9, width=4))
    assert time.perf_counter() - t0 < 5
    for depth, bn in ((1, False), (3, True)):  # by hand: 784-w-...-w-10 with 4 numbers per bn unit
        c = ModelConfig(depth=depth, width=7, batch_norm=bn)
        params = 784 * 7 + 7 + (depth - 1) * 56 + depth * (28 if bn else 0) + 80
        assert _layer_sizes(c, 28, 1) == (params, 784 + 28 * depth + 10)
    for arch in ("cnn", "vgg"):
        with pytest.raises(ConfigError, match="too deep"):
            estimate_model_memory(ModelConfig(architecture=arch, depth=10**6, width=2))
