"""Spherical k-means with faiss (docs/method.md: Clustering step, point 2)."""

from __future__ import annotations

import faiss
import numpy as np

from ..errors import UserError

__all__ = ["ClusteringError", "spherical_kmeans", "l2_normalize", "top_similarities"]


class ClusteringError(UserError, ValueError):
    """Clustering cannot run on this input (e.g. more clusters than samples).

    A ``ValueError`` for library callers and a ``UserError`` for the command line, because it
    comes from the configuration (``fnd.levels`` vs the dataset size).
    """


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """float32 C-contiguous copy of ``x`` with unit-norm rows (zero rows stay zero)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array (N, d), got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, np.float32(1e-12)), dtype=np.float32)


def top_similarities(x: np.ndarray, centroids: np.ndarray, topk: int,
                     chunk: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """The ``topk`` largest inner products of each row of ``x`` with ``centroids``.

    Returns (sims float32 (N, topk), ids int64 (N, topk)), best first; ties go to the lower
    centroid id. Chunked over rows, so memory stays at ``chunk * k`` floats.
    """
    n, k = x.shape[0], centroids.shape[0]
    if not 1 <= topk <= k:
        raise ValueError(f"topk must be in [1, {k}], got {topk}")
    sims = np.empty((n, topk), dtype=np.float32)
    ids = np.empty((n, topk), dtype=np.int64)
    ct = np.ascontiguousarray(centroids, dtype=np.float32).T
    for s in range(0, n, chunk):
        block = x[s:s + chunk] @ ct  # (b, k)
        if topk == 1:
            order = np.argmax(block, axis=1)[:, None]  # first maximum = lowest id
        else:
            order = np.argsort(-block, axis=1, kind="stable")[:, :topk]
        ids[s:s + chunk] = order
        sims[s:s + chunk] = np.take_along_axis(block, order, axis=1)
    return sims, ids


def spherical_kmeans(x: np.ndarray, k: int, niter: int, nredo: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means of the rows of ``x``.

    Rows are L2-normalised (defensively), clustered with ``faiss.Kmeans(spherical=True)``
    (centroids renormalised after every iteration; with ``nredo > 1`` the best run is kept) and
    assigned to the centroid with the largest inner product (= cosine).

    ``max_points_per_centroid`` is set to ``ceil(N / k)`` so that faiss never subsamples the
    training set (its default of 256 would train on at most ``256 k`` points);
    ``min_points_per_centroid=1`` silences its warning for small ``N / k``.

    Deterministic for a fixed seed: faiss seeds its initialisation with ``seed``, and its
    OpenMP loops partition work by centroid, so the thread count does not change the result
    (checked by the tests).

    Returns:
        labels: int64 (N,) in [0, k); centroids: float32 (k, d), unit norm.

    Raises:
        ClusteringError (a ValueError): ``k`` < 1 or ``k`` > N.
    """
    xn = l2_normalize(x)
    n, d = xn.shape
    k = int(k)
    if k < 1:
        raise ClusteringError(f"k-means needs k >= 1 clusters, got {k}")
    if k > n:
        raise ClusteringError(f"k-means with k={k} clusters needs at least {k} samples, got {n}")
    if not np.isfinite(xn).all():
        raise ValueError("k-means input contains NaN or inf")
    km = faiss.Kmeans(
        d, k, niter=int(niter), nredo=int(nredo), seed=int(seed), spherical=True, verbose=False,
        min_points_per_centroid=1, max_points_per_centroid=max(1, -(-n // k)),
    )
    km.train(xn)
    centroids = l2_normalize(km.centroids.reshape(k, d))
    _, ids = top_similarities(xn, centroids, 1)
    return ids[:, 0].astype(np.int64), centroids
