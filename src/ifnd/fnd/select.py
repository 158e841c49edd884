"""Which pseudo-labels are accepted (docs/method.md: Clustering step, point 5)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["RANKINGS", "accepted_mask"]

RANKINGS = ("per_cluster", "global")


def _count(rate: float, n: int) -> int:
    """ceil(rate * n), robust to float noise such as 0.1 * 30 = 3.0000000000000004."""
    return min(n, math.ceil(round(rate * n, 9)))


def accepted_mask(confidence: np.ndarray, labels: np.ndarray, rate: float,
                  ranking: str = "per_cluster") -> np.ndarray:
    """Boolean (N,) mask of the accepted samples.

    ``per_cluster``: in every cluster c with n_c members, the ``ceil(rate * n_c)`` most confident
    samples (so every non-empty cluster contributes once rate > 0). ``global``: the
    ``floor(rate * N + 1/2)`` most confident samples overall (round half up).
    ``rate = 0`` accepts none, ``rate = 1`` all. Ties in confidence go to the lower index
    (stable order by ``-confidence``, then index).
    """
    conf = np.asarray(confidence, dtype=np.float64)
    labels = np.asarray(labels)
    if conf.ndim != 1 or labels.shape != conf.shape:
        raise ValueError(f"confidence and labels must both be (N,), got {conf.shape} and "
                         f"{labels.shape}")
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"acceptance rate must be in [0, 1], got {rate}")
    n = conf.shape[0]
    idx = np.arange(n)
    out = np.zeros(n, dtype=bool)
    if ranking == "global":
        n_keep = min(n, math.floor(round(rate * n, 9) + 0.5))
        order = np.lexsort((idx, -conf))
        out[order[:n_keep]] = True
        return out
    if ranking == "per_cluster":
        if n == 0:
            return out
        _, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
        inv = inv.reshape(-1)
        keep = np.array([_count(rate, int(c)) for c in counts], dtype=np.int64)
        order = np.lexsort((idx, -conf, inv))  # by cluster, then confidence desc, then index
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.arange(n) - starts[inv[order]]  # rank within the cluster
        out[order[rank < keep[inv[order]]]] = True
        return out
    raise ValueError(f"unknown ranking {ranking!r}; expected one of {RANKINGS}")
