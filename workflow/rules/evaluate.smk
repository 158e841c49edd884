# Evaluations of pretrained encoders (`ifnd knn | linear | splits | semisup`) and the reference
# points (`ifnd rawpixels | supervised`, and evaluations of a randomly initialised encoder),
# all below R = results/<experiment>. Every job writes one metrics JSON; its command, inputs
# and the config keys it reads come from src/ifnd/pipeline.py (the same as the DVC stage's).
# The evaluation settings (the eval section) come from the current config, so changing them
# reruns the evaluations but never the pretraining; the references rerun when a config value
# they read changes (the fingerprint param, and the config stamp for files Snakemake has no
# record of).


# `ifnd knn`, `ifnd linear` and `ifnd semisup` (semisup_<percent>, main runs) of a pretrained
# run: one rule, the evaluation a wildcard.
rule evaluate:
    input:
        lambda w: job_of(f"{R}/evals/{w.run}/{w.evaluation}.json").deps,
    output:
        f"{R}/evals/{{run}}/{{evaluation}}.json",
    log:
        f"logs/{EXPERIMENT}/{{evaluation}}/{{run}}.log",
    conda:
        "../envs/ifnd.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=lambda w: 60 if w.evaluation == "knn" else 240,
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"


# The detection study (`ifnd detect`): detection settings scored on the run's kept encoders,
# no retraining (docs/method.md, Detection study).
rule detect:
    input:
        lambda w: job_of(f"{R}/detect/{w.run}/detect.csv").deps,
    output:
        csv=f"{R}/detect/{{run}}/detect.csv",
        md=f"{R}/detect/{{run}}/detect.md",
        png=f"{R}/detect/{{run}}/detect_pr.png",
        confusion=f"{R}/detect/{{run}}/confusion.json",
    log:
        f"logs/{EXPERIMENT}/detect/{{run}}.log",
    conda:
        "../envs/ifnd.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cmd=lambda w, output: job_of(output.csv).cmd,
        config_fingerprint=lambda w, output: job_of(output.csv).fingerprint,
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"


rule splits:
    output:
        f"{R}/splits/f{{tag}}_s{{seed}}.json",
    log:
        f"logs/{EXPERIMENT}/splits/f{{tag}}_s{{seed}}.log",
    conda:
        "../envs/ifnd.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    shell:
        "({params.cmd}) > {log} 2>&1"


rule rawpixels:
    input:
        stamp=lambda w: config_stamp(f"{R}/reference/rawpixels.json"),
    output:
        report(
            f"{R}/reference/rawpixels.json",
            caption="../report/references.rst",
            category="References",
        ),
    log:
        f"logs/{EXPERIMENT}/reference/rawpixels.log",
    conda:
        "../envs/ifnd.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"


rule supervised:
    input:
        stamp=lambda w: config_stamp(f"{R}/reference/supervised/s{w.seed}.json"),
    output:
        f"{R}/reference/supervised/s{{seed}}.json",
    log:
        f"logs/{EXPERIMENT}/reference/supervised/s{{seed}}.log",
    conda:
        "../envs/ifnd.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=720,
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"


# The detection floors: IFND's clustering and acceptance on pixels and on the random-init encoder.
rule detect_floor:
    input:
        stamp=lambda w: config_stamp(f"{R}/reference/detect_floor/s{w.seed}.json"),
    output:
        f"{R}/reference/detect_floor/s{{seed}}.json",
    log:
        f"logs/{EXPERIMENT}/reference/detect_floor/s{{seed}}.log",
    conda:
        "../envs/ifnd.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"


# The same evaluations (knn, linear, semisup_<percent>) of the randomly initialised encoder.
rule random_init:
    input:
        lambda w: job_of(
            f"{R}/reference/random_init/s{w.seed}/{w.evaluation}.json"
        ).deps,
    output:
        f"{R}/reference/random_init/s{{seed}}/{{evaluation}}.json",
    log:
        f"logs/{EXPERIMENT}/reference/random_init/s{{seed}}/{{evaluation}}.log",
    conda:
        "../envs/ifnd.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"
