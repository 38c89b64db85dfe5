"""The runner: one method on one test set, scored step by step, resumable.

For each HR image the LR images (the 8 kernels of Gaussian8) go through the method in
batches on the run's device. Every step the method yields is scored here with every
selected metric, so plugins never compute metrics. A method that raises on one image gets
error rows for it and the run goes on.

The runner owns the execution context: the exact-math switches, and the grad mode of
every step (``torch.inference_mode()``, or autograd for parts that declare
``needs_grad``). It is also the only place that decides what a method may see: the
ground-truth kernels reach only parts that declare ``uses_ground_truth``, the true noise
level only parts that declare ``uses_noise_level`` (their rows get ``noise_known``).

Memory: with ``tile`` the parts that declare a receptive field run on LR tiles
(:mod:`bsrbench.tiling`). When a chunk fails for lack of memory (CUDA out of memory, the
CPU allocator, a ``MemoryError``, or an estimate over ``max_memory_mb``), the runner
retries it with half the batch, down to one LR image, then with ever smaller tiles, and
records in each row's ``fallback`` column what it changed; later chunks of the same LR
size start from what worked.

Nothing in the run folder changes until everything that can be checked up front has
been: the test set, the settings against the folder's earlier runs, the metrics, and the
method itself (weights loaded). Stored results are read and written only through
:mod:`bsrbench.results`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.batching import AUTO, Batcher
from bsrbench.compose import MethodPlan, grad_mode
from bsrbench.datasets import DatasetImage, TestSet
from bsrbench.errors import InputError
from bsrbench.progress import Progress
from bsrbench.results import (
    ResultsFile,
    RunLog,
    image_dir,
    lr_stem,
    new_run_id,
    row_key,
    step_stem,
)
from bsrbench.run_record import run_metadata
from bsrbench.scoring import Scorer, kernel_errors, select_metrics
from bsrbench.tiling import (
    Fit,
    Tiling,
    check_memory,
    free_memory,
    is_out_of_memory,
    set_tiling,
    tileable_parts,
    untiled_note,
)

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
    # LR images per forward pass: a number, or "auto" (chosen per LR size from measured
    # time per image: bsrbench.batching)
    batch_size: int | str = AUTO
    command: str = ""  # the command line, recorded in run.json
    quiet: bool = False
    save_images: bool = False  # write HR, LR, SR of every step and kernels under out/images
    metrics: tuple[str, ...] | None = None  # --metrics; None: every default metric
    tile: int | None = None  # --tile: LR tile side for parts with a receptive field
    tile_overlap: int | None = None  # --tile-overlap; None: each part's receptive field
    # CPU memory cap: a chunk whose parts' memory estimate exceeds it is treated as out of
    # memory before it runs (the fallback then shrinks it); None: no cap
    max_memory_mb: float | None = None
    # a subset of the test set's HR images, by name, in the test set's order (an executor
    # shards a test set this way); None: every image
    images: tuple[str, ...] | None = None

    @property
    def tiling(self) -> Tiling | None:
        """The tiling asked for (validated), or None."""
        if self.tile is None:
            if self.tile_overlap is not None:
                raise InputError("--tile-overlap needs --tile SIZE")
            return None
        return Tiling(self.tile, self.tile_overlap)


@dataclass
class RunSummary:
    """What a run did: rows written now, rows kept from before, failed LR images."""

    rows: int = 0
    resumed_rows: int = 0
    failed: int = 0
    skipped: int = 0  # LR images already done (resumed), not recomputed
    invalid: int = 0  # rows of results.csv that did not parse and were recomputed
    results: Path = field(default_factory=Path)


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


def _score_chunk(cfg: RunConfig, runnable: Any, scorer: Scorer, ts: TestSet,
                 image: DatasetImage, idx: list[int],
                 on_step: Any = None) -> tuple[list[dict[str, Any]], bool]:
    """Run the method on LR images ``idx`` of ``image``; return rows for every step and
    whether the true noise level reached the method."""
    import torch

    from bsrbench.interfaces import LRBatch

    plan = cfg.plan
    scale = ts.settings.scale
    lr, gt_kernels, noise = _to_device_batch(image, idx, cfg.device)
    noisy = bool((noise > 0).any())
    give_noise = noisy and plan.uses_noise_level and plan.method is not None
    batch = LRBatch(lr=lr, scale=scale,
                    # a composition hands these on to the parts that declare them
                    noise=noise if (give_noise or (plan.method is None and noisy)) else None,
                    kernels=gt_kernels if plan.uses_ground_truth else None)
    hr = torch.from_numpy(image.hr.copy()).permute(2, 0, 1)[None].to(cfg.device)
    want = (len(idx), 3, hr.shape[-2], hr.shape[-1])
    encode = getattr(runnable, "encode_kernel", None)
    rows: list[dict[str, Any]] = []
    elapsed = 0.0
    steps = runnable.run(batch)
    step_i = 0
    while True:
        t0 = time.perf_counter()
        with grad_mode(plan.needs_grad and plan.method is not None):
            step = next(steps, None)
        _sync(cfg.device)
        elapsed += time.perf_counter() - t0
        if step is None:
            break
        if tuple(step.sr.shape) != want:
            raise InputError(f"method returned SR of shape {tuple(step.sr.shape)}, "
                             f"expected {want}")
        with torch.inference_mode():
            values = scorer.score(step.sr.detach().float().clamp(0, 1), hr)
            kpsnr, code_l2 = kernel_errors(
                None if step.kernel is None else step.kernel.detach(),
                None if step.code is None else step.code.detach(), gt_kernels, encode)
        if cfg.save_images:
            _save_step(cfg, ts, image, idx, step_i, step)
        if on_step is not None:
            on_step(step_i)
        for j, k in enumerate(idx):
            rows.append({
                "step": step_i, "is_final": False, "kernel_index": k,
                **{name: v[j] for name, v in values.items()},
                "kernel_psnr": kpsnr[j] if kpsnr else None,
                "code_l2": code_l2[j] if code_l2 else None,
                "seconds": elapsed / len(idx),
            })
        step_i += 1
    if not rows:
        raise InputError("method yielded no steps")
    for row in rows[-len(idx):]:
        row["is_final"] = True
    noise_known = noisy and plan.uses_noise_level
    return rows, noise_known


def _save_step(cfg: RunConfig, ts: TestSet, image: DatasetImage, idx: list[int], step_i: int,
               step: Any) -> None:
    import numpy as np
    import torch

    from bsrbench.apply import kernel_to_image
    from bsrbench.images import write_png
    from bsrbench.metrics import quantize

    s, label = ts.settings, cfg.plan.label
    if step_i == 0:
        write_png(image_dir(cfg.out, "hr", ts.label, s.scale) / f"{image.name}.png", image.hr)
        for k in idx:
            stem = lr_stem(image.name, k)
            write_png(image_dir(cfg.out, "lr", ts.label, s.scale) / f"{stem}.png", image.lr[k])
            if image.kernels is not None:
                gdir = image_dir(cfg.out, "gt_kernel", ts.label, s.scale)
                write_png(gdir / f"{stem}.png",
                          kernel_to_image(torch.from_numpy(image.kernels[k].copy())))
                np.save(gdir / f"{stem}.npy", image.kernels[k])
    sr = quantize(step.sr.detach().float().clamp(0, 1)).permute(0, 2, 3, 1).cpu().numpy()
    for j, k in enumerate(idx):
        stem = step_stem(image.name, k, step_i)
        write_png(image_dir(cfg.out, "sr", ts.label, s.scale, label) / f"{stem}.png", sr[j])
        if step.kernel is not None:
            kdir = image_dir(cfg.out, "kernel", ts.label, s.scale, label)
            kernel = step.kernel[j].detach()
            write_png(kdir / f"{stem}.png", kernel_to_image(kernel))
            np.save(kdir / f"{stem}.npy", kernel.float().cpu().numpy())


def _fitted_chunk(cfg: RunConfig, runnable: Any, scorer: Scorer, ts: TestSet,
                  image: DatasetImage, idx: list[int], fit: Fit,
                  on_step: Any = None) -> tuple[list[dict[str, Any]], bool]:
    """Run LR images ``idx`` in pieces of ``fit.batch`` under ``fit.tiling``; on lack of
    memory shrink ``fit`` (:meth:`~bsrbench.tiling.Fit.shrink`) and retry the piece.
    Rows carry ``fallback``.

    Raises:
        MemoryError: still out of memory at one LR image with the smallest tiles.
    """
    shape = (int(image.lr.shape[1]), int(image.lr.shape[2]))
    tileable = bool(tileable_parts(runnable))
    rows: list[dict[str, Any]] = []
    noise_known = False
    pos = 0
    while pos < len(idx):
        part = idx[pos:pos + fit.batch]
        try:
            set_tiling(runnable, fit.tiling)
            check_memory(cfg.max_memory_mb, runnable, (len(part), 3, *shape), fit.tiling)
            got, known = _score_chunk(cfg, runnable, scorer, ts, image, part, on_step)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        else:
            for row in got:
                row["fallback"] = fit.note
            rows += got
            noise_known = noise_known or known
            pos += len(part)
            continue
        free_memory(cfg.device)  # outside the except block: its frames hold the tensors
        before = fit.note or "the run's settings"
        if not fit.shrink(len(part), shape, tileable):
            raise MemoryError(f"out of memory at one LR image"
                              f"{'' if fit.tiling is None else ' with ' + fit.tiling.label()}"
                              f" ({reason})")
        log.warning("%s: out of memory with %s (%s); retrying with %s", cfg.plan.label,
                    before, reason, fit.note)
    return rows, noise_known


def _selected(ts: TestSet, images: tuple[str, ...] | None) -> list[str]:
    """The test set's image names ``images`` selects, in the test set's order.

    Raises:
        InputError: a name the test set does not hold, or an empty selection.
    """
    if images is None:
        return list(ts.names)
    missing = sorted(set(images) - set(ts.names))
    if missing:
        raise InputError(f"{ts.label} has no image {missing[0]!r}: pick from "
                         f"{', '.join(ts.names[:8])}{', ...' if len(ts.names) > 8 else ''}")
    if not images:
        raise InputError("the image selection is empty: name at least one image")
    chosen = set(images)
    return [n for n in ts.names if n in chosen]


def run(cfg: RunConfig, registry: Registry) -> RunSummary:
    """Run ``cfg`` and append its rows to ``cfg.out/results.csv``.

    Already finished LR images (same method, dataset, scale, image and kernel) are skipped,
    so rerunning the same command resumes; rows that do not parse are reported and
    recomputed. Returns a :class:`RunSummary`; failed images have rows with ``error``
    filled.

    Raises:
        InputError: bad settings, a folder whose earlier rows were made with other
            settings, a missing or corrupt run.json beside existing rows, a metric that
            cannot run here; nothing in the run folder has changed then.
    """
    from bsrbench.device import exact_math, keep_freed_memory

    batcher = Batcher(cfg.batch_size, cfg.device)  # refuses a bad --batch-size
    if cfg.max_memory_mb is not None and cfg.max_memory_mb <= 0:
        raise InputError(f"max_memory_mb must be positive, got {cfg.max_memory_mb}")
    cfg.tiling  # noqa: B018 - validates --tile/--tile-overlap before any work
    if cfg.out.exists() and not cfg.out.is_dir():
        raise InputError(f"--out {cfg.out} is a file: pass a folder for the run")
    plan = cfg.plan
    metric_specs = select_metrics(registry, cfg.metrics)
    results = ResultsFile(cfg.out / "results.csv", metrics=[m.name for m in metric_specs])
    runlog = RunLog(cfg.out, has_rows=bool(results.table.rows))
    summary = RunSummary(resumed_rows=results.kept, results=results.path,
                         invalid=len(results.invalid))
    for bad in results.invalid[:3]:
        log.warning("%s line %d: %s; the image is recomputed", results.path, bad.line,
                    bad.reason)
    if len(results.invalid) > 3:
        log.warning("... and %d more invalid rows", len(results.invalid) - 3)
    with TestSet(cfg.dataset) as ts:
        s = ts.settings
        if plan.uses_ground_truth and s.protocol == "bicubic":
            raise InputError("the oracle estimator needs ground-truth kernels and protocol "
                             "'bicubic' has none: use a blurred protocol such as gaussian8")
        scorer = Scorer(metric_specs, convention=cfg.convention, scale=s.scale)
        run_id = new_run_id()
        meta = run_metadata(cfg, registry, ts, scorer, run_id)
        runlog.check_resume(meta, {r.get("run_id", "") for r in results.table.rows})
        base = {"method": plan.label, "dataset": ts.label, "scale": s.scale,
                "model": plan.model.name if plan.model else plan.label,
                "estimator": plan.estimator.name if plan.estimator else "",
                "weights": meta["weights_label"],
                "upper_bound": plan.uses_ground_truth, "downsampler": s.downsampler,
                "convention": cfg.convention, "run_id": run_id}
        todo_by_image = {}
        mpx: dict[str, float] = {}  # megapixels of one LR image of each HR image
        total_mpx = 0.0
        for name in _selected(ts, cfg.images):
            lr_shape = ts.image(name).lr.shape
            n = lr_shape[0]
            mpx[name] = lr_shape[1] * lr_shape[2] / 1e6
            total_mpx += mpx[name] * n
            todo = [k for k in range(n) if row_key({**base, "image": name,
                                                    "kernel_index": k}) not in results.done]
            summary.skipped += n - len(todo)
            if todo:
                todo_by_image[name] = todo
        if not todo_by_image:
            log.info("%s on %s x%d: every LR image is already done (%d rows kept)",
                     plan.label, ts.label, s.scale, summary.resumed_rows)
            return summary
        exact_math(cfg.device)
        if cfg.device == "cpu":
            meta["cpu_allocator"] = keep_freed_memory()
        runnable = plan.build(s.scale, cfg.device, cfg.weights, cfg.kernel_weights)
        note = None if cfg.tiling is None else untiled_note(runnable, plan.label)
        if note:
            log.warning("%s", note)
        fits: dict[tuple[int, ...], Fit] = {}  # per LR size: what fits in memory
        meta["started"] = datetime.now(UTC).isoformat(timespec="seconds")
        runlog.record(meta)  # only now: everything that can be checked has been
        # progress and ETA in LR megapixels: images of a set differ in size, and time goes
        # with pixels, not with the image count
        todo_mpx = sum(mpx[n] * len(t) for n, t in todo_by_image.items())
        desc = (f"{plan.label} on {ts.label} x{s.scale} "
                f"({sum(map(len, todo_by_image.values()))} LR images to do, "
                f"{summary.skipped} done before)")
        with Progress(total_mpx, desc, unit="LR Mpx", quiet=cfg.quiet) as bar:
            bar.skip(total_mpx - todo_mpx)
            for name, todo in todo_by_image.items():
                image = ts.image(name)
                size = tuple(image.lr.shape[1:3])
                fit = fits.setdefault(size, Fit(batcher.cap, cfg.tiling))
                pos = 0
                while pos < len(todo):
                    idx = todo[pos:pos + min(batcher.next(size), fit.batch)]
                    pos += len(idx)
                    started = time.perf_counter()
                    where = f"{name} LR {idx[0]}-{idx[-1]}" if len(idx) > 1 else \
                        f"{name} LR {idx[0]}"
                    try:
                        rows, noise_known = _fitted_chunk(
                            cfg, runnable, scorer, ts, image, idx, fit,
                            on_step=lambda i, where=where: bar.note(f"{where}, step {i}"))
                    except Exception as exc:  # one image failing must not stop the run
                        msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
                        log.error("%s failed on %s: %s", plan.label, name, msg)
                        rows = [{"step": 0, "is_final": True, "kernel_index": k, "error": msg}
                                for k in idx]
                        noise_known = False
                        summary.failed += len(idx)
                    for row in rows:
                        row.update(base, image=name, noise_known=noise_known,
                                   **image.row_params(row["kernel_index"]))
                    batcher.record(size, len(idx), time.perf_counter() - started,
                                   limit=fit.batch if fit.batch < len(idx) else None)
                    results.append(rows)
                    summary.rows += len(rows)
                    bar.update(mpx[name] * len(idx))
    meta["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    if batcher.setting == AUTO:
        meta["batch_sizes"] = batcher.describe()
    meta["failed_lr_images"] = summary.failed
    runlog.record(meta)
    return summary
