#!/bin/bash
# In-range comparison: GenerativeJSCC and DeepJSCC fine-tuned from the shipped DeepJSCC on the same
# prior samples (same seed, batch and iterations), one thread each.
set -e
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
STEPS=${STEPS:-200}
.venv/bin/genjscc train generative --prior stylegan2-photos64 --init-jscc deepjscc-64-bcr1_48 --data prior:stylegan2-photos64 --size 64 --bcr 1/48 --snr-range -5,10 --lpips-weight 0.05 --lr 5e-5 --head-lr 1e-3 --synthesis-lr 2e-4 --batch-size 16 --steps $STEPS --freeze-synthesis 50 --checkpoint-every 50 --sample-every 0 --log-every 10 --accelerator cpu --devices 1 --no-progress --out runs/generative-inrange
.venv/bin/genjscc train deepjscc --init deepjscc-64-bcr1_48 --arch resgdn --width 96 --snr-adaptive --data prior:stylegan2-photos64 --size 64 --bcr 1/48 --snr -5,10 --batch-size 16 --steps $STEPS --lr 5e-5 --checkpoint-every 50 --log-every 10 --accelerator cpu --devices 1 --no-progress --out runs/deepjscc-inrange
