"""The pipeline definition (src/ifnd/pipeline.py) of the selection experiment: every
evaluation scores the validation split, and its override file's ablations replace the base
file's."""

from __future__ import annotations

import re
from pathlib import Path

from ifnd.pipeline import Pipeline

REPO = Path(__file__).resolve().parents[2]
SCORING = ("evaluate", "rawpixels", "supervised", "random_init")


def _pipeline(*extra: str) -> Pipeline:
    return Pipeline.from_files([str(REPO / "config/config.yaml")] + [str(REPO / f) for f in extra])


def test_selection_scores_the_validation_split_everywhere():
    pipe = _pipeline("config/selection.yaml")
    assert pipe.evaluate_on == "val" and pipe.root == "results/selection"
    scoring = [j for j in pipe.jobs if j.rule in SCORING]
    assert {j.rule for j in scoring} == set(SCORING)
    for job in scoring:
        assert job.cmd.count(" --on val ") == 1, job.cmd
    # pretraining, the detection study and the report steps take no split
    assert not [j.cmd for j in pipe.jobs if j.rule not in SCORING and "--on" in j.cmd]


def test_default_experiment_commands_take_no_split_option():
    pipe = _pipeline()
    assert pipe.evaluate_on == "test"
    assert not [j.cmd for j in pipe.jobs if "--on " in j.cmd]


def test_an_override_files_ablations_replace_the_base_files():
    base, selection = _pipeline(), _pipeline("config/selection.yaml")
    chosen = set(selection.wf["ablations"])
    assert "attraction" in base.wf["ablations"] and "attraction" not in chosen
    assert {r.name for r in selection.runs() if r.group == "ablation"} == chosen


def test_structured_control_reads_this_experiments_detection_study():
    """The structured attribution control names `results/{experiment}/detect/...`: its pretraining
    job depends on that file, which the detection study job of the same experiment writes. Every
    matched control also reads IFND's fn_stats.csv of its own seed (its targets), which IFND's
    pretraining job of that seed writes."""
    from ifnd.fnd.controls import with_experiment

    for extra, root in (((), "results/fashion-mnist"), (("config/test.yaml",), "results/test")):
        pipe = _pipeline(*extra)
        job = pipe.job(f"{root}/runs/ablation/ifnd_matched_structured/s0/model.pt")
        assert job.deps == [f"{root}/detect/main/simclr/s0/confusion.json",
                            f"{root}/runs/main/ifnd/s0/fn_stats.csv"]
        assert pipe.job(job.deps[0]).rule == "detect"
        assert pipe.job(job.deps[1]).stage == "pretrain-main-ifnd-s0"
        matched = pipe.job(f"{root}/runs/ablation/ifnd_matched_random/s0/model.pt")
        assert matched.deps == [f"{root}/runs/main/ifnd/s0/fn_stats.csv"]
        assert pipe.job(f"{root}/runs/ablation/schedule_matched_oracle/s0/model.pt").deps == []
    fnd = {"levels": [10], "control": {"errors": "structured", "confusion": "results/{experiment}/c.json"}}
    assert with_experiment(fnd, "test")["control"]["confusion"] == "results/test/c.json"
    assert fnd["control"]["confusion"] == "results/{experiment}/c.json"      # not changed in place
    assert with_experiment({"levels": [10]}, "test") == {"levels": [10]}


def test_a_dependency_no_job_writes_is_one_error_line(tmp_path):
    """A structured control that names a detection study the experiment does not run (here: no
    SimCLR in workflow.methods) stops the pipeline definition with a UserError naming it. (An
    experiment of its own: the default experiment's committed confusion.json exists.)"""
    import pytest

    from ifnd.errors import UserError

    extra = tmp_path / "no_simclr.yaml"
    extra.write_text("workflow:\n  methods: [ifnd, oracle]\n  experiment: no-simclr\n")
    with pytest.raises(UserError, match=r"pretrain-ablation-ifnd_matched_structured-s0: reads "
                                        r"results/no-simclr/detect/main/simclr/s0/confusion.json"):
        Pipeline.from_files([str(REPO / "config/config.yaml"), str(extra)])


def test_references_scoring_val_read_the_validation_size():
    """The raw-pixel and supervised references leave data.val_subset out of their keys when
    they score the test split (the validation images are held out of images the training
    subset left out), and keep it when they score the validation split."""
    test, val = _pipeline(), _pipeline("config/selection.yaml")
    assert "data.val_subset" not in test.reference_keys(["data"])
    assert "data" in val.reference_keys(["data"])


def test_evaluating_on_val_needs_a_validation_split():
    import pytest

    from ifnd.config import load_config
    from ifnd.errors import UserError

    with pytest.raises(UserError, match="workflow.evaluate_on: val needs a validation split"):
        load_config(REPO / "config/config.yaml",
                    overrides={"workflow.evaluate_on": "val", "data.val_subset": None})


def test_state_folder_follows_the_content_of_a_file_the_run_reads(tmp_path, monkeypatch):
    """The structured control's state folder changes with its confusion.json's content (it is
    computed when the job starts, after the detection study wrote the file), so a regenerated
    confusion never resumes a state trained on the old one; other runs' folders do not move."""
    monkeypatch.chdir(tmp_path)
    pipe = _pipeline("config/test.yaml")
    run = pipe.find_run("ablation/ifnd_matched_structured/s0")
    before = pipe.state_dir(run)                     # the file does not exist yet
    confusion = tmp_path / "results/test/detect/main/simclr/s0/confusion.json"
    confusion.parent.mkdir(parents=True)
    confusion.write_text('{"matrix": [[0, 1], [1, 0]]}')
    first = pipe.state_dir(run)
    confusion.write_text('{"matrix": [[0, 2], [1, 0]]}')
    second = pipe.state_dir(run)
    assert len({before, first, second}) == 3 and first.startswith(before + "-")
    plain = pipe.find_run("ablation/ifnd_matched_random/s0")
    assert pipe.state_dir(plain) == _pipeline("config/test.yaml").state_dir(plain)


def test_a_chunk_of_seeds_plans_the_jobs_of_its_seeds(tmp_path, monkeypatch):
    """`snakemake --config seeds=[1]` builds the pipeline of seed 1 alone: its runs, its
    references and its detection study; the seedless jobs (raw pixels, tables, figures, report)
    in every chunk. The chunks together plan every job of the whole experiment once (the
    seedless ones aside). A chunk's control that reads seed 0's detection study needs that
    chunk's committed file: absent, one error line; present, a file the chunk only reads."""
    import pytest

    from ifnd.errors import UserError

    monkeypatch.chdir(tmp_path)          # no committed results: the test experiment's files are absent
    files = [str(REPO / "config/config.yaml"), str(REPO / "config/test.yaml")]
    extra = tmp_path / "seeds.yaml"      # the test experiment at two seeds
    extra.write_text("workflow:\n  seeds: [0, 1]\n  ablation_seeds: [0, 1]\n  class_sweep_seeds: [0, 1]\n")
    files.append(str(extra))
    whole = Pipeline.from_files(files)
    first = Pipeline.from_files(files, seeds=[0])
    assert first.runs() == [r for r in whole.runs() if r.seed == 0]
    for bad in ([5], ["x"], []):          # not seeds of this experiment: one error line
        with pytest.raises(UserError, match=r"seeds=.*: give a list of this experiment's seeds \(\[0, 1\]\)"):
            Pipeline.from_files(files, seeds=bad)
    with pytest.raises(UserError, match=r"confusion.json, which no job .* run it first"):
        Pipeline.from_files(files, seeds=["1"])
    confusion = Path("results/test/detect/main/simclr/s0/confusion.json")
    confusion.parent.mkdir(parents=True)
    confusion.write_text("{}")           # what the first chunk committed
    second = Pipeline.from_files(files, seeds=["1"])   # Snakemake's --config gives strings
    assert second.runs() == [r for r in whole.runs() if r.seed == 1]
    control = second.job("results/test/runs/ablation/ifnd_matched_structured/s1/model.pt")
    assert str(confusion) in control.deps and second.inputs(control) == ["results/test/runs/main/ifnd/s1/fn_stats.csv"]
    seedless = {"rawpixels", "tables", "figures", "report"}
    for chunk in (first, second):
        assert {j.rule for j in chunk.jobs} >= seedless
        seeds = {int(m) for j in chunk.jobs if j.rule not in seedless for o in j.outs
                 for m in re.findall(r"[/_]s(\d+)(?:/|\.json|$)", o)}
        assert seeds == chunk.chunk
    outputs = lambda p: {o for j in p.jobs if j.rule not in seedless for o in j.outs}  # noqa: E731
    assert outputs(first) | outputs(second) == outputs(whole)
    assert not outputs(first) & outputs(second)


def test_only_the_encoders_stay_out_of_git():
    """DVC caches the encoders (model.pt, epochs/) and the label splits; every other output (a
    run's records, the evaluations, the references, the report) is committed to git."""
    pipe = _pipeline("config/test.yaml")
    cached = {o.rsplit("/", 1)[1] for j in pipe.jobs for o in j.outs if j.is_cached(o)}
    assert {n for n in cached if not n.startswith("f")} == {"model.pt", "epochs"}
    assert all(n.startswith("f") and n.endswith(".json") for n in cached - {"model.pt", "epochs"})  # splits
    ignored = (REPO / ".gitignore").read_text()
    assert "/results/*/runs/**/model.pt" in ignored and "/results/*/evals/" not in ignored
