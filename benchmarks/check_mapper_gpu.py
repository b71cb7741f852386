"""Mapper on the GPU: the same graph as on the CPU, and how long each takes.

Needs a CUDA GPU (run on the device machine: ``PYTHONPATH=src python3 benchmarks/check_mapper_gpu.py``).
Synthetic activation-like data (ReLU'd Gaussian blobs with varied scale, 50,000 x 512 float32),
default Mapper settings (L2 lens, 10 intervals, 30% overlap, eps from the k-distance quantile).
Exits non-zero if the GPU and CPU graphs differ.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from topolens.mapper import Mapper


def data(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(30, d)) * 0.6
    lab = rng.integers(0, 30, n)
    scale = rng.uniform(0.3, 1.7, size=(n, 1))
    return (np.maximum(centres[lab] + rng.normal(size=(n, d)) * 0.35, 0) * scale).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU here; nothing to check")
        return 0
    x = data(args.n, args.d)
    keys = {}
    for dev in ("cuda", "cpu"):
        Mapper(device=dev).fit(x[:2000])  # warm-up
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            m = Mapper(device=dev).fit(x)
            times.append(time.perf_counter() - t)
        g = m.graph_
        keys[dev] = (g.node_keys(), g.edges.tolist())
        print(f"{dev}: fit {min(times):.2f} s (best of {args.repeats}), {g}, eps {m.eps_:.4f}, "
              f"{m._neighbourhoods.graph.n_pairs} neighbour pairs")
    same = keys["cuda"] == keys["cpu"]
    print(f"{torch.cuda.get_device_name(0)}: GPU graph identical to CPU graph: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
