"""Embedding passes: backbone features or normalised projections of a whole dataset."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from .augment import to_input


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _batches(dataset, batch_size: int):
    n = len(dataset)
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(start + batch_size, n))
        if getattr(dataset, "in_memory", True):
            yield dataset.images[idx]
        else:
            yield dataset.load_uint8(idx)


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
    for images in _batches(dataset, batch_size):
        x = to_input(images.to(device, non_blocking=True), image_size)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            h = model.backbone(x)
            if which == "projection":
                h = model.head(h)
        h = h.float()
        out.append((F.normalize(h, dim=1) if normalize else h).cpu())
    model.train(was_training)
    return torch.cat(out)
