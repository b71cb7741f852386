"""Input validation shared by every module. Messages say what was found and how to fix it."""

from __future__ import annotations

from typing import Any

import numpy as np

from .exceptions import InvalidInputError, NonFiniteError, ShapeError


def _to_numpy(x: Any, name: str | None = None) -> np.ndarray:
    """Convert a numpy array, torch tensor or nested sequence to a numpy array (no copy when possible).

    Ragged or unconvertible input raises :class:`InvalidInputError` (``name``: how the message
    calls it; default: its type)."""
    if isinstance(x, np.ndarray):
        return x
    try:  # torch tensors without importing torch eagerly
        import torch

        if isinstance(x, torch.Tensor):
            if x.device.type == "meta":
                raise InvalidInputError(
                    f"the tensor of shape {tuple(x.shape)} is on the 'meta' device, which holds "
                    "shapes but no values. Pass a tensor with data (e.g. on the CPU)."
                )
            x = x.detach().cpu()
            if x.dtype in (torch.bfloat16, torch.float16):  # numpy has no bfloat16
                x = x.float()
            elif x.dtype == torch.complex32:  # numpy has no complex32; complex is refused later
                x = x.to(torch.complex64)
            return x.numpy()
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists, unconvertible objects
        what = f"the {type(x).__name__}" if name is None else name
        raise InvalidInputError(
            f"{what} could not be turned into an array ({exc}); pass a numpy array or "
            "a nested list whose rows all have the same length."
        ) from None


def _row_chunks(a: np.ndarray, budget: int = 1 << 24) -> Any:
    """Row ranges of ``a`` whose blocks hold about ``budget`` elements (bounded temporaries)."""
    width = int(np.prod(a.shape[1:])) if a.ndim > 1 else 1
    step = max(1, budget // max(1, width)) if a.ndim > 0 else 1
    n = a.shape[0] if a.ndim > 0 else 1
    for i in range(0, n, step):
        yield (slice(i, min(n, i + step)) if a.ndim > 0 else ())


def _nonfinite_report(a: np.ndarray) -> str:
    """Counts and first rows/columns of NaN and infinite entries (temporaries bounded per block)."""
    n_nan = n_inf = 0
    rows: list[int] = []
    n_rows = 0
    cols = np.zeros(a.shape[1], dtype=bool) if a.ndim == 2 else None
    for sl in _row_chunks(a):
        block = np.asarray(a[sl])
        if not np.issubdtype(block.dtype, np.inexact):
            continue
        nan, inf = np.isnan(block), np.isinf(block)
        n_nan += int(nan.sum())
        n_inf += int(inf.sum())
        if cols is not None:
            bad = nan | inf
            hit = np.flatnonzero(bad.any(axis=1))
            n_rows += hit.size
            rows.extend((hit[: 5 - len(rows)] + sl.start).tolist() if len(rows) < 5 else [])
            cols |= bad.any(axis=0)
    where = ""
    if cols is not None:
        c = np.flatnonzero(cols)
        where = (
            f" in {n_rows} row(s) (first: {rows[:5]}) and "
            f"{c.size} column(s) (first: {c[:5].tolist()})"
        )
    return f"{n_nan} NaN and {n_inf} infinite value(s){where}"


def _float32_overflow(a: np.ndarray, name: str, target: Any = np.float32) -> str | None:
    """A message when finite values of ``a`` would overflow to inf in ``target``; else None."""
    target = np.dtype(target)
    if not (np.issubdtype(target, np.floating) and np.issubdtype(a.dtype, np.number)) or a.size == 0:
        return None
    if np.issubdtype(a.dtype, np.floating) and np.finfo(a.dtype).max <= np.finfo(target).max:
        return None
    if np.issubdtype(a.dtype, np.integer) and np.iinfo(a.dtype).max <= np.finfo(target).max:
        return None
    limit = float(np.finfo(target).max)
    count, top = 0, 0.0
    for sl in _row_chunks(a):
        mag = np.abs(np.asarray(a[sl], dtype=np.float64))
        over = mag > limit
        over &= np.isfinite(mag)
        if over.any():
            count += int(over.sum())
            top = max(top, float(mag[over].max()))
    if not count:
        return None
    return (
        f"{name} holds {count} finite value(s) whose magnitude (up to {top:.3g}) exceeds "
        f"{target}'s largest finite value ({limit:.3g}), so they would overflow to inf when "
        f"stored or computed in {target}; these are not infinite values in the input "
        f"({a.dtype}). Rescale them (e.g. divide by their largest magnitude: correlations do not "
        "change) or find what makes them explode (exploding weights or inputs)."
    )


def check_activations(
    a: Any,
    *,
    name: str = "activations",
    min_inputs: int = 2,
    min_neurons: int = 1,
    dtype: type = np.float32,
    memory_limit: Any = "auto",
) -> np.ndarray:
    """Validate an activation matrix of shape ``(n_inputs, n_neurons)``.

    Returns a C-contiguous array of ``dtype`` (a view when no conversion is needed: a
    float32 memory map stays one). The values are checked before any conversion, in
    blocks of bounded size, and the memory of a converting copy is estimated first.

    Parameters
    ----------
    a : array-like of shape (n_inputs, n_neurons)
        Real numbers (a torch tensor, numpy array or memory map).
    name : str
        How the messages call the array.
    min_inputs, min_neurons : int
        Smallest number of rows and columns accepted.
    dtype : numpy dtype, default float32
        The dtype returned.
    memory_limit : int, "auto" or None, default "auto"
        Budget for the converting copy (``"auto"``: 80% of the available memory).

    Raises
    ------
    InvalidInputError
        If the array is not numeric or is complex (its imaginary part would be lost).
    ShapeError
        If the array is not 2-D or has fewer than ``min_inputs`` rows or ``min_neurons`` columns.
    NonFiniteError
        If it holds NaN or infinite values, or finite values that overflow ``dtype``.
    MemoryBudgetError
        If converting it to ``dtype`` would need more memory than ``memory_limit``.
    """
    arr = _to_numpy(a, name)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise InvalidInputError(
            f"{name} must be a numeric array, found dtype {arr.dtype}. "
            "Pass a float array or tensor of shape (n_inputs, n_neurons)."
        )
    if np.iscomplexobj(arr):
        raise InvalidInputError(
            f"{name} are complex ({arr.dtype}); topolens analyses real activations and will not "
            "drop the imaginary part. Pass the real part (a.real), the magnitude (np.abs(a)), or "
            "both as separate neurons (np.hstack([a.real, a.imag]))."
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
    target = np.dtype(dtype)
    if arr.dtype != target or not arr.flags.c_contiguous:
        from .homology.memory import check_memory  # lazy: homology imports this module

        check_memory(arr.shape[0] * arr.shape[1] * target.itemsize, memory_limit,
                     what=f"a C-contiguous {target} copy of {name} (shape {arr.shape}, {arr.dtype})",
                     hint="Pass C-contiguous float32 activations (as record_activations writes "
                          "them), or fewer inputs or neurons")
    if np.issubdtype(arr.dtype, np.inexact) and \
            not all(np.isfinite(arr[sl]).all() for sl in _row_chunks(arr)):
        raise NonFiniteError(
            f"{name} contains {_nonfinite_report(arr)}. Topology of non-finite activations is "
            "undefined: check the model for overflow (e.g. exploding training, log of zero) or "
            "drop the offending inputs/neurons before the analysis."
        )
    overflow = _float32_overflow(arr, name, target)
    if overflow:
        raise NonFiniteError(overflow)
    return np.ascontiguousarray(arr, dtype=target)


def check_points(x: Any, *, name: str = "points", min_points: int = 1) -> np.ndarray:
    """Validate a point cloud of shape ``(n_points, n_features)`` (float64, finite).

    Raises
    ------
    InvalidInputError
        If the array is not numeric or is complex (the imaginary part would be lost).
    ShapeError
        If it is not 2-D or has fewer than ``min_points`` rows.
    NonFiniteError
        If a coordinate is NaN or infinite.
    """
    arr = _to_numpy(x, name)
    if arr.ndim != 2:
        raise ShapeError(
            f"{name} must be 2-D with shape (n_points, n_features), found shape {arr.shape}."
        )
    if arr.shape[0] < min_points:
        raise ShapeError(f"{name} has {arr.shape[0]} point(s); at least {min_points} needed.")
    _check_real_dtype(arr, name)
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise NonFiniteError(f"{name} contains {_nonfinite_report(arr)}; all coordinates must be finite.")
    return arr


def _check_real_dtype(arr: np.ndarray, name: str) -> None:
    """Refuse non-numeric and complex arrays (a cast would silently drop the imaginary part)."""
    if np.iscomplexobj(arr):
        raise InvalidInputError(
            f"{name} has complex dtype {arr.dtype}; dissimilarities and coordinates must be real. "
            "Pass np.abs(x) or x.real explicitly if that is what you mean."
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise InvalidInputError(f"{name} must be a real numeric array, found dtype {arr.dtype}.")


def _square_matrix(d: Any, name: str = "distance matrix") -> np.ndarray:
    """``d`` as a real square array, without a copy or a scan (the cheap first checks of
    :func:`check_distance_matrix`, also used alone by helpers that read only part of ``d``)."""
    arr = _to_numpy(d, name)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ShapeError(
            f"{name} must be square with shape (n, n), found shape {arr.shape}. If the rows are "
            "points with coordinates, pass metric='euclidean' (or compute a dissimilarity with "
            "topolens.dissimilarity) instead of metric='precomputed'."
        )
    _check_real_dtype(arr, name)
    return arr


#: side of the square tiles in which distance matrices are scanned and symmetrised
_TILE = 512


def _matrix_dtype(src: np.dtype, dtype: Any) -> np.dtype:
    """float32 for float32 and lossless small types (float16, 8/16-bit integers), else float64."""
    if dtype is not None:
        return np.dtype(dtype)
    if src == np.float32 or (src.itemsize <= 2 and (np.issubdtype(src, np.floating) or np.issubdtype(src, np.integer))):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _tile_pairs(n: int):
    """Tiles ``(i, i1, j, j1)`` with ``i <= j`` covering the upper triangle (diagonal tiles included)."""
    for i in range(0, n, _TILE):
        for j in range(i, n, _TILE):
            yield i, min(n, i + _TILE), j, min(n, j + _TILE)


def _scan_matrix(arr: np.ndarray) -> tuple[float, float, float]:
    """One streaming pass over tiles (no n x n temporary, memory maps read once): the minimum,
    the maximum and the largest ``|d_ij - d_ji|``, as Python floats. A NaN or infinite entry in
    any tile ends the scan with a non-finite minimum or maximum."""
    lo, hi, asym = np.inf, -np.inf, 0.0
    # float32/float64 tiles are compared in their own dtype (no copy); integers and float16 in
    # float64 (no wrap-around of unsigned differences)
    work = arr.dtype if arr.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    for i, i1, j, j1 in _tile_pairs(arr.shape[0]):
        up = np.asarray(arr[i:i1, j:j1], dtype=work)
        low = np.asarray(arr[j:j1, i:i1], dtype=work).T if i != j else up.T
        # numpy's min/max propagate NaN (Python's min/max would drop it after the first tile)
        t_lo = float(np.minimum(up.min(), low.min()))
        t_hi = float(np.maximum(up.max(), low.max()))
        if not (np.isfinite(t_lo) and np.isfinite(t_hi)):
            return t_lo, t_hi, asym  # reported by the caller; no need to read further
        lo, hi = min(lo, t_lo), max(hi, t_hi)
        if not np.array_equal(up, low):
            asym = max(asym, float(np.abs(up - low).max()))
    return lo, hi, asym


def _count_below(arr: np.ndarray, t: float) -> int:
    """Entries ``< t``, counted in row blocks of about ``2^22`` entries."""
    return sum(int((np.asarray(arr[sl], dtype=np.float64) < t).sum()) for sl in _row_chunks(arr, 1 << 22))


def _symmetrised_copy(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``(d + d.T) / 2`` in ``dtype`` with negatives clipped to 0 and a zero diagonal, tile by tile.

    ``0.5 * a + 0.5 * b`` is computed for both triangles from the same two numbers, so the
    result is exactly symmetric (and never overflows where ``a + b`` would)."""
    out = np.empty(arr.shape, dtype=dtype)
    for i, i1, j, j1 in _tile_pairs(arr.shape[0]):
        up = np.asarray(arr[i:i1, j:j1], dtype=dtype)
        low = np.asarray(arr[j:j1, i:i1], dtype=dtype).T
        s = up if np.array_equal(up, low) else up * dtype.type(0.5) + low * dtype.type(0.5)
        s = np.maximum(s, dtype.type(0))
        out[i:i1, j:j1] = s
        out[j:j1, i:i1] = s.T
    np.fill_diagonal(out, 0)
    return out


def check_distance_matrix(
    d: Any,
    *,
    name: str = "distance matrix",
    atol: float = 1e-6,
    dtype: type | None = None,
    min_points: int = 1,
    memory_limit: int | str | None = "auto",
) -> np.ndarray:
    """Validate a dense dissimilarity matrix; return it exactly symmetric with a zero diagonal.

    Rounding is repaired, anything larger refused: entries off by at most ``atol`` (relative
    to the largest entry, and at least absolute) are fixed once here, so that every engine
    sees an exactly symmetric, non-negative matrix with an exactly zero diagonal (gudhi's
    dense engine misbehaves on any asymmetry, e.g. the last-ulp asymmetry of
    ``1 - np.abs(np.corrcoef(x))``): ``d`` becomes ``(d + d.T) / 2``, negatives such as the
    ``-2.2e-16`` of ``1 - x @ x.T`` become 0, and the diagonal becomes 0.

    Parameters
    ----------
    d : array-like of shape (n, n)
        Real numbers (complex input is refused); a memory map is read tile by tile.
    name : str
        How the messages call the matrix.
    atol : float
        Tolerance for symmetry, negative entries and the zero diagonal, relative to
        ``max(1, max |d_ij|)``.
    dtype : numpy dtype, optional
        Convert to this dtype; by default float32 stays float32, float16 and 8- or 16-bit
        integers become float32 (exactly), anything else float64.
    min_points : int
        Smallest accepted ``n``.
    memory_limit : int (bytes), "auto" or None
        Budget for the one copy made when a conversion or a repair is needed (checked before
        it is allocated; "auto": 80% of the available memory; None: no check).

    Returns
    -------
    ndarray of shape (n, n)
        ``d`` itself (no copy) when it is already C-contiguous, of the target dtype, exactly
        symmetric, non-negative and with a zero diagonal; else a repaired copy.

    Raises
    ------
    ShapeError
        If ``d`` is not square or has fewer than ``min_points`` rows.
    NonFiniteError
        If it holds NaN or infinite values.
    InvalidInputError
        If it is not real and numeric, or is asymmetric, negative or has a non-zero
        diagonal beyond the tolerance.
    MemoryBudgetError
        If the repaired copy does not fit in ``memory_limit``.
    """
    arr = _square_matrix(d, name)
    n = arr.shape[0]
    if n < min_points:
        raise ShapeError(f"{name} is {n} x {n}; at least {min_points} point(s) are needed.")
    target = _matrix_dtype(arr.dtype, dtype)
    if n == 0:
        return np.zeros((0, 0), dtype=target)
    lo, hi, asym = _scan_matrix(arr)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise NonFiniteError(
            f"{name} contains {_nonfinite_report(arr)}. Dissimilarities must be finite; "
            "to leave out pairs use a finite threshold instead of infinite entries."
        )
    tol = atol * max(abs(lo), abs(hi), 1.0)
    diag = np.abs(np.diagonal(arr).astype(np.float64))
    _refuse_beyond_tolerance(arr, name, lo, asym, float(diag.max()), tol)
    exact = lo >= 0 and asym == 0 and not diag.any()
    if exact and arr.dtype == target and arr.flags.c_contiguous:
        return arr
    from .homology.memory import check_memory  # lazy: homology imports this module

    check_memory(n * n * target.itemsize, memory_limit,
                 what=f"a repaired {n} x {n} {target.name} copy of the {name}",
                 hint="Pass an exactly symmetric, non-negative matrix with a zero diagonal in "
                      "float32 or float64 (then no copy is made), or sample fewer points")
    return _symmetrised_copy(arr, target)


def _refuse_beyond_tolerance(arr: np.ndarray, name: str, lo: float, asym: float, diag: float,
                             tol: float) -> None:
    """The errors of :func:`check_distance_matrix` for defects larger than rounding."""
    if lo < -tol:
        n_neg = _count_below(arr, -tol)
        raise InvalidInputError(
            f"{name} has {n_neg} negative entr{'y' if n_neg == 1 else 'ies'} beyond rounding "
            f"(most negative: {lo:.6g}; tolerance {tol:.3g}); dissimilarities must be >= 0. "
            "Fix the computation that produced it, or clip deliberately with np.maximum(d, 0)."
        )
    if diag > tol:
        raise InvalidInputError(
            f"{name} has a non-zero diagonal (max |d_ii| = {diag:.3g}); a point is at "
            "dissimilarity 0 from itself. Set the diagonal to 0 with np.fill_diagonal(d, 0)."
        )
    if asym > tol:
        raise InvalidInputError(
            f"{name} is not symmetric: max |d_ij - d_ji| = {asym:.3g}, more than the tolerance "
            f"{tol:.3g}. Symmetrise it, e.g. d = (d + d.T) / 2 or d = np.minimum(d, d.T), or fix "
            "the computation that produced it."
        )


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
    if np.iscomplexobj(arr):
        raise InvalidInputError(
            f"{name} is complex ({arr.dtype}); births and deaths are real numbers. Pass the real "
            "values (e.g. x.real) if the imaginary parts are rounding."
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
