"""Statistics about pseudo-labels and detected false negatives (docs/method.md: What gets
measured). True labels are used here only for measurement, never for training."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from torch import Tensor

__all__ = ["cluster_quality", "batch_fn_counts", "FNCounter", "COUNT_KEYS"]

COUNT_KEYS = ("anchors", "detected", "correct", "true_negatives_same_class")


def _purity(clusters: np.ndarray, truth: np.ndarray) -> float:
    """sum over clusters of the majority true-class count, divided by the number of samples."""
    if clusters.size == 0:
        return float("nan")
    _, c = np.unique(clusters, return_inverse=True)
    _, t = np.unique(truth, return_inverse=True)
    table = np.zeros((c.max() + 1, t.max() + 1), dtype=np.int64)
    np.add.at(table, (c.reshape(-1), t.reshape(-1)), 1)
    return float(table.max(axis=1).sum() / clusters.size)


def cluster_quality(pseudo_labels: np.ndarray, accepted: np.ndarray | None,
                    true_labels: np.ndarray) -> dict:
    """Quality of one level's clustering against the true labels.

    Args:
        pseudo_labels: (N,) raw cluster assignments of all samples (not the -1-masked ones).
        accepted: (N,) bool mask of the accepted samples (None = all accepted).
        true_labels: (N,) ground-truth classes.

    Returns a dict: ``n_clusters`` (non-empty clusters), ``nmi`` and ``ari`` (sklearn, on all
    samples), ``purity_all``, ``purity_accepted`` (NaN when nothing is accepted) and
    ``accepted_fraction``.
    """
    y = np.asarray(pseudo_labels).reshape(-1)
    t = np.asarray(true_labels).reshape(-1)
    if y.shape != t.shape:
        raise ValueError(f"pseudo_labels {y.shape} and true_labels {t.shape} differ in length")
    acc = np.ones(y.shape, dtype=bool) if accepted is None else np.asarray(accepted, dtype=bool)
    if acc.shape != y.shape:
        raise ValueError(f"accepted {acc.shape} and pseudo_labels {y.shape} differ in length")
    return {
        "n_clusters": int(np.unique(y).size),
        "nmi": float(normalized_mutual_info_score(t, y)),
        "ari": float(adjusted_rand_score(t, y)),
        "purity_all": _purity(y, t),
        "purity_accepted": _purity(y[acc], t[acc]) if acc.any() else float("nan"),
        "accepted_fraction": float(acc.mean()) if acc.size else float("nan"),
    }


def batch_fn_counts(fn_mask: Tensor | None, indexes: Tensor, true_labels: Tensor,
                    key_indexes: Tensor | None = None) -> dict:
    """In-batch false-negative counts, computed on the batch's device without host syncs.

    Args:
        fn_mask: (2B, 2B) bool detected false negatives (e.g. the union over levels), or None
            (nothing detected). Pairs of the same image (anchor, positive) are not counted.
        indexes: (2B,) dataset indices of the rows.
        true_labels: (N,) ground-truth classes of the dataset (any device).

    Returns a dict of 0-dim int64 tensors on ``indexes.device``:
    ``anchors`` (2B), ``detected`` (detected pairs), ``correct`` (detected pairs with equal true
    labels), ``true_negatives_same_class`` (pairs (a, k) of different images with equal true
    labels: the true false negatives in the batch). Use ``int(v)`` for Python numbers.

    ``key_indexes`` (K,): the columns are these images instead of the batch's rows (MoCo's
    queue; -1 = an empty slot, never counted); ``fn_mask`` is then (2B, K).
    """
    dev = indexes.device
    idx = indexes.to(true_labels.device)
    y = true_labels[idx].to(dev)
    if key_indexes is None:
        keys, yk = indexes, y
        other = indexes[:, None] != indexes[None, :]
    else:
        keys = key_indexes.to(dev)
        yk = true_labels[keys.clamp(min=0).to(true_labels.device)].to(dev)
        other = (indexes[:, None] != keys[None, :]) & (keys >= 0)[None, :]
    same = (y[:, None] == yk[None, :]) & other
    n = indexes.shape[0]
    if fn_mask is None:
        det = torch.zeros(other.shape, dtype=torch.bool, device=dev)
    else:
        det = fn_mask.to(device=dev, dtype=torch.bool) & other
    return {
        # torch.full launches a fill; torch.tensor(n, device=cuda) would copy from the host (a sync)
        "anchors": torch.full((), n, dtype=torch.int64, device=dev),
        "detected": det.sum(),
        "correct": (det & same).sum(),
        "true_negatives_same_class": same.sum(),
    }


class FNCounter:
    """Accumulates :func:`batch_fn_counts` over an epoch on the device (no host syncs until
    :meth:`summary`)."""

    def __init__(self) -> None:
        self._totals: Tensor | None = None

    def reset(self) -> None:
        self._totals = None

    def add(self, counts: dict) -> None:
        """Add a dict from :func:`batch_fn_counts`."""
        v = torch.stack([counts[k].to(torch.int64) for k in COUNT_KEYS])
        self._totals = v if self._totals is None else self._totals + v.to(self._totals.device)

    def update(self, fn_mask: Tensor | None, indexes: Tensor, true_labels: Tensor,
               key_indexes: Tensor | None = None) -> None:
        """Count one batch (see :func:`batch_fn_counts`)."""
        self.add(batch_fn_counts(fn_mask, indexes, true_labels, key_indexes))

    def totals(self) -> dict:
        """Raw totals as Python ints (one host sync)."""
        vals = [0] * len(COUNT_KEYS) if self._totals is None else self._totals.tolist()
        return dict(zip(COUNT_KEYS, (int(v) for v in vals)))

    def summary(self) -> dict:
        """Floats: ``fn_per_anchor`` = detected / anchors, ``precision`` = correct / detected,
        ``recall`` = correct / true same-class negatives, ``true_fn_per_anchor`` = true
        same-class negatives / anchors (NaN where the denominator is 0), plus the raw totals."""
        t = self.totals()

        def ratio(a: int, b: int) -> float:
            return a / b if b else math.nan

        return {
            "fn_per_anchor": ratio(t["detected"], t["anchors"]),
            "precision": ratio(t["correct"], t["detected"]),
            "recall": ratio(t["correct"], t["true_negatives_same_class"]),
            "true_fn_per_anchor": ratio(t["true_negatives_same_class"], t["anchors"]),
            **{k: float(v) for k, v in t.items()},
        }

    def rows(self, epoch: int, level_stats: list[dict], rate: float) -> list[dict]:
        """An epoch's rows of fn_stats.csv: one per k-means level of the clustering that epoch
        (``level_stats``, empty without one), then the in-batch statistics counted here."""
        fn = self.summary()
        rows = [{"epoch": epoch, "level": st["k"], "n_clusters": st.get("n_clusters"),
                 "acceptance_rate": st["rate"], "nmi": st.get("nmi"), "ari": st.get("ari"),
                 "purity_all": st.get("purity_all"), "purity_accepted": st.get("purity_accepted"),
                 "accepted_fraction": st["accepted_fraction"]} for st in level_stats]
        # Detecting nothing recalls none of the true false negatives (recall 0, not NaN).
        recall = fn["recall"] if fn["detected"] else (0.0 if fn["true_negatives_same_class"] else math.nan)
        rows.append({"epoch": epoch, "level": "batch", "acceptance_rate": rate,
                     "fn_per_anchor": fn["fn_per_anchor"], "fn_precision": fn["precision"],
                     "fn_recall": recall, "true_fn_per_anchor": fn["true_fn_per_anchor"]})
        return rows
