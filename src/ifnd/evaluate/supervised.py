"""The supervised reference (the ceiling row): the same backbone and a linear head trained from
scratch with every training label.

``eval.supervised`` epochs, batch size and lr; the pretraining weight decay
(``train.weight_decay``); SGD with momentum 0.9 and a cosine schedule; random crops and flips
(no colour jitter); precision and memory format as ``train.precision`` / ``train.channels_last``
resolve on this machine (ifnd.hardware); seeded by ``train.seed``. The metric
is test top-1 (and top-5 with more than 10 classes).
"""

from __future__ import annotations

import time

import torch
from torch import nn

from ..hardware import resolve_execution
from ..models import build_backbone
from .common import add_reference_arguments, open_config, write_metrics
from .semisup import evaluate_classifier, train_classifier


add_arguments = add_reference_arguments  # the options of a reference computed from a config


def run(args) -> int:
    started = time.time()
    cfg, device, train, test = open_config(args)
    sup, tr = cfg["eval"]["supervised"], cfg["train"]
    seed = int(tr["seed"])
    ex = resolve_execution(tr, device)
    size, prec, cl = cfg["data"]["image_size"], ex.precision, ex.channels_last
    torch.manual_seed(seed)
    backbone = build_backbone(cfg["model"], train.channels).to(device)
    head = nn.Linear(backbone.feat_dim, train.num_classes).to(device)
    losses = train_classifier(backbone, head, train, torch.arange(len(train)), epochs=sup["epochs"],
                              batch_size=sup["batch_size"], lr=sup["lr"],
                              weight_decay=tr["weight_decay"], aug_cfg=cfg["augment"],
                              image_size=size, device=device, precision=prec, channels_last=cl,
                              seed=seed, progress=bool(tr.get("progress", True)), desc="supervised")
    metrics = evaluate_classifier(backbone, head, test, image_size=size, device=device,
                                  precision=prec, channels_last=cl)
    metrics.update(epochs=sup["epochs"], train_size=len(train), final_loss=round(losses[-1], 6))
    write_metrics(args.out, "supervised", metrics, cfg=cfg, started=started, execution=ex,
                  evaluated_on=args.on)
    print(f"supervised top-1 {100 * metrics['top1']:.2f}% -> {args.out}")
    return 0
