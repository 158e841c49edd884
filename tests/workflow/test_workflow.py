"""The Snakemake workflow and the DVC pipeline: lint, dry runs at every scale, the same outputs
from both, the same pins everywhere, a clear failure on a bad config, and an end-to-end run of
config/test.yaml.

Every test works in a temporary copy of the workflow files (the installed ifnd package does
the work), so the repository's own results/, logs/ and state/ are never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv that has ifnd, snakemake and dvc
WORKFLOW_FILES = ["Snakefile", "workflow", "config", "profiles", "dvc.yaml", ".dvcignore",
                  ".dvc/config"]
CONFIGS = {
    "default": None,
    "cifar10": "config/cifar10.yaml",
    "cifar100": "config/cifar100.yaml",
    "imagenet100": "config/imagenet100.yaml",
    "test": "config/test.yaml",
}
TABLES = ["table1_linear", "table2_semisup", "table3_ablations", "table4_fn_stats"]
FIGURES = ["fig1_false_negative_effect", "fig2_fn_over_epochs", "fig3_acceptance_quality",
           "fig4_knn_over_epochs"]


# --------------------------------------------------------------------------- helpers
def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("IFND_THREADS", None)
    return env


def snakemake(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def _output(proc: subprocess.CompletedProcess) -> str:
    return f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"


def copy_workflow(dest: Path) -> Path:
    """The workflow files in a fresh folder (symlinks resolved: the schema links into src/)."""
    for name in WORKFLOW_FILES:
        src = REPO / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, symlinks=False)
        else:
            shutil.copy2(src, target)
    # DVC without git in the copy.
    (dest / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")
    return dest


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return copy_workflow(tmp_path / "repo")


def merged_config(configfile: str | None) -> dict:
    """config/config.yaml with one override file merged on top, the way ifnd merges them."""
    from ifnd.config import load_config

    extra = [REPO / configfile] if configfile else []
    return load_config(REPO / "config" / "config.yaml", extra_files=extra)


def expected_pretrain_jobs(cfg: dict) -> int:
    wf = cfg["workflow"]
    return (len(wf["methods"]) * len(wf["seeds"])
            + len(wf["ablations"]) * len(wf["ablation_seeds"])
            + 2 * len(wf["class_sweep"]) * len(wf["class_sweep_seeds"]))


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


def dvc_outputs(cwd: Path) -> set[str]:
    """Every output (outs, metrics, plots) of every stage in dvc.yaml."""
    code = ("import json, sys\n"
            "from dvc.repo import Repo\n"
            "with Repo(sys.argv[1]) as repo:\n"
            "    outs = sorted({o.def_path for s in repo.index.stages for o in s.outs})\n"
            "print(json.dumps(outs))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(cwd)], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, _output(proc)
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


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


@pytest.mark.parametrize("name", list(CONFIGS))
def test_dry_run(workdir, name):
    """Every config plans its whole DAG without touching the data (CIFAR and ImageNet-100 are
    absent here): the dataset check runs only when jobs are about to start."""
    configfile = CONFIGS[name]
    args = ["-n", "--quiet", "rules"] + (["--configfile", configfile] if configfile else [])
    proc = snakemake(workdir, *args)
    assert proc.returncode == 0, _output(proc)
    count = re.search(r"^pretrain\s+(\d+)\s*$", proc.stdout, re.M)
    assert count, _output(proc)
    assert int(count.group(1)) == expected_pretrain_jobs(merged_config(configfile))
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()


def test_configfile_reaches_every_ifnd_command(workdir):
    proc = snakemake(workdir, "-n", "-p", "--configfile", "config/cifar10.yaml")
    assert proc.returncode == 0, _output(proc)
    commands = [line for line in proc.stdout.splitlines() if "ifnd " in line]
    with_config = [c for c in commands if re.search(r"ifnd (pretrain|splits|supervised|rawpixels|report)", c)]
    assert with_config
    for command in with_config:
        assert "--config config/config.yaml config/cifar10.yaml" in command, command


@pytest.mark.parametrize("name", ["default", "test"])
def test_dvc_pipeline_has_the_snakemake_outputs(workdir, name):
    """dvc.yaml reads its matrices from config/config.yaml: with the (merged) experiment config
    in its place, DVC's stages produce exactly the files of the Snakemake DAG."""
    cfg = merged_config(CONFIGS[name])
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    smk = snakemake_outputs(workdir)
    dvc = dvc_outputs(workdir)
    assert smk, "the Snakemake DAG lists no results"
    assert smk - dvc == set(), f"only in Snakemake: {sorted(smk - dvc)}"
    assert dvc - smk == set(), f"only in DVC: {sorted(dvc - smk)}"


def test_dvc_semisup_fractions_follow_the_config():
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    listed = next(v["semisup"] for v in dvc["vars"] if isinstance(v, dict) and "semisup" in v)
    cfg = merged_config(None)
    assert [s["fraction"] for s in listed] == sorted(cfg["eval"]["semisup"]["fractions"])
    assert [s["tag"] for s in listed] == [f"{round(f * 100, 6):g}" for f in sorted(cfg["eval"]["semisup"]["fractions"])]


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
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert _pins(project["dependencies"]) == requirements


# --------------------------------------------------------------------------- failures
def test_schema_violation_fails_before_any_job(workdir):
    (workdir / "config" / "bad.yaml").write_text("train:\n  epochs: 0\n")
    proc = snakemake(workdir, "--cores", "1", "--configfile", "config/bad.yaml")
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "Error validating config file" in text and "epochs" in text, _output(proc)
    assert not (workdir / "results").exists()


def test_inconsistent_config_fails_in_the_up_front_check(workdir):
    """A config the schema accepts but ifnd rejects (one k-means seed per level) stops the run
    in `ifnd check`, before any job starts."""
    (workdir / "config" / "bad.yaml").write_text(
        "data: {name: synthetic}\nfnd: {levels: [10, 20], kmeans_seeds: [0]}\n")
    proc = snakemake(workdir, "--cores", "1", "--configfile", "config/bad.yaml")
    assert proc.returncode != 0
    assert "kmeans_seeds" in proc.stdout + proc.stderr, _output(proc)
    assert not (workdir / "results").exists()


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_end_to_end_test_config(workdir):
    """The whole DAG of config/test.yaml on 2 cores: runs, evaluations, references, tables,
    figures and the report; then nothing is left to do, and `snakemake --report` works."""
    started = time.time()
    proc = snakemake(workdir, "--cores", "2", "--configfile", "config/test.yaml", timeout=1800)
    if proc.returncode != 0:
        logs = sorted((workdir / "logs").rglob("*.log")) if (workdir / "logs").exists() else []
        tails = "\n".join(f"--- {p.relative_to(workdir)}\n{p.read_text()[-1500:]}" for p in logs
                          if "rror" in p.read_text())
        pytest.fail(f"workflow failed\n{_output(proc)}\n{tails}")
    print(f"end-to-end run: {time.time() - started:.0f} s")

    results = workdir / "results"
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
    assert classes["data"]["classes"] == [0, 1] and classes["method"]["name"] == "oracle"

    again = snakemake(workdir, "-n", "--configfile", "config/test.yaml")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, _output(again)

    html = snakemake(workdir, "--configfile", "config/test.yaml", "--report", "report.html")
    assert html.returncode == 0, _output(html)
    assert (workdir / "report.html").stat().st_size > 0


def test_slurm_profile_plans_gpu_jobs(workdir):
    """profiles/slurm parses and sends pretraining to a GPU partition (needs the SLURM executor
    plugin, which only cluster users install)."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    proc = snakemake(workdir, "--profile", "profiles/slurm", "--configfile", "config/cifar10.yaml", "-n")
    assert proc.returncode == 0, _output(proc)
    blocks = proc.stdout.split("rule ")
    pretrain = [b for b in blocks if b.startswith("pretrain:")]
    assert pretrain and all("gpu=1" in b and "slurm_partition=gpu" in b for b in pretrain)
