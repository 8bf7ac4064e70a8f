#!/bin/bash
# InverseJSCC's consistency test against issue 21's targets: for each BCR (BCRS, default "48 192") and
# SNR (SNRS, default "-5 0 5"), solve once per image and cache (benchmarks/inverse_decision_cache.py:
# the 64 calibration samples, the 93 held-out photo crops, the first 128 in-range test images; about
# 2 min per 16 images on one idle core, finished batches are kept and an interrupted run resumes), then
# run the scheme's own code on the cached solves (benchmarks/scheme_comparison.py --solves) for three
# rules: the default, the first soft weight (0.85 · P^(1/3), one band) and the earliest hard test
# (R, q 0.9). One JSON per data set, BCR and SNR: results/inverse/consistency_{photos,in_range}_B_S.json
# (S: m5, 0, 5). SOLVE=0 skips the solves (they must be cached); DATA="photos" compares one set only;
# PYTHON picks the interpreter.
#   bash benchmarks/inverse_consistency.sh
#   python benchmarks/inverse_consistency_table.py results/inverse/consistency_*.json   # the README table
set -e
cd "$(dirname "$0")/.."
export PYTHONPATH=${PYTHONPATH:-$PWD}
PYTHON=${PYTHON:-.venv/bin/python}
BCRS=${BCRS:-48 192}
SNRS=${SNRS:--5 0 5}
SOLVE=${SOLVE:-1}
DATA=${DATA:-photos in_range}
PRIOR=stylegan2-photos64
for bcr in $BCRS; do
  for snr in $SNRS; do
    jscc=deepjscc-64-bcr1_$bcr
    if [ "$SOLVE" = 1 ]; then
      $PYTHON benchmarks/inverse_decision_cache.py --jscc $jscc --prior $PRIOR --snr=$snr \
          --calibration 64 --photos 93 --in-range 128 --threads 1
    fi
    tag=${snr/-/m}
    for data in $DATA; do
      if [ $data = photos ]; then source=photos; limit=93; else source=prior:$PRIOR; limit=128; fi
      $PYTHON benchmarks/scheme_comparison.py --threads 1 --no-kid --solves runs/inverse-decision \
          --data $source --limit $limit --snr=$snr \
          --scheme "inverse jscc=$jscc prior=$PRIOR" \
          --scheme "inverse jscc=$jscc prior=$PRIOR consistency_blend=0.85 consistency_low_share=1" \
          --scheme "inverse jscc=$jscc prior=$PRIOR consistency_statistic=reencoding consistency_quantile=0.9 consistency_blend=1 consistency_low_share=1" \
          --out results/inverse/consistency_${data}_${bcr}_${tag}.json
    done
  done
done
