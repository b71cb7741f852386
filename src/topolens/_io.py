"""File helpers: atomic writing (a reader never sees a half-written report, cache or array),
checksums, and checkpoint loading that never unpickles arbitrary objects."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .exceptions import (
    IntegrityError,
    InvalidInputError,
    MemoryBudgetError,
    UntrustedCheckpointError,
)

_SAVE_HINT = ("Save only the weights, with tensors and plain containers: "
              "torch.save(model.state_dict(), path).")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only on success.

    The temporary file lives in the same directory, so the final ``os.replace`` is
    atomic on POSIX and Windows. On any exception the temporary file is removed and
    ``path`` is left untouched.

    Parameters
    ----------
    path : path-like
        Final destination. Its parent directory is created if missing.
    suffix : str, optional
        Suffix for the temporary file (some writers, e.g. ``np.savez``, append one
        unless the name already ends with it). Defaults to the suffix of ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=(path.suffix if suffix is None else suffix) + ".tmp",
        dir=path.parent,
    )
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; give the final file the usual permissions (umask applied)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _refused_global(message: str) -> str | None:
    """The object torch's weights-only unpickler refused, named in its message (if any)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", message)
    m = (re.search(r"Unsupported global: GLOBAL ([\w.<>]+)", text)
         or re.search(r"unsupported GLOBAL ([\w.<>]+)", text, re.IGNORECASE))
    return m.group(1) if m else None


def safe_torch_load(path: str | os.PathLike, *, what: str = "checkpoint",
                    corrupt_error: type[Exception] = IntegrityError) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with topolens' own errors.

    Parameters
    ----------
    path : path-like
        The file to read.
    what : str
        What the file is, for the messages (e.g. ``"--weights file"``).
    corrupt_error : exception class
        Raised for an empty, truncated or non-PyTorch file (default :class:`IntegrityError`).

    Raises
    ------
    InvalidInputError
        The path does not exist or is a folder.
    UntrustedCheckpointError
        The file holds pickled Python objects (anything but tensors and plain containers),
        which ``weights_only=True`` loading refuses; nothing is executed.
    corrupt_error
        The file is empty, truncated or not a PyTorch file.
    """
    import pickle
    import warnings

    import torch

    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"{what} {p} does not exist; expected a file written by torch.save.")
    if p.is_dir():
        raise InvalidInputError(f"{what} {p} is a folder; expected a file written by torch.save.")
    try:
        with warnings.catch_warnings():  # torch's note on unusual protocols of a corrupt file
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _refused_global(str(exc))
        detail = (f"it holds a pickled Python object ({found})" if found else
                  "it holds pickled content other than tensors and plain containers")
        raise UntrustedCheckpointError(
            f"{what} {p} was refused by torch.load(weights_only=True): {detail}. topolens never "
            f"unpickles arbitrary objects (that could run code). {_SAVE_HINT}"
        ) from None
    except MemoryError:
        raise MemoryBudgetError(f"{what} {p} ({p.stat().st_size:,} bytes) does not fit in the "
                                "available memory.") from None
    except Exception as exc:  # weights-only loading runs no code: any failure is the file's
        # (EOFError, RuntimeError, IndexError, struct.error, UnicodeDecodeError, ... on damage)
        raise corrupt_error(
            f"{what} {p} is not a readable PyTorch file (empty, truncated or another format: "
            f"{type(exc).__name__}). {_SAVE_HINT}"
        ) from None
