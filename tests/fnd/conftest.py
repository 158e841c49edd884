import numpy as np
import pytest


def make_blobs(n_per=100, n_blobs=4, d=16, noise=0.05, seed=0):
    """Well-separated clusters on the unit sphere; returns (x float32 (N, d), y int64 (N,))."""
    rng = np.random.default_rng(seed)
    centers = np.linalg.qr(rng.standard_normal((d, d)))[0][:n_blobs]  # orthonormal centers
    y = np.repeat(np.arange(n_blobs), n_per)
    x = centers[y] + noise * rng.standard_normal((y.size, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), y.astype(np.int64)


@pytest.fixture
def blobs():
    return make_blobs()
