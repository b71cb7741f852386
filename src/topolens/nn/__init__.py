"""Differentiable topology in PyTorch (functions in :mod:`topolens.nn.functional`)."""

from __future__ import annotations

from . import functional

__all__ = ["functional"]
