"""Fixtures for the evaluation tests: tiny synthetic run folders and fake datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ifnd.config import dump_config, load_config
from ifnd.models import build_model

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "config.yaml"

# a run small enough that every evaluation takes about a second on two cores
TINY = [
    "data.name=synthetic", "data.train_subset=200", "data.val_subset=100", "data.test_subset=100",
    "data.image_size=16",
    "model.width=4", "model.proj_hidden=16", "model.proj_dim=8",
    "train.progress=false", "train.device=cpu",
    "eval.knn_k=20",
    "eval.linear.epochs=5", "eval.linear.batch_size=64",
    "eval.semisup.epochs=2", "eval.semisup.batch_size=32",
    "eval.supervised.epochs=1", "eval.supervised.batch_size=64",
]


@pytest.fixture
def tiny_overrides() -> list[str]:
    return list(TINY)


@pytest.fixture
def config_path() -> Path:
    return CONFIG


@pytest.fixture
def make_run(tmp_path):
    """make_run(extra_overrides=(), name="run") -> a run folder with a model.pt of random weights,
    written the way ``ifnd pretrain`` writes it."""

    def _make(extra=(), name: str = "run", in_channels: int = 3) -> Path:
        cfg = load_config(CONFIG, TINY + list(extra))
        torch.manual_seed(0)
        model = build_model(cfg, in_channels)
        run_dir = tmp_path / name
        run_dir.mkdir(parents=True)
        torch.save({"model": model.state_dict(), "config": cfg, "in_channels": in_channels,
                    "num_classes": 10, "epoch": 1}, run_dir / "model.pt")
        dump_config(cfg, run_dir / "config.resolved.yaml")
        return run_dir

    return _make


class FakeArrayDataset:
    """The in-memory dataset interface: uint8 images (N, C, H, W) and int64 labels."""

    in_memory = True

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, num_classes: int, name="fake"):
        self.images, self.labels, self.num_classes, self.name = images, labels, num_classes, name

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return int(self.labels.shape[0])


class FakeFolderDataset(FakeArrayDataset):
    """The ImageFolder interface: no ``images``, pixels through ``load_uint8(indices)``."""

    in_memory = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pixels = self.images
        del self.images

    @property
    def channels(self) -> int:
        return int(self._pixels.shape[1])

    def load_uint8(self, indices) -> torch.Tensor:
        return self._pixels[torch.as_tensor(indices, dtype=torch.int64)]


@pytest.fixture
def fake_images():
    """fake_images(n, num_classes, channels=3, size=16, folder=False): class-dependent uint8 images."""

    def _make(n=64, num_classes=4, channels=3, size=16, folder=False, seed=0):
        gen = torch.Generator().manual_seed(seed)
        labels = torch.arange(n) % num_classes
        base = (labels.float() / max(1, num_classes - 1) * 200 + 20).view(-1, 1, 1, 1)
        noise = torch.randn(n, channels, size, size, generator=gen) * 10
        images = (base + noise).clamp(0, 255).to(torch.uint8)
        cls = FakeFolderDataset if folder else FakeArrayDataset
        return cls(images, labels.to(torch.int64), num_classes)

    return _make
