"""The detection study: pair counts against brute force over the N x N pair matrix, the level
combinations, the stability gate, and the study on clean and noisy embeddings (`ifnd detect` end
to end: tests/train/test_detect.py)."""

import numpy as np
import pytest

from ifnd.fnd.study import DetectionStudy, combined_counts, pair_counts, stable_mask, true_pairs


def _pair_matrix(pseudo):
    p = np.asarray(pseudo)
    same = (p[:, None] == p[None, :]) & (p[:, None] >= 0)
    np.fill_diagonal(same, False)
    return same


def _brute(levels, truth, combine):
    mats = np.stack([_pair_matrix(level) for level in levels])
    true = _pair_matrix(truth)
    if combine == "union":
        det = mats.any(0)
    elif combine == "intersection":
        det = mats.all(0)
    else:  # majority
        det = mats.sum(0) > len(levels) / 2
    return det.sum(), (det & true).sum()


def test_pair_counts_by_hand():
    # clusters {0,1,2} and {3,4}, sample 5 rejected; true classes a a b | b b | a
    pseudo = np.array([0, 0, 0, 1, 1, -1])
    truth = np.array([0, 0, 1, 1, 1, 0])
    # detected ordered pairs: 3*2 + 2*1 = 8; correct: (0,1),(1,0) and (3,4),(4,3) = 4
    assert pair_counts(pseudo, truth) == (8, 4)
    # true pairs: class 0 has 3 images (6 pairs), class 1 has 3 (6 pairs)
    assert true_pairs(truth) == 12


@pytest.mark.parametrize("combine", ["union", "intersection", "majority"])
@pytest.mark.parametrize("n_levels", [1, 2, 3, 4])
def test_combined_counts_equal_brute_force(combine, n_levels):
    rng = np.random.default_rng(n_levels)
    n = 40
    truth = rng.integers(0, 4, n)
    levels = rng.integers(0, 5, (n_levels, n))
    levels[rng.random((n_levels, n)) < 0.3] = -1  # rejected samples
    det, cor = combined_counts(levels, truth, combine)
    assert (det, cor) == tuple(float(v) for v in _brute(levels, truth, combine))


def test_average_is_the_mean_of_the_levels():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 30)
    levels = rng.integers(0, 4, (3, 30))
    per = [pair_counts(level, truth) for level in levels]
    assert combined_counts(levels, truth, "average") == (np.mean([p[0] for p in per]),
                                                        np.mean([p[1] for p in per]))


def test_stable_mask_keeps_the_agreeing_members():
    first = np.array([0, 0, 0, 1, 1, 1])
    other = np.array([5, 5, 2, 2, 2, 2])  # cluster 0 maps to 5 (2 of 3), cluster 1 to 2
    assert stable_mask(first, other).tolist() == [True, True, False, True, True, True]


def test_study_scores_perfect_and_random_embeddings():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 50)
    centres = np.eye(8)[:4] * 10
    clean = centres[truth] + rng.normal(0, 0.1, (200, 8))
    study = DetectionStudy({"projection": clean, "backbone": rng.normal(size=(200, 8))}, truth)
    setting = dict(levels=(4,), seeds=(0,), niter=20, nredo=3, confidence="cosine",
                   ranking="per_cluster", rate=1.0)
    good = study.score("union", features="projection", **setting)
    assert good["precision"] == pytest.approx(1.0) and good["recall"] == pytest.approx(1.0)
    noise = study.score("union", features="backbone", **setting)
    assert noise["precision"] < 0.5  # about chance (1/4) on unstructured features
    half = study.score("union", features="projection", **{**setting, "rate": 0.5})
    assert half["accepted_fraction"] == pytest.approx(0.5) and half["recall"] == pytest.approx(
        (25 * 24 * 4) / (50 * 49 * 4))
