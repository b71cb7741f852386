"""Command-line interface (thin: parse arguments, call the public API, write results)."""

from .main import main

__all__ = ["main"]
