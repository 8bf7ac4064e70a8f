#!/usr/bin/env bash
# One GPU call for issue 13: the speed tables, then the rest of the call on training the prior.
# Run from the repository root on a machine with CUDA torch and lightning (the device image has them):
#     OUT=/tmp/out SPEED_ONLY=0 MAX_TIME=00:00:04:00 bash benchmarks/gpu_speed_session.sh
# Writes $OUT/gpu_train_speed.md and .json (bare step vs trainer at batch 64 and 256, --compile,
# GenerativeJSCC, profile and host-device synchronisations per trainer iteration), then, unless
# SPEED_ONLY=1, continues with benchmarks/gpu_train_prior.sh (COMPILE=1 adds --compile there).
set -euo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD"
python3 benchmarks/gpu_train_speed.py --batch 64,256 --iters 40 --warmup 20 --rounds 3 --compile --generative \
  --profile --out "$OUT/gpu_train_speed.json" 2>"$OUT/gpu_train_speed.log" | tee "$OUT/gpu_train_speed.md"
if [ "${SPEED_ONLY:-1}" != "1" ]; then
  bash benchmarks/gpu_train_prior.sh
fi
