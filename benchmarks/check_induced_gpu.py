"""Induced graphs of a model on the GPU equal those of the same model on the CPU.

    PYTHONPATH=src python3 benchmarks/check_induced_gpu.py

The forward pass runs on the model's device; the edge weights, cut and persistence on the CPU.
Float differences of the GPU convolutions can move an edge across a layer's percentile cut, so
the check is the share of identical kept-edge sets and the largest weight difference.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from topolens.graphs import induced_graphs, unroll
from topolens.models import CCFF


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device; nothing to check")
        return 0
    torch.manual_seed(0)
    cpu = CCFF().eval()
    gpu = CCFF().eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu = gpu.cuda()
    x = torch.rand(256, 1, 28, 28) * (torch.rand(256, 1, 28, 28) > 0.8)
    res = {}
    for name, m, xx in (("cpu", cpu, x), ("cuda", gpu, x.cuda())):
        net = unroll(m, (1, 28, 28))
        induced_graphs(net, xx[:8])
        t = time.perf_counter()
        res[name] = induced_graphs(net, xx)
        print(f"{name}: {len(xx) / (time.perf_counter() - t):.0f} diagrams/s")
    same = sum(np.array_equal(a.edge_ids, b.edge_ids) for a, b in zip(res["cpu"], res["cuda"], strict=True))
    diffs = [float(np.abs(a.weights - b.weights).max()) for a, b in zip(res["cpu"], res["cuda"], strict=True)
             if np.array_equal(a.edge_ids, b.edge_ids)]
    dw = max(diffs, default=0.0)
    print(f"identical kept-edge sets: {same}/{len(x)}; largest weight difference {dw:.2e}")
    return 0 if same >= 0.9 * len(x) else 1


if __name__ == "__main__":
    raise SystemExit(main())
