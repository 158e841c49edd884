#!/usr/bin/env bash
# One prepared check for a single CUDA card, about 5 minutes on an H100:
#   1. the CUDA loss test of the suite (skipped on CPU-only machines),
#   2. bench/gpu.py: our step vs the peer (lightly) at batch 512, with MFU,
#   3. a short IFND pretraining run on the GPU (ResNet-18 CIFAR stem, synthetic 32x32 RGB)
#      followed by kNN and linear evaluation of it: the device path end to end,
#   4. bench/gpu.py --impl ours --compile: the same with torch.compile.
# Each step has its own time limit, so a slow one leaves the others' results. At most 8 small
# files land in $RESULTS (default bench/gpu_check), the results JSON (gpu.json) included;
# merge it into bench/results.json with `python bench/benchlib.py merge FILE` afterwards.
# The run's checkpoints go to $RUNDIR (default /tmp/ifnd_gpu_check).
#
#   PYTHON=python3 bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
R=${RESULTS:-bench/gpu_check}
mkdir -p "$R"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$R/check.txt"
"$PY" -c "import torch, faiss, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'faiss', faiss.__version__)" | tee -a "$R/check.txt"

echo "== 1. CUDA loss test"
timeout 120 "$PY" -m pytest -q -p no:cacheprovider tests/test_losses.py -k cuda 2>&1 | tail -3 | tee -a "$R/check.txt"

echo "== 2. our step vs the peer"
timeout 240 "$PY" bench/gpu.py --workers "${WORKERS:-14}" --out "$R/gpu.json" 2>&1 | tee "$R/gpu.log"

echo "== 3. IFND pretraining + evaluation on the GPU"
work=${RUNDIR:-/tmp/ifnd_gpu_check}
run="$work/run"
rm -rf "$work"
sets=(--set train.device=cuda --set method.name=ifnd --set model.arch=resnet18 --set model.width=64
      --set data.name=synthetic --set data.image_size=32 --set data.train_subset=8192
      --set data.test_subset=2048 --set train.batch_size=512 --set train.epochs=4
      --set fnd.warmup_epochs=1 --set train.progress=false)
( time timeout 150 "$PY" -c "import sys; from ifnd.cli import entry; sys.argv[0] = 'ifnd'; entry()" \
    pretrain "${sets[@]}" --out "$run" --state-dir "$work/state" ) 2>&1 | tail -25 | tee "$R/pretrain.txt"
for ev in knn linear; do
    timeout 90 "$PY" -c "import sys; from ifnd.cli import entry; sys.argv[0] = 'ifnd'; entry()" \
        "$ev" "$run" --device cuda 2>&1 | tail -4 | tee -a "$R/pretrain.txt"
done
cp "$run/train_log.csv" "$run/fn_stats.csv" "$R/" 2>/dev/null

echo "== 4. torch.compile"
timeout 200 "$PY" bench/gpu.py --impl ours --compile --out "$R/gpu.json" 2>&1 | tee "$R/gpu_compile.log"
