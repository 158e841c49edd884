"""Class-balanced label subsets of the training set for semi-supervised evaluation.

``ifnd splits --fraction F --seed S --out PATH`` takes ``round(F * n_c)`` (at least one) training
images of every class c, drawn with ``numpy.random.default_rng(S)`` (or, with
``eval.semisup.subsets: simclr`` on an ImageNet tree, the images SimCLR's published 1% or 10%
subset names: :mod:`ifnd.data.imagenet`), from the training set as
the config's ``data:`` section loads it (after ``data.classes`` and ``data.train_subset``). The
JSON file holds the sorted row indices into that training set together with the data section
that defines it, so that ``ifnd semisup --split PATH`` can refuse a split of another dataset.
The test set is never indexed.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from ..cliargs import add_config_arguments, config_from_args
from ..data import load_dataset
from ..data.imagenet import simclr_subset_rows
from ..errors import UserError
from ..runinfo import write_json

# the data keys that decide which images the training set holds (root, image_size and the
# test subset do not change the row order of the training set)
IDENTITY_KEYS = ("name", "train_subset", "classes", "label_kind", "subset_seed")


def check_fraction(fraction: float) -> float:
    try:
        fraction = float(fraction)
    except (TypeError, ValueError):
        raise UserError(f"fraction must be a number in (0, 1], got {fraction!r}") from None
    if not (0.0 < fraction <= 1.0) or math.isnan(fraction):
        raise UserError(f"fraction must be in (0, 1], got {fraction:g}")
    return fraction


def per_class_count(fraction: float, n: int) -> int:
    """round(fraction * n) with halves rounded up, at least 1 and at most n."""
    return min(n, max(1, int(math.floor(fraction * n + 0.5))))


def make_split(labels, fraction: float, seed: int) -> np.ndarray:
    """Sorted int64 row indices: ``per_class_count(fraction, n_c)`` rows of every class present
    in ``labels``, drawn without replacement with ``numpy.random.default_rng(seed)``."""
    fraction = check_fraction(fraction)
    labels = np.asarray(labels).reshape(-1)
    rng = np.random.default_rng(int(seed))
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        chosen.append(rng.choice(members, size=per_class_count(fraction, len(members)), replace=False))
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def labelled_rows(train, semisup_cfg: dict, fraction: float, seed: int) -> np.ndarray:
    """The labelled training rows of ``fraction``: a seeded class-balanced draw, or SimCLR's
    published subset where ``eval.semisup.subsets`` is ``simclr`` (ImageFolder trees only)."""
    if (semisup_cfg.get("subsets") or "random") == "simclr":
        if not hasattr(train, "paths"):
            raise UserError("eval.semisup.subsets: simclr needs an ImageNet tree (data.name: "
                            f"imagefolder), not {train.name}")
        return simclr_subset_rows(train.paths, fraction)
    return make_split(train.labels.numpy(), fraction, seed)


def split_record(data_cfg: dict, labels, num_classes: int, fraction: float, seed: int,
                 indices: np.ndarray | None = None) -> dict:
    labels = np.asarray(labels)
    indices = make_split(labels, fraction, seed) if indices is None else np.asarray(indices)
    return {
        "dataset": data_cfg["name"],
        "data": dict(data_cfg),
        "train_size": int(len(labels)),
        "fraction": float(fraction),
        "seed": int(seed),
        "num_classes": int(num_classes),
        "per_class": np.bincount(labels[indices], minlength=num_classes).astype(int).tolist(),
        "indices": indices.tolist(),
    }


def load_split(path, data_cfg: dict) -> dict:
    """Read a split file and check that it indexes the training set of ``data_cfg``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"split file not found: {path}")
    try:
        split = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"split file {path} is not valid JSON: {exc}") from None
    need = ("dataset", "data", "train_size", "fraction", "seed", "indices")
    if not isinstance(split, dict) or any(k not in split for k in need):
        raise UserError(f"{path} is not a split file (it needs the keys {', '.join(need)})")
    if split["dataset"] != data_cfg["name"]:
        raise UserError(f"split file {path} is for dataset {split['dataset']}, not {data_cfg['name']}")
    theirs = split["data"] if isinstance(split["data"], dict) else {}
    for key in IDENTITY_KEYS:
        if theirs.get(key) != data_cfg.get(key):
            raise UserError(f"split file {path} is for data.{key} = {theirs.get(key)!r}, "
                            f"not {data_cfg.get(key)!r}")
    idx = split["indices"]
    if not isinstance(idx, list) or not idx or not all(isinstance(i, int) for i in idx):
        raise UserError(f"split file {path}: indices must be a non-empty list of integers")
    if min(idx) < 0 or max(idx) >= int(split["train_size"]) or len(set(idx)) != len(idx):
        raise UserError(f"split file {path}: indices must be distinct rows 0..{split['train_size'] - 1}")
    return split


def check_split_against(split: dict, path, train, fraction: float | None = None) -> np.ndarray:
    """The split's indices after checking them against the loaded training set (and fraction)."""
    if int(split["train_size"]) != len(train):
        raise UserError(f"split file {path} indexes {split['train_size']} training images but "
                        f"the training set has {len(train)}")
    if fraction is not None and not math.isclose(float(split["fraction"]), fraction,
                                                 rel_tol=1e-9, abs_tol=1e-12):
        raise UserError(f"--fraction {fraction:g} does not match the split file {path} "
                        f"(fraction {float(split['fraction']):g})")
    return np.asarray(split["indices"], dtype=np.int64)


def add_arguments(parser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--fraction", type=float, required=True,
                        help="labelled fraction of every class, in (0, 1]")
    parser.add_argument("--seed", type=int, required=True, help="seed of the draw")
    parser.add_argument("--out", required=True, help="split file to write (JSON)")


def run(args) -> int:
    started = time.time()
    fraction = check_fraction(args.fraction)
    if args.seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {args.seed}")
    cfg = config_from_args(args)
    train = load_dataset(cfg["data"], "train")
    rows = labelled_rows(train, cfg["eval"]["semisup"], fraction, args.seed)
    record = split_record(cfg["data"], train.labels.numpy(), train.num_classes, fraction, args.seed, rows)
    write_json(args.out, record)
    print(f"{len(record['indices'])} of {record['train_size']} training images "
          f"({fraction:g} per class, seed {args.seed}) -> {args.out} [{time.time() - started:.1f}s]")
    return 0
