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
    acc = out.history["train_accuracy"]
    assert acc[-1] >= 0.9 and all(a < 0.9 for a in acc[:-1])
    assert out.metrics["epochs_run"] == len(acc) < 50


@pytest.mark.parametrize("config", [
    ModelConfig(depth=2, width=128),
    ModelConfig(depth=3, width=7, batch_norm=True, dropout=0.2),
    ModelConfig(architecture="cnn", depth=2, width=8),
    ModelConfig(architecture="cnn", depth=3, width=5, batch_norm=True, dropout=0.1),
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
