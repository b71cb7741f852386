"""Neural persistence of regularised MNIST networks: a replication of Rieck et al. (ICLR 2019).

The paper trains an MLP 784-650-650-10 (ReLU, Adam lr 3e-4, batch 32, cross-entropy) on MNIST
without regularisation, with batch normalisation and with dropout (p = 0.5), and reports that
the mean normalised neural persistence at the end of training orders the three as
dropout > batch-norm > plain. This script trains the three variants, records the mean
normalised NP of the three Linear layers after every epoch with
:class:`topolens.graphs.NeuralPersistenceMonitor`, prints one table per variant and a summary
next to the paper's values, and checks the ordering (exit code 0 when it holds).

A second part trains ``topolens.models.SmallCNN`` for one epoch and compares the NP of its
convolutional layers in ``conv="kernel"`` mode (our per-position approximation) with the exact
``conv="unrolled"`` value for 28x28 inputs, with the time of each.

    TOPOLENS_DATA=/work/shared/data .venv/bin/python benchmarks/bench_np_regularization.py
    .venv/bin/python benchmarks/bench_np_regularization.py --quick     # bundled sample, smoke run

Options: ``--epochs`` (default 10, chosen so that the full run stays under ~12 minutes on 2 CPU
cores; the paper trains 40), ``--seeds`` (default 1), ``--first-seed`` (default 0),
``--quick`` (the 6000/1000-image MNIST sample bundled with topolens, 2 epochs),
``--variants`` (a subset of plain, batchnorm, dropout; the ordering is checked only with all
three), ``--no-conv`` / ``--conv-only`` (skip / run only the CNN part), ``--init``
(``xavier``, Glorot uniform on the weights with zero biases, default; ``xavier-folded``, Glorot
uniform on [W | b] as one (out, in + 1) matrix, as the authors' code initialises its weight
variable that holds the bias row; or ``torch``, PyTorch's default), ``--bn-position``
(``before`` the ReLU, default, or ``after`` it, as the authors' code does), ``--bn-mode``
(``batch``, torch's BatchNorm1d, default, or ``frozen``: the authors' TF1 code calls
``tf.layers.batch_normalization`` without ``training=True``, so it normalises with the never
updated moving statistics 0 and 1 and only the per-unit scale and shift learn), ``--bias``
(NP of [W | b] per Linear layer, the bias as one extra input vertex, as in the authors' code;
the weights-only mean is printed beside it), ``--threads`` (torch threads, default 2),
``--device`` (default ``cpu``). The script sets ``OMP_WAIT_POLICY=PASSIVE`` unless it is
already set.

The authors' setup, as far as these options go (they also train on 55,000 images, 40 epochs,
50 runs):

    TOPOLENS_DATA=/work/shared/data .venv/bin/python benchmarks/bench_np_regularization.py \\
        --no-conv --bias --bn-position after --bn-mode frozen --init xavier-folded
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# Idle OpenMP threads sleep instead of spinning: with 2 torch threads on a 2-core machine, one
# other busy process made a training step 15x slower with spinning threads (216 vs 14 ms).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, versions
from topolens.exceptions import DataNotFoundError
from topolens.graphs import NeuralPersistenceMonitor, neural_persistence

VARIANTS = ("plain", "batchnorm", "dropout")
#: mean normalised NP at the end of training in Rieck et al. (2019), MNIST, 40 epochs, 50 runs
PAPER = {"plain": "0.50-0.52", "batchnorm": "0.54-0.58", "dropout": "0.62-0.64"}
LAYER_LABELS = ("784-650", "650-650", "650-10")


def load_data(quick: bool, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """Train/test images as float32 in [0, 1] (N, 1, 28, 28) and int64 labels."""
    from topolens.datasets import load_mnist, load_mnist_sample

    if quick:
        (xtr, ytr), (xte, yte) = load_mnist_sample("train"), load_mnist_sample("test")
        what = "bundled MNIST sample (6000 train / 1000 test)"
    else:
        (xtr, ytr), (xte, yte) = load_mnist(split="train"), load_mnist(split="test")
        what = f"MNIST ({len(xtr)} train / {len(xte)} test)"

    def conv(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x.astype(np.float32)[:, None] / 255.0).to(device)

    return (conv(xtr), torch.from_numpy(ytr).to(device), conv(xte), torch.from_numpy(yte).to(device),
            what)


class FrozenBatchNorm(nn.Module):
    """``tf.layers.batch_normalization`` as the authors' TF1 code calls it (``training`` left False).

    With ``training=False`` the layer normalises with its moving mean 0 and variance 1, which are
    never updated, so only the affine part learns: ``y = gamma * x / sqrt(1 + eps) + beta``
    (eps = 1e-3, TF's default). The network is then a plain one with a learnable per-unit scale
    and shift; the batch statistics are never used.
    """

    def __init__(self, n: int, eps: float = 1e-3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n))
        self.scale = 1.0 / math.sqrt(1.0 + eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (self.weight * self.scale) + self.bias


def make_mlp(variant: str, init: str, bn_position: str, bn_mode: str = "batch") -> nn.Sequential:
    def bn(h: int) -> nn.Module:
        return nn.BatchNorm1d(h) if bn_mode == "batch" else FrozenBatchNorm(h)

    layers: list[nn.Module] = [nn.Flatten()]
    d = 784
    for h in (650, 650):
        layers.append(nn.Linear(d, h))
        if variant == "batchnorm" and bn_position == "before":
            layers.append(bn(h))
        layers.append(nn.ReLU())
        if variant == "batchnorm" and bn_position == "after":
            layers.append(bn(h))
        if variant == "dropout":
            layers.append(nn.Dropout(0.5))
        d = h
    layers.append(nn.Linear(d, 10))
    net = nn.Sequential(*layers)
    if init == "xavier":
        for m in net.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
    elif init == "xavier-folded":  # the authors' code: one Glorot-uniform variable [W | b] per layer
        for m in net.modules():
            if isinstance(m, nn.Linear):
                wb = nn.init.xavier_uniform_(torch.empty(m.out_features, m.in_features + 1))
                with torch.no_grad():
                    m.weight.copy_(wb[:, :-1])
                    m.bias.copy_(wb[:, -1])
    return net


def train_epoch(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                gen: torch.Generator, batch: int) -> float:
    net.train()
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(len(x), generator=gen).to(x.device)
    total, n = 0.0, 0
    for i in range(0, len(x) - batch + 1, batch):
        idx = perm[i:i + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
        n += len(idx)
    return total / max(n, 1)


@torch.no_grad()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    correct = sum(int((net(x[i:i + 2000]).argmax(1) == y[i:i + 2000]).sum()) for i in range(0, len(x), 2000))
    return correct / len(x)


def bias_folded_np(net: nn.Module) -> Any:
    """NP with each Linear layer's bias folded in, as in the authors' code: [W | b], (out, in + 1).

    The bias is one extra input vertex whose edges carry the biases; the global max |w| is
    taken over all weights and biases.
    """
    mats = [torch.cat([m.weight, m.bias[:, None]], 1).detach().cpu().numpy().astype(np.float64)
            for m in net.modules() if isinstance(m, nn.Linear)]
    return neural_persistence(mats)


def run_variant(variant: str, seed: int, data: tuple[torch.Tensor, ...], args: argparse.Namespace
                ) -> dict[str, Any]:
    xtr, ytr, xte, yte = data
    torch.manual_seed(seed)
    net = make_mlp(variant, args.init, args.bn_position, args.bn_mode).to(args.device)
    opt = torch.optim.Adam(net.parameters(), lr=3e-4)
    gen = torch.Generator().manual_seed(seed)
    monitor = NeuralPersistenceMonitor(net, patience=10**9)  # record only, never stop
    monitor.step()  # epoch 0: the initialisation
    folded = [bias_folded_np(net)] if args.bias else []
    rows, t0, np_time = [], time.perf_counter(), 0.0
    accs = [accuracy(net, xte, yte)]
    losses = [float("nan")]
    for _ in range(args.epochs):
        losses.append(train_epoch(net, opt, xtr, ytr, gen, 32))
        accs.append(accuracy(net, xte, yte))
        t = time.perf_counter()
        monitor.step()
        if args.bias:
            folded.append(bias_folded_np(net))
        np_time += time.perf_counter() - t
    elapsed = time.perf_counter() - t0
    # with --bias the bias-folded NP is the reported one and the weights-only mean is kept beside it
    history = folded if args.bias else monitor.history_
    for e, (res, acc, loss) in enumerate(zip(history, accs, losses, strict=True)):
        rows.append([str(e), "-" if np.isnan(loss) else f"{loss:.4f}", f"{acc:.4f}",
                     f"{res.mean_normalized:.4f}", *(f"{z:.4f}" for z in res.normalized)]
                    + ([f"{monitor.history_[e].mean_normalized:.4f}"] if args.bias else []))
    final = history[-1]
    return {"rows": rows, "acc": accs[-1], "np": final.mean_normalized, "layers": final.normalized,
            "np_nobias": monitor.history_[-1].mean_normalized,
            "time": elapsed, "np_time": np_time / max(args.epochs, 1)}


def mean_sd(v: list[float], fmt: str = ".4f") -> str:
    if len(v) == 1:
        return format(v[0], fmt)
    return f"{statistics.mean(v):{fmt}} ± {statistics.stdev(v):{fmt}}"


def mlp_part(args: argparse.Namespace, data: tuple[torch.Tensor, ...]) -> bool:
    variants = [v for v in VARIANTS if v in args.variants]
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    headers = ["epoch", "train loss", "test acc", "mean norm. NP", *(f"NP {lab}" for lab in LAYER_LABELS)]
    if args.bias:
        headers.append("mean norm. NP, weights only")
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for variant in variants:
            r = run_variant(variant, seed, data, args)
            results[variant].append(r)
            print(f"\n#### {variant}, seed {seed} ({r['time']:.0f} s; NP {r['np_time'] * 1000:.0f} ms per call)\n",
                  flush=True)
            print(table(headers, r["rows"]), flush=True)
    print(f"\n#### Summary after {args.epochs} epoch(s), {args.seeds} seed(s)"
          + (" (mean ± sd over seeds)" if args.seeds > 1 else "") + "\n")
    rows = []
    for v in variants:
        rs = results[v]
        rows.append([v, str(args.epochs), mean_sd([r["acc"] for r in rs]), mean_sd([r["np"] for r in rs]),
                     *(mean_sd([float(r["layers"][k]) for r in rs]) for k in range(3)), PAPER[v]]
                    + ([mean_sd([r["np_nobias"] for r in rs])] if args.bias else []))
    print(table(["variant", "epochs", "test acc", "mean norm. NP", *(f"NP {lab}" for lab in LAYER_LABELS),
                 "paper mean norm. NP (40 epochs)"] + (["mean norm. NP, weights only"] if args.bias else []),
                rows))
    if len(variants) < len(VARIANTS):
        print(f"\nordering not checked: only {', '.join(variants)} ran")
        return True
    mean_np = {v: statistics.mean(r["np"] for r in results[v]) for v in VARIANTS}
    ok = mean_np["dropout"] > mean_np["batchnorm"] > mean_np["plain"]
    per_seed = sum(d["np"] > b["np"] > p["np"]
                   for d, b, p in zip(results["dropout"], results["batchnorm"], results["plain"], strict=True))
    print(f"\nordering dropout > batchnorm > plain (mean over seeds): "
          f"{mean_np['dropout']:.4f} > {mean_np['batchnorm']:.4f} > {mean_np['plain']:.4f}: "
          f"{'PASS' if ok else 'FAIL'} (holds for {per_seed}/{args.seeds} seed(s))")
    return ok


def _timed_np(net: nn.Module, repeats: int, **kw: Any) -> tuple[Any, float]:
    neural_persistence(net, **kw)  # warm-up
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        res = neural_persistence(net, **kw)
        ts.append(time.perf_counter() - t)
    return res, statistics.median(ts)


def conv_part(args: argparse.Namespace, data: tuple[torch.Tensor, ...]) -> None:
    from topolens.graphs.unroll import unroll
    from topolens.models import SmallCNN

    xtr, ytr, xte, yte = data
    torch.manual_seed(0)
    net = SmallCNN().to(args.device)
    init_state = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    t = time.perf_counter()
    train_epoch(net, opt, xtr, ytr, torch.Generator().manual_seed(0), 32)
    t_train = time.perf_counter() - t
    acc = accuracy(net, xte, yte)
    print(f"\n#### SmallCNN: conv layers in kernel mode vs unrolled mode (input 1x28x28)\n\n"
          f"SmallCNN (conv 1->8 5x5, maxpool, conv 8->16 3x3, maxpool, fc 400-64, fc 64-10), Adam lr 1e-3, "
          f"batch 32, 1 epoch ({t_train:.0f} s), test accuracy {acc:.4f}. Same global max |w| in both "
          "modes, so the Linear layers have the same values.\n")
    shapes = {lay.name: lay for lay in unroll(net, (1, 28, 28)).layers}
    rows = []
    for label, state in (("init", init_state), ("1 epoch", None)):
        probe = SmallCNN().to(args.device)
        probe.load_state_dict(state if state is not None else net.state_dict())
        ker, t_ker = _timed_np(probe, 5)
        unr, t_unr = _timed_np(probe, 5, conv="unrolled", input_shape=(1, 28, 28))
        for k, name in enumerate(ker.layers):
            if ker.kinds[k] == "linear":
                continue
            w = probe.get_submodule(name).weight
            kv = w.shape[0] + w[0].numel()
            lay = shapes[name]
            rows.append([label, name, f"{kv} / {w.numel()}", f"{lay.n_in + lay.n_out} / {lay.n_edges}",
                         f"{ker.normalized[k]:.4f}", f"{unr.normalized[k]:.4f}",
                         f"{ker.normalized[k] - unr.normalized[k]:+.4f}"])
        rows.append([label, "mean (4 layers)", "", "", f"{ker.mean_normalized:.4f}", f"{unr.mean_normalized:.4f}",
                     f"{ker.mean_normalized - unr.mean_normalized:+.4f}"])
        rows.append([label, "time, whole network [ms]", "", "", f"{t_ker * 1000:.1f}", f"{t_unr * 1000:.1f}", ""])
    print(table(["weights", "layer", "kernel graph V / E", "unrolled graph V / E", "norm. NP kernel",
                 "norm. NP unrolled", "kernel - unrolled"], rows))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=None, help="epochs per MLP (default 10; 2 with --quick)")
    ap.add_argument("--seeds", type=int, default=1, help="seeds per variant (default 1)")
    ap.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--quick", action="store_true", help="smoke run on the bundled 6000-image MNIST sample")
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                    help="MLP variants to train (default all three; the ordering is checked only then)")
    ap.add_argument("--no-conv", action="store_true", help="skip the SmallCNN kernel-vs-unrolled table")
    ap.add_argument("--conv-only", action="store_true", help="run only the SmallCNN table")
    ap.add_argument("--init", choices=("xavier", "xavier-folded", "torch"), default="xavier",
                    help="Linear initialisation: Glorot uniform on W with zero biases (default), Glorot uniform "
                         "on [W | b] as one matrix (the authors' code) or torch's")
    ap.add_argument("--bn-position", choices=("before", "after"), default="before",
                    help="batch-norm before the ReLU (default) or after it (the authors' code)")
    ap.add_argument("--bn-mode", choices=("batch", "frozen"), default="batch",
                    help="batch: torch BatchNorm1d (batch statistics in training, default); frozen: the "
                         "authors' tf.layers.batch_normalization with training=False (moving stats 0/1, "
                         "only gamma and beta learn)")
    ap.add_argument("--bias", action="store_true",
                    help="fold each Linear layer's bias into its weights ([W | b]) for NP, as the authors' code "
                         "does (the weights-only mean is printed beside it)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--device", default="cpu", help="torch device for training (default cpu)")
    args = ap.parse_args(argv)
    if args.epochs is None:
        args.epochs = 2 if args.quick else 10
    if args.epochs < 1 or args.seeds < 1:
        ap.error("--epochs and --seeds must be >= 1")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    try:
        xtr, ytr, xte, yte, what = load_data(args.quick, args.device)
    except DataNotFoundError as exc:
        print(f"{exc}\n\nSet TOPOLENS_DATA to a folder holding mnist/ (e.g. /work/shared/data), or "
              "run with --quick to use the bundled sample.", file=sys.stderr)
        return 2
    flat = (xtr, ytr, xte, yte)
    print(f"data: {what}; device {args.device}; MLP 784-650-650-10, ReLU, Adam lr 3e-4, batch 32, cross-entropy, "
          f"init {args.init}, batch-norm ({args.bn_mode}) {args.bn_position} the ReLU, dropout p=0.5 after the ReLU; "
          f"{args.epochs} epoch(s), seed(s) {args.first_seed}..{args.first_seed + args.seeds - 1}; "
          "NP: p=2, the 3 Linear layers" + (" with biases folded in ([W | b])" if args.bias else "")
          + ", global max |w|")
    ok = True
    if not args.conv_only:
        ok = mlp_part(args, flat)
    if not args.no_conv:
        conv_part(args, flat)
    print(f"\ntotal time {time.perf_counter() - t0:.0f} s")
    print(versions(("numpy", "scipy", "torch")))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
