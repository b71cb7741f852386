"""Neural persistence speed (issue 5 targets): an MLP 784-650-650-10 in < 50 ms and VGG-16's
first fully connected layer (25088 x 4096) in < 10 s, on the CPU.

    .venv/bin/python benchmarks/bench_neural_persistence.py

Random Gaussian weights (the time does not depend on the values); median of several runs.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, versions
from topolens.graphs import neural_persistence


def timed(weights: list[np.ndarray], repeats: int) -> list[float]:
    neural_persistence(weights)  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        neural_persistence(weights)
        out.append(time.perf_counter() - t)
    return out


def main() -> int:
    rng = np.random.default_rng(0)
    mlp = [rng.normal(size=s).astype(np.float32) for s in ((650, 784), (650, 650), (10, 650))]
    vgg = [rng.normal(size=(4096, 25088)).astype(np.float32)]
    rows = []
    ok = True
    for name, ws, reps, target in (("MLP 784-650-650-10", mlp, 20, 0.05),
                                   ("VGG-16 fc1 25088 x 4096", vgg, 3, 10.0)):
        ts = timed(ws, reps)
        med = statistics.median(ts)
        ok &= med < target
        rows.append([name, f"{med * 1000:.1f}", f"{min(ts) * 1000:.1f}", f"{target * 1000:.0f}",
                     "met" if med < target else "NOT met"])
    print(table(["network", "median [ms]", "best [ms]", "target [ms]", "target"], rows))
    print()
    print(versions(("numpy", "torch")))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
