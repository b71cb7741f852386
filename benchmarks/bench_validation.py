"""What the validation of issue 13 costs, on the matrices users really pass.

1. ``rips_persistence(1 - abs(np.corrcoef(A.T)), max_dim=1)`` at n = 60 (before issue 13 it grew
   past 8 GB: gudhi's dense engine on a matrix asymmetric by an ulp).
2. At n = 2000 (``1 - abs(corr)`` of ReLU-like activations, H1): the time of
   ``check_distance_matrix`` alone against the whole ``rips_persistence`` call, for the raw
   ``np.corrcoef`` matrix (repaired: one copy) and for an exactly symmetric one (no copy).

Prints best-of-``--repeat`` wall times and the ratio. One thread for torch and the BLAS::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_validation.py
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def corrcoef_matrix(n_inputs: int, n_neurons: int, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed)
    a = g.normal(size=(n_inputs, 16)) @ g.normal(size=(16, n_neurons)) + g.normal(size=(n_inputs, n_neurons))
    return 1 - np.abs(np.corrcoef(np.maximum(a, 0).T))


def main() -> None:
    from topolens._validation import check_distance_matrix
    from topolens.homology import rips_persistence

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    small = corrcoef_matrix(500, 60, 0)
    print(f"n = 60 corrcoef input: asymmetry {np.abs(small - small.T).max():.2g}")
    t = best(lambda: rips_persistence(small, max_dim=1), args.repeat)
    print(f"  rips_persistence(max_dim=1): {t:.4f} s")

    raw = corrcoef_matrix(2000, args.n, 1)
    exact = check_distance_matrix(raw).copy()
    for label, d in (("raw np.corrcoef (repaired)", raw), ("exactly symmetric", exact)):
        t_check = best(lambda d=d: check_distance_matrix(d), args.repeat)
        t_all = best(lambda d=d: rips_persistence(d, max_dim=1), 1)
        print(f"n = {args.n}, {label}: check_distance_matrix {t_check:.4f} s, rips_persistence "
              f"{t_all:.2f} s, validation share {t_check / t_all:.2%}")


if __name__ == "__main__":
    main()
