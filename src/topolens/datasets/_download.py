"""Downloading data files from a list of mirrors, with checksum and atomic write."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path

from .._io import atomic_write_bytes
from ..exceptions import DataNotFoundError, IntegrityError

logger = logging.getLogger(__name__)

# Indirection so that tests can serve local bytes instead of touching the network.
_urlopen = urllib.request.urlopen

_USER_AGENT = "topolens-datasets/0.1 (+python urllib)"
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError)


def payload_sha256(data: bytes) -> str:
    """SHA-256 of ``data`` after gzip decompression (of ``data`` itself if not gzipped).

    Checksums are taken on the decompressed IDX content so that a mirror that
    re-compresses the files (different gzip header or level) is still accepted,
    while any change of the actual content is detected.

    Raises
    ------
    IntegrityError
        If ``data`` looks gzipped but cannot be decompressed.
    """
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise IntegrityError(f"the gzip stream is truncated or corrupt ({exc})") from exc
    return hashlib.sha256(data).hexdigest()


def _fetch(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with _urlopen(request, timeout=timeout) as response:
        return response.read()


def download_verified(
    filename: str,
    mirrors: Sequence[str],
    dest: str | os.PathLike,
    sha256: str,
    *,
    timeout: float = 60.0,
) -> Path:
    """Download ``filename`` from the first mirror that serves it intact.

    Each mirror is tried in turn; the whole file is read into memory, its
    decompressed SHA-256 compared with ``sha256``, and only then written to
    ``dest`` atomically. A failed or mismatching download never leaves a file
    (partial or otherwise) at ``dest``.

    Parameters
    ----------
    filename : str
        File name appended to each mirror's base URL.
    mirrors : sequence of str
        Base URLs ending with ``/``.
    dest : path-like
        Destination file; its folder is created if needed.
    sha256 : str
        Expected SHA-256 of the decompressed content.
    timeout : float, optional
        Socket timeout in seconds for each attempt.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    IntegrityError
        If at least one mirror answered but no answer had the expected checksum.
    DataNotFoundError
        If no mirror could be reached.
    """
    dest = Path(dest)
    network_failures: list[str] = []
    integrity_failures: list[str] = []
    for base in mirrors:
        url = base + filename
        logger.info("downloading %s", url)
        try:
            data = _fetch(url, timeout)
        except _NETWORK_ERRORS as exc:
            network_failures.append(f"{url}: {exc}")
            logger.info("download of %s failed: %s", url, exc)
            continue
        try:
            got = payload_sha256(data)
        except IntegrityError as exc:
            integrity_failures.append(f"{url}: {exc}")
            continue
        if got != sha256:
            integrity_failures.append(
                f"{url}: SHA-256 of the decompressed content is {got}, expected {sha256} "
                f"({len(data)} bytes received)"
            )
            continue
        atomic_write_bytes(dest, data)
        dest.chmod(0o644)  # the temporary file was created private (0600)
        logger.info("saved %s (%d bytes)", dest, len(data))
        return dest
    tried = "\n  ".join(integrity_failures + network_failures)
    if integrity_failures:
        raise IntegrityError(
            f"Downloaded {filename} failed verification; nothing was written to {dest}. "
            f"Attempts:\n  {tried}\nThe mirror may serve a different or damaged file; try again "
            f"later or place a correct copy at {dest} yourself."
        )
    raise DataNotFoundError(
        f"Could not download {filename} from any mirror; nothing was written to {dest}. "
        f"Attempts:\n  {tried}\nCheck the network connection, or copy the file to {dest} yourself."
    )
