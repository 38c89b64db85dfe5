"""The GPU path check of issue #21 (run it through ``scripts/gpu_check.sh``).

1. The CUDA tests (``pytest -k "(cuda or gpu) and not gpu_check"``: every test named
   for CUDA or the GPU, but not this script's own test), only where CUDA is available.
2. Every built-in method that has weights here (blind methods; each non-blind model with
   the ``oracle`` kernel) on a small Gaussian8 x4 set built from the embedded photographs,
   through the runner on ``cuda`` and on ``cpu``; the PSNR of every row (method, image,
   kernel, step) must agree within 0.01 dB.
3. IKC's throughput in LR images/s (``throughput.py``): fp32, bf16 and fp16 autocast (the
   mean PSNR change each causes against fp32), and the per-image loop of the official test
   script against the batched run (the speed-up batching gives).

Prints one table; exits 1 when a check fails. Without CUDA only the CPU half runs, and the
table says so. ``--quick`` (CI): one 48x48 HR crop, IKC steps=2, one repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PSNR_TOL = 0.01  # dB per row, cuda against cpu (issue #21)
ROOT = Path(__file__).resolve().parents[2]


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="CI size: 1 image, 48x48 crop, IKC steps=2, 1 repeat")
    p.add_argument("--images", type=int, default=4, help="embedded HR images (max 4)")
    p.add_argument("--crop", type=int, default=192, help="HR centre crop in pixels")
    p.add_argument("--steps", type=int, default=7, help="IKC steps (the official 7)")
    p.add_argument("--repeats", type=int, default=3, help="timed passes for throughput")
    p.add_argument("--cpu-only", action="store_true", help="skip CUDA even if present")
    p.add_argument("--json", type=Path, default=None, help="also write the table here")
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.crop, args.steps, args.repeats = 1, 48, 2, 1
    return args


def _cuda_tests() -> tuple[bool, str]:
    """Run the CUDA tests; (passed, pytest's summary line)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-k", "(cuda or gpu) and not gpu_check", "-p",
         "no:cacheprovider", "tests"], cwd=ROOT, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    return proc.returncode == 0, (lines[-1] if lines else proc.stderr.strip()[-200:])


def _dataset(reg: Any, work: Path, images: int, crop: int) -> Path:
    from bsrbench.datasets import resolve_dataset
    from bsrbench.images import embedded_images, write_png

    hr = work / "hr"
    hr.mkdir(parents=True, exist_ok=True)
    for image in embedded_images(crop)[:images]:
        write_png(hr / f"{image.name}.png", image.pixels)
    return resolve_dataset(reg, "gaussian8", hr=hr, scale=4, cache_dir=work / "datasets")


def _plans(reg: Any, steps: int) -> list[Any]:
    """Every blind method and every model (with oracle) that can run here at x4."""
    from bsrbench.compose import plan_method

    plans = []
    for name, spec in sorted(reg.methods.items()):
        if spec.needs_grad or (spec.weights_available and not spec.weights_available(4)):
            continue
        opts = {"steps": steps} if any(o.name == "steps" for o in spec.options) else {}
        plans.append(plan_method(reg, name, None, opts, 4))
    for name, spec in sorted(reg.models.items()):
        if name in reg.methods or (spec.weights_available and not spec.weights_available(4)):
            continue
        plans.append(plan_method(reg, name, "oracle", {}, 4))
    return plans


def _run_all(reg: Any, plans: list[Any], dataset: Path, out: Path, device: str
             ) -> dict[str, float]:
    """Run every plan on ``device`` into ``out``; seconds per method label."""
    from bsrbench.runner import RunConfig, run

    seconds = {}
    for plan in plans:
        t0 = time.perf_counter()
        run(RunConfig(plan=plan, dataset=dataset, out=out, device=device, quiet=True), reg)
        seconds[plan.label] = time.perf_counter() - t0
    return seconds


def _rows(results: Path) -> dict[tuple[str, ...], dict[str, str]]:
    from bsrbench.results import read_results

    return {(r["method"], r["image"], r["kernel_index"], r["step"]): r
            for r in read_results(results)}


def _compare(cpu: Path, cuda: Path | None, labels: list[str]) -> list[dict[str, Any]]:
    """One table row per method: mean PSNR per device, the largest per-row difference."""
    a = _rows(cpu)
    b = _rows(cuda) if cuda is not None else {}
    out = []
    for label in labels:
        mine = {k: r for k, r in a.items() if k[0] == label}
        errors = [r["error"] for r in mine.values() if r["error"]]
        finals = [float(r["psnr"]) for r in mine.values()
                  if not r["error"] and r["is_final"] == "True"]
        row: dict[str, Any] = {"check": f"{label}: final PSNR (cpu)", "value":
                               f"{sum(finals) / len(finals):.3f} dB" if finals else "-",
                               "detail": f"{len(mine)} rows", "ok": bool(mine) and not errors}
        if errors:
            row["detail"] = f"error: {errors[0][:60]}"
        if cuda is not None:
            diffs = [abs(float(r["psnr"]) - float(b[k]["psnr"])) if k in b and not r["error"]
                     and not b[k]["error"] else float("inf") for k, r in mine.items()]
            worst = max(diffs, default=float("inf"))
            row["detail"] += f"; cuda vs cpu max |dPSNR| {worst:.4f} dB"
            row["ok"] = row["ok"] and worst <= PSNR_TOL
        out.append(row)
    return out


def _speed_rows(reg: Any, dataset: Path, devices: list[str], steps: int,
                repeats: int) -> list[dict[str, Any]]:
    from throughput import measure, variants

    from bsrbench.compose import plan_method
    from bsrbench.datasets import TestSet
    from bsrbench.scoring import Scorer, select_metrics

    if "ikc" not in reg.methods or not reg.methods["ikc"].weights_available(4):
        return [{"check": "ikc throughput", "value": "-", "detail": "no IKC x4 weights",
                 "ok": True}]
    scorer = Scorer(select_metrics(reg, ("psnr",)), convention="matlab-y", scale=4)
    plan = plan_method(reg, "ikc", None, {"steps": steps}, 4)
    with TestSet(dataset) as ts:
        images = [ts.image(n) for n in ts.names]
    out = []
    for device in devices:
        method = plan.build(4, device)
        base = measure(method, images, scorer, device, "fp32", repeats)
        out.append(_speed(base, base, steps))
        for variant in variants(device)[1:]:
            out.append(_speed(measure(method, images, scorer, device, variant, repeats),
                              base, steps))
        loop = measure(method, images, scorer, device, "per-image loop", 1)
        row = _speed(loop, base, steps)
        row["detail"] += f"; batched is {base.images_per_s / loop.images_per_s:.2f}x faster"
        out.append(row)
    return out


def _speed(s: Any, base: Any, steps: int) -> dict[str, Any]:
    delta = s.psnr - base.psnr
    return {"check": f"ikc t={steps} {s.variant} ({s.device})",
            "value": f"{s.images_per_s:.2f} LR img/s",
            "detail": f"mean PSNR {s.psnr:.3f} dB ({delta:+.4f} vs fp32)",
            "ok": True, "psnr_change_db": delta, "images_per_s": s.images_per_s}


def _table(rows: list[dict[str, Any]]) -> str:
    w1 = max(len(r["check"]) for r in rows)
    w2 = max(len(r["value"]) for r in rows)
    lines = [f"{'check':<{w1}}  {'value':<{w2}}  ok    detail", "-" * (w1 + w2 + 40)]
    for r in rows:
        lines.append(f"{r['check']:<{w1}}  {r['value']:<{w2}}  "
                     f"{'yes' if r['ok'] else 'NO ':<4}  {r['detail']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    import torch

    from bsrbench.registry import load_registry

    t0 = time.perf_counter()
    cuda = torch.cuda.is_available() and not args.cpu_only
    devices = ["cuda", "cpu"] if cuda else ["cpu"]
    rows: list[dict[str, Any]] = []
    if cuda:
        ok, line = _cuda_tests()
        rows.append({"check": "CUDA tests (pytest -k cuda/gpu)", "value": "",
                     "detail": line, "ok": ok})
    reg = load_registry()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dataset = _dataset(reg, work, args.images, args.crop)
        plans = _plans(reg, args.steps)
        timing = {d: _run_all(reg, plans, dataset, work / d, d) for d in devices}
        rows += _compare(work / "cpu" / "results.csv",
                         work / "cuda" / "results.csv" if cuda else None,
                         [p.label for p in plans])
        for row, plan in zip(rows[-len(plans):], plans, strict=True):
            row["detail"] += "; " + ", ".join(f"{d} {timing[d][plan.label]:.1f} s"
                                              for d in devices)
        rows += _speed_rows(reg, dataset, devices, args.steps, args.repeats)
    head = (f"bsrbench GPU check: torch {torch.__version__}, "
            + (f"CUDA {torch.cuda.get_device_name(0)}" if cuda else
               "no CUDA here: the CPU half only (the cuda comparison and CUDA tests need a "
               "GPU)")
            + f"; {args.images} HR image(s) cropped to {args.crop}, Gaussian8 x4, "
            f"threads {torch.get_num_threads()}")
    print(head)
    print(_table(rows))
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps({"header": head, "rows": rows,
                                         "cuda": cuda, "env": {
                                             "OMP_NUM_THREADS": os.environ.get(
                                                 "OMP_NUM_THREADS")}}, indent=2))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
