import pytest

from ifnd.config import load_config

TINY = {
    "data.name": "synthetic", "data.train_subset": 128, "data.val_subset": 64, "data.test_subset": 64,
    "data.image_size": 16,
    "model.width": 4, "model.proj_hidden": 32, "model.proj_dim": 16,
    "train.batch_size": 32, "train.epochs": 3, "train.warmup_epochs": 1, "train.progress": False,
    "train.threads": 1, "train.precision": "fp32", "train.knn_every": 1,
    "fnd.levels": [4, 8], "fnd.kmeans_seeds": [0, 1], "fnd.warmup_epochs": 1, "fnd.ramp_end_epoch": 2,
    "fnd.rate_start": 0.5, "fnd.kmeans_niter": 5, "fnd.embed_batch_size": 64,
}


@pytest.fixture
def tiny_cfg():
    """A config small enough to pretrain a few epochs in about a second."""
    def make(**overrides):
        merged = dict(TINY)
        merged.update({k.replace("__", "."): v for k, v in overrides.items()})
        return load_config("config/config.yaml", merged)
    return make
