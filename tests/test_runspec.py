"""The run specification (ifnd.runspec): one spelling of a run's path, config and folders."""

import subprocess
import sys
from pathlib import Path

import pytest

from ifnd import data as data_module
from ifnd.config import load_config
from ifnd.errors import UserError
from ifnd.pipeline import Pipeline
from ifnd.runspec import RunSpec, class_subset_overrides

REPO = Path(__file__).resolve().parents[1]
CONFIGS = [str(REPO / "config/config.yaml"), str(REPO / "config/test.yaml")]


@pytest.mark.parametrize("path,spec", [
    ("main/ifnd/s0", RunSpec("main", "ifnd", 0)),
    ("ablation/one_level/s12", RunSpec("ablation", "one_level", 12)),
    ("classes/oracle/c5/s2", RunSpec("classes", "oracle", 2, 5)),
    ("moco/oracle/s1", RunSpec("moco", "oracle", 1)),
])
def test_a_path_parses_to_its_spec_and_back(path, spec):
    assert RunSpec.parse(path) == spec and spec.path == path


@pytest.mark.parametrize("bad", ["main/ifnd", "main/ifnd/0", "other/ifnd/s0", "classes/simclr/s0",
                                 "/main/ifnd/s0"])
def test_a_bad_path_is_one_clear_error(bad):
    with pytest.raises(UserError, match="is not a run path"):
        RunSpec.parse(bad)


def test_overrides_of_each_group():
    cfg = load_config(CONFIGS[0])
    assert RunSpec("main", "oracle", 3).overrides(cfg) == [("method.name", "oracle"), ("train.seed", 3)]
    # an ablation is an IFND run with its entry's changes (a control names its own method)
    assert RunSpec("ablation", "one_level", 1).overrides(cfg) == [
        ("method.name", "ifnd"), ("fnd.levels", [20]), ("fnd.kmeans_seeds", [0]), ("train.seed", 1)]
    over = dict(RunSpec("ablation", "schedule_matched_oracle", 0).overrides(cfg))
    assert over["method.name"] == "oracle_scheduled"
    with pytest.raises(UserError, match="unknown ablation 'nope'"):
        RunSpec("ablation", "nope", 0).overrides(cfg)


def test_the_class_draw_needs_no_dataset(monkeypatch):
    """Building a class-sweep run's config reads no image: numbers hand-checked against
    numpy.random.default_rng([seed, n, 7]).choice(10, n, replace=False)."""
    def no_data(*args, **kwargs):
        raise AssertionError("a dataset was loaded to build a config")

    import ifnd.runspec as runspec_module

    monkeypatch.setattr(data_module, "load_dataset", no_data)
    for name in ("load_dataset", "load_fashion_mnist", "load_scenes", "load_cifar"):  # any copy it may hold
        if hasattr(runspec_module, name):
            monkeypatch.setattr(runspec_module, name, no_data)
    monkeypatch.setattr("ifnd.data.fashion_mnist.load_fashion_mnist", no_data)
    cfg = load_config(CONFIGS[0])  # Fashion-MNIST: 10 classes, 5000 validation images
    cfg["workflow"]["class_sweep_match"] = {}       # random draws (the default config matches them)
    import numpy as np
    for seed, n in ((0, 2), (1, 5), (2, 2)):
        want = sorted(int(c) for c in np.random.default_rng([seed, n, 7]).choice(10, size=n, replace=False))
        got = dict(class_subset_overrides(cfg, n, seed))
        assert got["data.classes"] == want
        assert got["data.val_subset"] == 5000 * n // 10
    with pytest.raises(UserError, match="between 2 and 10"):
        class_subset_overrides(cfg, 11, 0)


def _confusion(tmp_path, upper: dict, total: int = 4) -> Path:
    import json

    matrix = [[0] * total for _ in range(total)]
    for (i, j), count in upper.items():
        matrix[i][j] = count
    path = tmp_path / "confusion.json"
    path.write_text(json.dumps({"matrix": matrix, "level_k": total}))
    return path


def test_class_subsets_matched_on_difficulty(tmp_path):
    """Pairs (0, 1) and (2, 3) share clusters 10 times, every other pair 4 times: the mean pair
    count is 36 / 6 = 6, so the strong pairs' confusability is 10 / 6 and the others' 4 / 6.
    Two classes: the four weak pairs lie 1/3 from the full set's 1, the strong ones 2/3, so the
    seeds take the weak pairs in order of their ids, then the strong ones. Three classes: every
    triple holds one strong pair and two weak ones, mean exactly 1."""
    import numpy as np

    from ifnd.runspec import matched_classes, pair_confusability

    path = _confusion(tmp_path, {(0, 1): 10, (2, 3): 10, (0, 2): 4, (0, 3): 4, (1, 2): 4, (1, 3): 4})
    c = pair_confusability(path, 4)
    assert c[0, 1] == c[1, 0] == pytest.approx(10 / 6) and c[0, 2] == pytest.approx(4 / 6)
    assert c[np.triu_indices(4, 1)].mean() == pytest.approx(1.0)
    assert [matched_classes(c, 2, s) for s in range(7)] == [[0, 2], [0, 3], [1, 2], [1, 3], [0, 1], [2, 3], [0, 2]]
    assert [matched_classes(c, 3, s) for s in range(4)] == [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]
    with pytest.raises(UserError, match=r"holds a \(4, 4\) matrix, the dataset has 10 classes"):
        pair_confusability(path, 10)


def test_a_matched_class_run_reads_its_confusion(tmp_path):
    """The default config matches Fashion-MNIST's class sweep on a committed confusion: the run's
    classes come from it, and the pipeline lists the file among the run's inputs (a changed
    confusion reruns the sweep)."""
    from ifnd.runspec import matched_classes, pair_confusability

    cfg = load_config(CONFIGS[0])
    path = cfg["workflow"]["class_sweep_match"]["fashion-mnist"]
    run = RunSpec("classes", "oracle", 1, 2)
    want = matched_classes(pair_confusability(REPO / path, 10), 2, 1)
    assert dict(run.overrides(cfg))["data.classes"] == want
    assert run.reads(cfg, "fashion-mnist") == [path]
    assert path in Pipeline.from_files([str(CONFIGS[0])]).job(f"results/fashion-mnist/runs/{run.path}/model.pt").deps


def test_state_folder_is_the_config_s_and_the_pipeline_uses_the_spec():
    pipe = Pipeline.from_files(CONFIGS)
    for run in pipe.runs():
        assert pipe.find_run(run.path) is not None
        folder = pipe.state_dir(run)
        assert folder.startswith(f"state/{pipe.experiment}/{run.path}/")
        assert folder == run.state_folder(pipe.cfg, pipe.experiment)  # one definition
        assert pipe.run_dir(run) == f"results/{pipe.experiment}/runs/{run.path}"
    a, b = RunSpec("main", "ifnd", 0), RunSpec("main", "simclr", 0)
    assert a.state_folder(pipe.cfg, "x").split("/")[-1] != b.state_folder(pipe.cfg, "x").split("/")[-1]
    with pytest.raises(UserError, match="is not a run of experiment 'test'"):
        pipe.find_run("main/nope/s0")


def test_a_multi_gpu_pretraining_job_runs_the_same_command_under_torchrun(tmp_path):
    """The Snakemake rule wraps the pipeline's command in torchrun when the job asks for GPUs."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "--configfile", "config/test.yaml",
                           "--set-resources", "pretrain:gpu=2", "--forceall",
                           "results/test/runs/main/ifnd/s0/model.pt"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert ("torchrun --standalone --nproc-per-node 2 --no-python ifnd pretrain --config config/config.yaml "
            "config/test.yaml --run main/ifnd/s0") in proc.stdout


def _write_idx(path, array):
    import numpy as np

    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.tobytes())


def test_a_class_subset_too_small_for_the_images_is_one_error_when_it_loads(tmp_path):
    """Fashion-MNIST files (IDX format) with 30 images per class: 2 classes cannot give 100
    training images besides the validation ones; the config builds, the data loader refuses."""
    import numpy as np

    from ifnd.data import load_dataset

    for prefix, n in (("train", 300), ("t10k", 20)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", np.zeros((n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    cfg = load_config(CONFIGS[0], {"data.root": str(tmp_path), "data.train_subset": 100,
                                   "data.val_subset": 20, "train.batch_size": 32})
    run_cfg = RunSpec("classes", "simclr", 0, 2).config(cfg)
    assert run_cfg["data"]["val_subset"] == 4 and len(run_cfg["data"]["classes"]) == 2
    with pytest.raises(UserError, match=r"data.classes \[.*\]: these classes hold 56 training images"):
        load_dataset(run_cfg["data"], "train")


def test_the_moco_group_runs_the_methods_on_moco():
    cfg = load_config(CONFIGS[0], extra_files=[CONFIGS[1]])
    run = RunSpec.parse("moco/ifnd/s0")
    assert run == RunSpec("moco", "ifnd", 0) and run.framework == "moco"
    assert RunSpec("main", "ifnd", 0).framework is None
    over = dict(run.overrides(cfg))
    assert over["method.name"] == "ifnd" and over["train.framework"] == "moco" and over["train.lr"] == 0.06
    assert over["train.moco"]["queue_size"] == 128
    assert "workflow.frameworks.moco.set" in run.pretrain_keys()
    with pytest.raises(UserError, match="workflow.frameworks has no 'moco' entry"):
        run.overrides(load_config(CONFIGS[0]))


def test_only_the_canonical_path_names_a_run():
    pipe = Pipeline.from_files(CONFIGS)
    for bad in ("main/ifnd/s00", "classes/simclr/c02/s0"):
        with pytest.raises(UserError):
            pipe.find_run(bad)


@pytest.mark.parametrize("flags,message", [
    (["--ablation", "nonsense"], "unknown ablation 'nonsense'"),
    (["--classes", "1"], "between 2 and 10"),
    (["--classes", "11"], "between 2 and 10"),
    (["--ablation", "one_level", "--classes", "2"], "exclusive"),
])
def test_bad_variant_flags_are_one_error_line(tmp_path, capsys, flags, message):
    from ifnd.cli import main

    assert main(["pretrain", "--config", CONFIGS[0], "--set", "data.name=synthetic", *flags,
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_sweep_over_a_fixed_class_set_or_a_framework_listed_twice_is_one_error():
    cfg = load_config(CONFIGS[0], {"data.classes": [0, 1, 2]})
    with pytest.raises(UserError, match="data.classes is set, but the class sweep"):
        Pipeline(cfg)
    Pipeline(load_config(CONFIGS[0], {"data.classes": [0, 1, 2], "workflow.class_sweep": []}))
    with pytest.raises(UserError, match="workflow.frameworks.moco: the main runs already train with moco"):
        Pipeline(load_config(CONFIGS[0], {"train.framework": "moco", "workflow.frameworks": {"moco": {"seeds": [0]}}}))
