"""The in-memory dataset container shared by Fashion-MNIST, CIFAR and the synthetic data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch


@dataclass
class ArrayDataset:
    """A whole dataset as one uint8 tensor.

    ``images`` is uint8 (N, C, H, W), contiguous, on the CPU, with C = 1 (grey) or 3 (RGB), at
    the dataset's native size (padding/resizing to ``image_size`` happens in ``ifnd.augment``).
    ``labels`` is int64 (N,) with values ``0 .. num_classes - 1``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    name: str
    in_memory: ClassVar[bool] = True
    class_names: list[str] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4 or self.images.shape[1] not in (1, 3):
            raise ValueError(f"images must be uint8 (N, 1|3, H, W), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must be int64 ({self.images.shape[0]},), got {self.labels.dtype} "
                             f"{tuple(self.labels.shape)}")
        self.images = self.images.contiguous()
        self.labels = self.labels.contiguous()
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            self.class_names = None

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, indices, num_classes: int | None = None, labels: torch.Tensor | None = None,
             class_names: list[str] | None = None) -> "ArrayDataset":
        """A new dataset holding the given rows (optionally with new labels / class count)."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        return ArrayDataset(
            images=self.images[idx].contiguous(),
            labels=(self.labels[idx] if labels is None else labels).contiguous(),
            num_classes=self.num_classes if num_classes is None else num_classes,
            name=self.name,
            class_names=self.class_names if num_classes is None else class_names,
        )
