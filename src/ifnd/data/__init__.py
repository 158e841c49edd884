"""Datasets: Fashion-MNIST, Fashion-MNIST scenes (garments on photographs), CIFAR-10/100,
ImageFolder trees and a synthetic smoke-test set.

``load_dataset(cfg["data"], "train" | "val" | "test")`` returns an :class:`ArrayDataset` (the
whole dataset as one uint8 tensor at its native size) or, for ``imagefolder``, a
:class:`FolderDataset` that reads images from disk. ``data.classes`` (keep and relabel some
classes) and ``data.train_subset`` / ``data.test_subset`` (a deterministic class-balanced
subset) are applied here; nothing is cached on disk.

The validation split (``data.val_subset`` images, class-balanced) is carved from the training
images and never overlaps the training subset: with ``data.train_subset`` set it is drawn from
the training images the subset left out (the training subset is the same with or without it);
with ``data.train_subset: null`` it is drawn first and the training split is the rest. Every
choice of settings reads it; the test split only reports (docs/method.md, Validation split).
"""

from __future__ import annotations

from ..errors import UserError
from .base import ArrayDataset
from .cifar import load_cifar
from .fashion_mnist import load_fashion_mnist
from .idx import parse_idx, read_idx
from .imagefolder import FolderDataset, class_folders, find_split_dir
from .subset import balanced_part, balanced_subset, postprocess, select_classes
from .scenes import load_scenes
from .synthetic import NUM_CLASSES as SYNTHETIC_CLASSES, make_synthetic

DATASETS = ("fashion-mnist", "fashion-scenes", "cifar10", "cifar100", "imagefolder", "synthetic")
SPLITS = ("train", "val", "test")

__all__ = [
    "ArrayDataset", "FolderDataset", "DATASETS", "SPLITS", "load_dataset", "dataset_classes",
    "balanced_part", "balanced_subset", "select_classes", "read_idx", "parse_idx", "require_one_batch",
]


def load_dataset(data_cfg: dict, split: str) -> ArrayDataset | FolderDataset:
    """The ``split`` ("train", "val" or "test") of the dataset described by the ``data:`` config
    section. "val" needs ``data.val_subset``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "val" and not data_cfg.get("val_subset"):
        raise UserError("there is no validation split: set data.val_subset (a number of "
                        "training images to hold out)")
    source = "test" if split == "test" else "train"  # the validation images are training images
    name = data_cfg.get("name", "fashion-mnist")
    if name == "fashion-mnist":
        ds = load_fashion_mnist(data_cfg, source)
        where = "fashion-mnist"
    elif name == "fashion-scenes":
        ds = load_scenes(data_cfg, source)
        where = "fashion-scenes"
    elif name in ("cifar10", "cifar100"):
        ds = load_cifar(data_cfg, source, name)
        where = name if name == "cifar10" else f"cifar100 ({data_cfg.get('label_kind', 'fine')} labels)"
    elif name == "imagefolder":
        ds = FolderDataset.from_root(data_cfg.get("root"), source, int(data_cfg.get("image_size") or 224))
        where = f"the imagefolder tree {data_cfg.get('root')}"
    elif name == "synthetic":
        ds = make_synthetic(data_cfg, split)  # classes and sizes are built in
        return ds
    else:
        raise UserError(f"unknown dataset {name!r} in data.name; choose one of {', '.join(DATASETS)}")
    return postprocess(ds, data_cfg, split, where)


def dataset_classes(data_cfg: dict) -> int:
    """How many classes the dataset ``data.name`` has before ``data.classes`` keeps some,
    without reading an image (an ImageFolder tree's class folders are listed): what a class
    draw (the class-count sweep) needs to build its config."""
    name = data_cfg.get("name", "fashion-mnist")
    if name in ("fashion-mnist", "fashion-scenes", "cifar10"):
        return 10
    if name == "cifar100":
        return 20 if data_cfg.get("label_kind") == "coarse" else 100
    if name == "synthetic":
        return SYNTHETIC_CLASSES
    if name == "imagefolder":
        return len(class_folders(find_split_dir(data_cfg.get("root"), "train")))
    raise UserError(f"unknown dataset {name!r} in data.name; choose one of {', '.join(DATASETS)}")


def require_one_batch(train_cfg: dict, n_images: int) -> None:
    """Every pretraining epoch drops the last partial batch, so at least one full batch of the
    ``n_images`` training images must exist (``ifnd check`` and the trainer ask)."""
    if n_images < train_cfg["batch_size"]:
        raise UserError(f"train.batch_size {train_cfg['batch_size']} exceeds the "
                        f"{n_images} training images")
