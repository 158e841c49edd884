"""Contrastive losses with false-negative removal (docs/method.md: Base loss, Removal strategies).

All functions are pure (no state, no host synchronisation on CUDA) and work on any device.

Notation: ``n = 2B`` rows of L2-normalised projections ``z``; ``s(a, k) = z_a . z_k / tau``.
Positives of anchor ``a`` are the other rows with the same image id (``indexes``), so the
functions do not depend on the row order (solo-learn style). ``fn_mask[a, k]`` marks ``k`` as
a detected false negative of anchor ``a``; the anchor itself and its positives are always
cleared from the mask here, whatever the caller passes.

Modes:

* ``"none"``: NT-Xent / InfoNCE,
  ``l_a = mean_{p in P(a)} -log(exp s(a,p) / sum_{k != a} exp s(a,k))`` (with two views
  ``P(a) = {p}``), averaged over all anchors; ``fn_mask`` is ignored.
* ``"elim"``: false negatives are removed from the denominator,
  ``l_a = -log(exp s(a,p) / sum_{k != a, k not in FN(a)} exp s(a,k))``.
* ``"attr"``: false negatives become extra positives (SupCon),
  ``l_a = mean_{q in {p} u FN(a)} -log(exp s(a,q) / sum_{k != a} exp s(a,k))``.

With an empty (or ``None``) mask, ``elim`` and ``attr`` run exactly the same operations on the
same values as ``none`` and so return the identical number.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "MODES",
    "COMBINES",
    "contrastive_loss",
    "combine_levels",
    "ifnd_loss",
]

MODES = ("none", "elim", "attr")
COMBINES = ("union", "average")


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown loss mode {mode!r}; expected one of {MODES}")


def _similarity(z: Tensor, indexes: Tensor, temperature: float) -> tuple[Tensor, Tensor, Tensor]:
    """Logits ``s = z z^T / tau`` in float32, the self mask and the positive mask."""
    if z.dim() != 2:
        raise ValueError(f"z must be (2B, d), got shape {tuple(z.shape)}")
    n = z.shape[0]
    if indexes.dim() != 1 or indexes.shape[0] != n:
        raise ValueError(f"indexes must be ({n},), got shape {tuple(indexes.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    zf = z.float()
    logits = (zf @ zf.T) / float(temperature)
    idx = indexes.to(z.device)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    pos = (idx[:, None] == idx[None, :]) & ~eye
    if z.device.type == "cpu" and n > 0 and not bool(pos.any(1).all()):
        # Checked only where it costs no device synchronisation.
        raise ValueError("every anchor needs at least one positive (a row with the same index)")
    return logits, eye, pos


def _clean_fn(fn_mask: Tensor, eye: Tensor, pos: Tensor) -> Tensor:
    """Bool mask(s) of shape (..., n, n) with the anchor and its positives cleared."""
    n = eye.shape[0]
    if fn_mask.shape[-2:] != (n, n):
        raise ValueError(f"fn_mask must be (..., {n}, {n}), got shape {tuple(fn_mask.shape)}")
    return fn_mask.to(device=eye.device, dtype=torch.bool) & ~(eye | pos)


def _loss_per_anchor(logits: Tensor, eye: Tensor, pos: Tensor, fn: Tensor | None,
                     mode: str) -> Tensor:
    """Per-anchor loss, shape (..., n); ``fn`` (..., n, n) is already cleaned or None.

    Every mode goes through the same operations; with ``fn`` all False they coincide.
    """
    if fn is None or mode == "none":
        fn = torch.zeros_like(eye)
    # Denominator: all k != a (minus the false negatives for "elim"). Masked entries become
    # -inf before the logsumexp (which subtracts the row max), so they contribute exactly 0.
    excluded = eye | fn if mode == "elim" else eye.expand_as(fn)
    log_denom = torch.logsumexp(logits.masked_fill(excluded, float("-inf")), dim=-1, keepdim=True)
    log_prob = logits - log_denom  # finite everywhere (logits are finite)
    # Numerator set: the positive(s), plus the false negatives for "attr".
    num_set = pos | fn if mode == "attr" else pos.expand_as(fn)
    picked = torch.where(num_set, log_prob, torch.zeros((), dtype=log_prob.dtype,
                                                        device=log_prob.device))
    return -picked.sum(-1) / num_set.sum(-1).to(log_prob.dtype)


def contrastive_loss(z: Tensor, indexes: Tensor, temperature: float,
                     fn_mask: Tensor | None = None, mode: str = "none") -> Tensor:
    """Contrastive loss over all 2B anchors, with optional false-negative removal.

    Args:
        z: (2B, d) L2-normalised projections (any float dtype; computed in float32).
        indexes: (2B,) int64 image ids; rows with equal ids are positives of each other.
        temperature: tau > 0.
        fn_mask: (2B, 2B) bool, ``fn_mask[a, k]``: k is a detected false negative of anchor a.
            The diagonal and the positives are cleared here. Ignored for ``mode="none"``.
        mode: ``"none"`` | ``"elim"`` | ``"attr"`` (see the module docstring).

    Returns:
        0-dim float32 tensor, the mean of the per-anchor losses.
    """
    _check_mode(mode)
    logits, eye, pos = _similarity(z, indexes, temperature)
    fn = None if fn_mask is None or mode == "none" else _clean_fn(fn_mask, eye, pos)
    if fn is not None and fn.dim() != 2:
        raise ValueError("contrastive_loss takes one (2B, 2B) mask; use ifnd_loss for levels")
    return _loss_per_anchor(logits, eye, pos, fn, mode).mean()


def combine_levels(masks: Tensor, how: str) -> Tensor:
    """Combine (L, 2B, 2B) level masks into one (2B, 2B) mask.

    ``"union"``: k is a false negative of a if it is one at any level (``masks.any(0)``).
    ``"average"`` cannot be expressed as one mask (it averages per-level losses): use
    :func:`ifnd_loss`.
    """
    if how == "union":
        if masks.dim() == 2:
            return masks.to(torch.bool)
        return masks.any(0)
    if how == "average":
        raise ValueError("combine='average' averages per-level losses; it has no single mask "
                         "(use ifnd_loss)")
    raise ValueError(f"unknown combine {how!r}; expected one of {COMBINES}")


def ifnd_loss(z: Tensor, indexes: Tensor, temperature: float, level_masks: Tensor | None,
              removal: str, combine: str) -> Tensor:
    """The IFND training loss.

    Args:
        z, indexes, temperature: as in :func:`contrastive_loss`.
        level_masks: (L, 2B, 2B) bool from :func:`ifnd.fnd.masks.false_negative_mask` ((2B, 2B) = one level),
            or None before the first clustering (then the plain NT-Xent loss).
        removal: ``"elim"`` | ``"attr"`` (``"none"`` gives the plain loss).
        combine: ``"union"``: one loss with the union of the level masks; ``"average"``: the
            mean over levels of the per-level losses (logits computed once).
    """
    _check_mode(removal)
    if combine not in COMBINES:
        raise ValueError(f"unknown combine {combine!r}; expected one of {COMBINES}")
    if level_masks is None or removal == "none":
        return contrastive_loss(z, indexes, temperature, None, "none")
    if level_masks.dim() == 2:
        level_masks = level_masks[None]
    if level_masks.dim() != 3:
        raise ValueError(f"level_masks must be (L, 2B, 2B), got shape {tuple(level_masks.shape)}")
    if combine == "union":
        return contrastive_loss(z, indexes, temperature, combine_levels(level_masks, "union"),
                                removal)
    logits, eye, pos = _similarity(z, indexes, temperature)
    fn = _clean_fn(level_masks, eye, pos)  # (L, n, n)
    per_anchor = _loss_per_anchor(logits, eye, pos, fn, removal)  # (L, n)
    return per_anchor.mean(-1).mean(0)
