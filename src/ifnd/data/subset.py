"""Class selection (with relabelling) and deterministic class-balanced subsets."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import UserError


def select_classes(labels: np.ndarray, num_classes: int, classes: Sequence[int], where: str):
    """Rows whose label is in ``classes`` and their labels renumbered ``0 .. len(classes) - 1``
    in the given order. Returns ``(indices, new_labels)``; raises UserError for unknown ids."""
    classes = [int(c) for c in classes]
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise UserError(f"data.classes: class id(s) {bad} do not exist in {where} "
                        f"(it has classes 0..{num_classes - 1})")
    if len(set(classes)) != len(classes):
        raise UserError(f"data.classes: repeated class ids in {classes}")
    mapping = np.full(num_classes, -1, dtype=np.int64)
    mapping[classes] = np.arange(len(classes))
    new = mapping[labels]
    keep = np.flatnonzero(new >= 0)
    return keep, new[keep]


def balanced_counts(available: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """How many rows to take per class: as equal as possible, capped by what each class has;
    the remainder goes to randomly chosen classes."""
    available = np.asarray(available, dtype=np.int64)
    quota = np.zeros_like(available)
    remaining = int(min(n, available.sum()))
    while remaining > 0:
        open_ = np.flatnonzero(quota < available)
        share = remaining // len(open_)
        if share == 0:
            pick = rng.permutation(open_)[:remaining]
            quota[pick] += 1
            break
        add = np.minimum(share, available[open_] - quota[open_])
        quota[open_] += add
        remaining -= int(add.sum())
    return quota


def balanced_subset(labels: np.ndarray, num_classes: int, n: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of a deterministic class-balanced subset of ``n`` rows, or None when
    ``n`` is None or not smaller than the number of rows (use everything)."""
    labels = np.asarray(labels)
    if n is None or n >= len(labels):
        return None
    rng = np.random.default_rng(seed)
    counts = balanced_counts(np.bincount(labels, minlength=num_classes), n, rng)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=num_classes))])
    chosen = []
    for c in range(num_classes):
        if counts[c]:
            members = order[starts[c]:starts[c + 1]]
            chosen.append(rng.choice(members, size=int(counts[c]), replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def train_val_indices(labels: np.ndarray, num_classes: int, data_cfg: dict, where: str):
    """(train rows, validation rows or None) of the training images ``labels`` (after
    ``data.classes``). The training subset is drawn exactly as without a validation split; the
    validation rows are a class-balanced draw from the rows it left out (seed stream
    ``[subset_seed, 1]``), or, with ``train_subset: null``, from all rows before the training
    split takes the rest."""
    seed = int(data_cfg.get("subset_seed") or 0)
    n_train, n_val = data_cfg.get("train_subset"), data_cfg.get("val_subset")
    all_rows = np.arange(len(labels))
    train = balanced_subset(labels, num_classes, n_train, seed)
    train = all_rows if train is None else train
    if not n_val:
        return train, None
    pool = np.setdiff1d(all_rows, train) if n_train is not None else all_rows
    if len(pool) < n_val or (n_train is None and len(pool) - n_val < 1):
        raise UserError(f"data.val_subset: {n_val} validation images do not fit in {where}: "
                        f"{len(pool)} training images are left for it (lower data.val_subset "
                        f"or data.train_subset)")
    pick = balanced_subset(labels[pool], num_classes, n_val, np.random.SeedSequence([seed, 1]))
    val = pool if pick is None else pool[pick]
    if n_train is None:
        train = np.setdiff1d(all_rows, val)
    return train, val


def postprocess(dataset, data_cfg: dict, split: str, where: str):
    """Apply ``data.classes`` then ``data.train_subset`` / ``data.val_subset`` /
    ``data.test_subset`` to a dataset that has ``labels``, ``num_classes`` and
    ``take(indices, num_classes, labels, class_names)``. ``split`` "val" takes rows of the
    training images (see :func:`train_val_indices`)."""
    classes = data_cfg.get("classes")
    if classes is not None:
        keep, new_labels = select_classes(dataset.labels.numpy(), dataset.num_classes, classes, where)
        names = None
        if dataset.class_names is not None:
            names = [dataset.class_names[int(c)] for c in classes]
        dataset = dataset.take(keep, num_classes=len(classes), labels=torch.from_numpy(new_labels),
                               class_names=names)
    if split == "test":
        idx = balanced_subset(dataset.labels.numpy(), dataset.num_classes, data_cfg.get("test_subset"),
                              int(data_cfg.get("subset_seed") or 0))
    else:
        wanted, held_out = data_cfg.get("train_subset"), data_cfg.get("val_subset") or 0
        if classes is not None and wanted is not None and len(dataset) - held_out < wanted:
            # never fewer images than asked: the class sweep compares class counts at one size
            raise UserError(f"data.classes {list(classes)}: these classes hold {len(dataset) - held_out} "
                            f"training images besides the validation ones, fewer than data.train_subset "
                            f"({wanted}); lower data.train_subset (the class sweep trains every class "
                            f"count on as many images)")
        train, val = train_val_indices(dataset.labels.numpy(), dataset.num_classes, data_cfg, where)
        idx = val if split == "val" else (None if len(train) == len(dataset) else train)
    if idx is not None:
        dataset = dataset.take(idx)
    return dataset


def balanced_part(split_set, size: int | None, seed: int):
    """A fixed class-balanced part of ``size`` images of an in-memory split (the whole split
    when ``size`` is None or not smaller, or when it is read from disk): the online kNN monitor
    queries it every epoch (cheap), the final evaluation `ifnd knn` the whole split."""
    if size is None or size >= len(split_set) or not getattr(split_set, "in_memory", True):
        return split_set
    keep = torch.from_numpy(balanced_subset(split_set.labels.numpy(), split_set.num_classes, size, seed))
    return split_set.take(keep)
