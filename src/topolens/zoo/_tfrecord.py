"""A reader of TFRecord files, ``tf.train.Example`` and ``tensorflow.TensorProto``, without TensorFlow.

PGDL (NeurIPS 2020 "Predicting Generalization in Deep Learning") ships its data sets as TFRecord
shards of ``tf.train.Example`` messages whose features ``inputs`` and ``output`` each hold one
serialized ``TensorProto`` (``tf.io.serialize_tensor``). This module reads them with numpy only:

* the record framing (:func:`iter_records`): per record a little-endian uint64 length, the masked
  CRC-32C of those 8 bytes (uint32), the data, and the masked CRC-32C of the data (uint32);
  ``masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2**32)``. Both CRCs are checked
  unless ``verify=False``; a length larger than the rest of the file is refused before reading;
* the protobuf wire format (varint, 64-bit, length-delimited and 32-bit fields; unknown fields are
  skipped, groups and invalid wire types refused): :func:`parse_example`, :func:`parse_tensor`;
* :func:`read_pgdl_shards`, the ``(x, y)`` arrays of a list of PGDL shards.

CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) runs slicing-by-8 compiled with numba (a core
dependency; ~1 GB/s) and falls back to a byte-wise table loop in plain Python (~10 MB/s) when numba
does not import. Every malformed input raises :class:`~topolens.exceptions.CorruptRecordError`
naming the file, the record index and its byte offset where they are known.

>>> from topolens.zoo._tfrecord import read_pgdl_shards          # doctest: +SKIP
>>> x, y = read_pgdl_shards(sorted(Path("task1_v4/dataset_1/train").glob("shard_*.tfrecord")))
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..exceptions import CorruptRecordError, DataNotFoundError, InvalidInputError, ShapeError

__all__ = [
    "Feature",
    "crc32c",
    "iter_records",
    "masked_crc32c",
    "parse_example",
    "parse_tensor",
    "read_pgdl_shards",
]

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_MASK_DELTA = 0xA282EAD8  # TFRecord's CRC mask (tensorflow/core/lib/hash/crc32c.h, kMaskDelta)
_HEADER = 12  # uint64 length + uint32 masked crc of the length
_FOOTER = 4  # uint32 masked crc of the data
# refuse a TensorProto whose typed values would be repeated into more than this many bytes
_MAX_FILL_BYTES = 1 << 28

# ---------------------------------------------------------------------------------- CRC-32C


def _make_tables() -> np.ndarray:
    """The 8 x 256 slicing-by-8 tables of CRC-32C (row 0 is the classic byte table), as int64."""
    t = np.zeros((8, 256), dtype=np.int64)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        t[0, i] = c
    for k in range(1, 8):
        prev = t[k - 1]
        t[k] = (prev >> 8) ^ t[0, prev & 0xFF]
    return t


_TABLES = _make_tables()
_TABLE0: list[int] = _TABLES[0].tolist()


def _crc32c_sliced_python(crc: int, data: np.ndarray, t: np.ndarray) -> int:
    """Slicing-by-8 CRC-32C update of ``crc`` over the uint8 array ``data`` (numba kernel source)."""
    crc = np.int64(crc) ^ np.int64(0xFFFFFFFF)
    n = data.shape[0]
    i = 0
    while i + 8 <= n:
        crc ^= (
            np.int64(data[i])
            | (np.int64(data[i + 1]) << 8)
            | (np.int64(data[i + 2]) << 16)
            | (np.int64(data[i + 3]) << 24)
        )
        crc = (
            t[7, crc & 0xFF]
            ^ t[6, (crc >> 8) & 0xFF]
            ^ t[5, (crc >> 16) & 0xFF]
            ^ t[4, (crc >> 24) & 0xFF]
            ^ t[3, data[i + 4]]
            ^ t[2, data[i + 5]]
            ^ t[1, data[i + 6]]
            ^ t[0, data[i + 7]]
        )
        i += 8
    while i < n:
        crc = t[0, (crc ^ np.int64(data[i])) & 0xFF] ^ (crc >> 8)
        i += 1
    return crc ^ np.int64(0xFFFFFFFF)


def _crc32c_bytes_python(crc: int, data: bytes | memoryview) -> int:
    """Byte-wise table CRC-32C update in plain Python (the fallback without numba)."""
    table = _TABLE0
    crc ^= 0xFFFFFFFF
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:  # pragma: no cover - depends on the environment
    import numba

    _crc32c_sliced = numba.njit(cache=True, nogil=True)(_crc32c_sliced_python)
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    _crc32c_sliced = None
    HAVE_NUMBA = False


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, continuing from ``crc`` (0 to start).

    Parameters
    ----------
    data : bytes, bytearray or memoryview
        The bytes to checksum.
    crc : int, optional
        The CRC of the bytes before ``data``, to checksum a stream in pieces.

    Returns
    -------
    int
        The CRC as an unsigned 32-bit integer; ``crc32c(b"123456789") == 0xE3069283``.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInputError(
            f"crc32c got a {type(data).__name__}; expected bytes, bytearray or memoryview. "
            "Pass the raw bytes (e.g. data.tobytes() for an array)."
        )
    if not isinstance(crc, int) or not 0 <= crc <= 0xFFFFFFFF:
        raise InvalidInputError(f"crc must be an unsigned 32-bit integer, got {crc!r}.")
    if _crc32c_sliced is None or len(data) < 64:  # pragma: no cover - numba present in CI
        return _crc32c_bytes_python(crc, data)
    return int(_crc32c_sliced(crc, np.frombuffer(data, dtype=np.uint8), _TABLES))


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """The masked CRC-32C that TFRecord stores: ``((c >> 15) | (c << 17)) + 0xa282ead8 mod 2**32``."""
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


# ---------------------------------------------------------------------------- record framing


def _open_checked(path: Any) -> Path:
    """``path`` as a :class:`Path` to an existing regular file, or a clean error."""
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidInputError(
            f"a TFRecord path must be a str or os.PathLike, got a {type(path).__name__}."
        )
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(
            f"the TFRecord file {str(p)!r} does not exist; check the path (PGDL shards lie in "
            "<task>/dataset_1/{train,test}/shard_*.tfrecord)."
        )
    if not p.is_file():
        raise InvalidInputError(f"{str(p)!r} is not a regular file; pass a .tfrecord file.")
    return p


def _iter_framed(path: Any, verify: bool) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(record index, byte offset, data)`` of every record of one TFRecord file."""
    p = _open_checked(path)
    with open(p, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        offset = index = 0
        while offset < size:
            where = f"{str(p)!r}, record {index} at byte offset {offset}"
            header = f.read(_HEADER)
            if len(header) < _HEADER:
                raise CorruptRecordError(
                    f"{where}: the file ends inside the record header ({len(header)} of "
                    f"{_HEADER} bytes). The file is truncated; copy or download it again."
                )
            length = int.from_bytes(header[:8], "little")
            if verify and masked_crc32c(header[:8]) != int.from_bytes(header[8:], "little"):
                raise CorruptRecordError(
                    f"{where}: the CRC of the length field does not match (stored "
                    f"0x{int.from_bytes(header[8:], 'little'):08x}, computed "
                    f"0x{masked_crc32c(header[:8]):08x}). The file is corrupt or not a TFRecord."
                )
            rest = size - offset - _HEADER
            if length + _FOOTER > rest:
                raise CorruptRecordError(
                    f"{where}: the header announces {length} data bytes plus a {_FOOTER}-byte "
                    f"CRC but only {rest} bytes remain. The file is truncated or not a TFRecord; "
                    "copy or download it again."
                )
            data = f.read(length)
            footer = f.read(_FOOTER)
            if len(data) < length or len(footer) < _FOOTER:  # the file shrank while reading
                raise CorruptRecordError(f"{where}: the file ended early (truncated while read).")
            if verify and masked_crc32c(data) != int.from_bytes(footer, "little"):
                raise CorruptRecordError(
                    f"{where}: the CRC of the {length} data bytes does not match (stored "
                    f"0x{int.from_bytes(footer, 'little'):08x}, computed "
                    f"0x{masked_crc32c(data):08x}). The record is corrupt; copy the file again."
                )
            yield index, offset, data
            offset += _HEADER + length + _FOOTER
            index += 1


def iter_records(path: str | os.PathLike[str], *, verify: bool = True) -> Iterator[bytes]:
    """Yield the data of every record of a TFRecord file, in order.

    Parameters
    ----------
    path : str or os.PathLike
        An uncompressed TFRecord file (PGDL's shards are uncompressed).
    verify : bool, default True
        Check the masked CRC-32C of every length field and every record's data.

    Yields
    ------
    bytes
        One record's payload (for PGDL: a serialized ``tf.train.Example``). An empty file
        yields nothing.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    CorruptRecordError
        A truncated record, a length larger than the rest of the file (refused before reading
        it) or a CRC mismatch; the message names the file, the record index and byte offset.
    """
    for _, _, data in _iter_framed(path, verify):
        yield data


# ------------------------------------------------------------------------ protobuf wire format


def _varint(buf: memoryview, pos: int, what: str) -> tuple[int, int]:
    """Decode the varint at ``buf[pos]``: ``(value as uint64, next position)``."""
    result = shift = 0
    n = len(buf)
    for _ in range(10):
        if pos >= n:
            raise CorruptRecordError(f"{what}: the bytes end inside a varint at byte {pos}.")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
    raise CorruptRecordError(f"{what}: a varint at byte {pos - 10} is longer than 10 bytes.")


def _fields(buf: memoryview, what: str) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(field number, wire type, value)`` of a protobuf message.

    The value is an int (varint), a memoryview (length-delimited, 4 bytes of a 32-bit or 8 bytes
    of a 64-bit field). Groups (wire types 3, 4) and wire types 6, 7 are refused.
    """
    pos, n = 0, len(buf)
    while pos < n:
        start = pos
        key, pos = _varint(buf, pos, what)
        number, wire = key >> 3, key & 7
        if number == 0 or number > 0x1FFFFFFF:
            raise CorruptRecordError(
                f"{what}: invalid field number {number} at byte {start}; the bytes are not the "
                "expected protobuf message."
            )
        if wire == 0:
            value, pos = _varint(buf, pos, what)
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > n:
                raise CorruptRecordError(
                    f"{what}: field {number} at byte {start} needs {width} bytes, {n - pos} remain."
                )
            value, pos = buf[pos : pos + width], pos + width
        elif wire == 2:
            length, pos = _varint(buf, pos, what)
            if length > n - pos:
                raise CorruptRecordError(
                    f"{what}: field {number} at byte {start} announces {length} bytes but only "
                    f"{n - pos} remain; the message is truncated or not the expected type."
                )
            value, pos = buf[pos : pos + length], pos + length
        else:
            kind = "a group (deprecated, unsupported)" if wire in (3, 4) else "invalid"
            raise CorruptRecordError(
                f"{what}: field {number} at byte {start} has wire type {wire}, {kind}; expected "
                "0 (varint), 1 (64-bit), 2 (length-delimited) or 5 (32-bit)."
            )
        yield number, wire, value


def _as_view(data: Any, name: str) -> memoryview:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInputError(
            f"{name} got a {type(data).__name__}; expected the serialized message as bytes."
        )
    return memoryview(data).cast("B")


def _packed_varints(buf: memoryview, what: str) -> np.ndarray:
    """Decode a packed run of varints to uint64 with numpy (vectorised)."""
    a = np.frombuffer(buf, dtype=np.uint8)
    if a.size == 0:
        return np.zeros(0, dtype=np.uint64)
    ends = np.flatnonzero(a < 0x80)
    if ends.size == 0 or ends[-1] != a.size - 1:
        raise CorruptRecordError(f"{what}: a packed varint list ends inside a varint.")
    starts = np.concatenate(([0], ends[:-1] + 1))
    if int((ends - starts).max()) >= 10:
        raise CorruptRecordError(f"{what}: a packed varint is longer than 10 bytes.")
    pos = np.arange(a.size) - np.repeat(starts, ends - starts + 1)
    parts = (a & 0x7F).astype(np.uint64) << (7 * pos).astype(np.uint64)
    return np.bitwise_or.reduceat(parts, starts)


# element encodings of repeated scalar fields: numpy dtype of the fixed-width ones, or "varint"
_Enc = Literal["<f4", "<f8", "varint"]


def _repeated(chunks: list[tuple[int, Any]], enc: _Enc, what: str) -> np.ndarray:
    """Concatenate the packed and unpacked occurrences of one repeated scalar field."""
    fixed_wire = {"<f4": 5, "<f8": 1, "varint": 0}[enc]
    parts = []
    for wire, value in chunks:
        if wire == 2:
            if enc == "varint":
                parts.append(_packed_varints(value, what))
            else:
                width = np.dtype(enc).itemsize
                if len(value) % width:
                    raise CorruptRecordError(
                        f"{what}: a packed list of {width}-byte values has {len(value)} bytes, "
                        f"not a multiple of {width}."
                    )
                parts.append(np.frombuffer(value, dtype=enc))
        elif wire == fixed_wire:
            parts.append(
                np.array([value], dtype=np.uint64) if enc == "varint"
                else np.frombuffer(value, dtype=enc)
            )
        else:
            raise CorruptRecordError(
                f"{what}: a repeated field has wire type {wire}; expected {fixed_wire} or 2 "
                "(packed)."
            )
    if not parts:
        return np.zeros(0, dtype=np.uint64 if enc == "varint" else enc)
    return np.concatenate(parts)


# ----------------------------------------------------------------------------- tf.train.Example


@dataclass(frozen=True)
class Feature:
    """One feature of a ``tf.train.Example``.

    Attributes
    ----------
    kind : {"bytes_list", "float_list", "int64_list"} or None
        Which list the feature holds; None for a feature with none set.
    value : tuple of bytes or numpy.ndarray
        The bytes (a tuple), float32 or int64 values (a 1-D array).
    """

    kind: Literal["bytes_list", "float_list", "int64_list"] | None
    value: tuple[bytes, ...] | np.ndarray


def _parse_feature(buf: memoryview, what: str) -> Feature:
    """``Feature``: oneof bytes_list = 1, float_list = 2, int64_list = 3 (feature.proto)."""
    kind: Any = None
    items: list[Any] = []
    for number, wire, value in _fields(buf, what):
        if number not in (1, 2, 3):
            continue  # unknown field
        if wire != 2:
            raise CorruptRecordError(
                f"{what}: Feature field {number} has wire type {wire}; expected 2 (a message)."
            )
        new = ("bytes_list", "float_list", "int64_list")[number - 1]
        if new != kind:  # a later member of the oneof replaces the earlier one
            kind, items = new, []
        # BytesList / FloatList / Int64List: repeated value = 1 (float, int64 packed)
        for n2, w2, v2 in _fields(value, what):
            if n2 != 1:
                continue
            if kind == "bytes_list":
                if w2 != 2:
                    raise CorruptRecordError(f"{what}: a BytesList value has wire type {w2}.")
                items.append(bytes(v2))
            else:
                items.append((w2, v2))
    if kind is None:
        return Feature(None, ())
    if kind == "bytes_list":
        return Feature(kind, tuple(items))
    if kind == "float_list":
        return Feature(kind, _repeated(items, "<f4", what).astype(np.float32))
    return Feature(kind, _repeated(items, "varint", what).view(np.int64))


def parse_example(data: bytes | bytearray | memoryview) -> dict[str, Feature]:
    """Parse a serialized ``tf.train.Example`` into ``{feature name: Feature}``.

    Field numbers (tensorflow/core/example/example.proto, feature.proto): ``Example.features = 1``;
    ``Features.feature = 1`` (a ``map<string, Feature>``, entries ``key = 1``, ``value = 2``);
    ``Feature`` oneof ``bytes_list = 1``, ``float_list = 2``, ``int64_list = 3``; each list has
    ``repeated value = 1`` (packed or not). Unknown fields are skipped.

    Parameters
    ----------
    data : bytes, bytearray or memoryview
        One record's payload.

    Returns
    -------
    dict of str to Feature

    Raises
    ------
    CorruptRecordError
        The bytes are not a well-formed ``Example``.
    """
    buf = _as_view(data, "parse_example")
    what = "tf.train.Example"
    out: dict[str, Feature] = {}
    for number, wire, features in _fields(buf, what):
        if number != 1:
            continue
        if wire != 2:
            raise CorruptRecordError(f"{what}: field 'features' has wire type {wire}, expected 2.")
        for n2, w2, entry in _fields(features, what + ".features"):
            if n2 != 1:
                continue
            if w2 != 2:
                raise CorruptRecordError(f"{what}: a feature map entry has wire type {w2}.")
            key, feat = "", Feature(None, ())
            for n3, w3, v3 in _fields(entry, what + ".features.feature"):
                if n3 in (1, 2) and w3 != 2:
                    raise CorruptRecordError(f"{what}: a map entry field has wire type {w3}.")
                if n3 == 1:
                    try:
                        key = bytes(v3).decode("utf-8")
                    except UnicodeDecodeError:
                        raise CorruptRecordError(
                            f"{what}: a feature name is not valid UTF-8 ({bytes(v3)[:40]!r})."
                        ) from None
                elif n3 == 2:
                    feat = _parse_feature(v3, f"{what} feature {key!r}")
            out[key] = feat
    return out


# ------------------------------------------------------------------------ tensorflow.TensorProto

# types.proto DataType -> (name, numpy dtype, the TensorProto field of its typed values)
# tensor.proto: float_val = 5, double_val = 6, int_val = 7, int64_val = 10, bool_val = 11,
# half_val = 13, uint32_val = 16, uint64_val = 17
_DTYPES: dict[int, tuple[str, str, int]] = {
    1: ("DT_FLOAT", "<f4", 5),
    2: ("DT_DOUBLE", "<f8", 6),
    3: ("DT_INT32", "<i4", 7),
    4: ("DT_UINT8", "u1", 7),
    5: ("DT_INT16", "<i2", 7),
    6: ("DT_INT8", "i1", 7),
    9: ("DT_INT64", "<i8", 10),
    10: ("DT_BOOL", "?", 11),
    17: ("DT_UINT16", "<u2", 7),
    19: ("DT_HALF", "<f2", 13),
    22: ("DT_UINT32", "<u4", 16),
    23: ("DT_UINT64", "<u8", 17),
}
_VAL_ENC: dict[int, _Enc] = {5: "<f4", 6: "<f8"}  # the others are varints


def _parse_shape(buf: memoryview, dims: list[int], what: str) -> None:
    """``TensorShapeProto``: ``dim = 2`` (``Dim.size = 1``), ``unknown_rank = 3`` (tensor_shape.proto)."""
    for number, wire, value in _fields(buf, what):
        if number == 3 and wire == 0 and value:
            raise CorruptRecordError(f"{what}: the shape has unknown rank; expected a full shape.")
        if number != 2:
            continue
        if wire != 2:
            raise CorruptRecordError(f"{what}: a shape dim has wire type {wire}, expected 2.")
        size = 0
        for n2, w2, v2 in _fields(value, what):
            if n2 == 1 and w2 == 0:
                size = v2 - (1 << 64) if v2 >= 1 << 63 else v2
        if size < 0:
            raise CorruptRecordError(
                f"{what}: dimension {len(dims)} has size {size} (unknown); a stored tensor "
                "needs every size known."
            )
        dims.append(size)


def _typed_values(raw: np.ndarray, dtype: np.dtype, field: int) -> np.ndarray:
    """Convert the decoded typed repeated field to ``dtype`` (varints arrive as uint64)."""
    if field in _VAL_ENC:
        return raw.astype(dtype)
    if field == 11:
        return raw != 0
    if field == 13:  # half_val holds the float16 bit patterns in int32s
        return raw.astype(np.uint16).view(np.float16)
    if dtype.kind == "u":
        return raw.astype(dtype)
    return raw.view(np.int64).astype(dtype)  # int32 varints are sign-extended to 64 bits


def parse_tensor(data: bytes | bytearray | memoryview) -> np.ndarray:
    """Parse a serialized ``tensorflow.TensorProto`` (``tf.io.serialize_tensor``) into an array.

    Field numbers (tensorflow/core/framework/tensor.proto): ``dtype = 1`` (a types.proto
    ``DataType``), ``tensor_shape = 2``, ``tensor_content = 4`` (raw little-endian bytes),
    typed values ``float_val = 5``, ``double_val = 6``, ``int_val = 7``, ``int64_val = 10``,
    ``bool_val = 11``, ``half_val = 13``, ``uint32_val = 16``, ``uint64_val = 17``. As in
    TensorFlow, fewer typed values than elements are padded with the last one (zeros if none).

    Parameters
    ----------
    data : bytes, bytearray or memoryview
        A serialized TensorProto.

    Returns
    -------
    numpy.ndarray
        Native-endian array of the stored shape and dtype (DT_FLOAT, DT_DOUBLE, DT_INT32,
        DT_UINT8, DT_INT16, DT_INT8, DT_INT64, DT_BOOL, DT_UINT16, DT_HALF, DT_UINT32,
        DT_UINT64).

    Raises
    ------
    CorruptRecordError
        Malformed bytes, an unsupported or missing dtype, content whose size disagrees with
        the shape, or more typed values than elements.
    """
    buf = _as_view(data, "parse_tensor")
    what = "TensorProto"
    dtype_enum, dims, content = 0, [], None
    chunks: dict[int, list[tuple[int, Any]]] = {}
    for number, wire, value in _fields(buf, what):
        if number == 1 and wire == 0:
            dtype_enum = value
        elif number == 2 and wire == 2:
            _parse_shape(value, dims, what)
        elif number == 4 and wire == 2:
            content = value
        elif number in (5, 6, 7, 10, 11, 13, 16, 17):
            chunks.setdefault(number, []).append((wire, value))
        elif number in (1, 2, 4):
            raise CorruptRecordError(f"{what}: field {number} has the wrong wire type {wire}.")
    if dtype_enum not in _DTYPES:
        supported = ", ".join(f"{v[0]}={k}" for k, v in _DTYPES.items())
        raise CorruptRecordError(
            f"{what}: dtype enum {dtype_enum} is {'missing' if dtype_enum == 0 else 'unsupported'}"
            f"; supported: {supported}. The bytes may not be a serialized TensorProto."
        )
    name, np_dtype, field = _DTYPES[dtype_enum]
    dt = np.dtype(np_dtype)
    n = 1
    for d in dims:
        n *= d
    if content is not None and (len(content) or not chunks):
        if len(content) != n * dt.itemsize:
            raise CorruptRecordError(
                f"{what}: {name} tensor of shape {tuple(dims)} needs {n * dt.itemsize} bytes of "
                f"tensor_content, found {len(content)}."
            )
        return np.frombuffer(content, dtype=dt).astype(dt.newbyteorder("="), copy=True).reshape(dims)
    enc = _VAL_ENC.get(field, "varint")
    vals = _typed_values(_repeated(chunks.get(field, []), enc, what), dt, field)
    if vals.size > n:
        raise CorruptRecordError(
            f"{what}: {vals.size} typed values for a {name} tensor of shape {tuple(dims)} "
            f"({n} elements); expected at most {n}."
        )
    if vals.size < n:
        if n * dt.itemsize > _MAX_FILL_BYTES:
            raise CorruptRecordError(
                f"{what}: shape {tuple(dims)} would repeat {vals.size} stored value(s) into "
                f"{n * dt.itemsize} bytes, over the {_MAX_FILL_BYTES}-byte limit; the shape is "
                "implausible for this record."
            )
        fill = vals[-1] if vals.size else dt.type(0)
        vals = np.concatenate([vals, np.full(n - vals.size, fill, dtype=vals.dtype)])
    return np.ascontiguousarray(vals.astype(dt.newbyteorder("="))).reshape(dims)


# ----------------------------------------------------------------------------------- PGDL shards


def _pgdl_tensor(feats: dict[str, Feature], key: str) -> np.ndarray:
    """The TensorProto stored in a PGDL Example's feature ``key``."""
    if key not in feats:
        raise CorruptRecordError(
            f"the Example has no feature {key!r} (found {sorted(feats)}); a PGDL shard stores "
            "'inputs' and 'output', each a bytes_list with one serialized TensorProto."
        )
    f = feats[key]
    if f.kind != "bytes_list" or len(f.value) != 1:
        count = len(f.value)
        raise CorruptRecordError(
            f"feature {key!r} is a {f.kind} with {count} value(s); expected a bytes_list "
            "holding exactly one serialized TensorProto."
        )
    return parse_tensor(f.value[0])


def read_pgdl_shards(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Read PGDL TFRecord shards into stacked ``(x, y)`` numpy arrays.

    Parameters
    ----------
    paths : path or iterable of paths
        The shards, read in the given order (sort ``shard_*.tfrecord`` first).
    verify : bool, default True
        Check every record's CRCs.

    Returns
    -------
    x : numpy.ndarray
        The ``inputs`` tensors stacked on a new first axis, as stored (NHWC for images).
    y : numpy.ndarray
        The ``output`` tensors (labels) stacked the same way.

    Raises
    ------
    InvalidInputError
        No paths given.
    DataNotFoundError
        A shard does not exist, or the shards hold no record.
    CorruptRecordError
        A corrupt record or a missing feature; the message names the file, record index and
        byte offset.
    ShapeError
        A record whose shape or dtype differs from the first record's.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    elif isinstance(paths, Iterable) and not isinstance(paths, (bytes, Sequence)):
        paths = list(paths)  # a generator such as Path.glob(...)
    if not isinstance(paths, Sequence) or isinstance(paths, bytes) or len(paths) == 0:
        raise InvalidInputError(
            f"read_pgdl_shards needs a non-empty list of shard paths, got {paths!r}; pass e.g. "
            "sorted(Path('dataset_1/train').glob('shard_*.tfrecord'))."
        )
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    first: tuple[Any, ...] | None = None
    for path in paths:
        for index, offset, record in _iter_framed(path, verify):
            where = f"{str(path)!r}, record {index} at byte offset {offset}"
            try:
                feats = parse_example(record)
                x, y = _pgdl_tensor(feats, "inputs"), _pgdl_tensor(feats, "output")
            except CorruptRecordError as exc:
                raise CorruptRecordError(f"{where}: {exc}") from None
            sig = (x.shape, x.dtype, y.shape, y.dtype)
            if first is None:
                first = (sig, where)
            elif sig != first[0]:
                raise ShapeError(
                    f"{where}: inputs {x.shape} {x.dtype}, output {y.shape} {y.dtype}; the first "
                    f"record ({first[1]}) has inputs {first[0][0]} {first[0][1]}, output "
                    f"{first[0][2]} {first[0][3]}. All records of a PGDL data set must agree."
                )
            xs.append(x)
            ys.append(y)
    if not xs:
        raise DataNotFoundError(
            f"the {len(paths)} shard(s) hold no record (first: {str(paths[0])!r}); expected "
            "PGDL tf.train.Examples. Check that the files are not empty."
        )
    return np.stack(xs), np.stack(ys)
