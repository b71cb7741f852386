"""Argument types of the commands: numbers are range-checked when the command line is parsed.

Each returns the parsed value or raises :class:`argparse.ArgumentTypeError`, which argparse
prints as one ``error:`` line with the usage (exit status 2).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

__all__ = ["add_model_args", "at_least", "fraction", "n_jobs", "positive_float"]


def at_least(minimum: int) -> Callable[[str], int]:
    """An integer type refusing values below ``minimum`` (e.g. ``--max-inputs -3``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, found {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, found {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def n_jobs(text: str) -> int:
    """Worker processes: a positive integer or -1 for all cores."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of worker processes, found {text!r}") from None
    if value != -1 and value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a positive number of worker processes or -1 (all cores), found {value}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, found {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, found {value}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1] (an accuracy)."""
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1] (0.99 for 99%), found {value}")
    return value


def add_model_args(g: Any, *, transforms: bool = True, accuracy: bool = True) -> None:
    """``--model``, ``--model-kwargs``, ``--weights``, the input transforms (``transforms``)
    and ``--expected-accuracy`` (``accuracy``, for commands writing a report)."""
    g.add_argument("--model", help="module:name or file.py:name: an nn.Module class, or a function "
                   "returning an nn.Module (the current directory is importable)")
    g.add_argument("--model-kwargs", nargs="+", metavar="NAME=VALUE",
                   help="arguments of the model class or factory, e.g. input_size=28 hidden=64 "
                        "name=foo flag=true (Python literals, else strings)")
    g.add_argument("--weights", help="state dict file (torch.save(model.state_dict(), path)), read "
                   "with torch.load(weights_only=True)")
    if not transforms:
        return
    g.add_argument("--normalize", nargs=2, metavar=("MEAN", "STD"),
                   help="normalise inputs as the model was trained: (x - MEAN) / STD, one value or "
                        "one per channel, e.g. 0.1307 0.3081 or 0.485,0.456,0.406 0.229,0.224,0.225")
    g.add_argument("--transform", metavar="MODULE:FUNCTION",
                   help="a function of the input batch applied before the model (before --normalize)")
    if not accuracy:
        return
    g.add_argument("--expected-accuracy", type=fraction, metavar="ACC",
                   help="the model's known (training) accuracy, e.g. 0.99: the report warns when "
                        "the accuracy measured on the recorded inputs is far below")
