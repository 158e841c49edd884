"""Writers for tiny datasets in the official on-disk formats, shared by the data tests through
the ``fmt`` fixture (``fmt.write_fashion(...)``, ``fmt.data_cfg(...)``)."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest


def data_cfg(**overrides) -> dict:
    cfg = {"name": "fashion-mnist", "root": None, "train_subset": None, "val_subset": None, "test_subset": None,
           "classes": None, "label_kind": "fine", "image_size": 32, "subset_seed": 0}
    cfg.update(overrides)
    return cfg


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    magic = bytes([0, 0, 0x08, array.ndim])
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return magic + dims + array.tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    data = idx_bytes(array)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_fashion(root: Path, n_train: int = 30, n_test: int = 20, seed: int = 0, compress: bool = True):
    """Random Fashion-MNIST-format files; returns {split: (images (N,28,28), labels (N,))}."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        write_idx(root / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(root / f"{prefix}-labels-idx1-ubyte", labels, compress)
        out[split] = (images, labels)
    return out


def _dump(path: Path, obj) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def write_cifar10(root: Path, per_batch: int = 6, n_test: int = 8, seed: int = 0):
    """A cifar-10-batches-py folder; returns {split: (data (N,3072), labels (N,))}."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_data, train_labels = [], []
    for i in range(1, 6):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(x) for x in rng.integers(0, 10, per_batch)]
        _dump(folder / f"data_batch_{i}", {b"batch_label": f"training batch {i} of 5".encode(),
                                          b"data": data, b"labels": labels,
                                          b"filenames": [b"x.png"] * per_batch})
        train_data.append(data)
        train_labels += labels
    test = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    test_labels = [int(x) for x in rng.integers(0, 10, n_test)]
    _dump(folder / "test_batch", {b"data": test, b"labels": test_labels})
    _dump(folder / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)],
                                    b"num_cases_per_batch": per_batch})
    return {"train": (np.concatenate(train_data), np.array(train_labels)),
            "test": (test, np.array(test_labels))}


def write_cifar100(root: Path, n_train: int = 12, n_test: int = 6, seed: int = 0):
    """A cifar-100-python folder; returns {split: (data, fine, coarse)}."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = [int(x) for x in rng.integers(0, 100, n)]
        coarse = [f // 5 for f in fine]
        _dump(folder / split, {b"data": data, b"fine_labels": fine, b"coarse_labels": coarse})
        out[split] = (data, np.array(fine), np.array(coarse))
    _dump(folder / "meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                            b"coarse_label_names": [f"k{i}".encode() for i in range(20)]})
    return out


@pytest.fixture
def fmt():
    """This module: the writers above."""
    import sys

    return sys.modules[__name__]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    monkeypatch.delenv("IFND_DATA", raising=False)
    monkeypatch.delenv("IFND_ALLOW_DOWNLOAD", raising=False)
