#!/usr/bin/env bash
# The GPU path, proven by one script (issue #21), in under 5 minutes on one GPU:
#   1. the CUDA tests (pytest -k "(cuda or gpu) and not gpu_check"), where there is CUDA;
#   2. every built-in method with weights here (blind methods, and each non-blind model
#      with the oracle kernel) on a small Gaussian8 x4 set, on cuda and on cpu, PSNR
#      compared per row (within 0.01 dB);
#   3. IKC's throughput (LR images/s at the default steps, 7) with fp32 and with bf16 and
#      fp16 autocast, the mean PSNR change each causes, and the batched run against a
#      per-image loop written as the official test script runs (batch 1, autograd on);
# then prints one table (and writes it as JSON with --json FILE).
# Without CUDA it runs its CPU half and says so; CI runs that half with --quick.
# Usage: bash scripts/gpu_check.sh [--quick] [--images N] [--crop PX] [--steps N]
#                                  [--repeats N] [--json FILE] [--cpu-only]
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" scripts/gpu_check/check.py "$@"
