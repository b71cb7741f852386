"""Lazy imports of optional dependencies with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from .exceptions import MissingDependencyError

# module name -> (pip extra of topolens, what it is used for)
_EXTRAS: dict[str, tuple[str, str]] = {
    "matplotlib": ("viz", "figures and HTML reports"),
    "ripser": ("ripser", "the 'ripser' persistence backend"),
    "gph": ("giotto", "the 'giotto' persistence backend (giotto-ph, AGPL licensed)"),
    "persim": ("bench", "benchmarks against persim"),
    "ot": ("dev", "optimal-transport checks"),
}


def require(module: str, *, extra: str | None = None, purpose: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra to install.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"matplotlib.pyplot"``.
    extra : str, optional
        The topolens extra that provides it; looked up from a table when omitted.
    purpose : str, optional
        What the module is needed for, used in the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        known_extra, known_purpose = _EXTRAS.get(top, (None, None))
        extra = extra or known_extra
        purpose = purpose or known_purpose or "this feature"
        hint = (
            f"pip install 'topolens[{extra}]'" if extra else f"pip install {top}"
        )
        raise MissingDependencyError(
            f"The optional dependency {top!r} is needed for {purpose} but could not be "
            f"imported ({exc}). Install it with: {hint}"
        ) from exc
