"""Weighted kNN evaluation (k = 200, T = 0.1 by default) on L2-normalised backbone features.

The training images are the memory bank. Each neighbour votes for its class with weight
exp(similarity / T); the class with the largest summed weight wins (InstDisc / SimCLR kNN monitor).
"""

from __future__ import annotations

import time

import torch

from .common import add_run_arguments, datasets_of, metrics_path, open_run, write_metrics
from ..features import extract_features
from ..hardware import resolve_execution


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


def add_arguments(parser) -> None:
    add_run_arguments(parser, "knn")
    parser.add_argument("--k", type=int, default=None, help="neighbours (default: eval.knn_k)")
    parser.add_argument("--temperature", type=float, default=None, help="default: eval.knn_t")


def run(args) -> int:
    started = time.time()
    model, cfg, _, device = open_run(args)
    train, test = datasets_of(cfg, args.on)
    k = args.k or cfg["eval"]["knn_k"]
    t = args.temperature or cfg["eval"]["knn_t"]
    size, ex = cfg["data"]["image_size"], resolve_execution(cfg["train"], device)
    bank = extract_features(model, train, size, device, precision=ex.precision,
                            channels_last=ex.channels_last)
    queries = extract_features(model, test, size, device, precision=ex.precision,
                               channels_last=ex.channels_last)
    metrics = knn_accuracy(bank, train.labels, queries, test.labels, train.num_classes, k, t)
    metrics.update(k=k, temperature=t, random_init=bool(args.random_init))
    path = metrics_path(args, "knn_random" if args.random_init else "knn")
    write_metrics(path, "knn", metrics, run_dir=args.run_dir, started=started, execution=ex,
                  evaluated_on=args.on)
    print(f"kNN top-1 ({args.on}) {100 * metrics['top1']:.2f}% -> {path}")
    return 0
