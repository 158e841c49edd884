"""ifnd export: our backbones load into torchvision's ResNets and give the same features."""

import pytest
import torch
from torch import nn

from ifnd.cli import main
from ifnd.config import load_config
from ifnd.errors import UserError
from ifnd.export import to_torchvision, torchvision_backbone
from ifnd.models import build_backbone, build_model


def randomise_batchnorm(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial BatchNorm affine parameters and running statistics, so that eval mode
    exercises every exported buffer."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=gen) * 0.5 + 0.5)
                m.bias.copy_(torch.rand(c, generator=gen) * 0.2 - 0.1)
                m.running_mean.copy_(torch.rand(c, generator=gen) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.num_batches_tracked.fill_(7)


def assert_same_features(ours: nn.Module, theirs: nn.Module, x: torch.Tensor) -> None:
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    assert a.shape == b.shape
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5 * float(a.abs().max()))


@pytest.mark.parametrize("arch, in_channels, cifar_stem, size", [
    ("resnet18", 1, True, 28),    # Fashion-MNIST-shaped input, CIFAR stem
    ("resnet18", 3, False, 64),   # ImageNet stem, max-pool included
    ("resnet50", 3, False, 64),   # bottleneck blocks
])
def test_exported_backbone_gives_our_features(arch, in_channels, cifar_stem, size):
    torch.manual_seed(0)
    ours = build_backbone({"arch": arch, "width": 64, "cifar_stem": cifar_stem}, in_channels)
    randomise_batchnorm(ours)
    theirs = torchvision_backbone(arch, in_channels, cifar_stem)
    theirs.load_state_dict(to_torchvision(ours.state_dict(), {"arch": arch, "width": 64}),
                           strict=True)
    assert_same_features(ours, theirs, torch.randn(2, in_channels, size, size))


def write_run(tmp_path, arch: str, width: int, in_channels: int = 1):
    """A run folder with model.pt in the trainer's final-checkpoint format."""
    cfg = load_config(overrides={"model.arch": arch, "model.width": width})
    torch.manual_seed(1)
    model = build_model(cfg, in_channels)
    randomise_batchnorm(model, seed=1)
    run = tmp_path / f"run_{arch}_{width}"
    run.mkdir()
    torch.save({"format": "ifnd-model-1", "model": model.state_dict(), "config": cfg,
                "in_channels": in_channels, "num_classes": 10, "epoch": 1}, run / "model.pt")
    return run, model


def test_export_command_writes_a_torchvision_state_dict(tmp_path, capsys):
    run, model = write_run(tmp_path, "resnet18", 64)
    out = tmp_path / "exported" / "backbone.pt"
    assert main(["export", str(run), "--format", "torchvision", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "resnet18 backbone (CIFAR stem, 1 input channel" in printed
    assert "m.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)" in printed
    assert "m.maxpool = nn.Identity()" in printed and "m.fc = nn.Identity()" in printed

    state = torch.load(out, weights_only=True)
    assert not any(k.startswith(("head.", "backbone.")) for k in state)
    theirs = torchvision_backbone("resnet18", 1, cifar_stem=True)
    theirs.load_state_dict(state, strict=True)
    assert_same_features(model.backbone, theirs, torch.randn(3, 1, 28, 28))


@pytest.mark.parametrize("arch, width, message", [
    ("resnet_small", 16, "model.arch resnet_small has no torchvision equivalent"),
    ("resnet18", 32, "model.width 32 has no torchvision equivalent"),
])
def test_export_refuses_what_torchvision_lacks(tmp_path, capsys, arch, width, message):
    run, _ = write_run(tmp_path, arch, width)
    out = tmp_path / "backbone.pt"
    assert main(["export", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err
    assert not out.exists()


def test_export_bad_inputs_fail_with_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "b.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    run, _ = write_run(tmp_path, "resnet18", 64)
    assert main(["export", str(run), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    with pytest.raises(UserError, match="no torchvision counterpart"):
        to_torchvision({"stages.0.0.conv1.weight": torch.zeros(1), "fc.weight": torch.zeros(1)},
                       {"arch": "resnet18", "width": 64})
