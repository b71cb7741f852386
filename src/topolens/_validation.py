"""Input validation shared by every module. Messages say what was found and how to fix it."""

from __future__ import annotations

from typing import Any

import numpy as np

from .exceptions import InvalidInputError, NonFiniteError, ShapeError


def _to_numpy(x: Any) -> np.ndarray:
    """Convert a numpy array, torch tensor or nested sequence to a numpy array (no copy when possible)."""
    if isinstance(x, np.ndarray):
        return x
    try:  # torch tensors without importing torch eagerly
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu()
            if x.dtype in (torch.bfloat16, torch.float16):  # numpy has no bfloat16
                x = x.float()
            return x.numpy()
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    return np.asarray(x)


def _nonfinite_report(a: np.ndarray) -> str:
    bad = ~np.isfinite(a)
    n_nan = int(np.isnan(a).sum())
    n_inf = int(bad.sum()) - n_nan
    where = ""
    if a.ndim == 2:
        cols = np.flatnonzero(bad.any(axis=0))
        rows = np.flatnonzero(bad.any(axis=1))
        where = (
            f" in {rows.size} row(s) (first: {rows[:5].tolist()}) and "
            f"{cols.size} column(s) (first: {cols[:5].tolist()})"
        )
    return f"{n_nan} NaN and {n_inf} infinite value(s){where}"


def check_activations(
    a: Any,
    *,
    name: str = "activations",
    min_inputs: int = 2,
    min_neurons: int = 1,
    dtype: type = np.float32,
) -> np.ndarray:
    """Validate an activation matrix of shape ``(n_inputs, n_neurons)``.

    Returns a C-contiguous array of ``dtype`` (a view when no conversion is needed).

    Raises
    ------
    ShapeError
        If the array is not 2-D or has fewer than ``min_inputs`` rows or ``min_neurons`` columns.
    NonFiniteError
        If it holds NaN or infinite values.
    """
    arr = _to_numpy(a)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise InvalidInputError(
            f"{name} must be a numeric array, found dtype {arr.dtype}. "
            "Pass a float array or tensor of shape (n_inputs, n_neurons)."
        )
    if arr.ndim != 2:
        raise ShapeError(
            f"{name} must be 2-D with shape (n_inputs, n_neurons), found shape {arr.shape}. "
            "Flatten each input's activations first, e.g. a.reshape(len(a), -1), or record them "
            "with topolens.record_activations, which does so."
        )
    if arr.shape[0] < min_inputs:
        raise ShapeError(
            f"{name} has {arr.shape[0]} input(s) (rows) but at least {min_inputs} are needed. "
            "Record activations on more inputs; rows are inputs, columns are neurons."
        )
    if arr.shape[1] < min_neurons:
        raise ShapeError(
            f"{name} has {arr.shape[1]} neuron(s) (columns) but at least {min_neurons} are needed; "
            "the layer may be empty. Choose another layer."
        )
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        raise NonFiniteError(
            f"{name} contains {_nonfinite_report(arr)}. Topology of non-finite activations is "
            "undefined: check the model for overflow (e.g. exploding training, log of zero) or "
            "drop the offending inputs/neurons before the analysis."
        )
    return arr


def check_points(x: Any, *, name: str = "points", min_points: int = 1) -> np.ndarray:
    """Validate a point cloud of shape ``(n_points, n_features)`` (float64, finite)."""
    arr = _to_numpy(x)
    if arr.ndim != 2:
        raise ShapeError(
            f"{name} must be 2-D with shape (n_points, n_features), found shape {arr.shape}."
        )
    if arr.shape[0] < min_points:
        raise ShapeError(f"{name} has {arr.shape[0]} point(s); at least {min_points} needed.")
    if not np.issubdtype(arr.dtype, np.number):
        raise InvalidInputError(f"{name} must be numeric, found dtype {arr.dtype}.")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise NonFiniteError(f"{name} contains {_nonfinite_report(arr)}; all coordinates must be finite.")
    return arr


def check_distance_matrix(
    d: Any,
    *,
    name: str = "distance matrix",
    atol: float = 1e-6,
    dtype: type | None = None,
) -> np.ndarray:
    """Validate a dense dissimilarity matrix: square, finite, non-negative, symmetric, zero diagonal.

    Parameters
    ----------
    d : array-like of shape (n, n)
    atol : float
        Tolerance for symmetry and the zero diagonal, relative to the largest entry.
    dtype : numpy dtype, optional
        Convert to this dtype; by default float32 stays float32 and anything else becomes float64.
    """
    arr = _to_numpy(d)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ShapeError(
            f"{name} must be square with shape (n, n), found shape {arr.shape}. If the rows are "
            "points with coordinates, pass metric='euclidean' (or compute a dissimilarity with "
            "topolens.dissimilarity) instead of metric='precomputed'."
        )
    if not np.issubdtype(arr.dtype, np.number):
        raise InvalidInputError(f"{name} must be numeric, found dtype {arr.dtype}.")
    if dtype is None:
        dtype = np.float32 if arr.dtype == np.float32 else np.float64
    arr = np.ascontiguousarray(arr, dtype=dtype)
    n = arr.shape[0]
    if n == 0:
        raise ShapeError(f"{name} is empty (0 x 0); at least one point is needed.")
    # two reductions without temporaries: NaN and inf propagate into min/max
    lo, hi = float(arr.min()), float(arr.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise NonFiniteError(
            f"{name} contains {_nonfinite_report(arr)}. Dissimilarities must be finite; "
            "to leave out pairs use a finite threshold instead of infinite entries."
        )
    scale = max(abs(lo), abs(hi), 1.0)
    if lo < -atol * scale:
        raise InvalidInputError(
            f"{name} has negative entries (minimum {lo:.3g}); dissimilarities must be >= 0."
        )
    diag = np.abs(np.diagonal(arr))
    if (diag > atol * scale).any():
        raise InvalidInputError(
            f"{name} has a non-zero diagonal (max |d_ii| = {float(diag.max()):.3g}); a point is at "
            "dissimilarity 0 from itself. Set the diagonal to 0 with np.fill_diagonal(d, 0)."
        )
    # symmetry: compare upper-triangle tiles with the transposed lower ones (cache friendly,
    # small temporaries)
    tile = 512
    tol = atol * scale
    for i in range(0, n, tile):
        i1 = min(n, i + tile)
        for j in range(i, n, tile):
            j1 = min(n, j + tile)
            upper, lower = arr[i:i1, j:j1], arr[j:j1, i:i1].T
            if not np.array_equal(upper, lower) and np.abs(upper - lower).max() > tol:
                raise InvalidInputError(
                    f"{name} is not symmetric (rows {i}..{i1 - 1} differ from the matching "
                    "columns by more than the tolerance). Symmetrise it, e.g. "
                    "d = np.minimum(d, d.T), or fix the computation that produced it."
                )
    return arr


def check_int(value: Any, name: str, *, minimum: int | None = None, allow_none: bool = False) -> int | None:
    """Validate an integer parameter."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidInputError(f"{name} must be an integer, found {value!r} ({type(value).__name__}).")
    if minimum is not None and value < minimum:
        raise InvalidInputError(f"{name} must be >= {minimum}, found {value}.")
    return int(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Validate a string option against the allowed choices."""
    if value not in choices:
        raise InvalidInputError(
            f"{name} must be one of {', '.join(repr(c) for c in choices)}; found {value!r}."
        )
    return value


def check_diagram_array(points: Any, name: str = "diagram") -> np.ndarray:
    """Validate a raw diagram: shape (m, 2), no NaN, finite births, death >= birth."""
    if hasattr(points, "dgms") and hasattr(points, "censored"):  # a PersistenceDiagrams
        raise InvalidInputError(f"{name} is a PersistenceDiagrams; pass dim= to choose a dimension.")
    arr = _to_numpy(points)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidInputError(
            f"{name} must be a numeric array of (birth, death) pairs, found dtype {arr.dtype}."
        )
    arr = np.asarray(arr, dtype=np.float64)
    if arr.size == 0:
        return np.empty((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ShapeError(
            f"{name} must have shape (n_points, 2) of (birth, death) pairs, found shape "
            f"{arr.shape}. For a PersistenceDiagrams pass the object itself with dim=k, "
            "or one dimension's array, e.g. diagrams[1]."
        )
    if np.isnan(arr).any():
        raise InvalidInputError(f"{name} contains NaN; births and deaths must be numbers.")
    if np.isinf(arr[:, 0]).any():
        raise InvalidInputError(
            f"{name} has an infinite birth; only deaths may be infinite (inf = never dies)."
        )
    bad = arr[:, 1] < arr[:, 0]
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"{name} has {int(bad.sum())} point(s) with death < birth (first: "
            f"{arr[k].tolist()}). For superlevel-set filtrations negate the values first."
        )
    return np.ascontiguousarray(arr)


def check_graph_edges(n_nodes: Any, edges: Any) -> tuple[int, np.ndarray]:
    """Validate a simple graph ``(n_nodes, edges)``; return ``n`` and an int64 ``(m, 2)`` edge array."""
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, (int, np.integer)):
        raise InvalidInputError(
            f"n_nodes must be a non-negative integer, found {n_nodes!r} of type "
            f"{type(n_nodes).__name__}. Pass the number of vertices, e.g. graph.n_nodes."
        )
    n = int(n_nodes)
    if n < 0:
        raise InvalidInputError(f"n_nodes must be >= 0, found {n}.")
    e = _to_numpy(edges)
    if e.size == 0:
        return n, np.zeros((0, 2), dtype=np.int64)
    if e.ndim != 2 or e.shape[1] != 2:
        raise ShapeError(
            f"edges must have shape (n_edges, 2), found shape {e.shape}. A torch-geometric "
            "edge_index of shape (2, n_edges) must be transposed first (edge_index.T)."
        )
    if not np.issubdtype(e.dtype, np.integer):
        if not np.issubdtype(e.dtype, np.floating) or not np.all(np.isfinite(e)) or np.any(e != np.round(e)):
            raise InvalidInputError(
                f"edges must hold integer vertex ids, found dtype {e.dtype} with non-integer "
                "values. Pass an integer array of (u, v) pairs."
            )
    e = e.astype(np.int64)
    lo, hi = int(e.min()), int(e.max())
    if lo < 0 or hi >= n:
        raise InvalidInputError(
            f"edges refer to vertex ids in [{lo}, {hi}] but the graph has n_nodes={n} vertices "
            f"(valid ids 0..{n - 1}). Use 0-based ids within the graph."
        )
    loops = e[:, 0] == e[:, 1]
    if loops.any():
        raise InvalidInputError(
            f"edges contain {int(loops.sum())} self-loop(s) (first at vertex {int(e[loops][0, 0])}); "
            "the normalised Laplacian and the lower-star filtration are defined for simple "
            "graphs. Drop them, e.g. edges[edges[:, 0] != edges[:, 1]]."
        )
    return n, e
