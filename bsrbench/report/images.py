"""The report's picture sections: zoomed crops of HR, LR and every SR step, and kernels.

Pictures come only from a run folder's ``images/`` (``bsrbench run --save-images``; the
layout is :mod:`bsrbench.results.layout`'s) and are embedded as base64 ``data:`` URIs, so
the page needs nothing else at view time. Crops are cut here from the stored PNGs; kernel
pictures are the stored PNGs themselves. This module returns plain values (URIs and
captions); ``templates/macros.html`` draws them.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bsrbench.report.formatting import KERNEL_PSNR, MetricInfo, fmt
from bsrbench.results import IMAGES, image_dir, lr_stem, step_stem

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["Tile", "Visual", "best_crop", "has_images", "images_section", "kernels_section"]

CROP = 48  # side of the zoomed crop in HR pixels (smaller images use their full size)
THUMB = 320  # longest side of the embedded full HR image


@dataclass(frozen=True)
class Tile:
    """One picture with its caption and value; ``uri`` None draws "not stored"."""

    uri: str | None
    caption: str
    value: str = ""
    css: str = "tile"


@dataclass(frozen=True)
class TileRow:
    label: str
    tiles: tuple[Tile, ...]


@dataclass(frozen=True)
class Visual:
    """One HR image's block: the full image with the crop box and rows of tiles
    (``full_uri`` empty for the kernels block, whose rows sit side by side)."""

    kind: ClassVar[str] = "visual"
    heading: str
    tiles: tuple[Tile, ...] = ()
    rows: tuple[TileRow, ...] = ()
    full_uri: str = ""
    full_alt: str = ""
    box: str = ""  # CSS position of the crop box over the full image
    side_by_side: bool = False


def _png_uri(pixels: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    arr = pixels[:, :, 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels
    Image.fromarray(arr).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _file_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _read(path: Path | None) -> np.ndarray | None:
    """A stored picture, or None when it is missing or unreadable (a corrupt PNG costs its
    tile, never the report)."""
    import numpy as np
    from PIL import Image

    if path is None:
        return None
    try:
        with Image.open(path) as img:
            return np.asarray(img)
    except (OSError, ValueError, SyntaxError):
        return None


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


def _scores(rows: pd.DataFrame, metrics: Sequence[MetricInfo], step: int) -> str:
    """Every metric of one step, as "29.31 dB / 0.8412"."""
    sel = rows[rows["step"] == step]
    if sel.empty:
        return ""
    r = sel.iloc[0]
    return " / ".join(f"{fmt(r[m.name], m.decimals)} {m.unit}".rstrip() for m in metrics)


def _test_sets(frame: pd.DataFrame, kernel_index: int) -> Iterator[tuple[str, int, pd.DataFrame]]:
    """Scored rows of one LR index per (dataset, scale)."""
    ok = frame[(frame["error"] == "") & (frame["kernel_index"] == kernel_index)]
    for (dataset, scale), sub in ok.groupby(["dataset", "scale"], sort=False):
        yield str(dataset), int(scale), sub


def _first_existing(runs: Sequence[Path], rel: Path) -> Path | None:
    return next((r / rel for r in runs if (r / rel).is_file()), None)


def _image_names(sub: pd.DataFrame, runs: Sequence[Path], hr_rel: Path,
                 max_images: int) -> list[str]:
    names = [n for n in dict.fromkeys(sub["image"]) if _first_existing(runs, hr_rel / f"{n}.png")]
    return sorted(names)[:max_images]


def _methods(sub: pd.DataFrame, runs: Sequence[Path]) -> list[tuple[int, str, str, str]]:
    """(run, row label, method folder, caption) of runs with pictures, blind methods
    first; the caption names why a row is not blind ("" when it is)."""
    keys = sub[["run", "label", "method", "upper_bound", "noise_known"]].drop_duplicates()
    out = [(int(r.run), str(r.label), str(r.method),
            f"{r.label} (upper bound)" if r.upper_bound
            else f"{r.label} (noise known)" if r.noise_known else "")
           for r in keys.itertuples() if has_images(runs[int(r.run)])]
    return sorted(out, key=lambda t: bool(t[3]))


def _visual(name: str, dataset: str, scale: int, sub: pd.DataFrame, runs: Sequence[Path],
            metrics: Sequence[MetricInfo], kernel_index: int) -> Visual | None:
    import numpy as np

    rel = Path()
    hr = _read(_first_existing(runs, image_dir(rel, "hr", dataset, scale) / f"{name}.png"))
    if hr is None:  # unreadable HR picture: the image is left out (images_section says so)
        return None
    top, left, side = best_crop(hr, scale)
    h, w = hr.shape[:2]
    box = (f"left:{100 * left / w:.3f}%;top:{100 * top / h:.3f}%;"
           f"width:{100 * side / w:.3f}%;height:{100 * side / h:.3f}%")
    crop = (slice(top, top + side), slice(left, left + side))
    tiles = [Tile(_png_uri(hr[crop]), "HR", f"crop {side}×{side} at ({left}, {top})")]
    lr_path = _first_existing(runs, image_dir(rel, "lr", dataset, scale)
                              / f"{lr_stem(name, kernel_index)}.png")
    lr = _read(lr_path)
    if lr is not None:
        lr_crop = lr[top // scale:(top + side) // scale, left // scale:(left + side) // scale]
        lr_crop = np.repeat(np.repeat(lr_crop, scale, axis=0), scale, axis=1)
        tiles.append(Tile(_png_uri(lr_crop), f"LR ×{scale} (nearest)"))
    rows = []
    for run, label, method, marked in _methods(sub, runs):
        mine = sub[(sub["run"] == run) & (sub["label"] == label) & (sub["image"] == name)]
        if mine.empty:
            continue
        final = int(mine.loc[mine["is_final"], "step"].max())
        srdir = image_dir(runs[run], "sr", dataset, scale, method)
        css = "tile ub" if marked else "tile"

        def crop_of(step: int, srdir: Path = srdir) -> str | None:
            sr = _read(srdir / f"{step_stem(name, kernel_index, step)}.png")
            return _png_uri(sr[crop]) if sr is not None else None

        tiles.append(Tile(crop_of(final), marked or label, _scores(mine, metrics, final), css))
        steps = sorted(int(s) for s in mine["step"].unique())
        if len(steps) > 1:
            rows.append(TileRow(f"{label}: every step", tuple(
                Tile(crop_of(st), f"step {st}" + (" (final)" if st == final else ""),
                     _scores(mine, metrics, st), css) for st in steps)))
    sigma = sub.loc[sub["image"] == name, "sigma"].dropna()
    sig = f", σ = {sigma.iloc[0]:.2f}" if len(sigma) and sigma.iloc[0] > 0 else ""
    return Visual(f"{name} — {dataset} ×{scale}, LR image {kernel_index}{sig}", tuple(tiles),
                  tuple(rows), _png_uri(_thumb(hr)), f"{name} HR", box)


def images_section(frame: pd.DataFrame, runs: Sequence[Path], metrics: Sequence[MetricInfo],
                   *, max_images: int = 3, kernel_index: int = 0) -> list[Any]:
    """HR with the crop box, then zoomed crops of HR, LR and each method's SR (all steps);
    a picture that cannot be read is left out and named in a note."""
    from bsrbench.report.blocks import Note

    out: list[Any] = []
    unreadable = []
    for dataset, scale, sub in _test_sets(frame, kernel_index):
        hr_rel = image_dir(Path(), "hr", dataset, scale)
        for name in _image_names(sub, runs, hr_rel, max_images):
            visual = _visual(name, dataset, scale, sub, runs, metrics, kernel_index)
            if visual is None:
                unreadable.append(f"{hr_rel / name}.png")
            else:
                out.append(visual)
    if unreadable:
        out.append(Note(f"Unreadable HR pictures left out: {', '.join(unreadable)}", "warn"))
    return out


def kernels_section(frame: pd.DataFrame, runs: Sequence[Path], *, max_images: int = 3,
                    kernel_index: int = 0) -> list[Visual]:
    """Ground-truth kernel beside each method's estimate at every step (with its kernel
    PSNR); the pictures are the stored PNGs, each scaled to its own maximum."""
    out = []
    for dataset, scale, sub in _test_sets(frame, kernel_index):
        hr_rel = image_dir(Path(), "hr", dataset, scale)
        gt_rel = image_dir(Path(), "gt_kernel", dataset, scale)
        for name in _image_names(sub, runs, hr_rel, max_images):
            gt = _first_existing(runs, gt_rel / f"{lr_stem(name, kernel_index)}.png")
            if gt is None:
                continue
            rows = [TileRow("ground truth", (Tile(_file_uri(gt), "", css="tile kernel"),))]
            for run, label, method, marked in _methods(sub, runs):
                mine = sub[(sub["run"] == run) & (sub["label"] == label) & (sub["image"] == name)]
                kdir = image_dir(runs[run], "kernel", dataset, scale, method)
                if mine.empty or not kdir.is_dir():
                    continue
                tiles = []
                for st in sorted(int(s) for s in mine["step"].unique()):
                    p = kdir / f"{step_stem(name, kernel_index, st)}.png"
                    kp = mine.loc[mine["step"] == st, KERNEL_PSNR.name]
                    val = f"{fmt(kp.iloc[0], KERNEL_PSNR.decimals)} dB" if len(kp) else ""
                    tiles.append(Tile(_file_uri(p) if p.is_file() else None, f"step {st}", val,
                                      "tile kernel ub" if marked else "tile kernel"))
                rows.append(TileRow(marked or label, tuple(tiles)))
            if len(rows) > 1:
                out.append(Visual(f"{name} — {dataset} ×{scale}, LR image {kernel_index}",
                                  rows=tuple(rows), side_by_side=True))
    return out


def has_images(run: Path) -> bool:
    """Whether a run folder holds ``--save-images`` output."""
    return (run / IMAGES / "hr").is_dir()
