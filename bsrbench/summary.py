"""Summaries of results.csv: mean metrics per step, the final-step headline, the oracle.

The headline of a method is its final step (``is_final``). IKC's official test script
instead picks, per image, the step with the best PSNR against the ground truth; that
figure is computed here only under the name ``oracle best step`` and never as a result.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_frame", "oracle_best_step", "per_step_table", "summary_text"]

GROUP = ["method", "dataset", "scale"]


def load_frame(path: str | Path) -> pd.DataFrame:
    """results.csv as a DataFrame with numeric columns typed (torn last line ignored)."""
    import pandas as pd

    from bsrbench.results import read_results

    rows = read_results(path)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    for col in ("scale", "kernel_index", "step", "psnr", "ssim", "kernel_psnr", "code_l2",
                "seconds", "sigma", "sigma2", "theta", "noise"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    for col in ("is_final", "upper_bound"):
        if col in frame:
            frame[col] = frame[col] == "True"
    frame["error"] = frame.get("error", pd.Series(dtype=str)).fillna("")
    return frame


def per_step_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR/SSIM/kernel error per (method, dataset, scale, step) over scored rows."""
    ok = frame[frame["error"] == ""]
    cols = [c for c in ("psnr", "ssim", "kernel_psnr", "code_l2", "seconds") if c in ok]
    table = ok.groupby([*GROUP, "step"])[cols].mean()
    table["n"] = ok.groupby([*GROUP, "step"]).size()
    final = ok[ok["is_final"]].groupby(GROUP)["step"].max()
    table["final"] = [final.get(tuple(idx[:3])) == idx[3] for idx in table.index]
    return table.reset_index()


def oracle_best_step(frame: pd.DataFrame) -> pd.DataFrame:
    """ORACLE: per LR image, the step with the highest PSNR (chosen with the ground truth),
    as IKC's official test script reports. An upper bound, not a blind result."""
    ok = frame[frame["error"] == ""]
    keys = [*GROUP, "image", "kernel_index"]
    best = ok.loc[ok.groupby(keys)["psnr"].idxmax()]
    return best.groupby(GROUP)[["psnr", "ssim"]].mean().reset_index()


def summary_text(frame: pd.DataFrame) -> str:
    """The table printed at the end of a run: mean metrics per step, final step marked."""
    if frame.empty:
        return "no results"
    lines = []
    table = per_step_table(frame)
    for (method, dataset, scale), part in table.groupby(GROUP, sort=False):
        upper = bool(frame.loc[frame["method"] == method, "upper_bound"].any())
        tag = "  [upper bound: uses the ground-truth kernel]" if upper else ""
        lines.append(f"{method} on {dataset} x{int(scale)}{tag}")
        lines.append(f"  {'step':>6} {'PSNR':>8} {'SSIM':>7} {'kernel PSNR':>12} "
                     f"{'code L2':>8} {'s/img':>7} {'n':>4}")
        for _, r in part.iterrows():
            mark = "final" if r["final"] else ""
            kp = f"{r['kernel_psnr']:12.2f}" if r.get("kernel_psnr") == r.get("kernel_psnr") \
                else f"{'-':>12}"
            cl = f"{r['code_l2']:8.4f}" if r.get("code_l2") == r.get("code_l2") else f"{'-':>8}"
            lines.append(f"  {int(r['step']):>6} {r['psnr']:8.2f} {r['ssim']:7.4f} {kp} {cl} "
                         f"{r['seconds']:7.2f} {int(r['n']):>4}  {mark}")
        if part["step"].nunique() > 1:
            sub = frame[(frame["method"] == method) & (frame["dataset"] == dataset)
                        & (frame["scale"] == scale)]
            o = oracle_best_step(sub).iloc[0]
            lines.append(f"  oracle best step per image (chosen with the ground truth, "
                         f"not a result): {o['psnr']:.2f} / {o['ssim']:.4f}")
    failed = frame[frame["error"] != ""]
    if not failed.empty:
        lines.append(f"{len(failed)} LR images failed; see the error column of results.csv")
    return "\n".join(lines)
