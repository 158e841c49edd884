"""Linear evaluation: a linear classifier on the frozen backbone; test top-1 (and top-5 with
more than 10 classes).

Default (``eval.linear.augment: false``): the backbone features of the un-augmented training
and test images are extracted once, standardised with the training mean and std, and a linear
layer is trained on them (SGD with Nesterov momentum 0.9 and a cosine schedule over
``eval.linear.epochs`` epochs of ``batch_size``, ``lr``, ``weight_decay``; seeded by the run's
``train.seed``). That takes seconds on a CPU.

``eval.linear.augment: true`` (paper scale): random crops and flips of the training images pass
through the frozen backbone (in eval mode) at every step instead.

Afterwards every backbone tensor (weights and BatchNorm buffers) is compared with its value
before the evaluation (MoCo's sanity check); any change is an error.

``--random-init`` evaluates the same architecture at a seeded random initialisation: the floor
row "same encoder, random weights" (default output RUN_DIR/eval/linear_random.json).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..augment import BatchedSimCLRAugment
from ..errors import UserError
from ..features import autocast, extract_features
from ..hardware import resolve_execution
from .common import add_run_arguments, datasets_of, metrics_path, open_run, write_metrics
from ..knn import topk_accuracy


# images per forward pass when extracting features: small batches keep a CPU's caches warm
EVAL_BATCH = 256


class BackboneChangedError(RuntimeError):
    """The frozen backbone changed during an evaluation that must not touch it."""


# ---------------------------------------------------------------------------------------------
# helpers shared by the evaluation commands


def rows(dataset, indices) -> torch.Tensor:
    """uint8 (B, C, H, W) images of the given rows of an in-memory or ImageFolder dataset."""
    idx = torch.as_tensor(indices, dtype=torch.int64)
    if getattr(dataset, "in_memory", True):
        return dataset.images[idx]
    return dataset.load_uint8(idx)


def crop_flip_config(aug_cfg: dict) -> dict:
    """The run's augmentation config reduced to random resized crops and flips (no colour, no blur)."""
    return {**aug_cfg, "jitter_prob": 0.0, "brightness": 0.0, "contrast": 0.0, "saturation": 0.0,
            "hue": 0.0, "grayscale_prob": 0.0, "blur_prob": 0.0}


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    """{"top1"} and, with more than 10 classes, {"top5"}: fractions in 0..1."""
    labels = labels.to(logits.device)
    out = {"top1": topk_accuracy(logits, labels, 1)}
    if num_classes > 10:
        out["top5"] = topk_accuracy(logits, labels, 5)
    return out


def progress_bar(iterable, desc: str, enabled: bool = True):
    """A tqdm bar on a terminal only: in a log file its carriage returns would be noise."""
    return tqdm(iterable, desc=desc, disable=not (enabled and sys.stderr.isatty()), file=sys.stderr,
                dynamic_ncols=True, leave=False)


def cosine_lambda(total_steps: int):
    total = max(1, total_steps)
    return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


def standardiser(train_x: torch.Tensor):
    """(mean, std) of the training features; near-constant dimensions get a floor on std so that
    they cannot blow up on test data."""
    mean = train_x.mean(0, keepdim=True)
    std = train_x.std(0, keepdim=True)
    floor = 1e-2 * float(std.mean()) + 1e-8
    return mean, std.clamp_min(floor)


@contextlib.contextmanager
def single_thread_on_cpu(device: torch.device):
    """Run tiny CPU ops (a linear layer on a few hundred features) on one thread: spreading them
    over several costs more in synchronisation than it gains, badly so on a busy machine."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_channels(dataset, meta: dict) -> None:
    want = meta.get("in_channels")
    if want is not None and int(want) != int(dataset.channels):
        raise UserError(f"the run's encoder takes {want}-channel images but dataset "
                        f"{dataset.name} has {dataset.channels} channels")


# ---------------------------------------------------------------------------------------------
# the linear probe on fixed features


def train_linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                       test_y: torch.Tensor, num_classes: int, *, epochs: int, lr: float,
                       batch_size: int, weight_decay: float = 0.0, seed: int = 0,
                       device: torch.device | str | None = None, progress: bool = True,
                       desc: str = "linear probe") -> dict:
    """Train a linear classifier on fixed features (standardised with the training mean/std)
    and return {"top1", "top5"?, "train_top1", "epochs"} on the test features.

    SGD with Nesterov momentum 0.9 and a cosine schedule; the layer starts at zero and the
    minibatch order comes from ``seed``, so the result is deterministic on a given machine.
    """
    device = torch.device(device) if device is not None else train_x.device
    train_x = train_x.to(device, torch.float32)
    test_x = test_x.to(device, torch.float32)
    train_y = train_y.to(device, torch.int64)
    test_y = test_y.to(device, torch.int64)
    mean, std = standardiser(train_x)
    train_x = (train_x - mean) / std
    test_x = (test_x - mean) / std

    n, dim = train_x.shape
    head = nn.Linear(dim, num_classes).to(device)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    bs = max(1, min(batch_size, n))
    steps = math.ceil(n / bs)
    opt = torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9, nesterov=True,
                          weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_lambda(epochs * steps))
    gen = torch.Generator().manual_seed(int(seed))
    bar = progress_bar(range(epochs), desc, progress)
    with single_thread_on_cpu(device):
        for _ in bar:
            perm = torch.randperm(n, generator=gen).to(device)
            total = 0.0
            for s in range(steps):
                b = perm[s * bs:(s + 1) * bs]
                total += sgd_step(opt, sched, F.cross_entropy(head(train_x[b]), train_y[b])) * len(b)
            bar.set_postfix(loss=f"{float(total) / n:.4f}", refresh=False)
    with torch.no_grad():
        out = classification_metrics(head(test_x), test_y, num_classes)
        out["train_top1"] = topk_accuracy(head(train_x), train_y, 1)
    out["epochs"] = epochs
    return out


def sgd_step(opt: torch.optim.Optimizer, sched, loss: torch.Tensor) -> torch.Tensor:
    """One step of the linear probe: gradients of ``loss``, the optimiser, the scheduler; the
    detached loss."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    return loss.detach()


def train_linear_augmented(model, train, test, cfg: dict, device: torch.device, *,
                           seed: int, progress: bool = True) -> dict:
    """Linear classifier trained through the frozen backbone (eval mode, no gradients) on
    random crops and flips; features standardised with the clean training features' mean/std."""
    lin = cfg["eval"]["linear"]
    size, ex = cfg["data"]["image_size"], resolve_execution(cfg["train"], device)
    prec, cl = ex.precision, ex.channels_last
    train_f = extract_features(model, train, size, device, precision=prec, channels_last=cl,
                               normalize=False, batch_size=EVAL_BATCH).to(device)
    test_f = extract_features(model, test, size, device, precision=prec, channels_last=cl,
                              normalize=False, batch_size=EVAL_BATCH).to(device)
    mean, std = standardiser(train_f)
    del train_f
    backbone = model.backbone
    model.eval()
    head = nn.Linear(backbone.feat_dim, train.num_classes).to(device)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    n = len(train)
    bs = max(1, min(lin["batch_size"], n))
    steps = math.ceil(n / bs)
    opt = torch.optim.SGD(head.parameters(), lr=lin["lr"], momentum=0.9, nesterov=True,
                          weight_decay=lin["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_lambda(lin["epochs"] * steps))
    gen = torch.Generator().manual_seed(int(seed))
    aug_gen = torch.Generator(device=device).manual_seed(int(seed) + 1)
    aug = BatchedSimCLRAugment(crop_flip_config(cfg["augment"]), size)
    labels = train.labels.to(device)
    bar = progress_bar(range(lin["epochs"]), "linear (augmented)", progress)
    for _ in bar:
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for s in range(steps):
            b = perm[s * bs:(s + 1) * bs]
            x = aug(rows(train, b).to(device, non_blocking=True), aug_gen)
            if cl:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.no_grad(), autocast(device, prec):
                h = backbone(x)
            h = (h.float() - mean) / std
            total += sgd_step(opt, sched, F.cross_entropy(head(h), labels[b.to(device)])) * len(b)
        bar.set_postfix(loss=f"{float(total) / n:.4f}", refresh=False)
    with torch.no_grad():
        out = classification_metrics(head((test_f - mean) / std), test.labels, train.num_classes)
    out["epochs"] = lin["epochs"]
    return out


# ---------------------------------------------------------------------------------------------
# the sanity check


def backbone_state(model) -> dict:
    """A detached copy of every backbone tensor (parameters and buffers, BN stats included)."""
    backbone = getattr(model, "backbone", model)
    return {k: v.detach().clone() for k, v in backbone.state_dict().items()}


def assert_unchanged(before_state: dict, model) -> None:
    """Raise :class:`BackboneChangedError` if any backbone tensor differs from ``before_state``."""
    backbone = getattr(model, "backbone", model)
    now = backbone.state_dict()
    missing = sorted(set(before_state) ^ set(now))
    if missing:
        raise BackboneChangedError(f"backbone changed during linear evaluation: {missing[0]} "
                                   "appeared or disappeared")
    for name, before in before_state.items():
        after = now[name].detach()
        if after.shape != before.shape or not torch.equal(after.to(before.device), before):
            raise BackboneChangedError(f"backbone changed during linear evaluation: {name}")


# ---------------------------------------------------------------------------------------------
# command


def add_arguments(parser) -> None:
    add_run_arguments(parser, "linear")


def run(args) -> int:
    started = time.time()
    model, cfg, meta, device = open_run(args)
    seed = int(cfg["train"]["seed"])
    train, test = datasets_of(cfg, args.on)
    check_channels(train, meta)
    lin = cfg["eval"]["linear"]
    progress = bool(cfg["train"].get("progress", True))
    before = backbone_state(model)
    ex = resolve_execution(cfg["train"], device)
    if lin["augment"]:
        metrics = train_linear_augmented(model, train, test, cfg, device, seed=seed, progress=progress)
    else:
        size, prec, cl = cfg["data"]["image_size"], ex.precision, ex.channels_last
        train_f = extract_features(model, train, size, device, precision=prec, channels_last=cl,
                                   normalize=False, batch_size=EVAL_BATCH)
        test_f = extract_features(model, test, size, device, precision=prec, channels_last=cl,
                                  normalize=False, batch_size=EVAL_BATCH)
        metrics = train_linear_probe(train_f, train.labels, test_f, test.labels, train.num_classes,
                                     epochs=lin["epochs"], lr=lin["lr"], batch_size=lin["batch_size"],
                                     weight_decay=lin["weight_decay"], seed=seed, device=device,
                                     progress=progress)
    assert_unchanged(before, model)
    metrics.update(augment=bool(lin["augment"]), random_init=bool(args.random_init),
                   backbone_unchanged=True)
    path = metrics_path(args, "linear_random" if args.random_init else "linear")
    write_metrics(path, "linear", metrics, run_dir=args.run_dir, started=started, execution=ex,
                  evaluated_on=args.on)
    what = "random-init " if args.random_init else ""
    print(f"linear {what}top-1 ({args.on}) {100 * metrics['top1']:.2f}% -> {path}")
    return 0
