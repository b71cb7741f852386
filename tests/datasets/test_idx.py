"""Tests of the IDX reader/writer on tiny hand-written files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from topolens.datasets import read_idx, write_idx
from topolens.exceptions import DataNotFoundError, IntegrityError, InvalidInputError


def _idx(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    """Hand-assemble an IDX file: magic, big-endian dims, payload."""
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


# A 2x2x3 uint8 "image stack", written byte by byte.
_U8 = _idx(0x08, (2, 2, 3), bytes(range(12)))


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("compressed", [False, True])
def test_read_handwritten_uint8(tmp_path, compressed):
    data = gzip.compress(_U8) if compressed else _U8
    arr = read_idx(_write(tmp_path, "x.idx" + (".gz" if compressed else ""), data))
    assert arr.dtype == np.uint8
    assert arr.shape == (2, 2, 3)
    np.testing.assert_array_equal(arr.ravel(), np.arange(12))
    assert arr.flags.writeable and arr.flags.c_contiguous


def test_gzip_detected_from_content_not_name(tmp_path):
    arr = read_idx(_write(tmp_path, "no-suffix", gzip.compress(_U8)))
    assert arr.shape == (2, 2, 3)


@pytest.mark.parametrize(
    ("code", "fmt", "dtype"),
    [
        (0x09, "b", np.int8),
        (0x0B, "h", np.int16),
        (0x0C, "i", np.int32),
        (0x0D, "f", np.float32),
        (0x0E, "d", np.float64),
    ],
)
def test_read_handwritten_big_endian_types(tmp_path, code, fmt, dtype):
    values = [-3, 0, 1, 7, 100, -100]
    payload = struct.pack(f">6{fmt}", *values)
    arr = read_idx(_write(tmp_path, "v.idx", _idx(code, (3, 2), payload)))
    assert arr.dtype == np.dtype(dtype)  # native byte order
    assert arr.dtype.isnative
    np.testing.assert_array_equal(arr, np.array(values, dtype=dtype).reshape(3, 2))


def test_read_labels_1d(tmp_path):
    arr = read_idx(_write(tmp_path, "l.idx", _idx(0x08, (5,), bytes([5, 0, 4, 1, 9]))))
    np.testing.assert_array_equal(arr, [5, 0, 4, 1, 9])


def test_empty_array(tmp_path):
    arr = read_idx(_write(tmp_path, "e.idx", _idx(0x08, (0, 28, 28), b"")))
    assert arr.shape == (0, 28, 28)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_write_read_round_trip(tmp_path, dtype, name):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((4, 3, 2)) * 50).astype(dtype)
    path = write_idx(tmp_path / name, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path)
    assert back.dtype == arr.dtype
    np.testing.assert_array_equal(back, arr)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


def test_write_matches_handwritten_bytes(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.arange(12, dtype=np.uint8).reshape(2, 2, 3))
    assert path.read_bytes() == _U8


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.uint16, np.complex64])
def test_write_rejects_unsupported_dtype(tmp_path, dtype):
    with pytest.raises(InvalidInputError, match="IDX cannot store dtype"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=dtype))
    assert not (tmp_path / "x.idx").exists()


def test_write_rejects_scalar(tmp_path):
    with pytest.raises(InvalidInputError, match="1 to 255 dimensions"):
        write_idx(tmp_path / "x.idx", np.uint8(3))


def test_missing_file(tmp_path):
    with pytest.raises(DataNotFoundError, match="not found"):
        read_idx(tmp_path / "nope.idx")


@pytest.mark.parametrize(
    ("data", "expect"),
    [
        (b"", "too short"),
        (b"\x00\x00", "too short"),
        (_U8[:-1], "truncated"),
        (_U8[:len(_U8) // 2], "truncated"),
        (_U8 + b"\x00\x00", "2 unexpected trailing byte"),
        (_U8[:9], "truncated inside its header"),
        (b"\x12\x34" + _U8[2:], "bad IDX magic number 0x12340803"),
        (bytes([0, 0, 0x07, 3]) + _U8[4:], "unknown IDX type code 0x07"),
        (bytes([0, 0, 0x08, 0]), "0 dimensions"),
        (_idx(0x0C, (2, 2), b"\x00" * 15), "truncated"),  # int32 needs 16 bytes
    ],
)
def test_corrupt_raw_file(tmp_path, data, expect):
    path = _write(tmp_path, "bad.idx", data)
    with pytest.raises(IntegrityError) as info:
        read_idx(path)
    msg = str(info.value)
    assert str(path) in msg
    assert expect in msg


def test_truncation_message_gives_sizes(tmp_path):
    path = _write(tmp_path, "bad.idx", _U8[:-5])
    with pytest.raises(IntegrityError, match=r"shape \(2, 2, 3\).*28 bytes.*holds 23 bytes"):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    gz = gzip.compress(_idx(0x08, (50, 28, 28), bytes(50 * 784)))
    path = _write(tmp_path, "x.gz", gz[: len(gz) // 2])
    with pytest.raises(IntegrityError, match="gzip stream is truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip(tmp_path):
    rng = np.random.default_rng(1)
    gz = bytearray(gzip.compress(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()))
    gz[-6] ^= 0xFF  # damage the CRC32 trailer
    path = _write(tmp_path, "x.gz", bytes(gz))
    with pytest.raises(IntegrityError, match="gzip stream is corrupt") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_valid_gzip_of_truncated_idx(tmp_path):
    path = _write(tmp_path, "x.gz", gzip.compress(_U8[:-3]))
    with pytest.raises(IntegrityError, match="truncated"):
        read_idx(path)

