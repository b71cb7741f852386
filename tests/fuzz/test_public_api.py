"""The public contract, fuzzed: every public entry point gives a correct result or a
:class:`~topolens.TopolensError` with a useful message; never a foreign traceback or a hang.

Each property draws the inputs users really pass (asymmetric-by-an-ulp matrices, rounding
negatives, odd dtypes, empty and tiny arrays, NaN and huge values, hostile files and
arguments) and checks the contract through :func:`outcome`. Where a call succeeds on a
matrix that the validation repaired (symmetrised, clipped), the result is checked against
gudhi on the repaired matrix. Sizes stay small: the point is the input space, not the scale.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from topolens import PersistenceDiagrams, TopolensError
from topolens.exceptions import TopolensWarning

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.function_scoped_fixture])

DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int32, np.uint8, np.bool_, np.complex128]


def outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    """``(True, result)`` or ``(False, error)`` for a TopolensError; anything else fails the test.

    The error's message must be a sentence of some length (what was found, expected, fix).
    numpy's ComplexWarning (a RuntimeWarning: a complex array silently losing its imaginary
    part) is raised, so it fails the test instead of being ignored with the other ones.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopolensWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        try:
            return True, fn(*args, **kwargs)
        except TopolensError as exc:
            msg = str(exc)
            assert len(msg) >= 20, f"{type(exc).__name__} with a too short message: {msg!r}"
            return False, exc


# ---------------------------------------------------------------- strategies
def _special_floats() -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False, width=64),
        st.sampled_from([0.0, -0.0, 1e-300, -2.2e-16, 1e30, 1e300, np.nan, np.inf, -np.inf]),
    )


@st.composite
def hostile_arrays(draw: Any, max_dims: int = 3, max_side: int = 7, diagram: bool = False) -> np.ndarray:
    """Arrays of any common dtype and shape, with special values sprinkled in.

    Half of them are well formed (2-D, finite, float, at least 2 rows; with ``diagram``,
    (k, 2) rows with birth <= death), so that the checks on a success are reached too: a fully
    random array is nearly always refused.
    """
    if draw(st.booleans()):
        shape = (draw(st.integers(2, max_side)), 2 if diagram else draw(st.integers(1, max_side)))
        arr = draw(hnp.arrays(draw(st.sampled_from([np.float64, np.float32])), shape,
                              elements=st.floats(-2.0, 2.0, width=32)))
        return np.sort(arr, axis=1) if diagram else arr
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side))
    base = draw(hnp.arrays(np.float64, shape, elements=_special_floats()))
    with np.errstate(all="ignore"):
        if dtype == np.complex128:
            return (base + 1j * draw(st.sampled_from([0.0, 1e-3, 1.0]))).astype(dtype)
        if np.issubdtype(dtype, np.integer) or dtype == np.bool_:
            base = np.nan_to_num(base, nan=0.0, posinf=1.0, neginf=-1.0)
            base = np.clip(base, -1e6, 1e6)
            if dtype == np.uint8:
                base = np.abs(base) * 100
        return base.astype(dtype)


@st.composite
def distance_like(draw: Any) -> tuple[np.ndarray, str]:
    """Dissimilarity matrices as users build them, with the defects they really carry."""
    n = draw(st.integers(0, 9))
    seed = draw(st.integers(0, 2**16))
    g = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["corrcoef", "gram", "euclid", "ties", "asym_big", "negative", "nan",
                                 "float16", "float32", "nonzero_diag"]))
    a = g.normal(size=(max(n, 1) + 3, n)) if n else np.zeros((4, 0))
    if kind == "corrcoef" and n >= 2:
        with np.errstate(all="ignore"):
            d = 1 - np.abs(np.corrcoef(a.T))
        d = np.nan_to_num(d, nan=1.0)
        np.fill_diagonal(d, 0.0)
        d = d + g.normal(scale=1e-16, size=d.shape)  # asymmetric by ulps, as np.corrcoef can be
        np.fill_diagonal(d, 0.0)
    elif kind == "gram" and n >= 1:
        x = a.T / np.maximum(np.linalg.norm(a.T, axis=1, keepdims=True), 1e-12)
        d = 1 - x @ x.T  # rounding negatives on the diagonal and near-duplicates
    elif kind == "ties" and n >= 1:
        d = g.integers(1, 3, size=(n, n)).astype(float)
        d = np.minimum(d, d.T)
        np.fill_diagonal(d, 0.0)
    else:
        p = g.normal(size=(n, 2))
        d = np.sqrt(((p[:, None] - p[None]) ** 2).sum(-1))
        if kind == "asym_big" and n >= 2:
            d[0, 1] += 0.5
        elif kind == "negative" and n >= 2:
            d[0, 1] = d[1, 0] = -0.25
        elif kind == "nan" and n >= 2:
            d[0, 1] = d[1, 0] = np.nan
        elif kind == "float16":
            d = d.astype(np.float16)
        elif kind == "float32":
            d = d.astype(np.float32)
        elif kind == "nonzero_diag" and n >= 1:
            d[0, 0] = 0.3
    return np.asarray(d), kind


def _gudhi_reference(d: np.ndarray, max_dim: int) -> list[np.ndarray]:
    import gudhi

    if len(d) == 1:  # gudhi 3.13 reports no class for a single vertex; H0 has one
        return [np.array([[0.0, np.inf]])] + [np.empty((0, 2))] * max_dim

    rc = gudhi.RipsComplex(distance_matrix=d, max_edge_length=np.inf)
    st_ = rc.create_simplex_tree(max_dimension=max_dim + 1)
    st_.compute_persistence(homology_coeff_field=2, min_persistence=0.0)
    out = []
    for k in range(max_dim + 1):
        pts = np.asarray(st_.persistence_intervals_in_dimension(k)).reshape(-1, 2)
        out.append(pts[pts[:, 1] > pts[:, 0]] if len(pts) else pts)
    return out


def _rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float).reshape(-1, 2)
    a = a[a[:, 1] > a[:, 0]]
    return a[np.lexsort((a[:, 1], a[:, 0]))] if len(a) else a


# ---------------------------------------------------------------- homology
@SETTINGS
@given(distance_like(), st.sampled_from([0, 1, 2]), st.sampled_from([None, "auto", "certified"]))
def test_rips_persistence_contract(case: tuple[np.ndarray, str], max_dim: int, threshold: Any) -> None:
    from topolens import rips_persistence

    d, kind = case
    ok, res = outcome(rips_persistence, d, max_dim=max_dim, threshold=threshold)
    if kind in ("asym_big", "negative", "nan", "nonzero_diag") and d.shape[0] >= 2:
        assert not ok, f"a {kind} matrix was accepted"
    if not ok:
        return
    assert isinstance(res, PersistenceDiagrams)
    assert res.max_dim == max_dim
    if d.shape[0] == 0:
        return
    # the oracle on the repaired matrix: symmetrised, diagonal zeroed, rounding negatives clipped
    r = np.asarray(d, dtype=np.float64)
    r = np.clip((r + r.T) / 2, 0.0, None)
    np.fill_diagonal(r, 0.0)
    ref = _gudhi_reference(r, max_dim)
    for k in range(max_dim + 1):
        if threshold == "auto":  # a truncated filtration: its finite classes are the full run's
            fin, full = _rows(res.finite(k)), _rows(ref[k])
            for p in fin:
                assert np.isclose(full, p, atol=1e-6).all(axis=1).any(), (k, p, full)
            continue
        np.testing.assert_allclose(_rows(res[k]), _rows(ref[k]), atol=1e-6,
                                   err_msg=f"H{k} differs from gudhi ({kind}, n={d.shape[0]})")


@SETTINGS
@given(hostile_arrays(), st.sampled_from([-1, 0, 1]), st.sampled_from(["precomputed", "euclidean"]))
def test_rips_persistence_hostile_arrays(x: np.ndarray, max_dim: int, metric: str) -> None:
    from topolens import rips_persistence

    ok, res = outcome(rips_persistence, x, max_dim=max_dim, metric=metric)
    if ok:
        assert max_dim >= 0 and np.isrealobj(x)
        assert res.max_dim == max_dim and np.isfinite(res[0][:, 0]).all()


@SETTINGS
@given(hostile_arrays(max_dims=3), st.sampled_from(["abs_correlation", "correlation", "cosine", "euclidean"]),
       st.sampled_from(["neurons", "inputs"]))
def test_pairwise_dissimilarity_contract(x: np.ndarray, metric: str, points: str) -> None:
    from topolens import pairwise_dissimilarity

    ok, d = outcome(pairwise_dissimilarity, x, metric, points=points)
    if ok:
        d = np.asarray(d)
        assert d.ndim == 2 and d.shape[0] == d.shape[1]
        assert np.isfinite(d).all()
        np.testing.assert_array_equal(d, d.T)


@SETTINGS
@given(st.integers(1, 12), st.integers(1, 10), st.sampled_from([None, 1, 2, 3, 50]),
       st.sampled_from([None, 1, 2, 5, 100]), st.integers(1, 3), st.sampled_from([0, 1]),
       st.sampled_from([np.float32, np.float64, np.float16]), st.booleans())
def test_activation_persistence_contract(n_in: int, n_neu: int, n_inputs: Any, n_neurons: Any,
                                         n_resamples: int, max_dim: int, dtype: Any, constant: bool) -> None:
    from topolens import activation_persistence

    a = np.random.default_rng(n_in * 31 + n_neu).normal(size=(n_in, n_neu)).astype(dtype)
    if constant:
        a[:, 0] = 1.0
    ok, res = outcome(activation_persistence, a, n_inputs=n_inputs, n_neurons=n_neurons,
                      n_resamples=n_resamples, max_dim=max_dim)
    if ok:
        dgs = res["layer"] if "layer" in res.groups else res[res.groups[0]]
        assert 1 <= len(dgs) <= n_resamples
        for dg in dgs:
            assert dg.max_dim == max_dim
            assert np.isfinite(dg[0][:, 0]).all()


# ---------------------------------------------------------------- diagrams
@SETTINGS
@given(st.lists(hostile_arrays(max_dims=3, max_side=5, diagram=True), min_size=0, max_size=3))
def test_persistence_diagrams_constructor_contract(dgms: list[np.ndarray]) -> None:
    ok, res = outcome(PersistenceDiagrams, dgms)
    if ok:
        for k in res.dims:
            pts = res[k]
            assert pts.ndim == 2 and pts.shape[1] == 2
            assert not np.isnan(pts).any()
            assert (pts[:, 1] >= pts[:, 0]).all()


def _saved_bytes(tmp_path: Any) -> bytes:
    dg = PersistenceDiagrams([[[0.0, 1.0], [0.0, np.inf]], [[0.5, 0.7]]],
                             pairs=[[[0, 0, 0, 1], [0, 0, -1, -1]], [[1, 2, 3, 4]]])
    return dg.save(tmp_path / "ok.npz").read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
@example(data=None)
def test_persistence_diagrams_load_hostile_files(tmp_path: Any, data: Any) -> None:
    good = _saved_bytes(tmp_path)
    if data is None:  # the empty file
        blob = b""
    else:
        how = data.draw(st.sampled_from(["truncate", "flip", "random", "foreign_npz", "zip_junk"]))
        if how == "truncate":
            blob = good[: data.draw(st.integers(0, len(good) - 1))]
        elif how == "flip":
            i = data.draw(st.integers(0, len(good) - 1))
            blob = good[:i] + bytes([good[i] ^ data.draw(st.integers(1, 255))]) + good[i + 1:]
        elif how == "random":
            blob = data.draw(st.binary(max_size=300))
        elif how == "foreign_npz":
            buf = io.BytesIO()
            arrays = {data.draw(st.sampled_from(["dgm_0", "dgms", "x", "pairs_0", "censored_0", "meta"])):
                      data.draw(hostile_arrays(max_dims=2, max_side=4)) for _ in range(3)}
            np.savez(buf, **arrays)
            blob = buf.getvalue()
        else:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                z.writestr("dgm_0.npy", data.draw(st.binary(max_size=100)))
            blob = buf.getvalue()
    path = tmp_path / "hostile.npz"
    path.write_bytes(blob)
    ok, res = outcome(PersistenceDiagrams.load, path)
    if ok:  # whatever loads is a valid diagram set
        for k in res.dims:
            assert res[k].ndim == 2 and res[k].shape[1] == 2 and not np.isnan(res[k]).any()


@SETTINGS
@given(st.sampled_from([0, -1, 0.5, np.nan, 1, 2, np.inf]), st.sampled_from([0, -1, np.nan, 1, 2, np.inf]))
def test_wasserstein_order_contract(order: float, internal: float) -> None:
    a = PersistenceDiagrams([[[0.0, 1.0], [0.2, 0.5]]])
    b = PersistenceDiagrams([[[0.0, 0.9]]])
    ok, w = outcome(a.wasserstein, b, 0, order=order, internal_p=internal)
    if order < 1 or not (order == order) or internal < 1 or not (internal == internal):
        assert not ok, f"wasserstein(order={order}, internal_p={internal}) gave {w}"
    if ok:
        assert np.isfinite(w) and w > 0


# ---------------------------------------------------------------- vectorize, mapper
@SETTINGS
@given(hostile_arrays(max_dims=3, max_side=6, diagram=True))
def test_vectorizations_contract(dgm: np.ndarray) -> None:
    from topolens.vectorize import functional as F

    for fn, kw in [(F.betti_curve, {"grid": np.linspace(0, 1, 5)}), (F.persistent_entropy, {}),
                   (F.persistence_landscape, {}), (F.persistence_image, {})]:
        ok, res = outcome(fn, dgm, **kw)
        if ok:
            assert np.isfinite(np.asarray(res, dtype=float)).all(), fn.__name__


@SETTINGS
@given(hostile_arrays(max_dims=3, max_side=12), st.sampled_from([1, 3, 10]), st.sampled_from([0.1, 0.5]))
def test_mapper_contract(x: np.ndarray, n_intervals: int, overlap: float) -> None:
    from topolens import Mapper

    ok, m = outcome(lambda: Mapper(n_intervals=n_intervals, overlap=overlap).fit(x))
    if ok:
        g = m.graph_
        assert g.n_nodes == len(g.sizes)
        assert g.n_points == len(x)
        assert all(((0 <= np.asarray(mem)) & (np.asarray(mem) < len(x))).all() for mem in g.members)


# ---------------------------------------------------------------- command line
_ARGS = [
    ["persistence", "{npy}"], ["persistence", "{npy}", "--points", "distance"],
    ["persistence", "{npy}", "--max-dim", "-1"], ["persistence", "{missing}"], ["persistence", "{txt}"],
    ["persistence", "{npy}", "--out", "{dir}"], ["persistence", "{npy}", "--out", "{file}"],
    ["analyze", "--activations", "{missing}"], ["analyze", "--model", "os:system", "--data", "mnist_sample"],
    ["analyze", "--model", "builtins:exit", "--data", "mnist_sample"],
    ["analyze", "--model", "builtins:breakpoint", "--data", "mnist_sample"],
    ["analyze", "--model", "no.such.module:Net", "--data", "mnist_sample"],
    ["analyze", "--model", "topolens.models:MLP", "--data", "mnist_sample", "--max-inputs", "-3"],
    ["mapper", "--activations", "{txt}"], ["mapper", "--activations", "{npy}", "--intervals", "0"],
    ["zoo", "train", "{missing}", "--out", "{dir}"], ["zoo", "train", "{txt}", "--out", "{dir}"],
    ["zoo", "train", "{binary}", "--out", "{dir}"], ["zoo", "train", "{dir}", "--out", "{dir}"],
]
#: The only cases above that must succeed; every other one is one ``error:`` line and a non-zero exit.
_CLI_OK = [["persistence", "{npy}"], ["persistence", "{npy}", "--out", "{dir}"],
           ["persistence", "{npy}", "--out", "{file}"]]


@pytest.mark.parametrize("argv", _ARGS, ids=" ".join)
def test_cli_never_prints_a_traceback(tmp_path: Any, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    from topolens.cli.main import main

    monkeypatch.chdir(tmp_path)  # default output folders land here, not in the checkout

    npy = tmp_path / "x.npy"
    np.save(npy, np.random.default_rng(0).normal(size=(6, 3)))
    (tmp_path / "grid.txt").write_text("not: [a, grid\n")
    (tmp_path / "grid.bin").write_bytes(b"\xff\xfe\x00bad")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir(exist_ok=True)
    subs = {"{npy}": str(npy), "{missing}": str(tmp_path / "missing.npy"), "{txt}": str(tmp_path / "grid.txt"),
            "{binary}": str(tmp_path / "grid.bin"), "{dir}": str(tmp_path / "adir"),
            "{file}": str(tmp_path / "afile")}
    args = [subs.get(a, a) for a in argv] + ["--quiet"] if argv[0] != "zoo" else [subs.get(a, a) for a in argv]
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse's usage errors
        rc = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert rc is None or isinstance(rc, int)
    if argv in _CLI_OK:
        assert not rc, err
    else:
        assert rc and "error:" in err, (rc, err)


# ---------------------------------------------------------------- recording and stores
@SETTINGS
@given(hostile_arrays(max_dims=4, max_side=6), st.sampled_from([None, 1, 2, 5]), st.sampled_from([1, 3]))
def test_record_activations_contract(x: np.ndarray, max_inputs: Any, batch_size: int) -> None:
    import torch

    from topolens import record_activations

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(4), torch.nn.ReLU(),
                                torch.nn.Linear(4, 3))
    ok, acts = outcome(record_activations, model, x, max_inputs=max_inputs, batch_size=batch_size,
                       progress=False)
    if ok:
        n = len(x) if max_inputs is None else min(len(x), max_inputs)
        assert acts.n_inputs == n
        for name in acts:
            a = acts[name]
            assert a.shape[0] == n and a.dtype == np.float32 and np.isfinite(a).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_activations_load_hostile_stores(tmp_path: Any, data: Any) -> None:
    import shutil
    import tempfile

    from topolens import Activations

    src = tmp_path / "good"
    if not src.exists():
        Activations({"fc": np.ones((4, 3), np.float32)}, labels=np.arange(4)).save(src)
    target = Path(tempfile.mkdtemp(dir=tmp_path)) / "store"
    shutil.copytree(src, target)
    files = sorted(p for p in target.iterdir() if p.is_file())
    victim = data.draw(st.sampled_from(files))
    how = data.draw(st.sampled_from(["truncate", "garbage", "delete", "empty"]))
    blob = victim.read_bytes()
    if how == "truncate":
        victim.write_bytes(blob[: data.draw(st.integers(0, max(len(blob) - 1, 0)))])
    elif how == "garbage":
        victim.write_bytes(data.draw(st.binary(max_size=200)))
    elif how == "delete":
        victim.unlink()
    else:
        victim.write_bytes(b"")
    ok, acts = outcome(Activations.load, target)
    if ok:  # whatever loads is whole
        for name in acts:
            assert acts[name].shape[0] == acts.n_inputs
