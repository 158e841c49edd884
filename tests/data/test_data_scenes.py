"""The Fashion-MNIST scenes testbed: garments from real IDX files over the packaged photographs."""

import numpy as np
import pytest
import torch

from ifnd.data import load_dataset
from ifnd.data import scenes
from ifnd.errors import UserError


def garments(n: int) -> torch.Tensor:
    """n 28x28 'garments': a filled 12x12 square in the middle of a black image."""
    g = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    g[:, :, 8:20, 8:20] = 255
    return g


def test_scenes_keep_labels_and_are_deterministic(fmt, tmp_path):
    truth = fmt.write_fashion(tmp_path, n_train=40, n_test=20)
    cfg = fmt.data_cfg(name="fashion-scenes", root=str(tmp_path))
    a, b = load_dataset(cfg, "train"), load_dataset(cfg, "train")
    assert a.images.shape == (40, 3, 32, 32) and a.images.dtype == torch.uint8
    assert torch.equal(a.labels, torch.from_numpy(truth["train"][1].astype(np.int64)))
    assert torch.equal(a.images, b.images) and a.name == "fashion-scenes" and a.channels == 3
    other = load_dataset({**cfg, "scenes": {"seed": 1}}, "train")
    assert not torch.equal(a.images, other.images)
    assert load_dataset(cfg, "test").images.shape == (20, 3, 32, 32)


def test_garment_lands_inside_the_image_at_its_drawn_size():
    s = scenes.scene_settings({"scenes": {"garment_size": [16, 16]}})
    rng = np.random.default_rng(0)
    masks = scenes._place(garments(50).float() / 255, s, rng)
    # a 12/28 square of a 16-pixel garment covers about 16 * 12 / 28 = 6.9 pixels a side
    side = (masks[:, 0] > 0.5).sum(dim=(1, 2)).float().sqrt()
    assert torch.all((side > 5.5) & (side < 8.5))
    # never cut by the border: the mask's mass is the square's whole mass
    mass = masks.sum(dim=(1, 2, 3))
    assert torch.allclose(mass, mass.mean().expand_as(mass), rtol=0.15)


def test_train_and_test_backgrounds_come_from_different_parts_of_the_photographs():
    photos = [torch.zeros(3, 200, 300), torch.zeros(3, 200, 300)]
    for p in photos:
        p[:, :, int(300 * scenes.TRAIN_WIDTH):] = 1.0  # the test part is white, the rest black
    s = scenes.scene_settings({"scenes": {"darken": 1.0, "cast": 0.0, "window": [32, 80]}})
    rng = np.random.default_rng(0)
    train = scenes._backgrounds(photos, 200, "train", s, rng)
    test = scenes._backgrounds(photos, 200, "test", s, rng)
    assert float(train.max()) == 0.0 and float(test.min()) > 0.999


def test_bad_dial_is_one_clear_error():
    with pytest.raises(UserError, match="garment_size"):
        scenes.scene_settings({"scenes": {"garment_size": [30, 40]}})
    with pytest.raises(UserError, match="unknown key"):
        scenes.scene_settings({"scenes": {"size": 3}})
    with pytest.raises(UserError, match="darken"):
        scenes.scene_settings({"scenes": {"darken": 2}})


def test_the_dial_is_a_config_override():
    """data.scenes may be absent from a config: an override adds it, and the schema checks it."""
    from ifnd.config import apply_overrides, load_config, validate
    from ifnd.errors import UserError as Err

    cfg = load_config("config/config.yaml")
    cfg = validate(apply_overrides(cfg, ["data.name=fashion-scenes", "data.scenes={darken: 0.3}"]))
    assert cfg["data"]["scenes"] == {"darken": 0.3}
    with pytest.raises(Err):
        validate(apply_overrides(cfg, ["data.scenes={darken: 3}"]))


def test_scenes_are_generated_once_then_read_from_the_cache(fmt, tmp_path, monkeypatch):
    fmt.write_fashion(tmp_path, n_train=30, n_test=10)
    monkeypatch.setenv("IFND_CACHE", str(tmp_path / "cache"))
    cfg = fmt.data_cfg(name="fashion-scenes", root=str(tmp_path))
    first = load_dataset(cfg, "train")
    files = sorted((tmp_path / "cache" / "scenes").glob("train-*.npy"))
    assert len(files) == 1

    def no_generation(*args, **kwargs):
        raise AssertionError("generated again although the cache holds the split")

    monkeypatch.setattr(scenes, "compose", no_generation)
    assert torch.equal(load_dataset(cfg, "train").images, first.images)
    # another dial is another key: it must be generated, so the patched compose is reached
    with pytest.raises(AssertionError, match="generated again"):
        load_dataset({**cfg, "scenes": {"darken": 0.4}}, "train")
    # a damaged file is generated again and replaced, never returned
    monkeypatch.undo()
    monkeypatch.setenv("IFND_CACHE", str(tmp_path / "cache"))
    files[0].write_bytes(b"not an array")
    assert torch.equal(load_dataset(cfg, "train").images, first.images)
    # off: nothing new is written
    monkeypatch.setenv("IFND_CACHE", "off")
    load_dataset(cfg, "test")
    assert not list((tmp_path / "cache" / "scenes").glob("test-*.npy"))
