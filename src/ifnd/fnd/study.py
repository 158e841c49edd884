"""The detection study: how good are the false negatives a detection setting finds, measured
on a saved encoder's embeddings with no retraining (docs/method.md: Detection study).

A detected false negative of anchor a is every other training image that shares a's
pseudo-label. Over the whole training set (ordered pairs of distinct images):

    precision = detected pairs with equal true labels / detected pairs
    recall    = detected pairs with equal true labels / pairs with equal true labels

Both come from contingency counts, never from an N x N matrix: a pseudo-label vector g (-1 for
rejected samples) detects ``sum_g n_g (n_g - 1)`` pairs, ``sum_{g, y} n_gy (n_gy - 1)`` of them
correct. Levels combine by inclusion-exclusion over the joint labels of every subset of
levels: ``union`` (any level; what IFND trains with under ``fnd.combine: union``),
``intersection`` (all levels), ``majority`` (more than half of the levels). ``average`` is the
mean of the single levels' figures, the pair-level view of ``fnd.combine: average``.

True labels enter only the measurement. The label-free ``gate: seeds`` keeps an accepted sample
only when a second k-means run (another seed) puts it in the cluster that best matches its
first cluster: a stability check that needs no labels.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .confidence import cluster_confidence
from .kmeans import spherical_kmeans
from .select import accepted_mask

__all__ = ["COMBINES", "pair_counts", "combined_counts", "stable_mask", "DetectionStudy"]

COMBINES = ("union", "intersection", "majority", "average")


def _joint(labels: np.ndarray) -> np.ndarray:
    """One id per sample for the tuple of its labels over the rows of ``labels`` (L, N); -1
    where any row is -1 (rejected at some level)."""
    labels = np.atleast_2d(labels)
    ok = (labels >= 0).all(axis=0)
    out = np.full(labels.shape[1], -1, dtype=np.int64)
    if ok.any():
        _, inv = np.unique(labels[:, ok], axis=1, return_inverse=True)
        out[ok] = inv.reshape(-1)
    return out


def _pairs(counts: np.ndarray) -> int:
    counts = counts.astype(np.int64)
    return int((counts * (counts - 1)).sum())


def pair_counts(pseudo: np.ndarray, truth: np.ndarray) -> tuple[int, int]:
    """(detected, correct) ordered pairs of distinct samples sharing a pseudo-label >= 0."""
    pseudo = np.asarray(pseudo).reshape(-1)
    truth = np.asarray(truth).reshape(-1)
    keep = pseudo >= 0
    if not keep.any():
        return 0, 0
    g, y = pseudo[keep], truth[keep]
    _, g_counts = np.unique(g, return_counts=True)
    _, gy_counts = np.unique(np.stack([g, y]), axis=1, return_counts=True)
    return _pairs(g_counts), _pairs(gy_counts)


def true_pairs(truth: np.ndarray) -> int:
    """Ordered pairs of distinct samples with equal true labels (the true false negatives)."""
    return _pairs(np.unique(np.asarray(truth), return_counts=True)[1])


def combined_counts(levels: np.ndarray, truth: np.ndarray, combine: str) -> tuple[float, float]:
    """(detected, correct) pairs of the levels' pseudo-labels (L, N) (-1: rejected) combined by
    ``combine``; for ``average`` the means over the levels."""
    levels = np.atleast_2d(np.asarray(levels))
    n_levels = levels.shape[0]
    if combine == "average":
        per = [pair_counts(levels[m], truth) for m in range(n_levels)]
        return float(np.mean([p[0] for p in per])), float(np.mean([p[1] for p in per]))
    if combine == "intersection":
        return tuple(float(v) for v in pair_counts(_joint(levels), truth))
    if combine not in ("union", "majority"):
        raise ValueError(f"unknown combine {combine!r}; expected one of {COMBINES}")
    # S_j: sum over the j-subsets of levels of the pairs every level of the subset detects
    sums = []
    for j in range(1, n_levels + 1):
        det = cor = 0
        for subset in itertools.combinations(range(n_levels), j):
            d, c = pair_counts(_joint(levels[list(subset)]), truth)
            det, cor = det + d, cor + c
        sums.append((det, cor))
    # pairs detected by at least m levels: sum_{j >= m} (-1)^(j-m) C(j-1, m-1) S_j
    m = 1 if combine == "union" else n_levels // 2 + 1
    det = cor = 0
    for j in range(m, n_levels + 1):
        w = (-1) ** (j - m) * math.comb(j - 1, m - 1)
        det, cor = det + w * sums[j - 1][0], cor + w * sums[j - 1][1]
    return float(det), float(cor)


def stable_mask(labels: np.ndarray, other: np.ndarray) -> np.ndarray:
    """(N,) bool: the sample's cluster in ``other`` is the one sharing most members with its
    cluster in ``labels`` (a label-free agreement between two clusterings)."""
    labels, other = np.asarray(labels), np.asarray(other)
    k1, k2 = int(labels.max()) + 1, int(other.max()) + 1
    table = np.zeros((k1, k2), dtype=np.int64)
    np.add.at(table, (labels, other), 1)
    return table.argmax(axis=1)[labels] == other


class DetectionStudy:
    """Scores a grid of detection settings on the embeddings of one encoder.

    ``embeddings`` maps a feature kind ("projection", "backbone") to (N, d) arrays; ``truth``
    holds the N true labels (measurement only). K-means runs are cached per (features, k,
    niter, nredo, seed), so a grid costs a few clusterings plus cheap counting.
    """

    def __init__(self, embeddings: Mapping[str, np.ndarray], truth: np.ndarray) -> None:
        self.embeddings = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in embeddings.items()}
        self.truth = np.asarray(truth).reshape(-1)
        self.n_true = true_pairs(self.truth)
        self._kmeans: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._confidence: dict[tuple, np.ndarray] = {}
        self._stable: dict[tuple, np.ndarray] = {}

    def kmeans(self, features: str, k: int, niter: int, nredo: int, seed: int):
        key = (features, int(k), int(niter), int(nredo), int(seed))
        if key not in self._kmeans:
            self._kmeans[key] = spherical_kmeans(self.embeddings[features], k, niter, nredo, seed)
        return self._kmeans[key]

    def confidence(self, features: str, k: int, niter: int, nredo: int, seed: int, kind: str):
        """The confidence of one clustering's assignments (cached: every rate reuses it)."""
        key = (features, int(k), int(niter), int(nredo), int(seed), kind)
        if key not in self._confidence:
            labels, centroids = self.kmeans(features, k, niter, nredo, seed)
            self._confidence[key] = cluster_confidence(self.embeddings[features], centroids,
                                                       labels, kind=kind)
        return self._confidence[key]

    def stable(self, features: str, k: int, niter: int, nredo: int, seed: int):
        """:func:`stable_mask` of one clustering against the run with seed + 1000 (cached)."""
        key = (features, int(k), int(niter), int(nredo), int(seed))
        if key not in self._stable:
            self._stable[key] = stable_mask(self.kmeans(features, k, niter, nredo, seed)[0],
                                            self.kmeans(features, k, niter, nredo, seed + 1000)[0])
        return self._stable[key]

    def level_labels(self, *, features: str, levels: Sequence[int], seeds: Sequence[int],
                     niter: int, nredo: int, confidence: str, ranking: str, rate: float,
                     gate: str = "none") -> np.ndarray:
        """(L, N) accepted pseudo-labels (-1: rejected), as the detector builds them."""
        x = self.embeddings[features]
        out = np.full((len(levels), x.shape[0]), -1, dtype=np.int64)
        for m, (k, seed) in enumerate(zip(levels, seeds)):
            labels = self.kmeans(features, k, niter, nredo, seed)[0]
            conf = self.confidence(features, k, niter, nredo, seed, confidence)
            acc = accepted_mask(conf, labels, rate, ranking=ranking)
            if gate == "seeds":
                acc &= self.stable(features, k, niter, nredo, seed)
            elif gate != "none":
                raise ValueError(f"unknown gate {gate!r}; expected none or seeds")
            out[m, acc] = labels[acc]
        return out

    def score(self, combine: str, **setting) -> dict:
        """precision, recall, f1, detected and correct pairs, and the accepted fraction."""
        lab = self.level_labels(**setting)
        det, cor = combined_counts(lab, self.truth, combine)
        precision = cor / det if det else math.nan
        recall = cor / self.n_true if self.n_true else math.nan
        f1 = (2 * precision * recall / (precision + recall)
              if det and precision + recall > 0 else math.nan)
        return {"detected_pairs": det, "correct_pairs": cor, "precision": precision,
                "recall": recall, "f1": f1, "accepted_fraction": float((lab >= 0).any(0).mean())}

    def grid(self, settings: Iterable[Mapping]) -> list[dict]:
        """One row per setting (its keys, then :meth:`score`'s)."""
        rows = []
        for s in settings:
            s = dict(s)
            combine = s.pop("combine")
            levels = tuple(s["levels"])
            row = {**s, "levels": "+".join(map(str, levels)), "combine": combine}
            row.update(self.score(combine, **{**s, "levels": levels}))
            row["seeds"] = "+".join(map(str, s["seeds"]))
            rows.append(row)
        return rows
