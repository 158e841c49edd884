# Tables 1-4 (with the flat metric files that `dvc metrics show` lists), Figures 1-5 and
# R/report.md (`ifnd tables | figures | report`), built from the run logs, evaluation metrics
# and references of this experiment only (R = results/<experiment>).


rule tables:
    input:
        job_of(PIPE.table_files()[0]).deps,
    output:
        report(PIPE.table_files(), caption="../report/tables.rst", category="Tables"),
        metrics=directory(PIPE.metrics_dir),
    log:
        f"logs/{EXPERIMENT}/report/tables.log",
    conda:
        "../envs/ifnd.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cmd=job_of(PIPE.table_files()[0]).cmd,
        config_fingerprint=job_of(PIPE.table_files()[0]).fingerprint,
    shell:
        "({params.cmd}) > {log} 2>&1"


rule figures:
    input:
        job_of(PIPE.figure_files()[0]).deps,
    output:
        fig1=report(
            PIPE.figure_files()[0], caption="../report/fig1.rst", category="Figures"
        ),
        fig2=report(
            PIPE.figure_files()[1], caption="../report/fig2.rst", category="Figures"
        ),
        fig3=report(
            PIPE.figure_files()[2], caption="../report/fig3.rst", category="Figures"
        ),
        fig4=report(
            PIPE.figure_files()[3], caption="../report/fig4.rst", category="Figures"
        ),
        fig5=report(
            PIPE.figure_files()[4], caption="../report/fig5.rst", category="Figures"
        ),
        fig6=report(
            PIPE.figure_files()[5], caption="../report/fig6.rst", category="Figures"
        ),
    log:
        f"logs/{EXPERIMENT}/report/figures.log",
    conda:
        "../envs/ifnd.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cmd=job_of(PIPE.figure_files()[0]).cmd,
        config_fingerprint=job_of(PIPE.figure_files()[0]).fingerprint,
    shell:
        "({params.cmd}) > {log} 2>&1"


rule report:
    input:
        job_of(PIPE.report_file).deps,
    output:
        report(PIPE.report_file, caption="../report/report.rst", category="Report"),
    log:
        f"logs/{EXPERIMENT}/report/report.log",
    conda:
        "../envs/ifnd.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cmd=job_of(PIPE.report_file).cmd,
        config_fingerprint=job_of(PIPE.report_file).fingerprint,
    shell:
        "({params.cmd}) > {log} 2>&1"
