"""PersLay graph classification: fast layers against the reference Modules, masking, caching,
per-fold scaling, a small end-to-end fit and the MUTAG preprocessing (when the data is there)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from topolens.datasets.tu import Graph, GraphDataset, load_tu
from topolens.exceptions import DataNotFoundError, InvalidInputError, ShapeError
from topolens.nn._perslay import pad_diagrams
from topolens.nn.graph_classification import (
    PAPER_ACCURACY,
    PAPER_CONFIGS,
    UNIT_BOUNDS,
    ImageConv,
    ImagePersLay,
    PermEqPersLay,
    PersLayConfig,
    PersLayGraphClassifier,
    cross_validate,
    prepare_fold,
    preprocess,
    train_fold,
)
from topolens.nn.perslay import GridWeight, ImagePhi, PersLay

pytest.importorskip("gudhi")


def random_batch(seed: int, sizes=(0, 3, 7, 1), garbage: float | None = 7.5):
    rng = np.random.default_rng(seed)
    dgms = [np.sort(rng.random((k, 2)), axis=1) for k in sizes]
    d, m = pad_diagrams(dgms, dtype=torch.float64)
    if garbage is not None:
        d[~m] = garbage  # padding may hold anything
    return d, m


def cycle(n: int) -> np.ndarray:
    return np.array([(i, (i + 1) % n) for i in range(n)])


def synthetic_dataset(n_per_class: int = 16, seed: int = 0) -> GraphDataset:
    """Class 0: cycles with a pendant path; class 1: trees (random) of the same sizes."""
    rng = np.random.default_rng(seed)
    graphs, y = [], []
    for i in range(2 * n_per_class):
        n = int(rng.integers(8, 14))
        if i % 2 == 0:
            c = int(rng.integers(4, n - 1))
            e = np.vstack([cycle(c), [(j, j + 1) for j in range(c - 1, n - 1)]])
        else:
            e = np.array([(int(rng.integers(0, j)), j) for j in range(1, n)])
        e = np.unique(np.sort(e, axis=1), axis=0)
        graphs.append(Graph(n, e))
        y.append(i % 2)
    return GraphDataset("synthetic", graphs, np.array(y))


SMALL = PersLayConfig(times=(1.0,), image_resolution=(8, 8), grid_resolution=(4, 4), conv_filters=4,
                      epochs=25, batch_size=32, lr_decay_epochs=None)


# ----------------------------------------------------------------------------- layers
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_image_perslay_matches_reference_perslay(op: str) -> None:
    torch.manual_seed(0)
    d, m = random_batch(1)
    phi = ImagePhi(UNIT_BOUNDS, (6, 5), 0.2).double()
    w = GridWeight(UNIT_BOUNDS, (3, 3)).double()
    with torch.no_grad():
        w.grid.uniform_(0.5, 2.0)
    rho = ImageConv((5, 6), 3, 2).double()
    ref = PersLay(phi, w, op, rho=rho)
    fast = ImagePersLay(phi, w, op, rho=rho)
    a, b = ref(d, m), fast(d, m)
    assert fast.out_features == ref.out_features == a.shape[1] == 3 * 4 * 5
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    ga = torch.autograd.grad(a.square().sum(), [phi.bandwidth, w.grid])
    gb = torch.autograd.grad(b.square().sum(), [phi.bandwidth, w.grid])
    for x, z in zip(ga, gb, strict=True):
        torch.testing.assert_close(x, z, rtol=1e-10, atol=1e-12)
    assert torch.all(b[0] == rho(torch.zeros(1, 30, dtype=torch.float64))[0])  # empty diagram


def test_image_conv_matches_conv2d() -> None:
    torch.manual_seed(0)
    conv = ImageConv((4, 7), 3, 2).double()
    ref = torch.nn.Conv2d(1, 3, 2).double()
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(5, 28, dtype=torch.float64)
    torch.testing.assert_close(conv(x), ref(x.reshape(5, 1, 4, 7)).flatten(1))
    assert conv.out_features == 3 * 3 * 6
    with pytest.raises(InvalidInputError):
        ImageConv((2, 7), 3, 3)


def test_permeq_perslay_masking_and_invariance() -> None:
    torch.manual_seed(0)
    layer = PermEqPersLay((5, 4), GridWeight(UNIT_BOUNDS, (3, 3))).double()
    d1, m1 = random_batch(2, garbage=0.0)
    d2, m2 = random_batch(2, garbage=-1e3)
    out = layer(d1, m1)
    assert out.shape == (4, 4) and layer.out_features == 4
    torch.testing.assert_close(out, layer(d2, m2))
    torch.testing.assert_close(out[0], torch.zeros(4, dtype=torch.float64))  # empty diagram, sum
    perm = torch.tensor([2, 0, 1])
    d3 = d1.clone()
    d3[2, :3] = d1[2, perm]
    torch.testing.assert_close(layer(d3, m1), out)
    extra = torch.nn.functional.pad(d1, (0, 0, 0, 3), value=9.0)
    torch.testing.assert_close(layer(extra, torch.nn.functional.pad(m1, (0, 3))), out)


@pytest.mark.parametrize("phi", ["image", "peq"])
def test_classifier_shapes_padding_and_fused_path(phi: str) -> None:
    torch.manual_seed(0)
    cfg = replace(SMALL, phi=phi)
    model = PersLayGraphClassifier(2, 3, 3, cfg).double()
    plain = PersLayGraphClassifier(2, 3, 3, cfg, fused=False).double()
    plain.load_state_dict(model.state_dict())
    (d1, m1), (d2, m2) = random_batch(3), random_batch(4, sizes=(2, 0, 5, 4))
    x = torch.randn(4, 3, dtype=torch.float64)
    out = model([d1, d2], [m1, m2], x)
    assert out.shape == (4, 3)
    # the fused evaluation (convolution folded into the head) is the same function, same gradients
    ref = plain([d1, d2], [m1, m2], x)
    torch.testing.assert_close(out, ref)
    g1 = torch.autograd.grad(out.square().sum(), list(model.parameters()))
    g2 = torch.autograd.grad(ref.square().sum(), list(plain.parameters()))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b)
    wider = [torch.nn.functional.pad(d, (0, 0, 0, 2), value=3.0) for d in (d1, d2)]
    masks = [torch.nn.functional.pad(m, (0, 2)) for m in (m1, m2)]
    torch.testing.assert_close(model(wider, masks, x), out)
    with pytest.raises(ShapeError):
        model([d1], [m1], x)
    with pytest.raises(ShapeError):
        model([d1, d2], [m1, m2], x[:, :2])
    with pytest.raises(InvalidInputError):
        PersLayGraphClassifier(2, 3, 1, cfg)


def test_config_validation() -> None:
    assert set(PAPER_CONFIGS) == set(PAPER_ACCURACY) == {"MUTAG", "COX2", "PROTEINS", "NCI1", "IMDB-BINARY"}
    for bad in ({"phi": "lines"}, {"times": ()}, {"times": (-1.0,)}, {"ema_decay": 1.0}, {"lr": 0.0},
                {"conv_kernel": 30}, {"epochs": -1}, {"min_lr": 1.0}):
        with pytest.raises(InvalidInputError):
            PersLayConfig(**bad)


# ----------------------------------------------------------------------------- data
def test_preprocess_and_cache(tmp_path) -> None:
    ds = synthetic_dataset(4)
    data = preprocess(ds, (0.1, 10.0), cache_dir=tmp_path)
    assert data.channels == ("ord0_t0.1", "rel1_t0.1", "ext0_t0.1", "ext1_t0.1",
                             "ord0_t10", "rel1_t10", "ext0_t10", "ext1_t10")
    n_max = max(g.n_nodes for g in ds.graphs)
    assert data.features.shape == (8, n_max + 22)
    for t in ("0.1", "10"):  # every graph is connected; cycle rank of the cycles is 1
        np.testing.assert_array_equal(data.counts(f"ext0_t{t}"), 1)
        np.testing.assert_array_equal(data.counts(f"ext1_t{t}"), [1, 0] * 4)
    for c in data.channels:  # (min, max) rows
        assert np.all(data.points[c][:, 0] <= data.points[c][:, 1])
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"  # no temporary file left
    again = preprocess(ds, (0.1, 10.0), cache_dir=tmp_path)
    assert again.info.get("cache") == str(files[0])
    for c in data.channels:
        np.testing.assert_array_equal(again.points[c], data.points[c])
    np.testing.assert_array_equal(again.features, data.features)
    files[0].write_bytes(b"not an npz")  # a corrupt cache is recomputed, with a warning
    fresh = preprocess(ds, (0.1, 10.0), cache_dir=tmp_path)
    np.testing.assert_array_equal(fresh.features, data.features)
    assert "cache" not in fresh.info
    other = preprocess(ds, (1.0,), cache_dir=tmp_path)  # other parameters: another key
    assert other.channels == ("ord0_t1", "rel1_t1", "ext0_t1", "ext1_t1") and len(list(tmp_path.iterdir())) == 2
    with pytest.raises(InvalidInputError):
        preprocess([g for g in ds.graphs], (1.0,))  # type: ignore[arg-type]


def test_prepare_fold_uses_training_graphs_only() -> None:
    data = preprocess(synthetic_dataset(6), (1.0,), cache=False)
    train = np.arange(0, 9)
    fold = prepare_fold(data, train, max_points=500)
    # changing the test graphs' points and features changes nothing for the training graphs
    pts = {c: p.copy() for c, p in data.points.items()}
    test_rows = np.concatenate([np.arange(data.offsets[c][9], data.offsets[c][-1]) for c in data.channels[:1]])
    pts[data.channels[0]][test_rows] += 100.0
    feats = data.features.copy()
    feats[9:] *= -50
    fold2 = prepare_fold(replace(data, points=pts, features=feats), train, max_points=500)
    assert fold.scales == fold2.scales
    for a, b in zip(fold.dgms, fold2.dgms, strict=True):
        torch.testing.assert_close(a[:9], b[:9])
    torch.testing.assert_close(fold.features[:9], fold2.features[:9])
    # training features standardised, training points scaled into [0, 1]
    x = fold.features[train].double()
    varying = data.features[train].std(0) > 1e-9
    torch.testing.assert_close(x.mean(0), torch.zeros(x.shape[1], dtype=torch.float64), atol=1e-6, rtol=0)
    torch.testing.assert_close(x.std(0, unbiased=False)[torch.as_tensor(varying)],
                               torch.ones(int(varying.sum()), dtype=torch.float64), atol=1e-5, rtol=0)
    for d, m in zip(fold.dgms, fold.masks, strict=True):
        real = d[:9][m[:9]]
        assert real.numel() == 0 or (real.min() >= 0 and real.max() <= 1)


# ----------------------------------------------------------------------------- learning
def test_end_to_end_fit_on_separable_graphs() -> None:
    ds = synthetic_dataset(15)
    acc = cross_validate(ds, folds=3, seed=0, config=SMALL, progress=False, cache=False)
    assert acc.shape == (3,) and acc.mean() >= 0.9, acc


def test_diagrams_alone_separate_cycles_from_trees() -> None:
    # no extra features: the extended diagrams (ext1 = loops) must carry the signal
    data = preprocess(synthetic_dataset(15, seed=1), (1.0,), cache=False)
    data = replace(data, features=np.zeros((data.n_graphs, 0)))
    idx = np.arange(data.n_graphs)
    res = train_fold(data, idx[idx % 3 != 0], idx[idx % 3 == 0], replace(SMALL, epochs=40), seed=0)
    assert res.test_accuracy >= 0.9 and res.train_accuracy >= 0.9, res
    assert res.epochs_run == 40


def test_learning_rate_decay_stops_training_early() -> None:
    data = preprocess(synthetic_dataset(4), (1.0,), cache=False)
    idx = np.arange(data.n_graphs)
    cfg = replace(SMALL, epochs=500, batch_size=2, lr_decay_epochs=1, lr_decay_rate=0.5, min_lr=0.01 / 8)
    res = train_fold(data, idx[:6], idx[6:], cfg, seed=0)
    # lr = 0.01 * 0.5 ** epoch is below 0.01 / 8 from epoch 4 on; 3 steps per epoch
    assert res.epochs_run == 4 and res.steps == 12


def test_cross_validate_is_reproducible() -> None:
    data = preprocess(synthetic_dataset(6), (1.0,), cache=False)
    cfg = replace(SMALL, epochs=3)
    a = cross_validate(data, folds=3, seed=5, config=cfg, progress=False, return_details=True)
    b = cross_validate(data, folds=3, seed=5, config=cfg, progress=False, return_details=True)
    np.testing.assert_array_equal(a.accuracies, b.accuracies)
    assert a.epochs_run.tolist() == [3, 3, 3]
    with pytest.raises(InvalidInputError):
        cross_validate(data, folds=3, config=replace(cfg, times=(10.0,)), progress=False)


# ----------------------------------------------------------------------------- MUTAG
def test_mutag_preprocessing_stats(tmp_path) -> None:
    try:
        ds = load_tu("MUTAG")
    except DataNotFoundError as exc:
        pytest.skip(f"MUTAG not available under the data root: {exc}")
    data = preprocess(ds, (10.0,), cache_dir=tmp_path)
    assert data.n_graphs == 188 and data.features.shape == (188, 28 + 11)
    np.testing.assert_array_equal(np.bincount(data.y), [63, 125])
    n_v = np.array([g.n_nodes for g in ds.graphs])
    n_e = np.array([g.n_edges for g in ds.graphs])
    # every MUTAG graph is connected: one ext0 point each, ext1 = cycle rank (no flat loop)
    np.testing.assert_array_equal(data.counts("ext0_t10"), 1)
    np.testing.assert_array_equal(data.counts("ext1_t10"), n_e - n_v + 1)
    assert data.counts("ord0_t10").sum() == 1365 and data.counts("rel1_t10").sum() == 595
    assert np.all(data.counts("ord0_t10") <= n_v - 1)
    ev = data.features[:, :28]
    assert ev.min() >= 0 and ev.max() <= 2 + 1e-12 and np.all(np.diff(ev, axis=1) <= 1e-12)
