"""Per-model feature extraction at the paper's scale: topolens vs the reference composition.

Run from the repository root::

    .venv/bin/python benchmarks/bench_features.py                    # 3000 neurons x 2000 inputs x 20 resamples
    .venv/bin/python benchmarks/bench_features.py --quick            # 1000 x 1000 x 4 (under a minute)
    .venv/bin/python benchmarks/bench_features.py --resamples 6      # fewer resamples, same sizes
    .venv/bin/python benchmarks/bench_features.py --study            # the H1 certificate alone, n = 2000, 3000

Ballester et al. (2024) describe a model by H0 and H1 persistence of ``1 - |corr|`` between
3000 neurons sampled from a layer, over 2000 sampled inputs, repeated over 20 resamples,
with summaries averaged over the resamples. This script computes that feature vector for
one layer of a trained network in two ways, side by side in one run, **on the same input and
neuron samples** (the index arrays topolens drew):

* ``topolens``: :func:`topolens.activation_persistence` (``threshold=None``, i.e. the exact
  diagram through the H1 certificate, ``n_jobs=2``) and
  :func:`topolens.vectorize.summary_vector` per resample, averaged. Also with ``n_jobs=1``
  (the algorithmic gain alone).
* ``reference``: per resample ``A = acts[rows][:, cols]``,
  ``D = 1 - np.abs(np.corrcoef(A, rowvar=False))``,
  ``gph.ripser_parallel(D, maxdim=1, metric="precomputed", n_threads=1)`` (and ``n_threads=2``),
  the same summaries of its diagrams, averaged.

For every resample the diagrams are compared (H0 and H1 as multisets of (birth, death)
pairs, zero-length pairs dropped, at a bottleneck distance of at most ``1e-5``, which also
matches the infinite deaths exactly: float32 vs float64 rounding), and the averaged
feature vectors too (relative difference: the polynomial features reach 1e6). Times are wall-clock for the whole model
(all resamples, sampling and summaries included), one run each.

Data: ``topolens.models.SmallCNN`` trained (seed 0) for 2 epochs on the bundled MNIST sample
(6000 images); the activations of ``--layer`` (default ``relu1``: 8 x 24 x 24 = 4608 neurons)
on all 6000 training images are cached in ``--cache-dir``, so that each resample draws its
2000 inputs from 6000.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from _common import table, versions

EPOCHS = 2
SEED = 0
TORCH_THREADS = 2
ATOL = 1e-5


# --------------------------------------------------------------------------- data
def load_activations(cache_dir: Path, layer: str) -> np.ndarray:
    """Activations (6000, n_neurons) of ``layer`` of a trained SmallCNN, cached on disk."""
    import torch

    tv = torch.__version__.replace("+", "_")
    path = cache_dir / f"acts-smallcnn-e{EPOCHS}-all-s{SEED}-{layer}-torch{tv}.npy"
    if path.exists():
        print(f"activations: cached {path}")
        return np.load(path, mmap_mode="r")
    from topolens.activations import record_activations
    from topolens.datasets import as_tensor_dataset, load_mnist_sample
    from topolens.models import SmallCNN, train_classifier

    t0 = time.perf_counter()
    images, labels = load_mnist_sample("train")
    x, y = as_tensor_dataset(images, labels).tensors
    torch.manual_seed(SEED)
    model = SmallCNN()
    hist = train_classifier(model, x, y, epochs=EPOCHS, seed=SEED)
    acts = np.ascontiguousarray(record_activations(model, x, [layer])[layer], dtype=np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, acts)
    os.replace(tmp, path)
    print(f"activations: trained SmallCNN for {EPOCHS} epochs (train accuracy {hist.train_accuracy[-1]:.3f}), "
          f"recorded {layer} on {acts.shape[0]} inputs in {time.perf_counter() - t0:.1f} s; cached {path}")
    return np.load(path, mmap_mode="r")


# --------------------------------------------------------------------------- the two pipelines
def run_topolens(acts: np.ndarray, layer: str, args: argparse.Namespace, n_jobs: int) -> tuple[Any, np.ndarray]:
    from topolens import activation_persistence
    from topolens.vectorize import summary_vector

    res = activation_persistence({layer: acts}, n_inputs=args.n_inputs, n_neurons=args.n_neurons,
                                 n_resamples=args.resamples, max_dim=1, seed=SEED, n_jobs=n_jobs)
    feats = np.mean([summary_vector(dg, (0, 1))[1] for dg in res[layer]], axis=0)
    return res, feats


def run_reference(acts: np.ndarray, rows: list[np.ndarray], cols: list[np.ndarray],
                  n_threads: int) -> tuple[list[list[np.ndarray]], np.ndarray]:
    import gph

    from topolens.vectorize import summary_vector

    dgms, feats = [], []
    for r, c in zip(rows, cols, strict=True):
        a = np.asarray(acts[r])[:, c]
        d = 1 - np.abs(np.corrcoef(a, rowvar=False))
        out = gph.ripser_parallel(d, maxdim=1, metric="precomputed", n_threads=n_threads)["dgms"]
        dgms.append(out)
        feats.append(summary_vector(list(out), (0, 1))[1])
    return dgms, np.mean(feats, axis=0)


# --------------------------------------------------------------------------- checks
def canon(dgm: Any) -> np.ndarray:
    d = np.asarray(dgm, dtype=np.float64).reshape(-1, 2)
    d = d[d[:, 1] > d[:, 0]]
    return d[np.lexsort((d[:, 1], d[:, 0]))]


def same_dgm(a: Any, b: Any, atol: float = ATOL) -> bool:
    """Same multiset of pairs up to ``atol``: bottleneck distance ``<= atol`` (which also
    needs as many infinite deaths). An element-wise check of sorted pairs is not usable:
    births that differ by float32 rounding swap pairs, and a pair of length 3e-16 in float64
    is of length 0 in float32 (and dropped)."""
    import gudhi

    return bool(gudhi.bottleneck_distance(canon(a), canon(b)) <= atol)


def rel_diff(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Largest ``|a - b| / max(1, |b|)`` (the polynomial features reach 1e6) and where."""
    r = np.abs(a - b) / np.maximum(1.0, np.abs(b))
    return float(r.max()), int(r.argmax())


def study(acts: np.ndarray, sizes: list[int], samples: int, n_inputs: int) -> None:
    """How far the certified threshold drops, and the H1 time vs the full run, per matrix."""
    from topolens.dissimilarity import constant_neurons, correlation_dissimilarity
    from topolens.homology import rips_persistence

    head = ["n", "sample", "birth bound (q)", "death lower bound (q)", "last death (q)",
            "engine threshold (q)", "runs", "H1 bars", "certified [s]", "full [s]", "speed-up", "identical"]
    body = []
    for n in sizes:
        for s in range(samples):
            rng = np.random.default_rng([SEED, n, s])
            a = np.asarray(acts[np.sort(rng.choice(acts.shape[0], n_inputs, replace=False))])
            a = a[:, ~constant_neurons(a)]
            a = np.ascontiguousarray(a[:, np.sort(rng.choice(a.shape[1], n, replace=False))])
            d = correlation_dissimilarity(a)
            gc.collect()
            t0 = time.perf_counter()
            cert = rips_persistence(d, 1, certify=True)
            t1 = time.perf_counter()
            full = rips_persistence(d, 1, certify=False)  # gudhi's engine on the full filtration
            t2 = time.perf_counter()
            vals = np.sort(d[np.triu_indices(n, 1)])

            def q(x: float | None, vals: np.ndarray = vals) -> str:
                return "full" if x is None else f"{x:.4f} ({np.searchsorted(vals, x, side='right') / vals.size:.3f})"

            c = cert.metadata["certificate"]
            body.append([str(n), str(s), q(c["birth_bound"]), q(c["death_lower_bound"]),
                         q(float(full[1][:, 1].max())), q(c["thresholds"][-1]), str(len(c["thresholds"])),
                         str(len(full[1])), f"{t1 - t0:.2f}", f"{t2 - t1:.2f}", f"{(t2 - t1) / (t1 - t0):.2f}x",
                         "yes" if cert.allclose(full, atol=0) else "NO"])
            print(" | ".join(body[-1]), flush=True)
    print()
    print(table(head, body))
    print("\n(q) = quantile of the off-diagonal dissimilarities; 'certified' = rips_persistence(D, 1, "
          "certify=True) (certificate, pilots and the engine run), 'full' = certify=False (gudhi's engine "
          "on the full filtration); single runs, one thread for the engine.")


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-neurons", type=int, default=3000)
    p.add_argument("--n-inputs", type=int, default=2000)
    p.add_argument("--resamples", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="1000 neurons x 1000 inputs x 4 resamples")
    p.add_argument("--layer", default="relu1", help="layer of SmallCNN (default: %(default)s)")
    p.add_argument("--n-jobs", type=int, default=2, help="topolens' n_jobs (default: %(default)s)")
    p.add_argument("--no-single", action="store_true", help="skip topolens with n_jobs=1")
    p.add_argument("--no-2t", action="store_true", help="skip the reference with n_threads=2")
    p.add_argument("--study", type=int, nargs="*", metavar="N",
                   help="instead: the certificate alone on matrices of N neurons (default 2000 3000), "
                        "--study-samples each, certified vs full H1 time")
    p.add_argument("--study-samples", type=int, default=3)
    p.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "topolens-bench",
                   help="where the activations are cached (default: %(default)s)")
    args = p.parse_args(argv)
    if args.quick:
        args.n_neurons, args.n_inputs, args.resamples = 1000, 1000, 4
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(TORCH_THREADS)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import gph

    from topolens import ConstantNeuronWarning

    warnings.filterwarnings("ignore", category=ConstantNeuronWarning)  # dropped, as the paper does

    from topolens.dissimilarity import correlation_dissimilarity
    from topolens.homology import CERTIFY_MIN_POINTS
    from topolens.vectorize import summary_feature_names

    print(versions(("numpy", "torch", "gudhi", "giotto-ph")))
    acts = load_activations(args.cache_dir, args.layer)
    acts = np.ascontiguousarray(acts)  # in memory: both pipelines read the same array
    if args.study is not None:
        study(acts, args.study or [2000, 3000], args.study_samples, args.n_inputs)
        return
    print(f"layer {args.layer}: {acts.shape[1]} neurons on {acts.shape[0]} inputs; sample "
          f"{args.n_neurons} neurons x {args.n_inputs} inputs x {args.resamples} resamples; "
          f"certified H1 from {CERTIFY_MIN_POINTS} neurons on\n", flush=True)

    # warm-up: imports and first calls of every engine
    from topolens import activation_persistence

    small = np.random.default_rng(0).normal(size=(300, 200)).astype(np.float32)
    activation_persistence(small, n_resamples=2, n_jobs=2, threshold="certified")
    gph.ripser_parallel(1 - np.abs(np.corrcoef(small, rowvar=False)), maxdim=1, metric="precomputed")

    times: dict[str, float] = {}
    gc.collect()
    t0 = time.perf_counter()
    res, f_tl = run_topolens(acts, args.layer, args, args.n_jobs)
    times[f"topolens n_jobs={args.n_jobs}"] = time.perf_counter() - t0
    print(f"topolens n_jobs={args.n_jobs}: {times[f'topolens n_jobs={args.n_jobs}']:.1f} s", flush=True)
    rows, cols = res.input_indices[args.layer], res.neuron_indices[args.layer]
    dgs = res[args.layer]

    same_jobs = False
    if not args.no_single:
        gc.collect()
        t0 = time.perf_counter()
        res1, f_tl1 = run_topolens(acts, args.layer, args, 1)
        times["topolens n_jobs=1"] = time.perf_counter() - t0
        print(f"topolens n_jobs=1: {times['topolens n_jobs=1']:.1f} s", flush=True)
        same_jobs = all(a.allclose(b, atol=0) for a, b in zip(dgs, res1[args.layer], strict=True))
        same_jobs &= bool(np.array_equal(f_tl, f_tl1))
        print(f"n_jobs=1 and n_jobs={args.n_jobs} identical: {same_jobs}")

    refs: dict[str, tuple[list[list[np.ndarray]], np.ndarray]] = {}
    for th in (1,) if args.no_2t else (1, 2):
        name = f"reference giotto-ph {th}t"
        gc.collect()
        t0 = time.perf_counter()
        refs[name] = run_reference(acts, rows, cols, th)
        times[name] = time.perf_counter() - t0
        print(f"{name}: {times[name]:.1f} s", flush=True)

    # equality, per resample
    tl_name = f"topolens n_jobs={args.n_jobs}"
    equal: dict[str, int] = {}
    fdiff: dict[str, float] = {}
    fwhere: dict[str, str] = {}
    names = summary_feature_names((0, 1))
    for name, (rdgms, f_ref) in refs.items():
        equal[name] = sum(all(same_dgm(dg[k], rd[k]) for k in (0, 1)) for dg, rd in zip(dgs, rdgms, strict=True))
        fdiff[name], k = rel_diff(f_tl, f_ref)
        fwhere[name] = f"{names[k]}: {f_tl[k]:.6g} vs {f_ref[k]:.6g}"

    # what the certificate did, per resample (not timed)
    qs, runs, modes = [], [], []
    for r, dg in enumerate(dgs):
        cert = dg.metadata.get("certificate")
        modes.append(dg.metadata["threshold_mode"])
        if cert:
            t = cert["thresholds"][-1]
            runs.append(len(cert["thresholds"]))
            if t is not None:
                d = correlation_dissimilarity(np.asarray(acts[rows[r]])[:, cols[r]])
                vals = d[np.triu_indices(d.shape[0], 1)]
                qs.append(float((vals <= t).mean()))
            else:
                qs.append(1.0)

    ref_names = list(refs)
    best_ref = min(ref_names, key=lambda k: times[k])
    n_res = args.resamples
    head = ["pipeline", "per model [s]", "per resample [s]", f"vs topolens n_jobs={args.n_jobs}",
            "diagrams equal (H0+H1)", "features: max rel. diff"]
    body = []
    for name, t in times.items():
        if name in refs:
            eq, fd = f"{equal[name]}/{n_res}", f"{fdiff[name]:.1e}"
        elif name == tl_name:
            eq, fd = "(itself)", "0"
        else:
            eq, fd = ("identical", "0") if same_jobs else ("differs", "?")
        body.append([name, f"{t:.1f}", f"{t / n_res:.2f}", f"{t / times[tl_name]:.2f}x", eq, fd])
    print()
    print(f"### {args.n_neurons} neurons x {args.n_inputs} inputs x {n_res} resamples, layer {args.layer}\n")
    print(table(head, body))
    ratio = times[best_ref] / times[tl_name]
    print(f"\nheadline: fastest reference ({best_ref}) / topolens n_jobs={args.n_jobs} = {ratio:.2f}x "
          f"(target >= 5x: {'MET' if ratio >= 5 else 'NOT MET'})")
    if "topolens n_jobs=1" in times:
        print(f"without parallel resamples: {best_ref} / topolens n_jobs=1 = "
              f"{times[best_ref] / times['topolens n_jobs=1']:.2f}x")
    for name in refs:
        print(f"largest feature difference vs {name}: {fwhere[name]} (averaged over resamples)")
    if qs:
        print(f"certified H1: {len(qs)}/{n_res} resamples; engine threshold at the "
              f"{np.min(qs):.2f}-{np.max(qs):.2f} quantile of the dissimilarities (mean {np.mean(qs):.2f}); "
              f"runs per resample: {np.bincount(runs).tolist()[1:]} (1, 2, 3 runs)")
    else:
        print(f"certified H1 not used (threshold modes: {sorted(set(modes))}; n < {CERTIFY_MIN_POINTS})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
