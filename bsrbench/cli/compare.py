"""``bsrbench compare``: a thin command over :mod:`bsrbench.compare`, and its text report.

:func:`register` adds it to the main group (``register(main)`` in ``bsrbench.cli``).
Exit codes: 0 when nothing got worse, 1 on a regression, a missing row or a lost score
(with ``--strict`` also on an improvement or a new row), 2 for bad input.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bsrbench.cli.common import Command, handle_errors

if TYPE_CHECKING:
    from bsrbench.compare import Change, Comparison, Key, Move, Score

__all__ = ["compare_command", "format_comparison", "register"]


def _decimals(score: Score) -> int:
    """Enough decimals to show a move of the score's tolerance (0.05 -> 2, 0.001 -> 4)."""
    if score.tolerance <= 0:
        return 6
    return min(6, max(2, math.floor(-math.log10(score.tolerance)) + 1))


def _num(x: float, decimals: int, sign: bool = False) -> str:
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return ("+" if sign and x > 0 else "") + ("inf" if x > 0 else "-inf")
    return f"{x:+.{decimals}f}" if sign else f"{x:.{decimals}f}"


def _key_cells(key: Key) -> list[str]:
    method, dataset, scale, image, k, step = key
    return [method, dataset, f"x{scale}", image, str(k), str(step)]


def _move_cells(m: Move) -> list[str]:
    d = _decimals(m.score)
    return [m.score.name, f"{_num(m.old, d)} -> {_num(m.new, d)}", _num(m.delta, d, True)]


def _change_lines(c: Change) -> list[list[str]]:
    """One table line per moved score; a row whose error changed gets one line for it."""
    key = _key_cells(c.key)
    if c.error[1]:
        return [[*key, "error", "", "", c.error[1][:80]]]
    if c.error[0]:
        return [[*key, "error", "", "", f"fixed: {c.error[0]}"[:80]]]
    return [[*key, *_move_cells(m), ""] for m in c.moves]


def _text_table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()
            for r in [head, *rows]]


def _score_line(s: Score) -> str:
    unit = f" {s.unit}" if s.unit else ""
    way = "higher" if s.higher_better else "lower"
    return f"{s.name} ({way} better{', assumed' if s.assumed else ''}, +-{s.tolerance:g}{unit})"


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def format_comparison(c: Comparison, limit: int = 20) -> str:
    """A plain-text report: scores and tolerances, warnings, final-step means, worse,
    better, missing, new and invalid rows, and the verdict as the last line."""
    key_head = ["method", "dataset", "scale", "image", "k", "step"]
    change_head = [*key_head, "score", "baseline -> new", "delta", "error"]
    lines = [f"baseline: {c.baseline}", f"new:      {c.new}",
             "scores (tolerance per row): " + ", ".join(map(_score_line, c.scores)),
             f"matched {_plural(c.matched, 'row')}" + ("; strict" if c.strict else "")]
    lines += [f"warning: {w}" for w in c.warnings]
    lines += [f"lost score: {name} is in the baseline but not in the new results"
              for name in c.lost_scores]
    if c.means:
        rows = []
        for m in c.means:
            method, dataset, scale = m.group
            d = _decimals(m.score)
            rows.append([c.labels.get(m.group, method), dataset, f"x{scale}", m.score.name,
                         f"{_num(m.old, d)} -> {_num(m.new, d)}",
                         _num(0.0 if m.old == m.new else m.new - m.old, d, True),
                         str(m.count)])
        lines.append("final-step means over LR images final in both:")
        lines += _text_table(["method", "dataset", "scale", "score", "baseline -> new",
                              "delta", "images"], rows)
    # (title, note, total, table lines, table head)
    sections: list[tuple[str, str, int, list[list[str]], list[str]]] = [
        ("worse", "", len(c.regressions),
         [line for x in c.regressions[:limit] for line in _change_lines(x)], change_head),
        ("better", "a sudden gain can be a leak: check it", len(c.improvements),
         [line for x in c.improvements[:limit] for line in _change_lines(x)], change_head),
        ("missing in new", "", len(c.missing), [_key_cells(k) for k in c.missing[:limit]],
         key_head),
        ("only in new", "", len(c.added), [_key_cells(k) for k in c.added[:limit]], key_head),
    ]
    for side in ("baseline", "new"):
        bad = c.invalid.get(side, [])
        sections.append((f"invalid in {side}", "not compared, not averaged", len(bad),
                         [[str(r.line), *r.key, r.reason] for r in bad[:limit]],
                         ["line", "method", "dataset", "scale", "image", "k", "why"]))
    for title, note, total, rows, head in sections:
        if not total:
            continue
        lines.append(f"{title} ({_plural(total, 'row')}{'; ' + note if note else ''}):")
        lines += _text_table(head, rows)
        if total > limit:
            lines.append(f"  ... and {total - limit} more")
    problems = []
    if c.regressions:
        problems.append(_plural(len(c.regressions), "row") + " worse")
    if c.missing:
        problems.append(_plural(len(c.missing), "row") + " missing")
    if c.lost_scores:
        problems.append(_plural(len(c.lost_scores), "score") + " lost")
    if c.strict and c.improvements:
        problems.append(_plural(len(c.improvements), "row") + " better (strict)")
    if c.strict and c.added:
        problems.append(_plural(len(c.added), "row") + " new (strict)")
    extra = f" ({len(c.improvements)} better, {len(c.added)} new)"
    verdict = ("FAIL: " + ", ".join(problems) if problems else
               f"OK: no {'change' if c.strict else 'regression'} in "
               f"{_plural(c.matched, 'matched row')}")
    lines.append(verdict + ("" if problems and c.strict else extra))
    return "\n".join(lines)


@click.command("compare", cls=Command)
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--max-psnr-drop", type=click.FloatRange(min=0), default=None,
              help="Largest PSNR move (dB) per row that passes (= --tolerance psnr=VALUE). "
                   "[default: 0.05]")
@click.option("--max-ssim-drop", type=click.FloatRange(min=0), default=None,
              help="Largest SSIM move per row that passes (= --tolerance ssim=VALUE). "
                   "[default: 0.001]")
@click.option("--tolerance", "tolerance_pairs", multiple=True, metavar="NAME=VALUE",
              help="Largest move per row of any score that passes (repeatable). Defaults: "
                   "kernel_psnr 0.1 dB, code_l2 0.001, other metrics 0.05 in dB else 0.001.")
@click.option("--strict", is_flag=True,
              help="Also fail on improvements beyond tolerance and on rows only in NEW "
                   "(determinism checks).")
@click.option("--method", "methods", multiple=True, metavar="PATTERN",
              help="Compare only methods matching this fnmatch pattern (repeatable, or "
                   "comma-separated).")
@click.option("--dataset", "datasets", multiple=True, metavar="PATTERN",
              help="Compare only dataset labels matching this fnmatch pattern.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Rows listed per section.")
@handle_errors
def compare_command(baseline: Path, new: Path, max_psnr_drop: float | None,
                    max_ssim_drop: float | None, tolerance_pairs: tuple[str, ...],
                    strict: bool, methods: tuple[str, ...], datasets: tuple[str, ...],
                    limit: int) -> None:
    """Compare NEW results against BASELINE (results.csv files or run directories).

    Every score is judged in its direction (run.json's metrics; kernel_psnr higher,
    code_l2 lower is better). Exits 1 when a row got worse beyond tolerance, now fails,
    or is missing, or a score column is lost; improvements are listed, and fail only
    with --strict.
    """
    from bsrbench.compare import compare, parse_tolerances
    from bsrbench.errors import InputError

    tolerances = parse_tolerances(tolerance_pairs)
    for name, value, flag in (("psnr", max_psnr_drop, "--max-psnr-drop"),
                              ("ssim", max_ssim_drop, "--max-ssim-drop")):
        if value is None:
            continue
        if name in tolerances and tolerances[name] != value:
            raise InputError(f"{flag} {value:g} and --tolerance {name}={tolerances[name]:g} "
                             "disagree: give one of them")
        tolerances[name] = value

    def split(patterns: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(p.strip() for arg in patterns for p in arg.split(",") if p.strip())

    result = compare(baseline, new, tolerances=tolerances, strict=strict,
                     methods=split(methods), datasets=split(datasets))
    click.echo(format_comparison(result, limit=limit))
    if not result.ok:
        sys.exit(1)


def register(group: click.Group) -> None:
    """Add ``compare`` to ``group`` (the ``bsrbench`` main group)."""
    group.add_command(compare_command, "compare")
