#!/bin/bash
# The test of GenerativeJSCC's mechanism (issue 20): in range (images sampled from stylegan2-photos64,
# where the prior is exact), at one BCR, arms trained on the same prior samples (same seed, batch and
# stream) from the shipped DeepJSCC of that BCR:
#   synthesis   synthesis decoder, synthesis from the prior; LATENT_STEPS iterations on the latent term
#               alone, then end to end with MSE + 0.05 LPIPS-VGG (+ the latent term)
#   random      the same recipe with random synthesis weights (--no-prior-init)
#   deepjscc    DeepJSCC fine-tuned with MSE on the same images for the same number of iterations
#   residual    (ARMS="... residual") the residual decoder, at its own (smaller, costlier per image) budget: RES_STEPS x 16
# then the paired comparison on the 256 in-range test images (AWGN, -5/0/5/10 dB; KID for DeepJSCC and
# the synthesis decoder).  BCR=48 or BCR=192; an interrupted arm resumes, a finished one is kept;
# ARMS="deepjscc residual" trains only those arms, COMPARE=0 skips the comparison.
#   BCR=48 bash benchmarks/generative_in_range.sh && BCR=192 STEPS=650 LATENT_STEPS=550 bash benchmarks/generative_in_range.sh
#   (the table: python benchmarks/generative_in_range_table.py results/generative/in_range-1_48.json --kid ...-kid.json)
set -e
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
BCR=${BCR:-48}
STEPS=${STEPS:-1150}
LATENT_STEPS=${LATENT_STEPS:-1000}
BATCH=${BATCH:-32}
RES_STEPS=${RES_STEPS:-200}
ARMS=${ARMS:-synthesis random deepjscc}
COMPARE=${COMPARE:-1}
GENJSCC=${GENJSCC:-.venv/bin/genjscc}
JSCC=deepjscc-64-bcr1_$BCR
RUNS=runs/inrange-1_$BCR
DATA=prior:stylegan2-photos64
mkdir -p "$RUNS/models"

train() {  # train KIND ARM ARGS...: resume an interrupted run, keep a finished one
  local kind=$1 arm=$2; shift 2
  local out=$RUNS/$arm
  [[ " $ARMS " == *" $arm "* ]] || return 0
  if [ ! -f "$RUNS/models/$arm.safetensors" ]; then
    local resume=""
    [ -f "$out/checkpoints/last.ckpt" ] && resume="--resume"
    $GENJSCC train "$kind" "$@" --checkpoint-every 50 --log-every 25 --accelerator cpu --devices 1 --no-progress \
      --out "$out" $resume
    cp "$out/model.safetensors" "$RUNS/models/$arm.safetensors"
  fi
}

SYNTH="--decoder synthesis --prior stylegan2-photos64 --init-jscc $JSCC --data $DATA --size 64 --bcr 1/$BCR
  --snr-range -5,10 --latent-weight 1 --latent-steps $LATENT_STEPS --lpips-weight 0.05 --lr 3e-4 --head-lr 1e-3
  --synthesis-lr 5e-5 --freeze-synthesis $LATENT_STEPS --batch-size $BATCH --steps $STEPS --sample-every 0"
train generative synthesis $SYNTH
train generative random $SYNTH --no-prior-init
train deepjscc deepjscc --init $JSCC --arch resgdn --width 96 --snr-adaptive --data $DATA --size 64 --bcr 1/$BCR \
  --snr -5,10 --batch-size $BATCH --steps $STEPS --lr 5e-5
train generative residual --prior stylegan2-photos64 --init-jscc $JSCC --data $DATA --size 64 --bcr 1/$BCR \
  --snr-range -5,10 --lpips-weight 0.05 --lr 5e-5 --head-lr 1e-3 --synthesis-lr 2e-4 --batch-size 16 \
  --steps $RES_STEPS --freeze-synthesis 50 --sample-every 0

[ "$COMPARE" = 1 ] || exit 0
M=$RUNS/models
COMPARE=".venv/bin/python benchmarks/scheme_comparison.py --data $DATA --snr=-5,0,5,10 --batch-size 64 --threads $OMP_NUM_THREADS"
$COMPARE --scheme $M/deepjscc.safetensors --scheme $M/synthesis.safetensors --out results/generative/in_range-1_$BCR-kid.json
SCHEMES=""
for arm in deepjscc synthesis random residual; do
  [ -f "$M/$arm.safetensors" ] && SCHEMES="$SCHEMES --scheme $M/$arm.safetensors"
done
$COMPARE --no-kid $SCHEMES --scheme $JSCC --out results/generative/in_range-1_$BCR.json
.venv/bin/python benchmarks/generative_in_range_table.py results/generative/in_range-1_$BCR.json --kid results/generative/in_range-1_$BCR-kid.json
