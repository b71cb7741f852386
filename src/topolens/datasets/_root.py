"""Where topolens looks for (and downloads) data sets."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_ENV_VAR", "data_root"]

#: Environment variable that sets the data root when no ``root`` argument is given.
DATA_ENV_VAR = "TOPOLENS_DATA"

_DEFAULT_ROOT = Path("~") / ".cache" / "topolens"


def _resolve_root(root: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Return the data root and a short description of where it came from."""
    if root is not None:
        return Path(root).expanduser(), "the 'root' argument"
    env = os.environ.get(DATA_ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser(), f"the {DATA_ENV_VAR} environment variable"
    return _DEFAULT_ROOT.expanduser(), f"the default (no 'root' argument, {DATA_ENV_VAR} unset)"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Return the folder under which data sets are looked for and downloaded.

    The folder is chosen in this order:

    1. the ``root`` argument, when given;
    2. the ``TOPOLENS_DATA`` environment variable, when set and not empty;
    3. ``~/.cache/topolens``.

    ``~`` is expanded. The folder is not created here; downloads create it.
    Every data set lives in its own sub-folder, e.g. ``<root>/mnist`` and
    ``<root>/fashion-mnist``.

    Parameters
    ----------
    root : path-like, optional
        Explicit data root; overrides the environment variable.

    Returns
    -------
    pathlib.Path
        The data root.

    Examples
    --------
    >>> data_root("/data").as_posix()
    '/data'
    """
    return _resolve_root(root)[0]
