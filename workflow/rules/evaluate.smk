# Evaluations of pretrained encoders (`ifnd knn | linear | splits | semisup`) and the reference
# points (`ifnd rawpixels | supervised`, and evaluations of a randomly initialised encoder),
# all below R = results/<experiment>. Every job writes one metrics JSON; its command, inputs
# and the config keys it reads come from src/ifnd/pipeline.py (the same as the DVC stage's).
# The evaluation settings (the eval section) come from the current config, so changing them
# reruns the evaluations but never the pretraining; the references rerun when a config value
# they read changes (the fingerprint param, and the config stamp for files Snakemake has no
# record of).


rule knn:
    input:
        lambda w: job_of(f"{R}/evals/{w.run}/knn.json").deps,
    output:
        f"{R}/evals/{{run}}/knn.json",
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    log:
        f"logs/{EXPERIMENT}/knn/{{run}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"


rule linear:
    input:
        lambda w: job_of(f"{R}/evals/{w.run}/linear.json").deps,
    output:
        f"{R}/evals/{{run}}/linear.json",
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    log:
        f"logs/{EXPERIMENT}/linear/{{run}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../envs/ifnd.yaml"
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
    params:
        cmd=lambda w, output: job_of(output.csv).cmd,
        config_fingerprint=lambda w, output: job_of(output.csv).fingerprint,
    log:
        f"logs/{EXPERIMENT}/detect/{{run}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"


rule splits:
    output:
        f"{R}/splits/f{{tag}}_s{{seed}}.json",
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    log:
        f"logs/{EXPERIMENT}/splits/f{{tag}}_s{{seed}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "({params.cmd}) > {log} 2>&1"


rule semisup:
    input:
        lambda w: job_of(f"{R}/evals/main/{w.method}/s{w.seed}/semisup_{w.tag}.json").deps,
    output:
        f"{R}/evals/main/{{method}}/s{{seed}}/semisup_{{tag}}.json",
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    log:
        f"logs/{EXPERIMENT}/semisup/main/{{method}}/s{{seed}}/semisup_{{tag}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"


rule rawpixels:
    input:
        stamp=lambda w: config_stamp(f"{R}/reference/rawpixels.json"),
    output:
        report(f"{R}/reference/rawpixels.json", caption="../report/references.rst", category="References"),
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    log:
        f"logs/{EXPERIMENT}/reference/rawpixels.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"


rule supervised:
    input:
        stamp=lambda w: config_stamp(f"{R}/reference/supervised/s{w.seed}.json"),
    output:
        f"{R}/reference/supervised/s{{seed}}.json",
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    log:
        f"logs/{EXPERIMENT}/reference/supervised/s{{seed}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=720,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"


rule random_init:
    input:
        lambda w: job_of(f"{R}/reference/random_init/s{w.seed}/{w.evaluation}.json").deps,
    output:
        f"{R}/reference/random_init/s{{seed}}/{{evaluation}}.json",
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    log:
        f"logs/{EXPERIMENT}/reference/random_init/s{{seed}}/{{evaluation}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"


rule random_init_semisup:
    input:
        lambda w: job_of(f"{R}/reference/random_init/s{w.seed}/semisup_{w.tag}.json").deps,
    output:
        f"{R}/reference/random_init/s{{seed}}/semisup_{{tag}}.json",
    params:
        cmd=lambda w, output: job_of(output[0]).cmd,
        config_fingerprint=lambda w, output: job_of(output[0]).fingerprint,
    log:
        f"logs/{EXPERIMENT}/reference/random_init/s{{seed}}/semisup_{{tag}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"
