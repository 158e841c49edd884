"""The detection floors: the detector's own setting on embeddings no training touched."""

import json

import numpy as np
import pytest

from ifnd.cli import main
from ifnd.evaluate.detectfloor import SPACES, floor_rows

FND = {"levels": [2, 4], "kmeans_niter": 10, "kmeans_nredo": 1, "kmeans_seeds": [0, 1],
       "features": "projection", "confidence": "cosine", "ranking": "per_cluster", "combine": "union"}


def test_floor_rows_on_separable_and_on_random_spaces():
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1], 50)
    # two tight, opposite clusters: every detected pair at rate 1 shares its class
    clean = np.where(truth[:, None] == 0, 1.0, -1.0) * np.ones((100, 8)) + 0.01 * rng.normal(size=(100, 8))
    noise = rng.normal(size=(100, 8))
    rows = floor_rows({"pixels": clean, "random_init_projection": noise}, truth, FND, 0, [0.5, 1.0])
    got = {(r["space"], r["rate"]): r for r in rows}
    assert got[("pixels", 1.0)]["precision"] == pytest.approx(1.0)
    assert got[("pixels", 1.0)]["accepted_fraction"] == 1.0
    # each level accepts half its samples; a sample counts as accepted at any level (union)
    assert 0.5 <= got[("pixels", 0.5)]["accepted_fraction"] < 1.0
    # on noise the pairs are about as often right as two random images of 2 classes (~49.5%)
    assert 0.3 < got[("random_init_projection", 1.0)]["precision"] < 0.7


def test_detect_floor_command_writes_every_space(tiny_overrides, config_path, tmp_path, capsys):
    out = tmp_path / "floor.json"
    sets = [a for o in tiny_overrides + ["fnd.levels=[5, 10]", "fnd.kmeans_seeds=[0, 1]"]
            for a in ("--set", o)]
    assert main(["detect-floor", "--config", str(config_path), *sets, "--rates", "1.0",
                 "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["evaluation"] == "detect_floor"
    assert sorted(r["space"] for r in record["rows"]) == sorted(SPACES)
    assert all(0 <= r["precision"] <= 1 and r["rate"] == 1.0 for r in record["rows"])
    assert "pixels" in capsys.readouterr().out
