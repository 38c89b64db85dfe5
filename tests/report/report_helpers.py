"""Run folders for the report tests, written the way the runner writes them, through
bsrbench.results only.

The report reads nothing but stored files, so its tests build those files directly:
results.csv with :class:`~bsrbench.results.ResultsFile`, run.json with
:class:`~bsrbench.results.RunLog`, pictures where :func:`~bsrbench.results.image_dir` puts
them. The numbers are made up; the tests check that the page shows what the files hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bsrbench.results import RESULTS, ResultsFile, RunLog, image_dir, lr_stem, step_stem

SIGMAS = (1.8, 2.0, 2.2, 2.4, 2.6, 2.8, 3.0, 3.2)  # Gaussian8's kernel widths at x4
BUILTIN = ({"name": "psnr", "higher_better": True, "unit": "dB", "summary": "PSNR"},
           {"name": "ssim", "higher_better": True, "unit": "", "summary": "SSIM"})


def row(**kw: Any) -> dict[str, Any]:
    """One results.csv row with the runner's defaults (bicubic on Gaussian8 x4)."""
    base: dict[str, Any] = dict(
        method="bicubic", model="bicubic", estimator="", weights="none", upper_bound=False,
        noise_known=False, dataset="gaussian8/hr", downsampler="matlab-bicubic", scale=4,
        image="img", kernel_index=0, sigma=1.8, sigma2=None, theta=None, noise=0.0, step=0,
        is_final=True, kernel_psnr=None, code_l2=None, seconds=0.1, convention="matlab-y",
        run_id="r1", error="")
    base.update(kw)
    return base


def meta(method: str, run_id: str = "r1", metrics: Sequence[Mapping[str, Any]] | None = BUILTIN,
         **kw: Any) -> dict[str, Any]:
    """A run.json entry as the runner records it (``metrics=None``: an older entry)."""
    entry: dict[str, Any] = {
        "run_id": run_id, "method": method, "model": method.split("+")[0],
        "estimator": method.split("+")[1] if "+" in method else None,
        "weights": "bundled", "convention": "matlab-y", "device": "cpu",
        "torch_version": "2.13.0", "bsrbench_version": "0.test", "git_commit": "abc123",
        "command": f"bsrbench run -m {method} (test)",
        "dataset": {"label": "gaussian8/hr", "scale": 4, "downsampler": "matlab-bicubic",
                    "content_hash": "sha256:feedbeef"}}
    if metrics is not None:
        entry["metrics"] = [dict(m) for m in metrics]
    entry.update(kw)
    return entry


def write_run(folder: Path, rows: Iterable[Mapping[str, Any]],
              entries: Iterable[Mapping[str, Any]] = (),
              metrics: Sequence[str] = ("psnr", "ssim")) -> Path:
    """Append ``rows`` to ``folder``/results.csv and record ``entries`` in run.json."""
    ResultsFile(folder / RESULTS, metrics=metrics).append(list(rows))
    log = RunLog(folder)
    for e in entries:
        log.record(e)
    return folder


def hr_image(seed: int, h: int = 48, w: int = 40, colour: bool = True):
    """A small textured HR image (uint8)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    smooth = 127 + 60 * np.sin(x / (4.0 + seed)) * np.cos(y / 7.0)
    img = np.stack([smooth, smooth[::-1], smooth[:, ::-1]], axis=2) if colour else smooth
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def kernel_png(sigma: float, size: int = 21):
    """A Gaussian kernel picture scaled to its maximum (as the runner saves them)."""
    import numpy as np

    x = np.arange(size) - size // 2
    k = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    return (255 * k / k.max()).astype(np.uint8)


def save_png(path: Path, pixels) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def save_pictures(out: Path, dataset: str, scale: int, hr: dict[str, Any],
                  methods: Mapping[str, int], kernel_indices: Iterable[int] = (0,),
                  kernels: Iterable[str] = ()) -> None:
    """HR, LR and ground-truth kernel pictures, and each method's SR (``methods``: name ->
    number of steps) and, for methods in ``kernels``, kernel estimates at every step."""
    import numpy as np

    kernels = set(kernels)
    for name, pixels in hr.items():
        save_png(image_dir(out, "hr", dataset, scale) / f"{name}.png", pixels)
        for k in kernel_indices:
            stem = lr_stem(name, k)
            save_png(image_dir(out, "lr", dataset, scale) / f"{stem}.png",
                     pixels[::scale, ::scale])
            save_png(image_dir(out, "gt_kernel", dataset, scale) / f"{stem}.png",
                     kernel_png(SIGMAS[k % 8]))
            for method, steps in methods.items():
                for s in range(steps):
                    sr = np.clip(pixels.astype(int) + 3 * (s + 1), 0, 255).astype(np.uint8)
                    save_png(image_dir(out, "sr", dataset, scale, method)
                             / f"{step_stem(name, k, s)}.png", sr)
                    if method in kernels:
                        save_png(image_dir(out, "kernel", dataset, scale, method)
                                 / f"{step_stem(name, k, s)}.png", kernel_png(1.0 + 0.6 * s))


def scenario(root: Path) -> dict[str, Path]:
    """Two run folders like a sweep on two HR images (Gaussian8 x4, pictures saved):
    ``bic`` holds bicubic; ``iter`` the iterative ``iterk`` (3 steps, kernel estimates and
    codes) and the oracle composition ``sharpk+oracle`` (an upper bound)."""
    import numpy as np

    rng = np.random.default_rng(7)
    hr = {"colour": hr_image(0), "grey": hr_image(1, 40, 40, colour=False)}
    bic, it = [], []
    for img in hr:
        for k, sigma in enumerate(SIGMAS):
            base = 24.0 + rng.normal(0, 0.5) - 0.3 * k
            bic.append(row(image=img, kernel_index=k, sigma=sigma, psnr=base,
                           ssim=0.70 + rng.normal(0, 0.01), seconds=0.01))
            for s in range(3):
                it.append(row(method="iterk", model="iterk", weights="bundled", image=img,
                              kernel_index=k, sigma=sigma, step=s, is_final=s == 2,
                              psnr=base + 0.4 + 0.3 * s + rng.normal(0, 0.05),
                              ssim=0.72 + 0.01 * s, kernel_psnr=38.0 + s + rng.normal(0, 0.1),
                              code_l2=0.2 - 0.05 * s + rng.normal(0, 0.01), seconds=0.1 * (s + 1)))
            it.append(row(method="sharpk+oracle", model="sharpk", estimator="oracle",
                          weights="none", upper_bound=True, image=img, kernel_index=k,
                          sigma=sigma, psnr=base + 2.0, ssim=0.8, kernel_psnr=float("inf"),
                          code_l2=0.0, run_id="r2"))
    out = {"bic": root / "bic", "iter": root / "iter"}
    write_run(out["bic"], bic, [meta("bicubic", weights="none")])
    write_run(out["iter"], it, [meta("iterk", "r1"), meta("sharpk+oracle", "r2")])
    save_pictures(out["bic"], "gaussian8/hr", 4, hr, {"bicubic": 1})
    save_pictures(out["iter"], "gaussian8/hr", 4, hr, {"iterk": 3, "sharpk+oracle": 1},
                  kernels=("iterk", "sharpk+oracle"))
    return out
