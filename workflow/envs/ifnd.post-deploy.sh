#!/usr/bin/env bash
# Runs inside the freshly created conda environment, from the workflow's working directory
# (the repository root): install the ifnd package itself, its dependencies are already there.
set -euo pipefail
python -m pip install --no-deps --no-build-isolation -e .
