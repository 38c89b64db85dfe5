#!/usr/bin/env bash
# One short GPU burst that trains the bundled x4 weights (see the model cards):
#   1. a 150-step SFTMD probe measures steps/s on this GPU;
#   2. SFTMD (full architecture) for N steps, N sized to fill SFTMD_SECONDS, one cosine
#      period over the N steps;
#   3. in parallel: Predictor (PRED_SECONDS) then Corrector (CORR_SECONDS) with SFTMD
#      frozen; and SRMD noise-free and noise-aware for the same N steps, batch and patch
#      size as SFTMD (equal training budget), learning rate halved at N/2 and 3N/4.
# Usage: OUT=dir bash scripts/gpu_train_burst.sh   (HR images in $HR, default SunHays80)
set -u
T0=$(date +%s)
OUT=${OUT:-/tmp/burst_out}
HR=${HR:-.train_data/SunHays80}
SFTMD_SECONDS=${SFTMD_SECONDS:-200}
PRED_SECONDS=${PRED_SECONDS:-60}
CORR_SECONDS=${CORR_SECONDS:-120}
W=/tmp/burst
mkdir -p "$W" "$OUT"
export PYTHONUNBUFFERED=1
el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
python3 -m pip install -q --no-deps --no-build-isolation -e . >"$W/pip.log" 2>&1 \
  || { cat "$W/pip.log"; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
el "probe"
bsrbench train ikc --stage sftmd --hr "$HR" --out "$W/probe" --steps 150 --log-every 25 \
  --val-every 1000000 --save-every 1000000 >"$W/probe.log" 2>&1 || { tail -30 "$W/probe.log"; exit 1; }
RATE=$(python3 - "$W/probe/train_log.csv" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r.get("loss")]
a, b = rows[1], rows[-1]
print((int(b["step"]) - int(a["step"])) / (float(b["seconds"]) - float(a["seconds"])))
PY
)
N=$(python3 -c "print(int(float('$RATE') * $SFTMD_SECONDS) // 100 * 100)")
el "SFTMD rate $RATE steps/s -> N=$N steps"
bsrbench train ikc --stage sftmd --hr "$HR" --out "$W/sftmd" --steps "$N" --lr-period "$N" \
  --max-minutes $(( (SFTMD_SECONDS + 60) / 60 + 1 )) >"$W/sftmd.log" 2>&1 || tail -30 "$W/sftmd.log"
el "SFTMD done"; tail -3 "$W/sftmd.log"
M1=$(( N / 2 )); M2=$(( N * 3 / 4 ))
for v in srmdnf srmd; do
  noise=0; [ "$v" = srmd ] && noise=50
  bsrbench train srmd --hr "$HR" --out "$W/$v" --noise-max $noise --steps "$N" \
    --batch-size 32 --hr-size 256 --milestones "$M1,$M2" \
    --max-minutes $(( (PRED_SECONDS + CORR_SECONDS) / 60 + 1 )) >"$W/$v.log" 2>&1 &
done
bsrbench train ikc --stage predictor --hr "$HR" --out "$W/predictor" \
  --sftmd "$W/sftmd/sftmd_x4.safetensors" --steps 1000000 \
  --max-minutes $(python3 -c "print($PRED_SECONDS/60)") >"$W/predictor.log" 2>&1 || tail -30 "$W/predictor.log"
el "Predictor done"; tail -3 "$W/predictor.log"
bsrbench train ikc --stage corrector --hr "$HR" --out "$W/corrector" \
  --sftmd "$W/sftmd/sftmd_x4.safetensors" --predictor "$W/predictor/predictor_x4.safetensors" \
  --steps 1000000 --max-minutes $(python3 -c "print($CORR_SECONDS/60)") \
  >"$W/corrector.log" 2>&1 || tail -30 "$W/corrector.log"
el "Corrector done"; tail -3 "$W/corrector.log"
wait
el "SRMD done"; tail -3 "$W/srmdnf.log" "$W/srmd.log"
# bring back: SFTMD split in two (a returned file is capped at 16 MiB), the rest whole
python3 - "$W/sftmd/sftmd_x4.safetensors" "$OUT" <<'PY'
import sys
from safetensors.torch import load_file, save_file
from safetensors import safe_open
src, out = sys.argv[1], sys.argv[2]
meta = safe_open(src, "pt").metadata() or {}
state = load_file(src)
keys = list(state)
half = len(keys) // 2
for i, part in enumerate((keys[:half], keys[half:])):
    save_file({k: state[k] for k in part}, f"{out}/sftmd_x4.part{i}.safetensors", metadata=meta)
PY
cp "$W/sftmd/pca_x4.safetensors" "$W/predictor/predictor_x4.safetensors" \
   "$W/corrector/corrector_x4.safetensors" "$W/srmdnf/srmdnf_x4.safetensors" \
   "$W/srmd/srmd_x4.safetensors" "$OUT/" 2>&1
tar czf "$OUT/logs.tar.gz" -C "$W" --exclude='*.pt' --exclude='*.safetensors' \
  probe sftmd predictor corrector srmdnf srmd probe.log sftmd.log predictor.log \
  corrector.log srmdnf.log srmd.log 2>/dev/null
ls -la "$OUT"; el "burst finished"
