"""The workflow through SLURM, against a real controller: `.ci/slurm.sh start` brings up a
one-node cluster on this machine (slurm-wlm and munge installed when missing), and the
test-config workflow runs with `snakemake --executor slurm` and the project's profile
(profiles/slurm, its site values adapted to the test node). Every job except the localrules
must have gone through SLURM (submitted, COMPLETED in squeue, its SLURM log kept), and the
tables must equal those of a local run of the same workflow, byte for byte: the suite's one
local end-to-end run (the `test_config_run` fixture, whose other checks are in
test_workflow.py), started alongside the SLURM run when it has not run yet.

The local and the SLURM run work in two temporary copies of the workflow files, so neither
touches the repository's results/, logs/ or state/, nor each other's. The daemons run from a
temporary folder on free ports and are stopped afterwards.

Skipped, with the reason, only where the machine cannot run SLURM: not root and no SLURM
installed, no apt-get to install it, or the daemons do not come up.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from workflow_support import REPO, copy_workflow, error_tails
from workflow_support import env as _env

SLURM_SH = REPO / ".ci" / "slurm.sh"
PARTITION = "test"          # the one partition of .ci/slurm.sh's cluster
TEST_MEM_MB = 1000          # the test node has a few GB; no job of config/test.yaml needs more

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(text: str, n: int = 6000) -> str:
    return text[-n:]


def site_profile(dest: Path, gpus: int) -> Path:
    """profiles/slurm with its site values set for the one-node test cluster, as a user adapts
    it to their site: every partition is `test`, one CPU and thread per job (the local run's
    threads, so both compute the same numbers), TEST_MEM_MB of memory, and the GPU requests
    dropped only where the node has no (placeholder) GPUs. Everything else (executor, jobs,
    retries, latency, runtimes, GPUs per rule) is the project's profile as committed."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm"

    def adapt(resources: dict) -> dict:
        out = {k: v for k, v in resources.items()
               if gpus or k not in ("gpu", "gres", "gpu_model")}
        out["slurm_partition"] = PARTITION
        out["cpus_per_task"] = 1
        out["mem_mb"] = TEST_MEM_MB
        return out

    profile["default-resources"] = adapt(profile["default-resources"])
    profile["set-resources"] = {rule: adapt(res) for rule, res in profile["set-resources"].items()}
    profile["set-threads"] = {rule: 1 for rule in profile.get("set-threads", {})}
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running one-node SLURM cluster: the environment for its clients (SLURM_CONF) and the
    number of GPUs of its node (two placeholder GPUs where /dev/loop0-1 exist, else none)."""
    have_slurm = all(shutil.which(c) for c in ("slurmctld", "slurmd", "munged", "sbatch"))
    if not have_slurm:
        if os.geteuid() != 0:
            pytest.skip("SLURM is not installed and installing slurm-wlm/munge needs root")
        if not shutil.which("apt-get"):
            pytest.skip("SLURM is not installed and there is no apt-get to install slurm-wlm/munge")
    folder = tmp_path_factory.mktemp("slurm")
    env = _env(IFND_SLURM_DIR=str(folder), IFND_SLURM_CTLD_PORT=str(_free_port()),
               IFND_SLURM_SLURMD_PORT=str(_free_port()), IFND_SLURM_GPUS="2")
    started = time.time()
    # A SIGTERM (a CI timeout, a kill) ends the test like Ctrl-C, so the daemons are stopped.
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    previous = signal.signal(signal.SIGTERM, interrupt)
    proc = subprocess.run(["bash", str(SLURM_SH), "start"], env=env, capture_output=True,
                          text=True, timeout=900)
    try:
        if proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            pytest.skip(f"the SLURM daemons could not be started here: {reason}")
        print(f"SLURM cluster up in {time.time() - started:.0f} s: {proc.stdout.strip()}")
        client = _env(SLURM_CONF=str(folder / "slurm.conf"))
        gres = subprocess.run(["sinfo", "-h", "-o", "%G"], env=client, capture_output=True,
                              text=True, timeout=60).stdout.strip()
        gpus = int(gres.split(":")[-1]) if gres.startswith("gpu:") else 0
        yield client, gpus
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop = subprocess.run(["bash", str(SLURM_SH), "stop"], env=env, capture_output=True,
                              text=True, timeout=120)
        assert stop.returncode == 0, stop.stderr
        for name in ("slurmctld.pid", "slurmd.pid", "munged.pid"):
            assert not (folder / name).exists(), f"{name} left behind by slurm.sh stop"


def snakemake(cwd: Path, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def planned_jobs(cwd: Path, env: dict) -> dict[str, int]:
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet", "rules",
                           "--configfile", "config/test.yaml"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, _tail(proc.stdout + proc.stderr)
    counts = {m.group(1): int(m.group(2))
              for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", proc.stdout, re.M)}
    counts.pop("total", None)
    return counts


def localrules(cwd: Path) -> set[str]:
    text = (cwd / "workflow" / "Snakefile").read_text()
    block = re.search(r"^localrules:\n((?:\s+\w+,?\n)+)", text, re.M)
    assert block, "no localrules block in workflow/Snakefile"
    return set(re.findall(r"\w+", block.group(1)))


def test_profile_names_only_existing_rules():
    """A misspelt rule name in profiles/slurm would silently get the default resources."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    rules = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        rules |= set(re.findall(r"^rule (\w+):", smk.read_text(), re.M))
    named = set(profile.get("set-resources", {})) | set(profile.get("set-threads", {}))
    assert named and named <= rules, named - rules
    # pretraining asks SLURM for a GPU (the rule launches torchrun when it asks for more)
    assert profile["set-resources"]["pretrain"]["gpu"] >= 1


def test_workflow_through_slurm_equals_local_run(slurm, test_config_run, tmp_path):
    slurm, gpus = slurm
    cluster = copy_workflow(tmp_path / "slurm")
    profile = site_profile(tmp_path / "profile", gpus)
    print(f"test node: {gpus} placeholder GPUs")

    planned = planned_jobs(cluster, slurm)
    remote = {rule: n for rule, n in planned.items() if rule not in localrules(cluster) | {"all"}}
    assert sum(remote.values()) > 20 and "pretrain" in remote, planned

    started = time.time()
    # The suite's local end-to-end run (shared with test_workflow.py) alongside: the SLURM run
    # spends much of its time waiting on status checks.
    local = test_config_run.start()
    slurm_run = snakemake(
        cluster, slurm, "--executor", "slurm", "--profile", str(profile),
        "--configfile", "config/test.yaml",
        # a cluster without slurmdbd: job status from squeue (MinJobAge keeps finished jobs
        # there for an hour), no account to look up; short polling for the tiny jobs
        "--slurm-status-command", "squeue", "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks", "5",
        "--slurm-keep-successful-logs", "--retries", "0")
    try:
        slurm_out = slurm_run.communicate(timeout=1800)[0]
    finally:
        if slurm_run.poll() is None:
            slurm_run.kill()
    slurm_seconds = time.time() - started
    local.wait()
    print(f"SLURM run {slurm_seconds:.0f} s; the local run alongside it took {local.seconds:.0f} s")
    assert local.returncode == 0, f"local run failed:\n{local.failure()}"
    if slurm_run.returncode != 0:
        tails = error_tails(cluster, cluster / ".snakemake" / "slurm_logs")
        pytest.fail(f"SLURM run failed:\n{_tail(slurm_out)}\n{tails}")

    # Every non-local job was submitted to SLURM, each under its own SLURM job id ...
    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.",
                           slurm_out)
    assert len(submitted) == sum(remote.values()), (len(submitted), remote)
    slurm_ids = {sid for _, sid, _ in submitted}
    assert len(slurm_ids) == len(submitted)
    # ... which the controller ran to completion ...
    squeue = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T"],
                            env=slurm, capture_output=True, text=True, timeout=60)
    assert squeue.returncode == 0, squeue.stderr
    states = dict(line.split("|") for line in squeue.stdout.split())
    assert {sid: states.get(sid) for sid in slurm_ids} == {sid: "COMPLETED" for sid in slurm_ids}
    # ... on the node, where the job step ran Snakemake's jobstep executor for the rule.
    per_rule: dict[str, int] = {}
    for _, sid, log in submitted:
        path = Path(log)
        assert path.is_file() and path.name == f"{sid}.log", log
        rule = path.relative_to(cluster / ".snakemake" / "slurm_logs").parts[0]
        per_rule[rule.removeprefix("rule_")] = per_rule.get(rule.removeprefix("rule_"), 0) + 1
    assert per_rule == remote
    # Each job had the GPUs its rule asks for in profiles/slurm (where the node has GPUs).
    if gpus:
        asked = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())["set-resources"]
        shown = subprocess.run(["scontrol", "-o", "show", "job"], env=slurm, capture_output=True,
                               text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        tres = {m.group(1): m.group(2) for m in
                re.finditer(r"JobId=(\d+) .*?TresPerJob=(\S+)", shown.stdout)}
        for _, sid, log in submitted:
            rule = Path(log).relative_to(cluster / ".snakemake" / "slurm_logs").parts[0][5:]
            want = asked.get(rule, {}).get("gpu")
            assert tres.get(sid) == (f"gres:gpu:{want}" if want else None), (rule, sid, tres.get(sid))
    # The localrules (tables, figures, report) ran on the submitting host, as in the profile.
    assert "localrule tables:" in slurm_out

    # The same tables as the local run's, byte for byte.
    tables = sorted((local.workdir / "results/test/tables").iterdir())
    assert len(tables) == 14, tables  # 4 tables as CSV, markdown and per-seed CSV; power.csv, .md
    for table in tables:
        twin = cluster / "results/test/tables" / table.name
        assert twin.read_bytes() == table.read_bytes(), table.name
    assert "All expected files were found." in (cluster / "results/test/report.md").read_text()
