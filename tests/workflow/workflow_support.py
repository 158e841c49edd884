"""What the workflow tests share: the venv, a copy of the workflow files to run in, and the one
end-to-end run of config/test.yaml that both the local checks (test_workflow.py) and the SLURM
twin (test_slurm.py) read, so the suite runs that DAG locally once, not twice."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv that has ifnd, snakemake and dvc
WORKFLOW_FILES = ["Snakefile", "workflow", "config", "profiles", "dvc.yaml", ".dvcignore",
                  ".dvc/config", ".gitignore", "src/ifnd"]
RESULTS = "results/fashion-mnist"  # the default experiment: only its committed files are copied


def env(**extra: str) -> dict:
    """This environment with the venv first on PATH and no thread override (the jobs take the
    threads the workflow gives them)."""
    out = dict(os.environ)
    out["PATH"] = f"{BIN}{os.pathsep}{out.get('PATH', '')}"
    out.pop("IFND_THREADS", None)
    out.update(extra)
    return out


def copy_workflow(dest: Path) -> Path:
    """The workflow files in a fresh folder (symlinks resolved: the schema links into src/), so
    a test never touches the repository's results/, logs/ or state/."""
    for name in WORKFLOW_FILES:
        src = REPO / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, symlinks=False,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, target)
    from ifnd.config import load_config

    # and the committed class confusions the default config's class sweep is matched on
    matched = list((load_config(REPO / "config/config.yaml")["workflow"].get("class_sweep_match") or {}).values())
    for name in committed_files(RESULTS) + matched:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dest / name)
    # DVC without git in the copy.
    (dest / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")
    return dest


def committed_files(folder: str) -> list[str]:
    """The files git tracks below `folder`, as the clean checkout CI tests has them: a rerun in
    progress in this workspace (its runs/, evals/, splits/) must not change what the tests plan.
    Without git (an unpacked archive) every file there is taken."""
    try:
        listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--", folder],
                                capture_output=True, text=True, timeout=60)
    except OSError:
        listed = None
    if listed is not None and listed.returncode == 0 and listed.stdout:
        return [name for name in listed.stdout.split("\0") if name and (REPO / name).is_file()]
    return [str(p.relative_to(REPO)) for p in sorted((REPO / folder).rglob("*")) if p.is_file()]


def error_tails(root: Path, logs: Path) -> str:
    """The last 1500 characters of every log file below `logs` that mentions an error, each
    headed by its path relative to `root`."""
    texts = {p: p.read_text() for p in sorted(logs.rglob("*.log"))} if logs.exists() else {}
    return "\n".join(f"--- {p.relative_to(root)}\n{text[-1500:]}"
                     for p, text in texts.items() if "rror" in text)


class TestConfigRun:
    """`snakemake --cores 2 --configfile config/test.yaml` in its own copy of the workflow,
    started on first use and waited for by whoever needs its outputs. Its output goes to a log
    file beside the copy (not a pipe nobody reads while the SLURM twin runs alongside)."""

    __test__ = False  # not a test class

    def __init__(self, folder: Path):
        self.workdir = copy_workflow(folder / "repo")
        self.log = folder / "snakemake.log"
        self.committed = self._default_results()
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.seconds: float | None = None

    def _default_results(self) -> dict[Path, bytes]:
        return {p: p.read_bytes() for p in (self.workdir / "results/fashion-mnist").rglob("*")
                if p.is_file()}

    def start(self) -> TestConfigRun:
        if self.proc is None:
            self._started = time.time()
            with self.log.open("w") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile",
                     "config/test.yaml"], cwd=self.workdir, env=env(), stdout=log,
                    stderr=subprocess.STDOUT, text=True)
        return self

    def wait(self, timeout: float = 1800) -> TestConfigRun:
        self.start()
        if self.returncode is None:
            try:
                self.returncode = self.proc.wait(timeout=timeout)
            finally:
                self.stop()
            self.seconds = time.time() - self._started
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def failure(self) -> str:
        """The run's output tail and every job log that mentions an error."""
        return f"{self.output()[-6000:]}\n{error_tails(self.workdir, self.workdir / 'logs')}"
