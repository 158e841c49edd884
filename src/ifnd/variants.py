"""The workflow's run variants as configs (docs/method.md, Class-count sweep): an ablation of
IFND (an entry of ``workflow.ablations``, also the attribution controls) or a class subset
drawn with the run seed. ``ifnd pretrain --ablation NAME`` and ``--classes N`` apply them."""

from __future__ import annotations

import numpy as np

from .config import apply_overrides, validate
from .data import load_dataset
from .errors import UserError

__all__ = ["apply_variant", "class_subset_overrides"]


def apply_variant(cfg: dict, ablation: str | None = None, classes: int | None = None) -> dict:
    """The config of one workflow variant: an ablation of IFND, or a class subset."""
    if ablation is not None:
        table = cfg["workflow"]["ablations"]
        if ablation not in table:
            raise UserError(f"unknown ablation {ablation!r}; workflow.ablations has {sorted(table)}")
        cfg = apply_overrides(cfg, {"method.name": "ifnd", **table[ablation]})
    if classes is not None:
        cfg = apply_overrides(cfg, class_subset_overrides(cfg, classes))
    return validate(cfg)


def class_subset_overrides(cfg: dict, classes: int) -> dict:
    """The overrides of a class-sweep run (Figure 1): ``classes`` class ids drawn at random with
    the run seed (``default_rng([train.seed, classes, 7])``, so every seed is another draw),
    the same number of training images as the full run (``data.train_subset`` unchanged, and
    with it the number of steps), and the validation split scaled to the classes kept."""
    if cfg["data"]["classes"] is not None:
        raise UserError("--classes and data.classes are exclusive")
    full = load_dataset({**cfg["data"], "train_subset": None, "val_subset": None}, "train")
    if not 2 <= classes <= full.num_classes:
        raise UserError(f"--classes must be between 2 and {full.num_classes}, got {classes}")
    rng = np.random.default_rng([int(cfg["train"]["seed"]), int(classes), 7])
    ids = sorted(int(c) for c in rng.choice(full.num_classes, size=classes, replace=False))
    overrides = {"data.classes": ids}
    val = cfg["data"].get("val_subset")
    if val:
        overrides["data.val_subset"] = max(classes, round(val * classes / full.num_classes))
    subset = cfg["data"]["train_subset"]
    if subset is not None and cfg["data"]["name"] != "synthetic":  # synthetic: generated to size
        have = int(np.isin(full.labels.numpy(), ids).sum()) - overrides.get("data.val_subset", 0)
        if have < subset:
            raise UserError(f"--classes {classes}: the drawn classes {ids} hold {have} training "
                            f"images besides the validation ones, fewer than data.train_subset "
                            f"({subset}); lower data.train_subset so that every class count "
                            f"trains on as many images")
    return overrides
