"""The paper's ImageNet layout on tiny trees in the real formats: class folders named by WordNet
ids, JPEG files named as ImageNet names them, the shipped ImageNet-100 list and SimCLR subsets."""

import numpy as np
import pytest
from PIL import Image

from ifnd.cli import main
from ifnd.data import FolderDataset
from ifnd.data.imagenet import LISTS, build_subset_tree, imagenet100_classes, read_list, simclr_subset_rows
from ifnd.errors import UserError


def _jpeg(path, colour=(200, 30, 30), size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.empty((size[1], size[0], 3), np.uint8)
    arr[:] = colour
    Image.fromarray(arr).save(path, format="JPEG")


def _imagenet(root, wnids, names_per_class):
    for wnid in wnids:
        for name in names_per_class[wnid]:
            _jpeg(root / "train" / wnid / name)
        _jpeg(root / "val" / wnid / f"ILSVRC2012_val_{abs(hash(wnid)) % 10**8:08d}.JPEG")
    return root


def test_the_shipped_lists_are_the_published_ones():
    classes = imagenet100_classes()
    assert len(classes) == len(set(classes)) == 100
    assert classes[0] == "n02869837" and classes[-1] == "n02090622"   # CMC's first and last ids
    one, ten = read_list(LISTS / "simclr_1percent.txt"), read_list(LISTS / "simclr_10percent.txt")
    assert (len(one), len(ten)) == (12811, 128116)
    assert one[0] == "n04235860_14959.JPEG"
    assert all(n.endswith(".JPEG") and n.startswith("n") for n in one[:100])
    assert (LISTS / "SOURCES.md").read_text().count("commit") >= 2


def test_imagenet100_tree_is_links_to_the_class_folders(tmp_path):
    wnids = imagenet100_classes()[:3] + ["n01440764"]            # one class outside the subset
    src = _imagenet(tmp_path / "imagenet", wnids, {w: [f"{w}_1.JPEG", f"{w}_2.JPEG"] for w in wnids})
    out = tmp_path / "imagenet100"
    assert build_subset_tree(src, out, wnids[:3]) == {"train": 3, "val": 3}
    for split in ("train", "val"):
        assert sorted(p.name for p in (out / split).iterdir()) == sorted(wnids[:3])
        assert all((out / split / w).is_symlink() for w in wnids[:3])
    ds = FolderDataset.from_root(str(out), "train", 32)
    assert len(ds) == 6 and ds.class_names == sorted(wnids[:3])
    assert build_subset_tree(src, out, wnids[:3]) == {"train": 3, "val": 3}   # again: kept
    with pytest.raises(UserError, match="lacks the class folder"):
        build_subset_tree(src, tmp_path / "other", ["n99999999"])


def test_the_command_builds_imagenet100_from_the_shipped_list(tmp_path, capsys):
    wnids = imagenet100_classes()
    src = _imagenet(tmp_path / "imagenet", wnids, {w: [f"{w}_1.JPEG"] for w in wnids})
    assert main(["imagenet-subset", "--imagenet", str(src), "--out", str(tmp_path / "in100")]) == 0
    assert "100 train class folders" in capsys.readouterr().out
    assert main(["imagenet-subset", "--imagenet", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2


def test_simclr_subset_picks_the_listed_images(tmp_path):
    one = read_list(LISTS / "simclr_1percent.txt")
    listed = [n for n in one if n.startswith("n04235860_")][:2]          # two images the 1% list names
    names = {"n04235860": listed + ["n04235860_999999.JPEG"]}
    src = _imagenet(tmp_path / "imagenet", ["n04235860"], names)
    ds = FolderDataset.from_root(str(src), "train", 32)
    rows = simclr_subset_rows(ds.paths, 0.01)
    assert sorted(ds.paths[i].rsplit("/", 1)[1] for i in rows) == sorted(listed)
    with pytest.raises(UserError, match="1% and 10%"):
        simclr_subset_rows(ds.paths, 0.05)


def test_semisup_splits_use_the_simclr_subsets_when_asked(tmp_path):
    from ifnd.config import load_config
    from ifnd.evaluate.splits import labelled_rows

    one = read_list(LISTS / "simclr_1percent.txt")
    listed = [n for n in one if n.startswith("n04235860_")][:3]
    src = _imagenet(tmp_path / "imagenet", ["n04235860"], {"n04235860": listed + ["n04235860_1.JPEG"]})
    cfg = load_config("config/config.yaml", {"data.name": "imagefolder", "data.root": str(src),
                                             "eval.semisup.subsets": "simclr"})
    ds = FolderDataset.from_root(str(src), "train", 32)
    assert len(labelled_rows(ds, cfg["eval"]["semisup"], 0.01, seed=0)) == 3
    assert len(labelled_rows(ds, {"subsets": "random"}, 0.5, seed=0)) == 2


def test_evaluation_images_are_resized_to_256_and_centre_cropped_to_224(tmp_path):
    """A 400 x 300 image whose centre 56 columns are white: resized (shorter side 256) it is
    341 x 256, and the centre 224 crop keeps the white band's 48 columns in the middle."""
    arr = np.zeros((300, 400, 3), np.uint8)
    arr[:, 172:228] = 255
    _jpeg(tmp_path / "t" / "train" / "n0" / "a.JPEG", size=(400, 300))
    Image.fromarray(arr).save(tmp_path / "t" / "train" / "n0" / "a.JPEG", quality=100)
    ds = FolderDataset.from_root(str(tmp_path / "t"), "train", 224)
    img = ds.load_uint8([0])[0]
    assert img.shape == (3, 224, 224)
    white = (img[0, 112] > 128).nonzero().flatten()
    assert 46 <= len(white) <= 50 and abs(float(white.float().mean()) - 111.5) < 1.5
