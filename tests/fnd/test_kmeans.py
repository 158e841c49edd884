import faiss
import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from ifnd.errors import UserError
from ifnd.fnd import ClusteringError, cluster_confidence, spherical_kmeans


def test_recovers_blobs(blobs):
    x, y = blobs
    labels, cent = spherical_kmeans(x, 4, niter=20, nredo=3, seed=0)
    assert labels.dtype == np.int64 and labels.shape == y.shape
    assert cent.dtype == np.float32 and cent.shape == (4, 16)
    np.testing.assert_allclose(np.linalg.norm(cent, axis=1), 1.0, atol=1e-5)
    assert normalized_mutual_info_score(y, labels) == pytest.approx(1.0)
    # assignment = max inner product
    assert np.array_equal(labels, np.argmax(x @ cent.T, axis=1))


def test_unnormalised_input_is_normalised(blobs):
    x, _ = blobs
    a, ca = spherical_kmeans(x, 4, 20, 1, 0)
    b, cb = spherical_kmeans(np.asfortranarray(x.astype(np.float64) * 7.5), 4, 20, 1, 0)
    assert np.array_equal(a, b)
    np.testing.assert_allclose(ca, cb, atol=1e-5)


def test_deterministic_and_seed_dependent():
    x = np.random.default_rng(1).standard_normal((600, 8)).astype(np.float32)
    a, ca = spherical_kmeans(x, 10, 10, 1, seed=3)
    b, cb = spherical_kmeans(x, 10, 10, 1, seed=3)
    assert np.array_equal(a, b) and np.array_equal(ca, cb)
    # the thread count does not change the result
    nthreads = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(1)
        c, cc = spherical_kmeans(x, 10, 10, 1, seed=3)
    finally:
        faiss.omp_set_num_threads(nthreads)
    assert np.array_equal(a, c) and np.array_equal(ca, cc)
    # unstructured data: other seeds give other partitions
    others = [spherical_kmeans(x, 10, 10, 1, seed=s)[0] for s in (4, 5)]
    assert any(not np.array_equal(a, o) for o in others)


def test_k_too_large():
    x = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError):
        spherical_kmeans(x, 4, 10, 1, 0)
    with pytest.raises(UserError):
        spherical_kmeans(x, 4, 10, 1, 0)
    labels, _ = spherical_kmeans(x, 3, 10, 1, 0)  # k == N works
    assert sorted(labels.tolist()) == [0, 1, 2]
    assert issubclass(ClusteringError, ValueError)


def test_confidence_by_hand():
    x = np.array([[1, 0], [0.6, 0.8], [0, 1], [-1, 0]], dtype=np.float32)
    cent = np.array([[1, 0], [0, 1]], dtype=np.float32)
    labels = np.array([0, 1, 1, 0])
    cos = cluster_confidence(x, cent, labels, "cosine")
    np.testing.assert_allclose(cos, [1.0, 0.8, 1.0, -1.0], atol=1e-6)
    assert cos.dtype == np.float32
    margin = cluster_confidence(x, cent, labels, "margin")
    # nearest - second nearest: 1-0, 0.8-0.6, 1-0, 0-(-1)
    np.testing.assert_allclose(margin, [1.0, 0.2, 1.0, 1.0], atol=1e-6)
    with pytest.raises(ValueError):
        cluster_confidence(x, cent, labels, "entropy")
