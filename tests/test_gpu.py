"""GPU paths (skipped without CUDA; run on a machine with a GPU)."""

import numpy as np
import pytest
import torch

from topolens import activation_persistence, record_activations
from topolens.dissimilarity import (
    correlation_dissimilarity,
    cosine_dissimilarity,
    euclidean_distances,
)

from .conftest import relu_activations

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_dissimilarities_on_gpu_match_cpu():
    a = relu_activations(500, 300, seed=4)
    for f in (correlation_dissimilarity, cosine_dissimilarity):
        g = f(a, device="cuda", chunk_size=64)
        c = f(a, device="cpu")
        assert g.dtype == np.float32 and np.array_equal(g, g.T)
        np.testing.assert_allclose(g, c, atol=1e-5)
    np.testing.assert_allclose(euclidean_distances(a, device="cuda"), euclidean_distances(a, device="cpu"),
                               rtol=1e-4, atol=1e-3)


def test_record_and_persistence_on_gpu():
    model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 5)).cuda()
    x = torch.randn(400, 20)
    acts = record_activations(model, x, layers=["1"], batch_size=128)
    with torch.no_grad():
        ref = torch.relu(model[0](x.cuda())).cpu().numpy()
    np.testing.assert_allclose(acts["1"], ref, rtol=1e-5, atol=1e-6)
    res = activation_persistence(acts, device="cuda", n_neurons=50)
    cpu = activation_persistence(acts, device="cpu", n_neurons=50)
    assert res["1"][0].allclose(cpu["1"][0], atol=1e-5)
