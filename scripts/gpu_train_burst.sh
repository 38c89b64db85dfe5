#!/usr/bin/env bash
# One short GPU burst that trains the bundled x4 weights (see the model cards):
#   1. a 150-step SFTMD probe measures steps/s on this GPU;
#   2. SFTMD (full architecture) for N steps, N sized to fill SFTMD_SECONDS, one cosine
#      period over the N steps;
#   3. in parallel: Predictor (PRED_SECONDS) then Corrector (CORR_SECONDS) with SFTMD
#      frozen; and SRMD noise-free and noise-aware for the same N steps, batch and patch
#      size as SFTMD (equal training budget), learning rate halved at N/2 and 3N/4.
# Usage: OUT=dir bash scripts/gpu_train_burst.sh   (HR images in $HR, default SunHays80)
# FINETUNE=1 continues the bundled weights instead of starting from scratch: every network
# starts from its bundled file (--init / --from-weights), so SFTMD and SRMD keep an equal
# budget (3,000 + N steps each); add the new steps to the model cards' tables.
set -u
T0=$(date +%s)
OUT=${OUT:-/tmp/burst_out}
HR=${HR:-.train_data/SunHays80}
SFTMD_SECONDS=${SFTMD_SECONDS:-200}
PRED_SECONDS=${PRED_SECONDS:-60}
CORR_SECONDS=${CORR_SECONDS:-120}
PROBE_STEPS=${PROBE_STEPS:-150}
IKC_EXTRA=${IKC_EXTRA:-}    # e.g. "--nf 8 --nb 1 --lr-size 16 --batch-size 2" for a CPU dry run
SRMD_EXTRA=${SRMD_EXTRA:-}
CORR_EXTRA=${CORR_EXTRA:-}  # e.g. "--corrector-data pool --amp --channels-last" (the CPU recipe)
IKC_W=plugins/ikc/bsrbench_ikc/weights SRMD_W=plugins/srmd/bsrbench_srmd/weights
INIT_S="" INIT_P="" INIT_C="" INIT_NF="" INIT_N=""
if [ "${FINETUNE:-0}" = 1 ]; then
  # --warmup: a fresh Adam's first steps at the full rate undo much of the training
  # (measured on the CPU: SFTMD validation 30.6 -> 20.1 dB after 5 steps without it)
  WU="--warmup ${WARMUP:-200}"
  INIT_S="--init $IKC_W/sftmd_x4.safetensors $WU" INIT_P="--init $IKC_W/predictor_x4.safetensors $WU"
  INIT_C="--init $IKC_W/corrector_x4.safetensors $WU"
  INIT_NF="--from-weights $SRMD_W/srmdnf_x4.safetensors $WU"
  INIT_N="--from-weights $SRMD_W/srmd_x4.safetensors $WU"
fi
W=/tmp/burst
mkdir -p "$W" "$OUT"
export PYTHONUNBUFFERED=1
el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
if ! command -v bsrbench >/dev/null; then
  python3 -m pip install -q --no-deps --no-build-isolation -e . >"$W/pip.log" 2>&1 \
    || { cat "$W/pip.log"; exit 1; }
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU"
collect() {  # copy what exists so far into $OUT (a killed run still returns it)
  if [ -f "$W/sftmd/sftmd_x4.safetensors" ] && [ ! -f "$OUT/sftmd_x4.part1.safetensors" ]; then
    # SFTMD split in two: a file coming back from the GPU machine is capped at 16 MiB
    python3 - "$W/sftmd/sftmd_x4.safetensors" "$OUT" <<'PY'
import sys
from safetensors import safe_open
from safetensors.torch import load_file, save_file
src, out = sys.argv[1], sys.argv[2]
meta = safe_open(src, "pt").metadata() or {}
state = load_file(src)
keys = list(state)
half = len(keys) // 2
for i, part in enumerate((keys[:half], keys[half:])):
    save_file({k: state[k] for k in part}, f"{out}/sftmd_x4.part{i}.safetensors", metadata=meta)
PY
  fi
  for f in sftmd/pca_x4 predictor/predictor_x4 corrector/corrector_x4 srmdnf/srmdnf_x4 srmd/srmd_x4; do
    [ -f "$W/$f.safetensors" ] && cp "$W/$f.safetensors" "$OUT/"
  done
  tar czf "$OUT/logs.tar.gz" -C "$W" --exclude='*.pt' --exclude='*.safetensors' \
    $(cd "$W" && ls -d probe sftmd predictor corrector srmdnf srmd ./*.log 2>/dev/null)
}
el "probe"
bsrbench train ikc --stage sftmd --hr "$HR" --out "$W/probe" --steps "$PROBE_STEPS" \
  --log-every $(( PROBE_STEPS / 6 )) --val-every 1000000 --save-every 1000000 $IKC_EXTRA >"$W/probe.log" 2>&1 || { tail -30 "$W/probe.log"; exit 1; }
RATE=$(python3 - "$W/probe/train_log.csv" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r.get("loss")]
a, b = rows[1], rows[-1]
print((int(b["step"]) - int(a["step"])) / (float(b["seconds"]) - float(a["seconds"])))
PY
)
N=$(python3 -c "n = int(float('$RATE') * $SFTMD_SECONDS); print(max(1, n // 100 * 100 if n > 1000 else n))")
el "SFTMD rate $RATE steps/s -> N=$N steps"
bsrbench train ikc --stage sftmd --hr "$HR" --out "$W/sftmd" --steps "$N" --lr-period "$N" $INIT_S \
  --max-minutes $(( (SFTMD_SECONDS + 60) / 60 + 1 )) $IKC_EXTRA >"$W/sftmd.log" 2>&1 || tail -30 "$W/sftmd.log"
collect; el "SFTMD done"; tail -n 3 "$W/sftmd.log"
M1=$(( N / 2 )); M2=$(( N * 3 / 4 ))
for v in srmdnf srmd; do
  noise=0 init=$INIT_NF; [ "$v" = srmd ] && noise=50 init=$INIT_N
  bsrbench train srmd --hr "$HR" --out "$W/$v" --noise-max $noise --steps "$N" \
    --batch-size 32 --hr-size 256 --milestones "$M1,$M2" $init \
    --max-minutes $(( (PRED_SECONDS + CORR_SECONDS) / 60 + 1 )) $SRMD_EXTRA >"$W/$v.log" 2>&1 &
done
bsrbench train ikc --stage predictor --hr "$HR" --out "$W/predictor" \
  --sftmd "$W/sftmd/sftmd_x4.safetensors" --steps 1000000 $INIT_P \
  --max-minutes $(python3 -c "print($PRED_SECONDS/60)") $IKC_EXTRA >"$W/predictor.log" 2>&1 || tail -30 "$W/predictor.log"
collect; el "Predictor done"; tail -n 3 "$W/predictor.log"
bsrbench train ikc --stage corrector --hr "$HR" --out "$W/corrector" \
  --sftmd "$W/sftmd/sftmd_x4.safetensors" --predictor "$W/predictor/predictor_x4.safetensors" \
  --steps 1000000 --max-minutes $(python3 -c "print($CORR_SECONDS/60)") $INIT_C $IKC_EXTRA $CORR_EXTRA \
  >"$W/corrector.log" 2>&1 || tail -30 "$W/corrector.log"
collect; el "Corrector done"; tail -n 3 "$W/corrector.log"
wait
el "SRMD done"; tail -n 3 "$W/srmdnf.log" "$W/srmd.log"
collect
ls -la "$OUT"; el "burst finished"
