"""`ifnd semisup`, `ifnd supervised` and `ifnd rawpixels` end to end on tiny synthetic runs."""

import hashlib
import json

import torch
from torch import nn

from ifnd.cli import main
from ifnd.config import load_config
from ifnd.evaluate.semisup import evaluate_classifier, percent_name, train_classifier
from ifnd.models import build_backbone


def test_percent_names():
    assert [percent_name(f) for f in (0.01, 0.1, 1.0, 0.005)] == ["1", "10", "100", "0.5"]


def test_semisup_without_split(make_run):
    run = make_run()
    assert main(["semisup", str(run), "--fraction", "0.1"]) == 0
    m = json.loads((run / "eval" / "semisup_10.json").read_text())
    assert m["evaluation"] == "semisup" and 0.0 <= m["top1"] <= 1.0
    assert m["labelled"] == 20 and m["fraction"] == 0.1 and m["epochs"] == 2
    assert m["inputs"]["split_seed"] == 0 and "split" not in m["inputs"]


def test_semisup_with_split_file(make_run, tmp_path, config_path, tiny_overrides, capsys):
    run = make_run()
    split = tmp_path / "split.json"
    sets = [a for o in tiny_overrides for a in ("--set", o)]
    assert main(["splits", "--config", str(config_path), *sets, "--fraction", "0.1", "--seed", "3",
                 "--out", str(split)]) == 0
    out = tmp_path / "m.json"
    assert main(["semisup", str(run), "--fraction", "0.1", "--split", str(split), "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    assert m["inputs"]["split"] == str(split) and m["inputs"]["split_seed"] == 3
    assert m["inputs"]["split_sha256"] == hashlib.sha256(split.read_bytes()).hexdigest()
    capsys.readouterr()
    # the fraction on the command line must be the split file's
    assert main(["semisup", str(run), "--fraction", "0.01", "--split", str(split)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not match the split file" in err[0]
    # a split of another data section is refused
    other = make_run(["data.train_subset=100"], name="other")
    assert main(["semisup", str(other), "--fraction", "0.1", "--split", str(split)]) == 2
    assert "train_subset" in capsys.readouterr().err


def test_semisup_random_init_name(make_run):
    run = make_run()
    assert main(["semisup", str(run), "--fraction", "0.05", "--random-init"]) == 0
    m = json.loads((run / "eval" / "semisup_random_5.json").read_text())
    assert m["random_init"] is True and m["labelled"] == 10


def test_train_classifier_learns_and_reads_folder_datasets(fake_images, tiny_overrides, config_path):
    cfg = load_config(config_path, tiny_overrides)
    train = fake_images(64, 2, folder=True)
    torch.manual_seed(0)
    backbone = build_backbone(cfg["model"], 3)
    head = nn.Linear(backbone.feat_dim, 2)
    losses = train_classifier(backbone, head, train, torch.arange(64), epochs=6, batch_size=32,
                              lr=0.05, weight_decay=0.0, aug_cfg=cfg["augment"], image_size=16,
                              device=torch.device("cpu"), precision="fp32", channels_last=True,
                              seed=0, progress=False)
    assert len(losses) == 6 and losses[-1] < losses[0]
    out = evaluate_classifier(backbone, head, fake_images(32, 2, folder=True, seed=1), image_size=16,
                              device=torch.device("cpu"))
    assert out["top1"] >= 0.9  # two brightness levels: trivially separable


def test_supervised_and_rawpixels(tmp_path, config_path, tiny_overrides):
    sets = [a for o in tiny_overrides for a in ("--set", o)]
    sup = tmp_path / "supervised.json"
    assert main(["supervised", "--config", str(config_path), *sets, "--out", str(sup)]) == 0
    m = json.loads(sup.read_text())
    assert m["evaluation"] == "supervised" and 0.0 <= m["top1"] <= 1.0 and m["epochs"] == 1
    assert m["inputs"]["config"]["data"]["name"] == "synthetic"
    raw = tmp_path / "raw.json"
    assert main(["rawpixels", "--config", str(config_path), *sets, "--out", str(raw)]) == 0
    r = json.loads(raw.read_text())
    # the synthetic classes differ in colour: raw pixels separate them well above chance (10%)
    assert r["knn_top1"] > 0.3 and r["linear_top1"] > 0.3 and r["dim"] == 3 * 16 * 16
    assert 0.0 <= r["knn_top1_unstandardised"] <= 1.0
    # the semi-supervised floor: the probe on the pixels of each fraction's labelled rows only
    fractions = json.loads(raw.read_text())["inputs"]["config"]["eval"]["semisup"]["fractions"]
    for f in fractions:
        assert 0.0 <= r[f"semisup_{round(100 * f, 6):g}_linear_top1"] <= 1.0


def test_pixel_features_with_and_without_standardisation():
    from ifnd.augment import MEAN, STD, normalize, to_input
    from ifnd.data.base import ArrayDataset
    from ifnd.evaluate.rawpixels import pixel_features

    images = torch.tensor([[[[0, 255], [51, 102]]], [[[255, 0], [0, 255]]], [[[10, 20], [30, 40]]]],
                          dtype=torch.uint8)                   # (3, 1, 2, 2) grey
    data = ArrayDataset(images, torch.tensor([0, 1, 0]), 2, "toy")
    unit = pixel_features(data, 2, batch_size=2)               # two batches
    assert unit.shape == (3, 1, 2, 2)
    assert torch.allclose(unit.flatten(1)[0], torch.tensor([0.0, 1.0, 0.2, 0.4]))
    # the standardised floor is the model input, derived from the same pixels
    std = normalize(unit).flatten(1)
    assert torch.allclose(std, (unit.flatten(1) - MEAN) / STD)
    assert torch.equal(std, to_input(images, 2).flatten(1))
