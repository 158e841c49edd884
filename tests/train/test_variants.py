import pytest

from ifnd.config import load_config
from ifnd.errors import UserError
from ifnd.train import apply_variant


def _cfg(**sets):
    base = {"data.name": "synthetic", "data.train_subset": 1000, "method.name": "simclr"}
    base.update(sets)
    return load_config("config/config.yaml", base)


def test_ablation_applies_its_overrides_to_an_ifnd_run():
    cfg = apply_variant(_cfg(), ablation="one_level")
    assert cfg["method"]["name"] == "ifnd"
    assert cfg["fnd"]["levels"] == [20] and cfg["fnd"]["kmeans_seeds"] == [0]
    assert apply_variant(_cfg(), ablation="attraction")["method"]["removal"] == "attr"


def test_class_subset_keeps_the_images_per_class():
    cfg = apply_variant(_cfg(**{"train.batch_size": 64}), classes=2)
    assert cfg["data"]["classes"] == [0, 1]
    assert cfg["data"]["train_subset"] == 200  # 1000 images over 10 classes -> 100 per class


@pytest.mark.parametrize("kwargs,message", [
    ({"ablation": "nonsense"}, "unknown ablation"),
    ({"classes": 1}, "between 2 and 10"),
    ({"classes": 11}, "between 2 and 10"),
])
def test_bad_variants_are_reported(kwargs, message):
    with pytest.raises(UserError, match=message):
        apply_variant(_cfg(), **kwargs)


def test_class_subset_never_drops_below_one_batch():
    cfg = apply_variant(_cfg(**{"train.batch_size": 256}), classes=2)
    assert cfg["data"]["train_subset"] == 256  # 200 images per the full run's share, one batch at least
