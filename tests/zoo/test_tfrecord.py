"""TFRecord framing, tf.train.Example and TensorProto without TensorFlow (topolens.zoo._tfrecord).

The oracle is an independent writer: protobuf bytes are hand-encoded from the .proto field
numbers, and the CRC-32C is a bit-by-bit loop checked against the standard check value.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from topolens.exceptions import (
    CorruptRecordError,
    DataNotFoundError,
    InvalidInputError,
    ShapeError,
)
from topolens.zoo import _tfrecord as tfr

# ------------------------------------------------------------------ independent writer (oracle)


def crc_oracle(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(v: int) -> bytes:
    v &= (1 << 64) - 1  # negative ints: two's complement over 64 bits (10 bytes)
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def f_varint(number: int, v: int) -> bytes:
    return key(number, 0) + varint(v)


def f_bytes(number: int, payload: bytes) -> bytes:
    return key(number, 2) + varint(len(payload)) + payload


def record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", mask(crc_oracle(length)))
        + data
        + struct.pack("<I", mask(crc_oracle(data)))
    )


# TensorProto: dtype 1, tensor_shape 2, tensor_content 4; TensorShapeProto.dim 2, Dim.size 1
def shape_msg(shape: tuple[int, ...]) -> bytes:
    return b"".join(f_bytes(2, f_varint(1, d)) for d in shape)


def tensor_content(dtype_enum: int, arr: np.ndarray) -> bytes:
    le = arr.astype(arr.dtype.newbyteorder("<"))
    return (
        f_varint(1, dtype_enum)
        + f_bytes(2, shape_msg(arr.shape))
        + f_bytes(4, le.tobytes())
    )


def encode_scalar(kind: str, v) -> bytes:
    if kind == "f4":
        return struct.pack("<f", v)
    if kind == "f8":
        return struct.pack("<d", v)
    return varint(int(v))


def tensor_typed(dtype_enum, field, kind, shape, values, packed=True, extra=b"") -> bytes:
    body = f_varint(1, dtype_enum) + f_bytes(2, shape_msg(shape)) + extra
    wire = {"f4": 5, "f8": 1, "varint": 0}[kind]
    if packed:
        body += f_bytes(field, b"".join(encode_scalar(kind, v) for v in values))
    else:
        body += b"".join(key(field, wire) + encode_scalar(kind, v) for v in values)
    return body


# Example.features 1; Features.feature 1 (entry key 1, value 2); Feature 1/2/3; list value 1
def feature_bytes(values: list[bytes]) -> bytes:
    return f_bytes(1, b"".join(f_bytes(1, v) for v in values))


def feature_floats(values, packed=True) -> bytes:
    if packed:
        inner = f_bytes(1, b"".join(struct.pack("<f", v) for v in values))
    else:
        inner = b"".join(key(1, 5) + struct.pack("<f", v) for v in values)
    return f_bytes(2, inner)


def feature_ints(values, packed=True) -> bytes:
    if packed:
        inner = f_bytes(1, b"".join(varint(v) for v in values))
    else:
        inner = b"".join(f_varint(1, v) for v in values)
    return f_bytes(3, inner)


def example(features: dict[str, bytes], junk: bytes = b"") -> bytes:
    entries = b"".join(f_bytes(1, f_bytes(1, k.encode()) + f_bytes(2, v)) for k, v in features.items())
    return junk + f_bytes(1, entries) + junk


def pgdl_example(x: np.ndarray, y: np.ndarray) -> bytes:
    enums = {np.float32: 1, np.int32: 3, np.int64: 9, np.uint8: 4}
    return example(
        {
            "inputs": feature_bytes([tensor_content(enums[x.dtype.type], x)]),
            "output": feature_bytes([tensor_content(enums[y.dtype.type], y)]),
        }
    )


# ----------------------------------------------------------------------------------- CRC-32C


def test_crc32c_check_value_and_oracle():
    assert crc_oracle(b"123456789") == 0xE3069283
    assert tfr.crc32c(b"123456789") == 0xE3069283
    assert tfr.crc32c(b"") == 0
    rng = np.random.default_rng(0)
    for n in [*range(0, 80), 257, 1000, 4099]:
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        want = crc_oracle(data)
        assert tfr.crc32c(data) == want
        assert tfr._crc32c_bytes_python(0, data) == want
        arr = np.frombuffer(data, dtype=np.uint8)
        assert tfr._crc32c_sliced_python(0, arr, tfr._TABLES) == want
        cut = n // 3
        assert tfr.crc32c(data[cut:], tfr.crc32c(data[:cut])) == want
    assert tfr.masked_crc32c(b"abc") == mask(crc_oracle(b"abc"))


def test_crc32c_bad_input():
    with pytest.raises(InvalidInputError, match="expected bytes"):
        tfr.crc32c("text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="32-bit"):
        tfr.crc32c(b"x", -1)


# ------------------------------------------------------------------------------ record framing

PAYLOADS = [b"", b"a", b"hello tfrecord", bytes(range(256)) * 3]


def write(path, payloads):
    path.write_bytes(b"".join(record(p) for p in payloads))
    return path


def test_records_round_trip_and_empty(tmp_path):
    p = write(tmp_path / "a.tfrecord", PAYLOADS)
    assert list(tfr.iter_records(p)) == PAYLOADS
    assert list(tfr.iter_records(p, verify=False)) == PAYLOADS
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    assert list(tfr.iter_records(empty)) == []


def test_truncated_at_every_cut(tmp_path):
    payloads = [b"abc", b"", b"0123456789"]
    full = b"".join(record(p) for p in payloads)
    boundaries = {0}
    for p in payloads:
        boundaries.add(max(boundaries) + 12 + len(p) + 4)
    path = tmp_path / "cut.tfrecord"
    for cut in range(len(full)):
        path.write_bytes(full[:cut])
        if cut in boundaries:  # a whole number of records: fewer records, no error
            got = list(tfr.iter_records(path))
            assert got == payloads[: len(got)]
            continue
        for verify in (True, False):
            with pytest.raises(CorruptRecordError, match=r"cut\.tfrecord.*record \d at byte offset"):
                list(tfr.iter_records(path, verify=verify))


def test_every_flipped_bit_is_caught(tmp_path):
    full = bytearray(record(b"abc") + record(b"xyz!"))
    path = tmp_path / "flip.tfrecord"
    for i in range(len(full)):
        for bit in (0, 7):
            bad = bytearray(full)
            bad[i] ^= 1 << bit
            path.write_bytes(bytes(bad))
            with pytest.raises(CorruptRecordError, match=r"flip\.tfrecord', record [01]"):
                list(tfr.iter_records(path))
    bad = bytearray(full)
    bad[12] ^= 1  # first data byte; without verification it passes through
    path.write_bytes(bytes(bad))
    assert next(iter(tfr.iter_records(path, verify=False))) == b"`bc"
    with pytest.raises(CorruptRecordError, match=r"record 0 at byte offset 0: the CRC of the 3"):
        list(tfr.iter_records(path))


def test_oversized_length_is_refused_before_reading(tmp_path):
    length = struct.pack("<Q", 1 << 62)
    path = tmp_path / "big.tfrecord"
    path.write_bytes(record(b"ok") + length + struct.pack("<I", mask(crc_oracle(length))) + b"xx")
    it = tfr.iter_records(path)
    assert next(it) == b"ok"
    with pytest.raises(CorruptRecordError, match=r"record 1 at byte offset 18.*only 2 bytes remain"):
        next(it)


def test_missing_file_and_bad_path(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        list(tfr.iter_records(tmp_path / "nope.tfrecord"))
    with pytest.raises(InvalidInputError, match="not a regular file"):
        list(tfr.iter_records(tmp_path))
    with pytest.raises(InvalidInputError, match=r"str or os\.PathLike"):
        list(tfr.iter_records(3))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------- TensorProto

# (enum, numpy dtype, typed field, encoding)
DTYPES = [
    (1, np.float32, 5, "f4"),
    (2, np.float64, 6, "f8"),
    (3, np.int32, 7, "varint"),
    (4, np.uint8, 7, "varint"),
    (5, np.int16, 7, "varint"),
    (6, np.int8, 7, "varint"),
    (9, np.int64, 10, "varint"),
    (10, np.bool_, 11, "varint"),
    (17, np.uint16, 7, "varint"),
    (22, np.uint32, 16, "varint"),
    (23, np.uint64, 17, "varint"),
]


def sample(dtype, shape, rng):
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if np.issubdtype(dtype, np.floating):
        return rng.normal(size=shape).astype(dtype) * 1e3
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


@pytest.mark.parametrize(("enum", "dtype", "field", "kind"), DTYPES)
def test_tensor_round_trip_every_dtype(enum, dtype, field, kind):
    rng = np.random.default_rng(enum)
    for shape in [(), (0,), (5,), (2, 3, 4)]:
        a = sample(dtype, shape, rng)
        got = tfr.parse_tensor(tensor_content(enum, a))
        assert got.dtype == dtype and got.shape == shape
        np.testing.assert_array_equal(got, a)
        for packed in (True, False):
            enc = tensor_typed(enum, field, kind, shape, a.ravel().tolist(), packed=packed)
            got = tfr.parse_tensor(enc)
            assert got.dtype == dtype and got.shape == shape
            np.testing.assert_array_equal(got, a)


def test_tensor_half_and_padding_and_unknown_fields():
    h = np.array([1.5, -2.0, 65504.0, 0.0], dtype=np.float16)
    bits = h.view(np.uint16).astype(int).tolist()
    np.testing.assert_array_equal(tfr.parse_tensor(tensor_typed(19, 13, "varint", (4,), bits)), h)
    np.testing.assert_array_equal(tfr.parse_tensor(tensor_content(19, h)), h)
    # fewer typed values than elements: padded with the last one, zeros if none (as TF does)
    got = tfr.parse_tensor(tensor_typed(1, 5, "f4", (2, 2), [1.0, 2.0]))
    np.testing.assert_array_equal(got, [[1.0, 2.0], [2.0, 2.0]])
    np.testing.assert_array_equal(tfr.parse_tensor(tensor_typed(3, 7, "varint", (3,), [])), [0, 0, 0])
    # unknown fields of every wire type (varint, 64-bit, bytes, 32-bit) are skipped
    junk = f_varint(3, 7) + key(99, 1) + b"\x00" * 8 + f_bytes(1000, b"zz") + key(21, 5) + b"abcd"
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(tfr.parse_tensor(junk + tensor_content(1, a) + junk), a)
    np.testing.assert_array_equal(tfr.parse_tensor(memoryview(bytearray(tensor_content(1, a)))), a)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"hello world", "wire type|field number|dtype|announces"),
        (b"", "dtype enum 0 is missing"),
        (f_varint(1, 7) + f_bytes(2, shape_msg((1,))), "unsupported"),  # DT_STRING
        (key(1, 3) + key(1, 4), "group"),
        (key(5, 7), "wire type 7, invalid"),
        (b"\x08", "end inside a varint"),
        (b"\x08" + b"\xff" * 11, "longer than 10 bytes"),
        (f_bytes(4, b"abc")[:-1], "announces 3 bytes but only 2 remain"),
        (f_varint(1, 1) + f_bytes(2, shape_msg((3,))) + f_bytes(4, b"\x00" * 8), "needs 12 bytes"),
        (tensor_typed(1, 5, "f4", (2,), [1.0, 2.0, 3.0]), "3 typed values"),
        (f_varint(1, 1) + f_bytes(2, f_bytes(2, f_varint(1, -1))), "size -1"),
        (f_varint(1, 1) + f_bytes(2, f_varint(3, 1)), "unknown rank"),
        (tensor_typed(1, 5, "f4", (1 << 40,), [1.0]), "byte limit"),
        (f_varint(1, 1) + f_bytes(2, b"") + f_bytes(5, b"abc"), "not a multiple of 4"),
        (f_varint(1, 9) + f_bytes(10, b"\x80"), "ends inside a varint"),
        (f_varint(1, 1) + key(5, 0) + b"\x01", "wire type 0; expected 5 or 2"),
        (key(1, 2) + b"\x00", "wrong wire type"),
    ],
)
def test_tensor_bad_bytes(data, match):
    with pytest.raises(CorruptRecordError, match=match):
        tfr.parse_tensor(data)


def test_parse_bad_types():
    with pytest.raises(InvalidInputError, match="expected the serialized message"):
        tfr.parse_tensor(np.zeros(3))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="expected the serialized message"):
        tfr.parse_example("text")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- tf.train.Example


def test_example_all_kinds_packed_and_unpacked():
    junk = f_varint(7, 3) + f_bytes(9, b"??")
    ex = example(
        {
            "b": feature_bytes([b"one", b"", b"three"]),
            "f": feature_floats([1.5, -2.25]),
            "fu": feature_floats([3.0, 4.0], packed=False),
            "i": feature_ints([1, -5, 1 << 40]),
            "iu": feature_ints([-1, 2], packed=False),
            "none": b"",
            "junk": junk + feature_ints([9]) + junk,
        },
        junk=junk,
    )
    got = tfr.parse_example(ex)
    assert got["b"] == tfr.Feature("bytes_list", (b"one", b"", b"three"))
    assert got["f"].kind == "float_list" and got["f"].value.dtype == np.float32
    np.testing.assert_array_equal(got["f"].value, [1.5, -2.25])
    np.testing.assert_array_equal(got["fu"].value, [3.0, 4.0])
    assert got["i"].kind == "int64_list" and got["i"].value.dtype == np.int64
    np.testing.assert_array_equal(got["i"].value, [1, -5, 1 << 40])
    np.testing.assert_array_equal(got["iu"].value, [-1, 2])
    assert got["none"].kind is None
    np.testing.assert_array_equal(got["junk"].value, [9])
    assert tfr.parse_example(b"") == {}


def test_example_bad_bytes():
    with pytest.raises(CorruptRecordError, match="wire type"):
        tfr.parse_example(f_varint(1, 5))
    with pytest.raises(CorruptRecordError, match="UTF-8"):
        tfr.parse_example(f_bytes(1, f_bytes(1, f_bytes(1, b"\xff\xfe"))))
    with pytest.raises(CorruptRecordError, match="BytesList value has wire type 0"):
        tfr.parse_example(example({"k": f_bytes(1, f_varint(1, 3))}))
    with pytest.raises(CorruptRecordError, match="announces"):
        tfr.parse_example(example({"k": feature_bytes([b"abc"])})[:-2])


# --------------------------------------------------------------------------------- PGDL shards


def write_shard(path, xs, ys):
    path.write_bytes(b"".join(record(pgdl_example(x, y)) for x, y in zip(xs, ys, strict=True)))
    return path


def test_read_pgdl_shards(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 4, 4, 3)).astype(np.float32)
    y = rng.integers(0, 10, 7).astype(np.int32)
    a = write_shard(tmp_path / "shard_0.tfrecord", x[:4], y[:4])
    b = write_shard(tmp_path / "shard_1.tfrecord", x[4:], y[4:])
    empty = tmp_path / "shard_2.tfrecord"
    empty.write_bytes(b"")
    gx, gy = tfr.read_pgdl_shards([a, b, empty])
    assert gx.dtype == np.float32 and gx.shape == (7, 4, 4, 3) and gy.shape == (7,)
    np.testing.assert_array_equal(gx, x)
    np.testing.assert_array_equal(gy, y)
    gx, _ = tfr.read_pgdl_shards(str(a))
    np.testing.assert_array_equal(gx, x[:4])
    gx, _ = tfr.read_pgdl_shards(p for p in (a, b))
    np.testing.assert_array_equal(gx, x)


def test_read_pgdl_shards_errors(tmp_path):
    x = np.zeros((2, 2, 1), np.float32)
    y = np.int32(1)
    ok = record(pgdl_example(x, np.array(y)))
    p = tmp_path / "s.tfrecord"
    p.write_bytes(ok + record(pgdl_example(np.zeros((3, 2, 1), np.float32), np.array(y))))
    with pytest.raises(ShapeError, match=r"s\.tfrecord', record 1 at byte offset \d+: inputs \(3, 2, 1\)"):
        tfr.read_pgdl_shards([p])
    good = feature_bytes([tensor_content(1, x)])
    p.write_bytes(ok + record(example({"inputs": good})))
    with pytest.raises(CorruptRecordError, match=r"record 1 .*no feature 'output'"):
        tfr.read_pgdl_shards([p])
    p.write_bytes(record(example({"inputs": feature_ints([1]), "output": feature_bytes([b""])})))
    with pytest.raises(CorruptRecordError, match=r"record 0 .*'inputs' is a int64_list"):
        tfr.read_pgdl_shards([p])
    p.write_bytes(record(example({"inputs": feature_bytes([b"not a tensor"]), "output": b""})))
    with pytest.raises(CorruptRecordError, match=r"s\.tfrecord', record 0 at byte offset 0: Tensor"):
        tfr.read_pgdl_shards([p])
    p.write_bytes(ok[:-1])
    with pytest.raises(CorruptRecordError, match="only"):
        tfr.read_pgdl_shards([p])
    p.write_bytes(b"")
    with pytest.raises(DataNotFoundError, match="hold no record"):
        tfr.read_pgdl_shards([p])
    with pytest.raises(DataNotFoundError, match="does not exist"):
        tfr.read_pgdl_shards([tmp_path / "missing.tfrecord"])
    with pytest.raises(InvalidInputError, match="non-empty list"):
        tfr.read_pgdl_shards([])
    with pytest.raises(InvalidInputError, match="non-empty list"):
        tfr.read_pgdl_shards(b"s.tfrecord")  # type: ignore[arg-type]
