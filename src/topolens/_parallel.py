"""Run independent jobs in worker processes (joblib) with one tqdm progress bar.

Workers never outlive the process that started them: each worker, before its first job,
starts a watchdog thread that ends the process within a fraction of a second once its
parent is gone (the parent pid changes when the worker is re-parented). A parent killed
with SIGKILL mid-run therefore leaves no worker training on and writing records; what the
workers had already written is kept, since every job writes its results atomically.

Linux's ``prctl(PR_SET_PDEATHSIG)`` is deliberately not used: it fires when the *thread*
that spawned the worker exits, and joblib's reusable pool outlives that thread whenever
jobs are submitted from a worker thread (a notebook, a thread pool), so it would kill
healthy workers of a live parent.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .exceptions import InvalidInputError

__all__ = ["check_n_jobs", "run_jobs"]

#: seconds between two checks of the watchdog thread
_WATCH_INTERVAL = 0.2
_watched_parent: int | None = None


def check_n_jobs(n_jobs: Any, *, name: str = "n_jobs") -> int:
    """Validate a number of worker processes: ``-1`` (all cores) or an integer >= 1.

    Raises
    ------
    InvalidInputError
        For 0, other negative values, booleans and non-integers.
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or not (n_jobs == -1 or n_jobs >= 1):
        raise InvalidInputError(
            f"{name} must be a positive number of worker processes or -1 (all cores); found "
            f"{n_jobs!r}. Use 1 to run in this process."
        )
    return n_jobs


def _exit_when_orphaned(parent: int) -> None:
    """Watchdog loop: end this process once ``parent`` is no longer its parent."""
    while True:
        time.sleep(_WATCH_INTERVAL)
        if os.getppid() != parent:
            os._exit(1)  # no cleanup: the parent is gone and nobody waits for our results


def watch_parent(parent: int) -> None:
    """Make this (worker) process exit promptly when process ``parent`` dies.

    Idempotent per process. Called in the worker before its first job; a no-op in the
    parent itself (a job run on a thread, e.g. under ``joblib.parallel_config(backend=
    "threading")``), whose own parent is someone else.
    """
    global _watched_parent
    if os.getpid() == parent:  # a thread of the parent itself (joblib's threading backend)
        return
    if _watched_parent == parent:
        return
    _watched_parent = parent
    if os.getppid() != parent:  # the parent died before this job started
        os._exit(1)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True,
                     name="topolens-parent-watchdog").start()


def _in_worker(func: Callable[..., Any], parent: int, args: tuple[Any, ...]) -> Any:
    """Run one job in a worker process, bound to the lifetime of ``parent``."""
    watch_parent(parent)
    return func(*args, worker=True)


def run_jobs(func: Callable[..., Any], args: Sequence[tuple[Any, ...]], *, n_jobs: int = 1,
             desc: str = "", unit: str = "it", progress: bool = True) -> list[Any]:
    """Call ``func(*a, worker=...)`` for every ``a`` in ``args``; return results in completion order.

    Parameters
    ----------
    func : callable
        A module-level function (it is pickled to the workers).
    args : sequence of tuple
        Positional arguments of each job.
    n_jobs : int, default 1
        ``1`` runs in this process (``worker=False``); otherwise joblib's process pool runs
        the jobs (``worker=True``; ``-1`` for all cores). Workers exit when this process
        dies, even by SIGKILL (see :func:`watch_parent`).
    desc, unit, progress
        The tqdm progress bar.

    Raises
    ------
    InvalidInputError
        If ``n_jobs`` is 0, below -1 or not an integer.

    Notes
    -----
    Every job is independent and writes its own output, so an interrupted run keeps the
    finished jobs' results.
    """
    check_n_jobs(n_jobs)
    from tqdm.auto import tqdm

    out: list[Any] = []
    bar = tqdm(total=len(args), desc=desc, unit=unit, disable=not progress)
    try:
        if n_jobs == 1:
            for a in args:
                out.append(func(*a, worker=False))
                bar.update()
        else:
            from joblib import Parallel, delayed

            parent = os.getpid()
            pool = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            for res in pool(delayed(_in_worker)(func, parent, tuple(a)) for a in args):
                out.append(res)
                bar.update()
    finally:
        bar.close()
    return out
