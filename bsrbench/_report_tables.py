"""The report's tables: headline, Gaussian8 per kernel width, per step, failures, metadata.

Rows are the report's ``label`` (method, plus the run directory when two runs share a
method), columns its ``set`` (dataset, plus what varies); see :func:`bsrbench.report._load`.
Methods with ``upper_bound`` are always grouped apart from blind ones and never bolded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench._report_html import Cell, esc, fmt, table, tag

if TYPE_CHECKING:
    import pandas as pd

ORACLE_TEXT = "oracle best step per image (chosen with the ground truth, not a result)"
UPPER_TEXT = "upper bound (ground-truth kernel)"

__all__ = ["failures", "finals", "headline_table", "iterative_groups", "metadata", "row_order",
           "run_names", "set_columns", "sigma_tables", "step_table", "with_report_keys"]


def run_names(runs: Sequence[Path]) -> list[str]:
    """Short names of run directories: the folder name, or the path where names clash."""
    names = [r.name or str(r) for r in runs]
    return [str(r) if names.count(n) > 1 else n for r, n in zip(runs, names)]


def finals(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["error"] == "") & frame["is_final"]]


def row_order(frame: pd.DataFrame) -> list[tuple[str, bool]]:
    """(label, upper bound) in order of appearance, blind methods first."""
    seen = dict.fromkeys(zip(frame["label"], frame["upper_bound"]))
    return sorted(seen, key=lambda t: t[1])


def set_columns(frame: pd.DataFrame) -> list[tuple[str, list[int]]]:
    sets = dict.fromkeys(frame["set"])
    return [(s, sorted(int(x) for x in frame.loc[frame["set"] == s, "scale"].unique()))
            for s in sets]


def _best(values: dict[str, float], blind: set[str]) -> float | None:
    vals = [v for k, v in values.items() if k in blind and v == v]
    return max(vals) if vals else None


def _num(value: float, kind: str, best: float | None) -> str:
    text = esc(fmt(value, kind))
    return tag("b", text, class_="best") if best is not None and value == best else text


def _method_cell(label: str, upper: bool) -> Cell:
    badge = tag("span", "upper bound", class_="badge ub") if upper else ""
    return Cell(esc(label) + badge, "name")


def _body_with_groups(rows: list[tuple[str, bool]],
                      make: Any, width: int) -> list[tuple[str, list[Cell | str]]]:
    body: list[tuple[str, list[Cell | str]]] = []
    blind = [r for r in rows if not r[1]]
    upper = [r for r in rows if r[1]]
    if blind and upper:
        body.append(("group", [Cell("blind methods", colspan=width)]))
    body.extend(("", make(label, False)) for label, _ in blind)
    if upper:
        body.append(("group", [Cell(esc(UPPER_TEXT) + " — not blind, not ranked",
                                    colspan=width)]))
        body.extend(("ub", make(label, True)) for label, _ in upper)
    return body


def headline_table(frame: pd.DataFrame) -> str:
    """Rows methods, columns test set × scale, cells final-step "PSNR / SSIM"."""
    fin = finals(frame)
    if fin.empty:
        return tag("p", "No final-step results.", class_="note")
    cols = set_columns(frame)
    rows = row_order(frame)
    blind = {label for label, upper in rows if not upper}
    means = fin.groupby(["label", "set", "scale"])[["psnr", "ssim"]].mean()
    counts = fin.groupby(["label", "set", "scale"]).size()
    failed = frame[frame["error"] != ""].groupby(["label", "set", "scale"]).size()
    head1: list[Cell | str] = [Cell("method", rowspan=2)]
    head1 += [Cell(esc(s), colspan=len(scales)) for s, scales in cols]
    head2: list[Cell | str] = [f"×{sc}" for _, scales in cols for sc in scales]
    best, full = {}, {}
    for s, scales in cols:
        for sc in scales:
            key = (s, sc)
            col = {label: means.loc[(label, s, sc)] for label, _ in rows
                   if (label, s, sc) in means.index}
            best[key] = (_best({k: v["psnr"] for k, v in col.items()}, blind),
                         _best({k: v["ssim"] for k, v in col.items()}, blind))
            full[key] = max((counts.get((label, s, sc), 0) for label, _ in rows), default=0)
    partial = False

    def make(label: str, upper: bool) -> list[Cell | str]:
        nonlocal partial
        cells: list[Cell | str] = [_method_cell(label, upper)]
        for s, scales in cols:
            for sc in scales:
                if (label, s, sc) not in means.index:
                    cells.append(Cell("–", "num"))
                    continue
                m = means.loc[(label, s, sc)]
                bp, bs = best[(s, sc)] if not upper else (None, None)
                n = int(counts[(label, s, sc)])
                star = ""
                if n < full[(s, sc)] or failed.get((label, s, sc), 0):
                    partial, star = True, tag("sup", "*")
                cells.append(Cell(f"{_num(m['psnr'], 'psnr', bp)} / {_num(m['ssim'], 'ssim', bs)}"
                                  f"{star}", "num", title=f"mean over {n} LR images"))
        return cells

    body = _body_with_groups(rows, make, 1 + sum(len(s) for _, s in cols))
    cap = ("Final step, mean over LR images; PSNR (dB) / SSIM; bold: best blind method in "
           "the column.")
    if partial:
        cap += " * the mean leaves out LR images that failed or were not run."
    return table([head1, head2], body, css="headline", caption=esc(cap))


def _is_gaussian8(frame: pd.DataFrame, set_name: str) -> bool:
    datasets = frame.loc[frame["set"] == set_name, "dataset"].unique()
    return any(str(d).split("/")[0] == "gaussian8" for d in datasets)


def sigma_tables(frame: pd.DataFrame) -> str:
    """Gaussian8: final-step PSNR per kernel width, one table per test set and scale."""
    fin = finals(frame)
    out = []
    for s, scales in set_columns(frame):
        if not _is_gaussian8(frame, s):
            continue
        for sc in scales:
            sub = fin[(fin["set"] == s) & (fin["scale"] == sc)]
            if sub.empty:
                continue
            ks = sorted(int(k) for k in sub["kernel_index"].dropna().unique())
            sig = sub.groupby("kernel_index")["sigma"].first()
            head: list[Cell | str] = ["method"] + [
                Cell(f"σ = {sig[k]:.2f}" if sig.get(k) == sig.get(k) else f"kernel {k}")
                for k in ks]
            means = sub.groupby(["label", "kernel_index"])["psnr"].mean()
            rows = [r for r in row_order(frame) if r[0] in set(sub["label"])]
            blind = {label for label, upper in rows if not upper}
            best = {k: _best({label: means.get((label, k), float("nan")) for label, _ in rows},
                             blind) for k in ks}

            def make(label: str, upper: bool, means: Any = means, ks: list[int] = ks,
                     best: dict[int, float | None] = best) -> list[Cell | str]:
                return [_method_cell(label, upper)] + [
                    Cell(_num(means.get((label, k), float("nan")), "psnr",
                              None if upper else best[k]), "num") for k in ks]

            out.append(tag("h3", esc(f"{s} ×{sc}")))
            out.append(table([head], _body_with_groups(rows, make, 1 + len(ks)),
                             caption=esc("Final-step PSNR (dB) per Gaussian kernel width σ, "
                                         "mean over HR images; bold: best blind method.")))
    return "".join(out)


def with_report_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with summary.py's group keys replaced by this report's row/column names."""
    return frame.assign(method=frame["label"], dataset=frame["set"])


def iterative_groups(frame: pd.DataFrame) -> list[tuple[str, str, int]]:
    ok = frame[frame["error"] == ""]
    steps = ok.groupby(["label", "set", "scale"], sort=False)["step"].nunique()
    return [(str(k[0]), str(k[1]), int(k[2])) for k, n in steps.items() if n > 1]


def step_table(frame: pd.DataFrame) -> str:
    """Mean metrics per step of every method, with the oracle best-step line."""
    from bsrbench.summary import oracle_best_step, per_step_table

    ok = frame[frame["error"] == ""]
    if ok.empty:
        return ""
    keyed = with_report_keys(ok)
    per_step = per_step_table(keyed)
    head: list[Cell | str] = ["method", "test set", "scale", "step", "PSNR", "SSIM",
                              "kernel PSNR", "code L2", "s / LR image", "n"]
    body: list[tuple[str, list[Cell | str]]] = []
    order = [(label, upper) for label, upper in row_order(frame)]
    for label, upper in order:
        for s, scales in set_columns(frame):
            for sc in scales:
                part = per_step[(per_step["method"] == label) & (per_step["dataset"] == s)
                                & (per_step["scale"] == sc)]
                if part.empty:
                    continue
                iterative = len(part) > 1
                span = len(part) + (1 if iterative else 0)
                for i, r in enumerate(part.itertuples()):
                    cells: list[Cell | str] = []
                    if i == 0:
                        cells += [Cell(_method_cell(label, upper).html, "name", rowspan=span),
                                  Cell(esc(s), rowspan=span), Cell(f"×{sc}", rowspan=span)]
                    final = tag("span", "final", class_="badge final") if r.final else ""
                    cells += [Cell(f"{int(r.step)}{final}", "step num"),
                              Cell(esc(fmt(r.psnr, "psnr")), "num"),
                              Cell(esc(fmt(r.ssim, "ssim")), "num"),
                              Cell(esc(fmt(r.kernel_psnr, "kernel_psnr")), "num"),
                              Cell(esc(fmt(r.code_l2, "code_l2")), "num"),
                              Cell(esc(fmt(r.seconds, "seconds")), "num"),
                              Cell(str(int(r.n)), "num")]
                    css = " ".join(c for c in ("ub" if upper else "",
                                               "final" if r.final else "") if c)
                    body.append((css, cells))
                if iterative:
                    sub = keyed[(keyed["method"] == label) & (keyed["dataset"] == s)
                                & (keyed["scale"] == sc)]
                    o = oracle_best_step(sub).iloc[0]
                    body.append(("oracle", [
                        Cell(tag("span", "oracle", class_="badge oracle"), "step"),
                        Cell(esc(fmt(o["psnr"], "psnr")), "num"),
                        Cell(esc(fmt(o["ssim"], "ssim")), "num"),
                        Cell(esc(ORACLE_TEXT), colspan=4)]))
    cap = ("Mean over LR images per step. kernel PSNR: the step's kernel estimate against the "
           "ground truth; code L2: distance in the method's kernel-code space. The oracle line "
           "picks each image's best step with the ground truth (as IKC's official test script "
           "does): an upper bound, never a result.")
    return table([head], body, css="steps", caption=esc(cap))


def failures(frame: pd.DataFrame, limit: int = 20) -> str:
    """Count of failed LR images and the first few errors."""
    bad = frame[frame["error"] != ""]
    if bad.empty:
        return tag("p", "No LR image failed.", class_="note")
    body = [("", [r.label, r.dataset, f"×{int(r.scale)}", r.image,
                  str(int(r.kernel_index)) if r.kernel_index == r.kernel_index else "–",
                  Cell(esc(str(r.error)[:160]), "wrap")])
            for r in bad.head(limit).itertuples()]
    more = f" Showing the first {limit}." if len(bad) > limit else ""
    return (tag("p", esc(f"{len(bad)} LR images failed and are left out of every mean.{more}"),
                class_="warn")
            + table([["method", "dataset", "scale", "image", "LR image", "error"]], body))


def _meta_value(meta: dict[str, Any], key: str) -> str:
    ds = meta.get("dataset") if isinstance(meta.get("dataset"), dict) else {}
    if key == "plugins":
        plugins = meta.get("plugins") or []
        return ", ".join(f"{p.get('name')} {p.get('version')}"
                         + (f" (error: {p['error']})" if p.get("error") else "")
                         for p in plugins if isinstance(p, dict))
    if key.startswith("dataset."):
        value = ds.get(key.split(".", 1)[1])
    else:
        value = meta.get(key)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "–" if value is None or value == "" else str(value)


META_FIELDS = (
    ("method", "method"), ("upper_bound", "upper bound"), ("model", "model"),
    ("estimator", "estimator"), ("options", "options"), ("weights", "weights"),
    ("kernel_weights", "kernel weights"), ("weights_sha256", "weights sha256"),
    ("kernel_conversion", "kernel conversion"), ("dataset.label", "dataset"),
    ("dataset.protocol", "protocol"), ("dataset.hr_set", "HR set"),
    ("dataset.scale", "scale"), ("dataset.downsampler", "downsampler"),
    ("dataset.noise", "noise"), ("dataset.file", "dataset file"),
    ("dataset.content_hash", "dataset content hash"), ("convention", "metric convention"),
    ("device", "device"), ("bsrbench_version", "bsrbench"), ("torch_version", "torch"),
    ("python_version", "python"), ("plugins", "plugins"), ("git_commit", "git commit"),
    ("command", "command line"), ("started", "started"), ("finished", "finished"),
    ("failed_lr_images", "failed LR images"),
)


def metadata(runs: Sequence[Path], metas: Sequence[list[dict[str, Any]]]) -> str:
    """Provenance of every run directory, one column per recorded run."""
    out = []
    for run, name, entries in zip(runs, run_names(runs), metas):
        where = tag("span", esc(str(run.resolve())), class_="mono")
        out.append(tag("h3", esc(name)) + tag("p", where, class_="note"))
        if not entries:
            out.append(tag("p", "No run.json: provenance unknown.", class_="warn"))
            continue
        head: list[Cell | str] = ["", *[f"run {i + 1}: {e.get('method', '?')}"
                                        for i, e in enumerate(entries)]]
        body = [("", [label, *[Cell(esc(_meta_value(e, key)), "wrap mono"
                                    if key in ("command", "dataset.file", "git_commit",
                                               "dataset.content_hash", "options",
                                               "weights_sha256") else "wrap")
                               for e in entries]])
                for key, label in META_FIELDS]
        out.append(table([head], body, css="meta"))
    return "".join(out)


