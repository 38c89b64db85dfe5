"""The HTML report: one self-contained page rendered only from stored run directories.

A report reads ``results.csv``, ``run.json`` and, when present, the ``images/`` folder of
each run directory and nothing else, so it can be rebuilt at any time and gives the same
page for the same files. The page needs no network at view time: the stylesheet is inline,
plots are SVG drawn here, pictures are ``data:`` URIs.

Headline numbers are final-step means (``is_final``). Compositions with the ground-truth
kernel (``upper_bound``) are shown apart from blind methods, and the per-image best step
of iterative methods appears only on a line labelled as an oracle.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench._report_html import CSS, esc, fmt, tag
from bsrbench._report_tables import (
    failures,
    finals,
    headline_table,
    iterative_groups,
    metadata,
    row_order,
    run_names,
    set_columns,
    sigma_tables,
    step_table,
    with_report_keys,
)
from bsrbench.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["render_report", "write_report"]

CONVENTIONS = {
    "matlab-y": "Y channel of BT.601 YCbCr as MATLAB computes it, SR rounded to uint8, "
                "a border of scale pixels cropped (as papers report)",
    "basicsr-y": "float Y channel as BasicSR computes it, border of scale pixels cropped",
    "rgb": "all RGB channels, border of scale pixels cropped",
}
NUMERIC = ("scale", "kernel_index", "step", "psnr", "ssim", "kernel_psnr", "code_l2",
           "seconds", "sigma", "sigma2", "theta", "noise")
_NUMPY_REPR = re.compile(r"^np\.\w+\((.*)\)$")  # "np.float64(1.8)" written by numpy 2 reprs


def _load_frame(path: Path) -> pd.DataFrame:
    """results.csv typed as :func:`bsrbench.summary.load_frame` does, also accepting
    numbers stored as numpy reprs (``np.float64(1.8)``)."""
    import pandas as pd

    from bsrbench.results import read_results

    rows = read_results(path)
    frame = pd.DataFrame(rows, dtype=str)
    if frame.empty:
        return frame
    for col in NUMERIC:
        if col in frame:
            clean = frame[col].fillna("").str.replace(_NUMPY_REPR, r"\1", regex=True)
            frame[col] = pd.to_numeric(clean, errors="coerce")
    for col in ("is_final", "upper_bound"):
        frame[col] = frame[col] == "True" if col in frame else False
    frame["error"] = frame["error"].fillna("") if "error" in frame else ""
    return frame


def _read_meta(run: Path) -> list[dict[str, Any]]:
    try:
        loaded = json.loads((run / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        return []
    runs = loaded.get("runs", []) if isinstance(loaded, dict) else []
    return [r for r in runs if isinstance(r, dict)]


def _load(runs: Sequence[Path]) -> pd.DataFrame:
    """All rows of all runs, with ``run`` (index), ``label`` (row name) and ``set``
    (column name: the dataset, plus downsampler or convention where those vary)."""
    import pandas as pd

    frames = []
    for i, run in enumerate(runs):
        f = _load_frame(run / "results.csv")
        if not f.empty:
            missing = [c for c in ("method", "dataset", "scale", "image", "step", "psnr")
                       if c not in f]
            if missing:
                raise InputError(f"{run / 'results.csv'} is not a bsrbench results file "
                                 f"(no column {', '.join(missing)})")
            frames.append(f.assign(run=i))
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    for col, default in (("upper_bound", False), ("downsampler", ""), ("convention", ""),
                         ("kernel_index", 0), ("sigma", float("nan")),
                         ("kernel_psnr", float("nan")), ("code_l2", float("nan")),
                         ("seconds", float("nan")), ("noise", 0.0), ("ssim", float("nan"))):
        if col not in frame:
            frame[col] = default
    names = run_names(runs)
    owners = frame.groupby(["method", "dataset", "scale"])["run"].nunique()
    shared = {k for k, n in owners.items() if n > 1}
    frame["label"] = [f"{m} ({names[r]})" if (m, d, s) in shared else m
                      for m, d, s, r in zip(frame["method"], frame["dataset"], frame["scale"],
                                            frame["run"])]
    sets = []
    varying = {col: frame.groupby("dataset")[col].nunique() for col in
               ("downsampler", "convention")}
    for d, ds, conv, noise in zip(frame["dataset"], frame["downsampler"], frame["convention"],
                                  frame["noise"]):
        extra = [v for col, v in (("downsampler", ds), ("convention", conv))
                 if varying[col].get(d, 1) > 1]
        if noise == noise and noise > 0:
            extra.append(f"noise {noise:g}")
        sets.append(f"{d} ({', '.join(extra)})" if extra else d)
    frame["set"] = sets
    return frame


PLOTS = (("psnr", "PSNR vs step", "PSNR (dB)"),
         ("kernel_psnr", "Kernel PSNR vs step", "kernel PSNR (dB)"),
         ("code_l2", "Kernel code L2 error vs step", "code L2 (lower is better)"))


def plots(frame: pd.DataFrame) -> str:
    """PSNR, kernel PSNR and code L2 against the step, one line per iterative method/set."""
    from bsrbench._report_svg import Series, line_plot
    from bsrbench.summary import per_step_table

    groups = iterative_groups(frame)
    if not groups:
        return tag("p", "No iterative method (more than one step) in these runs.", class_="note")
    table_ = per_step_table(with_report_keys(frame))
    figs = []
    for col, title, ylabel in PLOTS:
        series, dropped = [], False
        for label, s, sc in groups:
            part = table_[(table_["method"] == label) & (table_["dataset"] == s)
                          & (table_["scale"] == sc)]
            pts = []
            for r in part.itertuples():
                v = float(getattr(r, col))
                if v == v and abs(v) != float("inf"):
                    pts.append((float(r.step), v))
                elif v == v:
                    dropped = True
            final = part.loc[part["final"], "step"]
            if pts:
                series.append(Series(f"{label} · {s} ×{sc}", tuple(pts),
                                     float(final.iloc[0]) if len(final) else None))
        if not series:
            continue
        cap = "Mean over LR images; larger dot: the final step (the reported result)."
        if dropped:
            cap += " Steps whose mean is infinite (an estimate equal to the truth) not drawn."
        figs.append(tag("figure", line_plot(series, title=title, xlabel="step", ylabel=ylabel,
                                  width=380, height=260)
                        + tag("figcaption", esc(cap))))
    return tag("div", "".join(figs), class_="plots")


def _summary(frame: pd.DataFrame, runs: Sequence[Path]) -> str:
    rows = row_order(frame)
    blind = [label for label, upper in rows if not upper]
    upper = [label for label, up in rows if up]
    items = [f"{len(frame)} result rows from {len(runs)} run director"
             f"{'y' if len(runs) == 1 else 'ies'}: {', '.join(run_names(runs))}."]
    items.append(f"Blind methods: {', '.join(blind) or 'none'}."
                 + (f" Upper bounds (ground-truth kernel, not blind): {', '.join(upper)}."
                    if upper else ""))
    for s, scales in set_columns(frame):
        for sc in scales:
            sub = frame[(frame["set"] == s) & (frame["scale"] == sc)]
            n_hr, n_lr = sub["image"].nunique(), len(sub.drop_duplicates(["image",
                                                                           "kernel_index"]))
            fin = finals(sub)
            means = fin[~fin["upper_bound"]].groupby("label")["psnr"].mean()
            best = (f"; best blind: {means.idxmax()} {fmt(means.max(), 'psnr')} dB"
                    if len(means) else "")
            items.append(f"{s} ×{sc}: {n_hr} HR images, {n_lr} LR images{best}.")
    it = iterative_groups(frame)
    if it:
        items.append("Iterative methods (every step scored, final step reported): "
                     + ", ".join(sorted({label for label, _, _ in it})) + ".")
    convs = sorted(set(frame["convention"]) - {""})
    for c in convs:
        items.append(f"Metric convention {c}: {CONVENTIONS.get(c, 'see run.json')}.")
    if len(convs) > 1:
        items.append("Warning: more than one metric convention; such numbers are not "
                     "comparable.")
    n_bad = int((frame["error"] != "").sum())
    items.append(f"Failed LR images: {n_bad}." if n_bad else "No LR image failed.")
    lis = "".join(tag("li", esc(i), class_="warn" if i.startswith(("Warning", "Failed"))
                      else None) for i in items)
    legend = tag("dl", "".join([
        tag("dt", "Numbers") + tag("dd", "PSNR in dB with 2 decimals, SSIM with 4; means "
                                         "over LR images of the final step."),
        tag("dt", "Bold") + tag("dd", "best blind method in a table column."),
        tag("dt", tag("span", "upper bound", class_="badge ub"))
        + tag("dd", "uses the ground-truth kernel (oracle estimator): a ceiling, not a "
                    "blind result; never ranked."),
        tag("dt", tag("span", "oracle", class_="badge oracle"))
        + tag("dd", "per-image best step chosen with the ground truth: not a result."),
        tag("dt", tag("span", "final", class_="badge final"))
        + tag("dd", "the step an iterative method reports."),
    ]), class_="legend")
    return tag("div", tag("ul", lis) + legend, class_="summary")


SECTIONS = (
    ("headline", "Headline results"), ("sigma", "Gaussian8: PSNR per kernel width"),
    ("plots", "Iterative methods: metrics per step"), ("steps", "Per-step table"),
    ("images", "Visual comparison"), ("kernels", "Kernels: ground truth vs estimates"),
    ("failures", "Failed LR images"), ("meta", "Run metadata"),
)


def _check_runs(run_dirs: Sequence[str | Path]) -> list[Path]:
    if not run_dirs:
        raise InputError("no run directory given")
    runs = [Path(r) for r in run_dirs]
    for r in runs:
        if not (r / "results.csv").is_file():
            what = "not found" if not r.exists() else "has no results.csv"
            raise InputError(f"run directory {r} {what}: give directories written by "
                             "`bsrbench run --out DIR`")
    return runs


def render_report(run_dirs: Sequence[str | Path], *, max_images: int = 3,
                  kernel_index: int = 0) -> str:
    """The report page as a string (see :func:`write_report`)."""
    from bsrbench import __version__
    from bsrbench._report_images import has_images, images_section, kernels_section

    runs = _check_runs(run_dirs)
    metas = [_read_meta(r) for r in runs]
    frame = _load(runs)
    title = "bsrbench report — " + ", ".join(run_names(runs))
    body = [tag("h1", "bsrbench report"),
            tag("p", esc(f"{', '.join(run_names(runs))} · rendered by bsrbench {__version__} "
                         "from results.csv, run.json and images/ only"), class_="sub")]
    if frame.empty:
        body.append(tag("p", "These runs have no results yet.", class_="warn"))
        body.append(tag("h2", "Run metadata", id="meta") + metadata(runs, metas))
    else:
        with_images = [r for r in runs if has_images(r)]
        without = [n for r, n in zip(runs, run_names(runs)) if not has_images(r)]
        how = ("Pictures need a run with --save-images: `bsrbench run ... --save-images "
               "--out NEW_DIR` (use a fresh --out: a resumed run skips finished images).")
        if with_images:
            imgs = images_section(frame, runs, max_images=max_images, kernel_index=kernel_index)
            kers = kernels_section(frame, runs, max_images=max_images, kernel_index=kernel_index)
            if without:
                imgs = tag("p", esc(f"No pictures stored for {', '.join(without)}. {how}"),
                           class_="note") + imgs
            kers = kers or tag("p", "No kernel pictures: no method in these runs estimates "
                                    "kernels, or the test set has no ground-truth kernels.",
                               class_="note")
        else:
            imgs = tag("p", esc(f"No pictures stored. {how}"), class_="note")
            kers = tag("p", "No kernel pictures stored (see above).", class_="note")
        content = {
            "headline": headline_table(frame), "sigma": sigma_tables(frame),
            "plots": plots(frame), "steps": step_table(frame), "images": imgs,
            "kernels": kers, "failures": failures(frame), "meta": metadata(runs, metas),
        }
        shown = [(k, t) for k, t in SECTIONS if content[k]]
        body.append(tag("nav", "".join(tag("a", esc(t), href=f"#{k}") for k, t in shown),
                        class_="toc"))
        body.append(tag("h2", "Summary", id="summary") + _summary(frame, runs))
        for key, heading in shown:
            intro = ""
            if key == "images":
                intro = tag("p", esc(f"Up to {max_images} images, LR image {kernel_index} of "
                                     "each; crops shown 3× with nearest-neighbour zoom; the "
                                     "red box marks the crop (highest-variance HR square)."),
                            class_="note")
            elif key == "kernels" and "<img" in content[key]:
                intro = tag("p", "Stored kernel pictures, each scaled to its own maximum; "
                                 "numbers: kernel PSNR against the ground truth.", class_="note")
            body.append(tag("h2", esc(heading), id=key) + intro + content[key])
    head = ('<meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            + tag("title", esc(title)) + tag("style", CSS))
    page = tag("html", tag("head", head) + tag("body", tag("main", "".join(body))), lang="en")
    return "<!DOCTYPE html>\n" + page + "\n"


def write_report(run_dirs: Sequence[str | Path], out: str | Path, *, max_images: int = 3,
                 kernel_index: int = 0) -> Path:
    """Render one self-contained HTML report of ``run_dirs`` into ``out``.

    Args:
        run_dirs: run directories (each with results.csv; run.json and images/ optional).
        out: the HTML file to write (parent folders are created).
        max_images: HR images in the visual comparison, per test set and scale.
        kernel_index: which LR image of each HR image the pictures show.

    Returns:
        ``out`` as a Path.

    Raises:
        InputError: a run directory is missing or has no results.csv.
    """
    page = render_report(run_dirs, max_images=max_images, kernel_index=kernel_index)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
