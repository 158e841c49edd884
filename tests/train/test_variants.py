import pytest

from ifnd.config import load_config
from ifnd.errors import UserError
from ifnd.variants import apply_variant


def _cfg(**sets):
    base = {"data.name": "synthetic", "data.train_subset": 1000, "method.name": "simclr"}
    base.update(sets)
    return load_config("config/config.yaml", base)


def test_ablation_applies_its_overrides_to_an_ifnd_run():
    cfg = apply_variant(_cfg(), ablation="one_level")
    assert cfg["method"]["name"] == "ifnd"
    assert cfg["fnd"]["levels"] == [20] and cfg["fnd"]["kmeans_seeds"] == [0]
    assert apply_variant(_cfg(), ablation="attraction")["method"]["removal"] == "attr"


def test_class_subset_is_a_seeded_random_draw_at_a_fixed_number_of_images():
    """Every seed draws other classes (not the first n); the number of training images, and so
    of steps, is the full run's; the validation split shrinks with the classes."""
    draws = {tuple(apply_variant(_cfg(**{"train.seed": s}), classes=3)["data"]["classes"])
             for s in range(6)}
    assert len(draws) > 1 and all(len(set(d)) == 3 and list(d) == sorted(d) for d in draws)
    cfg = apply_variant(_cfg(**{"train.seed": 4}), classes=3)
    assert cfg["data"]["classes"] == apply_variant(_cfg(**{"train.seed": 4}), classes=3)["data"]["classes"]
    assert cfg["data"]["train_subset"] == 1000  # as many images as the full run
    assert cfg["data"]["val_subset"] == 1500  # 5000 validation images over 10 classes -> 3 of them


def _write_idx(path, array):
    import numpy as np

    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.tobytes())


def test_class_subset_too_small_for_the_images_is_one_error(tmp_path):
    """Fashion-MNIST files (IDX format) with 30 images per class: 2 classes cannot give 100."""
    import numpy as np

    for prefix, n in (("train", 300), ("t10k", 20)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", np.zeros((n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    cfg = load_config("config/config.yaml", {"data.root": str(tmp_path), "data.train_subset": 100,
                                              "data.val_subset": 20, "train.batch_size": 32})
    with pytest.raises(UserError, match=r"--classes 2: the drawn classes \[.*\] hold 56 training"):
        apply_variant(cfg, classes=2)


@pytest.mark.parametrize("kwargs,message", [
    ({"ablation": "nonsense"}, "unknown ablation"),
    ({"classes": 1}, "between 2 and 10"),
    ({"classes": 11}, "between 2 and 10"),
])
def test_bad_variants_are_reported(kwargs, message):
    with pytest.raises(UserError, match=message):
        apply_variant(_cfg(), **kwargs)

