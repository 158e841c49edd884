"""The budget study's configs: every budget runs on the scenes experiment's data and IFND
setting, and a budget's seed chunks are experiments of their own whose seeds cover the budget's
exactly once (so that `ifnd budget` can pool them)."""

from pathlib import Path

import pytest

from ifnd.config import load_config
from ifnd.pipeline import Pipeline

CONFIG = Path(__file__).resolve().parents[2] / "config"
BUDGETS = sorted(CONFIG.glob("budget/e[0-9]*.yaml"))
WHOLE = [p for p in BUDGETS if "-" not in p.stem]


def _load(*files):
    return load_config(CONFIG / "config.yaml", extra_files=[str(f) for f in files])


@pytest.mark.parametrize("path", WHOLE, ids=lambda p: p.stem)
def test_each_budget_uses_the_scenes_experiment_choice(path):
    scenes, cfg = _load(CONFIG / "scenes.yaml"), _load(path)
    for key in ("data", "model", "augment", "eval"):
        assert cfg[key] == scenes[key], key
    for key in ("features", "rate_max"):
        assert cfg["fnd"][key] == scenes["fnd"][key], key
    epochs = cfg["train"]["epochs"]
    assert path.stem == f"e{epochs}" and cfg["workflow"]["experiment"] == f"budget-e{epochs}"
    # IFND's schedule scales with the budget (2 / 11 of 15 epochs in the default)
    assert cfg["fnd"]["warmup_epochs"] < cfg["fnd"]["ramp_end_epoch"] <= epochs


def test_the_studied_budgets_span_eightfold():
    epochs = sorted(_load(p)["train"]["epochs"] for p in WHOLE)
    assert epochs[-1] / epochs[0] >= 8 and len(epochs) >= 3


@pytest.mark.parametrize("whole", [p for p in WHOLE if any(q.stem.startswith(p.stem + "-") for q in BUDGETS)],
                         ids=lambda p: p.stem)
def test_chunks_cover_the_budget_seeds_once(whole):
    chunks = [p for p in BUDGETS if p.stem.startswith(whole.stem + "-")]
    base = Pipeline(_load(whole))
    planned = {r.path for r in base.runs()}
    seen, names = [], set()
    for chunk in chunks:
        pipe = Pipeline(_load(whole, chunk))
        names.add(pipe.experiment)
        assert pipe.experiment == f"budget-{chunk.stem}"
        seen += [r.path for r in pipe.runs()]
    assert len(names) == len(chunks)                  # each chunk writes its own folder
    assert sorted(seen) == sorted(planned)            # together: the budget's runs, each once
