#!/bin/bash
# GenerativeJSCC ablations at the budget of the in-range comparison (benchmarks/generative_in_range.sh,
# whose GenerativeJSCC run is the reference): synthesis from random weights instead of the prior,
# λ = 0 instead of 0.05, and an adversarial term on. Same data, seed, batch and iterations; one thread each.
# Then: python benchmarks/scheme_comparison.py --data prior:stylegan2-photos64 --limit 256 --snr=-5,0,5,10 \
#   --scheme runs/generative-inrange/model.safetensors --scheme runs/ablation-random-init/model.safetensors ...
set -e
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
STEPS=${STEPS:-200}
COMMON="--prior stylegan2-photos64 --init-jscc deepjscc-64-bcr1_48 --data prior:stylegan2-photos64 --size 64 --bcr 1/48
  --snr-range -5,10 --lr 5e-5 --head-lr 1e-3 --synthesis-lr 2e-4 --batch-size 16 --steps $STEPS --freeze-synthesis 50
  --checkpoint-every 50 --sample-every 0 --log-every 10 --accelerator cpu --devices 1 --no-progress"
.venv/bin/genjscc train generative $COMMON --lpips-weight 0.05 --no-prior-init --out runs/ablation-random-init
.venv/bin/genjscc train generative $COMMON --lpips-weight 0 --out runs/ablation-lambda0
.venv/bin/genjscc train generative $COMMON --lpips-weight 0.05 --adversarial-weight 0.05 --out runs/ablation-adversarial
