import importlib.util

import gudhi
import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from topolens.exceptions import InvalidInputError, NonFiniteError, ShapeError
from topolens.homology import rips_persistence
from topolens.nn.functional import (
    cubical_diagrams,
    graph_diagrams,
    pairwise_distances,
    rips_diagrams,
    total_persistence,
    vertex_filtration_persistence,
)


def _rows(a):
    """Diagram rows in lexicographic order (pairs kept together)."""
    a = np.asarray(a).reshape(-1, 2)
    return a[np.lexsort((a[:, 1], a[:, 0]))]


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
        a = _rows(h[k].detach().numpy())
        b = _rows(ref[k])
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


def test_a_batch_of_clouds_gives_one_result_per_cloud():
    xs = torch.stack([_noisy_circle(seed=s).detach() for s in range(3)])
    batch = rips_diagrams(xs, max_dim=1)
    assert len(batch) == 3
    for s in range(3):
        one = rips_diagrams(xs[s], max_dim=1)
        for k in (0, 1):
            torch.testing.assert_close(batch[s][k], one[k])
    assert len(rips_diagrams([xs[0], xs[1][:5]], max_dim=0)) == 2


# --- graphs: lower-star vertex filtrations -------------------------------------------------

def _random_graph(n, m, seed):
    g = nx.gnm_random_graph(n, m, seed=seed)
    return torch.tensor(list(g.edges), dtype=torch.long).reshape(-1, 2).T.contiguous()


def _gudhi_graph(f, ei):
    st = gudhi.SimplexTree()
    for i, x in enumerate(f.tolist()):
        st.insert([i], filtration=x)
    for a, b in ei.T.tolist():
        if a != b:
            st.insert([a, b], filtration=max(f[a].item(), f[b].item()))
    st.compute_persistence(persistence_dim_max=True, min_persistence=0.0)
    return [_rows(st.persistence_intervals_in_dimension(k).reshape(-1, 2)) for k in (0, 1)]


def test_graph_diagrams_match_gudhi_for_a_batch_in_pyg_convention():
    g = torch.Generator().manual_seed(0)
    graphs = [_random_graph(12, 15, 0), _random_graph(9, 12, 1), _random_graph(7, 5, 2)]
    offsets = np.cumsum([0, 12, 9])
    # both directions, a repeated edge and a self-loop, as torch-geometric data sets have
    ei = torch.cat([torch.cat([e, e.flip(0)], 1) + int(o) for e, o in zip(graphs, offsets, strict=True)], 1)
    ei = torch.cat([ei, ei[:, :1], torch.tensor([[3], [3]])], 1)
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor([12, 9, 7]))
    f = torch.rand(28, 2, generator=g, dtype=torch.float64)
    dg = graph_diagrams(f, ei, batch)
    assert len(dg) == 3 and all(len(per) == 2 for per in dg)
    for i, (e, o, n) in enumerate(zip(graphs, offsets, [12, 9, 7], strict=True)):
        for j in range(2):
            ref = _gudhi_graph(f[o:o + n, j], e)
            for k in (0, 1):
                np.testing.assert_allclose(_rows(dg[i][j][k].detach().numpy()), ref[k])


def test_vertex_pairs_known_path_and_gradients():
    # path 0 - 1 - 2 with f = (0, 2, 1): vertex 2 is born at 1 and dies when edge (1, 2) enters at 2;
    # vertex 1 joins an older class on entry (a zero-length pair); vertex 0 never dies
    f = torch.tensor([0.0, 2.0, 1.0], dtype=torch.float64, requires_grad=True)
    ei = torch.tensor([[0, 1], [1, 2]])
    vp = vertex_filtration_persistence(f, ei)
    np.testing.assert_array_equal(vp.vertex_pairs[:, 0].detach().numpy(), [[0, np.inf], [2, 2], [1, 2]])
    assert not vp.cycle_mask.any()
    (vp.vertex_pairs[2, 0, 1] - vp.vertex_pairs[2, 0, 0]).backward()
    np.testing.assert_array_equal(f.grad.numpy(), [0, 1, -1])


def test_vertex_filtration_gradcheck_and_cycles():
    ei = _random_graph(10, 16, 4)
    g = torch.Generator().manual_seed(4)
    f = torch.rand(10, 3, generator=g, dtype=torch.float64, requires_grad=True)
    vp = vertex_filtration_persistence(f, ei)
    fin = torch.isfinite(vp.vertex_pairs)
    assert vp.cycle_mask.sum(0).tolist() == [16 - 10 + 1] * 3  # connected: one cycle per extra edge
    assert (~fin[..., 1]).sum(0).tolist() == [1, 1, 1]

    def fn(z):
        p = vertex_filtration_persistence(z, ei)
        vals = torch.where(fin, p.vertex_pairs, torch.zeros_like(p.vertex_pairs))
        return (vals[..., 1] - vals[..., 0]) ** 2, p.edge_pairs[..., 0]

    assert torch.autograd.gradcheck(fn, (f,))


def test_graph_bad_inputs():
    f = torch.zeros(3)
    with pytest.raises(ShapeError, match="edge_index"):
        vertex_filtration_persistence(f, torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(InvalidInputError, match="only 3 nodes"):
        vertex_filtration_persistence(f, torch.tensor([[0], [5]]))
    with pytest.raises(NonFiniteError):
        vertex_filtration_persistence(torch.tensor([0.0, float("nan"), 1.0]), torch.tensor([[0], [1]]))
    with pytest.raises(InvalidInputError, match="integer"):
        vertex_filtration_persistence(f, torch.zeros(2, 1))
    with pytest.raises(ShapeError, match="batch"):
        graph_diagrams(f, torch.tensor([[0], [1]]), batch=torch.zeros(2, dtype=torch.long))
    # no edges: every vertex is its own essential class
    vp = vertex_filtration_persistence(f, torch.zeros(2, 0, dtype=torch.long))
    assert torch.isinf(vp.vertex_pairs[..., 1]).all() and vp.edge_pairs.shape == (0, 1, 2)


# --- images: cubical complexes ---------------------------------------------------------------

def _gudhi_cubical(img):
    cc = gudhi.CubicalComplex(top_dimensional_cells=img)
    cc.compute_persistence()
    return [_rows(cc.persistence_intervals_in_dimension(k).reshape(-1, 2)) for k in range(img.ndim)]


@pytest.mark.parametrize("shape", [(6, 7), (4, 5, 3)])
def test_cubical_values_match_gudhi(shape):
    g = torch.Generator().manual_seed(len(shape))
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    ours = cubical_diagrams(x)
    ref = _gudhi_cubical(x.numpy())
    assert len(ours) == len(shape)
    for k, r in enumerate(ref):
        np.testing.assert_allclose(_rows(ours[k].numpy()), r)
    sup = cubical_diagrams(x, superlevel=True)
    ref = _gudhi_cubical(-x.numpy())
    for k, r in enumerate(ref):
        np.testing.assert_allclose(_rows(-sup[k].numpy()), r)


def test_cubical_known_ring_gradcheck_and_batch():
    img = torch.zeros(7, 7, dtype=torch.float64)
    img[1:6, 1:6] = 1.0
    img[2:5, 2:5] = 0.2
    img[3, 3] = 0.5
    # superlevel sets: the bright ring (1.0) makes a loop that the dim inside (0.2) fills; the
    # centre (0.5) is a second component until then
    h = cubical_diagrams(img, superlevel=True)
    assert h[1].tolist() == [[1.0, 0.2]]
    assert sorted(h[0].tolist()) == [[0.5, 0.2], [1.0, float("-inf")]]
    g = torch.Generator().manual_seed(5)
    x = torch.rand(5, 5, generator=g, dtype=torch.float64, requires_grad=True)

    def fn(z):
        d = cubical_diagrams(z)
        return total_persistence(d[0]) + total_persistence(d[1], p=2)

    assert torch.autograd.gradcheck(fn, (x,))
    batch = cubical_diagrams(list(torch.rand(3, 4, 4, generator=g)))
    assert len(batch) == 3 and len(batch[0]) == 2
    with pytest.raises(NonFiniteError):
        cubical_diagrams(torch.tensor([[0.0, float("inf")]]))
    with pytest.raises(ShapeError):
        cubical_diagrams(torch.zeros(0, 3))


def test_rips_backends_agree_on_values_and_gradients():
    pytest.importorskip("gph", reason="giotto-ph is the optional AGPL backend (extra 'giotto')")
    x = _noisy_circle(n=15, seed=7)
    grads = []
    for backend in ("gudhi", "giotto"):
        x.grad = None
        h = rips_diagrams(x, backend=backend)
        (total_persistence(h[1]) + total_persistence(h[0], p=2)).backward()
        grads.append((x.grad.clone(), [_rows(d.detach().numpy()) for d in h]))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        np.testing.assert_allclose(a, b)
    with pytest.raises(InvalidInputError, match="backend"):
        rips_diagrams(x, backend="ripser")


# --- properties: relabelling invariance and stability ----------------------------------------

@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 14), st.integers(0, 20))
def test_graph_diagrams_are_invariant_to_relabelling_and_stable(seed, n, m):
    from topolens.diagrams import bottleneck_distance

    g = torch.Generator().manual_seed(seed)
    ei = _random_graph(n, min(m, n * (n - 1) // 2), seed)
    f = torch.rand(n, generator=g, dtype=torch.float64)
    ref = graph_diagrams(f, ei)[0][0]
    # relabel the vertices: the diagrams are the same
    perm = torch.randperm(n, generator=g)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    moved = graph_diagrams(f[perm], inv[ei])[0][0]
    for k in (0, 1):
        np.testing.assert_allclose(_rows(moved[k].numpy()), _rows(ref[k].numpy()))
    # stability: a perturbation of sup-norm eps moves each diagram by at most eps (bottleneck)
    eps = 0.05 * torch.rand(n, generator=g, dtype=torch.float64) - 0.025
    near = graph_diagrams(f + eps, ei)[0][0]
    for k in (0, 1):
        assert bottleneck_distance(near[k].numpy(), ref[k].numpy()) <= eps.abs().max().item() + 1e-12


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_cubical_diagrams_are_stable(seed):
    from topolens.diagrams import bottleneck_distance

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(6, 5, generator=g, dtype=torch.float64)
    eps = 0.1 * torch.rand(6, 5, generator=g, dtype=torch.float64) - 0.05
    for a, b in zip(cubical_diagrams(x), cubical_diagrams(x + eps), strict=True):
        assert bottleneck_distance(a.numpy(), b.numpy()) <= eps.abs().max().item() + 1e-12
    # the transpose has the same diagrams
    for a, b in zip(cubical_diagrams(x), cubical_diagrams(x.T.contiguous()), strict=True):
        np.testing.assert_allclose(_rows(a.numpy()), _rows(b.numpy()))


def test_duplicate_points_give_finite_gradients_and_the_same_diagram_on_every_backend():
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=torch.float64, requires_grad=True)
    backends = ["gudhi", "giotto"] if importlib.util.find_spec("gph") else ["gudhi"]
    rows = []
    for backend in backends:
        x.grad = None
        h = rips_diagrams(x, max_dim=1, backend=backend)
        total_persistence(h[0]).backward()
        assert torch.isfinite(x.grad).all()
        rows.append(_rows(h[0].detach().numpy()))
    # the zero-length pair of the duplicate is dropped whatever the engine
    assert all(r.shape == (3, 2) for r in rows)
    for r in rows[1:]:
        np.testing.assert_allclose(r, rows[0])
    d = pairwise_distances(x)
    d.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_graph_batch_vector_is_validated():
    f, ei = torch.rand(4), torch.tensor([[0, 2], [1, 3]])
    with pytest.raises(InvalidInputError, match="negative"):
        graph_diagrams(f, ei, batch=torch.tensor([-1, -1, 0, 0]))
    with pytest.raises(InvalidInputError, match="integer"):
        graph_diagrams(f, ei, batch=torch.tensor([0.0, 0.0, 1.0, 1.0]))
    assert len(graph_diagrams(f, ei, batch=torch.tensor([0, 0, 1, 1]))) == 2


# --- issue 13: bad and tiny inputs of rips_diagrams -------------------------------------------

@pytest.mark.parametrize("backend", ["gudhi", "giotto"])
@pytest.mark.parametrize("n", [0, 1, 2])
def test_rips_diagrams_of_zero_one_two_points(n, backend):
    if backend == "giotto":
        pytest.importorskip("gph")
    x = torch.arange(2.0 * n, dtype=torch.float64).reshape(n, 2).requires_grad_(True)
    for metric, inp in (("euclidean", x), ("precomputed", pairwise_distances(x))):
        h = rips_diagrams(inp, max_dim=2, metric=metric, backend=backend)
        assert [tuple(t.shape) for t in h] == [(n, 2), (0, 2), (0, 2)]
        if n:
            assert torch.isinf(h[0][:, 1]).sum() == 1
        if n == 2:
            np.testing.assert_allclose(h[0][0].detach().numpy(), [0, np.sqrt(8)])
            h[0][0, 1].backward()
            assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("x", "kwargs", "err", "match"),
    [(torch.randn(5, 2), {"max_dim": -1}, InvalidInputError, "max_dim"),
     (torch.randn(5, 2), {"max_dim": 1.5}, InvalidInputError, "max_dim"),
     (torch.randn(5, 2), {"max_dim": True}, InvalidInputError, "max_dim"),
     (torch.randn(5, 2), {"backend": "nope"}, InvalidInputError, "backend"),
     (torch.randn(5), {}, ShapeError, "n_points"),
     (torch.randn(2, 3, 4, 5), {}, ShapeError, "n_points"),
     (torch.full((4, 2), float("nan")), {}, NonFiniteError, "NaN"),
     (torch.randn(4, 2, dtype=torch.complex64), {}, InvalidInputError, "real"),
     (torch.ones(4, 2, dtype=torch.bool), {}, InvalidInputError, "real"),
     (torch.tensor([[0.0, -1.0], [-1.0, 0.0]]), {"metric": "precomputed"}, InvalidInputError, "negative"),
     (torch.tensor([[1.0, 1.0], [1.0, 0.0]]), {"metric": "precomputed"}, InvalidInputError, "diagonal")],
)
def test_rips_diagrams_bad_inputs_give_topolens_errors(x, kwargs, err, match):
    with pytest.raises(err, match=match):
        rips_diagrams(x, **kwargs)


def test_rips_diagrams_integer_points_are_promoted():
    x = torch.tensor([[0, 0], [3, 4], [6, 8]])
    h = rips_diagrams(x, max_dim=1)
    assert h[0].dtype == torch.get_default_dtype()
    np.testing.assert_allclose(np.sort(h[0][:, 1].numpy()), [5, 5, np.inf])


def test_rounding_in_a_precomputed_matrix_is_repaired_in_values_and_gradients():
    """1 - x @ x.T has ulp asymmetry and -2e-16 entries: the pairing sees the repaired matrix and
    the gathered values come from its symmetrised live counterpart (no negative deaths)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 4, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    x[1] = x[0]
    x.requires_grad_(True)
    d = 1 - x @ x.T
    h = rips_diagrams(d, max_dim=1, metric="precomputed")
    fixed = np.maximum((d.detach().numpy() + d.detach().numpy().T) / 2, 0)
    np.fill_diagonal(fixed, 0)
    ref = rips_persistence(fixed, 1)
    for k in (0, 1):
        a = h[k].detach().numpy()
        np.testing.assert_allclose(_rows(a[np.isfinite(a[:, 1])]), _rows(ref.finite(k)[ref.lifetimes(k) > 0]),
                                   atol=1e-12)
        assert (a >= 0).all()
    total_persistence(h[1]).backward()
    assert torch.isfinite(x.grad).all()


def test_rips_diagrams_of_a_huge_cloud_on_the_float32_pairing_engine():
    """giotto-ph pairs in float32: distances of 1e100 overflowed to inf and the loop's pairs were
    lost; they are found on a rescaled copy and gathered from the live tensor."""
    pytest.importorskip("gph", reason="giotto-ph is the optional AGPL backend (extra 'giotto')")
    t = torch.linspace(0, 2 * np.pi, 13, dtype=torch.float64)[:-1]
    x = torch.stack([torch.cos(t), torch.sin(t)], 1)
    ref = rips_diagrams(x, max_dim=1, backend="gudhi")
    big = (x * 1e100).requires_grad_(True)
    h = rips_diagrams(big, max_dim=1, backend="giotto")
    assert h[1].shape == (1, 2)
    np.testing.assert_allclose(h[1].detach().numpy() / 1e100, ref[1].detach().numpy(), rtol=1e-9)
    h[1][0, 1].backward()
    assert torch.isfinite(big.grad).all() and big.grad.abs().sum() > 0
