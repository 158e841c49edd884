"""Semi-supervised evaluation: fine-tune the backbone and a linear head on a labelled fraction.

The labelled rows come from a split file (``ifnd splits``) or, without ``--split``, are drawn
on the fly with the run's ``train.seed`` (the same rows ``ifnd splits --seed <train.seed>``
would write). Training: ``eval.semisup`` epochs, batch size, lr and weight decay; SGD with
momentum 0.9 and a cosine schedule; random crops and flips only (no colour jitter); the
precision and memory format of ``train.precision`` / ``train.channels_last`` as resolved on this
machine (``auto``: see ifnd.hardware).
The metric is test top-1 (and top-5 with more than 10 classes).

Default output: RUN_DIR/eval/semisup_<percent>.json (e.g. semisup_1.json for 1%), or
semisup_random_<percent>.json with ``--random-init``.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import BatchedSimCLRAugment, to_input
from ..features import autocast
from ..hardware import resolve_execution
from .common import (add_run_arguments, datasets_of, file_sha256, metrics_path, open_run,
                     write_metrics)
from .linear import (check_channels, classification_metrics, cosine_lambda, crop_flip_config,
                     progress_bar, rows)
from .splits import check_fraction, check_split_against, labelled_rows, load_split


def train_classifier(backbone: nn.Module, head: nn.Module, dataset, indices, *, epochs: int,
                     batch_size: int, lr: float, weight_decay: float, aug_cfg: dict,
                     image_size: int, device: torch.device, precision: str = "fp32",
                     channels_last: bool = False, seed: int = 0, progress: bool = True,
                     desc: str = "fine-tune") -> list[float]:
    """Train ``head(backbone(x))`` end to end with cross-entropy on the rows ``indices`` of
    ``dataset`` (crop+flip augmentation from ``aug_cfg``). Returns the mean loss per epoch.

    SGD (momentum 0.9) with a per-step cosine schedule. Every epoch is a fresh permutation of
    all rows cut into ``round(n / batch_size)`` (at least one) batches of nearly equal size, so
    every row is used once per epoch and BatchNorm never sees a tiny last batch.
    """
    indices = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
    n = len(indices)
    if n == 0:
        raise ValueError("no training rows")
    steps = max(1, round(n / batch_size))
    params = [p for p in list(backbone.parameters()) + list(head.parameters()) if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_lambda(epochs * steps))
    gen = torch.Generator().manual_seed(int(seed))
    aug_gen = torch.Generator(device=device).manual_seed(int(seed) + 1)
    aug = BatchedSimCLRAugment(crop_flip_config(aug_cfg), image_size)
    if channels_last:
        backbone.to(memory_format=torch.channels_last)
    in_memory = getattr(dataset, "in_memory", True)
    # the labelled images of an in-memory dataset live on the device for the whole run
    images = dataset.images[indices].to(device) if in_memory else None
    labels = dataset.labels[indices].to(device)
    backbone.train()
    head.train()
    losses = []
    bar = progress_bar(range(epochs), desc, progress)
    for _ in bar:
        perm = torch.randperm(n, generator=gen)
        total, seen = 0.0, 0
        for b in perm.tensor_split(steps):
            raw = images[b.to(device)] if in_memory else rows(dataset, indices[b]).to(device)
            x = aug(raw, aug_gen)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                logits = head(backbone(x))
            loss = F.cross_entropy(logits.float(), labels[b.to(device)])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.detach() * len(b)
            seen += len(b)
        losses.append(float(total) / seen)
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    return losses


@torch.no_grad()
def evaluate_classifier(backbone: nn.Module, head: nn.Module, dataset, *, image_size: int,
                        device: torch.device, precision: str = "fp32", channels_last: bool = False,
                        batch_size: int = 256) -> dict:
    """Top-1 (and top-5 with more than 10 classes) of ``head(backbone(x))`` on un-augmented images."""
    was = backbone.training, head.training
    backbone.eval()
    head.eval()
    logits = []
    n = len(dataset)
    for start in range(0, n, batch_size):
        x = to_input(rows(dataset, torch.arange(start, min(start + batch_size, n))).to(device), image_size)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            logits.append(head(backbone(x)).float())
    backbone.train(was[0])
    head.train(was[1])
    return classification_metrics(torch.cat(logits), dataset.labels, dataset.num_classes)


def percent_name(fraction: float) -> str:
    """0.01 -> "1", 0.1 -> "10", 0.005 -> "0.5"."""
    return f"{round(fraction * 100, 6):g}"


def add_arguments(parser) -> None:
    add_run_arguments(parser, "semisup_<percent>")
    parser.add_argument("--fraction", type=float, required=True,
                        help="labelled fraction of the training set, in (0, 1] (e.g. 0.01, 0.1)")
    parser.add_argument("--split", default=None,
                        help="split file from `ifnd splits` (default: drawn with the run's train.seed)")


def run(args) -> int:
    started = time.time()
    fraction = check_fraction(args.fraction)
    model, cfg, meta, device = open_run(args)
    seed = int(cfg["train"]["seed"])
    train, test = datasets_of(cfg, args.on)
    check_channels(train, meta)
    split_inputs = {}
    if args.split:
        split = load_split(args.split, cfg["data"])
        indices = check_split_against(split, args.split, train, fraction)
        split_inputs = {"split": str(Path(args.split)), "split_sha256": file_sha256(args.split),
                        "split_seed": int(split["seed"])}
    else:
        indices = labelled_rows(train, cfg["eval"]["semisup"], fraction, seed)
        split_inputs = {"split": None, "split_seed": seed}
    semi = cfg["eval"]["semisup"]
    ex = resolve_execution(cfg["train"], device)
    size, prec, cl = cfg["data"]["image_size"], ex.precision, ex.channels_last
    progress = bool(cfg["train"].get("progress", True))
    torch.manual_seed(seed)
    backbone = model.backbone
    head = nn.Linear(backbone.feat_dim, train.num_classes).to(device)
    pct = percent_name(fraction)
    losses = train_classifier(backbone, head, train, indices, epochs=semi["epochs"],
                              batch_size=semi["batch_size"], lr=semi["lr"],
                              weight_decay=semi["weight_decay"], aug_cfg=cfg["augment"],
                              image_size=size, device=device, precision=prec, channels_last=cl,
                              seed=seed, progress=progress, desc=f"semisup {pct}%")
    metrics = evaluate_classifier(backbone, head, test, image_size=size, device=device,
                                  precision=prec, channels_last=cl)
    metrics.update(fraction=fraction, labelled=int(len(indices)), epochs=semi["epochs"],
                   final_loss=round(losses[-1], 6) if losses else None,
                   random_init=bool(args.random_init))
    name = f"semisup_random_{pct}" if args.random_init else f"semisup_{pct}"
    path = metrics_path(args, name)
    write_metrics(path, "semisup", metrics, run_dir=args.run_dir, started=started, execution=ex,
                  evaluated_on=args.on, **split_inputs)
    print(f"semi-supervised {pct}% ({len(indices)} labels) top-1 {100 * metrics['top1']:.2f}% -> {path}")
    return 0
