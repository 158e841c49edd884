"""Per-sample cluster confidence (docs/method.md: Clustering step, point 3)."""

from __future__ import annotations

import numpy as np

from .kmeans import l2_normalize, top_similarities

__all__ = ["CONFIDENCE_KINDS", "cluster_confidence"]

CONFIDENCE_KINDS = ("cosine", "margin")


def cluster_confidence(x: np.ndarray, centroids: np.ndarray, labels: np.ndarray,
                       kind: str = "cosine") -> np.ndarray:
    """Confidence of each sample in its cluster assignment.

    ``cosine``: ``c_i = x_i . mu_{y_i}`` (rows of ``x`` and centroids L2-normalised here).
    ``margin``: ``c_i = cos(x_i, nearest centroid) - cos(x_i, second-nearest centroid)``
    (independent of ``labels``; needs at least two centroids).

    Returns float32 (N,).
    """
    xn = l2_normalize(x)
    cn = l2_normalize(centroids)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (xn.shape[0],):
        raise ValueError(f"labels must be ({xn.shape[0]},), got shape {labels.shape}")
    if xn.shape[1] != cn.shape[1]:
        raise ValueError(f"dimension mismatch: x has d={xn.shape[1]}, centroids d={cn.shape[1]}")
    if kind == "cosine":
        if labels.size and (labels.min() < 0 or labels.max() >= cn.shape[0]):
            raise ValueError("labels out of range of the centroids")
        return np.einsum("nd,nd->n", xn, cn[labels]).astype(np.float32)
    if kind == "margin":
        if cn.shape[0] < 2:
            raise ValueError("margin confidence needs at least 2 centroids")
        sims, _ = top_similarities(xn, cn, 2)
        return (sims[:, 0] - sims[:, 1]).astype(np.float32)
    raise ValueError(f"unknown confidence kind {kind!r}; expected one of {CONFIDENCE_KINDS}")
