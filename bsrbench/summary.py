"""Summaries of results.csv: mean metrics per step, the final-step headline, the oracle.

The headline of a method is its final step (``is_final``). IKC's official test script
instead picks, per image, the step with the best PSNR against the ground truth; that
figure is computed here only under the name ``oracle best step`` and never as a result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["metric_columns", "oracle_best_step", "per_step_table", "summary_text"]

GROUP = ["method", "dataset", "scale"]


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The image-metric columns of a results frame (psnr, ssim, plugin metrics): every
    column that is not one of bsrbench's fixed ones."""
    from bsrbench.results import BASE_COLUMNS, TAIL_COLUMNS

    fixed = set(BASE_COLUMNS) | set(TAIL_COLUMNS)
    return [c for c in frame.columns if c not in fixed and frame[c].dtype.kind in "fi"]


def per_step_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean of every metric, kernel PSNR, code L2 and seconds per (method, dataset, scale,
    step) over scored rows, with ``n`` and ``final``."""
    from bsrbench.results import per_step

    ok = frame[frame["error"] == ""]
    cols = [*metric_columns(ok), *(c for c in ("kernel_psnr", "code_l2", "seconds") if c in ok)]
    return per_step(frame, cols, GROUP)


def oracle_best_step(frame: pd.DataFrame) -> pd.DataFrame:
    """ORACLE: per LR image, the step with the highest PSNR (chosen with the ground truth),
    as IKC's official test script reports. An upper bound, not a blind result."""
    ok = frame[frame["error"] == ""]
    keys = [*GROUP, "image", "kernel_index"]
    best = ok.loc[ok.groupby(keys)["psnr"].idxmax()]
    return best.groupby(GROUP)[metric_columns(ok)].mean().reset_index()


def _fmt(value: float, width: int) -> str:
    if value != value:  # NaN
        return f"{'-':>{width}}"
    return f"{value:{width}.4f}" if abs(value) < 2 else f"{value:{width}.2f}"


def _published_line(rows: pd.DataFrame, method: str, dataset: str, scale: int) -> str:
    """The published row for a measured group, marked as quoted, with the difference of
    the measured final step (never ranked with measured rows); '' when there is none."""
    from bsrbench.published import match

    ok = rows[(rows["error"] == "") & rows["is_final"]]
    if ok.empty or "psnr" not in ok:
        return ""
    downs = sorted(set(ok["downsampler"].dropna())) if "downsampler" in ok else []
    noises = sorted(set(ok["noise"].dropna())) if "noise" in ok else [0.0]
    if len(downs) > 1 or len(noises) > 1:
        return ""
    row = match(method, dataset.split("/")[0], dataset, scale,
                downsampler=downs[0] if downs else None, noise=noises[0] if noises else 0.0)
    if row is None:
        return ""
    measured = ok["psnr"].mean()
    ssim = f" / {row.ssim:.4f}" if row.ssim is not None else ""
    return (f"  published (quoted, not measured): {row.psnr:.2f}{ssim} - {row.citation}; "
            f"metric convention: {row.convention}; measured final step "
            f"{measured - row.psnr:+.2f} dB against it")


def summary_text(frame: pd.DataFrame, invalid: int = 0,
                 notes: Mapping[str, Sequence[str]] | None = None) -> str:
    """The table printed at the end of a run: mean metrics per step, final step marked,
    every metric column the run scored; ``notes`` per method label (what bundled weights
    are and how far from the paper) are printed under the method's table."""
    if frame.empty:
        return "no results"
    lines = []
    table = per_step_table(frame)
    metrics = metric_columns(frame[frame["error"] == ""])
    for (method, dataset, scale), part in table.groupby(GROUP, sort=False):
        mine = frame[(frame["method"] == method) & (frame["dataset"] == dataset)
                     & (frame["scale"] == scale)]
        tags = []
        if bool(mine["upper_bound"].any()):
            tags.append("upper bound: uses the ground-truth kernel")
        if "noise_known" in mine and bool(mine["noise_known"].any()):
            tags.append("upper bound: the true noise level reached the method")
        weights = sorted(set(mine["weights"].dropna())) if "weights" in mine else []
        if weights and weights != [""]:
            tags.insert(0, f"weights: {', '.join(weights)}")
        tag = f"  [{'; '.join(tags)}]" if tags else ""
        lines.append(f"{method} on {dataset} x{int(scale)}{tag}")
        heads = "".join(f" {m.upper() if m in ('psnr', 'ssim') else m:>9}" for m in metrics)
        lines.append(f"  {'step':>6}{heads} {'kernel PSNR':>12} {'code L2':>8} {'s/img':>7} "
                     f"{'n':>4}")
        for _, r in part.iterrows():
            mark = "final" if r["final"] else ""
            vals = "".join(f" {_fmt(r[m], 9)}" for m in metrics)
            kp = f"{r['kernel_psnr']:12.2f}" if r.get("kernel_psnr") == r.get("kernel_psnr") \
                else f"{'-':>12}"
            cl = f"{r['code_l2']:8.4f}" if r.get("code_l2") == r.get("code_l2") else f"{'-':>8}"
            lines.append(f"  {int(r['step']):>6}{vals} {kp} {cl} "
                         f"{r['seconds']:7.2f} {int(r['n']):>4}  {mark}")
        quoted = _published_line(mine, method, dataset, int(scale))
        if quoted:
            lines.append(quoted)
        for note in (notes or {}).get(method, ()):
            lines.append(f"  note: {note}")
        if part["step"].nunique() > 1 and "psnr" in metrics:
            o = oracle_best_step(mine).iloc[0]
            shown = " / ".join(_fmt(o[m], 0).strip() for m in metrics)
            lines.append(f"  oracle best step per image (chosen with the ground truth, "
                         f"not a result): {shown}")
    failed = frame[frame["error"] != ""]
    if not failed.empty:
        lines.append(f"{len(failed)} LR images failed; see the error column of results.csv")
    if invalid:
        lines.append(f"{invalid} rows of results.csv did not parse: they were left out of "
                     "these means and recomputed")
    return "\n".join(lines)
