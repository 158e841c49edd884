"""Fashion-MNIST from its four IDX files (gzipped or not); 10 classes of 28x28 grey images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .base import ArrayDataset
from .idx import read_idx

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_ROOT = Path("data")


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _has_files(folder: Path) -> bool:
    return all(_find(folder, stem) is not None for pair in FILES.values() for stem in pair)


def candidate_dirs(root: str | None) -> list[Path]:
    if root:
        base = Path(root).expanduser()
        return [base, base / "fashion-mnist", base / "FashionMNIST" / "raw"]
    dirs = []
    if os.environ.get("IFND_DATA"):
        dirs.append(Path(os.environ["IFND_DATA"]).expanduser() / "fashion-mnist")
    dirs += [SYSTEM_DIR, Path("data/fashion-mnist"), DOWNLOAD_ROOT / "FashionMNIST" / "raw"]
    return dirs


def find_root(root: str | None) -> Path:
    tried = candidate_dirs(root)
    for folder in tried:
        if _has_files(folder):
            return folder
    if not root and os.environ.get("IFND_ALLOW_DOWNLOAD") == "1":
        import torchvision  # only on explicit request

        torchvision.datasets.FashionMNIST(str(DOWNLOAD_ROOT), train=True, download=True)
        torchvision.datasets.FashionMNIST(str(DOWNLOAD_ROOT), train=False, download=True)
        folder = DOWNLOAD_ROOT / "FashionMNIST" / "raw"
        if _has_files(folder):
            return folder
    paths = ", ".join(str(p) for p in tried)
    raise UserError(f"fashion-mnist not found in {paths}; install the Debian package "
                    f"dataset-fashion-mnist or set data.root")


def load_fashion_mnist(data_cfg: dict, split: str) -> ArrayDataset:
    folder = find_root(data_cfg.get("root"))
    img_stem, lab_stem = FILES[split]
    img_path, lab_path = _find(folder, img_stem), _find(folder, lab_stem)
    images = read_idx(img_path, 3)
    labels = read_idx(lab_path, 1)
    if images.shape[0] != labels.shape[0]:
        raise UserError(f"{img_path} holds {images.shape[0]} images but {lab_path} holds "
                        f"{labels.shape[0]} labels")
    if labels.size and int(labels.max()) >= 10:
        raise UserError(f"{lab_path}: label {int(labels.max())} is out of range 0..9")
    n, h, w = images.shape
    return ArrayDataset(
        images=torch.from_numpy(images.reshape(n, 1, h, w).copy()),
        labels=torch.from_numpy(labels.astype(np.int64)),
        num_classes=10,
        name="fashion-mnist",
        class_names=list(CLASS_NAMES),
    )
