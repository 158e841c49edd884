# IFND (Chen et al., ICLR 2022) as a reproducible pipeline: pretraining, evaluations, tables,
# figures and the report. Every step is one `ifnd <step>` command; this file only wires them.
#
#   snakemake --cores all                                   # the default experiment
#   snakemake --cores 2 --configfile config/test.yaml       # the tiny smoke test (results/test/)
#   snakemake --profile profiles/slurm --configfile config/cifar10.yaml
#
# config/config.yaml is the single source of truth; each --configfile is a partial override
# merged on top of it, and the same files are handed to every `ifnd` command. Every output
# goes below results/<experiment>/ (workflow.experiment, default the dataset name). The jobs
# are defined once in src/ifnd/pipeline.py, which also writes dvc.yaml (`ifnd dvc-yaml`).

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


wildcard_constraints:
    run=r"(main|ablation)/[^/]+/s\d+|classes/[^/]+/c\d+/s\d+",
    method=r"[^/]+",
    seed=r"\d+",
    tag=r"\d+(\.\d+)?",
    evaluation="knn|linear",


localrules:
    all,
    tables,
    figures,
    report,


# Fail before any job when the config is inconsistent or the dataset is unreadable; runs only
# when jobs are about to start (never in a dry run), so a dry run works without the data.
onstart:
    shell("ifnd check {IFND_CONFIG}")


rule all:
    default_target: True
    input:
        final_targets(),
