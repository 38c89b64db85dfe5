"""A regression gate: compare a new results.csv against a baseline, row by row.

Rows are matched by (method, dataset, scale, image, kernel_index, step). A row regresses
when its PSNR drops by more than ``max_psnr_drop`` dB, its SSIM by more than
``max_ssim_drop``, or it now records an error (or lost its metric). A row present in the
baseline but not in the new results is *missing*. Either makes the comparison fail;
rows only in the new results, and gains beyond the same tolerances, are reported but
never fail it. A drop exactly equal to the tolerance passes.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from bsrbench.errors import InputError

__all__ = ["Change", "Comparison", "compare", "format_comparison", "load_rows"]

KEY_COLUMNS = ("method", "dataset", "scale", "image", "kernel_index", "step")
# CSV values are rounded to 6 decimals: a difference this small is float noise, not a change
EPS = 1e-9
_NUMPY_REPR = re.compile(r"^np\.\w+\((.*)\)$")

Key = tuple[str, str, int, str, int, int]


@dataclass(frozen=True)
class Change:
    """One matched row whose metrics moved beyond tolerance (or whose error changed)."""

    key: Key
    psnr: tuple[float, float]  # (baseline, new); nan when missing
    ssim: tuple[float, float]
    error: tuple[str, str] = ("", "")  # (baseline, new) error text

    @property
    def psnr_delta(self) -> float:
        return _delta(*self.psnr)

    @property
    def ssim_delta(self) -> float:
        return _delta(*self.ssim)


@dataclass
class Comparison:
    """What changed between ``baseline`` and ``new``; ``ok`` is the gate's verdict."""

    baseline: Path
    new: Path
    max_psnr_drop: float
    max_ssim_drop: float
    matched: int = 0  # rows present in both
    regressions: list[Change] = field(default_factory=list)  # worst PSNR drop first
    improvements: list[Change] = field(default_factory=list)  # largest PSNR gain first
    missing: list[Key] = field(default_factory=list)  # in baseline, not in new
    added: list[Key] = field(default_factory=list)  # in new, not in baseline
    notes: list[str] = field(default_factory=list)  # e.g. different metric conventions
    # final-step mean (PSNR, SSIM) per (method, dataset, scale): (baseline, new), nan if none
    means: dict[tuple[str, str, int], tuple[tuple[float, float], tuple[float, float]]] = field(
        default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no row regressed and none is missing."""
        return not self.regressions and not self.missing


def _delta(old: float, new: float) -> float:
    if old == new:  # also inf == inf
        return 0.0
    return new - old


def _float(text: str | None) -> float:
    text = _NUMPY_REPR.sub(r"\1", (text or "").strip())
    try:
        return float(text) if text else math.nan
    except ValueError:
        return math.nan


def _int(text: str, what: str, path: Path) -> int:
    value = _float(text)
    if not math.isfinite(value) or value != int(value):
        raise InputError(f"{path}: {what} {text!r} is not an integer")
    return int(value)


def _results_path(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / "results.csv"
    if not path.is_file():
        raise InputError(f"{path} not found: give a results.csv or a run directory")
    return path


def load_rows(path: str | Path) -> tuple[Path, dict[Key, dict[str, str]]]:
    """The rows of a results.csv (or of ``DIR/results.csv``) by comparison key.

    A torn last line (an interrupted run) is ignored, as :func:`bsrbench.results.read_results`
    does; when a key occurs twice the later row wins.

    Raises:
        InputError: the file is missing, unreadable, or lacks a key column.
    """
    path = _results_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in (*KEY_COLUMNS, "psnr", "ssim") if c not in header]
    if missing:
        raise InputError(f"{path} is not a bsrbench results.csv: no column "
                         f"{', '.join(missing)}")
    rows: dict[Key, dict[str, str]] = {}
    for row in reader:
        key = (row["method"], row["dataset"], _int(row["scale"], "scale", path), row["image"],
               _int(row["kernel_index"], "kernel_index", path), _int(row["step"], "step", path))
        rows[key] = row
    return path, rows


def _final_means(rows: dict[Key, dict[str, str]]) -> dict[tuple[str, str, int],
                                                         tuple[float, float]]:
    sums: dict[tuple[str, str, int], list[float]] = {}
    for key, row in rows.items():
        if row.get("is_final") != "True" or row.get("error"):
            continue
        acc = sums.setdefault(key[:3], [0.0, 0.0, 0])
        acc[0] += _float(row["psnr"])
        acc[1] += _float(row["ssim"])
        acc[2] += 1
    return {k: (p / n, q / n) for k, (p, q, n) in sums.items()}


def _worse(drop: float, limit: float) -> bool:
    return drop > limit + EPS


def compare(baseline: str | Path, new: str | Path, *, max_psnr_drop: float = 0.05,
            max_ssim_drop: float = 0.001) -> Comparison:
    """Compare two results files (or run directories) row by row; see the module doc."""
    if max_psnr_drop < 0 or max_ssim_drop < 0:
        raise InputError("tolerances must be >= 0")
    base_path, base = load_rows(baseline)
    new_path, rows = load_rows(new)
    result = Comparison(base_path, new_path, max_psnr_drop, max_ssim_drop)
    conv = [sorted({r.get("convention", "") for r in part.values()} - {""})
            for part in (base, rows)]
    if conv[0] and conv[1] and conv[0] != conv[1]:
        result.notes.append(f"metric conventions differ (baseline {', '.join(conv[0])}, new "
                            f"{', '.join(conv[1])}): the numbers are not comparable")
    for key, old in base.items():
        cur = rows.get(key)
        if cur is None:
            result.missing.append(key)
            continue
        result.matched += 1
        change = Change(key, (_float(old["psnr"]), _float(cur["psnr"])),
                        (_float(old["ssim"]), _float(cur["ssim"])),
                        (old.get("error") or "", cur.get("error") or ""))
        old_err, new_err = change.error
        lost = any(not math.isnan(a) and math.isnan(b) for a, b in (change.psnr, change.ssim))
        if (new_err and not old_err) or lost:
            result.regressions.append(change)
        elif old_err and not new_err:
            result.improvements.append(change)
        elif new_err:  # failed in both: nothing to compare
            continue
        elif _worse(-change.psnr_delta, max_psnr_drop) or _worse(-change.ssim_delta,
                                                                  max_ssim_drop):
            result.regressions.append(change)
        elif _worse(change.psnr_delta, max_psnr_drop) or _worse(change.ssim_delta,
                                                                 max_ssim_drop):
            result.improvements.append(change)
    result.added = [k for k in rows if k not in base]
    b_means, n_means = _final_means(base), _final_means(rows)
    nan2 = (math.nan, math.nan)
    for group in dict.fromkeys([*b_means, *n_means]):
        result.means[group] = (b_means.get(group, nan2), n_means.get(group, nan2))

    def by_delta(c: Change) -> float:
        d = c.psnr_delta
        return 0.0 if math.isnan(d) else d

    result.regressions.sort(key=by_delta)
    result.improvements.sort(key=by_delta, reverse=True)
    return result


def _key_cells(key: Key) -> list[str]:
    method, dataset, scale, image, k, step = key
    return [method, dataset, f"x{scale}", image, str(k), str(step)]


def _num(x: float, decimals: int, sign: bool = False) -> str:
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return ("+" if sign and x > 0 else "") + ("inf" if x > 0 else "-inf")
    return f"{x:+.{decimals}f}" if sign else f"{x:.{decimals}f}"


def _change_cells(c: Change) -> list[str]:
    (p0, p1), (s0, s1) = c.psnr, c.ssim
    cells = [f"{_num(p0, 2)} -> {_num(p1, 2)}", _num(c.psnr_delta, 2, True),
             f"{_num(s0, 4)} -> {_num(s1, 4)}", _num(c.ssim_delta, 4, True)]
    err = c.error[1] or (f"fixed: {c.error[0]}" if c.error[0] else "")
    return [*cells, err[:80]]


def _text_table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()
            for r in [head, *rows]]


def format_comparison(c: Comparison, limit: int = 20) -> str:
    """A plain-text report: regressions, improvements, missing and new rows, verdict."""
    key_head = ["method", "dataset", "scale", "image", "k", "step"]
    change_head = [*key_head, "PSNR", "dPSNR", "SSIM", "dSSIM", "error"]
    lines = [f"baseline: {c.baseline}", f"new:      {c.new}",
             f"matched {c.matched} rows; tolerance: PSNR drop <= {c.max_psnr_drop:g} dB, "
             f"SSIM drop <= {c.max_ssim_drop:g}"]
    lines += [f"note: {n}" for n in c.notes]
    if c.means:
        rows = []
        for (method, dataset, scale), ((p0, s0), (p1, s1)) in c.means.items():
            rows.append([method, dataset, f"x{scale}", f"{_num(p0, 2)} -> {_num(p1, 2)}",
                         _num(_delta(p0, p1), 2, True), f"{_num(s0, 4)} -> {_num(s1, 4)}",
                         _num(_delta(s0, s1), 4, True)])
        lines.append("final-step means:")
        lines += _text_table(["method", "dataset", "scale", "PSNR", "dPSNR", "SSIM", "dSSIM"],
                             rows)
    sections: list[tuple[str, list[list[str]], list[str]]] = [
        ("worse", [_key_cells(x.key) + _change_cells(x) for x in c.regressions], change_head),
        ("better", [_key_cells(x.key) + _change_cells(x) for x in c.improvements],
         change_head),
        ("missing in new", [_key_cells(k) for k in c.missing], key_head),
        ("only in new", [_key_cells(k) for k in c.added], key_head),
    ]
    for title, rows, head in sections:
        if not rows:
            continue
        lines.append(f"{title} ({len(rows)}):")
        lines += _text_table(head, rows[:limit])
        if len(rows) > limit:
            lines.append(f"  ... and {len(rows) - limit} more")
    problems = []
    if c.regressions:
        problems.append(f"{len(c.regressions)} row{'s' if len(c.regressions) != 1 else ''} "
                        "worse")
    if c.missing:
        problems.append(f"{len(c.missing)} row{'s' if len(c.missing) != 1 else ''} missing")
    extra = f" ({len(c.improvements)} better, {len(c.added)} new)"
    lines.append(("FAIL: " + ", ".join(problems) if problems
                  else f"OK: no regression in {c.matched} matched rows") + extra)
    return "\n".join(lines)
