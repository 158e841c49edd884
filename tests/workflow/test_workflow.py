"""The Snakemake workflow and the DVC pipeline: lint, dry runs at every scale, the same jobs in
both (commands, inputs, outputs), dvc.yaml as `ifnd dvc-yaml` writes it, DVC experiments,
metrics and a push/pull round trip, experiments kept apart, references rerun on a config
change, the same pins everywhere, a clear failure on a bad config, and an end-to-end run of
config/test.yaml.

Every test works in a temporary copy of the workflow files (the installed ifnd package does
the work), so the repository's own results/, logs/ and state/ are never touched.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_support import BIN, REPO
from workflow_support import env as _env

CONFIGS = {
    "default": None,
    "cifar10": "config/cifar10.yaml",
    "cifar100": "config/cifar100.yaml",
    "imagenet100": "config/imagenet100.yaml",
    "test": "config/test.yaml",
    "selection": "config/selection.yaml",
}
TABLES = ["table1_linear", "table2_semisup", "table3_ablations", "table4_fn_stats"]
FIGURES = ["fig1_false_negative_effect", "fig2_fn_over_epochs", "fig3_acceptance_quality",
           "fig4_knn_over_epochs", "fig5_gain_vs_detection", "fig6_attribution"]

# What `make reproduce` adds in a fresh clone of the default experiment (Makefile, FRESH_CLONE):
# the committed tables, figures and report would otherwise look up to date to Snakemake.
FRESH_CLONE = ("--forcerun", "pretrain")


# --------------------------------------------------------------------------- helpers
def snakemake(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def _output(proc: subprocess.CompletedProcess) -> str:
    return f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"


def written(workdir: Path) -> list[Path]:
    """Files below results/ other than the committed ones the copy started with."""
    if not (workdir / "results").exists():
        return []
    return [p for p in (workdir / "results").rglob("*")
            if p.is_file() and not (REPO / p.relative_to(workdir)).is_file()]


def merged_config(configfile: str | None) -> dict:
    """config/config.yaml with one override file merged on top, the way ifnd merges them."""
    from ifnd.config import load_config

    extra = [REPO / configfile] if configfile else []
    return load_config(REPO / "config" / "config.yaml", extra_files=extra)


def framework_runs(cfg: dict) -> int:
    """Runs of the methods on another base framework (workflow.frameworks)."""
    wf = cfg["workflow"]
    return sum(len(wf["methods"]) * len(entry["seeds"]) for entry in (wf.get("frameworks") or {}).values())


def expected_pretrain_jobs(cfg: dict) -> int:
    wf = cfg["workflow"]
    return (len(wf["methods"]) * len(wf["seeds"])
            + len(wf["ablations"]) * len(wf["ablation_seeds"])
            + 2 * len(wf["class_sweep"]) * len(wf["class_sweep_seeds"])
            + framework_runs(cfg))


def snakemake_outputs(cwd: Path, *args: str) -> set[str]:
    """Every file below results/ that the Snakemake DAG would produce."""
    proc = snakemake(cwd, "--summary", *args)
    assert proc.returncode == 0, _output(proc)
    files = set()
    for line in proc.stdout.splitlines()[1:]:
        path = line.split("\t", 1)[0]
        if path.startswith("results/"):
            files.add(path)
    return files


def _dvc_json(cwd: Path, code: str):
    """The JSON that ``code`` (Python reading DVC's own view of ``cwd``, its first argument)
    prints last, run in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", code, str(cwd)], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, _output(proc)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def dvc_outputs(cwd: Path) -> set[str]:
    """Every output (outs, metrics, plots) of every stage in dvc.yaml."""
    code = ("import json, sys\n"
            "from dvc.repo import Repo\n"
            "with Repo(sys.argv[1]) as repo:\n"
            "    outs = sorted({o.def_path for s in repo.index.stages for o in s.outs})\n"
            "print(json.dumps(outs))\n")
    return set(_dvc_json(cwd, code))


def _pins(lines) -> dict:
    pins = {}
    for line in lines:
        match = re.match(r"^\s*(torch|torchvision)\s*==\s*([^\s;#]+)", str(line))
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


# --------------------------------------------------------------------------- static checks
def test_lint_is_clean(workdir):
    proc = snakemake(workdir, "--lint")
    assert proc.returncode == 0, _output(proc)
    assert "Congratulations, your workflow is in a good condition" in proc.stdout + proc.stderr


def test_rules_are_snakefmt_formatted():
    """The Snakefiles and rules are formatted by snakefmt (the workflow catalog's convention)."""
    proc = subprocess.run([str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, _output(proc) + "\nrun `snakefmt Snakefile workflow/`"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_dry_run(workdir, name):
    """Every config plans its whole DAG without touching the data (CIFAR and ImageNet-100 are
    absent here): the dataset check runs only when jobs are about to start."""
    configfile = CONFIGS[name]
    args = ["-n", "--quiet", "rules"] + (["--configfile", configfile] if configfile
                                          else list(FRESH_CLONE))
    proc = snakemake(workdir, *args)
    assert proc.returncode == 0, _output(proc)
    count = re.search(r"^pretrain\s+(\d+)\s*$", proc.stdout, re.M)
    assert count, _output(proc)
    assert int(count.group(1)) == expected_pretrain_jobs(merged_config(configfile))
    assert not written(workdir) and not (workdir / "logs").exists()


def test_configfile_reaches_every_ifnd_command(workdir):
    proc = snakemake(workdir, "-n", "-p", "--configfile", "config/cifar10.yaml")
    assert proc.returncode == 0, _output(proc)
    commands = [line for line in proc.stdout.splitlines() if "ifnd " in line]
    with_config = [c for c in commands if re.search(r"ifnd (pretrain|splits|supervised|rawpixels|report)", c)]
    assert with_config
    for command in with_config:
        assert "--config config/config.yaml config/cifar10.yaml" in command, command


def ifnd(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ifnd"), *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def dvc(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "dvc"), *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def snakemake_jobs(cwd: Path, *args: str) -> dict[frozenset, dict]:
    """The jobs of `snakemake -n -p`: outputs -> {rule, inputs, cmd} (the ifnd command inside
    the rule's `(...) > log 2>&1` wrapper; the config stamps below .snakemake/ left out)."""
    proc = snakemake(cwd, "-n", "-p", *args)
    assert proc.returncode == 0, _output(proc)
    jobs, job = {}, None
    for line in proc.stdout.splitlines():
        head = re.match(r"^(?:local)?rule (\S+):$", line)
        if head:
            job = {"rule": head.group(1), "inputs": set(), "outputs": set(), "cmd": None}
            continue
        if job is None:
            continue
        field = re.match(r"^    (input|output): (.*)$", line)
        if field:
            paths = {p for p in field.group(2).split(", ") if not p.startswith(".snakemake/")}
            job["inputs" if field.group(1) == "input" else "outputs"] |= paths
        elif line == "Shell command: None":          # rule all
            job = None
        elif line.startswith("Shell command: "):
            wrapped = re.match(r"^(?:export IFND_THREADS=\d+; )?\((.*)\) > \S+ 2>&1$",
                               line[len("Shell command: "):])
            assert wrapped, line
            job["cmd"] = wrapped.group(1)
            jobs[frozenset(job["outputs"])] = job
            job = None
    return jobs


def dvc_stages(cwd: Path) -> dict[frozenset, dict]:
    """The stages of the dvc.yaml in ``cwd`` as DVC itself expands them (``matrix`` families
    included): outputs -> {name, cmd, deps, params, outs (path -> cached), metrics}."""
    code = ("import json, sys\n"
            "from dvc.repo import Repo\n"
            "from dvc.dependency.param import ParamsDependency\n"
            "out = []\n"
            "with Repo(sys.argv[1]) as repo:\n"
            "    for s in repo.index.stages:\n"
            "        params = [d for d in s.deps if isinstance(d, ParamsDependency)]\n"
            "        out.append({'name': s.addressing, 'cmd': s.cmd,\n"
            "                    'deps': [d.def_path for d in s.deps if d not in params],\n"
            "                    'params': {d.def_path: list(d.params) for d in params},\n"
            "                    'outs': {o.def_path: o.use_cache for o in s.outs},\n"
            "                    'metrics': [o.def_path for o in s.outs if o.metric]})\n"
            "print(json.dumps(out))\n")
    stages = _dvc_json(cwd, code)
    return {frozenset(s["outs"]): {**s, "deps": set(s["deps"])} for s in stages}


def test_committed_dvc_yaml_is_what_the_command_writes():
    """dvc.yaml is generated (`ifnd dvc-yaml`) from the pipeline definition the Snakefile runs,
    as families of stages (DVC `matrix`) that a person reads in one sitting."""
    proc = ifnd(REPO, "dvc-yaml", "--check")
    assert proc.returncode == 0, _output(proc) + "\nrun `ifnd dvc-yaml` and commit dvc.yaml"
    text = (REPO / "dvc.yaml").read_text()
    assert len(text.splitlines()) <= 400 and "matrix:" in text, "a stage family no longer fits a matrix"


@pytest.mark.parametrize("name", ["default", "test", "selection"])
def test_dvc_stages_are_the_snakemake_jobs(workdir, name, monkeypatch):
    """For each experiment, the stages DVC expands from the dvc.yaml `ifnd dvc-yaml` writes are
    the Snakemake jobs, one each: the same outputs, the same command, the same input files; and
    the pipeline's jobs: source files and config keys as deps and params, outputs committed to
    git uncached, the flat metric files as metrics."""
    files = ["config/config.yaml"] + ([CONFIGS[name]] if CONFIGS[name] else [])
    proc = ifnd(workdir, "dvc-yaml", "--config", *files, "--out", "dvc.yaml")
    assert proc.returncode == 0, _output(proc)
    assert "matrix:" in (workdir / "dvc.yaml").read_text()
    args = ["--configfile", CONFIGS[name]] if CONFIGS[name] else []
    smk = {outs: job for outs, job in snakemake_jobs(workdir, "--forceall", *args).items()
           if job["rule"] != "all"}
    stages = dvc_stages(workdir)
    assert len(smk) == expected_jobs(merged_config(CONFIGS[name])) - 1  # `all` runs no command
    assert set(smk) == set(stages), (f"only in Snakemake: {sorted(map(sorted, set(smk) - set(stages)))[:3]}; "
                                     f"only in DVC: {sorted(map(sorted, set(stages) - set(smk)))[:3]}")
    for outs, job in smk.items():
        stage = stages[outs]
        assert stage["cmd"] == job["cmd"], stage["name"]
        assert {d for d in stage["deps"] if not d.startswith("src/")} == job["inputs"], stage["name"]
        assert any(d.startswith("src/ifnd/") for d in stage["deps"]), stage["name"]
    pretrain = next(s for s in stages.values() if s["cmd"].endswith("--run main/ifnd/s0"))
    for module in ("train.py", "config.py", "runinfo.py", "knn.py", "optim.py", "fnd/detector.py", "fnd/masks.py"):
        assert f"src/ifnd/{module}" in pretrain["deps"]

    from ifnd.dvcyaml import _param_keys, _raw
    from ifnd.pipeline import Pipeline

    monkeypatch.chdir(workdir)  # the pipeline looks for files from the repository root
    raws = {f: _raw(f) for f in files}
    for job in Pipeline.from_files(files).jobs:
        stage = stages[frozenset(job.outs)]
        assert stage["deps"] == set(job.deps + job.code), stage["name"]
        assert stage["outs"] == {o: job.is_cached(o) for o in job.outs}, stage["name"]
        assert stage["metrics"] == job.metrics, stage["name"]
        params = {f: [k for p in job.params for k in _param_keys(raw, p)] for f, raw in raws.items()}
        assert stage["params"] == {f: keys for f, keys in params.items() if keys}, stage["name"]


def test_dvc_plots_show_works_offline(workdir, tmp_path):
    """`dvc plots show` of the committed dvc.yaml is a page of the pipeline's figures that
    needs no network: image plots, no script or image loaded from a remote address (a Vega
    plot would load Vega from a CDN)."""
    out = tmp_path / "plots"
    proc = dvc(workdir, "plots", "show", "-o", str(out))
    assert proc.returncode == 0, _output(proc)
    page = (out / "index.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I), page[:2000]
    assert not re.search(r"<script", page, re.I), page[:2000]
    committed = [f for f in FIGURES if (workdir / f"results/fashion-mnist/figures/{f}.png").is_file()]
    assert committed
    for figure in committed:
        assert re.search(rf'<img src="static/[^"]*{figure}\.png"', page), figure


def test_dvc_exp_show_lists_the_metrics(workdir):
    """In a git repository with the test experiment's dvc.yaml, `dvc exp show` lists the flat
    metric files the tables stage writes (here the default experiment's, standing in for a
    run of the test config), in the workspace and in the commit."""
    proc = ifnd(workdir, "dvc-yaml", "--config", "config/config.yaml", "config/test.yaml", "--out", "dvc.yaml")
    assert proc.returncode == 0, _output(proc)
    metrics = workdir / "results/test/metrics"
    metrics.mkdir(parents=True)
    for name in ("simclr.json", "ifnd.json"):
        (metrics / name).write_bytes((workdir / "results/fashion-mnist/metrics" / name).read_bytes())
    _git_repo(workdir)
    subprocess.run(["git", "-c", "user.email=t@example.org", "-c", "user.name=t", "add", "-f", "results/test/metrics"],
                   cwd=workdir, check=True, capture_output=True)
    subprocess.run(["git", "-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-q", "-m", "metrics"],
                   cwd=workdir, check=True, capture_output=True)
    shown = dvc(workdir, "exp", "show", "--json")
    assert shown.returncode == 0, _output(shown)
    rows = json.loads(shown.stdout)
    assert [r["rev"] for r in rows][0] == "workspace" and len(rows) == 2
    for row in rows:
        listed = row["data"]["metrics"]
        for name in ("simclr.json", "ifnd.json"):
            expected = json.loads((metrics / name).read_text())
            assert listed[f"results/test/metrics/{name}"]["data"] == expected, (row["rev"], name)


def expected_jobs(cfg: dict) -> int:
    """Every job of an experiment: pretraining, kNN and linear per run, semi-supervised per main
    or framework run and fraction, splits per fraction and seed those read, references (raw
    pixels; supervised, detector floor and 2 + fractions random-init evaluations per seed), the
    detection study of the first three seeds' SimCLR and IFND runs, tables, figures, report and
    `all`."""
    wf = cfg["workflow"]
    runs = expected_pretrain_jobs(cfg)
    fractions = len(cfg["eval"]["semisup"]["fractions"])
    seeds = len(wf["seeds"])
    main = len(wf["methods"]) * seeds + framework_runs(cfg)
    split_seeds = len(set(wf["seeds"]).union(*(e["seeds"] for e in (wf.get("frameworks") or {}).values())))
    detect = len({"simclr", "ifnd"} & set(wf["methods"])) * min(3, seeds)
    # references per seed: supervised, detect_floor, knn and linear and semisup of random init
    return (3 * runs + main * fractions + split_seeds * fractions + 1 + seeds * (1 + 1 + 2 + fractions)
            + detect + 3 + 1)


def _git_repo(path: Path) -> None:
    (path / ".dvc" / "config.local").unlink(missing_ok=True)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "pipeline"]):
        proc = subprocess.run(["git", "-c", "user.email=t@example.org", "-c", "user.name=t", *args],
                              cwd=path, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_dvc_experiment_metrics_and_push_pull(workdir, tmp_path):
    """In a fresh git repository with the test experiment's dvc.yaml: the dry runs plan every
    stage, `dvc exp run -S` runs a stage with the changed value, `dvc metrics show` reads the
    committed flat metric files, and `dvc push` then `dvc pull` in a fresh clone restores the
    stage's encoders from a local remote (its records come from git)."""
    proc = ifnd(workdir, "dvc-yaml", "--config", "config/config.yaml", "config/test.yaml", "--out", "dvc.yaml")
    assert proc.returncode == 0, _output(proc)
    _git_repo(workdir)
    remote = tmp_path / "remote"
    assert dvc(workdir, "remote", "modify", "--local", "localstore", "url", str(remote)).returncode == 0

    dry = dvc(workdir, "repro", "--dry", "--force")
    assert dry.returncode == 0, _output(dry)
    assert "ifnd report --results results/test" in dry.stdout
    dry = dvc(workdir, "exp", "run", "--dry", "--force", "-S", "config/test.yaml:train.epochs=1")
    assert dry.returncode == 0, _output(dry)

    run = dvc(workdir, "exp", "run", "-S", "config/test.yaml:train.epochs=1", "pretrain-main@simclr-0",
              timeout=900)
    assert run.returncode == 0, _output(run)
    log = (workdir / "results/test/runs/main/simclr/s0/train_log.csv").read_text().splitlines()
    assert len(log) == 2 and log[1].startswith("1,")            # one epoch: the -S value was used
    assert any((workdir / "state/test/main/simclr/s0").iterdir())  # state kept outside the outputs

    # the default experiment's committed flat metric files: one row each, numbers only
    metrics = dvc(workdir, "metrics", "show", "--json", "results/fashion-mnist/metrics")
    assert metrics.returncode == 0 and "error" not in metrics.stdout, _output(metrics)
    shown = json.loads(metrics.stdout)[""]["data"]
    simclr = json.loads((REPO / "results/fashion-mnist/metrics/simclr.json").read_text())
    assert shown["results/fashion-mnist/metrics/simclr.json"]["data"] == simclr

    push = dvc(workdir, "push", "pretrain-main@simclr-0")
    assert push.returncode == 0, _output(push)
    # the run's records are committed to git (cache: false), its encoders pushed to the remote
    run_dir = "results/test/runs/main/simclr/s0"
    records = [f"{run_dir}/{n}" for n in ("train_log.csv", "fn_stats.csv", "config.resolved.yaml", "meta.json")]
    for args in (["add", "-f", "dvc.lock", "config/test.yaml", *records], ["commit", "-q", "-m", "run"]):
        subprocess.run(["git", "-c", "user.email=t@example.org", "-c", "user.name=t", *args], cwd=workdir,
                       check=True, capture_output=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(workdir), str(clone)], check=True, capture_output=True)
    assert dvc(clone, "remote", "modify", "--local", "localstore", "url", str(remote)).returncode == 0
    pull = dvc(clone, "pull", "pretrain-main@simclr-0")
    assert pull.returncode == 0, _output(pull)
    for name in ("model.pt", "train_log.csv", "meta.json"):
        path = f"results/test/runs/main/simclr/s0/{name}"
        assert (clone / path).read_bytes() == (workdir / path).read_bytes(), name


def test_torch_pins_agree_everywhere():
    requirements = _pins((REPO / "requirements.txt").read_text().splitlines())
    assert set(requirements) == {"torch", "torchvision"}

    def conda_pins(path: Path) -> dict:
        env = yaml.safe_load(path.read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        return _pins(pip)

    assert conda_pins(REPO / "environment.yml") == requirements
    assert conda_pins(REPO / "workflow" / "envs" / "ifnd.yaml") == requirements
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        return
    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    ranges = {r.name: r.specifier for r in map(Requirement, project["dependencies"])}
    for name, version in requirements.items():   # the package admits the pinned versions
        assert ranges[name].contains(version), (name, str(ranges[name]), version)


def _planned(proc: subprocess.CompletedProcess) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", proc.stdout, re.M)}


def test_experiments_keep_to_their_own_folder(workdir):
    """Every output of an experiment lies below results/<experiment>/: the test config's never
    touch the default experiment's committed files, whose references are up to date."""
    test = snakemake_jobs(workdir, "--configfile", "config/test.yaml")
    outputs = {o for outs in test for o in outs}
    assert outputs and all(o.startswith("results/test/") for o in outputs), sorted(outputs)[:5]
    planned = _planned(snakemake(workdir, "-n", "--quiet", "rules"))
    assert "rawpixels" not in planned and "supervised" not in planned, planned
    # another dataset is another experiment: its references are its own
    cifar = snakemake_jobs(workdir, "--configfile", "config/cifar10.yaml")
    refs = {o for outs in cifar for o in outs if "/reference/" in o}
    assert "results/cifar10/reference/rawpixels.json" in refs
    assert "results/cifar10/reference/supervised/s0.json" in refs


def test_config_change_reruns_the_references(workdir):
    """The committed references record their config: a value they read that differs from it
    plans them again, although this copy has no Snakemake metadata; one they do not read does not."""
    (workdir / "config" / "knn.yaml").write_text("eval:\n  knn_k: 50\n")
    planned = _planned(snakemake(workdir, "-n", "--quiet", "rules", "--configfile", "config/knn.yaml"))
    assert planned.get("rawpixels") == 1 and planned.get("supervised") == 5, planned
    (workdir / "config" / "fnd.yaml").write_text("fnd:\n  rate_start: 0.5\n")
    planned = _planned(snakemake(workdir, "-n", "--quiet", "rules", "--configfile", "config/fnd.yaml"))
    assert "rawpixels" not in planned and "supervised" not in planned, planned
    planned = _planned(snakemake(workdir, "-n", "--quiet", "rules"))   # back to the recorded config
    assert "rawpixels" not in planned and "supervised" not in planned, planned


def test_readme_job_counts_match_the_dag(workdir):
    """The job counts the README states are those Snakemake plans: the whole DAG of each config,
    and what a fresh clone of the default experiment still has to run."""
    readme = (REPO / "README.md").read_text()
    assert "--forcerun pretrain" in (REPO / "Makefile").read_text()
    default, test = expected_jobs(merged_config(None)), expected_jobs(merged_config("config/test.yaml"))
    fresh = _planned(snakemake(workdir, "-n", "--quiet", "rules", *FRESH_CLONE))["total"]
    assert (f"`make reproduce` ({default} jobs; in a fresh clone `snakemake -n --forcerun pretrain`,"
            f" as `make reproduce` runs it there, plans {fresh},") in readme
    assert f"one seed ({test} jobs, in `results/test/`)" in readme
    whole = _planned(snakemake(workdir, "-n", "--quiet", "rules", "--forceall"))["total"]
    assert whole == default


# --------------------------------------------------------------------------- failures
def test_schema_violation_fails_before_any_job(workdir):
    (workdir / "config" / "bad.yaml").write_text("train:\n  epochs: 0\n")
    proc = snakemake(workdir, "--cores", "1", "--configfile", "config/bad.yaml")
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "Error validating config file" in text and "epochs" in text, _output(proc)
    assert not written(workdir)


def test_inconsistent_config_fails_in_the_up_front_check(workdir):
    """A config the schema accepts but ifnd rejects (one k-means seed per level) stops the run
    in `ifnd check`, before any job starts."""
    (workdir / "config" / "bad.yaml").write_text(
        "data: {name: synthetic}\nfnd: {levels: [10, 20], kmeans_seeds: [0]}\n")
    proc = snakemake(workdir, "--cores", "1", "--configfile", "config/bad.yaml")
    assert proc.returncode != 0
    assert "kmeans_seeds" in proc.stdout + proc.stderr, _output(proc)
    assert not written(workdir)


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_end_to_end_test_config(test_config_run):
    """The whole DAG of config/test.yaml on 2 cores: runs, evaluations, references, tables,
    figures and the report; then nothing is left to do, and `snakemake --report` works. (The
    run is shared with the SLURM test, which compares its tables with its own.)"""
    run = test_config_run.wait()
    workdir, committed = run.workdir, run.committed
    if run.returncode != 0:
        pytest.fail(f"workflow failed\n{run.failure()}")
    print(f"end-to-end run: {run.seconds:.0f} s")

    # the default experiment's committed files are untouched; everything went to results/test/
    assert {p: p.read_bytes() for p in (workdir / "results/fashion-mnist").rglob("*") if p.is_file()} == committed
    # (results/regime/ holds the committed class confusions the default config's sweep reads)
    assert sorted(p.name for p in (workdir / "results").iterdir()) == ["fashion-mnist", "regime", "test"]
    results = workdir / "results" / "test"
    assert sorted(p.stem for p in (results / "metrics").glob("*.json"))[:3] == [
        "ablation_all_at_once", "ablation_attraction", "ablation_global_ranking"]
    report = (results / "report.md").read_text()
    assert "All expected files were found." in report
    # every job recorded when it finished: the report states the pipeline's measured wall time
    jobs = int(re.search(r"Wall time of the pipeline: [^(]+\((\d+) jobs", report).group(1))
    assert jobs >= 20, jobs
    for table in TABLES:
        for ext in ("csv", "md"):
            assert (results / "tables" / f"{table}.{ext}").stat().st_size > 0
    for figure in FIGURES:
        assert (results / "figures" / f"{figure}.png").stat().st_size > 0
    assert (results / "report.md").stat().st_size > 0
    for run in ("main/simclr/s0", "main/ifnd/s0", "main/oracle/s0", "ablation/attraction/s0",
                "classes/oracle/c2/s0"):
        for name in ("model.pt", "train_log.csv", "fn_stats.csv", "config.resolved.yaml", "meta.json"):
            assert (results / "runs" / run / name).is_file(), f"{run}/{name}"
    # Resumable state stays outside the outputs.
    assert not any((results / "runs").rglob("last.pt"))
    assert any((workdir / "state").rglob("last.pt"))
    # The ablation run got its override on top of the main IFND config.
    resolved = yaml.safe_load((results / "runs/ablation/attraction/s0/config.resolved.yaml").read_text())
    assert resolved["method"] == {"name": "ifnd", "removal": "attr"}
    assert resolved["data"]["name"] == "synthetic"
    classes = yaml.safe_load((results / "runs/classes/oracle/c2/s0/config.resolved.yaml").read_text())
    # the class-sweep run's classes are the seeded draw of ifnd.runspec.class_subset_overrides
    import numpy as np
    drawn = sorted(int(c) for c in np.random.default_rng([0, 2, 7]).choice(
        10, size=2, replace=False))  # the synthetic dataset has 10 classes
    assert classes["data"]["classes"] == drawn and classes["method"]["name"] == "oracle"

    again = snakemake(workdir, "-n", "--configfile", "config/test.yaml")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, _output(again)

    html = snakemake(workdir, "--configfile", "config/test.yaml", "--report", "report.html")
    assert html.returncode == 0, _output(html)
    assert (workdir / "report.html").stat().st_size > 0


def test_job_logs_are_plain_text(test_config_run):
    """Every job's log of the end-to-end run is plain text: no progress bar's carriage returns
    or cursor escapes; a pretraining log has one line per epoch."""
    run = test_config_run.wait()
    if run.returncode != 0:
        pytest.fail(f"workflow failed\n{run.failure()}")
    logs = sorted((run.workdir / "logs" / "test").rglob("*.log"))
    assert logs
    for log in logs:
        text = log.read_text(errors="replace")
        assert "\r" not in text and "\x1b" not in text, log
    pretrain = next(p for p in logs if "pretrain" in p.as_posix() or "runs" in p.as_posix())
    assert "epoch 1/2: loss" in pretrain.read_text(), pretrain


def test_slurm_profile_plans_gpu_jobs(workdir):
    """profiles/slurm parses and sends pretraining to a GPU partition (needs the SLURM executor
    plugin, which only cluster users install)."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    proc = snakemake(workdir, "--profile", "profiles/slurm", "--configfile", "config/cifar10.yaml", "-n")
    assert proc.returncode == 0, _output(proc)
    blocks = proc.stdout.split("rule ")
    pretrain = [b for b in blocks if b.startswith("pretrain:")]
    assert pretrain and all("gpu=1" in b and "slurm_partition=gpu" in b for b in pretrain)


@pytest.mark.slow
def test_chunks_of_seeds_across_clones(workdir, tmp_path):
    """An experiment run in two chunks of seeds on two machines: the first chunk (seed 0) runs
    and commits its records; a fresh clone, without the first chunk's encoders or Snakemake's
    metadata, runs seed 1 alone (the structured control of seed 1 reads seed 0's committed
    detection study and retrains nothing of seed 0), and its tables read both seeds."""
    (workdir / "config/chunks.yaml").write_text(
        "workflow:\n  experiment: chunks\n  seeds: [0, 1]\n  methods: [simclr, ifnd]\n  ablation_seeds: [0, 1]\n"
        "  ablations:\n    ifnd_matched_structured: {method.name: oracle_matched, fnd.control: {targets: "
        "\"results/{experiment}/runs/main/ifnd/s{seed}/fn_stats.csv\", errors: structured, "
        "confusion: \"results/{experiment}/detect/main/simclr/s0/confusion.json\"}}\n"
        "  class_sweep: []\n  class_sweep_seeds: []\n  frameworks: {}\neval:\n  semisup:\n    fractions: [0.1]\n")
    files = ("--configfile", "config/test.yaml", "config/chunks.yaml")
    _git_repo(workdir)
    first = snakemake(workdir, "--cores", "2", *files, "--config", "seeds=[0]", timeout=900)
    assert first.returncode == 0, _output(first)
    results = workdir / "results/chunks"
    assert not list(results.glob("runs/*/*/s1"))
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
    # what a chunk commits: everything below results/<experiment>/ that git does not ignore
    # (the test experiments' folders are ignored as a whole here, so the records are named)
    records = [str(p.relative_to(workdir)) for p in results.rglob("*") if p.is_file()
               and p.name != "model.pt" and "epochs" not in p.parts and "splits" not in p.parts]
    subprocess.run([*git, "add", "-f", *records], cwd=workdir, check=True, capture_output=True)
    subprocess.run([*git, "commit", "-q", "-m", "chunk 0"], cwd=workdir, check=True, capture_output=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(workdir), str(clone)], check=True, capture_output=True)
    (clone / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")
    second = snakemake(clone, "--cores", "2", *files, "--config", "seeds=[1]", timeout=900)
    assert second.returncode == 0, _output(second)
    made = {p.parent.relative_to(clone / "results/chunks/runs").as_posix()
            for p in (clone / "results/chunks/runs").rglob("model.pt")}
    assert made == {"main/simclr/s1", "main/ifnd/s1", "ablation/ifnd_matched_structured/s1"}
    per_seed = pd.read_csv(clone / "results/chunks/tables/table1_linear_per_seed.csv")
    gain = per_seed[(per_seed["row"] == "diff:ifnd-simclr") & (per_seed["column"] == "linear_top1_pct")]
    assert sorted(gain["seed"]) == [0, 1]
    assert "Planned but not found" not in (clone / "results/chunks/report.md").read_text()
