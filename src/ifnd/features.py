"""Embedding passes: backbone features or normalised projections of a whole dataset."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .augment import to_input
from .hardware import autocast


def _batches(dataset, batch_size: int):
    n = len(dataset)
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(start + batch_size, n))
        if getattr(dataset, "in_memory", True):
            yield dataset.images[idx]
        else:
            yield dataset.load_uint8(idx)


def _embedded_batches(model, dataset, image_size: int, device: torch.device, batch_size: int,
                      precision: str, channels_last: bool, with_head: bool):
    """(backbone features, projections or None) per batch, float32 on ``device``, unnormalised."""
    for images in _batches(dataset, batch_size):
        x = to_input(images.to(device, non_blocking=True), image_size)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            h = model.backbone(x)
            p = model.head(h) if with_head else None
        yield h.float(), (None if p is None else p.float())


@torch.no_grad()
def extract_features(model, dataset, image_size: int, device: torch.device, *, which: str = "backbone",
                     batch_size: int = 1024, precision: str = "bf16", channels_last: bool = True,
                     normalize: bool = True) -> torch.Tensor:
    """Features of every image in ``dataset`` (no augmentation, eval mode) as float32 on the CPU.

    ``which``: ``backbone`` (pooled trunk features) or ``projection`` (the head's output).
    ``model`` is a :class:`ContrastiveModel`; its train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    out = []
    for h, p in _embedded_batches(model, dataset, image_size, device, batch_size, precision,
                                  channels_last, with_head=which == "projection"):
        h = p if which == "projection" else h
        out.append((F.normalize(h, dim=1) if normalize else h).cpu())
    model.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def embed_both(model, dataset, image_size: int, device: torch.device, *, batch_size: int = 1024,
               precision: str = "bf16", channels_last: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(backbone features, projections) of every image, both L2-normalised, on ``device``: one
    pass serves the kNN monitor (backbone) and the clustering (either)."""
    was_training = model.training
    model.eval()
    feats, projs = [], []
    for h, p in _embedded_batches(model, dataset, image_size, device, batch_size, precision,
                                  channels_last, with_head=True):
        feats.append(F.normalize(h, dim=1))
        projs.append(F.normalize(p, dim=1))
    model.train(was_training)
    return torch.cat(feats), torch.cat(projs)
