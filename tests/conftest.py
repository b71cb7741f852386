"""Shared fixtures: small reference data made by the tests themselves."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def circle(n: int = 40, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """``n`` points on the unit circle (optionally jittered)."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    pts = np.c_[np.cos(t), np.sin(t)]
    if noise:
        pts = pts + np.random.default_rng(seed).normal(scale=noise, size=pts.shape)
    return pts


def sphere(n: int = 60, seed: int = 0) -> np.ndarray:
    """``n`` points spread on the unit sphere (Fibonacci lattice)."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5**0.5) * i
    return np.c_[np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)]


def relu_activations(n_inputs: int, n_neurons: int, rank: int = 8, seed: int = 0) -> np.ndarray:
    """Activation-like data: low-rank structure plus noise through a ReLU, float32."""
    g = np.random.default_rng(seed)
    a = g.normal(size=(n_inputs, rank)) @ g.normal(size=(rank, n_neurons)) + g.normal(size=(n_inputs, n_neurons))
    return np.maximum(a, 0).astype(np.float32)


TINY_GRID = {
    "name": "tiny",
    "dataset": "mnist_sample",
    "n_test": 300,
    "hyperparameters": {"depth": [1, 2], "width": 12, "epochs": 1, "train_size": 300,
                        "label_noise": [0.0, 0.5], "batch_size": 50},
}


@pytest.fixture(scope="session")
def tiny_zoo_path(tmp_path_factory: pytest.TempPathFactory):
    """A 4-model zoo on the bundled MNIST sample, trained once per test session (~1 s).

    Tests that modify a zoo must copy it first (``shutil.copytree``).
    """
    from topolens.zoo import train_zoo

    path = tmp_path_factory.mktemp("zoo") / "tiny"
    train_zoo(TINY_GRID, path, progress=False)
    return path
