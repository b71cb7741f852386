"""Output folders and files of the commands: checked before any work, cleaned of stale files.

A command's ``--out`` folder gets a manifest, ``.topolens-output.json``, listing the files
topolens wrote there. Reusing the folder then removes the files of the previous run that
this run did not write again (so no stale diagram or graph sits next to the new report),
and never touches a file topolens did not write: a folder that already holds files but no
manifest is refused, and a file counts as topolens' only while its size and modification
time are those the manifest recorded when topolens wrote it (a file the user replaced or
edited since, or one a hand-made manifest merely lists, is kept). The folder is created and probed for writing before the work starts,
so a bad ``--out`` costs a second, not a training run.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ..exceptions import InvalidInputError

__all__ = ["MANIFEST", "OutputFolder", "check_folder", "check_output_file"]

MANIFEST = ".topolens-output.json"
_FORMAT = "topolens-output"


def _probe_writable(folder: Path, flag: str) -> None:
    """Create and delete a file in ``folder``; refuse with the OS's reason when that fails."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".topolens-probe.", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise InvalidInputError(f"{flag} {folder} is not writable ({exc.strerror or exc}); choose a "
                                "folder you can write to.") from None


def check_folder(folder: Path, flag: str) -> None:
    """Create ``folder`` if needed and probe it for writing (refusing a file of that name)."""
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"{flag} {folder} is an existing file; {flag} names a folder. "
                                "Choose another path or remove the file.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"cannot create the {flag} folder {folder}: "
                                f"{exc.strerror or exc}.") from None
    _probe_writable(folder, flag)


def check_output_file(path: str | os.PathLike, *, flag: str = "--out", default_name: str,
                      suffix: str | None = None) -> Path:
    """The file a command will write for ``flag``, checked before the work.

    An existing folder (or a path ending in a separator) means ``folder/default_name``.
    ``suffix`` is appended when the name lacks it (as the writer would). The parent folder
    is created and probed for writing.

    Raises
    ------
    InvalidInputError
        The target is a folder or another non-file, or its folder cannot be written.
    """
    text = os.fspath(path)
    p = Path(text)
    if p.is_dir() or text.endswith((os.sep, "/")):
        p = p / default_name
    if suffix and p.suffix != suffix:
        p = p.with_suffix(p.suffix + suffix)
    if p.exists() and not p.is_file():
        raise InvalidInputError(f"{flag} {p} exists and is not a file; give a file name.")
    blocker = next((q for q in (p.parent, *p.parent.parents) if q.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise InvalidInputError(f"{flag} {p}: {blocker} is a file, not a folder; choose another path.")
    check_folder(p.parent, f"{flag} folder")
    return p


def _files(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Relative path -> (inode, mtime, size) of every file under ``folder`` (links not followed)."""
    out: dict[str, tuple[int, int, int]] = {}
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not Path(root, d).is_symlink()]
        for name in names:
            p = Path(root, name)
            rel = p.relative_to(folder).as_posix()
            if rel == MANIFEST:
                continue
            with contextlib.suppress(OSError):
                st = p.lstat()
                out[rel] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return out


def _some_files(folder: Path, limit: int = 4) -> list[str]:
    """Up to ``limit`` files under ``folder`` (stops early: a home folder is not walked)."""
    found: list[str] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not Path(root, d).is_symlink()]
        found += [Path(root, n).relative_to(folder).as_posix() for n in names
                  if Path(root, n).relative_to(folder).as_posix() != MANIFEST]
        if len(found) >= limit:
            break
    return sorted(found)[:limit]


def _signature(sig: tuple[int, int, int]) -> list[int]:
    """What the manifest records of a file topolens wrote: [size, mtime_ns]."""
    return [sig[2], sig[1]]


def _safe_relative(items: Any) -> set[str]:
    """The manifest's file list, keeping only plain relative paths inside the folder."""
    if not isinstance(items, list):
        return set()
    good = set()
    for rel in items:
        if isinstance(rel, str) and rel and not rel.startswith("/") and ".." not in Path(rel).parts:
            good.add(rel)
    return good


class OutputFolder:
    """The ``--out`` folder of one run (a context manager: check on enter, clean on exit).

    Parameters
    ----------
    path : path-like
        The folder (created if missing).
    command : str
        The command writing it (recorded in the manifest).
    protect : iterable of path-like
        Inputs of the run (``--activations``, ``--weights``, ...): never deleted even when
        they lie in the folder.
    flag : str
        The option's name, for messages.
    """

    def __init__(self, path: str | os.PathLike, *, command: str,
                 protect: Iterable[str | os.PathLike | None] = (), flag: str = "--out") -> None:
        self.path = Path(path)
        self.command = command
        self.flag = flag
        self._protect = [Path(p).resolve() for p in protect if p]
        self._owned: set[str] = set()
        self._before: dict[str, tuple[int, int, int]] = {}
        self._created: list[Path] = []  # folders this run made (deepest first), removed if it fails empty

    def _read_manifest(self) -> dict[str, Any] | None:
        manifest = self.path / MANIFEST
        if not manifest.is_file():
            return None
        try:
            d = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return d if isinstance(d, dict) and d.get("format") == _FORMAT else None

    def prepare(self) -> OutputFolder:
        """Create and probe the folder; refuse one holding files topolens did not write."""
        missing = [p for p in (self.path, *self.path.parents) if not p.exists()]
        check_folder(self.path, self.flag)
        self._created = missing
        manifest = self._read_manifest()
        if manifest is None:
            some = _some_files(self.path)
            if some:
                sample = ", ".join(some[:3]) + (", ..." if len(some) > 3 else "")
                raise InvalidInputError(
                    f"{self.flag} {self.path} already holds files topolens did not write there "
                    f"({sample}); choose a new or empty folder, or one written by an earlier "
                    "topolens run, so that no stale or foreign file ends up next to this run's "
                    "output."
                )
        current = _files(self.path)
        owned: set[str] = set()
        if manifest is not None:
            sigs = manifest.get("signatures")
            sigs = sigs if isinstance(sigs, dict) else {}
            owned = {rel for rel in _safe_relative(manifest.get("files"))
                     if rel in current and sigs.get(rel) == _signature(current[rel])}
            if manifest.get("status") == "running":
                # a killed run: what it wrote after its manifest (and is not listed foreign)
                started = self._manifest_mtime()
                foreign = _safe_relative(manifest.get("foreign"))
                owned |= {rel for rel, sig in current.items()
                          if started is not None and sig[1] >= started and rel not in foreign}
        self._owned = owned
        self._before = current
        self._write_manifest("running", sorted(self._owned), sorted(set(current) - self._owned),
                             current)
        return self

    def _manifest_mtime(self) -> int | None:
        try:
            return (self.path / MANIFEST).lstat().st_mtime_ns
        except OSError:
            return None

    def _write_manifest(self, status: str, files: list[str], foreign: list[str],
                        stats: dict[str, tuple[int, int, int]]) -> None:
        d = {"format": _FORMAT, "version": 1, "command": self.command, "status": status,
             "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             "files": files, "foreign": foreign,
             "signatures": {rel: _signature(stats[rel]) for rel in files if rel in stats}}
        atomic_write_text(self.path / MANIFEST, json.dumps(d, indent=1))

    def _protected(self, rel: str) -> bool:
        p = (self.path / rel).resolve()
        return any(p == q or q in p.parents for q in self._protect)

    def finish(self, ok: bool) -> list[str]:
        """Record what this run wrote; on success remove the previous run's stale files.

        Returns the relative paths removed.
        """
        after = _files(self.path)
        written = {rel for rel, sig in after.items() if self._before.get(rel) != sig}
        removed: list[str] = []
        if ok:
            for rel in sorted(self._owned - written):
                if self._protected(rel) or not self._remove(rel):
                    continue
                removed.append(rel)
            owned = written | {rel for rel in self._owned - set(removed) if rel in after}
        else:
            if not after and self._created:
                self._remove_created()  # a failed run into a new folder leaves no empty folder behind
                return removed
            owned = written | (self._owned & set(after))
        foreign = set(after) - owned - set(removed)
        self._write_manifest("done" if ok else "failed", sorted(owned), sorted(foreign), after)
        return removed

    def _remove_created(self) -> None:
        """Delete the manifest and the folders this run created, as long as they are empty."""
        with contextlib.suppress(OSError):
            (self.path / MANIFEST).unlink()
        for folder in self._created:
            try:
                folder.rmdir()  # only succeeds when empty
            except OSError:
                break

    def _remove(self, rel: str) -> bool:
        """Delete one owned file (not a link, nothing outside the folder) and emptied folders."""
        p = self.path / rel
        root = self.path.resolve()
        try:
            if p.is_symlink() or not p.is_file() or root not in p.resolve().parents:
                return False
            p.unlink()
        except OSError:
            return False
        parent = p.parent
        while parent != self.path and root in parent.resolve().parents:
            try:
                parent.rmdir()  # only succeeds when empty
            except OSError:
                break
            parent = parent.parent
        return True

    def __enter__(self) -> OutputFolder:
        return self.prepare()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.finish(ok=exc_type is None)
