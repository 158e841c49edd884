"""The paper's ImageNet layout: the ImageNet-100 class list and SimCLR's label subsets.

- :func:`build_subset_tree` (``ifnd imagenet-subset``) makes an ImageNet-100 tree from a user's
  ImageNet tree: ``OUT/{train,val}/<wnid>`` are symbolic links to the class folders of
  ``IMAGENET/{train,val}/<wnid>`` for the 100 WordNet ids of CMC's list (``lists/imagenet100.txt``);
  nothing is copied.
- :func:`simclr_subset_rows` picks the training images that SimCLR's 1% or 10% subset names
  (``lists/simclr_*percent.txt``, file names such as ``n01440764_10026.JPEG``), so that the
  semi-supervised evaluation fine-tunes on the paper's subsets instead of a random draw.

The lists' sources are in ``lists/SOURCES.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import UserError

LISTS = Path(__file__).parent / "lists"
SIMCLR_SUBSETS = {0.01: "simclr_1percent.txt", 0.1: "simclr_10percent.txt"}


def read_list(path: str | Path) -> list[str]:
    """The non-empty lines of a list file, stripped."""
    try:
        return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise UserError(f"cannot read the list {path} ({exc.strerror})") from None


def imagenet100_classes() -> list[str]:
    return read_list(LISTS / "imagenet100.txt")


def build_subset_tree(imagenet: str | Path, out: str | Path, classes: list[str]) -> dict[str, int]:
    """Link ``out/<split>/<wnid>`` to ``imagenet/<split>/<wnid>`` for every class and split
    (train, and val where the tree has it). Returns the number of classes linked per split.
    Existing correct links are kept; anything else in the way is one clear error."""
    imagenet, out = Path(imagenet).expanduser().resolve(), Path(out).expanduser()
    counts = {}
    for split in ("train", "val"):
        source = imagenet / split
        if not source.is_dir():
            if split == "train":
                raise UserError(f"{imagenet} has no train/ folder of class folders")
            continue
        missing = [c for c in classes if not (source / c).is_dir()]
        if missing:
            shown = ", ".join(missing[:5]) + (f", … ({len(missing)} in all)" if len(missing) > 5 else "")
            raise UserError(f"{source} lacks the class folder(s) {shown}; a val/ split must be "
                            "arranged in class folders like train/")
        (out / split).mkdir(parents=True, exist_ok=True)
        for c in classes:
            link = out / split / c
            if link.is_symlink() and Path(os.readlink(link)) == source / c:
                continue
            if link.exists() or link.is_symlink():
                raise UserError(f"{link} exists and is not a link to {source / c}; remove it or "
                                "choose another output folder")
            link.symlink_to(source / c, target_is_directory=True)
        counts[split] = len(classes)
    return counts


def simclr_subset_rows(paths: list[str], fraction: float) -> np.ndarray:
    """Sorted row indices of the training images (``paths``) whose file names SimCLR's subset
    of ``fraction`` (0.01 or 0.1) lists."""
    name = next((f for frac, f in SIMCLR_SUBSETS.items() if abs(frac - float(fraction)) < 1e-9), None)
    if name is None:
        raise UserError(f"eval.semisup.subsets: simclr has subsets for 1% and 10% of the labels "
                        f"only, not {100 * float(fraction):g}%")
    wanted = set(read_list(LISTS / name))
    rows = [i for i, p in enumerate(paths) if os.path.basename(p) in wanted]
    if not rows:
        raise UserError(f"SimCLR's {name} names none of the {len(paths)} training images (it lists "
                        "ImageNet file names such as n01440764_10026.JPEG)")
    return np.asarray(rows, dtype=np.int64)


def add_arguments(parser) -> None:
    parser.add_argument("--imagenet", required=True,
                        help="your ImageNet tree: train/<wnid>/ and val/<wnid>/ class folders")
    parser.add_argument("--out", required=True, help="the ImageNet-100 tree to create (links only)")
    parser.add_argument("--classes", default=None,
                        help="a file of WordNet ids, one per line (default: CMC's ImageNet-100 list)")


def run(args) -> int:
    classes = read_list(args.classes) if args.classes else imagenet100_classes()
    counts = build_subset_tree(args.imagenet, args.out, classes)
    print(f"linked {', '.join(f'{n} {split} class folders' for split, n in counts.items())} "
          f"of {args.imagenet} into {args.out}; set data.root: {args.out}")
    return 0
