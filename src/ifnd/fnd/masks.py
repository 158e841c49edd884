"""In-batch false-negative masks from the pseudo-labels a detector accepted (docs/method.md,
False negatives of anchor a): the step from detection to the loss (ifnd.losses), kept with the
detectors that call it."""

from __future__ import annotations

from torch import Tensor

__all__ = ["false_negative_mask"]


def false_negative_mask(indexes: Tensor, labels: Tensor) -> Tensor:
    """In-batch false-negative masks per level from pseudo-labels.

    Args:
        indexes: (2B,) int64 dataset indices of the batch rows.
        labels: (L, N) int64 pseudo-labels per level, -1 = not accepted; (N,) means L = 1.
            May live on another device than ``indexes`` (e.g. on the GPU).

    Returns:
        (L, 2B, 2B) bool on ``indexes.device`` with
        ``mask[l, a, k] = lab[l, idx[a]] >= 0 and lab[l, idx[a]] == lab[l, idx[k]]
        and idx[a] != idx[k]``.
    """
    if labels.dim() == 1:
        labels = labels[None]
    if labels.dim() != 2:
        raise ValueError(f"labels must be (L, N) or (N,), got shape {tuple(labels.shape)}")
    if indexes.dim() != 1:
        raise ValueError(f"indexes must be 1-D, got shape {tuple(indexes.shape)}")
    idx = indexes.to(labels.device)
    lab = labels[:, idx]  # (L, 2B)
    same = (lab[:, :, None] == lab[:, None, :]) & (lab[:, :, None] >= 0)
    other_image = idx[:, None] != idx[None, :]
    return (same & other_image[None]).to(indexes.device)
