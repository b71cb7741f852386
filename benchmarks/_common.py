"""Helpers shared by the benchmark scripts: Markdown tables and the machine/versions line."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def versions(packages: Sequence[str] = ("numpy", "scipy", "torch", "gudhi", "ripser", "giotto-ph")) -> str:
    """One line on the machine (cores, CPU, RAM, OS, Python, torch threads) and one of versions."""
    from importlib.metadata import version

    import torch

    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    pk = ", ".join(f"{p} {version(p)}" for p in packages)
    return (f"machine: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}; torch threads "
            f"{torch.get_num_threads()}\nversions: {pk}")
