"""The runner: one method on one test set, scored step by step, resumable.

For each HR image the LR images (the 8 kernels of Gaussian8) go through the method as one
batch on the run's device. Every step the method yields is scored by the runner with the
dataset's HR image, so plugins never compute metrics. A method that raises on one image
yields error rows for it and the run goes on.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.compose import MethodPlan
from bsrbench.datasets import DatasetImage, TestSet
from bsrbench.errors import InputError
from bsrbench.progress import Progress
from bsrbench.results import ResultsFile, row_key

if TYPE_CHECKING:
    from bsrbench.registry import Registry

__all__ = ["RunConfig", "RunSummary", "run"]

log = logging.getLogger("bsrbench")


@dataclass(frozen=True)
class RunConfig:
    """One run: a method plan on one test-set file, into one output directory."""

    plan: MethodPlan
    dataset: Path  # the HDF5 test set
    out: Path  # run directory: results.csv, run.json
    device: str = "cpu"  # resolved device string
    weights: Path | None = None  # --weights, the method's or model's (None: bundled)
    kernel_weights: Path | None = None  # --kernel-weights, the estimator's (None: bundled)
    convention: str = "matlab-y"  # metric convention
    batch_size: int = 8  # LR images per forward pass
    command: str = ""  # the command line, recorded in run.json
    quiet: bool = False
    save_images: bool = False  # write HR, LR, SR of every step and kernels under out/images


def image_dir(out: Path, kind: str, dataset_label: str, scale: int, method: str = "") -> Path:
    """Where ``--save-images`` puts files: ``images/<kind>/[<method>/]<dataset>_x<scale>``.

    kinds: ``hr`` (``<image>.png``), ``lr`` and ``gt_kernel`` (``<image>_k<i>.png``, plus
    ``.npy`` for kernels), ``sr`` and ``kernel`` (``<image>_k<i>_s<step>.png``/``.npy``).
    """
    ds = f"{dataset_label.replace('/', '_')}_x{scale}"
    return out / "images" / kind / method / ds if method else out / "images" / kind / ds


@dataclass
class RunSummary:
    """What a run did: rows written now, rows kept from before, failed LR images."""

    rows: int = 0
    resumed_rows: int = 0
    failed: int = 0
    skipped: int = 0
    results: Path = field(default_factory=Path)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _weights_sha256(cfg: RunConfig) -> dict[str, str]:
    """sha256 of the weights a run uses, per part: the files given with --weights (the
    method's or model's) and --kernel-weights (the estimator's), or, for a part given
    none, the pins of its plugin's bundled ``weights/sha256.json`` (the convention for
    bundled weights)."""
    import sys

    from bsrbench.weights import PINS_FILE, file_sha256

    plan = cfg.plan
    out: dict[str, str] = {}
    parts = ((plan.method, cfg.weights), (plan.model, cfg.weights),
             (plan.estimator, cfg.kernel_weights))
    for spec, given in parts:
        if spec is None:
            continue
        if given is not None:
            files = [given] if given.is_file() else sorted(
                p for p in given.iterdir() if p.suffix in {".pth", ".pt", ".safetensors"})
            out.update({str(p): file_sha256(p) for p in files})
            continue
        module = sys.modules.get(getattr(spec.factory, "__module__", ""))
        if module is None or not getattr(module, "__file__", None):
            continue
        pins = Path(module.__file__).resolve().parent / "weights" / PINS_FILE
        if pins.is_file():
            for name, digest in json.loads(pins.read_text()).items():
                out[f"{module.__name__}/weights/{name}"] = digest
    return out


def _run_metadata(cfg: RunConfig, registry: Registry, ts: TestSet) -> dict[str, Any]:
    import torch

    from bsrbench import __version__

    plan = cfg.plan
    return {
        "bsrbench_version": __version__,
        "plugins": [{"name": p.name, "distribution": p.distribution, "version": p.version,
                     "error": p.error} for p in registry.plugins],
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": cfg.device,
        "git_commit": _git_commit(),
        "command": cfg.command,
        "method": plan.label,
        "model": plan.model.name if plan.model else None,
        "estimator": plan.estimator.name if plan.estimator else None,
        "upper_bound": plan.uses_ground_truth,
        "kernel_conversion": plan.model.kernel_conversion if plan.model else None,
        "options": {k: dict(v) for k, v in plan.options.items()},
        "weights": str(cfg.weights) if cfg.weights else "bundled",
        "kernel_weights": (str(cfg.kernel_weights) if cfg.kernel_weights else "bundled")
        if plan.estimator else None,
        "weights_sha256": _weights_sha256(cfg),
        "convention": cfg.convention,
        "dataset": {"file": str(cfg.dataset), "label": ts.label,
                    "content_hash": ts.content_hash, **ts.attrs},
    }


def _write_run_json(cfg: RunConfig, meta: Mapping[str, Any]) -> None:
    """Record this run in run.json (a list of runs: a resumed run appends itself)."""
    path = cfg.out / "run.json"
    runs: list[Any] = []
    if path.is_file():
        try:
            loaded = json.loads(path.read_text())
            runs = loaded.get("runs", []) if isinstance(loaded, dict) else []
        except json.JSONDecodeError:
            runs = []
    runs.append(dict(meta))
    _write_runs(path, runs)


def _settings(meta: Mapping[str, Any]) -> dict[str, Any]:
    """What must not change when a run resumes into the same --out (weights by hash)."""
    return {
        "test set content": (meta.get("dataset") or {}).get("content_hash"),
        "metric convention": meta.get("convention"),
        "options": meta.get("options"),
        "weights": sorted((meta.get("weights_sha256") or {}).values()),
    }


def _check_same_settings(cfg: RunConfig, meta: Mapping[str, Any]) -> None:
    """Refuse to resume rows made with other settings under the same method and dataset
    label (other noise, downsampler, HR folder of the same name, weights, options...):
    their images would be skipped as done and the old numbers reported as new."""
    path = cfg.out / "run.json"
    try:
        runs = json.loads(path.read_text()).get("runs", []) if path.is_file() else []
    except (json.JSONDecodeError, AttributeError):
        return
    def same_rows(m: Mapping[str, Any]) -> tuple[Any, ...]:  # what results.csv keys on
        ds = m.get("dataset") or {}
        return m.get("method"), ds.get("label"), ds.get("scale")

    mine = _settings(meta)
    for old in runs:
        if not isinstance(old, dict) or same_rows(old) != same_rows(meta):
            continue
        theirs = _settings(old)
        changed = [k for k in mine if theirs[k] not in (None, []) and theirs[k] != mine[k]]
        if changed:
            method, label, scale = same_rows(meta)
            raise InputError(
                f"{cfg.out} already has {method} on {label} x{scale} made with other "
                f"{', '.join(changed)}: pass another --out, or delete {cfg.out} to start over")


def _write_runs(path: Path, runs: list[Any]) -> None:
    """Replace run.json in one step: a full disk never leaves it truncated (and with it the
    record of every earlier run)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"runs": runs}, indent=2, default=str))
    os.replace(tmp, path)


def _to_device_batch(image: DatasetImage, idx: list[int], device: str) -> tuple[Any, Any, Any]:
    import torch

    lr = torch.from_numpy(image.lr[idx].copy()).permute(0, 3, 1, 2).float().div(255).to(device)
    kernels = None if image.kernels is None else torch.from_numpy(image.kernels[idx]).to(device)
    noise = torch.from_numpy(image.params[idx, 3]).float().to(device)
    return lr, kernels, noise


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _score_chunk(cfg: RunConfig, runnable: Any, ts: TestSet, image: DatasetImage,
                 idx: list[int]) -> list[dict[str, Any]]:
    """Run the method on LR images ``idx`` of ``image``; return rows for every step."""
    import torch

    from bsrbench.interfaces import LRBatch
    from bsrbench.kernels import kernel_psnr, resize_kernel
    from bsrbench.metrics import score

    scale = ts.settings.scale
    lr, gt_kernels, noise = _to_device_batch(image, idx, cfg.device)
    batch = LRBatch(lr=lr, scale=scale, noise=noise if bool((noise > 0).any()) else None,
                    kernels=gt_kernels if cfg.plan.uses_ground_truth else None)
    hr = torch.from_numpy(image.hr.copy()).permute(2, 0, 1)[None].to(cfg.device)
    want = (len(idx), 3, hr.shape[-2], hr.shape[-1])
    encode = getattr(runnable, "encode_kernel", None)
    gt_codes = None
    rows: list[dict[str, Any]] = []
    elapsed = 0.0
    steps = runnable.run(batch)
    step_i = 0
    while True:
        t0 = time.perf_counter()
        with torch.inference_mode():
            step = next(steps, None)
        _sync(cfg.device)
        elapsed += time.perf_counter() - t0
        if step is None:
            break
        if tuple(step.sr.shape) != want:
            raise InputError(f"method returned SR of shape {tuple(step.sr.shape)}, "
                             f"expected {want}")
        with torch.inference_mode():
            m = score(step.sr.float().clamp(0, 1), hr, scale=scale, convention=cfg.convention)
            kpsnr = code_l2 = None
            if step.kernel is not None and gt_kernels is not None:
                est = step.kernel.float()
                if est.shape[-1] != gt_kernels.shape[-1]:
                    est = resize_kernel(est, gt_kernels.shape[-1])
                kpsnr = kernel_psnr(est, gt_kernels).tolist()
                if step.code is not None and encode is not None:
                    if gt_codes is None:
                        gt_codes = encode(gt_kernels)
                    code_l2 = (step.code.float() - gt_codes.float()).norm(dim=1).tolist()
        psnr, ssim = m["psnr"].tolist(), m["ssim"].tolist()
        if cfg.save_images:
            _save_step(cfg, ts, image, idx, step_i, step)
        for j, k in enumerate(idx):
            rows.append({
                "step": step_i, "is_final": False, "kernel_index": k,
                "psnr": psnr[j], "ssim": ssim[j],
                "kernel_psnr": kpsnr[j] if kpsnr else None,
                "code_l2": code_l2[j] if code_l2 else None,
                "seconds": elapsed / len(idx),
            })
        step_i += 1
    if not rows:
        raise InputError("method yielded no steps")
    for row in rows[-len(idx):]:
        row["is_final"] = True
    return rows


def _save_step(cfg: RunConfig, ts: TestSet, image: DatasetImage, idx: list[int], step_i: int,
               step: Any) -> None:
    import numpy as np

    from bsrbench.apply import kernel_to_image
    from bsrbench.images import write_png
    from bsrbench.metrics import quantize

    s, label = ts.settings, cfg.plan.label
    if step_i == 0:
        write_png(image_dir(cfg.out, "hr", ts.label, s.scale) / f"{image.name}.png", image.hr)
        for k in idx:
            stem = f"{image.name}_k{k}"
            write_png(image_dir(cfg.out, "lr", ts.label, s.scale) / f"{stem}.png", image.lr[k])
            if image.kernels is not None:
                gdir = image_dir(cfg.out, "gt_kernel", ts.label, s.scale)
                write_png(gdir / f"{stem}.png", kernel_to_image(_as_tensor(image.kernels[k])))
                np.save(gdir / f"{stem}.npy", image.kernels[k])
    sr = quantize(step.sr.float().clamp(0, 1)).permute(0, 2, 3, 1).cpu().numpy()
    for j, k in enumerate(idx):
        stem = f"{image.name}_k{k}_s{step_i}"
        write_png(image_dir(cfg.out, "sr", ts.label, s.scale, label) / f"{stem}.png", sr[j])
        if step.kernel is not None:
            kdir = image_dir(cfg.out, "kernel", ts.label, s.scale, label)
            write_png(kdir / f"{stem}.png", kernel_to_image(step.kernel[j]))
            np.save(kdir / f"{stem}.npy", step.kernel[j].float().cpu().numpy())


def _as_tensor(arr: Any) -> Any:
    import torch

    return torch.from_numpy(arr.copy())


def run(cfg: RunConfig, registry: Registry) -> RunSummary:
    """Run ``cfg`` and append its rows to ``cfg.out/results.csv``.

    Already finished LR images (same method, dataset, scale, image and kernel) are skipped,
    so rerunning the same command resumes. Returns a :class:`RunSummary`; failed images
    have rows with ``error`` filled.
    """
    from bsrbench.metrics import CONVENTIONS

    if cfg.convention not in CONVENTIONS:
        raise InputError(f"unknown metric convention {cfg.convention!r}: "
                         f"use one of {', '.join(CONVENTIONS)}")
    if cfg.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {cfg.batch_size}")
    cfg.out.mkdir(parents=True, exist_ok=True)
    results = ResultsFile(cfg.out / "results.csv")
    summary = RunSummary(resumed_rows=results.kept, results=results.path)
    plan = cfg.plan
    with TestSet(cfg.dataset) as ts:
        s = ts.settings
        if plan.uses_ground_truth and s.protocol == "bicubic":
            raise InputError("the oracle estimator needs ground-truth kernels and protocol "
                             "'bicubic' has none: use a blurred protocol such as gaussian8")
        base = {"method": plan.label, "dataset": ts.label, "scale": s.scale,
                "model": plan.model.name if plan.model else plan.label,
                "estimator": plan.estimator.name if plan.estimator else "",
                "upper_bound": plan.uses_ground_truth, "downsampler": s.downsampler,
                "convention": cfg.convention}
        meta = _run_metadata(cfg, registry, ts)
        _check_same_settings(cfg, meta)
        meta["started"] = datetime.now(UTC).isoformat(timespec="seconds")
        _write_run_json(cfg, meta)
        runnable = None
        with Progress(ts.n_lr, f"{plan.label} on {ts.label} x{s.scale}",
                      unit="LR", quiet=cfg.quiet) as bar:
            for name in ts.names:
                image = ts.image(name)
                n = image.lr.shape[0]
                todo = [k for k in range(n) if row_key({**base, "image": name,
                                                        "kernel_index": k}) not in results.done]
                bar.update(n - len(todo))
                summary.skipped += n - len(todo)
                for start in range(0, len(todo), cfg.batch_size):
                    idx = todo[start:start + cfg.batch_size]
                    if runnable is None:
                        runnable = plan.build(s.scale, cfg.device, cfg.weights, cfg.kernel_weights)
                    try:
                        rows = _score_chunk(cfg, runnable, ts, image, idx)
                    except Exception as exc:  # one image failing must not stop the run
                        msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
                        log.error("%s failed on %s: %s", plan.label, name, msg)
                        rows = [{"step": 0, "is_final": True, "kernel_index": k, "error": msg}
                                for k in idx]
                        summary.failed += len(idx)
                    for row in rows:
                        k = row["kernel_index"]
                        p = image.params[k]
                        row.update(base, image=name, sigma=p[0], sigma2=p[1], theta=p[2],
                                   noise=p[3])
                    results.append(rows)
                    summary.rows += len(rows)
                    bar.update(len(idx))
    meta["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    meta["failed_lr_images"] = summary.failed
    runs = json.loads((cfg.out / "run.json").read_text())["runs"]
    runs[-1] = meta
    _write_runs(cfg.out / "run.json", runs)
    return summary
