"""Forward + backward throughput of PersLay and of Hofer et al.'s structure-element layer.

Run from the repository root::

    .venv/bin/python benchmarks/bench_perslay.py                 # 128 diagrams x 100 points, 1 thread
    .venv/bin/python benchmarks/bench_perslay.py --threads 2     # torch with 2 threads
    .venv/bin/python benchmarks/bench_perslay.py --quick         # fewer repeats

Every configuration runs ``loss = layer(dgms, mask).sum(); loss.backward()`` on one padded
batch of ``--batch`` diagrams of ``--points`` points each (random (birth, death) pairs in
``[0, 1] x [b, b + 1]``, float32, seed 0; the diagrams are a leaf tensor that requires
gradients, so the backward pass reaches the points too), ``--warmup`` untimed runs, then the
median over ``--repeats`` timed runs (``time.perf_counter``), reported as diagrams per second.

Section 1: PersLay for each ``phi`` with a :class:`PowerWeight` and ``op="sum"``, then the
``max`` and ``topk`` ops. Section 2: :class:`StructureElementLayer` against the peer
``torch_topological.nn.layers.StructureElementLayer`` on the same points (its input is the
``(B, N, 3)`` tensor of ``(birth, death, dim = 0)`` rows, no padding) with the same number of
elements, timed round-robin in one run so that machine noise hits both alike. The peer has
no rotation, no log stretch and no mask (see ``topolens.nn._perslay.structure_elements``),
so its outputs differ; the comparison is of cost at equal shape.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from _common import table, versions


def make_batch(batch: int, points: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    from topolens.nn._perslay import pad_diagrams

    rng = np.random.default_rng(seed)
    diagrams = []
    for _ in range(batch):
        b = rng.uniform(0.0, 1.0, points)
        diagrams.append(np.column_stack([b, b + rng.uniform(0.0, 1.0, points)]))
    dgms, mask = pad_diagrams(diagrams, dtype=torch.float32)
    return dgms, mask


def step_fn(layer: torch.nn.Module, dgms: torch.Tensor, mask: torch.Tensor) -> Callable[[], None]:
    """One forward + backward pass (gradients to the parameters and the points)."""
    x = dgms.detach().clone().requires_grad_(True)

    def step() -> None:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x, mask).sum().backward()

    return step


def peer_step_fn(layer: torch.nn.Module, dgms: torch.Tensor) -> Callable[[], None]:
    rows = torch.cat([dgms, torch.zeros(*dgms.shape[:2], 1, dtype=dgms.dtype)], -1)
    x = rows.detach().clone().requires_grad_(True)

    def step() -> None:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x).sum().backward()

    return step


def timed(steps: dict[str, Callable[[], None]], repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds per call of each step, run round-robin."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def perslay_configs(args: argparse.Namespace) -> list[tuple[str, str, torch.nn.Module]]:
    from topolens.nn.perslay import (
        GaussianPhi,
        ImagePhi,
        LandscapePhi,
        LinePhi,
        PersLay,
        PowerWeight,
        RationalHatPhi,
    )

    torch.manual_seed(0)
    q = args.elements
    samples = torch.linspace(0.0, 2.0, args.samples)
    bounds = ((0.0, 1.0), (0.0, 1.0))
    phis = {
        f"ImagePhi {args.image}x{args.image}": lambda: ImagePhi(bounds, (args.image, args.image), 0.1),
        f"LandscapePhi ({args.samples} samples)": lambda: LandscapePhi(samples),
        f"GaussianPhi ({q})": lambda: GaussianPhi(q, bounds=((0, 1), (0, 2)), bandwidth=0.2),
        f"LinePhi ({q})": lambda: LinePhi(q),
        f"RationalHatPhi ({q})": lambda: RationalHatPhi(q, bounds=((0, 1), (0, 2)), radius=0.5),
    }
    configs = [(name, "sum", PersLay(make(), PowerWeight(1.0), op="sum")) for name, make in phis.items()]
    for name in (f"LandscapePhi ({args.samples} samples)", f"GaussianPhi ({q})"):
        configs.append((name, "max", PersLay(phis[name](), PowerWeight(1.0), op="max")))
        configs.append((name, f"topk (k={args.k})", PersLay(phis[name](), PowerWeight(1.0), op="topk", k=args.k)))
    return configs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128, help="diagrams per batch (default 128)")
    parser.add_argument("--points", type=int, default=100, help="points per diagram (default 100)")
    parser.add_argument("--elements", type=int, default=64,
                        help="q of the Gaussian/line/rational-hat phi and structure elements (default 64)")
    parser.add_argument("--samples", type=int, default=100, help="landscape samples (default 100)")
    parser.add_argument("--image", type=int, default=20, help="persistence image resolution (default 20)")
    parser.add_argument("--k", type=int, default=5, help="k of the topk op (default 5)")
    parser.add_argument("--hofer-elements", type=int, nargs="+", default=[16, 64],
                        help="numbers of structure elements compared with torch-topological (default 16 64)")
    parser.add_argument("--repeats", type=int, default=21, help="timed runs per configuration (default 21)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="5 repeats, 1 warm-up")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup = 5, 1
    torch.set_num_threads(args.threads or 1)

    from topolens.nn.perslay import StructureElementLayer

    dgms, mask = make_batch(args.batch, args.points)
    print(versions(("numpy", "torch", "gudhi", "torch-topological")))
    print(f"batch: {args.batch} diagrams x {args.points} points, float32; forward + backward; "
          f"median of {args.repeats} runs after {args.warmup} warm-up runs\n")

    configs = perslay_configs(args)
    t0 = time.perf_counter()
    res = timed({f"{n}|{op}": step_fn(layer, dgms, mask) for n, op, layer in configs}, args.repeats, args.warmup)
    rows = []
    for name, op, layer in configs:
        sec = res[f"{name}|{op}"]
        rows.append([name, "PowerWeight(1)", op, str(layer.out_features), f"{sec * 1e3:.2f}",
                     f"{args.batch / sec:,.0f}"])
    print("### 1. PersLay, forward + backward\n")
    print(table(["phi", "weight", "op", "out_features", "ms / batch", "diagrams / s"], rows))

    try:
        from torch_topological.nn.layers import StructureElementLayer as PeerLayer
    except ImportError:
        PeerLayer = None
    rows = []
    for n_el in args.hofer_elements:
        torch.manual_seed(0)
        steps = {"topolens": step_fn(StructureElementLayer(n_el, nu=0.1), dgms, mask)}
        if PeerLayer is not None:
            steps["torch-topological"] = peer_step_fn(PeerLayer(n_el), dgms)
        r = timed(steps, args.repeats, args.warmup)
        ours = r["topolens"]
        peer = r.get("torch-topological")
        rows.append([str(n_el), f"{ours * 1e3:.2f}", f"{args.batch / ours:,.0f}",
                     f"{peer * 1e3:.2f}" if peer else "n/a", f"{args.batch / peer:,.0f}" if peer else "n/a",
                     f"{peer / ours:.2f}x" if peer else "n/a"])
    print("\n### 2. Structure elements (Hofer et al.), forward + backward\n")
    print(table(["elements", "topolens ms", "topolens diagrams / s", "torch-topological ms",
                 "torch-topological diagrams / s", "peer time / topolens time"], rows))
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
