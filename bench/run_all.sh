#!/usr/bin/env bash
# Run benchmarks 1-4 (step throughput vs lightly, MFU, clustering overhead, peak memory) with
# defaults for a 2-core CPU, regenerate bench/RESULTS.md and print the README section.
# Estimated 15 minutes on a quiet 2-core machine; timings on a busy machine mean little.
#
#   bench/run_all.sh                   # all four, results appended to bench/results.json
#   QUICK=1 bench/run_all.sh           # smoke check (tiny models, about a minute or two)
#   OUT=/tmp/r.json NOTE="..." bench/run_all.sh
#   PYTHON=python bench/run_all.sh     # another interpreter (default: .venv/bin/python)
#   README=README.md bench/run_all.sh  # also rewrite the README's performance block
#   COMPILE=1 bench/run_all.sh         # step_throughput also times ours under torch.compile
#   AVX2=1 bench/run_all.sh            # the AVX2 code path on any x86 CPU: oneDNN capped at
#                                      # AVX2 (no native bf16: train.precision auto -> fp32),
#                                      # ATen's and faiss's AVX2 kernels
#
# The GPU benchmark is separate: python bench/gpu.py [--compile] on a CUDA machine.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${AVX2:-}" ]; then
    export ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 FAISS_OPT_LEVEL=avx2
fi

PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python
OUT=${OUT:-bench/results.json}
args=(--out "$OUT")
[ -n "${NOTE:-}" ] && args+=(--note "$NOTE")
[ -n "${QUICK:-}" ] && args+=(--quick)

if ! "$PY" -c "import lightly" 2>/dev/null; then
    echo "lightly is not installed: the peer is skipped (pip install -e '.[bench]' to add it)" >&2
    peer=(--impl ours)
else
    peer=()
fi

run() {  # name, script, args...
    local name=$1; shift
    echo "== $name: $PY $* ${args[*]}"
    "$PY" "$@" "${args[@]}" 2>&1 | tee "bench/$name.log"  # bench/*.log is git-ignored
}

compile=()
[ -n "${COMPILE:-}" ] && compile=(--compile)
run step_throughput bench/step_throughput.py "${peer[@]}" "${compile[@]}"
run mfu bench/mfu.py
run cluster_overhead bench/cluster_overhead.py
run memory bench/memory.py

"$PY" bench/readme_section.py --results "$OUT" --regenerate ${QUICK:+--include-quick} \
    ${README:+--readme "$README"}
echo "results: $OUT and its RESULTS.md; logs in bench/*.log"
