"""The report's picture sections: zoomed crops of HR, LR and every SR step, and kernels.

Pictures come only from a run's ``images/`` folder (``bsrbench run --save-images``; layout
in :func:`bsrbench.runner.image_dir`) and are embedded as base64 ``data:`` URIs, so the
page needs nothing else at view time. Crops are cut here from the stored PNGs; kernel
pictures are the stored PNGs themselves.
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bsrbench._report_html import esc, fmt, tag

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["best_crop", "images_section", "kernels_section"]

CROP = 48  # side of the zoomed crop in HR pixels (smaller images use their full size)
THUMB = 320  # longest side of the embedded full HR image


def _png_uri(pixels: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    arr = pixels[:, :, 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels
    Image.fromarray(arr).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _file_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _read(path: Path) -> np.ndarray:
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img)


def best_crop(hr: np.ndarray, scale: int, size: int = CROP) -> tuple[int, int, int]:
    """``(top, left, side)`` of the HR square with the highest luminance variance.

    Corners and side are multiples of ``scale`` so that the LR crop covers exactly the
    same area; ties go to the first position (top-left first), so the choice is stable.
    """
    import numpy as np

    grey = hr.astype(np.float64)
    if grey.ndim == 3:
        grey = grey.mean(axis=2)
    h, w = grey.shape
    side = max(scale, min(size, h, w) // scale * scale)
    stride = max(scale, side // 4 // scale * scale)
    ii = np.pad(grey, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    ii2 = np.pad(grey**2, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    best, pos = -1.0, (0, 0)
    for y in range(0, h - side + 1, stride):
        for x in range(0, w - side + 1, stride):
            s = ii[y + side, x + side] - ii[y, x + side] - ii[y + side, x] + ii[y, x]
            s2 = ii2[y + side, x + side] - ii2[y, x + side] - ii2[y + side, x] + ii2[y, x]
            var = s2 / side**2 - (s / side**2) ** 2
            if var > best + 1e-9:
                best, pos = var, (y, x)
    return pos[0], pos[1], side


def _thumb(hr: np.ndarray) -> np.ndarray:
    import numpy as np
    from PIL import Image

    h, w = hr.shape[:2]
    if max(h, w) <= THUMB:
        return hr
    f = THUMB / max(h, w)
    img = Image.fromarray(hr[:, :, 0] if hr.ndim == 3 and hr.shape[2] == 1 else hr)
    return np.asarray(img.resize((round(w * f), round(h * f)), Image.Resampling.LANCZOS))


def _tile(uri: str | None, caption: str, value: str = "", css: str = "tile",
          alt: str = "") -> str:
    img = (tag("img", "", src=uri, alt=alt or caption) if uri
           else tag("div", "not stored", class_="missing"))
    return tag("div", img + tag("div", esc(caption), class_="cap")
               + (tag("div", esc(value), class_="val") if value else ""), class_=css)


def _group(label: str, tiles_html: str) -> str:
    return tag("div", tag("div", esc(label), class_="rowlabel")
               + tag("div", tiles_html, class_="tiles"), class_="kgroup")


def _metric(frame: pd.DataFrame, step: int | None = None) -> str:
    rows = frame if step is None else frame[frame["step"] == step]
    if rows.empty:
        return ""
    r = rows.iloc[0]
    return f"{fmt(r['psnr'], 'psnr')} dB / {fmt(r['ssim'], 'ssim')}"


def _rel(kind: str, dataset: str, scale: int, method: str = "") -> Path:
    """A path inside a run directory, as ``--save-images`` lays it out."""
    from bsrbench.runner import image_dir

    return image_dir(Path(), kind, dataset, scale, method)


def _test_sets(frame: pd.DataFrame, kernel_index: int) -> Iterator[
        tuple[str, int, pd.DataFrame, Callable[..., Path]]]:
    """Scored rows of one LR index per (dataset, scale), with a locator of saved images:
    ``rel(kind, method="")`` is the run-relative folder of that kind."""
    ok = frame[(frame["error"] == "") & (frame["kernel_index"] == kernel_index)]
    for (dataset, scale), sub in ok.groupby(["dataset", "scale"], sort=False):
        yield str(dataset), int(scale), sub, functools.partial(_located, str(dataset), int(scale))


def _located(dataset: str, scale: int, kind: str, method: str = "") -> Path:
    return _rel(kind, dataset, scale, method)


def _first_existing(runs: Sequence[Path], rel: Path) -> Path | None:
    return next((r / rel for r in runs if (r / rel).is_file()), None)


def _image_names(sub: pd.DataFrame, runs: Sequence[Path], hr_rel: Path,
                 max_images: int) -> list[str]:
    names = [n for n in dict.fromkeys(sub["image"]) if _first_existing(runs, hr_rel / f"{n}.png")]
    return sorted(names)[:max_images]


def _methods(sub: pd.DataFrame, runs: Sequence[Path]) -> list[tuple[int, str, str, bool]]:
    """(run, display label, method dir name, upper bound) of runs with pictures, blind
    methods first."""
    keys = sub[["run", "label", "method", "upper_bound"]].drop_duplicates()
    out = [(int(r.run), str(r.label), str(r.method), bool(r.upper_bound))
           for r in keys.itertuples() if has_images(runs[int(r.run)])]
    return sorted(out, key=lambda t: t[3])


def images_section(frame: pd.DataFrame, runs: Sequence[Path], *, max_images: int = 3,
                   kernel_index: int = 0) -> str:
    """HR with the crop box, then zoomed crops of HR, LR and each method's SR (all steps)."""
    parts = []
    for dataset, scale, sub, rel in _test_sets(frame, kernel_index):

        for name in _image_names(sub, runs, rel("hr"), max_images):
            hr_path = _first_existing(runs, rel("hr") / f"{name}.png")
            hr = _read(hr_path)
            top, left, side = best_crop(hr, scale)
            h, w = hr.shape[:2]
            box = (f"left:{100 * left / w:.3f}%;top:{100 * top / h:.3f}%;"
                   f"width:{100 * side / w:.3f}%;height:{100 * side / h:.3f}%")
            full = tag("div", tag("img", "", src=_png_uri(_thumb(hr)),
                                  alt=f"{name} HR")
                       + tag("div", "", class_="box", style=box), class_="full")
            crop = (slice(top, top + side), slice(left, left + side))
            tiles = [_tile(_png_uri(hr[crop]), "HR", f"crop {side}×{side} at ({left}, {top})")]
            lr_path = _first_existing(runs, rel("lr") / f"{name}_k{kernel_index}.png")
            if lr_path is not None:
                import numpy as np

                lr = _read(lr_path)
                s = scale
                lr_crop = lr[top // s:(top + side) // s, left // s:(left + side) // s]
                lr_crop = np.repeat(np.repeat(lr_crop, s, axis=0), s, axis=1)
                tiles.append(_tile(_png_uri(lr_crop), f"LR ×{s} (nearest)"))
            step_rows = []
            for run, label, method, upper in _methods(sub, runs):
                mine = sub[(sub["run"] == run) & (sub["label"] == label) & (sub["image"] == name)]
                if mine.empty:
                    continue
                final = int(mine.loc[mine["is_final"], "step"].max())
                srdir = runs[run] / rel("sr", method)
                path = srdir / f"{name}_k{kernel_index}_s{final}.png"
                css = "tile ub" if upper else "tile"
                cap = f"{label} (upper bound)" if upper else label
                tiles.append(_tile(_png_uri(_read(path)[crop]) if path.is_file() else None,
                                   cap, _metric(mine, final), css))
                steps = sorted(int(s) for s in mine["step"].unique())
                if len(steps) > 1:
                    row = []
                    for st in steps:
                        p = srdir / f"{name}_k{kernel_index}_s{st}.png"
                        row.append(_tile(_png_uri(_read(p)[crop]) if p.is_file() else None,
                                         f"step {st}" + (" (final)" if st == final else ""),
                                         _metric(mine, st), css))
                    step_rows.append(tag("div", esc(f"{label}: every step"), class_="rowlabel")
                                     + tag("div", "".join(row), class_="tiles"))
            sigma = sub.loc[sub["image"] == name, "sigma"].dropna()
            sig = f", σ = {sigma.iloc[0]:.2f}" if len(sigma) and sigma.iloc[0] > 0 else ""
            head = tag("h3", esc(f"{name} — {dataset} ×{scale}, LR image {kernel_index}{sig}"))
            top_row = tag("div", full + "".join(tiles), class_="tiles")
            parts.append(tag("div", head + top_row + "".join(step_rows), class_="vis"))
    return "".join(parts)


def kernels_section(frame: pd.DataFrame, runs: Sequence[Path], *, max_images: int = 3,
                    kernel_index: int = 0) -> str:
    """Ground-truth kernel beside each method's estimate at every step (with its kernel
    PSNR); the pictures are the stored PNGs, each scaled to its own maximum."""
    parts = []
    for dataset, scale, sub, rel in _test_sets(frame, kernel_index):

        names = [n for n in _image_names(sub, runs, rel("hr"), max_images)
                 if _first_existing(runs, rel("gt_kernel") / f"{n}_k{kernel_index}.png")]
        for name in names:
            gt = _first_existing(runs, rel("gt_kernel") / f"{name}_k{kernel_index}.png")
            groups = [_group("ground truth", _tile(_file_uri(gt), "", css="tile kernel"))]
            for run, label, method, upper in _methods(sub, runs):
                mine = sub[(sub["run"] == run) & (sub["label"] == label) & (sub["image"] == name)]
                kdir = runs[run] / rel("kernel", method)
                if mine.empty or not kdir.is_dir():
                    continue
                tiles = []
                for st in sorted(int(s) for s in mine["step"].unique()):
                    p = kdir / f"{name}_k{kernel_index}_s{st}.png"
                    kp = mine.loc[mine["step"] == st, "kernel_psnr"]
                    val = f"{fmt(kp.iloc[0], 'kernel_psnr')} dB" if len(kp) else ""
                    tiles.append(_tile(_file_uri(p) if p.is_file() else None, f"step {st}", val,
                                       "tile kernel ub" if upper else "tile kernel"))
                groups.append(_group(label + (" (upper bound)" if upper else ""), "".join(tiles)))
            if len(groups) == 1:
                continue
            head = tag("h3", esc(f"{name} — {dataset} ×{scale}, LR image {kernel_index}"))
            parts.append(tag("div", head + tag("div", "".join(groups), class_="tiles"),
                             class_="vis"))
    return "".join(parts)


def has_images(run: Path) -> bool:
    """Whether a run directory holds ``--save-images`` output."""
    return (run / "images" / "hr").is_dir()

