# Shared definitions. The jobs themselves (runs, evaluations, references, their commands,
# inputs and outputs) are defined once in src/ifnd/pipeline.py, which also generates dvc.yaml
# (`ifnd dvc-yaml`); the rules only look their job up by output path. Nothing here reads data
# or runs a step; the one file written at parse time is a config stamp (see below).

import os
import re
import shlex
import time

from ifnd.pipeline import BASE_CONFIG, Pipeline
from ifnd.runspec import PATH_PATTERN as RUN_PATH_PATTERN

# a label fraction in percent, as in file names (ifnd.pipeline.fraction_tag): "1", "10", "0.5"
TAG_PATTERN = r"\d+(\.\d+)?"


def _workdir_relative(path):
    """A --configfile path as the jobs should see it: relative to the working directory when
    it lies inside it (commands stay readable and portable), else as given."""
    rel = os.path.relpath(str(path))
    return str(path) if rel.startswith(os.pardir) else rel


# The base config plus every `snakemake --configfile FILE`, in order: the files Snakemake
# merged into `config`, handed as they are to every ifnd command, which merges them the same
# way. (Snakemake's `--config key=value` reads nested values as strings, which the schema
# rejects; variants are override files.)
CONFIG_FILES = list(
    dict.fromkeys(
        [BASE_CONFIG] + [_workdir_relative(p) for p in workflow.overwrite_configfiles]
    )
)
IFND_CONFIG = " ".join(["--config"] + [shlex.quote(f) for f in CONFIG_FILES])

# The experiment as every ifnd command reads it: the same files merged by ifnd itself, where a
# file's `workflow.ablations` replaces the base file's (Snakemake's own merge would join them).
# `--config seeds=[0]` runs one chunk of it: the jobs of those seeds (an experiment longer than a
# session runs a chunk per session; each commits its records, and the tables read them all).
PIPE = Pipeline.from_files(CONFIG_FILES, seeds=SEEDS)
# Every output path of this experiment starts with R = results/<experiment>.
R = PIPE.root
EXPERIMENT = PIPE.experiment


def job_of(output):
    """The pipeline job that writes `output` (an input function's lookup)."""
    return PIPE.job(output)


# A reference that records its config (rawpixels, supervised) reruns when that record differs
# from the current config, also where Snakemake has no metadata for it (a fresh clone holds
# the committed files but not .snakemake/): its stamp is touched, so it is newer than the
# output. While the record agrees (or the file is absent), the stamp is dated back to 1970,
# so it never triggers a run by itself.
STAMPS = f".snakemake/ifnd-stamps/{EXPERIMENT}"


def config_stamp(output):
    job = job_of(output)
    stamp = f"{STAMPS}/{job.stage}"
    os.makedirs(STAMPS, exist_ok=True)
    difference = PIPE.recorded_mismatch(job)
    with open(stamp, "w") as fh:
        fh.write(f"{difference}\n" if difference else "")
    if difference is None:
        os.utime(stamp, (0, 0))
    return stamp


# A pretraining job with G > 1 GPUs (its `gpu` resource) runs the pipeline's command under
# torchrun, one DDP process per GPU on one node (see pretrain.smk).
def pretrain_cmd(output, resources):
    cmd = job_of(output.model).cmd
    gpus = int(resources.get("gpu", 0) or 0)
    if gpus <= 1:
        return cmd
    assert cmd.startswith("ifnd pretrain "), cmd
    return cmd.replace(
        "ifnd pretrain ",
        f"torchrun --standalone --nproc-per-node {gpus} --no-python ifnd pretrain ",
        1,
    )


def final_targets():
    return PIPE.final_targets()


# Under `--forcerun pretrain` (a fresh clone's `make reproduce`) the inputs are plain: Snakemake
# does not look at the own reasons of the jobs downstream of a job that reruns, and drops those
# linked to it by ancient inputs only, so a forced control whose committed records exist would be
# left out (snakemake dag.py, update_needrun); every run retrains then anyway.
def pretrain_forced():
    # set once the DAG is built, after the Snakefile is read
    dag = workflow.dag_settings
    return dag is not None and (dag.forceall or "pretrain" in (dag.forcerun or ()))
