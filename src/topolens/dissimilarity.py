"""Dissimilarity matrices between neurons or inputs, as float32 GEMMs in torch.

Activations are ``(n_inputs, n_neurons)``. Each function says which axis holds the points:

* :func:`correlation_dissimilarity` and :func:`cosine_dissimilarity` compare **neurons**
  (columns), the setting of Ballester et al. (2024): a neuron is the vector of its
  activations over the inputs;
* :func:`euclidean_distances` compares the **rows** of a ``(n_points, n_features)`` matrix
  (use ``A`` for inputs as points, ``A.T`` for neurons as points);
* :func:`pairwise_dissimilarity` dispatches with an explicit ``points="neurons" | "inputs"``.

All of them run one float32 matrix product on ``device`` (the GPU when one is present and
``device=None``), in column chunks when the output is large, and write into a
preallocated float32 numpy array (optionally a memory map via ``out``). The result is
exactly symmetric with an exactly zero diagonal.

Constant neurons
----------------
A neuron with zero variance over the inputs (a dead ReLU, say) has no correlation with
anything. :func:`correlation_dissimilarity` keeps the output shape and gives such a neuron
``|corr| = 0`` with every other neuron, i.e. dissimilarity 1 (``constant="zero"``, the
default), or raises (``constant="raise"``). Either way a :class:`ConstantNeuronWarning`
counts them. Analyses that should not see them (an isolated point at distance 1 adds an
H0 bar of length 1) drop them first: see :func:`constant_neurons` and
``topolens.topology.activation_persistence``, which drops them by default.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Literal

import numpy as np

from ._validation import _to_numpy, check_activations, check_choice, check_int, check_points
from .exceptions import ConstantNeuronWarning, InvalidInputError, ShapeError

__all__ = [
    "constant_neurons",
    "correlation_dissimilarity",
    "cosine_dissimilarity",
    "default_device",
    "euclidean_distances",
    "pairwise_dissimilarity",
]

logger = logging.getLogger(__name__)

#: bytes of device memory one chunk of the product may take (output block + operands)
_CHUNK_BYTES = 1 << 28
#: working copies of the input below this many bytes are not budgeted separately
_SMALL_COPIES = 1 << 24


def default_device(device: Any = None) -> Any:
    """Resolve ``device``: ``None`` means CUDA when available, else CPU."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(f"device {device!r} is not a torch device ({exc}); use 'cpu', 'cuda' or None.") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(
            f"device {device!r} asks for CUDA but torch sees no GPU here; use device=None (GPU when "
            "present, else CPU) or 'cpu'."
        )
    return dev


def constant_neurons(activations: Any, *, rtol: float = 1e-10) -> np.ndarray:
    """Boolean mask of the neurons (columns) that are constant over the inputs (rows).

    A column is constant when its standard deviation (computed in float64) is at most
    ``rtol`` times its largest absolute value (or is exactly zero).
    """
    a = check_activations(activations, dtype=np.float32)
    return _constant_mask(a, rtol)


def _constant_mask(a: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    # max - min == 0 catches exact constants cheaply and without rounding issues
    span = a.max(axis=0).astype(np.float64) - a.min(axis=0).astype(np.float64)
    scale = np.abs(a).max(axis=0).astype(np.float64)
    return span <= rtol * scale


def _check_working_memory(x: Any, *, points_axis: int, bytes_per_entry: int, out: Any,
                          memory_limit: Any, what: str) -> None:
    """Refuse, from the input's shape alone (before any conversion), a computation whose working
    copies (``bytes_per_entry`` per input entry), dense output (``4 n^2`` unless ``out`` is
    given) and one product block would not fit in ``memory_limit``."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 2:
        return  # nested lists are converted (and their shape checked) by the validation
    from .homology.memory import check_memory

    n_in, n_out = int(shape[0]), int(shape[1])
    n = (n_in, n_out)[points_axis]
    copies = bytes_per_entry * n_in * n_out
    if copies < _SMALL_COPIES:  # small copies: only the dense output is checked (_gram_to_dissimilarity)
        return
    block = min(_CHUNK_BYTES, 4 * n * n + 4 * n_in * n_out)  # one product block and its operands
    need = copies + (4 * n * n if out is None else 0) + block
    check_memory(need, memory_limit, what=f"{what} of {n} points (the dense {n} x {n} float32 result "
                 f"and working copies of the {n_in} x {n_out} input)",
                 hint="Sample fewer points (neurons or inputs), pass out=np.lib.format.open_memmap(path, "
                      "mode='w+', dtype=np.float32, shape=(n, n)) to write the result to disk")


def _warn_constant(n_const: int, n: int, policy: str, context: str = "", stacklevel: int = 3) -> None:
    if n_const:
        msg = (
            f"{n_const} of {n} neuron(s){context} are constant over the inputs, so their "
            f"correlation is undefined; policy constant={policy!r}"
        )
        if policy == "zero":
            msg += " gives them |corr| = 0 (dissimilarity 1) with every other neuron"
        elif policy == "drop":
            msg += " drops them"
        warnings.warn(msg + ".", ConstantNeuronWarning, stacklevel=stacklevel)
        logger.info(msg)


def _gram_to_dissimilarity(
    z: Any,
    transform: str,
    *,
    device: Any,
    out: np.ndarray | None,
    chunk_size: int | None,
    sq_norms: Any = None,
    memory_limit: Any = "auto",
) -> np.ndarray:
    """Compute a dissimilarity from the Gram matrix ``z.T @ z`` of a (d, n) float32 tensor.

    Only the upper triangle is multiplied, in row blocks of ``chunk_size`` (about half the
    flops of the full product); each block is mirrored into the lower triangle, so the
    result is exactly symmetric. ``transform``: ``"1-|g|"``, ``"1-g"`` or ``"euclidean"``
    (which needs ``sq_norms``).
    """
    import torch

    n = z.shape[1]
    if out is None:
        from .homology.memory import check_memory

        check_memory(4 * n * n, memory_limit, what=f"the dense {n} x {n} float32 dissimilarity matrix",
                     hint="Sample fewer points, or pass out=np.lib.format.open_memmap(path, "
                          "mode='w+', dtype=np.float32, shape=(n, n)) to write it to disk")
        out = np.empty((n, n), dtype=np.float32)
    elif out.shape != (n, n) or out.dtype != np.float32:
        raise ShapeError(f"out must be a float32 array of shape {(n, n)}, found {out.dtype} {out.shape}.")
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1, allow_none=True)
    if chunk_size is None:
        # ~8 row blocks (good flop saving), each block at most _CHUNK_BYTES
        chunk_size = max(256, -(-n // 8))
        chunk_size = int(max(1, min(n, chunk_size, _CHUNK_BYTES // (4 * max(n + z.shape[0], 1)))))
    host = torch.from_numpy(out)
    zt = z.T
    for i0 in range(0, n, chunk_size):
        i1 = min(n, i0 + chunk_size)
        block = zt[i0:i1] @ z[:, i0:]  # rows i0:i1, columns i0:n
        if transform == "1-|g|":
            block.abs_().neg_().add_(1.0).clamp_(0.0, 1.0)
        elif transform == "1-g":
            block.neg_().add_(1.0).clamp_(0.0, 2.0)
        else:  # euclidean: sqrt(|x|^2 + |y|^2 - 2 x.y)
            block.mul_(-2.0).add_(sq_norms[i0:i1, None]).add_(sq_norms[None, i0:]).clamp_(min=0.0).sqrt_()
        diag = block[:, : i1 - i0]
        diag.copy_(torch.triu(diag) + torch.triu(diag, 1).T)  # exact symmetry inside the block
        block = block.cpu()
        host[i0:i1, i0:].copy_(block)
        host[i1:, i0:i1].copy_(block[:, i1 - i0 :].T)
    np.fill_diagonal(out, 0.0)
    return out


def correlation_dissimilarity(
    activations: Any,
    *,
    absolute: bool = True,
    constant: Literal["zero", "raise"] = "zero",
    device: Any = None,
    chunk_size: int | None = None,
    out: np.ndarray | None = None,
    memory_limit: Any = "auto",
) -> np.ndarray:
    """``1 - |corr|`` (or ``1 - corr``) between the **neurons** (columns) of ``activations``.

    Parameters
    ----------
    activations : array-like or torch.Tensor of shape (n_inputs, n_neurons)
        Rows are inputs, columns are neurons. Must be finite.
    absolute : bool, default True
        ``1 - |corr|`` in [0, 1] (anti-correlated neurons are close, as in Ballester et al.);
        ``False`` gives ``1 - corr`` in [0, 2].
    constant : {"zero", "raise"}
        Policy for constant neurons (see the module docstring).
    device : torch device, optional
        Where to run the product; default CUDA when available, else CPU.
    chunk_size : int, optional
        Neurons per output block; by default sized to about 256 MiB per block.
    out : float32 ndarray of shape (n_neurons, n_neurons), optional
        Preallocated output (e.g. an ``np.memmap`` for very large ``n_neurons``).
    memory_limit : int (bytes), "auto" or None
        Refuse (:class:`~topolens.MemoryBudgetError`) to allocate a dense output larger than
        this; ``"auto"``: 80% of the available memory; ``None``: no check.

    Returns
    -------
    ndarray of shape (n_neurons, n_neurons), float32
        Symmetric, zero diagonal, values clipped to [0, 1] (or [0, 2]).
    """
    import torch

    check_choice(constant, "constant", ("zero", "raise"))
    # converted input, its centred copy (float64 at most) and the float32 operand
    _check_working_memory(activations, points_axis=1, bytes_per_entry=20, out=out, memory_limit=memory_limit,
                          what="1 - |corr|")
    # keep float64 input in float64 until it is centred (offsets >> spread lose digits in float32)
    raw = _to_numpy(activations)
    a = check_activations(raw, name="activations", min_inputs=2, memory_limit=memory_limit,
                          dtype=np.float64 if raw.dtype == np.float64 else np.float32)
    const = _constant_mask(a)
    n_const = int(const.sum())
    if n_const and constant == "raise":
        idx = np.flatnonzero(const)
        raise InvalidInputError(
            f"{n_const} of {a.shape[1]} neuron(s) are constant over the {a.shape[0]} inputs "
            f"(first: {idx[:10].tolist()}), so their correlation is undefined. Drop them "
            "(activations[:, ~topolens.dissimilarity.constant_neurons(activations)]) or use "
            "constant='zero'."
        )
    _warn_constant(n_const, a.shape[1], constant)
    dev = default_device(device)
    # centre (mean accumulated in float64) and normalise the columns, then one float32 GEMM
    x = torch.from_numpy(a).to(dev)
    z = x - x.mean(dim=0, dtype=torch.float64).to(x.dtype)
    norms = z.square().sum(dim=0).sqrt_()
    norms[torch.from_numpy(const).to(dev) | (norms == 0)] = torch.inf  # constant -> |corr| = 0
    z /= norms
    z = z.to(torch.float32)
    return _gram_to_dissimilarity(z, "1-|g|" if absolute else "1-g", device=dev, out=out,
                                  chunk_size=chunk_size, memory_limit=memory_limit)


def cosine_dissimilarity(
    activations: Any,
    *,
    device: Any = None,
    chunk_size: int | None = None,
    out: np.ndarray | None = None,
    memory_limit: Any = "auto",
) -> np.ndarray:
    """``1 - cos`` between the **neurons** (columns) of ``activations``, in [0, 2].

    A neuron that is zero on every input has no direction: it gets cosine 0
    (dissimilarity 1) with every other neuron and a :class:`ConstantNeuronWarning`.
    """
    import torch

    # float32 input, its float64 copy, the normalised float64 and float32 copies
    _check_working_memory(activations, points_axis=1, bytes_per_entry=24, out=out, memory_limit=memory_limit,
                          what="cosine dissimilarity")
    a = check_activations(activations, name="activations", min_inputs=1, memory_limit=memory_limit)
    a64 = a.astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->j", a64, a64))
    zero = norms == 0
    if zero.any():
        warnings.warn(
            f"{int(zero.sum())} of {a.shape[1]} neuron(s) are zero on every input; their cosine "
            "is undefined and set to 0 (dissimilarity 1).", ConstantNeuronWarning, stacklevel=2,
        )
    norms[zero] = np.inf
    dev = default_device(device)
    z = torch.from_numpy((a64 / norms).astype(np.float32)).to(dev)
    return _gram_to_dissimilarity(z, "1-g", device=dev, out=out, chunk_size=chunk_size,
                                  memory_limit=memory_limit)


def euclidean_distances(
    x: Any,
    *,
    device: Any = None,
    chunk_size: int | None = None,
    out: np.ndarray | None = None,
    memory_limit: Any = "auto",
) -> np.ndarray:
    """Euclidean distances between the **rows** of ``x`` (shape (n_points, n_features)).

    Computed as ``sqrt(|x|^2 + |y|^2 - 2 x.y)`` with one float32 GEMM after centring the
    points (which reduces cancellation); accurate to about ``1e-3`` relative to the data's
    spread for distances much smaller than that spread. Use ``scipy.spatial.distance.pdist``
    when exact small distances matter.
    """
    import torch

    # float64 points, their centred copy and the float32 transposed operand
    _check_working_memory(x, points_axis=0, bytes_per_entry=20, out=out, memory_limit=memory_limit,
                          what="Euclidean distances")
    pts = check_points(x, name="points")
    pts = pts - pts.mean(axis=0, keepdims=True)
    dev = default_device(device)
    z = torch.from_numpy(np.ascontiguousarray(pts.T, dtype=np.float32)).to(dev)
    sq = torch.from_numpy(np.einsum("ij,ij->i", pts, pts).astype(np.float32)).to(dev)
    return _gram_to_dissimilarity(z, "euclidean", device=dev, out=out, chunk_size=chunk_size,
                                  sq_norms=sq, memory_limit=memory_limit)


def pairwise_dissimilarity(
    activations: Any,
    metric: Literal["correlation", "abs_correlation", "cosine", "euclidean"] = "abs_correlation",
    *,
    points: Literal["neurons", "inputs"] = "neurons",
    device: Any = None,
    **kwargs: Any,
) -> np.ndarray:
    """Dissimilarity between neurons or inputs of an ``(n_inputs, n_neurons)`` matrix.

    Parameters
    ----------
    activations : array-like of shape (n_inputs, n_neurons)
    metric : {"abs_correlation", "correlation", "cosine", "euclidean"}
        ``"abs_correlation"`` is ``1 - |corr|``, ``"correlation"`` is ``1 - corr``.
    points : {"neurons", "inputs"}
        Which axis holds the points: columns (neurons) or rows (inputs).
    """
    check_choice(metric, "metric", ("correlation", "abs_correlation", "cosine", "euclidean"))
    check_choice(points, "points", ("neurons", "inputs"))
    limit = kwargs.get("memory_limit", "auto")
    # the float32 validated copy (and its transpose for inputs as points) come on top of the metric's own
    _check_working_memory(activations, points_axis=1 if points == "neurons" else 0, bytes_per_entry=28,
                          out=kwargs.get("out"), memory_limit=limit, what=f"the {metric} dissimilarity")
    a = check_activations(activations, min_inputs=1, memory_limit=limit)
    # every metric below compares columns except euclidean_distances, which compares rows
    if metric == "euclidean":
        return euclidean_distances(a if points == "inputs" else a.T, device=device, **kwargs)
    cols = a if points == "neurons" else np.ascontiguousarray(a.T)
    if metric == "cosine":
        return cosine_dissimilarity(cols, device=device, **kwargs)
    return correlation_dissimilarity(cols, absolute=metric == "abs_correlation", device=device, **kwargs)
