"""Weighted kNN evaluation (k = 200, T = 0.1 by default) on L2-normalised backbone features.

The training images are the memory bank. Each neighbour votes for its class with weight
exp(similarity / T); the class with the largest summed weight wins (InstDisc / SimCLR kNN monitor).
"""

from __future__ import annotations

import time


from .common import add_run_arguments, datasets_of, metrics_path, open_run, write_metrics
from ..features import extract_features
from ..knn import knn_accuracy
from ..hardware import resolve_execution


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
