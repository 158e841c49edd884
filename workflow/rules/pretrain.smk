# Contrastive pretraining (`ifnd pretrain`): one job per run folder below results/runs/.
#   main/{method}/s{seed}          SimCLR, SimCLR + IFND and the oracle (Tables 1, 2, 4; Figs 2-4)
#   ablation/{name}/s{seed}        the main IFND run with workflow.ablations[name] (Table 3)
#   classes/{method}/c{n}/s{seed}  SimCLR and oracle on the first n classes (Figure 1)
# The resumable state lives in state/runs/<run>/<config hash>/, outside the outputs: an
# interrupted job resumes where it stopped when Snakemake reruns it.
#
# Threads: one per job. On the 2-core machine, two 2-epoch runs of the default config took
# 243 s as two 1-thread jobs side by side vs 369 s as two 2-thread jobs one after the other
# (intra-op parallelism of this small ResNet scales poorly), so the DAG of many independent
# runs finishes sooner with more jobs of one thread. On a GPU cluster profiles/slurm sets more.


rule pretrain:
    output:
        model="results/runs/{run}/model.pt",
        train_log="results/runs/{run}/train_log.csv",
        fn_stats="results/runs/{run}/fn_stats.csv",
        resolved_config="results/runs/{run}/config.resolved.yaml",
        meta="results/runs/{run}/meta.json",
    params:
        args=lambda w: pretrain_params(w.run),
        run_dir=lambda w, output: os.path.dirname(output.model),
        state_dir=lambda w: state_dir(w.run),
    log:
        "logs/pretrain/{run}.log",
    benchmark:
        "logs/benchmarks/pretrain/{run}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=720,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "IFND_THREADS={threads} ifnd pretrain {params.args}"
        " --out {params.run_dir} --state-dir {params.state_dir} > {log} 2>&1"
