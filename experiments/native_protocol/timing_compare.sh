#!/usr/bin/env bash
# LDPC cost before / after, one 768x512 image, interleaved point by point on one thread (fresh processes taking
# turns, so a busy machine slows both alike):
#
#   git worktree add /tmp/before 946082f       # the code before this work (any checkout of genjscc)
#   experiments/native_protocol/timing_compare.sh /tmp/before > results/native_protocol/timing-interleaved.json
#
# "old": the baseline checkout, mcs=best per batch (no select option there); "new": this tree, select=image.
set -euo pipefail
BASELINE=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
T=$ROOT/experiments/native_protocol/timing.py
TMP=$(mktemp -d)
i=0
for bcr in 1/12 1/48; do for snr in 1 4 7 10 13; do
  tag=$(echo "$bcr" | tr / _)_$snr
  if (( i % 2 == 0 )); then order="old new"; else order="new old"; fi
  for v in $order; do
    if [[ $v == old ]]; then (cd "$TMP" && PYTHONPATH=$BASELINE "$PY" "$T" --select batch --bcr "$bcr" --snr "$snr" \
        --threads 1 --out "$TMP/old_$tag.json" > /dev/null)
    else (cd "$TMP" && "$PY" "$T" --select image --bcr "$bcr" --snr "$snr" --threads 1 --out "$TMP/new_$tag.json" > /dev/null); fi
  done
  i=$((i + 1))
done; done
"$PY" - "$TMP" <<'PYEOF'
import json, sys
from pathlib import Path
tmp = Path(sys.argv[1])
rows = []
for bcr in ("1_12", "1_48"):
    for snr in (1, 4, 7, 10, 13):
        old, new = (json.loads((tmp / f"{v}_{bcr}_{snr}.json").read_text())["rows"][0] for v in ("old", "new"))
        assert old["psnr"] == new["psnr"], (old, new)  # the shortcuts change no outcome
        rows.append({"old": old, "new": new})
print(json.dumps(rows, indent=1))
PYEOF
rm -rf "$TMP"
