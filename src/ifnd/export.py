"""Export a pretrained backbone as a torchvision ResNet state dict.

    ifnd export RUN --format torchvision --out backbone.pt

RUN is a pretraining run folder (or its model.pt). The projection head is dropped; the file is
a plain state dict of tensors that loads into ``torchvision.models.resnet18`` or ``resnet50``
with ``torch.load(FILE, weights_only=True)``, after these changes to the torchvision model
(:func:`torchvision_backbone` makes them):

* ``model.fc = nn.Identity()``: the output is the pooled feature, 512 (ResNet-18) or 2048
  (ResNet-50) wide, as ours;
* CIFAR stem (``model.cifar_stem: true``): ``model.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1,
  bias=False)`` and ``model.maxpool = nn.Identity()``;
* ImageNet stem with other than 3 input channels: ``model.conv1 = nn.Conv2d(in_channels, 64, 7,
  2, 3, bias=False)``.

Feed it inputs prepared as ours are: pixels in [0, 1] at ``data.image_size``, then
``(x - 0.5) / 0.25`` (:func:`ifnd.augment.to_input`). Only ResNet-18 and ResNet-50 of width 64
have a torchvision counterpart; ``resnet_small`` (three stages) is refused.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .errors import UserError
from .fileio import atomic_output
from .models import load_checkpoint

__all__ = ["FORMATS", "TORCHVISION_ARCHS", "to_torchvision", "torchvision_backbone"]

FORMATS = ("torchvision",)
TORCHVISION_ARCHS = ("resnet18", "resnet50")
TORCHVISION_WIDTH = 64  # torchvision's ResNets start at 64 channels

# our backbone key -> torchvision key, from the state-dict names alone (not from our modules)
_KEY_RULES = [
    (re.compile(r"stem\.0\.weight"), lambda m: "conv1.weight"),
    (re.compile(r"stem\.1\.(\w+)"), lambda m: f"bn1.{m[1]}"),
    (re.compile(r"stages\.(\d+)\.(\d+)\.((?:conv|bn)\d\.\w+)"),
     lambda m: f"layer{int(m[1]) + 1}.{m[2]}.{m[3]}"),
    (re.compile(r"stages\.(\d+)\.(\d+)\.shortcut\.([01]\.\w+)"),
     lambda m: f"layer{int(m[1]) + 1}.{m[2]}.downsample.{m[3]}"),
]


def _torchvision_key(key: str) -> str | None:
    for pattern, rename in _KEY_RULES:
        m = pattern.fullmatch(key)
        if m is not None:
            return rename(m)
    return None


def _check_exportable(model_cfg: Mapping) -> None:
    arch = model_cfg["arch"]
    if arch not in TORCHVISION_ARCHS:
        raise UserError(f"model.arch {arch} has no torchvision equivalent (resnet_small has 3 "
                        f"stages); only {' and '.join(TORCHVISION_ARCHS)} runs can be exported")
    if int(model_cfg["width"]) != TORCHVISION_WIDTH:
        raise UserError(f"model.width {model_cfg['width']} has no torchvision equivalent: "
                        f"torchvision's {arch} has width {TORCHVISION_WIDTH}")


def to_torchvision(state_dict: Mapping[str, torch.Tensor], model_cfg: Mapping) -> dict:
    """Our backbone's weights under torchvision's ResNet names.

    Args:
        state_dict: a :class:`~ifnd.models.ContrastiveModel` state dict (``backbone.*`` and
            ``head.*`` keys; the head is dropped) or a backbone state dict.
        model_cfg: the run's ``model:`` config section (``arch``, ``width``).

    Returns a dict of contiguous CPU tensors for :func:`torchvision_backbone`'s model
    (``load_state_dict(..., strict=True)``). Raises :class:`UserError` for an architecture
    torchvision does not have or a key it cannot place.
    """
    _check_exportable(model_cfg)
    keys = list(state_dict)
    if any(k.startswith("backbone.") for k in keys):
        keys = [k for k in keys if k.startswith("backbone.")]
        prefix = "backbone."
    else:
        prefix = ""
    out = {}
    for key in keys:
        name = key[len(prefix):]
        target = _torchvision_key(name)
        if target is None:
            raise UserError(f"backbone weight {name!r} has no torchvision counterpart")
        out[target] = state_dict[key].detach().to("cpu").contiguous()
    return out


def torchvision_backbone(arch: str, in_channels: int = 3, cifar_stem: bool = False) -> nn.Module:
    """``torchvision.models.<arch>`` (random weights) changed to match our backbone: ``fc``
    removed (pooled features out), and for ``cifar_stem`` a 3x3 stride-1 first convolution
    without max-pool; ``conv1`` takes ``in_channels`` channels."""
    import torchvision

    if arch not in TORCHVISION_ARCHS:
        raise UserError(f"no torchvision counterpart for {arch!r}; expected one of {TORCHVISION_ARCHS}")
    model = getattr(torchvision.models, arch)(weights=None)
    if cifar_stem:
        model.conv1 = nn.Conv2d(in_channels, TORCHVISION_WIDTH, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    elif in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, TORCHVISION_WIDTH, 7, 2, 3, bias=False)
    model.fc = nn.Identity()
    return model


def _recipe(arch: str, in_channels: int, cifar_stem: bool, path: Path) -> str:
    lines = [f"m = torchvision.models.{arch}()"]
    if cifar_stem:
        lines += [f"m.conv1 = nn.Conv2d({in_channels}, 64, 3, 1, 1, bias=False)",
                  "m.maxpool = nn.Identity()"]
    elif in_channels != 3:
        lines += [f"m.conv1 = nn.Conv2d({in_channels}, 64, 7, 2, 3, bias=False)"]
    lines += ["m.fc = nn.Identity()",
              f"m.load_state_dict(torch.load({str(path)!r}, weights_only=True))"]
    return "\n".join("    " + line for line in lines)


def export_run(run: str | Path, out: str | Path, fmt: str = "torchvision") -> dict:
    """Write the backbone of a run (folder or model.pt) to ``out``; returns what was written:
    ``arch``, ``in_channels``, ``cifar_stem``, ``tensors``."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; expected one of {FORMATS}")
    run, out = Path(run), Path(out)
    ckpt_path = run / "model.pt" if run.is_dir() else run
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'backbone.pt'}")
    ckpt = load_checkpoint(ckpt_path)
    model_cfg, in_channels = ckpt["config"]["model"], int(ckpt["in_channels"])
    state = to_torchvision(ckpt["model"], model_cfg)
    target = torchvision_backbone(model_cfg["arch"], in_channels, bool(model_cfg["cifar_stem"]))
    try:
        target.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # torch: a heading line, then the missing/unexpected keys
        lines = str(exc).splitlines()
        detail = (lines[1] if len(lines) > 1 else lines[0]).strip()
        raise UserError(f"{ckpt_path} does not fit torchvision's {model_cfg['arch']}: {detail}") from None
    with atomic_output(out) as tmp:
        torch.save(state, tmp)
    return {"arch": model_cfg["arch"], "in_channels": in_channels,
            "cifar_stem": bool(model_cfg["cifar_stem"]), "tensors": len(state)}


def add_arguments(parser) -> None:
    parser.add_argument("run", metavar="RUN", help="a pretraining run folder (or its model.pt)")
    parser.add_argument("--format", choices=FORMATS, default="torchvision",
                        help="the checkpoint format to write (default: torchvision)")
    parser.add_argument("--out", required=True, metavar="FILE", help="the state-dict file to write")


def run(args) -> int:
    info = export_run(args.run, args.out, args.format)
    stem = "CIFAR stem" if info["cifar_stem"] else "ImageNet stem"
    print(f"wrote {args.out}: {info['arch']} backbone ({stem}, {info['in_channels']} input "
          f"channel{'s' if info['in_channels'] != 1 else ''}, {info['tensors']} tensors). "
          f"Load it with:\n{_recipe(info['arch'], info['in_channels'], info['cifar_stem'], Path(args.out))}",
          file=sys.stdout)
    return 0
