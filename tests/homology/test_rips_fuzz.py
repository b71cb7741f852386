"""Property tests of rips_persistence on the matrices users really pass (issue 13).

Small random matrices, perturbed the way floating point perturbs them (last-ulp asymmetry,
``-2.2e-16`` entries, a diagonal off by rounding), with ties, in every dtype users have, and
tiny ``n``. The contract: rounding is repaired and the diagram equals gudhi's on the
symmetrised matrix (same coefficient field); anything beyond rounding is a TopolensError.
"""

from __future__ import annotations

import importlib.util

import gudhi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topolens import InvalidInputError, PersistenceDiagrams, TopolensError
from topolens.homology import rips_persistence

_BACKENDS = ["gudhi", "ripser"] + (["giotto"] if importlib.util.find_spec("gph") else [])
_DTYPES = [np.float64, np.float32, np.float16, np.int64, np.uint8]


def _target(dtype) -> type:
    """The dtype the validation converts to (float32 for lossless small types)."""
    small = np.dtype(dtype).itemsize <= 2 or np.dtype(dtype) == np.float32
    return np.float32 if small else np.float64


def _reference(d: np.ndarray, max_dim: int, coeff: int, threshold: float = np.inf) -> PersistenceDiagrams:
    """gudhi's simplex tree on ``(d + d.T) / 2`` clipped at 0 with a zero diagonal (brute force for
    n <= 1, where gudhi reports no class for a lone vertex)."""
    n = d.shape[0]
    s = np.maximum((d + d.T) / 2, 0)
    np.fill_diagonal(s, 0)
    if n <= 1:
        return PersistenceDiagrams([np.array([[0.0, np.inf]] * n).reshape(-1, 2)] + [np.empty((0, 2))] * max_dim)
    st_ = gudhi.RipsComplex(distance_matrix=s.astype(np.float64), max_edge_length=threshold)
    tree = st_.create_simplex_tree(max_dimension=max_dim + 1)
    return PersistenceDiagrams.from_gudhi(tree.persistence(homology_coeff_field=coeff), max_dim=max_dim)


@st.composite
def matrices(draw):
    n = draw(st.integers(0, 9))
    seed = draw(st.integers(0, 2**32 - 1))
    g = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["points", "uniform", "ties"]))
    if kind == "points":
        x = g.normal(size=(n, 2))
        d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    else:
        u = g.uniform(0, 1, size=(n, n))
        d = np.triu(np.round(u * 3) if kind == "ties" else u, 1)
        d = d + d.T
    d *= draw(st.sampled_from([1.0, 10.0, 200.0]))  # uint8 and float16 need integers / a range
    return d, g


def _perturb(d: np.ndarray, g: np.random.Generator, how: str) -> np.ndarray:
    """Rounding-sized (``ulp``, ``negative``, ``diagonal``) or real (``asymmetric``, ``negative_big``)
    defects on random entries."""
    d = d.copy()
    n = d.shape[0]
    if n < 2 or how == "none":
        return d
    i, j = g.integers(0, n, size=(2, max(1, n)))
    off = i != j
    i, j = i[off], j[off]
    if how == "ulp":
        d[i, j] = np.nextafter(d[i, j], np.inf)
    elif how == "negative":
        d[i, j] = d[j, i] = np.where(d[i, j] == 0, -2.2e-16, d[i, j])
        d[0, 1] = d[1, 0] = -2.2e-16
    elif how == "diagonal":
        d[np.arange(n), np.arange(n)] = g.choice([0, 2.2e-16, -1.1e-16], size=n)
    elif how == "asymmetric":
        d[0, 1] = d[1, 0] + 0.5
    elif how == "negative_big":
        d[0, 1] = d[1, 0] = -0.5
    return d


@settings(max_examples=120, deadline=None)
@given(matrices(), st.sampled_from(["none", "ulp", "negative", "diagonal", "asymmetric", "negative_big"]),
       st.sampled_from(_DTYPES), st.integers(0, 2), st.sampled_from([2, 3]), st.sampled_from(_BACKENDS),
       st.sampled_from([{}, {"threshold": "auto", "auto_pilot": 3}, {"certify": True}]))
def test_rounding_is_repaired_and_defects_are_refused(mat, how, dtype, max_dim, coeff, backend, kw):
    d, g = mat
    if kw.get("certify") and max_dim != 1:
        kw = {}
    real = how in ("asymmetric", "negative_big") and d.shape[0] >= 2
    bad = _perturb(d, g, how)
    if np.issubdtype(dtype, np.integer) and bad.size:
        bad = np.round(bad)
        if dtype == np.uint8:
            bad = np.clip(bad, 0, 255)
        real = real and bool((bad - bad.T).any() or bad.min() < 0)
    x = bad.astype(dtype)
    if real:
        with pytest.raises(InvalidInputError, match=r"negative|symmetric"):
            rips_persistence(x, max_dim, coeff=coeff, backend=backend, **kw)
        return
    dg = rips_persistence(x, max_dim, coeff=coeff, backend=backend, **kw)
    # the reference sees the same numbers as the engine: the input in the validation's dtype
    ref_in = x.astype(_target(dtype)).astype(np.float64)
    if dg.metadata["complete"]:
        assert dg.allclose(_reference(ref_in, max_dim, coeff), atol=1e-6)
    else:  # threshold="auto" stopped early: H0 complete, higher dims exact up to its threshold
        assert dg.n_censored == 0
        full = _reference(ref_in, max_dim, coeff)
        cut = _reference(ref_in, max_dim, coeff, threshold=dg.metadata["threshold"])
        for k, ref in [(0, full)] + [(k, cut) for k in range(1, max_dim + 1)]:
            assert PersistenceDiagrams([dg[k]]).allclose(PersistenceDiagrams([ref[k]]), atol=1e-6), k
    assert all(np.isfinite(dg[k][:, 0]).all() and (dg[k][:, 1] >= dg[k][:, 0]).all() for k in dg.dims)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=0, max_size=36),
       st.integers(0, 6), st.integers(-1, 2))
def test_arbitrary_arrays_give_a_diagram_or_a_topolens_error(values, n, max_dim):
    """Any numbers in any shape: never a foreign exception."""
    a = np.asarray(values, dtype=np.float64)
    a = a[: n * n].reshape(n, n) if a.size >= n * n else a
    try:
        dg = rips_persistence(a, max_dim)
    except TopolensError:
        return
    assert dg.metadata["n_points"] == a.shape[0] and len(dg[0]) == a.shape[0]
