#!/usr/bin/env bash
# One GPU session: train the default StyleGAN2 prior (photos, 64x64) for a fixed wall time,
# check the generator's fp32 vs mixed-precision outputs, and pack everything into $OUT.
# Run from the repository root on a machine with CUDA torch, lightning, safetensors, scikit-image,
# scikit-learn, typer and rich installed (no network needed):
#     OUT=/tmp/out MAX_TIME=00:00:07:00 bash benchmarks/gpu_train_prior.sh
# Resume a previous run: put its last.ckpt at $RUN/checkpoints/last.ckpt and its run.json in $RUN, set RESUME=1.
set -euo pipefail
OUT=${OUT:-/tmp/out}
RUN=${RUN:-runs/stylegan2-photos64}
MAX_TIME=${MAX_TIME:-00:00:07:00}
WORKERS=${WORKERS:-12}
mkdir -p "$OUT" /tmp/carry
export PYTHONPATH="$PWD:/tmp/carry"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, 'cuda', torch.cuda.is_available())"
# Inception for KID (carried compactly: see benchmarks/unpack_inception.py)
if [ -d .carry/inception ]; then python3 benchmarks/unpack_inception.py .carry/inception /tmp/carry; fi

RESUME_FLAG=""
if [ "${RESUME:-0}" = "1" ]; then RESUME_FLAG="--resume"; fi
COMPILE_FLAG=""
if [ "${COMPILE:-0}" = "1" ]; then COMPILE_FLAG="--compile"; fi
start=$(date +%s)
python3 -m genjscc train stylegan2 --data photos --size 64 --batch-size 64 --steps 1000000 --max-time "$MAX_TIME" \
  --z-dim 256 --w-dim 256 --mapping-layers 4 --channel-base 8192 --channel-max 128 \
  --lr 0.0025 --r1-gamma 0.02 --r1-every 16 --ema-kimg 10 --augment color,translation,cutout \
  --pool 50000 --workers "$WORKERS" --sample-every 1000 --kid-every 1500 --kid-images 1000 \
  --checkpoint-every 2000 --log-every 100 --out "$RUN" $RESUME_FLAG $COMPILE_FLAG > "$OUT/train.log" 2>&1 || { tail -50 "$OUT/train.log"; exit 1; }
end=$(date +%s)
echo "training command wall time: $((end - start)) s"
tail -5 "$OUT/train.log"
cat "$RUN/kid.jsonl" || true

# correctness + speed of the trained generator on this GPU
python3 benchmarks/stylegan2_gpu_check.py "$RUN/model.safetensors" > "$OUT/gpu_check.txt" 2>&1 || true
cat "$OUT/gpu_check.txt"

# what comes back: weights, a tar of the small files, the Lightning checkpoint in <16 MiB parts
cp "$RUN/model.safetensors" "$OUT/"
[ "${COPY_BEST:-1}" = "1" ] && [ -f "$RUN/best.safetensors" ] && cp "$RUN/best.safetensors" "$OUT/"
tar czf "$OUT/run_small.tgz" -C "$RUN" run.json model.json model.md kid.jsonl samples logs/metrics.csv \
  $( [ -f "$RUN/best.json" ] && echo best.json ) 2>/dev/null || true
split -b 15M "$RUN/checkpoints/last.ckpt" "$OUT/last.ckpt.part."
ls -la "$OUT"
