# The workflow lives in workflow/Snakefile (the Snakemake workflow catalog's layout); this file
# lets `snakemake` run from the repository root as well:
#   snakemake --cores all                                   # the default experiment
#   snakemake --cores 2 --configfile config/test.yaml       # the tiny smoke test (results/test/)


include: "workflow/Snakefile"


# An included file's `default_target` does not outlive the include: name it again here.
workflow.default_target = "all"
