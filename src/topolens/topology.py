"""Activation topology: persistent homology of neurons (Ballester et al., Neurocomputing 2024).

A neuron is the vector of its activations over a sample of inputs; neurons are the points
and ``1 - |corr|`` their dissimilarity. :func:`activation_persistence` samples inputs and
neurons (uniformly, or with the paper's scheme favouring neurons that are often the most
active), repeats from a seed, and returns H0..H``max_dim`` diagrams per layer or for all
neurons together.
"""

from __future__ import annotations

import logging
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ._validation import check_activations, check_choice, check_int
from .diagrams import PersistenceDiagrams
from .dissimilarity import _constant_mask, _warn_constant, pairwise_dissimilarity
from .exceptions import InvalidInputError, LayerNotFoundError, ShapeError, TopolensWarning
from .homology import estimate_rips_memory, memory_budget, rips_persistence
from .homology.memory import check_memory

__all__ = ["ActivationDiagrams", "activation_persistence", "argmax_counts", "importance_probabilities",
           "sample_by_importance", "sample_neurons"]

logger = logging.getLogger(__name__)

_METRICS = ("abs_correlation", "correlation", "cosine", "euclidean")


@dataclass
class ActivationDiagrams:
    """Result of :func:`activation_persistence`.

    Attributes
    ----------
    diagrams : dict[str, list[PersistenceDiagrams]]
        Group name (a layer, or ``"all"``) -> one diagram set per resample.
    input_indices : dict[str, list[ndarray]]
        Rows (inputs) used by each resample.
    neuron_indices : dict[str, list[ndarray]]
        Columns (neurons) of the group used by each resample (after dropping constants).
    params : dict
        The parameters of the call, for reports and caches.
    """

    diagrams: dict[str, list[PersistenceDiagrams]]
    input_indices: dict[str, list[np.ndarray]] = field(default_factory=dict)
    neuron_indices: dict[str, list[np.ndarray]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def groups(self) -> list[str]:
        """Group names in order."""
        return list(self.diagrams)

    def __getitem__(self, group: str) -> list[PersistenceDiagrams]:
        try:
            return self.diagrams[group]
        except KeyError:
            raise LayerNotFoundError(
                f"no diagrams for {group!r}; available groups: {', '.join(self.diagrams)}"
            ) from None

    def __repr__(self) -> str:
        groups = ", ".join(f"{g}: {len(v)}" for g, v in self.diagrams.items())
        return f"ActivationDiagrams({groups})"


def sample_neurons(
    activations: np.ndarray,
    n_neurons: int,
    rng: np.random.Generator,
    *,
    scheme: Literal["uniform", "max_activation", "importance"] = "uniform",
) -> np.ndarray:
    """Choose ``n_neurons`` columns of an ``(n_inputs, n_neurons)`` matrix, sorted.

    ``"uniform"`` draws without replacement. ``"max_activation"`` (Ballester et al.) draws
    without replacement with probability proportional to how often a neuron has the
    largest ``|activation|`` on an input (inputs where all neurons are zero count for none);
    if fewer than ``n_neurons`` neurons are ever the largest, all of those are taken and the
    rest are drawn uniformly from the others. ``"importance"`` is the scheme of Ballester
    et al.'s published code: every input counts for its largest ``|activation|`` and the
    never-largest neurons share one count (:func:`importance_probabilities`).
    """
    n_total = activations.shape[1]
    if n_neurons >= n_total:
        return np.arange(n_total)
    if scheme == "importance":
        return sample_by_importance(importance_probabilities(argmax_counts(activations)), n_neurons, rng)
    if scheme == "uniform":
        return np.sort(rng.choice(n_total, size=n_neurons, replace=False))
    mag = np.abs(activations)
    active = mag.max(axis=1) > 0  # an input where every neuron is off has no "most active" one
    counts = np.bincount(mag[active].argmax(axis=1), minlength=n_total).astype(np.float64)
    winners = np.flatnonzero(counts)
    if winners.size <= n_neurons:
        others = np.flatnonzero(counts == 0)
        extra = rng.choice(others, size=n_neurons - winners.size, replace=False)
        return np.sort(np.concatenate([winners, extra]))
    return np.sort(rng.choice(n_total, size=n_neurons, replace=False, p=counts / counts.sum()))


def argmax_counts(activations: Any) -> np.ndarray:
    """How many inputs (rows) each neuron (column) has the largest ``|activation|`` on.

    Every input counts once, for the first column attaining its largest ``|activation|``
    (``np.argmax``'s tie rule; an input where every neuron is 0 counts for column 0, as in
    Ballester et al.'s code). The counts sum to the number of rows.
    """
    a = check_activations(activations, min_inputs=1, dtype=np.float64)
    return np.bincount(np.abs(a).argmax(axis=1), minlength=a.shape[1]).astype(np.int64)


def importance_probabilities(counts: Any) -> np.ndarray:
    """Ballester et al.'s neuron-sampling probabilities from :func:`argmax_counts`.

    With ``n`` inputs (``counts.sum()``) and ``m`` neurons that are never the largest, a
    neuron with count ``c > 0`` has probability ``c / (n + 1)`` and each of the ``m`` others
    ``1 / (m (n + 1))``: the never-largest neurons share one input's worth of weight. (When
    every neuron is the largest somewhere, ``m = 0`` and the authors' probabilities would sum
    to ``n / (n + 1)``; they are then normalised to ``c / n``.)
    """
    c = np.asarray(counts)
    if c.ndim != 1 or c.size == 0 or not np.issubdtype(c.dtype, np.integer) or (c < 0).any():
        raise InvalidInputError(
            f"counts must be a non-empty 1-D array of non-negative ints, found dtype {c.dtype}, "
            f"shape {c.shape}; pass argmax_counts(activations).")
    n = int(c.sum())
    if n == 0:
        raise InvalidInputError("counts sum to 0: no input was counted; pass argmax_counts(activations).")
    zero = c == 0
    m = int(zero.sum())
    if m == 0:
        return c.astype(np.float64) / n
    return np.where(zero, 1.0 / (m * (n + 1)), c / (n + 1)).astype(np.float64)


def sample_by_importance(probabilities: np.ndarray, n_neurons: int, rng: np.random.Generator) -> np.ndarray:
    """``n_neurons`` sorted columns drawn without replacement with ``probabilities``
    (all columns when there are at most ``n_neurons``)."""
    p = np.asarray(probabilities)
    n_neurons = check_int(n_neurons, "n_neurons", minimum=1)
    if p.ndim != 1 or p.size == 0 or not np.issubdtype(p.dtype, np.floating) or not np.isfinite(p).all() \
            or (p < 0).any() or abs(float(p.sum()) - 1.0) > 1e-6:
        raise InvalidInputError(
            f"probabilities must be a non-empty 1-D float array of non-negative values summing to 1, "
            f"found dtype {p.dtype}, shape {p.shape}; pass importance_probabilities(counts).")
    if not isinstance(rng, np.random.Generator):
        raise InvalidInputError(f"rng must be a numpy Generator (np.random.default_rng(seed)), found {type(rng).__name__}.")
    n_total = p.shape[0]
    if n_neurons >= n_total:
        return np.arange(n_total)
    if int((p > 0).sum()) < n_neurons:
        raise InvalidInputError(f"only {int((p > 0).sum())} of {n_total} neurons have a positive probability; "
                                f"cannot draw {n_neurons} without replacement. Lower n_neurons.")
    return np.sort(rng.choice(n_total, size=n_neurons, replace=False, p=p / p.sum()))


def _as_groups(activations: Any, layers: Sequence[str] | None, group: str) -> dict[str, Any]:
    if isinstance(activations, Mapping):
        names = list(activations) if layers is None else list(layers)
        missing = [n for n in names if n not in activations]
        if missing:
            raise LayerNotFoundError(
                f"layer(s) {missing} not among the recorded activations; available: "
                f"{', '.join(map(str, activations))}"
            )
        if not names:
            raise InvalidInputError("no layers selected: pass layers=[...] naming at least one layer.")
        arrays = {n: activations[n] for n in names}
    else:
        if layers is not None:
            raise InvalidInputError("layers= applies to a mapping of layer -> activations, not to one array.")
        arrays = {"activations": activations}
    for name, arr in arrays.items():
        if np.ndim(arr) != 2:
            raise ShapeError(
                f"activations of {name!r} must be (n_inputs, n_neurons), found shape {np.shape(arr)}."
            )
        if np.shape(arr)[1] == 0:
            raise ShapeError(f"layer {name!r} has no neurons (0 columns); choose another layer.")
    n_rows = {np.shape(a)[0] for a in arrays.values()}
    if len(n_rows) > 1:
        raise ShapeError(f"layers have different numbers of inputs {sorted(n_rows)}; record them together.")
    if group == "all" and len(arrays) > 1:
        return {"all": arrays}
    return {n: {n: a} for n, a in arrays.items()}


def _resolve_jobs(n_jobs: int | None) -> int:
    """``None`` -> 1, ``-1`` -> the number of CPU cores, else a positive int."""
    import os

    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise InvalidInputError(f"n_jobs must be None, -1 or a positive int; found {n_jobs!r}.")
    return max(1, os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)


# --------------------------------------------------------------------------- planning
@dataclass
class _Task:
    """One resample of one group: its inputs, neurons and the sampled matrix."""

    name: str
    r: int
    rows: np.ndarray
    pick: np.ndarray
    n_const: int
    n_usable: int
    a: np.ndarray


@dataclass
class _Plan:
    """Sampling parameters of a call, shared by every task."""

    n_inputs: int | None
    n_neurons: int | None
    n_resamples: int
    scheme: str
    metric: str
    constant: str
    seed: int
    const_counts: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    degenerate: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def _plan_jobs(groups: dict[str, dict[str, Any]], n_jobs: int | None, n_inputs: int | None,
               n_neurons: int | None, max_dim: int, memory_limit: Any) -> tuple[int, Any]:
    """Number of threads and each one's memory limit (the budget is shared by the jobs)."""
    jobs = _resolve_jobs(n_jobs)
    budget = memory_budget(memory_limit) if jobs > 1 else None
    if budget is None:
        return jobs, memory_limit
    widest = max(sum(int(np.shape(a)[1]) for a in parts.values()) for parts in groups.values())
    n_pts = min(n_neurons or widest, widest)
    rows_max = max(int(np.shape(next(iter(p.values())))[0]) for p in groups.values())
    one = estimate_rips_memory(n_pts, max_dim) + 8 * min(n_inputs or rows_max, rows_max) * widest
    fit = max(1, budget // max(one, 1))
    if fit < jobs:
        logger.info("n_jobs lowered from %d to %d: one resample may need %.2f GiB of %.2f GiB",
                    jobs, fit, one / 2**30, budget / 2**30)
        jobs = int(fit)
    return jobs, (budget // jobs if jobs > 1 else memory_limit)


def _sampled_matrix(name: str, parts: dict[str, Any], rows: np.ndarray, memory_limit: Any) -> np.ndarray:
    """The sampled rows of every layer of a group, validated in their own dtype, as float32.

    One estimate covers every copy (the sampled rows in their dtype, their float32 cast and the
    stacked matrix), so the per-layer checks make no second one."""
    width = sum(int(np.shape(a)[1]) for a in parts.values())
    itemsize = max(getattr(getattr(a, "dtype", None), "itemsize", 8) for a in parts.values())
    check_memory(int(rows.size) * width * (itemsize + 8), memory_limit,
                 what=f"the {rows.size} sampled inputs x {width} neurons of {name!r}",
                 hint="Sample fewer inputs (n_inputs) or use fewer layers per group")
    blocks = [check_activations(a[rows], memory_limit=None, name=f"activations of {name!r}"
                                + (f" (layer {k!r})" if len(parts) > 1 else ""))
              for k, a in parts.items()]
    return blocks[0] if len(blocks) == 1 else np.hstack(blocks)


def _usable_neurons(name: str, sub: np.ndarray, plan: _Plan) -> tuple[np.ndarray, int]:
    """Columns kept after the constant-neuron policy, and how many were dropped."""
    if plan.constant == "zero" or plan.metric == "euclidean":
        return np.arange(sub.shape[1]), 0
    const = _constant_mask(sub)
    n_const = int(const.sum())
    if n_const and plan.constant == "raise":
        raise InvalidInputError(
            f"{n_const} neuron(s) of {name!r} are constant on the sampled inputs; "
            "use constant='drop' (default) or 'zero'."
        )
    plan.const_counts.setdefault(name, []).append((n_const, sub.shape[1]))
    return np.flatnonzero(~const), n_const


def _draw(name: str, parts: dict[str, Any], r: int, plan: _Plan, memory_limit: Any) -> _Task:
    """Resample ``r`` of group ``name``: inputs, then usable neurons, from its own seeded stream."""
    n_total = int(np.shape(next(iter(parts.values())))[0])
    rng = np.random.default_rng([plan.seed, zlib.crc32(name.encode()), r])
    rows = (np.arange(n_total) if plan.n_inputs is None or plan.n_inputs >= n_total
            else np.sort(rng.choice(n_total, size=plan.n_inputs, replace=False)))
    sub = _sampled_matrix(name, parts, rows, memory_limit)
    keep, n_const = _usable_neurons(name, sub, plan)
    if keep.size < 2:
        raise InvalidInputError(
            f"{name!r} has {keep.size} non-constant neuron(s) on the sampled inputs; "
            "at least 2 are needed. Use more inputs or another layer (dead layer?)."
        )
    pick = keep[sample_neurons(sub[:, keep], plan.n_neurons or keep.size, rng, scheme=plan.scheme)]
    return _Task(name, r, rows, pick, n_const, int(keep.size), np.ascontiguousarray(sub[:, pick]))


def _plan_tasks(groups: dict[str, dict[str, Any]], plan: _Plan, memory_limit: Any) -> Iterator[_Task]:
    """Every resample of every group, in order; a group whose resamples would all be identical
    (every input and every usable neuron taken) gets one (noted in ``plan.degenerate``)."""
    for name, parts in groups.items():
        n_total = int(np.shape(next(iter(parts.values())))[0])
        for r in range(plan.n_resamples):
            task = _draw(name, parts, r, plan, memory_limit)
            # noted before the task is handed out, so its consumer (progress bar) sees it
            degenerate = r == 0 and plan.n_resamples > 1 and task.rows.size == n_total and \
                task.pick.size == task.n_usable
            if degenerate:
                plan.degenerate[name] = (n_total, task.n_usable, task.n_const)
            yield task
            if degenerate:
                break


def _warn_degenerate(plan: _Plan) -> None:
    for name, (n_total, usable, n_const) in plan.degenerate.items():
        dropped = f" ({n_const} constant neuron(s) dropped)" if n_const else ""
        why = ("n_inputs=None: all of them" if plan.n_inputs is None
               else f"n_inputs={plan.n_inputs} asks for at least as many")
        warnings.warn(
            f"{name!r}: every resample would be identical, so 1 was computed instead of "
            f"{plan.n_resamples}: all {n_total} inputs given to activation_persistence are used "
            f"({why}) and "
            f"n_neurons={plan.n_neurons} takes all {usable} usable neuron(s){dropped}. For "
            f"independent resamples pass n_inputs < {n_total} or n_neurons < {usable} (or record "
            "more inputs); pass n_resamples=1 to silence this.",
            TopolensWarning, stacklevel=3,
        )


# --------------------------------------------------------------------------- execution
def _run_tasks(tasks: Iterator[_Task], compute: Any, jobs: int) -> Iterator[tuple[_Task, PersistenceDiagrams]]:
    """``compute(task)`` for every task, in order, one at a time or in ``jobs`` threads."""
    if jobs == 1:
        for task in tasks:
            yield task, compute(task)
        return
    import torch
    from joblib import Parallel, delayed

    # each resample's torch work on its share of the cores, not all of them at once
    # (oversubscribed threads slowed the persistence engine of the other resample)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, torch_threads // jobs))
    try:
        yield from Parallel(n_jobs=jobs, prefer="threads", return_as="generator")(
            delayed(lambda t: (t, compute(t)))(task) for task in tasks)
    finally:
        torch.set_num_threads(torch_threads)


def activation_persistence(
    activations: Any,
    *,
    layers: Sequence[str] | None = None,
    group: Literal["layer", "all"] = "layer",
    n_inputs: int | None = None,
    n_neurons: int | None = None,
    n_resamples: int = 1,
    neuron_sampling: Literal["uniform", "max_activation", "importance"] = "uniform",
    max_dim: int = 1,
    metric: str = "abs_correlation",
    threshold: float | Literal["auto", "certified"] | None = None,
    constant: Literal["drop", "zero", "raise"] = "drop",
    backend: str = "auto",
    seed: int = 0,
    device: Any = None,
    memory_limit: Any = "auto",
    progress: bool = False,
    n_jobs: int | None = None,
) -> ActivationDiagrams:
    """Persistent homology of neurons under ``1 - |corr|`` (Ballester et al. 2024).

    Neurons are the points. For each group (each layer, or all layers' neurons together
    with ``group="all"``, the paper's "all non-input neurons") and each of
    ``n_resamples`` resamples: draw ``n_inputs`` inputs (rows) uniformly without
    replacement, drop neurons constant on them (``constant="drop"``), draw ``n_neurons``
    neurons, compute the dissimilarity between them and the Rips persistence.

    Parameters
    ----------
    activations : mapping of layer name -> (n_inputs, n_neurons) array, or one such array
        E.g. the result of :func:`topolens.record_activations`. Memory maps are read lazily;
        each sample is validated (finite, real, within float32's range) before the float32
        computation.
    layers : sequence of str, optional
        Layers to use (default: all in the mapping).
    group : {"layer", "all"}
        One diagram set per layer, or one for the concatenation of all chosen layers.
    n_inputs, n_neurons : int, optional
        Sample sizes (default: all; ``n_inputs >= 2``, ``n_neurons >= 2``). The paper uses
        2000 inputs and 3000 neurons.
    n_resamples : int
        Number of independent resamples (the paper: 20). When a group's resamples would all
        be identical (all its inputs are used and ``n_neurons`` is at least its number of
        usable, non-constant neurons), one resample is computed and returned for it, with a
        :class:`~topolens.exceptions.TopolensWarning` naming the numbers and what to
        change; ``params["n_resamples_computed"]`` gives the count per group.
    neuron_sampling : {"uniform", "max_activation", "importance"}
        See :func:`sample_neurons`.
    max_dim : int
        Largest homology dimension (the paper: 1).
    metric : {"abs_correlation", "correlation", "cosine", "euclidean"}
        Dissimilarity between neurons; ``"abs_correlation"`` is ``1 - |corr|``.
    threshold : float, "auto", "certified" or None
        Passed to :func:`topolens.homology.rips_persistence`. Default ``None``: the exact,
        complete diagram, computed for ``max_dim == 1`` and at least
        :data:`~topolens.homology.CERTIFY_MIN_POINTS` neurons from a certified truncated
        filtration (same diagram, about twice as fast on real activations; ``"certified"``
        forces it at any size). ``"auto"`` can miss a bar born after its final threshold
        (``metadata["complete"]`` says when that is ruled out); see ``benchmarks/README.md``.
    constant : {"drop", "zero", "raise"}
        Constant neurons: dropped (default: a dead neuron carries no correlation and would
        add an H0 bar of length 1), kept at dissimilarity 1 (``"zero"``), or an error.
    seed : int
        Seed; each (group, resample) uses its own stream derived from it, so results do not
        depend on which other groups are computed.
    progress : bool
        Show a tqdm progress bar.
    n_jobs : int, optional
        Resamples computed at the same time, in threads (the persistence engine, gudhi's
        Ripser, and torch release the GIL; threads measured as fast as processes and need no
        copies). ``None`` or 1: one at a time; -1: one per CPU core. The results are the same
        and in the same order for any ``n_jobs``: every resample's inputs and neurons are
        drawn in this process from its own seeded stream. With a ``memory_limit``, the
        budget is shared: ``n_jobs`` is lowered until ``n_jobs`` times the estimated peak of
        one resample fits, and each resample is checked against its share. While the jobs
        run, torch's thread count is divided among them (and restored afterwards).

    Returns
    -------
    ActivationDiagrams
    """
    check_choice(group, "group", ("layer", "all"))
    check_choice(neuron_sampling, "neuron_sampling", ("uniform", "max_activation", "importance"))
    check_choice(metric, "metric", _METRICS)
    check_choice(constant, "constant", ("drop", "zero", "raise"))
    n_resamples = check_int(n_resamples, "n_resamples", minimum=1)
    n_inputs = check_int(n_inputs, "n_inputs", minimum=2, allow_none=True)
    n_neurons = check_int(n_neurons, "n_neurons", minimum=2, allow_none=True)
    groups = _as_groups(activations, layers, group)
    jobs, job_limit = _plan_jobs(groups, n_jobs, n_inputs, n_neurons, max_dim, memory_limit)
    plan = _Plan(n_inputs, n_neurons, n_resamples, neuron_sampling, metric, constant, seed)
    result = ActivationDiagrams(diagrams={}, params=dict(
        group=group, n_inputs=n_inputs, n_neurons=n_neurons, n_resamples=n_resamples,
        neuron_sampling=neuron_sampling, max_dim=max_dim, metric=metric, threshold=threshold,
        constant=constant, backend=backend, seed=seed, layers=list(layers) if layers else None,
    ))
    for name in groups:
        result.diagrams[name], result.input_indices[name], result.neuron_indices[name] = [], [], []

    def compute(t: _Task) -> PersistenceDiagrams:
        d = pairwise_dissimilarity(t.a, metric, points="neurons", device=device, memory_limit=job_limit,
                                   **({"constant": "zero"} if metric in ("abs_correlation", "correlation") else {}))
        return rips_persistence(
            d, max_dim, threshold=threshold, backend=backend, memory_limit=job_limit,
            metadata={"dissimilarity": metric, "points": "neurons", "group": t.name,
                      "resample": t.r, "n_inputs": int(t.rows.size), "n_neurons": int(t.pick.size),
                      "n_constant_dropped": t.n_const, "seed": seed},
        )

    from tqdm.auto import tqdm

    with tqdm(total=len(groups) * n_resamples, desc="activation persistence", disable=not progress) as bar:
        for task, dg in _run_tasks(_plan_tasks(groups, plan, job_limit), compute, jobs):
            result.diagrams[task.name].append(dg)
            result.input_indices[task.name].append(task.rows)
            result.neuron_indices[task.name].append(task.pick)
            bar.update(n_resamples if task.name in plan.degenerate else 1)
            logger.debug("%s resample %d: %r", task.name, task.r, dg)
    result.params["n_resamples_computed"] = {name: len(v) for name, v in result.diagrams.items()}
    for name, counts in plan.const_counts.items():
        if any(c for c, _ in counts):  # one warning per group, not per resample
            worst = max(counts)
            _warn_constant(worst[0], worst[1], "drop", context=f" of {name!r} (worst resample)",
                           stacklevel=3)
    _warn_degenerate(plan)
    return result
