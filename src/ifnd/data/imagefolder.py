"""ImageFolder trees (ImageNet-100, ImageNet, a user's own data), read per image from disk.

``<root>/train/<class>/<image>`` and ``<root>/val/<class>/<image>`` (or ``test/``); class ids
follow the sorted class-folder names, as in torchvision's ImageFolder.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SPLIT_DIRS = {"train": ("train",), "test": ("val", "test")}
MEAN, STD = 0.5, 0.25  # the same normalisation as ifnd.augment.normalize


def find_split_dir(root: str | None, split: str) -> Path:
    if not root:
        raise UserError("data.root must be set to an ImageFolder tree (with train/ and val/ "
                        "subfolders of class folders) when data.name is imagefolder")
    base = Path(root).expanduser()
    if not base.is_dir():
        raise UserError(f"imagefolder root {base} does not exist or is not a folder")
    for sub in SPLIT_DIRS[split]:
        if (base / sub).is_dir():
            return base / sub
    wanted = " or ".join(f"{base / s}/" for s in SPLIT_DIRS[split])
    raise UserError(f"imagefolder root {base} has no {split} split: expected {wanted}")


def class_folders(folder: Path) -> list[str]:
    """The class folder names of an ImageFolder split, sorted (their order is the labels')."""
    class_names = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    if not class_names:
        raise UserError(f"{folder} holds no class folders")
    return class_names


def scan(folder: Path) -> tuple[list[str], list[int], list[str]]:
    """(paths, labels, class names) of an ImageFolder split, in a stable sorted order."""
    class_names = class_folders(folder)
    paths, labels = [], []
    for label, cname in enumerate(class_names):
        found = []
        for dirpath, dirnames, filenames in os.walk(folder / cname, followlinks=True):
            dirnames.sort()
            found += [os.path.join(dirpath, f) for f in sorted(filenames)
                      if f.lower().endswith(IMG_EXTENSIONS) and not f.startswith(".")]
        paths += found
        labels += [label] * len(found)
    if not paths:
        raise UserError(f"{folder} holds no images (looked for {', '.join(IMG_EXTENSIONS)})")
    return paths, labels, class_names


def _open_rgb(path: str):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None


# evaluation images as the field evaluates ImageNet: the shorter side resized to size / 0.875
# (256 for 224), then the centre size x size crop
CENTRE_CROP_FRACTION = 0.875


class _EvalImage:
    """Shorter side to ``round(size / 0.875)``, centre ``size`` crop, uint8 (3, size, size)."""

    def __init__(self, size: int):
        self.size = size
        self.resize = int(round(size / CENTRE_CROP_FRACTION))

    def __call__(self, path: str) -> torch.Tensor:
        import torchvision.transforms.functional as TF

        img = _open_rgb(path)
        img = TF.center_crop(TF.resize(img, self.resize, antialias=True), [self.size, self.size])
        return TF.pil_to_tensor(img)


def build_pretrain_transform(augment_cfg: dict, image_size: int):
    """SimCLR's per-image torchvision pipeline, ending in ``(x - 0.5) / 0.25``."""
    from torchvision import transforms as T

    steps = [T.RandomResizedCrop(image_size, scale=tuple(augment_cfg["crop_scale"]), antialias=True)]
    if augment_cfg["flip"]:
        steps.append(T.RandomHorizontalFlip())
    if augment_cfg["jitter_prob"] > 0:
        jitter = T.ColorJitter(augment_cfg["brightness"], augment_cfg["contrast"],
                               augment_cfg["saturation"], augment_cfg["hue"])
        steps.append(T.RandomApply([jitter], p=augment_cfg["jitter_prob"]))
    if augment_cfg["grayscale_prob"] > 0:
        steps.append(T.RandomGrayscale(p=augment_cfg["grayscale_prob"]))
    if augment_cfg.get("blur_prob", 0) > 0:
        k = max(3, int(0.1 * image_size) // 2 * 2 + 1)
        steps.append(T.RandomApply([T.GaussianBlur(k, sigma=(0.1, 2.0))], p=augment_cfg["blur_prob"]))
    steps += [T.ToTensor(), T.Normalize([MEAN] * 3, [STD] * 3)]
    return T.Compose(steps)


def _item_seed(seed: int, epoch: int, index: int) -> int:
    words = [int(v) & 0xFFFFFFFFFFFFFFFF for v in (seed, epoch, index)]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0] >> 1)


class _TwoViews(torch.utils.data.Dataset):
    """Two independent augmented views per image; the random draws of image ``i`` depend only on
    (seed, epoch, i), so the views do not depend on the number of workers."""

    def __init__(self, paths: list[str], transform, seed: int, epoch: int):
        self.paths, self.transform, self.seed, self.epoch = paths, transform, seed, epoch

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        img = _open_rgb(self.paths[i])
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(_item_seed(self.seed, self.epoch, i))
            v1, v2 = self.transform(img), self.transform(img)
        return v1, v2, i


class FolderDataset:
    """An ImageFolder split: paths and labels in memory, pixels read from disk on demand."""

    in_memory = False
    channels = 3

    def __init__(self, paths: list[str], labels, num_classes: int, image_size: int,
                 name: str = "imagefolder", class_names: list[str] | None = None):
        self.paths = list(paths)
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        if self.labels.shape != (len(self.paths),):
            raise ValueError("one label per path expected")
        self.num_classes = int(num_classes)
        self.image_size = int(image_size)
        self.name = name
        self.class_names = class_names

    @classmethod
    def from_root(cls, root: str | None, split: str, image_size: int, name: str = "imagefolder"):
        folder = find_split_dir(root, split)
        paths, labels, class_names = scan(folder)
        return cls(paths, labels, len(class_names), image_size, name=name, class_names=class_names)

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return (f"FolderDataset(name={self.name!r}, n={len(self)}, num_classes={self.num_classes}, "
                f"image_size={self.image_size})")

    def take(self, indices, num_classes: int | None = None, labels: torch.Tensor | None = None,
             class_names: list[str] | None = None) -> "FolderDataset":
        idx = torch.as_tensor(indices, dtype=torch.int64)
        return FolderDataset(
            [self.paths[i] for i in idx.tolist()],
            self.labels[idx] if labels is None else labels,
            self.num_classes if num_classes is None else num_classes,
            self.image_size,
            name=self.name,
            class_names=self.class_names if num_classes is None else class_names,
        )

    def load_uint8(self, indices) -> torch.Tensor:
        """uint8 (B, 3, S, S): shorter side resized to S / 0.875, then the centre S crop."""
        idx = torch.as_tensor(indices, dtype=torch.int64).reshape(-1).tolist()
        fn = _EvalImage(self.image_size)
        paths = [self.paths[i] for i in idx]
        if len(paths) <= 1:
            out = [fn(p) for p in paths]
        else:
            workers = min(8, os.cpu_count() or 1, len(paths))
            with ThreadPoolExecutor(workers) as pool:  # PIL decodes and resizes without the GIL
                out = list(pool.map(fn, paths))
        if not out:
            return torch.empty(0, 3, self.image_size, self.image_size, dtype=torch.uint8)
        return torch.stack(out)

    def pretrain_loader(self, batch_size: int, augment_cfg: dict, seed: int, epoch: int,
                        num_workers: int = 0, rank: int = 0, world_size: int = 1):
        """DataLoader of (view1, view2, indices): float (B, 3, S, S) views normalised as
        ``(x - 0.5) / 0.25`` and int64 indices; shuffled deterministically from (seed, epoch);
        incomplete last batch dropped. With ``world_size`` > 1 it yields ``rank``'s slice
        (B / world_size images) of each of those global batches: the same images and views."""
        if len(self) < batch_size:
            raise UserError(f"{self.name}: {len(self)} training images are fewer than one batch "
                            f"of {batch_size}; lower train.batch_size or use more data")
        gen = torch.Generator().manual_seed(_item_seed(seed, epoch, -1))
        views = _TwoViews(self.paths, build_pretrain_transform(augment_cfg, self.image_size), seed, epoch)
        if world_size > 1:
            # the global batches the unsharded loader draws (the same DataLoader over indices)
            order = torch.utils.data.DataLoader(range(len(self)), batch_size=batch_size, shuffle=True,
                                                generator=gen, drop_last=True)
            b = batch_size // world_size
            batches = [batch[rank * b:(rank + 1) * b].tolist() for batch in order]
            return torch.utils.data.DataLoader(
                views, batch_sampler=batches, num_workers=num_workers,
                pin_memory=torch.cuda.is_available(), persistent_workers=False)
        return torch.utils.data.DataLoader(
            views, batch_size=batch_size, shuffle=True, generator=gen, drop_last=True,
            num_workers=num_workers, pin_memory=torch.cuda.is_available(),
            persistent_workers=False,
        )
