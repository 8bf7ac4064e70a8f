#!/usr/bin/env bash
# Ablation for the native-size DeepJSCC at equal CPU budget: every arm fine-tunes deepjscc-64-bcr1_12
# for the same wall time on one core (two arms at a time on a 2-core machine), then every arm is scored
# on whole held-out photographs at their own size (score.py).
#   DEB=~/genjscc-photos BUDGET=07:00 bash experiments/native_deepjscc/ablation.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DEB=${DEB:?set DEB to the folder written by genjscc fetch-photos}
BUDGET=${BUDGET:-07:00}
OUT=${OUT:-runs/ablation}
mkdir -p "$OUT"
common=(--init deepjscc-64-bcr1_12 --arch resgdn --width 96 --bcr 1/12 --snr -2,14 --snr-adaptive --lr 0.0003
        --steps 100000 --checkpoint-every 500 --max-time "$BUDGET" --accelerator cpu --devices 1 --no-progress)
arm() {  # name data crop-scale size batch
  local name=$1; shift
  [ -f "$OUT/$name/model.safetensors" ] && return 0
  OMP_NUM_THREADS=1 genjscc train deepjscc --data "$1" --crop-scale "$2" --size "$3" --batch-size "$4" \
    "${common[@]}" --out "$OUT/$name" > "$OUT/$name.log" 2>&1
}
export PATH="$PWD/.venv/bin:$PATH"
arm A-photos-downscaled-64 photos downscaled 64 32 & arm B-photos-native-128 photos native 128 8 & wait
arm C-photos+fetched-native-128 "photos+folder:$DEB@0.7" native 128 8 & arm D-photos+fetched-native-64 "photos+folder:$DEB@0.7" native 64 32 & wait
arm E-fetched+deadleaves-native-128 "deadleaves+folder:$DEB@0.7" native 128 8 & arm F-photos+fetched-downscaled-128 "photos+folder:$DEB@0.7" downscaled 128 8 & wait
python experiments/native_deepjscc/score.py deepjscc-64-bcr1_12 "$OUT"/*/model.safetensors --data "folder:$DEB" --snr 1,4,10 \
  | tee "$OUT/scores.jsonl"
