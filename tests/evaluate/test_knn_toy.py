"""Weighted kNN on a hand-made 2D toy set, against votes computed by hand."""

import math

import torch

from ifnd.knn import knn_accuracy, topk_accuracy, weighted_knn_scores

# four unit vectors in 2D: two of class 0, two of class 1
BANK = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.8]])
BANK_LABELS = torch.tensor([0, 1, 1, 0])


def test_weighted_votes_match_hand_computation():
    queries = torch.tensor([[1.0, 0.0], [-0.6, 0.8]])
    scores = weighted_knn_scores(BANK, BANK_LABELS, queries, num_classes=2, k=3, temperature=0.5)
    # query (1, 0): similarities 1, 0, -1, 0.6 -> neighbours #0 (1.0, c0), #3 (0.6, c0), #1 (0.0, c1)
    # query (-0.6, 0.8): similarities -0.6, 0.8, 0.6, 0.28 -> #1 (0.8, c1), #2 (0.6, c1), #3 (0.28, c0)
    expected = torch.tensor([
        [math.exp(1.0 / 0.5) + math.exp(0.6 / 0.5), math.exp(0.0 / 0.5)],
        [math.exp(0.28 / 0.5), math.exp(0.8 / 0.5) + math.exp(0.6 / 0.5)],
    ])
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-5)
    assert topk_accuracy(scores, torch.tensor([0, 1])) == 1.0


def test_weights_beat_majority_at_low_temperature():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    labels = torch.tensor([0, 1, 1])
    query = torch.tensor([[1.0, 0.0]])  # one close class-0 neighbour, two farther class-1 ones
    sharp = weighted_knn_scores(bank, labels, query, num_classes=2, k=3, temperature=0.1)
    torch.testing.assert_close(sharp, torch.tensor([[math.exp(10.0), math.exp(0.0) + math.exp(6.0)]]))
    assert sharp.argmax(1).item() == 0
    flat = weighted_knn_scores(bank, labels, query, num_classes=2, k=3, temperature=100.0)
    assert flat.argmax(1).item() == 1  # nearly equal weights: the majority wins
    # k larger than the bank uses the whole bank; k=1 is the nearest neighbour
    near = weighted_knn_scores(bank, labels, query, num_classes=2, k=1, temperature=0.1)
    torch.testing.assert_close(near, torch.tensor([[math.exp(10.0), 0.0]]))
    big = weighted_knn_scores(bank, labels, query, num_classes=2, k=50, temperature=0.1)
    torch.testing.assert_close(big, sharp)


def test_knn_accuracy_top5_only_above_ten_classes():
    out = knn_accuracy(BANK, BANK_LABELS, BANK, BANK_LABELS, num_classes=2, k=1, temperature=0.1)
    assert out == {"top1": 1.0}
    out = knn_accuracy(BANK, BANK_LABELS, BANK, BANK_LABELS, num_classes=11, k=1, temperature=0.1)
    assert set(out) == {"top1", "top5"}
