"""Memory estimates, checked before a dense n^2 allocation or a persistence run.

A run killed by the out-of-memory killer loses everything and says nothing; topolens
refuses up front with :class:`~topolens.MemoryBudgetError`, the estimate, the budget and
what to change. The constants below were calibrated by measuring the peak resident
memory of gudhi's Rips engine on ``1 - |corr|`` matrices of n = 500..2000 points (see
``benchmarks/README.md``) and are deliberately conservative (they over-estimate).
"""

from __future__ import annotations

import math
import os
from typing import Literal

import numpy as np

from ..exceptions import InvalidInputError, MemoryBudgetError

__all__ = ["available_memory", "check_memory", "estimate_certificate_memory", "estimate_rips_memory",
           "memory_budget"]

#: bytes per matrix entry held while computing: the float32 matrix plus engine copies
#: (measured up to 13 at n = 4000: the matrix plus validation temporaries)
_BYTES_PER_ENTRY = 16.0
#: bytes per edge below the threshold in an H1 (and up) run (gudhi measured 157-600, growing
#: with n; ripser.py and giotto-ph similar; see benchmarks/README.md)
_BYTES_PER_EDGE_H1 = 1024.0
#: bytes per triangle below the threshold in an H2 (and up) run
_BYTES_PER_TRIANGLE_H2 = 48.0


def available_memory() -> int:
    """Available physical memory in bytes (MemAvailable on Linux, else total physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 1 << 34


def estimate_rips_memory(n: int, max_dim: int, edge_fraction: float = 1.0) -> int:
    """Estimated peak bytes of a Rips persistence run on ``n`` points.

    Parameters
    ----------
    n : int
        Number of points.
    max_dim : int
        Largest homology dimension (0: the dense matrix and Prim only).
    edge_fraction : float
        Fraction of the ``n (n - 1) / 2`` edges at or below the threshold (1 for no threshold).
    """
    entries = float(n) * n
    total = _BYTES_PER_ENTRY * entries
    if max_dim >= 1:
        edges = edge_fraction * n * (n - 1) / 2
        total += _BYTES_PER_EDGE_H1 * edges
    if max_dim >= 2:
        # triangles whose three edges are below the threshold, assuming independence (a bound
        # in practice: short edges cluster, which edge collapse then removes)
        triangles = edge_fraction**3 * n * (n - 1) * (n - 2) / 6
        total += _BYTES_PER_TRIANGLE_H2 * triangles * (max_dim - 1)
    # H_k needs the (k + 1)-simplices: from H3 on their number outgrows the triangles' (n = 40
    # points and max_dim = 25 would be ~2^40 simplices), so count them, s vertices each
    for s in range(5, max_dim + 3):
        simplices = math.comb(n, s) * edge_fraction ** math.comb(s, 2) if n >= s else 0.0
        total += _BYTES_PER_TRIANGLE_H2 * min(float(simplices), 1e300)
        if total > 1e300:
            break
    return int(min(total, 1e300))


def estimate_certificate_memory(n: int, itemsize: int = 4, *, k: int = 8, max_checked: int | None = None) -> int:
    """Estimated peak bytes of :func:`topolens.homology.certify.undominated_edges` on ``n`` points
    (on top of the matrix itself).

    Two dense ``n x n`` matrices of ``itemsize`` (the witness bound ``M`` and its symmetrised
    copy), two ``n x n`` boolean masks, the row blocks (at most ``2^24``, ``2^23`` and three of
    ``2^22`` entries), the ``k`` neighbours of each point and the index arrays of up to
    ``max_checked`` (default ``n^2 / 2``) edges that need the exhaustive check.
    """
    entries = float(n) * n
    checked = entries / 2 if max_checked is None else min(float(max_checked), entries / 2)
    blocks = sum(min(float(b), entries) for b in (1 << 24, 1 << 23, 3 << 22)) * itemsize
    return int(2 * itemsize * entries + 2 * entries + blocks + 8 * k * n + 40 * checked)


_RIPS_HINT = (
    "Lower the threshold (threshold_quantile=0.2 or threshold='auto' keep only short edges), "
    "lower max_dim, or sample fewer points (n_neurons / n_inputs)"
)


def memory_budget(limit: int | Literal["auto"] | None) -> int | None:
    """The budget in bytes for a ``memory_limit`` (``"auto"``: 80% of :func:`available_memory`;
    None: no limit)."""
    if limit is None:
        return None
    if isinstance(limit, str) and limit == "auto":
        return int(0.8 * available_memory())
    if isinstance(limit, (int, float, np.integer, np.floating)) and not isinstance(limit, bool) and limit > 0:
        return int(limit)
    raise InvalidInputError(f"memory_limit must be a positive number of bytes, 'auto' or None; found {limit!r}.")


def check_memory(estimate: int, limit: int | Literal["auto"] | None, *, what: str,
                 hint: str = _RIPS_HINT) -> None:
    """Raise :class:`MemoryBudgetError` when ``estimate`` exceeds the memory ``limit``.

    ``limit`` is a number of bytes, ``"auto"`` (80% of :func:`available_memory`) or None
    (no check).
    """
    budget = memory_budget(limit)
    if budget is None:
        return
    if estimate > budget:
        raise MemoryBudgetError(
            f"computing {what} needs an estimated {estimate / 2**30:.2f} GiB, more than the "
            f"budget of {budget / 2**30:.2f} GiB. {hint}; pass memory_limit=None to skip this "
            "check at your own risk."
        )
