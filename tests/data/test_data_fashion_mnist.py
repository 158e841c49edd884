import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from ifnd.data import load_dataset, parse_idx
from ifnd.data import fashion_mnist
from ifnd.errors import UserError



@pytest.mark.parametrize("compress", [True, False])
def test_idx_roundtrip_exact(fmt, tmp_path, compress):
    truth = fmt.write_fashion(tmp_path, compress=compress)
    for split in ("train", "test"):
        ds = load_dataset(fmt.data_cfg(root=str(tmp_path)), split)
        images, labels = truth[split]
        assert ds.images.dtype == torch.uint8 and ds.images.shape == (len(labels), 1, 28, 28)
        assert ds.images.is_contiguous()
        assert ds.labels.dtype == torch.int64
        assert torch.equal(ds.images[:, 0], torch.from_numpy(images))
        assert torch.equal(ds.labels, torch.from_numpy(labels.astype(np.int64)))
        assert ds.num_classes == 10 and ds.channels == 1 and len(ds) == len(labels)
        assert ds.in_memory is True and ds.name == "fashion-mnist"


def test_root_with_fashion_subfolder_and_env(fmt, tmp_path, monkeypatch):
    truth = fmt.write_fashion(tmp_path / "fashion-mnist")
    ds = load_dataset(fmt.data_cfg(root=str(tmp_path)), "test")
    assert torch.equal(ds.images[:, 0], torch.from_numpy(truth["test"][0]))
    monkeypatch.setenv("IFND_DATA", str(tmp_path))
    ds = load_dataset(fmt.data_cfg(), "train")
    assert torch.equal(ds.images[:, 0], torch.from_numpy(truth["train"][0]))


def test_parse_idx_header_checks(fmt):
    good = fmt.idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 2, 2))
    assert parse_idx(good, "x", 3).tolist() == np.arange(12).reshape(3, 2, 2).tolist()
    with pytest.raises(UserError, match="magic"):
        parse_idx(b"\x01" + good[1:], "x", 3)
    with pytest.raises(UserError, match="data type"):
        parse_idx(good[:2] + b"\x0d" + good[3:], "x", 3)
    with pytest.raises(UserError, match="dimensions"):
        parse_idx(good, "x", 1)
    with pytest.raises(UserError, match="truncated"):
        parse_idx(good[:-1], "x", 3)
    with pytest.raises(UserError, match="too long"):
        parse_idx(good + b"\x00", "x", 3)
    with pytest.raises(UserError, match="truncated"):
        parse_idx(good[:9], "x", 3)


def test_truncated_gzip_raises_usererror(fmt, tmp_path):
    fmt.write_fashion(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(UserError, match="train-images-idx3-ubyte.gz"):
        load_dataset(fmt.data_cfg(root=str(tmp_path)), "train")


def test_truncated_idx_payload_raises_usererror(fmt, tmp_path):
    fmt.write_fashion(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[:-3]))
    with pytest.raises(UserError, match="truncated"):
        load_dataset(fmt.data_cfg(root=str(tmp_path)), "test")


def test_count_mismatch_and_bad_labels(fmt, tmp_path):
    truth = fmt.write_fashion(tmp_path)
    fmt.write_idx(tmp_path / "t10k-labels-idx1-ubyte", truth["test"][1][:-1])
    with pytest.raises(UserError, match="labels"):
        load_dataset(fmt.data_cfg(root=str(tmp_path)), "test")
    fmt.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(len(truth["test"][1]), 12))
    with pytest.raises(UserError, match="out of range"):
        load_dataset(fmt.data_cfg(root=str(tmp_path)), "test")


def test_missing_files_message(fmt, tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError, match="dataset-fashion-mnist") as exc:
        load_dataset(fmt.data_cfg(root=str(missing)), "train")
    assert str(missing) in str(exc.value)
    # default search path: nothing in any candidate folder
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "sys")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="not found in .*sys.*data/fashion-mnist"):
        load_dataset(fmt.data_cfg(), "train")


REAL = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not (REAL / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian package dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_train(fmt):
    ds = load_dataset(fmt.data_cfg(), "train")
    assert ds.images.shape == (60000, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.num_classes == 10
    assert torch.bincount(ds.labels).tolist() == [6000] * 10
    sub = load_dataset(fmt.data_cfg(train_subset=1000, classes=[9, 0]), "train")
    assert sub.images.shape == (1000, 1, 28, 28)
    assert torch.bincount(sub.labels).tolist() == [500, 500]
