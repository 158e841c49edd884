"""results/report.md: tables, figures, automatic reading, scale caveat, reference values."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ifnd.cli import main
from ifnd.config import load_config

from .conftest import EPOCHS

CONFIG = Path(__file__).resolve().parents[2] / "config" / "config.yaml"

SENTENCE = "Numbers on Fashion-MNIST at this scale are not comparable to the paper's CIFAR/ImageNet numbers."


@pytest.fixture
def config_file(tmp_path):
    """The default config with the fake runs' epoch count (the report checks that every run
    was made with the config it is given)."""
    folder = tmp_path / "config"
    folder.mkdir()
    text = CONFIG.read_text().replace("\n  epochs: 15\n", f"\n  epochs: {EPOCHS}\n", 1)
    assert f"epochs: {EPOCHS}" in text
    (folder / "config.yaml").write_text(text)
    return folder / "config.yaml"


def _report(results_dir, config_file, *extra) -> str:
    assert main(["tables", "--results", str(results_dir), "--config", str(config_file),
                 "--out", str(results_dir / "tables")]) == 0
    assert main(["figures", "--results", str(results_dir)]) == 0
    out = results_dir / "report.md"
    assert main(["report", "--results", str(results_dir), "--config", str(config_file), *extra,
                 "--out", str(out)]) == 0
    return out.read_text()


def test_report_contents(results_dir, config_file):
    text = _report(results_dir, config_file)
    assert SENTENCE in text
    assert "Why this data: plain Fashion-MNIST, the default experiment's data" in text   # why it exists
    for title in ("### Table 1.", "### Table 2.", "### Table 3.", "### Table 4."):
        assert title in text
    assert "| SimCLR | 2 | 71.00 ± 1.41 | 61.00 ± 1.41 |" in text
    for name in ("fig1_false_negative_effect", "fig2_fn_over_epochs", "fig3_acceptance_quality",
                 "fig4_knn_over_epochs"):
        assert f"](./figures/{name}.png)" in text
    # the claims are computed from the data
    assert "IFND − SimCLR: linear top-1 +2.50 points [95% CI -3.85, +8.85], 2 seeds" in text
    assert "IFND recovers 26% of it" in text                    # 2.5 / 9.5
    # the baseline against its floors: mean 71.0, CI 71 +- t(0.975, 1) * 1.0 = 71 +- 12.71
    assert ("SimCLR baseline linear top-1: 71.00 (95% CI [58.29, 83.71], 2 seeds) against the floors "
            "raw pixels 78.00 (-7.00) and random init 64.50 (paired difference +6.50, 95% CI [-12.56, +25.56] "
            "over 2 seeds); not clearly above every floor") in text
    # paired over seeds the 10%-label baseline clears random init, though its own interval spans it
    assert "SimCLR baseline 10%-label top-1: 61.00 (95% CI [48.29, 73.71], 2 seeds) against the floors " \
           "raw pixels 70.20 (-9.20) and random init 59.50 (paired difference +1.50, 95% CI [+1.50, +1.50] " \
           "over 2 seeds); not clearly above every floor" in text
    # what was run (with the method choices), what was cut, timings
    given = load_config(config_file)  # the given config's values are reported beside the runs'
    assert given["train"]["epochs"] == 3 and "| Pretraining epochs | 3 | 3 |  |" in text
    assert "| IFND: acceptance schedule | linear | linear |  |" in text
    assert f"a class-balanced subset of {given['data']['train_subset']:,} training images of 60,000" in text
    assert "## Timings" in text and "100.5 s" in text
    assert "Planned but not found: main/simclr/s2" in text
    # missing optional files are listed, not fatal
    assert "`linear.json` missing for: ablation/all_at_once/s0" in text
    assert "Reference values (not produced by this pipeline)" not in text
    assert "Wall time of the pipeline" not in text  # no file says when it finished


def _stamp(path: Path, **fields) -> None:
    record = json.loads(path.read_text())
    (record["timings"] if "timings" in record else record).update(fields)
    path.write_text(json.dumps(record))


def test_report_wall_time_spans_the_recorded_jobs(results_dir, config_file, capsys):
    # a pretraining run of 100 s ending at t=1000, an evaluation of 5 s ending at t=4600 and a
    # reference of 50 s ending at t=2000: from 900 to 4600, 3700 s = 61.7 min over 3 jobs, of
    # which 155 s busy
    _stamp(results_dir / "runs/main/simclr/s0/meta.json", finished_at=1000.0)
    _stamp(results_dir / "evals/main/ifnd/s0/linear.json", finished_at=4600.0)
    _stamp(results_dir / "reference/supervised/s0.json", seconds=50.0, finished_at=2000.0)
    text = _report(results_dir, config_file)
    assert ("Wall time of the pipeline: at least 2.6 min, the time while at least one recorded job ran (3 jobs") in text
    assert "61.7 min from the first job's start to the last one's end" in text
    # overlapping jobs count once: a reference from 890 to 1010 covers the run's 900 to 1000
    _stamp(results_dir / "reference/supervised/s0.json", seconds=120.0, finished_at=1010.0)
    assert "Wall time of the pipeline: at least 2.1 min," in _report(results_dir, config_file)
    _stamp(results_dir / "reference/supervised/s0.json", finished_at="yesterday")
    assert main(["report", "--results", str(results_dir), "--config", str(config_file),
                 "--out", str(results_dir / "report.md")]) == 2
    assert "supervised/s0.json: field 'finished_at' must be a number" in capsys.readouterr().err


def test_report_floor_verdict_when_both_floors_are_cleared(results_dir, config_file):
    # a raw-pixel floor below the baseline's interval [48.29, 73.71], and the paired difference to
    # random init is +1.50 at both seeds: both floors are cleared
    (results_dir / "reference" / "rawpixels.json").write_text(
        '{"knn_top1": 0.757, "linear_top1": 0.78, "semisup_10_linear_top1": 0.40}')
    text = _report(results_dir, config_file)
    assert ("raw pixels 40.00 (+21.00) and random init 59.50 (paired difference +1.50, 95% CI [+1.50, +1.50] "
            "over 2 seeds); above every floor: each interval clears its floor.") in text


def test_report_shows_reference_values_separately(results_dir, config_file):
    (config_file.parent / "reference_values.yaml").write_text(
        "source: calibration prototype, docs/method.md\n"
        "knn_top1:\n  - {encoder: raw pixels, value: 75.7}\n  - {encoder: SimCLR, value: 80.3}\n")
    text = _report(results_dir, config_file)
    head, section = text.split("## Reference values (not produced by this pipeline)")
    assert "80.3" not in head and "- {encoder: SimCLR, value: 80.3}" in section
    assert "calibration prototype" in section
    # values quoted for another dataset stay out of this one's report
    (config_file.parent / "reference_values.yaml").write_text("dataset: fashion-scenes\nknn_top1: 80.3\n")
    assert "## Reference values" not in _report(results_dir, config_file)


def test_report_with_override_file_and_missing_figures(results_dir, config_file, tmp_path):
    override = config_file.parent / "small.yaml"
    override.write_text("train:\n  progress: false\n")
    out = tmp_path / "elsewhere" / "report.md"
    assert main(["tables", "--results", str(results_dir), "--config", str(config_file), str(override),
                 "--out", str(results_dir / "tables")]) == 0
    assert main(["report", "--results", str(results_dir), "--config", str(config_file), str(override),
                 "--out", str(out)]) == 0
    text = out.read_text()
    assert "| Pretraining epochs | 3 | 3 |  |" in text
    assert "run `ifnd figures`" in text          # figures not drawn: said so, links relative to the report
    assert "../results/figures/fig1_false_negative_effect.png" in text


def test_report_malformed_json_exits_2(results_dir, config_file, capsys):
    (results_dir / "reference/rawpixels.json").write_text("not json")
    code = main(["report", "--results", str(results_dir), "--config", str(config_file),
                 "--out", str(results_dir / "report.md")])
    assert code == 2
    assert "rawpixels.json" in capsys.readouterr().err
    assert not (results_dir / "report.md").exists()


def test_report_refuses_runs_of_another_config(results_dir, config_file, capsys):
    """A run made with other settings than the given config is one error line, not a report."""
    override = config_file.parent / "longer.yaml"
    override.write_text("train:\n  epochs: 30\n")
    code = main(["report", "--results", str(results_dir), "--config", str(config_file), str(override),
                 "--out", str(results_dir / "report.md")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "runs/main/simclr/s0/config.resolved.yaml: made with another config (train.epochs: 3 -> 30)" in err
    assert not (results_dir / "report.md").exists()


def test_report_refuses_another_dataset(results_dir, config_file, capsys):
    override = config_file.parent / "cifar.yaml"
    override.write_text("data:\n  name: cifar10\n")
    code = main(["report", "--results", str(results_dir), "--config", str(config_file), str(override),
                 "--out", str(results_dir / "report.md")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "a run on 'fashion-mnist', but the config's dataset is 'cifar10'" in err


def _detect_csv(path: Path, precision: dict) -> None:
    """A detect.csv with the run's own setting at rate 0.5 after the given epochs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["epoch,rate,precision,recall,run_setting"]
    rows += [f"{e},0.5,{p},{p / 2},True" for e, p in precision.items()]
    rows += [f"{e},0.5,0.99,0.99,False" for e in precision]    # other settings are not the run's
    path.write_text("\n".join(rows) + "\n")


def test_claims_section_states_each_claim_with_paired_evidence(results_dir):
    """The fixture's numbers (conftest): oracle − SimCLR linear 10 and 9 points at seeds 0/1
    (10 classes), 1 point at 2 classes (seed 0); IFND − SimCLR 3 and 2 points, so a 2-seed
    interval that includes zero, and IFND's share of the oracle gain 2.5 / 9.5 = 26%; the
    attraction ablation 2 points under the default at seed 0 only."""
    from ifnd.report.claims import section_claims
    from ifnd.report.collect import Results

    _detect_csv(results_dir / "detect/main/simclr/s0/detect.csv", {1: 0.6, 3: 0.55, 15: 0.5})
    text = "\n".join(section_claims(Results(results_dir)))
    # (a): the gap and the share of SimCLR's error it removes (9.5 / 29 = 33%), the counts
    # compared unpaired (10-class mean 9.5 − 2-class 1.0)
    assert "10 classes: gap +9.50 points [95% CI +3.15, +15.85], 2 seeds, 33% of SimCLR's error (29.0%)" in text
    assert "10 against 2 classes (unpaired, Welch): gap +8.50 points (one seed, no interval)" in text
    assert "not resolved at this scale. The class count also changes the task's difficulty" in text
    # the 4 runs' fit gap ~ classes + error leaves the class count unresolved (interval spans 0)
    assert "each further class changes the gap by +0.90 points [95% CI -26.88, +28.68]" in text
    # (b): least-squares slope of 60, 55, 50% at epochs 1, 3, 15 is -0.7 / 114.667 per epoch
    assert "simclr: precision over epochs 1–15, slope -6.10 points per 10 epochs (one seed, no interval)" in text
    assert "not resolved: one SimCLR seed gives no interval" in text
    # (c): p of a 2-seed paired t (differences 3 and 2 points), Holm over four evaluations
    assert ("linear top-1 +2.50 points [95% CI -3.85, +8.85], 2 seeds (p = 0.126; Holm-adjusted p = 0.503 "
            "(does not hold)") in text
    assert "after Holm's correction over the 4 evaluations, none holds" in text
    assert "IFND recovers 26% of it" in text
    assert "attraction instead of elimination: -2.00 points (one seed, no interval), not resolved" in text
    assert "the final acceptance rate from the first clustering instead of a ramp: not evaluated yet" in text


def test_claim_d_calls_an_ablation_underpowered_when_its_seeds_cannot_see_ifnds_gain(results_dir):
    """Two ablation seeds that differ from the default by -2 and +3 points (sd 5 / sqrt(2)): the
    interval includes zero and the seeds could detect only (t_0.975,1 + t_0.8,1) x 2.5 =
    (12.706 + 1.376) x 2.5 = 35.21 points, far more than IFND's gain of 2.5: "underpowered",
    not "not resolved"."""
    from ifnd.report.claims import claim_d
    from ifnd.report.collect import Results

    from .conftest import run_config, write_run

    write_run(results_dir, "ablation/attraction/s1", "ifnd", 1,
              run_config("ifnd", 1, {"method.removal": "attr"}), {"linear": 0.77, "knn": 0.6})
    text = " ".join(claim_d(Results(results_dir)))
    assert "attraction instead of elimination: +0.50 points [95% CI" in text
    assert "underpowered (detectable: 35.21 points" in text and "against IFND's gain of 2.50" in text


def test_claim_b_is_a_slope_over_seeds_beside_the_floors(results_dir):
    """Three SimCLR seeds whose precision rises by 2, 2.5 and 3 points per epoch: a slope of
    +25 points per 10 epochs with a t interval over the seeds that clears zero; the pixel floor
    at the same rate is shown beside it."""
    from ifnd.report.claims import claim_b
    from ifnd.report.collect import Results

    from .conftest import write_json

    for seed, step in ((0, 0.02), (1, 0.025), (2, 0.03)):
        _detect_csv(results_dir / f"detect/main/simclr/s{seed}/detect.csv",
                    {1: 0.3, 2: 0.3 + step, 3: 0.3 + 2 * step})
    for seed in (0, 1):
        write_json(results_dir / f"reference/detect_floor/s{seed}.json",
                   {"evaluation": "detect_floor", "rows": [
                       {"space": "pixels", "rate": 0.5, "precision": 0.2 + 0.01 * seed, "recall": 0.1},
                       {"space": "pixels", "rate": 1.0, "precision": 0.1, "recall": 0.4}]})
    text = " ".join(claim_b(Results(results_dir)))
    half = 4.302653 * 0.005 / 3 ** 0.5 * 10  # t_0.975,2 x sd 0.5 points per epoch / sqrt(3), per 10 epochs
    assert (f"slope +25.00 points per 10 epochs [95% CI {100 * (0.25 - half):+.2f}, "
            f"{100 * (0.25 + half):+.2f}], 3 seeds") in text
    assert "supported on SimCLR's encoder (the clean test)" in text
    assert "raw pixels 20.5% / 10.0%" in text


def test_claim_a_is_inconclusive_when_the_gap_and_the_relative_reduction_disagree(results_dir):
    """The gap grows from 2 to 10 classes (1 -> 9.5 points) while the share of SimCLR's error
    it removes falls (2 classes: SimCLR 98%, oracle 99%: 50%; 10 classes: 33%)."""
    from ifnd.report.claims import claim_a
    from ifnd.report.collect import Results

    from .conftest import run_config, write_run

    for method, top1 in (("simclr", 0.98), ("oracle", 0.99)):
        write_run(results_dir, f"classes/{method}/c2/s0", method, 0, run_config(method, 0, classes=2),
                  {"linear": top1, "knn": top1})
    text = " ".join(claim_a(Results(results_dir)))
    assert "2 classes: gap +1.00 points (one seed, no interval), 50% of SimCLR's error (2.0%)" in text
    assert "inconclusive: the absolute gap and the relative error reduction point opposite ways" in text
    # without a config: the subsets' design is unknown, said as random draws; with the default
    # config, matched on the committed confusion it names
    assert "the class subsets are random draws per seed" in text
    results = Results(results_dir)
    results.cfg = {"data": {"name": "fashion-mnist"}, "workflow": {"class_sweep_match": {"fashion-mnist": "c.json"}}}
    assert "the class subsets are matched on difficulty (each one's pairs on average as confusable as the " \
           "full set's, by the class confusion of `c.json`), so" in " ".join(claim_a(results))
    # with the confusion at hand, the subsets' achieved mean: the 2-class run's classes (run_config's
    # draw) against a confusion where every pair is mixed 6 times but (0, 1) 15: mean pair 6.2
    import json

    import numpy as np

    classes = run_config("simclr", 0, classes=2)["data"]["classes"]
    matrix = np.full((10, 10), 3.0)
    matrix[0, 1] = matrix[1, 0] = 7.5
    confusion = results_dir / "c.json"
    confusion.write_text(json.dumps({"matrix": matrix.tolist()}))
    results.cfg["workflow"]["class_sweep_match"]["fashion-mnist"] = str(confusion)
    want = (15.0 if sorted(classes) == [0, 1] else 6.0) / (6.0 + 9.0 / 45)
    assert f"mean pair confusability, full set 1: 2 classes {want:.2f}, 5 classes" in " ".join(claim_a(results))


def test_claim_c_names_the_evaluations_not_run_yet(results_dir):
    """A pipeline stopped part-way has linear metrics but no kNN ones: claim (c) says which
    evaluations it has not seen, and never calls the verdict one of every evaluation."""
    from ifnd.report.claims import claim_c
    from ifnd.report.collect import Results

    for path in results_dir.glob("evals/main/*/*/knn.json"):
        path.unlink()
    text = " ".join(claim_c(Results(results_dir)))
    assert "not evaluated yet: kNN top-1" in text
    assert "in every evaluation:" not in text and "in every evaluation." not in text


def test_claims_skip_per_seed_shares_where_the_oracle_does_not_gain(results_dir):
    """A seed where the oracle ties SimCLR leaves the share of its gain undefined: the claim
    gives the ratio of the mean gains only, with no per-seed interval (and no division error)."""
    from ifnd.report.claims import claim_c
    from ifnd.report.collect import Results

    from .conftest import write_json

    write_json(results_dir / "evals/main/oracle/s1/linear.json", {"evaluation": "linear", "top1": 0.72})
    text = " ".join(claim_c(Results(results_dir)))
    assert "IFND recovers" in text and "per-seed shares" not in text


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_provenance_tells_whether_the_runs_code_differs(tmp_path):
    """Runs made at several commits: the report asks git whether src/ (its own package aside),
    workflow/, Snakefile or config/ differ between them, so a rerun spread over commits that only
    touched tests or the report is not flagged, one that changed the code names the files, and
    a version this checkout cannot resolve is said to be unknown."""
    import subprocess

    from ifnd.report.provenance import code_changes, compare_versions

    repo = tmp_path / "repo"

    def commit(path: str, text: str) -> str:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
        git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run(git + ["add", "-A"], check=True, capture_output=True)
        subprocess.run(git + ["commit", "-q", "-m", path], check=True, capture_output=True)
        return subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True,
                              text=True).stdout.strip()

    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    first = commit("src/loss.py", "a = 1\n")
    tests_only = commit("tests/test_loss.py", "b = 2\n")
    report_only = commit("src/ifnd/report/report.py", "c = 4\n")  # renders, makes no run
    code = commit("src/loss.py", "a = 3\n")

    assert code_changes(first, tests_only, repo) == []
    assert code_changes(first, report_only, repo) == []
    assert code_changes(first, code, repo) == ["src/loss.py"]
    assert code_changes(first, "0" * 40, repo) is None  # not a commit here
    assert code_changes(first, f"{code}-dirty", repo) is None
    assert code_changes(first, "--output=/tmp/x", repo) is None  # never passed to git

    same = compare_versions([first, tests_only], repo)
    assert len(same) == 1 and "same src/ (except src/ifnd/report/), workflow/" in same[0]
    mixed = "\n".join(compare_versions([first, tests_only, code, "ifnd-0.1.0"], repo))
    assert "compare them with care" in mixed
    assert f"- `{tests_only}`: the same" in mixed
    assert f"- `{code}`: differs in `src/loss.py`" in mixed
    assert "- `ifnd-0.1.0`: cannot be compared here" in mixed


def test_provenance_counts_every_commit_a_resumed_run_trained_under(tmp_path):
    """A run resumed at a second commit counts under both; a meta.json from before
    ``code_versions`` counts under its one ``code_version``; one run is "1 run"."""
    from ifnd.report.collect import Results
    from ifnd.report.report import section_provenance
    from ifnd.runinfo import write_json

    for name, meta in {"s0": {"code_versions": ["aaa111", "bbb222"], "code_version": "bbb222"},
                       "s1": {"code_version": "aaa111"}}.items():
        run = tmp_path / "runs" / "main" / "simclr" / name
        run.mkdir(parents=True)
        write_json(run / "meta.json", meta)
    text = "\n".join(section_provenance(Results(tmp_path)))
    assert "`aaa111` (2 runs), `bbb222` (1 run)." in text


def test_provenance_names_the_runs_trained_on_other_hardware(tmp_path):
    """Runs of one experiment trained on an AVX-512 CPU in bf16 and on an AVX2-only one in fp32:
    the section counts each kind, warns, and names the runs off the most common kind; a single
    kind gets its count and no warning."""
    from ifnd.report.collect import Results
    from ifnd.report.provenance import hardware
    from ifnd.report.report import section_provenance
    from ifnd.runinfo import write_json

    avx512 = {"device": "cpu", "cpu_model": "AMD EPYC", "cpu_capability": "AVX512", "torch_threads": 1,
              "precision": "bf16"}
    avx2 = {**avx512, "cpu_capability": "AVX2", "precision": "fp32"}
    capped = {**avx512, "onednn_max_cpu_isa": "AVX2", "precision": "fp32", "torch_threads": 2}
    gpu = {"device": "cuda:0", "gpu": "NVIDIA H100", "torch_threads": 16, "precision": "bf16"}
    assert hardware({"device": avx512}) == "cpu, AMD EPYC, AVX512, bf16, 1 thread"
    assert hardware({"device": capped}) == "cpu, AMD EPYC, AVX512, oneDNN capped at AVX2, fp32, 2 threads"
    assert hardware({"device": gpu}) == "NVIDIA H100, bf16"
    assert hardware({"device": {"device": "cpu", "torch_threads": 2}}) == "cpu, 2 threads"
    assert hardware({}) == "?"

    def write(run, device):
        (tmp_path / "runs" / run).mkdir(parents=True)
        write_json(tmp_path / "runs" / run / "meta.json", {"code_version": "aaa111", "device": device})

    for run in ("main/simclr/s0", "main/ifnd/s0", "main/simclr/s1"):
        write(run, avx512)
    single = "\n".join(section_provenance(Results(tmp_path)))
    assert "Hardware of the runs (meta.json `device`): cpu, AMD EPYC, AVX512, bf16, 1 thread (3 runs)." in single
    assert "more than one kind" not in single
    write("main/ifnd/s1", avx2)
    mixed = "\n".join(section_provenance(Results(tmp_path)))
    assert ("cpu, AMD EPYC, AVX512, bf16, 1 thread (3 runs), cpu, AMD EPYC, AVX2, fp32, 1 thread (1 run)."
            in mixed)
    assert "more than one kind of hardware or precision" in mixed
    assert "Not on the most common kind: `main/ifnd/s1`." in mixed
    # "What was cut" counts the same kinds, in the same words ("1 run", not "1 runs")
    from ifnd.report.report import section_cut
    cut = "\n".join(section_cut(Results(tmp_path), {}))
    assert ("- **Device**: cpu, AMD EPYC, AVX512, bf16, 1 thread (3 runs), "
            "cpu, AMD EPYC, AVX2, fp32, 1 thread (1 run).") in cut


def test_claim_a_holds_difficulty_fixed_by_regression():
    """Gaps that follow SimCLR's error alone give no per-class effect once the error is held
    fixed, although the gap is larger with more classes; a gap of 0.2 points per class on top of
    the error's share is recovered exactly."""
    from ifnd.report.claims import difficulty_held_fixed

    errors = {2: {0: 0.02, 1: 0.06}, 5: {0: 0.10, 1: 0.05}, 10: {0: 0.20, 1: 0.12, 2: 0.16}}

    def measures(per_class):
        return {n: {"error": e, "gap": {s: 0.5 * v + per_class * n for s, v in e.items()}}
                for n, e in errors.items()}

    held = difficulty_held_fixed(measures(0.0))
    assert held.n == 7 and abs(held.mean) < 1e-12
    assert held.ci_low == pytest.approx(0, abs=1e-9) and held.ci_high == pytest.approx(0, abs=1e-9)
    assert abs(difficulty_held_fixed(measures(0.002)).mean - 0.002) < 1e-12


def test_report_shows_the_tables_the_pipeline_wrote(results_dir, config_file):
    """`ifnd report` reads the tables of `ifnd tables` (its job's inputs), never rebuilds them:
    a table file changed after `ifnd tables` is what the report shows; a missing one is one
    clear error."""
    _report(results_dir, config_file)
    marked = results_dir / "tables" / "table3_ablations.md"
    marked.write_text(marked.read_text() + "\n- A note only this file holds.\n")
    out = results_dir / "report.md"
    assert main(["report", "--results", str(results_dir), "--config", str(config_file), "--out", str(out)]) == 0
    assert "- A note only this file holds." in out.read_text()
    marked.unlink()
    assert main(["report", "--results", str(results_dir), "--config", str(config_file), "--out", str(out)]) == 2
