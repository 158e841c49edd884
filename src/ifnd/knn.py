"""Weighted kNN classification on L2-normalised features (InstDisc / SimCLR kNN monitor): the
bank's images vote for their class with weight exp(similarity / T) among the k nearest.

A leaf module (torch only): the online monitor of pretraining (ifnd.train) and the `ifnd knn`
evaluation (ifnd.evaluate.knn) both score with it.
"""

from __future__ import annotations

import torch

__all__ = ["weighted_knn_scores", "topk_accuracy", "knn_accuracy"]


@torch.no_grad()
def weighted_knn_scores(bank: torch.Tensor, bank_labels: torch.Tensor, queries: torch.Tensor,
                        num_classes: int, k: int = 200, temperature: float = 0.1,
                        chunk: int = 1024) -> torch.Tensor:
    """Class scores (Q, num_classes) of each query; features must be L2-normalised."""
    k = min(k, bank.shape[0])
    scores = []
    for start in range(0, queries.shape[0], chunk):
        sim = queries[start:start + chunk] @ bank.T
        top_sim, top_idx = sim.topk(k, dim=1)
        weights = (top_sim / temperature).exp()
        votes = torch.zeros(sim.shape[0], num_classes, dtype=weights.dtype, device=weights.device)
        votes.scatter_add_(1, bank_labels[top_idx], weights)
        scores.append(votes)
    return torch.cat(scores)


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, k: int = 1) -> float:
    k = min(k, scores.shape[1])
    top = scores.topk(k, dim=1).indices
    return (top == labels.view(-1, 1)).any(1).float().mean().item()


def knn_accuracy(bank, bank_labels, queries, query_labels, num_classes, k=200, temperature=0.1) -> dict:
    scores = weighted_knn_scores(bank, bank_labels, queries, num_classes, k, temperature)
    out = {"top1": topk_accuracy(scores, query_labels, 1)}
    if num_classes > 10:
        out["top5"] = topk_accuracy(scores, query_labels, 5)
    return out
