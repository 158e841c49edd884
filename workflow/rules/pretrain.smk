# Contrastive pretraining (`ifnd pretrain`): one job per run folder below R/runs/ (R is
# results/<experiment>).
#   main/{method}/s{seed}          SimCLR, SimCLR + IFND and the oracle (Tables 1, 2, 4; Figs 2-4)
#   ablation/{name}/s{seed}        the main IFND run with workflow.ablations[name] (Table 3)
#   classes/{method}/c{n}/s{seed}  SimCLR and oracle on n classes drawn with the seed (Figure 1)
#   moco/{method}/s{seed}          the methods on MoCo v2 (workflow.frameworks; Tables 1, 2, 4)
# (ifnd.runspec parses and formats these paths.)
# The command comes from src/ifnd/pipeline.py (the same as the DVC stage's). The resumable
# state lives in state/<experiment>/<run>/<config hash>/, outside the outputs: an interrupted
# job resumes where it stopped when Snakemake reruns it.
#
# Threads: one per job. On the 2-core machine, two 2-epoch runs of the default config took
# 243 s as two 1-thread jobs side by side vs 369 s as two 2-thread jobs one after the other
# (intra-op parallelism of this small ResNet scales poorly), so the DAG of many independent
# runs finishes sooner with more jobs of one thread. On a GPU cluster profiles/slurm sets more.
#
# GPUs: a job whose `gpu` resource is G > 1 (profiles/slurm, or `--set-resources
# pretrain:gpu=4`) runs the same command under `torchrun --standalone --nproc-per-node G`,
# one DDP process per GPU on one node; G <= 1 (or unset) runs plain `ifnd pretrain` as before
# (pretrain_cmd in common.smk).


rule pretrain:
    input:
        # the files a control or a class-sweep run reads, as ancient: a fresh clone's checkout
        # order makes one committed record newer than another, which must not retrain a run (a
        # job that remakes such a file in the same invocation still reruns its readers); plain
        # under a forced pretraining (pretrain_forced in common.smk)
        lambda w: [
            f if pretrain_forced() else ancient(f)
            for f in PIPE.inputs(job_of(f"{R}/runs/{w.run}/model.pt"))
        ],
    output:
        model=f"{R}/runs/{{run}}/model.pt",
        train_log=f"{R}/runs/{{run}}/train_log.csv",
        fn_stats=f"{R}/runs/{{run}}/fn_stats.csv",
        resolved_config=f"{R}/runs/{{run}}/config.resolved.yaml",
        meta=f"{R}/runs/{{run}}/meta.json",
        # the encoders kept after the epochs of train.save_epochs (read by the detection study)
        epochs=directory(f"{R}/runs/{{run}}/epochs"),
    log:
        f"logs/{EXPERIMENT}/pretrain/{{run}}.log",
    benchmark:
        f"logs/{EXPERIMENT}/benchmarks/pretrain/{{run}}.tsv"
    conda:
        "../envs/ifnd.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=720,
    params:
        cmd=lambda w, output, resources: pretrain_cmd(output, resources),
        config_fingerprint=lambda w, output: job_of(output.model).fingerprint,
    shell:
        "export IFND_THREADS={threads}; ({params.cmd}) > {log} 2>&1"
