# make reproduce   set up, check the config and data, run the default experiment and the report
# make select      the selection experiment on the validation split (config/selection.yaml)
# make scenes      the second experiment: the scenes testbed (config/scenes.yaml)
# make budget      the budget study (config/budget/*.yaml; BUDGETS="15 40 120"), results/budget/
# make test        set up and run the tests
# make lint        ruff check (pyproject.toml), snakemake --lint and snakefmt --check
# make dvc-repro   the same pipeline through DVC
# make dvc-yaml    write dvc.yaml again from the pipeline definition (src/ifnd/pipeline.py)
# make dvc-push    send the cached encoders and splits to the DVC remote (DVC_REMOTE)
# make dvc-pull    fetch them from the remote into results/<experiment>/ (the records are in git)
#
# Variables: PYTHON (interpreter for the venv), CORES (snakemake --cores), CONFIGFILE (an
# override file on top of config/config.yaml, e.g. CONFIGFILE=config/test.yaml), SEEDS (one
# chunk of an experiment's seeds, e.g. SEEDS=0,1: an experiment longer than a session runs a
# chunk per session and commits its records; the tables read every chunk so far), PYTEST_ARGS,
# DVC_REMOTE (a remote's name from .dvc/config or .dvc/config.local; empty: the default one).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.setup-stamp
CORES ?= all
CONFIGFILE ?=
SEEDS ?=
PYTEST_ARGS ?=
DVC_REMOTE ?=
FASHION_MNIST := /usr/share/datasets/fashion-mnist

# The workflow's jobs call `ifnd`, DVC's stages call `ifnd` and `python`: all from the venv.
export PATH := $(BIN):$(PATH)

CONFIG_ARGS := --config config/config.yaml $(CONFIGFILE)
SNAKEMAKE_CONFIG := $(if $(CONFIGFILE),--configfile $(CONFIGFILE))
CHUNK := $(if $(SEEDS),--config 'seeds=[$(SEEDS)]')
# A fresh clone holds the default experiment's committed records, tables, figures and report but
# none of the encoders they came from (those are DVC-cached): Snakemake would call it up to
# date. There `make reproduce` forces the pretraining jobs and so everything after them; once an
# encoder exists (a rerun under way or done) it resumes and skips what is up to date, as usual.
FRESH_CLONE := $(if $(CONFIGFILE)$(SEEDS)$(wildcard results/fashion-mnist/runs/*/*/s*/model.pt),,--forcerun pretrain)

.PHONY: help setup data reproduce select scenes budget test lint dvc-repro dvc-yaml dvc-push dvc-pull report-html

help:
	@sed -n '1,14p' Makefile

setup: $(STAMP)

# Re-runs only when the requirements change (or the venv is gone).
$(STAMP): requirements.txt pyproject.toml
	@$(MAKE) --no-print-directory data
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt -e .
	touch $@

# Fashion-MNIST from Debian's dataset-fashion-mnist, where we may install it; otherwise
# `ifnd check` says where the data code looks.
data:
	@if [ -d $(FASHION_MNIST) ]; then \
	  echo "Fashion-MNIST: $(FASHION_MNIST)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist \
	    || echo "warning: could not install dataset-fashion-mnist; see README (Data)"; \
	else \
	  echo "note: $(FASHION_MNIST) is absent and apt-get is unavailable or needs root;" \
	       "install dataset-fashion-mnist or set data.root (see README, Data)"; \
	fi

reproduce: setup
	ifnd check $(CONFIG_ARGS)
	snakemake --cores $(CORES) $(SNAKEMAKE_CONFIG) $(CHUNK) $(FRESH_CLONE)
	$(if $(CONFIGFILE),,ifnd report $(CONFIG_ARGS) --readme README.md)
	$(if $(CONFIGFILE)$(SEEDS),,dvc commit --force --quiet)  # record Snakemake's outputs: `dvc repro` is then up to date
	@echo "report: results/<experiment>/report.md (tables, figures and metrics beside it)"

# The selection experiment: every candidate default on the validation split (docs/method.md,
# Choice of the default); results/selection/report.md.
select: setup
	ifnd check --config config/config.yaml config/selection.yaml
	snakemake --cores $(CORES) --configfile config/selection.yaml

# The second experiment: the scenes testbed (config/scenes.yaml), results/fashion-scenes/; longer
# than a 2-core session, it runs in chunks of seeds (SEEDS=0 first: later chunks read its
# detection study), each committed before the next.
scenes:
	$(MAKE) --no-print-directory reproduce CONFIGFILE=config/scenes.yaml SEEDS=$(SEEDS)

# The budget study (config/budget/e<epochs>.yaml, one experiment per budget, each a session's
# chunk): `make budget BUDGETS=40` runs one; `BUDGETS=40-s0` one chunk of a budget's seeds
# (config/budget/e40-s0.yaml merged on e40.yaml); the figure pools every budget folder so far.
BUDGETS ?= 5 15 40
budget: setup
	for e in $(BUDGETS); do \
	  files="config/budget/e$${e%%-*}.yaml"; \
	  case $$e in *-*) files="$$files config/budget/e$$e.yaml";; esac; \
	  ifnd check --config config/config.yaml $$files && \
	  snakemake --cores $(CORES) --configfile $$files || exit 1; \
	done
	ifnd budget --results $$(ls -d results/budget-e* | sort -V) --out results/budget

# Snakemake's HTML report (figures and tables with their captions and provenance).
report-html: setup
	snakemake $(SNAKEMAKE_CONFIG) --report results/workflow-report.html

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: setup
	ruff check src tests workflow bench
	snakemake --lint $(SNAKEMAKE_CONFIG)
	snakefmt --check Snakefile workflow/

dvc-repro: setup
	ifnd check --config config/config.yaml
	dvc repro

dvc-yaml: setup
	ifnd dvc-yaml

# Publish / fetch what the committed tables were built from (checkpoints, logs, evaluations):
# configure a remote first (README, Sharing results).
dvc-push: setup
	dvc push $(if $(DVC_REMOTE),-r $(DVC_REMOTE))

dvc-pull: setup
	dvc pull --allow-missing $(if $(DVC_REMOTE),-r $(DVC_REMOTE))
