import numpy as np
import pytest
import torch
from PIL import Image

from ifnd.data import FolderDataset, dataset_classes, load_dataset
from ifnd.errors import UserError

AUG = {"crop_scale": [0.3, 1.0], "flip": True, "jitter_prob": 0.8, "brightness": 0.4,
       "contrast": 0.4, "saturation": 0.4, "hue": 0.1, "grayscale_prob": 0.2, "blur_prob": 0.5}
COLOURS = {"zebra": (250, 10, 10), "ant": (10, 250, 10), "moth": (10, 10, 250)}


def _tree(root, test_dir="val", per_class=4):
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), (test_dir, 2)):
        for cname, colour in COLOURS.items():
            d = root / split / cname
            d.mkdir(parents=True)
            for i in range(n):
                w, h = int(rng.integers(20, 48)), int(rng.integers(20, 48))
                arr = np.empty((h, w, 3), np.uint8)
                arr[:] = colour
                arr[: h // 2, : w // 2] = rng.integers(0, 256, 3)  # some structure to crop
                Image.fromarray(arr).save(d / f"img{i}.png")
    # a grey image and a non-image file in the train split
    Image.fromarray(np.full((30, 30), 128, np.uint8), mode="L").save(root / "train" / "ant" / "grey.png")
    (root / "train" / "ant" / "notes.txt").write_text("not an image")
    return root


def _cfg(fmt, root, **kw):
    return fmt.data_cfg(name="imagefolder", root=str(root), image_size=16, **kw)


def test_labels_follow_sorted_class_folders(fmt, tmp_path):
    _tree(tmp_path)
    ds = load_dataset(_cfg(fmt, tmp_path), "train")
    assert isinstance(ds, FolderDataset) and ds.in_memory is False and ds.channels == 3
    assert ds.num_classes == 3 and ds.class_names == ["ant", "moth", "zebra"]
    assert dataset_classes(_cfg(fmt, tmp_path)) == 3  # counted from the folders, no image read
    assert len(ds) == 13 and ds.labels.dtype == torch.int64
    assert torch.bincount(ds.labels).tolist() == [5, 4, 4]
    for path, label in zip(ds.paths, ds.labels.tolist()):
        assert f"/{ds.class_names[label]}/" in path
    te = load_dataset(_cfg(fmt, tmp_path), "test")
    assert len(te) == 6 and all("/val/" in p for p in te.paths)


def test_test_subfolder_accepted(fmt, tmp_path):
    _tree(tmp_path, test_dir="test")
    assert len(load_dataset(_cfg(fmt, tmp_path), "test")) == 6


def test_load_uint8(fmt, tmp_path):
    _tree(tmp_path)
    ds = load_dataset(_cfg(fmt, tmp_path), "test")
    batch = ds.load_uint8(torch.arange(len(ds)))
    assert batch.shape == (6, 3, 16, 16) and batch.dtype == torch.uint8
    one = ds.load_uint8([5])
    assert one.shape == (1, 3, 16, 16) and torch.equal(one[0], batch[5])
    # the bottom-right corner is the class colour
    for i, label in enumerate(ds.labels.tolist()):
        colour = COLOURS[ds.class_names[label]]
        assert batch[i, :, -1, -1].tolist() == list(colour)
    grey = load_dataset(_cfg(fmt, tmp_path), "train")
    g = grey.load_uint8([grey.paths.index(str(tmp_path / "train" / "ant" / "grey.png"))])
    assert g.shape == (1, 3, 16, 16) and int(g.min()) == int(g.max()) == 128


def _collect(loader):
    return [(v1.clone(), v2.clone(), idx.clone()) for v1, v2, idx in loader]


def test_pretrain_loader_views_and_determinism(fmt, tmp_path):
    _tree(tmp_path, per_class=6)
    ds = load_dataset(_cfg(fmt, tmp_path), "train")  # 19 images
    batches = _collect(ds.pretrain_loader(4, AUG, seed=3, epoch=0, num_workers=0))
    assert len(batches) == 4  # drop_last
    seen = torch.cat([b[2] for b in batches])
    assert seen.dtype == torch.int64 and len(set(seen.tolist())) == 16
    for v1, v2, _idx in batches:
        assert v1.shape == v2.shape == (4, 3, 16, 16) and v1.dtype == torch.float32
        assert not torch.equal(v1, v2)
        assert v1.min() >= -2.0 - 1e-5 and v1.max() <= 2.0 + 1e-5  # (x - 0.5) / 0.25, x in [0, 1]
    again = _collect(ds.pretrain_loader(4, AUG, seed=3, epoch=0, num_workers=0))
    for a, b in zip(batches, again):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    other = _collect(ds.pretrain_loader(4, AUG, seed=3, epoch=1, num_workers=0))
    assert not torch.equal(torch.cat([b[2] for b in other]), seen)
    # the global RNG is left alone by the augmentations
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    _collect(ds.pretrain_loader(4, AUG, seed=3, epoch=0, num_workers=0))
    assert torch.equal(torch.rand(3), expected)


def test_pretrain_loader_same_with_workers(fmt, tmp_path):
    _tree(tmp_path)
    ds = load_dataset(_cfg(fmt, tmp_path), "train")
    a = _collect(ds.pretrain_loader(4, AUG, seed=1, epoch=2, num_workers=0))
    b = _collect(ds.pretrain_loader(4, AUG, seed=1, epoch=2, num_workers=2))
    for x, y in zip(a, b):
        assert all(torch.equal(p, q) for p, q in zip(x, y))


def test_pretrain_loader_too_few_images(fmt, tmp_path):
    _tree(tmp_path)
    ds = load_dataset(_cfg(fmt, tmp_path), "test")
    with pytest.raises(UserError, match="fewer than one batch"):
        ds.pretrain_loader(64, AUG, seed=0, epoch=0, num_workers=0)


def test_classes_and_subset_apply_to_folders(fmt, tmp_path):
    _tree(tmp_path)
    ds = load_dataset(_cfg(fmt, tmp_path, classes=[2, 0], train_subset=6), "train")
    assert ds.num_classes == 2 and ds.class_names == ["zebra", "ant"]
    assert len(ds) == 6 and torch.bincount(ds.labels).tolist() == [3, 3]
    for path, label in zip(ds.paths, ds.labels.tolist()):
        assert f"/{ds.class_names[label]}/" in path


def test_missing_root_errors(fmt, tmp_path):
    with pytest.raises(UserError, match="data.root must be set"):
        load_dataset(_cfg(fmt, tmp_path) | {"root": None}, "train")
    with pytest.raises(UserError, match="does not exist") as exc:
        load_dataset(_cfg(fmt, tmp_path / "missing"), "train")
    assert str(tmp_path / "missing") in str(exc.value)
    (tmp_path / "train").mkdir()
    with pytest.raises(UserError, match="no test split"):
        load_dataset(_cfg(fmt, tmp_path), "test")
    with pytest.raises(UserError, match="no class folders"):
        load_dataset(_cfg(fmt, tmp_path), "train")
    (tmp_path / "train" / "a").mkdir()
    with pytest.raises(UserError, match="no images"):
        load_dataset(_cfg(fmt, tmp_path), "train")


def test_corrupt_image(fmt, tmp_path):
    _tree(tmp_path)
    bad = tmp_path / "val" / "ant" / "img0.png"
    bad.write_bytes(b"\x89PNG garbage")
    ds = load_dataset(_cfg(fmt, tmp_path), "test")
    with pytest.raises(UserError, match="img0.png"):
        ds.load_uint8(torch.arange(len(ds)))


def test_pretrain_loader_rank_slices_make_up_the_global_batches(fmt, tmp_path):
    """Under DDP rank r takes its slice of each global batch, with the same views."""
    _tree(tmp_path, per_class=6)
    ds = load_dataset(_cfg(fmt, tmp_path), "train")  # 19 images
    whole = _collect(ds.pretrain_loader(4, AUG, seed=3, epoch=1, num_workers=0))
    ranks = [_collect(ds.pretrain_loader(4, AUG, seed=3, epoch=1, num_workers=0, rank=r, world_size=2))
             for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(whole) == 4
    for s, batch in enumerate(whole):
        for part in range(3):  # view 1, view 2, indices
            joined = torch.cat([ranks[0][s][part], ranks[1][s][part]])
            assert torch.equal(joined, batch[part])
