# Tables 1-4, Figures 1-4 and results/report.md (`ifnd tables | figures | report`), built from
# the run logs, evaluation metrics and references below results/.


rule tables:
    input:
        result_files(),
    output:
        report(
            expand("results/tables/{table}.{ext}", table=TABLES, ext=["csv", "md"]),
            caption="../report/tables.rst",
            category="Tables",
        ),
    log:
        "logs/report/tables.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "ifnd tables --results results --out results/tables > {log} 2>&1"


rule figures:
    input:
        result_files(),
    output:
        fig1=report(
            "results/figures/fig1_false_negative_effect.png",
            caption="../report/fig1.rst",
            category="Figures",
        ),
        fig2=report(
            "results/figures/fig2_fn_over_epochs.png",
            caption="../report/fig2.rst",
            category="Figures",
        ),
        fig3=report(
            "results/figures/fig3_acceptance_quality.png",
            caption="../report/fig3.rst",
            category="Figures",
        ),
        fig4=report(
            "results/figures/fig4_knn_over_epochs.png",
            caption="../report/fig4.rst",
            category="Figures",
        ),
    log:
        "logs/report/figures.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "ifnd figures --results results --out results/figures > {log} 2>&1"


rule report:
    input:
        report_inputs(),
    output:
        report("results/report.md", caption="../report/report.rst", category="Report"),
    params:
        cfg=IFND_CONFIG,
    log:
        "logs/report/report.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/ifnd.yaml"
    shell:
        "ifnd report --results results {params.cfg} --out {output} > {log} 2>&1"
