import math

import numpy as np
import pytest
import torch
from gudhi.wasserstein import wasserstein_distance as gudhi_wasserstein
from hypothesis import given, settings
from hypothesis import strategies as st

from topolens.exceptions import InvalidInputError, ShapeError
from topolens.nn.functional import (
    pairwise_distances,
    persistence_norm,
    rips_diagrams,
    signature_loss,
    total_persistence,
    wasserstein_distance,
)


def _dgm(m, seed, n_ess=0):
    g = torch.Generator().manual_seed(seed)
    b = torch.rand(m, generator=g, dtype=torch.float64)
    d = b + torch.rand(m, generator=g, dtype=torch.float64)
    pts = torch.stack([b, d], 1)
    if n_ess:
        e = torch.rand(n_ess, generator=g, dtype=torch.float64)
        pts = torch.cat([pts, torch.stack([e, torch.full_like(e, math.inf)], 1)])
    return pts


@pytest.mark.parametrize(("p", "q"), [(1.0, math.inf), (2.0, math.inf), (2.0, 2.0), (1.0, 1.0), (3.0, 2.0)])
def test_wasserstein_matches_gudhi(p, q):
    for seed in range(4):
        a, b = _dgm(7 + seed, seed), _dgm(4 + 2 * seed, 10 + seed)
        ours = wasserstein_distance(a, b, p=p, internal_p=q).item()
        ref = gudhi_wasserstein(a.numpy(), b.numpy(), order=p, internal_p=q)
        assert ours == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_wasserstein_essential_parts_and_empty():
    a, b = _dgm(5, 0, n_ess=2), _dgm(6, 1, n_ess=2)
    ref = gudhi_wasserstein(a.numpy(), b.numpy(), order=2.0, internal_p=math.inf, keep_essential_parts=True)
    assert wasserstein_distance(a, b).item() == pytest.approx(ref, rel=1e-9)
    assert math.isinf(wasserstein_distance(a, _dgm(6, 1, n_ess=1)).item())
    empty = torch.zeros(0, 2, dtype=torch.float64)
    # every point to the diagonal: (sum ((d - b) / 2)^2)^(1/2) under the L-inf ground norm
    c = _dgm(4, 2)
    expected = (((c[:, 1] - c[:, 0]) / 2) ** 2).sum().sqrt().item()
    assert wasserstein_distance(c, empty).item() == pytest.approx(expected)
    assert wasserstein_distance(empty, empty).item() == 0.0


def test_wasserstein_gradcheck_and_descent():
    a = _dgm(6, 3).requires_grad_(True)
    b = _dgm(5, 4).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, y: wasserstein_distance(x, y, p=2.0), (a, b))
    assert torch.autograd.gradcheck(lambda x, y: wasserstein_distance(x, y, p=1.0, internal_p=2.0), (a, b))
    # start near the target (plus one point near the diagonal): the descent reaches it
    x = torch.cat([b.detach() + 0.05 * _dgm(5, 6), torch.tensor([[0.5, 0.52]], dtype=torch.float64)])
    x.requires_grad_(True)
    opt = torch.optim.SGD([x], lr=0.1)
    start = wasserstein_distance(x, b.detach()).item()
    for _ in range(40):
        opt.zero_grad()
        (wasserstein_distance(x, b.detach()) ** 2).backward()
        opt.step()
    assert wasserstein_distance(x, b.detach()).item() < 0.2 * start


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8), st.integers(1, 8))
def test_wasserstein_is_symmetric_and_permutation_invariant(seed, m1, m2):
    a, b = _dgm(m1, seed), _dgm(m2, seed + 1)
    perm = torch.randperm(m1, generator=torch.Generator().manual_seed(seed))
    d = wasserstein_distance(a, b).item()
    assert wasserstein_distance(b, a).item() == pytest.approx(d, rel=1e-9, abs=1e-12)
    assert wasserstein_distance(a[perm], b).item() == pytest.approx(d, rel=1e-9, abs=1e-12)
    assert wasserstein_distance(a, a).item() == 0.0


def test_total_persistence_and_norms():
    d = torch.tensor([[0.0, 1.0], [0.5, 3.5], [0.2, math.inf]], dtype=torch.float64, requires_grad=True)
    assert total_persistence(d).item() == 4.0
    assert total_persistence(d, p=2).item() == 10.0
    assert persistence_norm(d, 2).item() == pytest.approx(math.sqrt(10.0))
    assert persistence_norm(d, math.inf).item() == 3.0
    assert persistence_norm(torch.zeros(0, 2)).item() == 0.0
    persistence_norm(d, 2).backward()
    np.testing.assert_allclose(d.grad[:2].numpy(), np.array([[-1, 1], [-3, 3]]) / math.sqrt(10.0))
    assert (d.grad[2] == 0).all()
    with pytest.raises(InvalidInputError, match="p must"):
        persistence_norm(d, 0.5)
    with pytest.raises(ShapeError, match=r"\(m, 2\)"):
        wasserstein_distance(torch.zeros(3), d)
    with pytest.raises(InvalidInputError, match="NaN"):
        total_persistence(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(InvalidInputError, match="bottleneck"):
        wasserstein_distance(d, d, p=math.inf)


def _cloud(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64)


def test_signature_loss_matches_a_spanning_tree_brute_force():
    x, z = _cloud(20, 5, 0), _cloud(20, 2, 1)
    ours = signature_loss(x, z).item()
    # brute force: the H0 critical edges are the minimum spanning tree's (scipy)
    from scipy.sparse.csgraph import minimum_spanning_tree

    ax, az = pairwise_distances(x).numpy(), pairwise_distances(z).numpy()
    tx, tz = (np.argwhere(minimum_spanning_tree(a).toarray() > 0) for a in (ax, az))
    ref = 0.5 * (((ax[tuple(tx.T)] - az[tuple(tx.T)]) ** 2).sum() + ((az[tuple(tz.T)] - ax[tuple(tz.T)]) ** 2).sum())
    assert ours == pytest.approx(ref, rel=1e-9)


def test_signature_loss_gradcheck_h0_h1_and_zero_when_isometric():
    x = _cloud(10, 3, 2).requires_grad_(True)
    z = _cloud(10, 2, 3).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: signature_loss(a, b, dims=(0, 1)), (x, z))
    q, _ = torch.linalg.qr(_cloud(3, 3, 4))
    assert signature_loss(x.detach(), x.detach() @ q).item() == pytest.approx(0.0, abs=1e-20)
    with pytest.raises(ShapeError, match="same points"):
        signature_loss(x, z[:5])
    with pytest.raises(InvalidInputError, match="dims"):
        signature_loss(x, z, dims=())


def test_a_wasserstein_loss_on_rips_diagrams_moves_points():
    # pull a noisy circle's H1 diagram towards a target: the loss decreases under SGD
    t = torch.linspace(0, 2 * math.pi, 13, dtype=torch.float64)[:-1]
    x = (torch.stack([t.cos(), t.sin()], 1) + 0.1 * _cloud(12, 2, 5)).requires_grad_(True)
    target = torch.tensor([[0.3, 1.6]], dtype=torch.float64)
    opt = torch.optim.SGD([x], lr=0.05)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = wasserstein_distance(rips_diagrams(x)[1], target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_wasserstein_gradient_is_finite_when_matched_points_coincide():
    a = torch.tensor([[0.0, 1.0], [0.5, 3.0]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[0.0, 1.0], [0.2, 2.0]], dtype=torch.float64, requires_grad=True)
    for q in (1.0, 2.0, math.inf):
        a.grad = b.grad = None
        wasserstein_distance(a, b, p=2.0, internal_p=q).backward()
        assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
        assert (a.grad[0] == 0).all()  # the coinciding pair: the zero subgradient
