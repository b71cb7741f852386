import numpy as np
import pytest
import torch

from topolens.exceptions import InvalidInputError, ShapeError
from topolens.homology import rips_persistence
from topolens.nn.functional import pairwise_distances, rips_diagrams, total_persistence


def _noisy_circle(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 2 * np.pi, n + 1, dtype=torch.float64)[:-1]
    x = torch.stack([t.cos(), t.sin()], 1) + 0.05 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return x.requires_grad_(True)


def test_values_equal_the_non_differentiable_diagram():
    x = _noisy_circle()
    h = rips_diagrams(x, max_dim=1)
    ref = rips_persistence(x.detach().numpy(), 1, metric="euclidean")
    for k in (0, 1):
        a = np.sort(h[k].detach().numpy(), axis=0)
        b = np.sort(ref[k], axis=0)
        np.testing.assert_allclose(a, b, atol=1e-12)
    assert len(h[1]) == 1 and torch.isinf(h[0][:, 1]).sum() == 1  # a circle: one loop, one component


def test_gradcheck_h0_h1_points_and_matrix():
    x = _noisy_circle()
    assert torch.autograd.gradcheck(
        lambda z: total_persistence(rips_diagrams(z)[1]) + total_persistence(rips_diagrams(z)[0], p=2), (x,))
    g = torch.Generator().manual_seed(1)
    a = torch.rand(8, 8, generator=g, dtype=torch.float64)

    def from_params(m):
        s = m + m.T
        return s - torch.diag(torch.diag(s))

    a.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda m: total_persistence(rips_diagrams(from_params(m), metric="precomputed")[0]), (a,))


def test_gradient_ascent_grows_the_loop():
    x = _noisy_circle(seed=2).detach().clone().requires_grad_(True)
    before = total_persistence(rips_diagrams(x)[1]).item()
    opt = torch.optim.SGD([x], lr=0.05)
    for _ in range(10):
        opt.zero_grad()
        (-total_persistence(rips_diagrams(x)[1])).backward()
        opt.step()
    assert total_persistence(rips_diagrams(x)[1]).item() > before + 0.1


def test_pairwise_distances_and_bad_inputs():
    x = _noisy_circle()
    np.testing.assert_allclose(pairwise_distances(x).detach().numpy(),
                               torch.cdist(x, x).detach().numpy(), atol=1e-12)
    pairwise_distances(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    with pytest.raises(InvalidInputError, match="metric"):
        rips_diagrams(x, metric="cosine")
    with pytest.raises(ShapeError, match="square"):
        rips_diagrams(torch.zeros(3, 4), metric="precomputed")
    with pytest.raises(InvalidInputError, match="NaN"):
        rips_diagrams(x * float("nan"))
    with pytest.raises(InvalidInputError, match="Tensor"):
        rips_diagrams(np.zeros((3, 2)))
    with pytest.raises(InvalidInputError, match="p must"):
        total_persistence(torch.zeros(1, 2), p=0)
    with pytest.raises(ShapeError):
        total_persistence(torch.zeros(3))


def test_an_asymmetric_matrix_is_refused_not_symmetrised():
    d = torch.tensor([[0.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    with pytest.raises(InvalidInputError, match="symmetric"):
        rips_diagrams(d, metric="precomputed")
