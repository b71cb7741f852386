"""Run independent jobs in worker processes (joblib) with one tqdm progress bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def run_jobs(func: Callable[..., Any], args: Sequence[tuple[Any, ...]], *, n_jobs: int = 1,
             desc: str = "", unit: str = "it", progress: bool = True) -> list[Any]:
    """Call ``func(*a, worker=...)`` for every ``a`` in ``args``; return results in completion order.

    ``n_jobs == 1`` runs in this process (``worker=False``); otherwise joblib's process
    pool runs them (``worker=True``, ``-1`` for all cores). Every job is independent and
    writes its own output, so an interrupted run keeps the finished jobs' results.
    """
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

            pool = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            for res in pool(delayed(func)(*a, worker=True) for a in args):
                out.append(res)
                bar.update()
    finally:
        bar.close()
    return out
