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

__all__ = ["apply_method", "collect_inputs", "kernel_shape", "kernel_to_image"]

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


def kernel_shape(kernel: np.ndarray) -> dict[str, Any]:
    """What a kernel looks like, in numbers a reader can check against the picture: its
    centre of mass, and the widths and orientation of the Gaussian with the same second
    moments (σ along the major and minor axes, θ of the major axis in degrees in the
    convention of :func:`bsrbench.kernels.gaussian_kernel`, 0 for an isotropic kernel)."""
    k = np.asarray(kernel, dtype=np.float64)
    total = float(k.sum())
    w = k / total if total > 0 else k
    ys, xs = np.mgrid[0:k.shape[0], 0:k.shape[1]]
    cy, cx = float((w * ys).sum()), float((w * xs).sum())
    dy, dx = ys - cy, xs - cx
    cov = np.array([[(w * dx * dx).sum(), (w * dx * dy).sum()],
                    [(w * dx * dy).sum(), (w * dy * dy).sum()]])
    vals, vecs = np.linalg.eigh(cov)
    major = vecs[:, 1]
    theta = float(np.degrees(np.arctan2(major[1], major[0]))) % 180.0
    if vals[1] - vals[0] < 1e-6 * max(vals[1], 1e-12):
        theta = 0.0  # isotropic: no orientation
    return {"size": int(k.shape[-1]), "sum": round(total, 6),
            "centre_of_mass_xy": [round(cx, 3), round(cy, 3)],
            "sigma_major": round(float(np.sqrt(max(vals[1], 0.0))), 4),
            "sigma_minor": round(float(np.sqrt(max(vals[0], 0.0))), 4),
            "theta_degrees": round(theta, 2),
            "note": "moments of the kernel as estimated; bsrbench never picks a step by "
                    "looking at the output: the method's result is its last step"}


def _to_u8(sr: Any) -> np.ndarray:
    from bsrbench.metrics import quantize

    return quantize(sr.float()).permute(1, 2, 0).cpu().numpy()


def apply_method(plan: MethodPlan, inputs: list[Path], *, scale: int, device: str,
                 out: Path, weights: Path | None = None, kernel_weights: Path | None = None,
                 save_steps: bool = False, quiet: bool = False, tile: int | None = None,
                 tile_overlap: int | None = None) -> list[Path]:
    """Restore each input with ``plan``; write ``<stem>.png`` (the final step) into ``out``.

    With ``save_steps`` also ``<stem>_step<i>.png`` for every step and, when the method
    estimates kernels, ``<stem>_kernel<i>.npy`` (the numbers), ``.png`` (a readable picture)
    and ``.json`` (its widths, orientation and whether it is the final step's). The written
    ``<stem>.png`` is always the last step: bsrbench never picks a step by looking at the
    output, since without ground truth any such pick is a guess the paper did not make.
    Grey inputs are restored as RGB and written back as grey (mean of the channels). An
    image that fails is logged and the others go on; the call then raises
    :class:`RunError` naming the first failure.
    ``tile``/``tile_overlap`` run the parts that declare a receptive field on LR tiles
    (:mod:`bsrbench.tiling`); an image that runs out of memory is retried with smaller
    tiles.
    """
    from bsrbench.tiling import Tiling, set_tiling, untiled_note

    if tile is None and tile_overlap is not None:
        raise InputError("--tile-overlap needs --tile SIZE")
    tiling = None if tile is None else Tiling(tile, tile_overlap)
    if plan.uses_ground_truth:
        raise InputError(f"{plan.label} needs ground-truth kernels, which real images do not "
                         "have: use a blind method or a blind estimator")
    from bsrbench.device import exact_math

    _check_targets(inputs, out)
    exact_math(device)
    runnable = plan.build(scale, device, weights, kernel_weights)
    if tiling is not None:
        set_tiling(runnable, tiling)
        note = untiled_note(runnable, plan.label)
        if note:
            log.warning("%s", note)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failed: list[str] = []
    with Progress(len(inputs), f"sr {plan.label}", unit="image", quiet=quiet) as bar:
        for path in inputs:
            try:
                written.append(_restore_fitted(
                    runnable, plan, path, scale, device, out, save_steps, tiling,
                    on_step=lambda i, name=path.name: bar.note(f"{name}, step {i}")))
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
                    out: Path, save_steps: bool, tiling: Any, on_step: Any = None) -> Path:
    """:func:`_restore_one`, retried with ever smaller tiles when the image runs out of
    memory (parts that declare a receptive field only)."""
    from bsrbench.tiling import Fit, free_memory, is_out_of_memory, set_tiling, tileable_parts

    fit = Fit(1, tiling)
    tileable = bool(tileable_parts(runnable))
    while True:
        set_tiling(runnable, fit.tiling)
        try:
            return _restore_one(runnable, plan, path, scale, device, out, save_steps, on_step)
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
                 out: Path, save_steps: bool, on_step: Any = None) -> Path:
    """Restore one image; write its SR PNG (and every step's with ``save_steps``: the SR,
    and for methods that estimate kernels the kernel as numbers (``.npy``), as a picture
    scaled up 8 times and to its maximum (``.png``), and its shape in a sidecar ``.json``).
    Every step runs under the core's grad mode (autograd only for ``needs_grad`` parts)."""

    import torch

    from bsrbench.compose import grad_mode
    from bsrbench.interfaces import LRBatch

    image = read_image(path)
    lr = torch.from_numpy(image.pixels.copy()).permute(2, 0, 1).float().div(255)
    lr = lr.expand(3, *lr.shape[1:])[None].to(device)
    last = None
    steps = runnable.run(LRBatch(lr=lr, scale=scale))
    i = 0
    pending: tuple[Path, dict[str, Any]] | None = None  # a kernel's sidecar, written once the
    # next step shows whether it was the last
    while True:
        with grad_mode(plan.needs_grad and plan.method is not None):
            step = next(steps, None)
        if step is None:
            break
        last = step
        if on_step is not None:
            on_step(i)
        if save_steps:
            write_png(out / f"{image.name}_step{i}.png",
                      _grey_if(image.grey, _to_u8(step.sr[0].detach())))
            if step.kernel is not None:
                kernel = step.kernel[0].detach().float().cpu()
                stem = out / f"{image.name}_kernel{i}"
                np.save(stem.with_suffix(".npy"), kernel.numpy())
                write_png(stem.with_suffix(".png"), kernel_to_image(kernel))
                if pending is not None:
                    _write_sidecar(*pending, final=False)
                pending = (stem.with_suffix(".json"),
                           {"image": image.name, "step": i, **kernel_shape(kernel.numpy())})
        i += 1
    if pending is not None:
        _write_sidecar(*pending, final=pending[1]["step"] == i - 1)
    if last is None:
        raise InputError(f"{plan.label} yielded no output for {path}")
    target = out / f"{image.name}.png"
    write_png(target, _grey_if(image.grey, _to_u8(last.sr[0].detach())))
    return target


def _write_sidecar(path: Path, info: dict[str, Any], *, final: bool) -> None:
    import json

    path.write_text(json.dumps({**info, "final": final}, indent=2) + "\n")


def _grey_if(grey: bool, rgb: np.ndarray) -> np.ndarray:
    if not grey:
        return rgb
    return np.round(rgb.astype(np.float64).mean(axis=2, keepdims=True)).astype(np.uint8)
