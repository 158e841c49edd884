"""Class-balanced split files: balance, determinism, train-set only, dataset checks."""

import json

import numpy as np
import pytest

from ifnd.cli import main
from ifnd.config import load_config
from ifnd.data import load_dataset
from ifnd.errors import UserError
from ifnd.evaluate.splits import load_split, make_split


def test_make_split_is_class_balanced():
    labels = np.repeat(np.arange(4), [100, 100, 50, 7])
    idx = make_split(labels, 0.1, seed=0)
    assert np.bincount(labels[idx], minlength=4).tolist() == [10, 10, 5, 1]  # round(0.7) = 1
    assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)  # sorted, no repeats
    tiny = make_split(labels, 0.001, seed=0)
    assert np.bincount(labels[tiny], minlength=4).tolist() == [1, 1, 1, 1]  # at least one each
    assert len(make_split(labels, 1.0, seed=3)) == len(labels)


def test_make_split_is_deterministic_per_seed():
    labels = np.random.default_rng(0).integers(0, 10, 2000)
    a, b = make_split(labels, 0.05, 7), make_split(labels, 0.05, 7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, make_split(labels, 0.05, 8))


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, float("nan")])
def test_make_split_rejects_bad_fractions(fraction):
    with pytest.raises(UserError, match="fraction"):
        make_split(np.arange(10) % 2, fraction, 0)


def test_splits_command(tmp_path, config_path, tiny_overrides):
    sets = [a for o in tiny_overrides for a in ("--set", o)]
    out1, out2, out3 = tmp_path / "s1.json", tmp_path / "s2.json", tmp_path / "s3.json"
    base = ["splits", "--config", str(config_path), *sets, "--fraction", "0.1"]
    assert main(base + ["--seed", "0", "--out", str(out1)]) == 0
    assert main(base + ["--seed", "0", "--out", str(out2)]) == 0
    assert main(base + ["--seed", "1", "--out", str(out3)]) == 0
    s1, s2, s3 = (json.loads(p.read_text()) for p in (out1, out2, out3))
    assert s1 == s2 and s1["indices"] != s3["indices"]
    cfg = load_config(config_path, tiny_overrides)
    assert s1["dataset"] == "synthetic" and s1["data"] == cfg["data"]
    assert s1["fraction"] == 0.1 and s1["seed"] == 0 and s1["num_classes"] == 10

    train, test = load_dataset(cfg["data"], "train"), load_dataset(cfg["data"], "test")
    idx = np.array(s1["indices"])
    assert s1["train_size"] == len(train) == 200
    assert idx.min() >= 0 and idx.max() < len(train)
    counts = np.bincount(train.labels.numpy()[idx], minlength=10)
    assert counts.tolist() == [2] * 10  # 20 images of each class, 10% of each
    # the rows are training images, none of them a test image
    test_bytes = {bytes(im.numpy().tobytes()) for im in test.images}
    assert not any(bytes(train.images[i].numpy().tobytes()) in test_bytes for i in idx)

    assert load_split(out1, cfg["data"])["indices"] == s1["indices"]
    other = load_config(config_path, tiny_overrides + ["data.name=fashion-mnist"])
    with pytest.raises(UserError, match=f"split file {out1} is for dataset synthetic, not fashion-mnist"):
        load_split(out1, other["data"])
    resized = load_config(config_path, tiny_overrides + ["data.train_subset=100"])
    with pytest.raises(UserError, match="train_subset"):
        load_split(out1, resized["data"])


def test_load_split_rejects_missing_and_foreign_files(tmp_path, config_path, tiny_overrides):
    cfg = load_config(config_path, tiny_overrides)
    with pytest.raises(UserError, match="not found"):
        load_split(tmp_path / "nope.json", cfg["data"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(UserError, match="not a split file"):
        load_split(bad, cfg["data"])
