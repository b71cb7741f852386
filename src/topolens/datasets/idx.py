"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by the raw array:

* 4 bytes of magic number: two zero bytes, a type code and the number of dimensions;
* one unsigned 32-bit big-endian integer per dimension;
* the values in C order, big-endian.

Type codes: ``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32,
``0x0D`` float32, ``0x0E`` float64. Files may be gzip-compressed; compression is
recognised from the content (the gzip magic bytes), not from the file name.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes
from ..exceptions import DataNotFoundError, IntegrityError, InvalidInputError

__all__ = ["read_idx", "write_idx"]

_GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> big-endian numpy dtype
_CODE_TO_DTYPE: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_KIND_TO_CODE: dict[tuple[str, int], int] = {
    (dt.kind, dt.itemsize): code for code, dt in _CODE_TO_DTYPE.items()
}


def _decompress(raw: bytes, source: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except EOFError as exc:
        raise IntegrityError(
            f"{source}: the gzip stream is truncated ({exc}). The file was probably cut off "
            "during a download or copy; delete it and fetch it again."
        ) from exc
    except (OSError, zlib.error) as exc:
        raise IntegrityError(
            f"{source}: the gzip stream is corrupt ({exc}). Delete the file and fetch it again."
        ) from exc


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the (uncompressed) bytes of an IDX file.

    Parameters
    ----------
    data : bytes
        Complete content of an IDX file, header included, not compressed.
    source : str, optional
        Name used in error messages (usually the file path).

    Returns
    -------
    numpy.ndarray
        A writable, native-byte-order array with the shape stored in the header.

    Raises
    ------
    IntegrityError
        If the magic number, type code or dimensions are invalid, or if the data is
        shorter (truncated) or longer (trailing bytes) than the header announces.
    """
    n = len(data)
    if n < 4:
        raise IntegrityError(
            f"{source}: only {n} byte(s), too short for the 4-byte IDX magic number; "
            "the file is truncated or not an IDX file."
        )
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    magic = int.from_bytes(data[:4], "big")
    if zero0 != 0 or zero1 != 0:
        raise IntegrityError(
            f"{source}: bad IDX magic number 0x{magic:08X} (its first two bytes must be zero); "
            "this is not an IDX file, or it is compressed in a format other than gzip."
        )
    if code not in _CODE_TO_DTYPE:
        known = ", ".join(f"0x{c:02X}" for c in _CODE_TO_DTYPE)
        raise IntegrityError(
            f"{source}: unknown IDX type code 0x{code:02X} in magic number 0x{magic:08X}; "
            f"expected one of {known}."
        )
    if ndim == 0:
        raise IntegrityError(
            f"{source}: the IDX magic number 0x{magic:08X} declares 0 dimensions; expected at least 1."
        )
    header = 4 + 4 * ndim
    if n < header:
        raise IntegrityError(
            f"{source}: the file is truncated inside its header: {n} byte(s), but a "
            f"{ndim}-dimensional IDX header needs {header}."
        )
    shape = tuple(int(d) for d in struct.unpack(f">{ndim}I", data[4:header]))
    dtype = _CODE_TO_DTYPE[code]
    count = math.prod(shape)
    expected = header + count * dtype.itemsize
    if n != expected:
        what = "truncated" if n < expected else f"followed by {n - expected} unexpected trailing byte(s)"
        raise IntegrityError(
            f"{source}: the data is {what}: the header declares shape {shape} of "
            f"{dtype.name} ({expected} bytes in total with the header) but the file holds {n} bytes."
        )
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header)
    return arr.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not.

    Parameters
    ----------
    path : path-like
        The file to read. Gzip compression is detected from the content.

    Returns
    -------
    numpy.ndarray
        A writable array in native byte order, with the dtype given by the type code
        and the shape given by the header (e.g. ``(60000, 28, 28)`` uint8 for the MNIST
        training images, ``(60000,)`` uint8 for its labels).

    Raises
    ------
    DataNotFoundError
        If ``path`` does not exist.
    IntegrityError
        If the gzip stream is corrupt or truncated, the magic number, type code or
        dimensions are invalid, or the file length does not match the header.
        The message names the file and what was wrong.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.idx"
    >>> _ = write_idx(p, np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> read_idx(p)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    data = _decompress(raw, str(path)) if raw[:2] == _GZIP_MAGIC else raw
    return parse_idx(data, source=str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as the (uncompressed) bytes of an IDX file.

    Parameters
    ----------
    array : numpy.ndarray
        Array of dtype uint8, int8, int16, int32, float32 or float64 with 1 to 255
        dimensions, each smaller than 2**32.

    Returns
    -------
    bytes
        Header and big-endian data.

    Raises
    ------
    InvalidInputError
        If the dtype or the shape cannot be stored in IDX.
    """
    arr = np.asarray(array)
    key = (arr.dtype.kind, arr.dtype.itemsize)
    if key not in _KIND_TO_CODE:
        raise InvalidInputError(
            f"IDX cannot store dtype {arr.dtype}; use uint8, int8, int16, int32, float32 "
            "or float64 (convert with array.astype(...))."
        )
    if not 1 <= arr.ndim <= 255:
        raise InvalidInputError(
            f"IDX stores arrays with 1 to 255 dimensions, got {arr.ndim}; reshape the array."
        )
    if any(d >= 2**32 for d in arr.shape):
        raise InvalidInputError(f"IDX dimensions must be smaller than 2**32, got shape {arr.shape}.")
    code = _KIND_TO_CODE[key]
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    body = np.ascontiguousarray(arr, dtype=_CODE_TO_DTYPE[code]).tobytes()
    return header + body


def write_idx(
    path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None
) -> Path:
    """Write an array as an IDX file, atomically.

    Parameters
    ----------
    path : path-like
        Destination. Its parent folder is created if missing.
    array : numpy.ndarray
        Array of dtype uint8, int8, int16, int32, float32 or float64.
    compress : bool, optional
        Gzip-compress the file. Defaults to ``True`` when ``path`` ends with ``.gz``.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    InvalidInputError
        If the dtype or the shape cannot be stored in IDX.
    """
    path = Path(path)
    data = idx_bytes(array)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        data = gzip.compress(data, mtime=0)
    return atomic_write_bytes(path, data)
