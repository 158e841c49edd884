# Evaluations of pretrained encoders (`ifnd knn | linear | splits | semisup`) and the reference
# points (`ifnd rawpixels | supervised`, and evaluations of a randomly initialised encoder).
# Every job writes one metrics JSON; the evaluation settings (the eval section) come from the
# current config, so changing them reruns the evaluations but never the pretraining.


rule knn:
    input:
        model="results/runs/{run}/model.pt",
    output:
        "results/evals/{run}/knn.json",
    params:
        cfg=IFND_CONFIG,
        eval_fingerprint=lambda w: fingerprint(["eval"]),
        run_dir=lambda w, input: os.path.dirname(input.model),
    log:
        "logs/knn/{run}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "IFND_THREADS={threads} ifnd knn {params.run_dir} {params.cfg} --out {output} > {log} 2>&1"


rule linear:
    input:
        model="results/runs/{run}/model.pt",
    output:
        "results/evals/{run}/linear.json",
    params:
        cfg=IFND_CONFIG,
        eval_fingerprint=lambda w: fingerprint(["eval"]),
        run_dir=lambda w, input: os.path.dirname(input.model),
    log:
        "logs/linear/{run}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "IFND_THREADS={threads} ifnd linear {params.run_dir} {params.cfg} --out {output} > {log} 2>&1"


rule splits:
    output:
        "results/splits/{dataset}_f{tag}_s{seed}.json",
    params:
        cfg=IFND_CONFIG,
        fraction=lambda w: SEMISUP_FRACTIONS[w.tag],
        data_fingerprint=lambda w: fingerprint(["data"]),
    log:
        "logs/splits/{dataset}_f{tag}_s{seed}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "ifnd splits {params.cfg} --fraction {params.fraction} --seed {wildcards.seed}"
        " --out {output} > {log} 2>&1"


rule semisup:
    input:
        model="results/runs/main/{method}/s{seed}/model.pt",
        split=lambda w: split_file(w.seed, w.tag),
    output:
        "results/evals/main/{method}/s{seed}/semisup_{tag}.json",
    params:
        cfg=IFND_CONFIG,
        eval_fingerprint=lambda w: fingerprint(["eval"]),
        run_dir=lambda w, input: os.path.dirname(input.model),
        fraction=lambda w: SEMISUP_FRACTIONS[w.tag],
    log:
        "logs/semisup/main/{method}/s{seed}/semisup_{tag}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "IFND_THREADS={threads} ifnd semisup {params.run_dir} {params.cfg} --fraction {params.fraction}"
        " --split {input.split} --out {output} > {log} 2>&1"


rule rawpixels:
    output:
        report("results/reference/rawpixels.json", caption="../report/references.rst", category="References"),
    params:
        cfg=IFND_CONFIG,
        data_fingerprint=lambda w: fingerprint(["data", "eval"]),
    log:
        "logs/reference/rawpixels.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "IFND_THREADS={threads} ifnd rawpixels {params.cfg} --out {output} > {log} 2>&1"


rule supervised:
    output:
        "results/reference/supervised/s{seed}.json",
    params:
        cfg=IFND_CONFIG,
        train_fingerprint=lambda w: fingerprint(["data", "model", "augment", "train", "eval"]),
    log:
        "logs/reference/supervised/s{seed}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=720,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "IFND_THREADS={threads} ifnd supervised {params.cfg} --set train.seed={wildcards.seed}"
        " --out {output} > {log} 2>&1"


rule random_init:
    input:
        model=lambda w: f"results/runs/{reference_run(w.seed)}/model.pt",
    output:
        "results/reference/random_init/s{seed}/{evaluation}.json",
    params:
        cfg=IFND_CONFIG,
        eval_fingerprint=lambda w: fingerprint(["eval"]),
        run_dir=lambda w, input: os.path.dirname(input.model),
    log:
        "logs/reference/random_init/s{seed}/{evaluation}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "IFND_THREADS={threads} ifnd {wildcards.evaluation} {params.run_dir} {params.cfg} --random-init"
        " --out {output} > {log} 2>&1"


rule random_init_semisup:
    input:
        model=lambda w: f"results/runs/{reference_run(w.seed)}/model.pt",
        split=lambda w: split_file(w.seed, w.tag),
    output:
        "results/reference/random_init/s{seed}/semisup_{tag}.json",
    params:
        cfg=IFND_CONFIG,
        eval_fingerprint=lambda w: fingerprint(["eval"]),
        run_dir=lambda w, input: os.path.dirname(input.model),
        fraction=lambda w: SEMISUP_FRACTIONS[w.tag],
    log:
        "logs/reference/random_init/s{seed}/semisup_{tag}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "IFND_THREADS={threads} ifnd semisup {params.run_dir} {params.cfg} --random-init"
        " --fraction {params.fraction} --split {input.split} --out {output} > {log} 2>&1"
