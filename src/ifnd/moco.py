"""MoCo v2 as the base framework (``train.framework: moco``; docs/method.md, MoCo v2).

A momentum encoder (a copy of the backbone and the MLP head, updated as
``theta_k <- m theta_k + (1 - m) theta_q`` before each step's keys) embeds the views as keys; a
queue of ``train.moco.queue_size`` keys, each stored beside its image's dataset index, supplies
the negatives. The loss is symmetric: both views are queries, each against the other view's key
(the positive) and the queue, and both views' keys enter the queue after the step.

False negatives act on the queue: an entry whose stored image shares an accepted pseudo-label
with the anchor's image (at any level, the current clustering) is eliminated from the
denominator (``elim``) or attracted as an extra positive (``attr``), exactly as the in-batch
masks of SimCLR do. An older key of the anchor's own image and an empty slot are neither
positive nor negative. MoCo uses no other in-batch key, so there is nothing else to mask.

BatchNorm cannot be allowed to leak which key is the positive: in one process the keys are
computed on a shuffled batch split into ``train.moco.bn_splits`` groups and the queries on the
batch in order split the same way, so a query and its key never share BatchNorm statistics
(MoCo's shuffling BN, on one device); under DDP BatchNorm is synchronised over the global batch
(``train.sync_batchnorm``), the choice of later MoCo versions, which keeps two ranks equal to
one process.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from .losses import COMBINES, MODES, _loss_per_anchor

__all__ = ["KeyQueue", "MocoStep", "momentum_update", "queue_fn_masks", "moco_loss", "MOCO_DEFAULTS",
           "moco_settings", "momentum_copy", "split_forward"]

MOCO_DEFAULTS = {"queue_size": 4096, "momentum": 0.99, "bn_splits": 4}


def moco_settings(train_cfg: dict) -> dict:
    """``train.moco`` over :data:`MOCO_DEFAULTS`."""
    return {**MOCO_DEFAULTS, **(train_cfg.get("moco") or {})}


class KeyQueue:
    """A ring buffer of ``size`` keys (``dim`` floats each) and the dataset index of each key's
    image (-1: an empty slot). :meth:`push` overwrites the oldest entries."""

    def __init__(self, size: int, dim: int, device: torch.device | str = "cpu") -> None:
        if size < 1:
            raise ValueError(f"queue size must be >= 1, got {size}")
        self.keys = torch.zeros(size, dim, device=device)
        self.indexes = torch.full((size,), -1, dtype=torch.int64, device=device)
        self.ptr = 0

    @property
    def size(self) -> int:
        return int(self.indexes.shape[0])

    @torch.no_grad()
    def push(self, keys: Tensor, indexes: Tensor) -> None:
        """Store ``keys`` (n, dim) and their images' ``indexes`` (n,) at the write pointer,
        wrapping around; with n > size only the last ``size`` rows are kept."""
        n = keys.shape[0]
        if indexes.shape != (n,):
            raise ValueError(f"indexes must be ({n},), got {tuple(indexes.shape)}")
        if n > self.size:
            keys, indexes, n = keys[-self.size:], indexes[-self.size:], self.size
        slots = (self.ptr + torch.arange(n, device=self.keys.device)) % self.size
        self.keys[slots] = keys.detach().to(self.keys.dtype)
        self.indexes[slots] = indexes.to(self.indexes.device)
        self.ptr = (self.ptr + n) % self.size

    def state_dict(self) -> dict:
        return {"keys": self.keys.clone(), "indexes": self.indexes.clone(), "ptr": self.ptr}

    def load_state_dict(self, state: dict) -> None:
        keys, indexes = torch.as_tensor(state["keys"]), torch.as_tensor(state["indexes"])
        if keys.shape != self.keys.shape or indexes.shape != self.indexes.shape:
            raise ValueError(f"queue state {tuple(keys.shape)} does not fit {tuple(self.keys.shape)}")
        self.keys.copy_(keys)
        self.indexes.copy_(indexes)
        self.ptr = int(state["ptr"])


def momentum_copy(model: nn.Module) -> nn.Module:
    """The momentum encoder: a copy of ``model`` that no optimiser touches."""
    target = copy.deepcopy(model)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def momentum_update(online: nn.Module, target: nn.Module, m: float) -> None:
    """``target <- m target + (1 - m) online`` for every parameter; buffers (BatchNorm's running
    statistics) are copied from ``online``, whose statistics see the same images."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.mul_(m).add_(o.detach(), alpha=1.0 - m)
    for t, o in zip(target.buffers(), online.buffers()):
        t.copy_(o)


def split_forward(model: nn.Module, x: Tensor, splits: int, order: Tensor | None = None) -> Tensor:
    """``model`` on ``x`` in ``splits`` groups, each with BatchNorm statistics of its own; with
    ``order`` (a permutation) the groups are taken from ``x[order]`` and the rows come back in
    ``x``'s order (shuffling BN)."""
    xs = x if order is None else x[order]
    out = torch.cat([model(chunk) for chunk in xs.chunk(max(1, splits))]) if splits > 1 else model(xs)
    if order is None:
        return out
    back = torch.empty_like(order)
    back[order] = torch.arange(order.shape[0], device=order.device)
    return out[back]


def queue_fn_masks(anchor_indexes: Tensor, queue_indexes: Tensor, labels: Tensor | None) -> Tensor | None:
    """(L, A, K) bool: queue entry k is a false negative of anchor a at level l, i.e. both
    images have accepted pseudo-labels there and they agree, the entry is filled and is not of
    the anchor's own image. ``labels``: (L, N) pseudo-labels (-1: rejected) or None."""
    if labels is None:
        return None
    if labels.dim() == 1:
        labels = labels[None]
    a = anchor_indexes.to(labels.device)
    q = queue_indexes.to(labels.device)
    filled = q >= 0
    la = labels[:, a]                          # (L, A)
    lq = labels[:, q.clamp(min=0)]             # (L, K)
    same = (la[:, :, None] == lq[:, None, :]) & (la[:, :, None] >= 0)
    valid = filled[None, :] & (a[:, None] != q[None, :])
    return (same & valid[None]).to(anchor_indexes.device)


def moco_loss(q: Tensor, k: Tensor, anchor_indexes: Tensor, queue_keys: Tensor, queue_indexes: Tensor,
              temperature: float, level_masks: Tensor | None = None, removal: str = "none",
              combine: str = "union") -> Tensor:
    """InfoNCE of queries ``q`` (A, d) against their positive keys ``k`` (A, d) and the queue
    (K, d) (all L2-normalised), with the queue's false negatives removed.

    Per anchor the logits are ``[q.k, q.queue_1, ..., q.queue_K] / tau``; the positive is
    column 0; an empty slot or a key of the anchor's own image is excluded from numerator and
    denominator. ``level_masks`` (L, A, K) from :func:`queue_fn_masks`; ``removal``: ``none``,
    ``elim`` (false negatives out of the denominator) or ``attr`` (extra positives);
    ``combine``: ``union`` (one loss with any level's mask) or ``average`` (the mean of the
    levels' losses). Returns the mean over anchors (float32).
    """
    if removal not in MODES or combine not in COMBINES:
        raise ValueError(f"removal must be one of {MODES}, combine one of {COMBINES}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    qf, kf, queue = q.float(), k.float(), queue_keys.to(q.device).float()
    logits = torch.cat([(qf * kf).sum(1, keepdim=True), qf @ queue.T], 1) / float(temperature)
    a, kq = anchor_indexes.to(q.device), queue_indexes.to(q.device)
    n_anchor = q.shape[0]
    never = torch.cat([torch.zeros(n_anchor, 1, dtype=torch.bool, device=q.device),
                       (kq[None, :] < 0) | (kq[None, :] == a[:, None])], 1)  # (A, 1 + K)
    pos = torch.zeros_like(never)
    pos[:, 0] = True
    fn = None
    if level_masks is not None and removal != "none":
        if level_masks.dim() == 2:
            level_masks = level_masks[None]
        pad = torch.zeros(level_masks.shape[0], n_anchor, 1, dtype=torch.bool, device=q.device)
        fn = torch.cat([pad, level_masks.to(device=q.device, dtype=torch.bool)], 2) & ~(never | pos)
        if combine == "union":
            fn = fn.any(0)
    per_anchor = _loss_per_anchor(logits, never, pos, fn, removal)
    return per_anchor.mean(-1).mean() if per_anchor.dim() > 1 else per_anchor.mean()


class MocoStep:
    """What a MoCo v2 run adds to the trainer: the momentum encoder, the queue, the shuffled-BN
    generator, the step's forward and loss, and the queue update after the optimiser step."""

    def __init__(self, model: nn.Module, train_cfg: dict, proj_dim: int, device, world_size: int) -> None:
        self.settings = moco_settings(train_cfg)
        self.key_model = momentum_copy(model)
        self.queue = KeyQueue(int(self.settings["queue_size"]), int(proj_dim), device)
        # one BatchNorm group under DDP (synchronised BatchNorm over the global batch)
        self.splits = int(self.settings["bn_splits"]) if world_size == 1 else 1
        self.shuffle_gen = torch.Generator().manual_seed(int(train_cfg["seed"]) + 7919)
        # the last step's false-negative masks over the queue, and the queue they were over
        self.masks: Tensor | None = None
        self.queue_before = self.queue.indexes.clone()

    def update_key_model(self, model: nn.Module) -> None:
        momentum_update(model, self.key_model, float(self.settings["momentum"]))

    def forward_loss(self, net: nn.Module, x: Tensor, indexes: Tensor, labels: Tensor | None,
                     gather, autocast, temperature: float, removal: str, combine: str):
        """MoCo v2's symmetric loss: both views are queries against the other view's key and the
        queue. ``x``: this rank's views (2b rows); ``indexes``: the global batch's image ids
        (2B); ``gather``: rows of every rank (with gradients), in the global batch's order.
        Returns (loss, the queue's false-negative masks (L, 2B, K) or None, the keys (2B, d))."""
        n = x.shape[0]
        with autocast():
            z = split_forward(net, x, self.splits)
            with torch.no_grad():
                # the keys on a shuffled batch (shuffling BN): a query and its key never share
                # BatchNorm statistics
                order = torch.randperm(n, generator=self.shuffle_gen).to(x.device) if self.splits > 1 else None
                k = split_forward(self.key_model, x, self.splits, order)
        z, k = gather(z), gather(k.float()).detach()
        b = z.shape[0] // 2
        masks = queue_fn_masks(indexes, self.queue.indexes, labels)
        halves = ((slice(0, b), slice(b, 2 * b)), (slice(b, 2 * b), slice(0, b)))
        loss = sum(moco_loss(z[qs], k[ks], indexes[qs], self.queue.keys, self.queue.indexes, temperature,
                             None if masks is None else masks[:, qs], removal, combine)
                   for qs, ks in halves) / 2
        return loss, masks, k

    def after_step(self, masks: Tensor | None, keys: Tensor, indexes: Tensor) -> None:
        """Keep the step's masks and the queue they were over (for the statistics), then push
        both views' keys."""
        self.masks, self.queue_before = masks, self.queue.indexes.clone()
        self.queue.push(keys, indexes)

    def state_dict(self) -> dict:
        return {"key_model": self.key_model.state_dict(), "queue": self.queue.state_dict(),
                "shuffle_rng": self.shuffle_gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.key_model.load_state_dict(state["key_model"])
        self.queue.load_state_dict(state["queue"])
        self.shuffle_gen.set_state(state["shuffle_rng"])
