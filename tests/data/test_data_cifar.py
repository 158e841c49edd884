import numpy as np
import pytest
import torch

from ifnd.data import load_dataset
from ifnd.errors import UserError


def test_cifar10_pixel_layout_and_labels(fmt, tmp_path):
    truth = fmt.write_cifar10(tmp_path)
    for split in ("train", "test"):
        ds = load_dataset(fmt.data_cfg(name="cifar10", root=str(tmp_path)), split)
        data, labels = truth[split]
        assert ds.images.shape == (len(labels), 3, 32, 32) and ds.images.dtype == torch.uint8
        assert ds.images.is_contiguous() and ds.channels == 3 and ds.num_classes == 10
        assert torch.equal(ds.labels, torch.from_numpy(labels.astype(np.int64)))
        # row = R plane, G plane, B plane, each 32x32 row-major
        for i in (0, len(labels) - 1):
            for c in range(3):
                for y, x in ((0, 0), (0, 31), (5, 7), (31, 0), (31, 31)):
                    assert ds.images[i, c, y, x].item() == data[i, c * 1024 + y * 32 + x]
        assert ds.class_names == [f"c{i}" for i in range(10)]
    assert len(load_dataset(fmt.data_cfg(name="cifar10", root=str(tmp_path)), "train")) == 30


def test_cifar10_root_may_be_the_batches_folder(fmt, tmp_path):
    truth = fmt.write_cifar10(tmp_path)
    ds = load_dataset(fmt.data_cfg(name="cifar10", root=str(tmp_path / "cifar-10-batches-py")), "test")
    assert torch.equal(ds.images.reshape(len(ds), -1), torch.from_numpy(truth["test"][0]))


def test_cifar_default_root_from_env(fmt, tmp_path, monkeypatch):
    fmt.write_cifar10(tmp_path)
    monkeypatch.setenv("IFND_DATA", str(tmp_path))
    assert len(load_dataset(fmt.data_cfg(name="cifar10"), "test")) == 8


def test_cifar100_fine_and_coarse(fmt, tmp_path):
    truth = fmt.write_cifar100(tmp_path)
    for split in ("train", "test"):
        data, fine, coarse = truth[split]
        ds = load_dataset(fmt.data_cfg(name="cifar100", root=str(tmp_path)), split)
        assert ds.num_classes == 100
        assert torch.equal(ds.labels, torch.from_numpy(fine.astype(np.int64)))
        assert torch.equal(ds.images.reshape(len(ds), -1), torch.from_numpy(data))
        assert ds.class_names[:2] == ["f0", "f1"]
        dc = load_dataset(fmt.data_cfg(name="cifar100", root=str(tmp_path), label_kind="coarse"), split)
        assert dc.num_classes == 20
        assert torch.equal(dc.labels, torch.from_numpy(coarse.astype(np.int64)))
        assert len(dc.class_names) == 20


def test_cifar_missing_folder(fmt, tmp_path):
    with pytest.raises(UserError, match="cifar-10-batches-py") as exc:
        load_dataset(fmt.data_cfg(name="cifar10", root=str(tmp_path)), "train")
    assert str(tmp_path) in str(exc.value) and "download" in str(exc.value)
    with pytest.raises(UserError, match="cifar-100-python"):
        load_dataset(fmt.data_cfg(name="cifar100", root=str(tmp_path)), "train")


def test_cifar_missing_and_corrupt_batch(fmt, tmp_path):
    fmt.write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_3").unlink()
    with pytest.raises(UserError, match="data_batch_3"):
        load_dataset(fmt.data_cfg(name="cifar10", root=str(tmp_path)), "train")
    (folder / "test_batch").write_bytes((folder / "test_batch").read_bytes()[:100])
    with pytest.raises(UserError, match="test_batch"):
        load_dataset(fmt.data_cfg(name="cifar10", root=str(tmp_path)), "test")


def test_cifar_wrong_shape(fmt, tmp_path):
    import pickle

    fmt.write_cifar10(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(UserError, match="3072"):
        load_dataset(fmt.data_cfg(name="cifar10", root=str(tmp_path)), "test")


def test_cifar_classes_and_subset(fmt, tmp_path):
    truth = fmt.write_cifar100(tmp_path, n_train=200)
    cfg = fmt.data_cfg(name="cifar100", root=str(tmp_path), label_kind="coarse", classes=[7, 2, 11])
    ds = load_dataset(cfg, "train")
    _, _, coarse = truth["train"]
    keep = np.isin(coarse, [7, 2, 11])
    assert len(ds) == keep.sum() and ds.num_classes == 3
    mapping = {7: 0, 2: 1, 11: 2}
    assert ds.labels.tolist() == [mapping[c] for c in coarse[keep]]
    assert ds.class_names == ["k7", "k2", "k11"]
