"""Tests of the MNIST / Fashion-MNIST loaders, the bundled sample, downloads and helpers.

No test touches the network: downloads go through a fake URL opener that serves
local bytes. Tests on the real data run only when ``TOPOLENS_DATA`` points at a
folder holding ``mnist/`` (e.g. ``TOPOLENS_DATA=/work/shared/data``), else they skip.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from topolens.datasets import (
    _download,
    as_tensor_dataset,
    data_root,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_mnist_sample,
    mnist,
    sample_indices,
    write_idx,
)
from topolens.datasets.idx import idx_bytes
from topolens.exceptions import (
    DataNotFoundError,
    IntegrityError,
    InvalidInputError,
    NonFiniteError,
    ShapeError,
)

# Read once at import, before any test changes the environment.
_REAL_ROOT = os.environ.get("TOPOLENS_DATA", "")
_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Fail loudly if any code path tries to open a URL without a fake opener."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(_download, "_urlopen", refuse)


def _real_root() -> Path:
    root = Path(_REAL_ROOT) if _REAL_ROOT else None
    if root is None or not (root / "mnist" / "train-labels-idx1-ubyte.gz").is_file():
        pytest.skip("real MNIST not available (set TOPOLENS_DATA to a folder with mnist/)")
    return root


@pytest.fixture(scope="module")
def real_train():
    return load_mnist(_real_root(), split="train")


def _fake_split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def _write_fake(root: Path, folder: str = "mnist", n_train: int = 20, n_test: int = 10):
    out = {}
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = _fake_split(n, seed)
        img_name, lbl_name = mnist._FILES[split]
        write_idx(root / folder / img_name, images)
        write_idx(root / folder / lbl_name, labels)
        out[split] = (images, labels)
    return out


# --------------------------------------------------------------------------- data root


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TOPOLENS_DATA", raising=False)
    assert data_root() == tmp_path / "home" / ".cache" / "topolens"
    monkeypatch.setenv("TOPOLENS_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root("~/x") == tmp_path / "home" / "x"
    monkeypatch.setenv("TOPOLENS_DATA", "")
    assert data_root() == tmp_path / "home" / ".cache" / "topolens"
    assert not (tmp_path / "home").exists()  # data_root creates nothing


# --------------------------------------------------------------------------- local files


def test_load_from_root_argument(tmp_path):
    fake = _write_fake(tmp_path)
    for split in ("train", "test"):
        images, labels = load_mnist(tmp_path, split=split)
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
        assert labels.dtype == np.int64 and labels.shape == (images.shape[0],)
        np.testing.assert_array_equal(images, fake[split][0])
        np.testing.assert_array_equal(labels, fake[split][1])


def test_topolens_data_respected(tmp_path, monkeypatch):
    fake = _write_fake(tmp_path / "env")
    monkeypatch.setenv("TOPOLENS_DATA", str(tmp_path / "env"))
    images, _ = load_mnist(split="test")
    np.testing.assert_array_equal(images, fake["test"][0])
    # an explicit root wins over the environment variable
    _write_fake(tmp_path / "arg", n_test=3)
    assert load_mnist(tmp_path / "arg", split="test")[0].shape[0] == 3


def test_fashion_mnist_uses_its_own_folder(tmp_path):
    fake = _write_fake(tmp_path, folder="fashion-mnist")
    images, labels = load_fashion_mnist(tmp_path, split="train")
    np.testing.assert_array_equal(images, fake["train"][0])
    np.testing.assert_array_equal(labels, fake["train"][1])
    with pytest.raises(DataNotFoundError):
        load_mnist(tmp_path)
    assert len(mnist.FASHION_MNIST_CLASSES) == 10


def test_uncompressed_files_accepted(tmp_path):
    images, labels = _fake_split(7)
    write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte", images)
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte", labels)
    np.testing.assert_array_equal(load_mnist(tmp_path, split="test")[0], images)


def test_missing_data_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOLENS_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(split="train")
    msg = str(info.value)
    assert str(tmp_path / "nowhere" / "mnist" / "train-images-idx3-ubyte.gz") in msg
    assert "TOPOLENS_DATA" in msg and "root" in msg
    assert "download=True" in msg
    assert "load_mnist_sample" in msg
    assert isinstance(info.value, FileNotFoundError)
    assert not (tmp_path / "nowhere").exists()


def test_missing_one_file_lists_only_it(tmp_path):
    _write_fake(tmp_path)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match="t10k-labels") as info:
        load_mnist(tmp_path, split="test")
    assert "t10k-images" not in str(info.value)


def test_bad_split(tmp_path):
    with pytest.raises(InvalidInputError, match="'train' or 'test'"):
        load_mnist(tmp_path, split="validation")
    with pytest.raises(InvalidInputError):
        load_mnist_sample("val")


def test_inconsistent_files(tmp_path):
    _write_fake(tmp_path, n_train=20)
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(IntegrityError, match=r"20 images but .* 19 labels"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.full(20, 11, np.uint8))
    with pytest.raises(IntegrityError, match=r"0\.\.9"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "mnist" / "train-images-idx3-ubyte.gz", np.zeros((20, 32, 32), np.uint8))
    with pytest.raises(IntegrityError, match=r"\(N, 28, 28\)"):
        load_mnist(tmp_path)


def test_truncated_local_file(tmp_path):
    _write_fake(tmp_path)
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(IntegrityError, match="truncated") as info:
        load_mnist(tmp_path)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- download


class _FakeResponse(io.BytesIO):
    pass


class _FakeOpener:
    """Serves bytes per URL; a URL mapped to an exception raises it."""

    def __init__(self, table: dict[str, bytes | Exception]):
        self.table = table
        self.calls: list[str] = []

    def __call__(self, request, timeout=None):
        url = request.full_url if hasattr(request, "full_url") else request
        self.calls.append(url)
        item = self.table.get(url, urllib.error.HTTPError(url, 404, "Not Found", None, None))
        if isinstance(item, Exception):
            raise item
        return _FakeResponse(item)


def _tiny_release(monkeypatch, spec, split="test", n=12):
    """Tiny gz files for ``split`` with their checksums patched into ``spec``."""
    images, labels = _fake_split(n)
    files = {}
    for name, arr in zip(mnist._FILES[split], (images, labels), strict=True):
        raw = idx_bytes(arr)
        files[name] = gzip.compress(raw)
        monkeypatch.setitem(spec.sha256, name, _download.payload_sha256(raw))
    return images, labels, files


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_good(tmp_path, monkeypatch):
    images, labels, files = _tiny_release(monkeypatch, mnist._MNIST)
    base = mnist._MNIST.mirrors[0]
    opener = _FakeOpener({base + k: v for k, v in files.items()})
    monkeypatch.setattr(_download, "_urlopen", opener)
    got_images, got_labels = load_mnist(tmp_path, split="test", download=True)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert _leftovers(tmp_path / "mnist") == sorted(files)  # no temporary files
    for name, data in files.items():
        path = tmp_path / "mnist" / name
        assert path.read_bytes() == data
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # second call: files exist, nothing is fetched again
    n_calls = len(opener.calls)
    load_mnist(tmp_path, split="test", download=True)
    assert len(opener.calls) == n_calls


def test_download_falls_back_to_next_mirror(tmp_path, monkeypatch):
    _, _, files = _tiny_release(monkeypatch, mnist._FASHION_MNIST)
    first, second = mnist._FASHION_MNIST.mirrors[:2]
    table: dict[str, bytes | Exception] = {second + k: v for k, v in files.items()}
    table.update({first + k: urllib.error.URLError("connection refused") for k in files})
    opener = _FakeOpener(table)
    monkeypatch.setattr(_download, "_urlopen", opener)
    load_fashion_mnist(tmp_path, split="test", download=True)
    assert opener.calls[0].startswith(first) and opener.calls[1].startswith(second)
    assert _leftovers(tmp_path / "fashion-mnist") == sorted(files)


def test_download_recompressed_copy_accepted(tmp_path, monkeypatch):
    # checksums are on the decompressed content: another gzip level/header is fine
    _, _, files = _tiny_release(monkeypatch, mnist._MNIST)
    base = mnist._MNIST.mirrors[0]
    table = {base + k: gzip.compress(gzip.decompress(v), compresslevel=1, mtime=123) for k, v in files.items()}
    monkeypatch.setattr(_download, "_urlopen", _FakeOpener(table))
    load_mnist(tmp_path, split="test", download=True)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_download_bad_checksum(tmp_path, monkeypatch, damage):
    _, _, files = _tiny_release(monkeypatch, mnist._MNIST)
    bad = {}
    for name, data in files.items():
        if damage == "flip":
            raw = bytearray(gzip.decompress(data))
            raw[-1] ^= 0xFF
            bad[name] = gzip.compress(bytes(raw))
        else:
            bad[name] = data[: len(data) // 2]
    table = {m + k: v for m in mnist._MNIST.mirrors for k, v in bad.items()}
    opener = _FakeOpener(table)
    monkeypatch.setattr(_download, "_urlopen", opener)
    with pytest.raises(IntegrityError, match="failed verification") as info:
        load_mnist(tmp_path, split="test", download=True)
    msg = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in msg
    assert "SHA-256" in msg if damage == "flip" else "truncated or corrupt" in msg
    assert len(opener.calls) == len(mnist._MNIST.mirrors)  # every mirror tried
    assert _leftovers(tmp_path / "mnist") == []  # nothing written, not even partially


def test_download_unreachable(tmp_path, monkeypatch):
    monkeypatch.setattr(_download, "_urlopen", _FakeOpener({}))  # every URL -> 404
    with pytest.raises(DataNotFoundError, match="Could not download") as info:
        load_mnist(tmp_path, split="train", download=True)
    assert "404" in str(info.value)
    assert _leftovers(tmp_path / "mnist") == []


def test_download_interrupted_leaves_no_file(tmp_path, monkeypatch):
    _tiny_release(monkeypatch, mnist._MNIST)

    class Broken(_FakeResponse):
        def read(self, *args):
            raise ConnectionResetError("connection reset by peer")

    def opener(request, timeout=None):
        return Broken(b"")

    monkeypatch.setattr(_download, "_urlopen", opener)
    with pytest.raises(DataNotFoundError, match="connection reset"):
        load_mnist(tmp_path, split="test", download=True)
    assert _leftovers(tmp_path / "mnist") == []


def test_write_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    _, _, files = _tiny_release(monkeypatch, mnist._MNIST)
    base = mnist._MNIST.mirrors[0]
    monkeypatch.setattr(_download, "_urlopen", _FakeOpener({base + k: v for k, v in files.items()}))
    import topolens._io as tio

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(tio.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        load_mnist(tmp_path, split="test", download=True)
    assert _leftovers(tmp_path / "mnist") == []


@pytest.mark.parametrize("spec", [mnist._MNIST, mnist._FASHION_MNIST], ids=["mnist", "fashion"])
def test_real_files_match_hard_coded_checksums(spec):
    root = _real_root() / spec.folder
    if not root.is_dir():
        pytest.skip(f"{root} not available")
    for name, expected in spec.sha256.items():
        assert _download.payload_sha256((root / name).read_bytes()) == expected, name


def test_download_real_bytes_verified(tmp_path, monkeypatch):
    # Serve the real test-split files through the fake opener with the real checksums.
    src = _real_root() / "mnist"
    base = mnist._MNIST.mirrors[0]
    names = mnist._FILES["test"]
    monkeypatch.setattr(
        _download, "_urlopen", _FakeOpener({base + n: (src / n).read_bytes() for n in names})
    )
    images, labels = load_mnist(tmp_path, split="test", download=True)
    assert images.shape == (10000, 28, 28)
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --------------------------------------------------------------------------- real data


def test_real_mnist_train(real_train):
    images, labels = real_train
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == _TRAIN_COUNTS


# --------------------------------------------------------------------------- bundled sample


def test_sample_loads_and_is_balanced():
    for split, per_class in (("train", 600), ("test", 100)):
        images, labels = load_mnist_sample(split)
        assert images.shape == (10 * per_class, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (10 * per_class,) and labels.dtype == np.int64
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
        assert images.max() == 255 and images.min() == 0
        idx = sample_indices(split)
        assert idx.shape == labels.shape
        assert np.all(np.diff(idx) > 0)
        assert idx[0] >= 0 and idx[-1] < (60000 if split == "train" else 10000)


def test_sample_is_shipped_and_small():
    from importlib import resources

    ref = resources.files("topolens.datasets") / "_data" / "mnist_sample.npz"
    assert ref.is_file()
    assert len(ref.read_bytes()) < 2_500_000


def test_sample_matches_real_mnist(real_train):
    images, labels = real_train
    idx = sample_indices("train")
    s_images, s_labels = load_mnist_sample("train")
    np.testing.assert_array_equal(images[idx], s_images)
    np.testing.assert_array_equal(labels[idx], s_labels)


# --------------------------------------------------------------------------- digits, torch


def test_load_digits():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert set(np.unique(labels).tolist()) == set(range(10))


def test_as_tensor_dataset_uint8():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8).repeat(3, axis=0)
    ds = as_tensor_dataset(images, np.array([1, 2, 3]))
    assert isinstance(ds, torch.utils.data.TensorDataset)
    assert len(ds) == 3
    x, y = ds[1]
    assert x.shape == (1, 2, 2) and x.dtype == torch.float32
    torch.testing.assert_close(x[0], torch.tensor([[0.0, 1.0], [0.2, 0.4]]))
    assert y.dtype == torch.int64 and int(y) == 2
    images[:] = 0  # no shared memory with the input
    assert float(ds.tensors[0].max()) == 1.0


def test_as_tensor_dataset_float_and_4d():
    images, labels = load_digits()
    ds = as_tensor_dataset(images[:10], labels[:10])
    np.testing.assert_array_equal(ds.tensors[0][:, 0].numpy(), images[:10])
    ds4 = as_tensor_dataset(torch.rand(4, 3, 5, 5), torch.arange(4))
    assert ds4.tensors[0].shape == (4, 3, 5, 5)


def test_as_tensor_dataset_errors():
    ok = np.zeros((2, 4, 4), np.uint8)
    with pytest.raises(ShapeError):
        as_tensor_dataset(np.zeros((2, 16), np.uint8), [0, 1])
    with pytest.raises(ShapeError):
        as_tensor_dataset(ok, [0, 1, 2])
    with pytest.raises(ShapeError):
        as_tensor_dataset(ok, [[0, 1]])
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        as_tensor_dataset(ok.astype(np.float32) + 255, [0, 1])
    with pytest.raises(InvalidInputError, match="uint8"):
        as_tensor_dataset(ok.astype(np.int32), [0, 1])
    with pytest.raises(InvalidInputError, match="integers"):
        as_tensor_dataset(ok, [0.5, 1.0])
    with pytest.raises(NonFiniteError):
        as_tensor_dataset(np.full((2, 4, 4), np.nan, np.float32), [0, 1])
