#!/usr/bin/env bash
# The shipped native-size DeepJSCC models, deepjscc-bcr1_12 and deepjscc-bcr1_48: the ablation's winner
# (embedded + fetched photographs, 128x128 crops at the photographs' own scale), fine-tuned from the 64x64
# models, both at once on a 2-core CPU (one thread each). Re-running the script resumes both runs from
# their last checkpoints (another session, or after an interruption).
#   DEB=~/genjscc-photos BUDGET=01:25:00 bash experiments/native_deepjscc/train.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DEB=${DEB:?set DEB to the folder written by genjscc fetch-photos}
BUDGET=${BUDGET:-01:25:00}
STEPS=${STEPS:-12000}
OUT=${OUT:-runs/native}
export PATH="$PWD/.venv/bin:$PATH"
run() {  # name init bcr
  local name=$1 init=$2 bcr=$3
  if [ -f "$OUT/$name/checkpoints/last.ckpt" ]; then
    OMP_NUM_THREADS=1 genjscc train deepjscc --out "$OUT/$name" --resume --steps "$STEPS" --max-time "$BUDGET" \
      --checkpoint-every 250 --accelerator cpu --devices 1 --no-progress >> "$OUT/$name.log" 2>&1
  else
    mkdir -p "$OUT"
    OMP_NUM_THREADS=1 genjscc train deepjscc --init "$init" --arch resgdn --width 96 --bcr "$bcr" --snr -2,14 --snr-adaptive \
      --data "photos+folder:$DEB@0.7" --crop-scale native --size 128 --batch-size 8 --lr 0.0003 --steps "$STEPS" \
      --checkpoint-every 250 --max-time "$BUDGET" --accelerator cpu --devices 1 --no-progress --out "$OUT/$name" \
      > "$OUT/$name.log" 2>&1
  fi
}
run deepjscc-bcr1_12 deepjscc-64-bcr1_12 1/12 & run deepjscc-bcr1_48 deepjscc-64-bcr1_48 1/48 & wait
