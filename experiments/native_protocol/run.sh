#!/usr/bin/env bash
# The field's protocol at native size, one command: records, then the README tables.
#
#   experiments/native_protocol/run.sh                       # embedded held-out photos + fetched test split
#   DATA=folder:~/kodak experiments/native_protocol/run.sh    # any folder (its test/ split, else a hashed 10 %)
#
# Environment (defaults in brackets): DATA [photos,folder:$PHOTOS] with PHOTOS [/work/data/debian-photos,
# from `genjscc data fetch-photos DIR`], OUT [results/native_protocol], SNR [1,4,7,10,13], BCR
# [1/48,1/24,1/16,1/12], CODECS [webp,heif,jpeg2000,avif], LINKS [capacity,ldpc],
# DEEPJSCC [deepjscc-64-bcr1_12,deepjscc-64-bcr1_48: zoo names or weight files, "none" for none],
# THREADS [2]. The run resumes where it stopped (records already in OUT/records.jsonl are skipped).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
PHOTOS=${PHOTOS:-/work/data/debian-photos}
if [[ -z "${DATA:-}" ]]; then
  DATA=photos
  if [[ -d "$PHOTOS/test" ]]; then DATA="photos,folder:$PHOTOS"; else
    echo "note: $PHOTOS/test not found (genjscc data fetch-photos $PHOTOS); running on the embedded photos only" >&2
  fi
fi
OUT=${OUT:-results/native_protocol}
DEEPJSCC=${DEEPJSCC:-deepjscc-64-bcr1_12,deepjscc-64-bcr1_48}
"$PY" experiments/native_protocol/run.py --data "$DATA" --out "$OUT" \
  --snr "${SNR:-1,4,7,10,13}" --bcr "${BCR:-1/48,1/24,1/16,1/12}" --codecs "${CODECS:-webp,heif,jpeg2000,avif}" \
  --links "${LINKS:-capacity,ldpc}" --deepjscc "$DEEPJSCC" --threads "${THREADS:-2}"
MODELS="deepjscc-bcr1_12,deepjscc-bcr1_48,$DEEPJSCC"
[[ "$DEEPJSCC" == none ]] && MODELS="deepjscc-bcr1_12,deepjscc-bcr1_48"
for metric in psnr ms-ssim-db lpips-alex; do
  "$PY" experiments/native_protocol/table.py "$OUT/records.jsonl" --metric "$metric" --deepjscc "$MODELS" \
    > "$OUT/table-$metric.md"
done
cat "$OUT/table-psnr.md"
