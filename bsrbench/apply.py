"""Applying a blind method to real LR images (no ground truth): ``bsrbench sr``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from bsrbench.compose import MethodPlan
from bsrbench.errors import InputError, Interrupted, RunError
from bsrbench.images import IMAGE_SUFFIXES, list_image_files, read_image, write_png
from bsrbench.progress import Progress
from bsrbench.results import check_out_dir

__all__ = ["apply_method", "collect_inputs", "kernel_to_image"]

log = logging.getLogger("bsrbench")


def collect_inputs(paths: tuple[Path, ...]) -> list[Path]:
    """Expand files and folders into a sorted list of image files."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(list_image_files(p))
        elif p.is_file():
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                raise InputError(f"{p} is not an image file ({', '.join(IMAGE_SUFFIXES)})")
            files.append(p)
        else:
            raise InputError(f"input {p} not found")
    if not files:
        raise InputError("no input images given")
    return files


def kernel_to_image(kernel: Any, zoom: int = 8) -> np.ndarray:
    """A kernel (k, k) as a uint8 picture: scaled to its maximum, enlarged ``zoom`` times."""
    k = kernel.detach().float().cpu().numpy()
    k = k / max(float(k.max()), 1e-12)
    img = np.round(np.kron(k, np.ones((zoom, zoom))) * 255).astype(np.uint8)
    return img[:, :, None]


def _to_u8(sr: Any) -> np.ndarray:
    from bsrbench.metrics import quantize

    return quantize(sr.float()).permute(1, 2, 0).cpu().numpy()


def apply_method(plan: MethodPlan, inputs: list[Path], *, scale: int, device: str,
                 out: Path, weights: Path | None = None, kernel_weights: Path | None = None,
                 save_steps: bool = False, quiet: bool = False, tile: int | None = None,
                 tile_overlap: int | None = None) -> list[Path]:
    """Restore each input with ``plan``; write ``<stem>.png`` (the final step) into ``out``.

    With ``save_steps`` also ``<stem>_step<i>.png`` for every step and, when the method
    estimates kernels, ``<stem>_kernel<i>.png``. Grey inputs are restored as RGB and
    written back as grey (mean of the channels). An image that fails is logged and the
    others go on; the call then raises :class:`RunError` naming the first failure.
    ``tile``/``tile_overlap`` run the parts that declare a receptive field on LR tiles
    (:mod:`bsrbench.tiling`); an image that runs out of memory is retried with smaller
    tiles.
    """
    from bsrbench.tiling import Tiling, set_tiling

    if tile is None and tile_overlap is not None:
        raise InputError("--tile-overlap needs --tile SIZE")
    tiling = None if tile is None else Tiling(tile, tile_overlap)
    if plan.uses_ground_truth:
        raise InputError(f"{plan.label} needs ground-truth kernels, which real images do not "
                         "have: use a blind method or a blind estimator")
    _check_targets(inputs, out)
    runnable = plan.build(scale, device, weights, kernel_weights)
    if tiling is not None and not set_tiling(runnable, tiling):
        log.warning("%s declares no receptive field: --tile has no effect on it", plan.label)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failed: list[str] = []
    with Progress(len(inputs), f"sr {plan.label}", quiet=quiet) as bar:
        for path in inputs:
            try:
                written.append(_restore_fitted(runnable, plan, path, scale, device, out,
                                               save_steps, tiling))
            except KeyboardInterrupt as exc:  # sr does not resume: say what is there
                raise Interrupted(f"{len(written)} of {len(inputs)} SR images were written "
                                  f"to {out} (each is complete); rerun to restore them "
                                  "all") from exc
            except Exception as exc:  # one image (unreadable, too large for the device...)
                msg = f"{type(exc).__name__}: {exc}".splitlines()[0]  # must not stop the rest
                log.error("%s failed on %s: %s", plan.label, path, msg)
                failed.append(f"{path.name}: {msg}")
            bar.update(1)
    if failed:
        raise RunError(f"{len(failed)} of {len(inputs)} images failed (first: {failed[0]}); "
                       f"the other {len(written)} SR images are in {out}")
    return written


def _check_targets(inputs: list[Path], out: Path) -> None:
    """Refuse an --out that cannot be a folder, and outputs that would overwrite an input
    or each other (same file name)."""
    check_out_dir(out)
    stems = [p.stem for p in inputs]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise InputError(f"several inputs are named {dupes[0]!r} (their SR images would "
                         f"overwrite each other in {out}): restore them into separate --out "
                         "folders")
    sources = {p.resolve() for p in inputs}
    if any((out / f"{p.stem}.png").resolve() in sources for p in inputs):
        raise InputError(f"--out {out} would overwrite the input images: pass another folder")


def _restore_fitted(runnable: Any, plan: MethodPlan, path: Path, scale: int, device: str,
                    out: Path, save_steps: bool, tiling: Any) -> Path:
    """:func:`_restore_one`, retried with ever smaller tiles when the image runs out of
    memory (parts that declare a receptive field only)."""
    from bsrbench.tiling import Fit, free_memory, is_out_of_memory, set_tiling, tileable_parts

    fit = Fit(1, tiling)
    tileable = bool(tileable_parts(runnable))
    while True:
        set_tiling(runnable, fit.tiling)
        try:
            return _restore_one(runnable, plan, path, scale, device, out, save_steps)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        free_memory(device)  # outside the except block: its frames hold the tensors
        if not fit.shrink(1, read_image(path).pixels.shape[:2], tileable):
            raise MemoryError(f"out of memory even with the smallest tiles ({reason})")
        log.warning("%s: out of memory on %s (%s); retrying with %s", plan.label, path.name,
                    reason, fit.note)


def _restore_one(runnable: Any, plan: MethodPlan, path: Path, scale: int, device: str,
                 out: Path, save_steps: bool) -> Path:
    """Restore one image; write its SR PNG (and every step's with ``save_steps``)."""
    import torch

    from bsrbench.interfaces import LRBatch

    image = read_image(path)
    lr = torch.from_numpy(image.pixels.copy()).permute(2, 0, 1).float().div(255)
    lr = lr.expand(3, *lr.shape[1:])[None].to(device)
    last = None
    with torch.inference_mode():
        for i, step in enumerate(runnable.run(LRBatch(lr=lr, scale=scale))):
            last = step
            if save_steps:
                write_png(out / f"{image.name}_step{i}.png",
                          _grey_if(image.grey, _to_u8(step.sr[0])))
                if step.kernel is not None:
                    write_png(out / f"{image.name}_kernel{i}.png",
                              kernel_to_image(step.kernel[0]))
    if last is None:
        raise InputError(f"{plan.label} yielded no output for {path}")
    target = out / f"{image.name}.png"
    write_png(target, _grey_if(image.grey, _to_u8(last.sr[0])))
    return target


def _grey_if(grey: bool, rgb: np.ndarray) -> np.ndarray:
    if not grey:
        return rgb
    return np.round(rgb.astype(np.float64).mean(axis=2, keepdims=True)).astype(np.uint8)
