import numpy as np
import pytest
import torch

from ifnd.data import ArrayDataset, balanced_subset, load_dataset
from ifnd.data.subset import balanced_counts, postprocess
from ifnd.errors import UserError


def _toy(labels, num_classes):
    labels = torch.as_tensor(labels, dtype=torch.int64)
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).clone()
    return ArrayDataset(images=images, labels=labels, num_classes=num_classes, name="toy")


def test_classes_relabel_in_given_order(fmt):
    ds = _toy([0, 1, 2, 3, 1, 3, 0, 2], 4)
    out = postprocess(ds, fmt.data_cfg(classes=[3, 1]), "train", "toy")
    assert out.num_classes == 2
    assert out.labels.tolist() == [1, 0, 1, 0]  # original order kept: 1, 3, 1, 3
    assert out.images[:, 0, 0, 0].tolist() == [1, 3, 4, 5]
    assert out.images.is_contiguous()


def test_unknown_class_id(fmt):
    with pytest.raises(UserError, match=r"\[7\]"):
        postprocess(_toy([0, 1, 2], 3), fmt.data_cfg(classes=[0, 7]), "train", "toy")


def test_balanced_subset_counts_and_determinism():
    rng = np.random.default_rng(1)
    labels = rng.permutation(np.repeat(np.arange(5), [100, 80, 60, 40, 3]))
    idx = balanced_subset(labels, 5, 103, seed=3)
    assert len(idx) == 103 and np.all(np.diff(idx) > 0)
    counts = np.bincount(labels[idx], minlength=5)
    assert counts[4] == 3  # a small class gives what it has, the rest share equally
    assert counts[:4].max() - counts[:4].min() <= 1 and counts.sum() == 103
    assert np.array_equal(idx, balanced_subset(labels, 5, 103, seed=3))
    assert not np.array_equal(idx, balanced_subset(labels, 5, 103, seed=4))
    assert balanced_subset(labels, 5, len(labels), seed=0) is None
    assert balanced_subset(labels, 5, None, seed=0) is None


def test_balanced_counts_remainder():
    counts = balanced_counts(np.array([10, 10, 10]), 7, np.random.default_rng(0))
    assert sorted(counts.tolist()) == [2, 2, 3]


def test_subset_per_split_on_real_format(fmt, tmp_path):
    fmt.write_fashion(tmp_path, n_train=100, n_test=50)
    cfg = fmt.data_cfg(root=str(tmp_path), train_subset=40, test_subset=1000, subset_seed=5)
    tr = load_dataset(cfg, "train")
    assert len(tr) == 40 and torch.bincount(tr.labels, minlength=10).tolist() == [4] * 10
    assert torch.equal(tr.images, load_dataset(cfg, "train").images)
    assert len(load_dataset(cfg, "test")) == 50  # larger than N: everything
    other = load_dataset(dict(cfg, subset_seed=6), "train")
    assert not torch.equal(tr.images, other.images)


def test_classes_then_subset(fmt, tmp_path):
    fmt.write_fashion(tmp_path, n_train=100)
    ds = load_dataset(fmt.data_cfg(root=str(tmp_path), classes=[4, 2, 8], train_subset=7), "train")
    assert ds.num_classes == 3 and len(ds) == 7
    assert sorted(torch.bincount(ds.labels, minlength=3).tolist()) == [2, 2, 3]
    with pytest.raises(UserError, match="class id"):
        load_dataset(fmt.data_cfg(root=str(tmp_path), classes=[4, 10]), "train")


def test_unknown_dataset_name(fmt):
    with pytest.raises(UserError, match="unknown dataset 'mnist'"):
        load_dataset(fmt.data_cfg(name="mnist"), "train")


def _split(ds, fmt, **cfg):
    return {s: postprocess(ds, fmt.data_cfg(**cfg), s, "toy") for s in ("train", "val")}


def test_validation_split_is_left_out_of_the_training_subset(fmt):
    """With a training subset, the validation images come from the rows the subset left out:
    disjoint, class-balanced, and the training subset is exactly the one drawn without them."""
    labels = np.repeat(np.arange(4), 25)  # 100 rows, 25 per class
    ds = _toy(np.random.default_rng(0).permutation(labels), 4)
    plain = postprocess(ds, fmt.data_cfg(train_subset=40, subset_seed=5), "train", "toy")
    out = _split(ds, fmt, train_subset=40, val_subset=20, subset_seed=5)
    assert torch.equal(out["train"].images, plain.images)  # same training images, same order
    train_ids = set(out["train"].images[:, 0, 0, 0].tolist())
    val_ids = set(out["val"].images[:, 0, 0, 0].tolist())
    assert len(val_ids) == 20 and not train_ids & val_ids
    assert np.bincount(out["val"].labels.numpy(), minlength=4).tolist() == [5, 5, 5, 5]
    again = _split(ds, fmt, train_subset=40, val_subset=20, subset_seed=5)
    assert torch.equal(again["val"].images, out["val"].images)  # deterministic


def test_validation_split_without_training_subset_is_carved_out(fmt):
    """With train_subset null the validation rows are drawn first and training keeps the rest."""
    ds = _toy(np.tile(np.arange(3), 10), 3)
    out = _split(ds, fmt, val_subset=6)
    train_ids = out["train"].images[:, 0, 0, 0].tolist()
    val_ids = out["val"].images[:, 0, 0, 0].tolist()
    assert len(train_ids) == 24 and len(val_ids) == 6
    assert sorted(train_ids + val_ids) == list(range(30))
    assert np.bincount(out["val"].labels.numpy()).tolist() == [2, 2, 2]
    assert out["train"].images[:, 0, 0, 0].tolist() == sorted(train_ids)  # dataset order kept


def test_validation_split_too_large_is_one_error(fmt):
    ds = _toy(np.tile(np.arange(2), 10), 2)
    with pytest.raises(UserError, match=r"data.val_subset: 15 validation images do not fit.*5 training"):
        postprocess(ds, fmt.data_cfg(train_subset=15, val_subset=15), "val", "toy")
    with pytest.raises(UserError, match=r"no validation split"):
        load_dataset(fmt.data_cfg(name="synthetic"), "val")


def test_synthetic_validation_split_is_its_own_draw():
    cfg = {"name": "synthetic", "train_subset": 40, "val_subset": 20, "test_subset": 20,
           "classes": None, "image_size": 8, "subset_seed": 0}
    val, test = load_dataset(cfg, "val"), load_dataset(cfg, "test")
    assert len(val) == 20 and not torch.equal(val.images, test.images)
