"""scripts/gpu_check.sh: its CPU half runs here (CI) and prints one table in which every
built-in method with weights ran, and IKC's throughput rows are there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_cpu_half_runs_every_method_and_prints_one_table(tmp_path):
    out = tmp_path / "check.json"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--quick",
                           "--cpu-only", "--json", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the CPU half only" in proc.stdout
    report = json.loads(out.read_text())
    assert report["cuda"] is False
    checks = {r["check"]: r for r in report["rows"]}
    for label in ("bicubic", "ikc", "sftmd+oracle", "srmd+oracle", "srmdnf+oracle"):
        row = checks[f"{label}: final PSNR (cpu)"]
        assert row["ok"] and row["detail"].startswith(("8 rows", "16 rows")), row
        assert row["check"] in proc.stdout  # the printed table has every row
    fp32, bf16 = checks["ikc t=2 fp32 (cpu)"], checks["ikc t=2 bf16 autocast (cpu)"]
    assert fp32["images_per_s"] > 0 and fp32["psnr_change_db"] == 0
    assert abs(bf16["psnr_change_db"]) < 1.0  # bf16 moves PSNR a little, not by dBs
    assert "batched is" in checks["ikc t=2 per-image loop (cpu)"]["detail"]
