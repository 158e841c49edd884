"""Linear probe quality, the frozen-backbone sanity check and `ifnd linear` end to end."""

import json

import pytest
import torch

from ifnd.cli import main
from ifnd.config import load_config
from ifnd.evaluate.linear import (BackboneChangedError, assert_unchanged, backbone_state,
                                  train_linear_probe, train_linear_augmented)
from ifnd.models import build_model


def test_probe_separates_linearly_separable_features():
    gen = torch.Generator().manual_seed(0)
    centers = torch.randn(5, 32, generator=gen) * 3
    ytr, yte = torch.randint(0, 5, (500,), generator=gen), torch.randint(0, 5, (200,), generator=gen)
    xtr = centers[ytr] + 0.3 * torch.randn(500, 32, generator=gen) + 100.0  # offset: standardised away
    xte = centers[yte] + 0.3 * torch.randn(200, 32, generator=gen) + 100.0
    out = train_linear_probe(xtr, ytr, xte, yte, 5, epochs=20, lr=0.1, batch_size=128, seed=0,
                             progress=False)
    assert out["top1"] >= 0.99 and out["train_top1"] >= 0.99
    assert "top5" not in out and out["epochs"] == 20


def test_probe_is_at_chance_on_random_labels():
    gen = torch.Generator().manual_seed(1)
    xtr, xte = torch.randn(1000, 32, generator=gen), torch.randn(2000, 32, generator=gen)
    ytr, yte = torch.randint(0, 10, (1000,), generator=gen), torch.randint(0, 10, (2000,), generator=gen)
    out = train_linear_probe(xtr, ytr, xte, yte, 10, epochs=20, lr=0.1, batch_size=128, seed=0,
                             progress=False)
    assert 0.05 <= out["top1"] <= 0.15


def test_probe_is_deterministic_and_reports_top5_above_ten_classes():
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(300, 8, generator=gen), torch.randint(0, 12, (300,), generator=gen)
    a = train_linear_probe(x, y, x, y, 12, epochs=3, lr=0.1, batch_size=64, seed=5, progress=False)
    b = train_linear_probe(x, y, x, y, 12, epochs=3, lr=0.1, batch_size=64, seed=5, progress=False)
    assert a == b and "top5" in a and a["top5"] >= a["top1"]


@pytest.fixture
def tiny_model(tiny_overrides, config_path):
    cfg = load_config(config_path, tiny_overrides)
    torch.manual_seed(0)
    return build_model(cfg, 3)


def test_sanity_check_passes_for_eval_mode_forward(tiny_model):
    before = backbone_state(tiny_model)
    tiny_model.eval()
    with torch.no_grad():
        tiny_model.backbone(torch.randn(4, 3, 16, 16))
    assert_unchanged(before, tiny_model)


def test_sanity_check_fires_on_bn_stats_in_train_mode(tiny_model):
    before = backbone_state(tiny_model)
    tiny_model.train()
    with torch.no_grad():
        tiny_model.backbone(torch.randn(4, 3, 16, 16))  # BN running stats move
    with pytest.raises(BackboneChangedError, match="backbone changed during linear evaluation: .*running_(mean|var)"):
        assert_unchanged(before, tiny_model)


def test_sanity_check_fires_when_a_hook_alters_a_weight(tiny_model):
    before = backbone_state(tiny_model)
    conv = tiny_model.backbone.stem[0]

    def nudge(module, inputs, output):
        with torch.no_grad():
            module.weight.view(-1)[0] += 1e-6

    handle = conv.register_forward_hook(nudge)
    tiny_model.eval()
    with torch.no_grad():
        tiny_model.backbone(torch.randn(2, 3, 16, 16))
    handle.remove()
    with pytest.raises(BackboneChangedError, match="stem.0.weight"):
        assert_unchanged(before, tiny_model)
    # the projection head is not part of the check
    before = backbone_state(tiny_model)
    with torch.no_grad():
        tiny_model.head.net[0].weight.add_(1.0)
    assert_unchanged(before, tiny_model)


def test_augmented_probe_on_a_folder_dataset(tiny_model, tiny_overrides, config_path, fake_images):
    cfg = load_config(config_path, tiny_overrides + ["eval.linear.epochs=2", "train.precision=fp32"])
    train = fake_images(64, 4, folder=True)
    test = fake_images(32, 4, folder=True, seed=1)
    before = backbone_state(tiny_model)
    out = train_linear_augmented(tiny_model, train, test, cfg, torch.device("cpu"), seed=0,
                                 progress=False)
    assert 0.0 <= out["top1"] <= 1.0 and out["epochs"] == 2
    assert_unchanged(before, tiny_model)


def test_linear_command(make_run, capsys):
    run = make_run()
    assert main(["linear", str(run)]) == 0
    metrics = json.loads((run / "eval" / "linear.json").read_text())
    assert metrics["evaluation"] == "linear" and 0.0 <= metrics["top1"] <= 1.0
    assert metrics["backbone_unchanged"] is True and metrics["epochs"] == 5
    assert metrics["inputs"]["checkpoint_sha256"]
    out = run / "other.json"
    assert main(["linear", str(run), "--random-init", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["random_init"] is True
    assert main(["linear", str(run), "--random-init"]) == 0
    assert (run / "eval" / "linear_random.json").is_file()


def test_linear_command_augmented(make_run):
    run = make_run(["eval.linear.augment=true", "eval.linear.epochs=1"])
    assert main(["linear", str(run)]) == 0
    metrics = json.loads((run / "eval" / "linear.json").read_text())
    assert metrics["augment"] is True and metrics["backbone_unchanged"] is True
