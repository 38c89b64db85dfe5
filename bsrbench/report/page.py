"""The page: its sections built from :class:`~bsrbench.report.context.ReportData`, rendered
by the jinja2 templates in ``templates/`` (autoescaped: every string is text, never markup).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.report.blocks import Note, Section
from bsrbench.report.context import ReportData, check_runs, load, run_names
from bsrbench.report.formatting import CODE_L2, KERNEL_PSNR, MetricInfo, best_value, fmt
from bsrbench.report.metadata import metadata_blocks
from bsrbench.report.svg import Figure, Series, line_plot
from bsrbench.report.tables import (
    failures,
    finals,
    headline_table,
    kernel_tables,
    per_step,
    row_order,
    set_columns,
    step_table,
)

if TYPE_CHECKING:
    import jinja2

__all__ = ["render_report", "write_report"]

CONVENTIONS = {
    "matlab-y": "Y channel of BT.601 YCbCr as MATLAB computes it, SR rounded to uint8, "
                "a border of scale pixels cropped (as papers report)",
    "basicsr-y": "float Y channel as BasicSR computes it, border of scale pixels cropped",
    "rgb": "all RGB channels, border of scale pixels cropped",
}
HOW_IMAGES = ("Pictures need a run with --save-images: `bsrbench run ... --save-images "
              "--out NEW_DIR` (use a fresh --out: a resumed run skips finished images).")


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment: the package's templates, autoescaping everything."""
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("bsrbench.report", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def _iterative(frame: Any) -> list[tuple[str, str, int]]:
    ok = frame[frame["error"] == ""]
    steps = ok.groupby(["label", "set", "scale"], sort=False)["step"].nunique()
    return [(str(k[0]), str(k[1]), int(k[2])) for k, n in steps.items() if n > 1]


def plots(data: ReportData) -> list[Any]:
    """Every metric, kernel PSNR and code L2 against the step, one line per iterative
    method and test set."""
    groups = _iterative(data.frame)
    if not groups:
        return [Note("No iterative method (more than one step) in these runs.")]
    titles = {KERNEL_PSNR.name: "Kernel PSNR vs step", CODE_L2.name: "Kernel code L2 error vs step"}
    scores = [*data.metrics, KERNEL_PSNR, CODE_L2]
    means = per_step(data.frame, [m.name for m in scores])
    figs = []
    for m in scores:
        series, dropped = [], False
        for label, s, sc in groups:
            part = means[(means["label"] == label) & (means["set"] == s) & (means["scale"] == sc)]
            pts = []
            for step, v in zip(part["step"], part[m.name]):
                if v == v and abs(v) != float("inf"):
                    pts.append((float(step), float(v)))
                elif v == v:
                    dropped = True
            final = part.loc[part["final"], "step"]
            if pts:
                series.append(Series(f"{label} · {s} ×{sc}", tuple(pts),
                                     float(final.iloc[0]) if len(final) else None))
        plot = line_plot(series, title=titles.get(m.name, f"{m.label} vs step"), xlabel="step",
                         ylabel=f"{m.label}{f' ({m.unit})' if m.unit else ''}, {m.direction}",
                         width=380, height=260)
        if plot is None:
            continue
        cap = "Mean over LR images; larger dot: the final step (the reported result)."
        if dropped:
            cap += " Steps whose mean is infinite (an estimate equal to the truth) not drawn."
        figs.append((plot, cap))
    return [Figure(tuple(figs))]


def summary_items(data: ReportData) -> list[tuple[str, bool]]:
    """The summary's lines, each with whether it is a warning."""
    frame, runs = data.frame, data.runs
    rows = row_order(frame)
    blind = [r.label for r in rows if not r.bound]
    bound = [r.label for r in rows if r.bound]
    items = [(f"{len(frame)} result rows from {len(runs)} run director"
              f"{'y' if len(runs) == 1 else 'ies'}: {', '.join(r.name for r in runs)}.", False)]
    items.append((f"Blind methods: {', '.join(blind) or 'none'}."
                  + (f" Upper bounds (ground-truth kernel or true noise level, not blind): "
                     f"{', '.join(bound)}." if bound else ""), False))
    by: MetricInfo | None = next((m for m in data.metrics if m.higher_better is not None), None)
    for s, scales in set_columns(frame):
        for sc in scales:
            sub = frame[(frame["set"] == s) & (frame["scale"] == sc)]
            n_hr = sub["image"].nunique()
            n_lr = len(sub.drop_duplicates(["image", "kernel_index"]))
            best = ""
            fin = finals(sub)
            if by is not None:
                means = fin[~fin["bound"]].groupby("label")[by.name].mean().dropna()
                top = best_value(means, by.higher_better)
                if top is not None:
                    who = means.index[list(means).index(top)]
                    best = (f"; best blind by {by.label}: {who} "
                            f"{fmt(top, by.decimals)} {by.unit}".rstrip())
            items.append((f"{s} ×{sc}: {n_hr} HR images, {n_lr} LR images{best}.", False))
    it = _iterative(frame)
    if it:
        items.append(("Iterative methods (every step scored, final step reported): "
                      + ", ".join(sorted({label for label, _, _ in it})) + ".", False))
    items.append(("Metrics: " + ("; ".join(f"{m.label} ({m.direction})" for m in data.metrics)
                                 or "none in results.csv") + ".", False))
    if "kernel_psnr" in frame and frame["kernel_psnr"].notna().any():
        items.append(("Kernel PSNR: each estimate against the ground-truth kernel after the "
                      "documented centre alignment (both zero-padded to one grid, the estimate "
                      "shifted by the whole pixels that bring its centre of mass nearest the "
                      "ground truth's; peak = the ground truth's maximum); equal to the plain "
                      "kernel PSNR for centred kernels of one size.", False))
    convs = sorted(set(frame["convention"]) - {""})
    for c in convs:
        items.append((f"Metric convention {c}: {CONVENTIONS.get(c, 'see run.json')}.", False))
    if len(convs) > 1:
        items.append(("Warning: more than one metric convention; such numbers are not "
                      "comparable.", True))
    for r in runs:
        if r.invalid:
            more = f" (and {len(r.invalid) - 3} more)" if len(r.invalid) > 3 else ""
            items.append((f"Warning: {len(r.invalid)} row(s) of {r.name}/results.csv do not "
                          f"parse and are left out: {'; '.join(r.invalid[:3])}{more}. The "
                          "next run into that folder recomputes them.", True))
    n_bad = int((frame["error"] != "").sum())
    items.append((f"Failed LR images: {n_bad}." if n_bad else "No LR image failed.", n_bad > 0))
    return items


def _pictures(data: ReportData, runs: Sequence[Path], max_images: int,
              kernel_index: int) -> tuple[list[Any], list[Any]]:
    from bsrbench.report.images import has_images, images_section, kernels_section

    without = [r.name for r, p in zip(data.runs, runs) if not has_images(p)]
    if len(without) == len(runs):
        return ([Note(f"No pictures stored. {HOW_IMAGES}")],
                [Note("No kernel pictures stored (see above).")])
    imgs: list[Any] = [Note(f"Up to {max_images} images, LR image {kernel_index} of each; crops "
                            "shown 3× with nearest-neighbour zoom; the red box marks the crop "
                            "(highest-variance HR square).")]
    if without:
        imgs.append(Note(f"No pictures stored for {', '.join(without)}. {HOW_IMAGES}"))
    imgs += images_section(data.frame, runs, data.metrics, max_images=max_images,
                           kernel_index=kernel_index)
    kers = kernels_section(data.frame, runs, max_images=max_images, kernel_index=kernel_index)
    if kers:
        kers.insert(0, Note("Stored kernel pictures, each scaled to its own maximum; numbers: "
                            "kernel PSNR against the ground truth."))
    else:
        kers = [Note("No kernel pictures: no method in these runs estimates kernels, or the "
                     "test set has no ground-truth kernels.")]
    return imgs, kers


def sections(data: ReportData, runs: Sequence[Path], *, max_images: int,
             kernel_index: int) -> list[Section]:
    """The page's sections in order; empty ones left out."""
    meta = metadata_blocks(data.runs)
    if data.frame.empty:
        return [Section("meta", "Run metadata", tuple(meta))]
    imgs, kers = _pictures(data, runs, max_images, kernel_index)
    headline = headline_table(data.frame, data.metrics)
    steps = step_table(data.frame, data.metrics)
    parts = (
        ("headline", "Headline results",
         [headline] if headline else [Note("No final-step results.")]),
        ("sigma", "Metrics per kernel", kernel_tables(data.frame, data.metrics)),
        ("plots", "Iterative methods: metrics per step", plots(data)),
        ("steps", "Per-step table", [steps] if steps else []),
        ("images", "Visual comparison", imgs), ("kernels", "Kernels: ground truth vs estimates",
                                                 kers),
        ("failures", "Failed LR images", failures(data.frame)), ("meta", "Run metadata", meta),
    )
    return [Section(key, title, tuple(blocks)) for key, title, blocks in parts if blocks]


def bundled_notices(data: ReportData) -> list[str]:
    """What bundled short-budget weights are and how far from the paper (run.json's
    ``bundled_notes``), each note once with the methods that used those weights: the
    header says it first."""
    methods: dict[str, list[str]] = {}
    for run in data.runs:
        for entry in run.entries:
            for note in entry.get("bundled_notes") or ():
                if isinstance(note, str):
                    users = methods.setdefault(note, [])
                    if str(entry.get("method")) not in users:
                        users.append(str(entry.get("method")))
    return [f"Bundled weights ({', '.join(users)}): {note}" for note, users in methods.items()]


def render_report(run_dirs: Sequence[str | Path], *, max_images: int = 3,
                  kernel_index: int = 0) -> str:
    """The report page as a string (see :func:`write_report`)."""
    from bsrbench import __version__

    runs = check_runs(run_dirs)
    data = load(runs)
    names = ", ".join(run_names(runs))
    context = {
        "title": f"bsrbench report — {names}",
        "subtitle": f"{names} · rendered by bsrbench {__version__} from results.csv, run.json "
                    "and images/ only",
        "notices": bundled_notices(data),
        "empty": data.frame.empty,
        "summary": [] if data.frame.empty else summary_items(data),
        "sections": sections(data, runs, max_images=max_images, kernel_index=kernel_index),
    }
    return environment().get_template("report.html").render(context)


def write_report(run_dirs: Sequence[str | Path], out: str | Path, *, max_images: int = 3,
                 kernel_index: int = 0) -> Path:
    """Render one self-contained HTML report of ``run_dirs`` into ``out``.

    Args:
        run_dirs: run folders (each with results.csv; run.json and images/ optional).
        out: the HTML file to write (parent folders are created).
        max_images: HR images in the visual comparison, per test set and scale.
        kernel_index: which LR image of each HR image the pictures show.

    Returns:
        ``out`` as a Path.

    Raises:
        InputError: a run folder is missing or has no results.csv, or a results.csv is
            not a bsrbench results file.
    """
    page = render_report(run_dirs, max_images=max_images, kernel_index=kernel_index)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(page.encode("utf-8"))
    tmp.replace(out)
    return out
