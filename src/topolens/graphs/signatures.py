"""Spectral vertex signatures of graphs: the normalised Laplacian and the heat kernel signature.

These are the vertex functions and graph features of PersLay's graph pipeline (Carrière et
al., "PersLay: A Neural Network Layer for Persistence Diagrams and New Graph Topological
Signatures", AISTATS 2020):

* :func:`normalized_laplacian`: ``L = I - D^{-1/2} A D^{-1/2}`` (Chung's convention:
  ``L[v, v] = 0`` for an isolated vertex ``v``, as in ``scipy.sparse.csgraph.laplacian(A,
  normed=True)``); its eigenvalues lie in ``[0, 2]``;
* :func:`heat_kernel_signature`: ``HKS_t(v) = sum_i exp(-t lambda_i) phi_i(v)^2``, the diagonal
  of the heat kernel ``exp(-t L)``; PersLay filters each graph by ``HKS_t`` (t = 0.1 and/or 10)
  and computes the extended persistence of that vertex function;
* :func:`spectral_features`: the paper's additional per-graph features. The paper speaks of
  "the eigenvalues of the normalised Laplacian and the deciles of the HKS"; the authors' code
  (``perslay/experiments.py``, ``tutorial/experiments.py`` in MathieuCarriere/perslay) uses the
  vector of eigenvalues sorted in decreasing order and zero-padded to the largest graph of the
  data set (not a histogram), followed by the 0th, 10th, ..., 100th percentiles of ``HKS_t``
  (11 values) for every HKS time ``t``. :func:`spectral_features` computes exactly that.

Graphs are given as ``(n_nodes, edges)`` with ``edges`` an integer array of shape
``(n_edges, 2)``; both directions and repeated edges are merged (the adjacency is 0/1), a
self-loop is refused. Graphs are small (TU benchmarks: at most a few hundred vertices), so the
Laplacian is dense and the eigendecomposition is ``numpy.linalg.eigh``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .._validation import _to_numpy, check_graph_edges
from ..exceptions import InvalidInputError, NonFiniteError, ShapeError

__all__ = [
    "HKS_PERCENTILES",
    "LaplacianSpectrum",
    "heat_kernel_signature",
    "hks_from_spectrum",
    "hks_percentiles",
    "laplacian_spectrum",
    "normalized_laplacian",
    "padded_eigenvalues",
    "spectral_features",
]

#: The percentiles of the HKS used as graph features (0, 10, ..., 100), as in the authors' code.
HKS_PERCENTILES = np.arange(0, 101, 10)


class LaplacianSpectrum(NamedTuple):
    """Eigendecomposition of the normalised Laplacian.

    Attributes
    ----------
    eigenvalues : float64 ndarray of shape (n,)
        Increasing, clipped to ``[0, 2]`` (round-off can leave them slightly outside).
    eigenvectors : float64 ndarray of shape (n, n)
        Orthonormal columns; column ``i`` belongs to ``eigenvalues[i]``.
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray


def _check_times(times: Any) -> np.ndarray:
    t = np.atleast_1d(_to_numpy(times)).astype(np.float64)
    if t.ndim != 1 or t.size == 0:
        raise ShapeError(f"times must be a non-empty 1-D sequence of diffusion times, found shape {t.shape}.")
    if not np.all(np.isfinite(t)):
        raise NonFiniteError(f"times must be finite, found {t.tolist()}.")
    if np.any(t < 0):
        raise InvalidInputError(
            f"times must be >= 0 (exp(-t L) grows without bound for t < 0), found {t.tolist()}."
        )
    return t


def normalized_laplacian(n_nodes: int, edges: Any) -> np.ndarray:
    """Dense symmetric normalised Laplacian ``I - D^{-1/2} A D^{-1/2}`` of an undirected graph.

    Parameters
    ----------
    n_nodes : int
        Number of vertices (0 is allowed).
    edges : int array-like of shape (n_edges, 2)
        Vertex pairs; direction and repetitions are ignored. Self-loops are refused.

    Returns
    -------
    float64 ndarray of shape (n_nodes, n_nodes)
        ``L[v, v] = 1`` for a vertex of positive degree and ``0`` for an isolated vertex
        (Chung's convention, also scipy's), ``L[u, v] = -1 / sqrt(d_u d_v)`` for an edge.

    Raises
    ------
    InvalidInputError
        Bad ``n_nodes``, out-of-range vertex ids or self-loops.
    ShapeError
        ``edges`` not of shape (n_edges, 2).
    """
    n, e = check_graph_edges(n_nodes, edges)
    a = np.zeros((n, n), dtype=np.float64)
    a[e[:, 0], e[:, 1]] = 1.0
    a[e[:, 1], e[:, 0]] = 1.0
    deg = a.sum(axis=1)
    connected = deg > 0
    inv_sqrt = np.zeros(n, dtype=np.float64)
    inv_sqrt[connected] = 1.0 / np.sqrt(deg[connected])
    lap = -(inv_sqrt[:, None] * a * inv_sqrt[None, :])
    lap[np.diag_indices(n)] = connected.astype(np.float64)
    return lap


def laplacian_spectrum(n_nodes: int, edges: Any) -> LaplacianSpectrum:
    """Eigenvalues (increasing, in ``[0, 2]``) and orthonormal eigenvectors of the normalised Laplacian.

    Parameters
    ----------
    n_nodes, edges
        As in :func:`normalized_laplacian`.

    Returns
    -------
    LaplacianSpectrum
        ``(eigenvalues (n,), eigenvectors (n, n))``; empty arrays for ``n_nodes == 0``.
    """
    lap = normalized_laplacian(n_nodes, edges)
    if lap.shape[0] == 0:
        return LaplacianSpectrum(np.zeros(0), np.zeros((0, 0)))
    evals, evecs = np.linalg.eigh(lap)
    return LaplacianSpectrum(np.clip(evals, 0.0, 2.0), evecs)


def hks_from_spectrum(spectrum: LaplacianSpectrum, times: Sequence[float] | np.ndarray) -> np.ndarray:
    """Heat kernel signature from a precomputed :class:`LaplacianSpectrum`.

    Parameters
    ----------
    spectrum : LaplacianSpectrum
        From :func:`laplacian_spectrum`.
    times : sequence of float
        Diffusion times ``t >= 0``.

    Returns
    -------
    float64 ndarray of shape (n, len(times))
        ``HKS[v, j] = sum_i exp(-times[j] * lambda_i) * phi_i(v)**2``.
    """
    t = _check_times(times)
    evals, evecs = (np.asarray(x, dtype=np.float64) for x in spectrum)
    if evecs.ndim != 2 or evals.shape != (evecs.shape[1],):
        raise ShapeError(
            f"spectrum must hold eigenvalues (k,) and eigenvectors (n, k); found shapes "
            f"{evals.shape} and {evecs.shape}. Use laplacian_spectrum(n_nodes, edges)."
        )
    # (n, k) @ (k, T): one GEMM for all times
    return np.square(evecs) @ np.exp(-np.outer(evals, t))


def heat_kernel_signature(n_nodes: int, edges: Any, times: Sequence[float] | np.ndarray) -> np.ndarray:
    """Heat kernel signature of every vertex at every diffusion time.

    ``HKS_t(v) = sum_i exp(-t lambda_i) phi_i(v)^2 = exp(-t L)[v, v]``, with ``(lambda_i,
    phi_i)`` the eigenpairs of the normalised Laplacian (:func:`normalized_laplacian`).

    Parameters
    ----------
    n_nodes : int
        Number of vertices.
    edges : int array-like of shape (n_edges, 2)
        Undirected edges (see :func:`normalized_laplacian`).
    times : sequence of float
        Diffusion times ``t >= 0`` (PersLay uses 0.1 and 10).

    Returns
    -------
    float64 ndarray of shape (n_nodes, len(times))
        Values in ``(0, 1]``; an isolated vertex has ``HKS = 1`` at every time, and every
        column sums to ``trace(exp(-t L))``.

    Examples
    --------
    >>> hks = heat_kernel_signature(3, [(0, 1), (1, 2)], [0.0, 10.0])
    >>> hks.shape, bool(np.allclose(hks[:, 0], 1.0))
    ((3, 2), True)
    """
    return hks_from_spectrum(laplacian_spectrum(n_nodes, edges), times)


def padded_eigenvalues(eigenvalues: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` largest eigenvalues in decreasing order, zero-padded to length ``size``.

    Parameters
    ----------
    eigenvalues : ndarray of shape (n,)
    size : int
        Output length; usually the largest number of vertices in the data set.

    Returns
    -------
    float64 ndarray of shape (size,)
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise InvalidInputError(f"size must be a non-negative integer, found {size!r}.")
    out = np.zeros(int(size), dtype=np.float64)
    ev = np.sort(np.asarray(eigenvalues, dtype=np.float64).ravel())[::-1][: int(size)]
    out[: ev.size] = ev
    return out


def hks_percentiles(hks: np.ndarray) -> np.ndarray:
    """Percentiles 0, 10, ..., 100 of each HKS column (zeros for an empty graph).

    Parameters
    ----------
    hks : ndarray of shape (n, n_times)

    Returns
    -------
    float64 ndarray of shape (n_times, 11)
    """
    h = np.asarray(hks, dtype=np.float64)
    if h.ndim != 2:
        raise ShapeError(f"hks must have shape (n_nodes, n_times), found shape {h.shape}.")
    if h.shape[0] == 0:
        return np.zeros((h.shape[1], HKS_PERCENTILES.size))
    return np.percentile(h, HKS_PERCENTILES, axis=0).T


def spectral_features(n_nodes: int, edges: Any, times: Sequence[float] | np.ndarray,
                      n_eigenvalues: int) -> np.ndarray:
    """PersLay's additional graph features: padded Laplacian spectrum and HKS percentiles.

    Parameters
    ----------
    n_nodes, edges
        The graph (see :func:`normalized_laplacian`).
    times : sequence of float
        HKS diffusion times.
    n_eigenvalues : int
        Length of the eigenvalue block (the largest graph size of the data set in the paper).

    Returns
    -------
    float64 ndarray of shape (n_eigenvalues + 11 * len(times),)
        ``[largest eigenvalues, decreasing, zero-padded | percentiles 0..100 of HKS_t for each t]``.
    """
    spec = laplacian_spectrum(n_nodes, edges)
    hks = hks_from_spectrum(spec, times)
    return np.concatenate([padded_eigenvalues(spec.eigenvalues, n_eigenvalues), hks_percentiles(hks).ravel()])
