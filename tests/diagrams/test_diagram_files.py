"""PersistenceDiagrams.save / load / to_dict / from_dict on good, hostile and foreign inputs."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from topolens import InvalidInputError, PersistenceDiagrams, TopolensError


def _example() -> PersistenceDiagrams:
    return PersistenceDiagrams(
        [[[0.0, 0.5], [0.0, 1.0], [0.0, np.inf]], [[0.2, 0.9], [0.3, np.inf]]],
        censored=[[False, False, False], [False, True]],
        pairs=[[[1, 1, 0, 1], [2, 2, 1, 2], [0, 0, -1, -1]], [[0, 1, 2, 3], [1, 2, -1, -1]]],
        metadata={"threshold": 1.2, "dissimilarity": "abs_correlation", "n": np.int64(3)},
    )


def _members(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _rewrite(path, **changes) -> None:
    """Rewrite a saved file with some members replaced (None: removed)."""
    arrays = _members(path)
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    np.savez(path, **arrays)


def _header(**over) -> np.ndarray:
    h = {"format": "topolens.PersistenceDiagrams", "version": 1, "max_dim": 1, "has_pairs": True,
         "metadata": {}}
    h.update(over)
    return np.frombuffer(json.dumps(h).encode(), dtype=np.uint8)


def test_roundtrip_keeps_everything(tmp_path):
    d = _example()
    e = PersistenceDiagrams.load(d.save(tmp_path / "d.npz"))
    for k in d.dims:
        np.testing.assert_array_equal(e[k], d[k])
        np.testing.assert_array_equal(e.censored[k], d.censored[k])
        np.testing.assert_array_equal(e.pairs[k], d.pairs[k])
        assert e.pairs[k].dtype == np.int64 and e.censored[k].dtype == bool
    assert e.metadata == {"threshold": 1.2, "dissimilarity": "abs_correlation", "n": 3}
    f = PersistenceDiagrams.from_dict(json.loads(json.dumps(d.to_dict())))
    assert f.allclose(d) and f.metadata == e.metadata


def test_truncated_at_every_kind_of_offset(tmp_path):
    good = _example().save(tmp_path / "good.npz").read_bytes()
    offsets = sorted({0, 1, 2, 4, 10, 30, 100, len(good) // 3, len(good) // 2, len(good) - 22,
                      len(good) - 2, len(good) - 1} | set(range(0, len(good), max(1, len(good) // 40))))
    for cut in offsets:
        p = tmp_path / f"cut{cut}.npz"
        p.write_bytes(good[:cut])
        with pytest.raises(InvalidInputError, match=str(p)):
            PersistenceDiagrams.load(p)


def test_every_flipped_byte_is_an_error_or_a_valid_diagram(tmp_path):
    good = _example().save(tmp_path / "good.npz").read_bytes()
    p = tmp_path / "flip.npz"
    for i in range(0, len(good), 7):
        p.write_bytes(good[:i] + bytes([good[i] ^ 0x5A]) + good[i + 1:])
        try:
            d = PersistenceDiagrams.load(p)
        except TopolensError as exc:
            assert str(p) in str(exc)
        else:
            assert all(x.shape[1] == 2 and not np.isnan(x).any() for x in d)


def test_empty_missing_and_directory(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="0 bytes"):
        PersistenceDiagrams.load(tmp_path / "empty.npz")
    with pytest.raises(InvalidInputError, match="does not exist"):
        PersistenceDiagrams.load(tmp_path / "nope.npz")
    with pytest.raises(InvalidInputError, match="directory"):
        PersistenceDiagrams.load(tmp_path)


def test_foreign_files(tmp_path):
    np.savez(tmp_path / "plain.npz", dgms=np.zeros((3, 2)), x=np.arange(4))  # another tool's arrays
    with pytest.raises(InvalidInputError, match=r"not a topolens diagrams file.*dgms, x"):
        PersistenceDiagrams.load(tmp_path / "plain.npz")
    np.save(tmp_path / "one.npy", np.zeros((3, 2)))
    with pytest.raises(InvalidInputError, match=r"not a readable \.npz"):
        PersistenceDiagrams.load(tmp_path / "one.npy")
    with zipfile.ZipFile(tmp_path / "junk.npz", "w") as z:
        z.writestr("header.npy", b"\x93NUMPY garbage")
        z.writestr("readme.txt", "hello")
    with pytest.raises(InvalidInputError, match="header"):
        PersistenceDiagrams.load(tmp_path / "junk.npz")
    (tmp_path / "text.npz").write_text("birth,death\n0,1\n")
    with pytest.raises(InvalidInputError, match="not a readable"):
        PersistenceDiagrams.load(tmp_path / "text.npz")


def test_object_arrays_are_never_unpickled(tmp_path):
    p = _example().save(tmp_path / "d.npz")
    arrays = _members(p)
    arrays["dgm_0"] = np.array([[0.0, 1.0], [0.0, None]], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # allow_pickle is on when saving object arrays
    p.write_bytes(buf.getvalue())
    with pytest.raises(InvalidInputError, match="Python objects"):
        PersistenceDiagrams.load(p)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"pairs_0": np.array([[1, 1, 0, 1], [2, 2, 1, 2], [0, 0, np.nan, -1]])}, "NaN or infinite"),
        ({"pairs_0": np.array([[1, 1, 0, 1], [2, 2, 1, 2], [0, 0, -1, 1e30]])}, "not an int64"),
        ({"pairs_0": np.array([[1, 1, 0, 1], [2, 2, 1, 2], [0, 0, -1, -1.5]])}, "not an int64"),
        ({"pairs_0": np.array([[1, 1, 0, 1], [2, 2, 1, 2], [0, 0, 3, 4]])}, "death edge"),
        ({"pairs_0": np.array([[1, 1, 0, -1], [2, 2, 1, 2], [0, 0, -1, -1]])}, "death edge"),
        ({"pairs_0": np.array([[1, 1, 0, 1], [2, 2, 1, 2]])}, "2 rows for 3 points"),
        ({"pairs_1": np.zeros((2, 3), dtype=np.int64)}, "shape"),
        ({"censored_1": np.array([[False], [True]])}, "1-D"),
        ({"censored_1": np.array([0.0, 0.5])}, "boolean"),
        ({"censored_1": np.array([False, False, True])}, "3 entries for 2 points"),
        ({"censored_0": np.array([True, False, False])}, "finite death"),
        ({"dgm_0": np.array([[0.0, 0.5], [0.0, np.nan], [0.0, np.inf]])}, "NaN"),
        ({"dgm_0": np.array([[0.0, 0.5, 1.0]])}, "shape"),
        ({"dgm_0": np.array(["0", "1"])}, "numeric"),
        ({"dgm_0": np.array([[1.0, 0.5], [0.0, 1.0], [0.0, np.inf]])}, "death < birth"),
        ({"dgm_1": None}, "'dgm_1' is missing"),
        ({"pairs_1": None}, "'pairs_1' is missing"),
        ({"header": _header(max_dim=-1)}, "max_dim"),
        ({"header": _header(max_dim=10**12)}, "max_dim"),
        ({"header": _header(max_dim="1")}, "max_dim"),
        ({"header": _header(has_pairs="yes")}, "has_pairs"),
        ({"header": _header(version=99)}, "version 99"),
        ({"header": _header(format="other")}, "not a topolens diagrams file"),
        ({"header": _header(metadata=[1, 2])}, "metadata must be a dict"),
        ({"header": np.frombuffer(b"{not json", dtype=np.uint8)}, "not valid JSON"),
        ({"header": np.frombuffer(b"\xff\xfe", dtype=np.uint8)}, "not valid JSON"),
        ({"header": np.zeros((2, 2))}, "uint8"),
    ],
)
def test_malformed_fields_name_the_file_and_field(tmp_path, changes, match):
    p = _example().save(tmp_path / "d.npz")
    _rewrite(p, **changes)
    with pytest.raises(InvalidInputError, match=match) as info:
        PersistenceDiagrams.load(p)
    assert str(p) in str(info.value)


def test_declared_shape_beyond_stored_bytes(tmp_path):
    """A forged .npy header must not make load allocate what it declares."""
    p = _example().save(tmp_path / "d.npz")
    arrays = _members(p)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in arrays.items():
            b = io.BytesIO()
            if k == "dgm_0":  # a valid header declaring 300e9 rows over the 3 rows stored
                np.lib.format.write_array_header_1_0(
                    b, {"descr": "<f8", "fortran_order": False, "shape": (300_000_000_000, 2)})
                b.write(v.astype("<f8").tobytes())
            else:
                np.lib.format.write_array(b, v)
            raw = b.getvalue()
            z.writestr(f"{k}.npy", raw)
    p.write_bytes(buf.getvalue())
    with pytest.raises(InvalidInputError, match=r"declares shape \(300000000000, 2\)"):
        PersistenceDiagrams.load(p)


def test_save_refuses_unserialisable_metadata_and_directories(tmp_path):
    with pytest.raises(InvalidInputError, match="JSON"):
        PersistenceDiagrams([[[0.0, 1.0]]], metadata={"f": object()})
    d = PersistenceDiagrams([[[0.0, 1.0]]])
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(InvalidInputError, match="directory"):
        d.save(tmp_path / "dir.npz")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([1, 2], "dict made by to_dict"),
        ({"censored": []}, "dgms"),
        ({"dgms": [[[0, 1]]], "extra": 1}, "keys"),
        ({"dgms": "abc"}, "list"),
        ({"dgms": [[[0, "x"]]]}, "numbers"),
        ({"dgms": [[[0, None]]]}, "numbers"),
        ({"dgms": [[[0, 1, 2]]]}, "pair"),
        ({"dgms": [[[0, "inf"]]], "censored": [[0.5]]}, "booleans"),
        ({"dgms": [[[0, "inf"]]], "censored": [[[True]]]}, "1-D"),
        ({"dgms": [[[0, 1]]], "pairs": [[[0, 0, 0, 1.5]]]}, "int64"),
        ({"dgms": [[[0, 1]]], "metadata": "x"}, "metadata must be a dict"),
        ({"dgms": [[[0, 1]]], "metadata": {1: 2}}, "keys must be strings"),
    ],
)
def test_from_dict_validates(data, match):
    with pytest.raises(InvalidInputError, match=match):
        PersistenceDiagrams.from_dict(data)
