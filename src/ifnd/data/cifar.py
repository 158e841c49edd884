"""CIFAR-10 / CIFAR-100 in torchvision's "python version" pickle layout.

``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` and
``<root>/cifar-100-python/{train, test, meta}``; each batch is a pickled dict with ``b"data"``
(N, 3072) uint8 -- the R, G and B planes of a 32x32 image, each row-major -- and
``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` / ``b"coarse_labels"`` (CIFAR-100).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .base import ArrayDataset

LAYOUT = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": "batches.meta",
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": "meta",
    },
}
DOWNLOAD_CLASS = {"cifar10": "CIFAR10", "cifar100": "CIFAR100"}


def _default_root() -> Path:
    return Path(os.environ["IFND_DATA"]).expanduser() if os.environ.get("IFND_DATA") else Path("data")


def find_folder(name: str, root: str | None) -> Path:
    base = Path(root).expanduser() if root else _default_root()
    sub = LAYOUT[name]["folder"]
    for folder in (base / sub, base):
        if folder.name == sub and folder.is_dir():
            return folder
    if os.environ.get("IFND_ALLOW_DOWNLOAD") == "1":
        import torchvision  # only on explicit request

        getattr(torchvision.datasets, DOWNLOAD_CLASS[name])(str(base), download=True)
        if (base / sub).is_dir():
            return base / sub
    raise UserError(
        f"{name} not found: {base / sub} does not exist; put torchvision's python-version "
        f"archive there (e.g. torchvision.datasets.{DOWNLOAD_CLASS[name]}(root='{base}', download=True) "
        f"on a machine with internet, or set IFND_ALLOW_DOWNLOAD=1), or set data.root"
    )


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"CIFAR file missing: {path}")
    try:
        with open(path, "rb") as fh:
            obj = pickle.load(fh, encoding="bytes")
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, ... on a corrupt file
        raise UserError(f"{path} is not a readable CIFAR pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path} is not a CIFAR batch: expected a pickled dict, got {type(obj).__name__}")
    return obj


def _get(d: dict, key: str, path: Path):
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    raise UserError(f"{path} lacks the key {key!r} (has {sorted(str(k) for k in d)})")


def _names(folder: Path, meta: str, key: str) -> list[str] | None:
    path = folder / meta
    if not path.is_file():
        return None
    try:
        values = _get(_unpickle(path), key, path)
        return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
    except UserError:
        return None


def load_cifar(data_cfg: dict, split: str, name: str) -> ArrayDataset:
    layout = LAYOUT[name]
    folder = find_folder(name, data_cfg.get("root"))
    if name == "cifar10":
        label_key, num_classes, names_key = "labels", 10, "label_names"
    elif data_cfg.get("label_kind", "fine") == "coarse":
        label_key, num_classes, names_key = "coarse_labels", 20, "coarse_label_names"
    else:
        label_key, num_classes, names_key = "fine_labels", 100, "fine_label_names"

    images, labels = [], []
    for fname in layout[split]:
        path = folder / fname
        batch = _unpickle(path)
        data = np.asarray(_get(batch, "data", path))
        lab = np.asarray(_get(batch, label_key, path))
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise UserError(f"{path}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
        if lab.ndim != 1 or lab.shape[0] != data.shape[0]:
            raise UserError(f"{path}: {data.shape[0]} images but labels of shape {lab.shape}")
        if lab.size and (lab.min() < 0 or lab.max() >= num_classes):
            raise UserError(f"{path}: {label_key} outside 0..{num_classes - 1}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(lab.astype(np.int64))
    return ArrayDataset(
        images=torch.from_numpy(np.ascontiguousarray(np.concatenate(images))),
        labels=torch.from_numpy(np.concatenate(labels)),
        num_classes=num_classes,
        name=name,
        class_names=_names(folder, layout["meta"], names_key),
    )
