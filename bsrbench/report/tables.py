"""The report's tables: headline, per kernel (σ, or λ1, λ2, θ), per step, failures.

Rows are the report's ``label`` (see :func:`bsrbench.report.context.load`), columns its
``set``. Every metric column is shown, each judged in its own direction. Rows made with
ground truth a blind method never has (``upper_bound``: the true kernel; ``noise_known``:
the true noise level) are grouped apart as upper bounds, labelled, and never bolded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bsrbench.report.blocks import BADGES, Badge, Cell, Heading, Note, Part, Row, Table, cell
from bsrbench.report.formatting import CODE_L2, KERNEL_PSNR, MetricInfo, best_value, fmt

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ORACLE_TEXT",
    "RowKey",
    "failures",
    "finals",
    "headline_table",
    "kernel_label",
    "kernel_tables",
    "per_step",
    "row_order",
    "set_columns",
    "step_table",
]

ORACLE_TEXT = "oracle best step per image (chosen with the ground truth, not a result)"
GROUP = ["label", "set", "scale"]


@dataclass(frozen=True)
class RowKey:
    """A table row: its label and why it is not blind (if so)."""

    label: str
    upper_bound: bool  # the ground-truth kernel reached it
    noise_known: bool  # the true noise level reached it

    @property
    def bound(self) -> bool:
        """Grouped with the upper bounds, never ranked."""
        return self.upper_bound or self.noise_known

    @property
    def badges(self) -> tuple[Badge, ...]:
        return tuple(BADGES[k] for k, on in (("ub", self.upper_bound),
                                             ("noise", self.noise_known)) if on)


def finals(frame: pd.DataFrame) -> pd.DataFrame:
    """The reported rows: final step, no error."""
    return frame[(frame["error"] == "") & frame["is_final"]]


def row_order(frame: pd.DataFrame) -> list[RowKey]:
    """Rows in order of appearance, blind methods first."""
    seen = dict.fromkeys(zip(frame["label"], frame["upper_bound"], frame["noise_known"]))
    keys = [RowKey(str(lb), bool(ub), bool(nk)) for lb, ub, nk in seen]
    return sorted(keys, key=lambda k: k.bound)


def set_columns(frame: pd.DataFrame) -> list[tuple[str, list[int]]]:
    """Test sets in order of appearance, each with its scales."""
    sets = dict.fromkeys(frame["set"])
    return [(s, sorted(int(x) for x in frame.loc[frame["set"] == s, "scale"].unique()))
            for s in sets]


def _name_cell(key: RowKey, **kw: Any) -> Cell:
    return Cell((Part(key.label),), "name", badges=key.badges, **kw)


def _bound_heading(rows: Sequence[RowKey]) -> str:
    what = [w for w, on in (("ground-truth kernel", any(r.upper_bound for r in rows)),
                            ("true noise level", any(r.noise_known for r in rows))) if on]
    return f"upper bound ({' or '.join(what)}) — not blind, not ranked"


def _grouped(rows: Sequence[RowKey], make: Callable[[RowKey], list[Cell]],
             width: int) -> tuple[Row, ...]:
    """Body rows: blind methods, then the upper bounds under their own heading."""
    blind = [r for r in rows if not r.bound]
    bound = [r for r in rows if r.bound]
    body: list[Row] = []
    if blind and bound:
        body.append(Row((cell("blind methods", colspan=width),), "group"))
    body.extend(Row(tuple(make(r))) for r in blind)
    if bound:
        body.append(Row((cell(_bound_heading(bound), colspan=width),), "group"))
        body.extend(Row(tuple(make(r)), "ub") for r in bound)
    return tuple(body)


def _directions(metrics: Sequence[MetricInfo]) -> str:
    return " / ".join(m.heading for m in metrics)


def _bold_note(metrics: Sequence[MetricInfo]) -> str:
    unknown = [m.label for m in metrics if m.higher_better is None]
    note = "bold: best blind method in the column (↑ higher is better, ↓ lower is better)."
    if unknown:
        note += f" No run declares which way {', '.join(unknown)} is better: never bolded."
    return note


def headline_table(frame: pd.DataFrame, metrics: Sequence[MetricInfo]) -> Table | None:
    """Rows methods, columns test set × scale, cells final-step means of every metric."""
    fin = finals(frame)
    if fin.empty:
        return None
    cols = set_columns(frame)
    rows = row_order(frame)
    names = [m.name for m in metrics]
    means = fin.groupby(GROUP)[names].mean()
    counts = fin.groupby(GROUP).size()
    failed = frame[frame["error"] != ""].groupby(GROUP).size()
    head1 = (cell("method", rowspan=2), *(cell(s, colspan=len(sc)) for s, sc in cols))
    head2 = tuple(cell(f"×{sc}") for _, scales in cols for sc in scales)
    best: dict[tuple[str, int], dict[str, float | None]] = {}
    full: dict[tuple[str, int], int] = {}
    for s, scales in cols:
        for sc in scales:
            here = [r for r in rows if (r.label, s, sc) in means.index]
            best[(s, sc)] = {m.name: best_value([means.loc[(r.label, s, sc), m.name]
                                                 for r in here if not r.bound],
                                                m.higher_better) for m in metrics}
            full[(s, sc)] = max((int(counts.get((r.label, s, sc), 0)) for r in here),
                                default=0)
    partial = False

    def make(key: RowKey) -> list[Cell]:
        nonlocal partial
        cells = [_name_cell(key)]
        for s, scales in cols:
            for sc in scales:
                if (key.label, s, sc) not in means.index:
                    cells.append(cell("–", "num"))
                    continue
                m = means.loc[(key.label, s, sc)]
                n = int(counts[(key.label, s, sc)])
                star = n < full[(s, sc)] or bool(failed.get((key.label, s, sc), 0))
                partial = partial or star
                parts = tuple(Part(fmt(m[i.name], i.decimals), not key.bound
                                   and m[i.name] == best[(s, sc)][i.name]) for i in metrics)
                cells.append(Cell(parts, "num", title=f"mean over {n} LR images", star=star))
        return cells

    width = 1 + sum(len(s) for _, s in cols)
    body = _grouped(rows, make, width)
    quoted, cites = _published_rows(fin, rows, cols, means, metrics, width)
    cap = (f"Final step, mean over LR images; {_directions(metrics)}; {_bold_note(metrics)}")
    if partial:
        cap += " * the mean leaves out LR images that failed or were not run."
    if cites:
        cap += (" Quoted rows are published numbers, not measured here and never ranked; Δ is "
                "the measured final-step PSNR minus the published one. Sources: "
                + " | ".join(f"[{i + 1}] {c}" for i, c in enumerate(cites)))
    return Table((head1, head2), body + quoted, "headline", cap)


def _published_rows(fin: pd.DataFrame, rows: Sequence[RowKey],
                    cols: Sequence[tuple[str, list[int]]], means: Any,
                    metrics: Sequence[MetricInfo], width: int
                    ) -> tuple[tuple[Row, ...], list[str]]:
    """For each blind measured row with a published counterpart (same method, protocol,
    test set, scale, downsampler and noise: :func:`bsrbench.published.match`), a row of the
    quoted numbers under their own heading, with the measured difference; and the
    citations, numbered as the rows refer to them."""
    from bsrbench.published import match

    cites: list[str] = []
    out: list[Row] = []
    for key in rows:
        if key.bound:
            continue
        cells: list[Cell] = [Cell((Part(f"{key.label} (published)"),), "name",
                                  badges=(BADGES["quoted"],))]
        found = False
        for s, scales in cols:
            for sc in scales:
                mine = fin[(fin["label"] == key.label) & (fin["set"] == s)
                           & (fin["scale"] == sc)]
                row = None
                if not mine.empty and mine["dataset"].nunique() == 1 \
                        and mine["downsampler"].nunique() == 1 and mine["noise"].nunique() == 1:
                    dataset = str(mine["dataset"].iloc[0])
                    row = match(str(mine["method"].iloc[0]), dataset.split("/")[0], dataset,
                                int(sc), downsampler=str(mine["downsampler"].iloc[0]),
                                noise=float(mine["noise"].iloc[0]))
                if row is None:
                    cells.append(cell("–", "num"))
                    continue
                found = True
                cite = row.citation
                if cite not in cites:
                    cites.append(cite)
                parts = []
                for m in metrics:
                    value = {"psnr": row.psnr, "ssim": row.ssim}.get(m.name)
                    parts.append(Part("–" if value is None else fmt(value, m.decimals)))
                measured = means.loc[(key.label, s, sc)]
                if "psnr" in measured:
                    parts.append(Part(f"Δ {measured['psnr'] - row.psnr:+.2f} dB"))
                parts.append(Part(f"[{cites.index(cite) + 1}]"))
                cells.append(Cell(tuple(parts), "num", title=cite))
        if found:
            out.append(Row(tuple(cells), "quoted"))
    if out:
        out.insert(0, Row((cell("quoted from papers — not measured, not ranked",
                                colspan=width),), "group"))
    return tuple(out), cites


def kernel_label(sigma: float, sigma2: float, theta: float, noise: float = 0.0,
                 jpeg: float = float("nan")) -> str:
    """A kernel's parameters as papers label it: σ for an isotropic Gaussian, (λ1, λ2, θ)
    for an anisotropic one, then the noise level and JPEG quality when present."""
    def known(x: float) -> bool:
        return x == x and x is not None

    if not known(sigma) or sigma == 0:
        text = "no blur"
    elif (not known(sigma2) or abs(sigma2 - sigma) < 1e-9) and (not known(theta) or theta == 0):
        text = f"σ = {sigma:.2f}"
    else:
        text = f"λ = ({sigma:.2f}, {sigma2:.2f}), θ = {theta if known(theta) else 0:.2f}"
    if known(noise) and noise > 0:
        text += f", noise {noise:g}"
    if known(jpeg) and jpeg:
        text += f", JPEG q{int(jpeg)}"
    return text


_PARAMS = ("sigma", "sigma2", "theta", "noise", "jpeg")


def _params(rows: pd.DataFrame) -> tuple[float, ...]:
    return tuple(round(float(rows[c].iloc[0]), 6) if c in rows else float("nan")
                 for c in _PARAMS)


def _is_grid(sub: pd.DataFrame) -> bool:
    """Every LR index has one kernel across the HR images (Gaussian8, MANet's and DASR's
    grids), so kernels can be columns; per-image random kernels (DIV2KRK) cannot."""
    cols = [c for c in _PARAMS if c in sub]
    return bool((sub.groupby("kernel_index")[cols].nunique(dropna=False) <= 1).all().all())


def _kernels_as_columns(frame: pd.DataFrame, sub: pd.DataFrame, title: str,
                        metrics: Sequence[MetricInfo]) -> list[Any]:
    out: list[Any] = []
    ks = sorted(int(k) for k in sub["kernel_index"].dropna().unique())
    first = {k: sub[sub["kernel_index"] == k] for k in ks}
    head = (cell("method"), *(cell(kernel_label(*_params(first[k]))) for k in ks))
    rows = [r for r in row_order(frame) if r.label in set(sub["label"])]
    for m in metrics:
        means = sub.groupby(["label", "kernel_index"])[m.name].mean()
        best = {k: best_value([means.get((r.label, k), float("nan")) for r in rows
                               if not r.bound], m.higher_better) for k in ks}

        def make(key: RowKey, means: Any = means, best: Any = best,
                 m: MetricInfo = m, ks: list[int] = ks) -> list[Cell]:
            vals = [means.get((key.label, k), float("nan")) for k in ks]
            return [_name_cell(key)] + [
                Cell((Part(fmt(v, m.decimals), not key.bound and v == best[k]),), "num")
                for k, v in zip(ks, vals)]

        out.append(Heading(f"{title} — {m.heading}"))
        out.append(Table((head,), _grouped(rows, make, 1 + len(ks)), caption=(
            f"Final-step {m.label} per kernel (its parameters head the column), mean over "
            f"HR images ({m.direction}); bold: best blind method.")))
    return out


def _kernels_as_rows(frame: pd.DataFrame, sub: pd.DataFrame, title: str,
                     metrics: Sequence[MetricInfo]) -> list[Any]:
    out: list[Any] = []
    labels = [r.label for r in row_order(frame) if r.label in set(sub["label"])]
    bound = {r.label for r in row_order(frame) if r.bound}
    keys = list(dict.fromkeys(zip(sub["image"], sub["kernel_index"])))
    head = (cell("image, kernel"), *(cell(lb) for lb in labels))
    for m in metrics:
        vals = sub.groupby(["image", "kernel_index", "label"])[m.name].mean()
        body = []
        for image, k in keys:
            here = sub[(sub["image"] == image) & (sub["kernel_index"] == k)]
            row_vals = [vals.get((image, k, lb), float("nan")) for lb in labels]
            best = best_value([v for v, lb in zip(row_vals, labels) if lb not in bound],
                              m.higher_better)
            body.append(Row((cell(f"{image}: {kernel_label(*_params(here))}", "name"),
                             *(Cell((Part(fmt(v, m.decimals), lb not in bound and v == best),),
                                    "num") for v, lb in zip(row_vals, labels)))))
        out.append(Heading(f"{title} — {m.heading}"))
        out.append(Table((head,), tuple(body), caption=(
            f"Final-step {m.label} per LR image, its kernel's parameters as the row label "
            f"(one random kernel per HR image); {m.direction}; bold: best blind method; "
            "upper bounds never bold.")))
    return out


def kernel_tables(frame: pd.DataFrame, metrics: Sequence[MetricInfo]) -> list[Any]:
    """Final-step means per kernel, one table per blurred test set, scale and metric: kernels
    as columns for a fixed grid (Gaussian8: σ), as rows labelled by their parameters for
    per-image random kernels (DIV2KRK, anisotropic: λ1, λ2, θ); noise and JPEG quality join
    the label when present."""
    fin = finals(frame)
    out: list[Any] = []
    for s, scales in set_columns(frame):
        for sc in scales:
            sub = fin[(fin["set"] == s) & (fin["scale"] == sc)]
            if sub.empty or not (sub["sigma"].fillna(0) > 0).any():
                continue  # no blur (protocol bicubic): nothing per kernel
            title = f"{s} ×{sc}"
            if _is_grid(sub):
                out += _kernels_as_columns(frame, sub, title, metrics)
            else:
                out += _kernels_as_rows(frame, sub, title, metrics)
    return out


def per_step(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Mean of ``columns`` per (label, set, scale, step) over scored rows, with ``n`` and
    ``final`` (the step the method reports): the summary's means, by the report's labels."""
    from bsrbench.results import per_step as means_per_step

    return means_per_step(frame, columns, GROUP)


def oracle_best_step(rows: pd.DataFrame, by: MetricInfo,
                     columns: Sequence[str]) -> pd.Series | None:
    """ORACLE: per LR image the step best in ``by`` (chosen with the ground truth, as
    IKC's official test script does), then the means of ``columns``; never a result."""
    ok = rows[(rows["error"] == "") & rows[by.name].notna()]
    if ok.empty or by.higher_better is None:
        return None
    keys = ["image", "kernel_index"]
    pick = ok[by.name].groupby([ok[k] for k in keys])
    best = pick.idxmax() if by.higher_better else pick.idxmin()
    return ok.loc[best.to_numpy(), list(columns)].mean()


def step_table(frame: pd.DataFrame, metrics: Sequence[MetricInfo]) -> Table | None:
    """Mean of every metric per step of every method, with the oracle best-step line."""
    ok = frame[frame["error"] == ""]
    if ok.empty:
        return None
    scores = [*metrics, KERNEL_PSNR, CODE_L2]
    names = [m.name for m in scores]
    table_ = per_step(ok, [*names, "seconds"])
    head = tuple(cell(h) for h in ("method", "test set", "scale", "step",
                                   *(m.heading for m in scores), "s / LR image", "n"))
    body: list[Row] = []
    for key in row_order(frame):
        for s, scales in set_columns(frame):
            for sc in scales:
                part = table_[(table_["label"] == key.label) & (table_["set"] == s)
                              & (table_["scale"] == sc)]
                if part.empty:
                    continue
                iterative = len(part) > 1
                span = len(part) + (1 if iterative else 0)
                for i, r in enumerate(part.to_dict("records")):
                    cells: list[Cell] = []
                    if i == 0:
                        cells += [_name_cell(key, rowspan=span), cell(s, rowspan=span),
                                  cell(f"×{sc}", rowspan=span)]
                    cells.append(Cell((Part(str(int(r["step"]))),), "step num",
                                      badges=(BADGES["final"],) if r["final"] else ()))
                    cells += [cell(fmt(r[m.name], m.decimals), "num") for m in scores]
                    cells += [cell(fmt(r["seconds"], 3), "num"), cell(str(int(r["n"])), "num")]
                    css = " ".join(c for c in ("ub" if key.bound else "",
                                               "final" if r["final"] else "") if c)
                    body.append(Row(tuple(cells), css))
                if iterative:
                    sub = ok[(ok["label"] == key.label) & (ok["set"] == s) & (ok["scale"] == sc)]
                    o = oracle_best_step(sub, metrics[0], [m.name for m in metrics]) \
                        if metrics else None
                    vals = [cell(fmt(o[m.name], m.decimals) if o is not None else "–", "num")
                            for m in metrics]
                    body.append(Row((Cell(css="step", badges=(BADGES["oracle"],)), *vals,
                                     cell(ORACLE_TEXT, colspan=4)), "oracle"))
    by = f"best {metrics[0].label}" if metrics else "best"
    cap = ("Mean over LR images per step. kernel PSNR: the step's kernel estimate against the "
           "ground truth; code L2: distance in the method's kernel-code space. The oracle line "
           f"picks each image's {by} step with the ground truth (as IKC's official test "
           "script does): an upper bound, never a result.")
    return Table((head,), tuple(body), "steps", cap)


def failures(frame: pd.DataFrame, limit: int = 20) -> list[Any]:
    """Count of failed LR images and the first few errors."""
    bad = frame[frame["error"] != ""]
    if bad.empty:
        return [Note("No LR image failed.")]
    body = tuple(Row((cell(str(r["label"])), cell(str(r["dataset"])),
                      cell(f"×{int(r['scale'])}"), cell(str(r["image"])),
                      cell(str(int(r["kernel_index"])) if r["kernel_index"] == r["kernel_index"]
                           else "–"),
                      cell(str(r["error"])[:160], "wrap")))
                 for r in bad.head(limit).to_dict("records"))
    more = f" Showing the first {limit}." if len(bad) > limit else ""
    head = tuple(cell(h) for h in ("method", "dataset", "scale", "image", "LR image", "error"))
    return [Note(f"{len(bad)} LR images failed and are left out of every mean.{more}", "warn"),
            Table((head,), body)]
