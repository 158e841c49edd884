"""Backbones (ResNets with an optional CIFAR stem and configurable width) and the projection head."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError


class SubsampleConv1x1(nn.Conv2d):
    """A strided 1x1 convolution computed as subsampling followed by a stride-1 1x1 convolution.

    Mathematically the same map as ``nn.Conv2d(c_in, c_out, 1, stride, bias=False)`` and the
    same parameters (a drop-in for its state dict), but it never runs oneDNN's strided 1x1
    backward-weights kernel: that kernel writes past its workspace when the input is
    channels-last with fewer channels than its block (8 on AVX2, 16 on AVX-512), which crashes,
    hangs or silently corrupts the weight gradient (upstream oneDNN issue
    uxlfoundation/oneDNN#6035, open). The subsampling copy costs a fraction of the convolution.
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int):
        super().__init__(in_planes, out_planes, 1, 1, bias=False)
        self.subsample = stride

    def forward(self, x):
        if self.subsample != 1:
            s = self.subsample
            fmt = (torch.channels_last if x.is_contiguous(memory_format=torch.channels_last)
                   else torch.contiguous_format)
            x = x[:, :, ::s, ::s].contiguous(memory_format=fmt)
        return super().forward(x)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", subsample={self.subsample}"


def downsample(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    """The projection shortcut of a residual block: 1x1 convolution (strided) and BatchNorm."""
    return nn.Sequential(SubsampleConv1x1(in_planes, out_planes, stride), nn.BatchNorm2d(out_planes))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = downsample(in_planes, planes, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x), inplace=True)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != out_planes:
            self.shortcut = downsample(in_planes, out_planes, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x), inplace=True)


class ResNet(nn.Module):
    """A ResNet trunk that returns pooled features of size ``feat_dim``.

    ``cifar_stem``: a 3x3 stride-1 convolution and no max-pool (for 32x32 images), instead of
    ImageNet's 7x7 stride-2 convolution followed by a max-pool.
    """

    def __init__(self, block, layers: list[int], width: int, in_channels: int, cifar_stem: bool):
        super().__init__()
        if cifar_stem:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 7, 2, 3, bias=False),
                                      nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, 2, 1))
        stages, in_planes = [], width
        for i, n_blocks in enumerate(layers):
            planes = width * 2**i
            blocks = []
            for j in range(n_blocks):
                blocks.append(block(in_planes, planes, stride=2 if (i > 0 and j == 0) else 1))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.feat_dim = in_planes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.stages(self.stem(x))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


ARCHS = {
    # name: (block, blocks per stage)
    "resnet_small": (BasicBlock, [2, 2, 2]),   # CPU default: widths w, 2w, 4w
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
}


def build_backbone(model_cfg: dict, in_channels: int) -> ResNet:
    """The ResNet trunk of ``model_cfg`` (``arch``, ``width``, ``cifar_stem``) for images with
    ``in_channels`` channels; its forward returns pooled features of size ``feat_dim``."""
    block, layers = ARCHS[model_cfg["arch"]]
    return ResNet(block, layers, model_cfg["width"], in_channels, model_cfg["cifar_stem"])


class ProjectionHead(nn.Module):
    """SimCLR's MLP head: Linear -> BN -> ReLU -> Linear; outputs are L2-normalised by the caller."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden, bias=False), nn.BatchNorm1d(hidden),
                                 nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))

    def forward(self, h):
        return self.net(h)


class ContrastiveModel(nn.Module):
    def __init__(self, backbone: ResNet, head: ProjectionHead):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x):
        """L2-normalised projections of a batch of images."""
        return F.normalize(self.head(self.backbone(x)).float(), dim=1)


def build_model(cfg: dict, in_channels: int) -> ContrastiveModel:
    """Backbone and projection head from ``cfg["model"]``; the forward returns L2-normalised
    float32 projections, the input of :func:`ifnd.losses.ifnd_loss`."""
    backbone = build_backbone(cfg["model"], in_channels)
    head = ProjectionHead(backbone.feat_dim, cfg["model"]["proj_hidden"], cfg["model"]["proj_dim"])
    return ContrastiveModel(backbone, head)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint safely (``weights_only=True``); one clear error for a bad file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise UserError(f"cannot read checkpoint {path}: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else 'corrupt file'}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise UserError(f"{path} is not an ifnd checkpoint (no model weights or config in it)")
    return ckpt


def load_pretrained(run_dir: str | Path, checkpoint: str | Path | None = None
                    ) -> tuple[ContrastiveModel, dict, dict]:
    """The pretrained model of a run folder, its resolved config and the checkpoint's metadata.
    ``checkpoint``: another model file of the run (e.g. ``epochs/epoch_003.pt``, kept by
    ``train.save_epochs``) instead of the final ``model.pt``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run folder not found: {run_dir}")
    ckpt_path = Path(checkpoint) if checkpoint is not None else run_dir / "model.pt"
    if not ckpt_path.is_file():
        raise UserError(f"run folder {run_dir} has no checkpoint {ckpt_path.name} (did pretraining finish?)")
    ckpt = load_checkpoint(ckpt_path)
    model = build_model(ckpt["config"], ckpt["in_channels"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise UserError(f"checkpoint {ckpt_path} does not match its config: {str(exc).splitlines()[0]}") from None
    return model, ckpt["config"], {k: v for k, v in ckpt.items() if k != "model"}
