"""A regression gate: compare new results against a baseline, every score in its direction.

Rows are matched by (method, dataset, scale, image, kernel_index, step). Every score column
is judged: the metrics (``psnr``, ``ssim`` and plugin metrics, whose direction comes from
the ``metrics`` list of run.json), ``kernel_psnr`` (higher is better) and ``code_l2``
(lower is better). A row is *worse* when a score moved the wrong way by more than its
tolerance, lost its value, or the row now records an error; a baseline row absent from the
new results is *missing*. Either fails the comparison. Moves the right way beyond tolerance
(and fixed errors) are listed as *better* without failing, because a sudden gain can be a
leak; ``strict`` fails on those and on rows only in the new results too (determinism
checks). A move exactly equal to the tolerance passes.

Results are read only through :mod:`bsrbench.results`: rows another run superseded are not
compared, and invalid rows are reported, never averaged over. Matched rows made with other
weights, options, metric convention or noise knowledge are compared but warned about,
because they are not the same method.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from bsrbench.errors import InputError, UnknownNameError
from bsrbench.results import RESULTS, RUN_JSON, InvalidRow, RunLog, load_frame, read_table, row_key

__all__ = ["DEFAULT_TOLERANCES", "Change", "Comparison", "Mean", "Move", "Score", "compare",
           "parse_tolerances"]

# CSV values are rounded to 6 decimals: a difference this small is float noise, not a change
EPS = 1e-9
# Per-row tolerances of the fixed scores (absolute, in the score's unit).
DEFAULT_TOLERANCES = {"psnr": 0.05, "ssim": 0.001, "kernel_psnr": 0.1, "code_l2": 0.001}
DB_TOLERANCE = 0.05  # another metric in dB (its run.json unit): as PSNR
OTHER_TOLERANCE = 0.001  # any other metric
# Directions of the fixed scores; psnr and ssim here only for run.json without "metrics".
_FIXED = {"psnr": (True, "dB"), "ssim": (True, ""), "kernel_psnr": (True, "dB"),
          "code_l2": (False, "")}

Key = tuple[str, str, int, str, int, int]
Group = tuple[str, str, int]


@dataclass(frozen=True)
class Score:
    """A column compare judges, with its direction and per-row tolerance."""

    name: str
    higher_better: bool
    tolerance: float
    unit: str = ""
    assumed: bool = False  # direction guessed (higher-better): no run.json describes it


@dataclass(frozen=True)
class Move:
    """One score of a matched row that moved beyond tolerance."""

    score: Score
    old: float  # nan when the baseline has no value
    new: float  # nan when the new results lost it

    @property
    def delta(self) -> float:
        return 0.0 if self.old == self.new else self.new - self.old

    @property
    def gain(self) -> float:
        """How much better (> 0) or worse (< 0), in the score's direction; +-inf when a
        value appeared or was lost."""
        if math.isnan(self.old) or math.isnan(self.new):
            return math.inf if math.isnan(self.old) else -math.inf
        return self.delta if self.score.higher_better else -self.delta

    @property
    def severity(self) -> float:
        """|gain| in tolerances, to list the largest moves first."""
        return abs(self.gain) / max(self.score.tolerance, EPS)


@dataclass(frozen=True)
class Change:
    """One matched row that got worse or better (its moves, or its error changed)."""

    key: Key
    worse: bool
    moves: tuple[Move, ...] = ()
    error: tuple[str, str] = ("", "")  # (baseline, new) error text

    @property
    def severity(self) -> float:
        if self.worse and self.error[1]:
            return math.inf
        return max((m.severity for m in self.moves), default=math.inf)

    def move(self, score: str) -> Move | None:
        return next((m for m in self.moves if m.score.name == score), None)


@dataclass(frozen=True)
class Mean:
    """A score's final-step mean over the LR images of one group final in both files."""

    group: Group  # (method, dataset, scale)
    score: Score
    old: float
    new: float
    count: int  # LR images averaged (final step error-free and valued in both)


@dataclass
class Comparison:
    """What changed between ``baseline`` and ``new``; ``ok`` is the gate's verdict."""

    baseline: Path
    new: Path
    scores: tuple[Score, ...] = ()
    strict: bool = False
    matched: int = 0  # rows present in both
    regressions: list[Change] = field(default_factory=list)  # largest move first
    improvements: list[Change] = field(default_factory=list)  # largest move first
    missing: list[Key] = field(default_factory=list)  # in baseline, not in new
    added: list[Key] = field(default_factory=list)  # in new, not in baseline
    lost_scores: list[str] = field(default_factory=list)  # columns only the baseline has
    invalid: dict[str, list[InvalidRow]] = field(default_factory=dict)  # "baseline"/"new"
    warnings: list[str] = field(default_factory=list)  # differences that make rows unlike
    means: list[Mean] = field(default_factory=list)
    labels: dict[Group, str] = field(default_factory=dict)  # group label with its weights

    @property
    def ok(self) -> bool:
        """No row worse or missing and no score lost; with ``strict`` also no row better
        and none only in the new results."""
        if self.regressions or self.missing or self.lost_scores:
            return False
        return not (self.strict and (self.improvements or self.added))


@dataclass
class _Side:
    """One results file, loaded: its rows that stand by key, and the runs that wrote them."""

    path: Path
    header: list[str]
    metric_columns: list[str]  # metrics (and a user's columns): see ResultsTable
    rows: dict[Key, dict[str, Any]]
    invalid: list[InvalidRow]
    runs: list[dict[str, Any]]
    notes: list[str]

    def run_of(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """The run.json entry that wrote ``row``: by run id, else (run.json of older
        versions) the last entry that ran its method on its dataset and scale."""
        rid = row.get("run_id") or ""
        by_id = [run for run in self.runs if rid and run.get("run_id") == rid]
        ran = (row["method"], row["dataset"], str(row["scale"]))
        return (by_id or [run for run in self.runs if (
            run.get("method"), (run.get("dataset") or {}).get("label"),
            str((run.get("dataset") or {}).get("scale"))) == ran] or [{}])[-1]


def parse_tolerances(pairs: Iterable[str]) -> dict[str, float]:
    """``NAME=VALUE`` pairs (``--tolerance``) as a dict of non-negative floats.

    Raises:
        InputError: a pair without ``=``, or a value that is not a number >= 0.
    """
    out: dict[str, float] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        try:
            value = float(text) if sep and name.strip() else math.nan
        except ValueError:
            value = math.nan
        if not value >= 0 or math.isinf(value):
            raise InputError(f"tolerance {pair!r} must be NAME=VALUE with a number >= 0 "
                             "(e.g. --tolerance code_l2=0.002)")
        out[name.strip()] = value
    return out


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _selected(value: str, patterns: Sequence[str]) -> bool:
    return not patterns or any(fnmatchcase(value, p) for p in patterns)


def _load(path: str | Path, methods: Sequence[str], datasets: Sequence[str]) -> _Side:
    """Read a results.csv (or ``DIR/results.csv``) and the run.json beside it."""
    path = Path(path)
    csv_path = path / RESULTS if path.is_dir() else path
    if not csv_path.is_file():
        raise InputError(f"{csv_path} not found: give a results.csv or a run directory")
    notes: list[str] = []
    try:
        runs = RunLog(csv_path.parent).runs
    except InputError:
        runs = []
        notes.append(f"{csv_path.parent / RUN_JSON} is unreadable: the options and metric "
                     "directions of its rows are not checked")
    described = {m.get("name") for run in runs for m in run.get("metrics") or ()
                 if isinstance(m, dict)}
    table = read_table(csv_path, [m for m in described if isinstance(m, str)] or None)
    if table.torn:
        notes.append(f"{csv_path} ends in a torn line (an interrupted run): it is ignored")
    frame = load_frame(table)
    rows: dict[Key, dict[str, Any]] = {}
    for row in ([] if frame.empty else frame.to_dict("records")):
        if _selected(row["method"], methods) and _selected(row["dataset"], datasets):
            key = (row["method"], row["dataset"], int(row["scale"]), row["image"],
                   int(row["kernel_index"]), int(row["step"]))
            rows[key] = row
    standing = {row_key(r) for r in table.current()}  # a later run rewrote these images
    invalid = [r for r in table.invalid if r.key not in standing
               and _selected(r.key[0], methods) and _selected(r.key[1], datasets)]
    return _Side(csv_path, table.header, table.metric_columns, rows, invalid, runs, notes)


def _scores(base: _Side, new: _Side, tolerances: Mapping[str, float],
            result: Comparison) -> tuple[Score, ...]:
    """The scores both files can be judged on: directions from run.json, the fixed ones,
    or assumed higher-better with a warning; tolerances from the user or the defaults."""
    described: dict[str, tuple[bool, str]] = {}
    conflicting: set[str] = set()
    for run in (*base.runs, *new.runs):
        for m in run.get("metrics") or ():
            if not isinstance(m, dict) or not isinstance(m.get("name"), str):
                continue
            entry = (bool(m.get("higher_better", True)), str(m.get("unit") or ""))
            if described.setdefault(m["name"], entry)[0] != entry[0]:
                conflicting.add(m["name"])
    base_cols, new_cols = base.metric_columns, new.metric_columns
    names = [*dict.fromkeys([*base_cols, *new_cols]), "kernel_psnr", "code_l2"]
    unknown = sorted(set(tolerances) - set(names))
    if unknown:
        raise UnknownNameError("score for --tolerance", unknown[0], names)
    scores = []
    for name in names:
        if name in conflicting:
            result.warnings.append(f"{name} is higher-better in one run.json and lower-better "
                                   "in another: not the same metric, not compared")
            continue
        if name in base_cols and name not in new_cols:
            result.lost_scores.append(name)
            continue
        if name in new_cols and name not in base_cols:
            result.warnings.append(f"{name} is only in the new results: not compared")
            continue
        values = [_float(r.get(name)) for side in (base, new) for r in side.rows.values()]
        if name not in _FIXED and name not in described and all(map(math.isnan, values)):
            result.warnings.append(f"column {name} holds no numbers: not compared")
            continue
        higher, unit = described.get(name) or _FIXED.get(name) or (True, "")
        assumed = name not in described and name not in _FIXED
        if assumed:
            result.warnings.append(f"no run.json describes column {name}: compared as "
                                   "higher-better")
        default = DB_TOLERANCE if unit == "dB" else OTHER_TOLERANCE
        tol = tolerances.get(name, DEFAULT_TOLERANCES.get(name, default))
        scores.append(Score(name, higher, tol, unit, assumed))
    return tuple(scores)


def _judge(key: Key, old: Mapping[str, Any], cur: Mapping[str, Any],
           scores: Sequence[Score]) -> Change | None:
    """The verdict on one matched row, or None when nothing moved beyond tolerance."""
    errors = (str(old.get("error") or ""), str(cur.get("error") or ""))
    if errors[1] and not errors[0]:
        return Change(key, True, error=errors)
    if errors[0]:  # fixed, or failed in both (nothing to compare)
        return None if errors[1] else Change(key, False, error=errors)
    moves = []
    for score in scores:
        move = Move(score, _float(old.get(score.name)), _float(cur.get(score.name)))
        if (math.isnan(move.old) and math.isnan(move.new)) or move.old == move.new:
            continue
        if abs(move.gain) > score.tolerance + EPS:
            moves.append(move)
    if not moves:
        return None
    return Change(key, any(m.gain < 0 for m in moves), tuple(moves))


def _flat(options: Any, prefix: str = "") -> dict[str, str]:
    if not isinstance(options, Mapping):
        return {prefix.rstrip("."): json.dumps(options, sort_keys=True, default=str)}
    out: dict[str, str] = {}
    for k, v in options.items():
        out.update(_flat(v, f"{prefix}{k}."))
    return out


def _identity(base: _Side, new: _Side, pairs: Sequence[tuple[Key, dict, dict]],
              result: Comparison) -> None:
    """Warn per group when matched rows were made with other weights, options, metric
    convention or noise knowledge; label groups whose weights differ with both."""
    if "weights" in new.header and "weights" not in base.header:
        result.warnings.append("the baseline records no weights (older results): which "
                               "weights made its rows is not checked")
    seen: dict[Group, dict[str, set[tuple[str, str]]]] = {}
    for key, old, cur in pairs:
        found = seen.setdefault(key[:3], {})
        for col in ("weights", "convention", "noise_known"):
            a, b = str(old.get(col, "") or ""), str(cur.get(col, "") or "")
            if a and b and a != b:
                found.setdefault(col, set()).add((a, b))
        options = base.run_of(old).get("options"), new.run_of(cur).get("options")
        if not all(isinstance(o, Mapping) for o in options):  # unknown (no or repaired run.json)
            continue
        a_opts, b_opts = _flat(options[0]), _flat(options[1])
        if a_opts != b_opts:
            found.setdefault("options", set()).update(
                (f"{name}={a_opts.get(name, '-')}", f"{name}={b_opts.get(name, '-')}")
                for name in sorted({*a_opts, *b_opts}) if a_opts.get(name) != b_opts.get(name))
    for (method, dataset, scale), found in seen.items():
        for col, changes in sorted(found.items()):
            olds = ", ".join(sorted({a for a, _ in changes}))
            news = ", ".join(sorted({b for _, b in changes}))
            result.warnings.append(f"{method} on {dataset} x{scale}: {col} differ (baseline "
                                   f"{olds}; new {news}): matched rows are not the same "
                                   "method")
            if col == "weights":
                result.labels[(method, dataset, scale)] = f"{method} [{olds} -> {news}]"


def _means(base: _Side, new: _Side, scores: Sequence[Score],
           result: Comparison) -> list[Mean]:
    """Final-step means per group and score over the LR images whose final step is
    error-free and valued in both files: the headline, even when the step counts differ
    (then warned about)."""
    finals = [{k[:5]: (k[5], r) for k, r in side.rows.items()
               if r.get("is_final") and not r.get("error")} for side in (base, new)]
    acc: dict[tuple[Group, str], list[float]] = {}
    steps: dict[Group, set[tuple[int, int]]] = {}
    for image, (step, old) in finals[0].items():
        if image not in finals[1]:
            continue
        new_step, cur = finals[1][image]
        group = (image[0], image[1], image[2])
        steps.setdefault(group, set()).add((step, new_step))
        for s in scores:
            a, b = _float(old.get(s.name)), _float(cur.get(s.name))
            if not (math.isnan(a) or math.isnan(b)):
                sums = acc.setdefault((group, s.name), [0.0, 0.0, 0])
                sums[0], sums[1], sums[2] = sums[0] + a, sums[1] + b, sums[2] + 1
    for (method, dataset, scale), pairs in steps.items():
        if any(a != b for a, b in pairs):
            olds = ", ".join(str(a) for a in sorted({a for a, _ in pairs}))
            news = ", ".join(str(b) for b in sorted({b for _, b in pairs}))
            result.warnings.append(f"{method} on {dataset} x{scale}: final step differs "
                                   f"(baseline {olds}; new {news}): the final-step means "
                                   "compare different steps")
    by_name = {s.name: s for s in scores}
    return [Mean(group, by_name[name], a / n, b / n, int(n))
            for (group, name), (a, b, n) in acc.items()]


def compare(baseline: str | Path, new: str | Path, *,
            tolerances: Mapping[str, float] | None = None, strict: bool = False,
            methods: Sequence[str] = (), datasets: Sequence[str] = ()) -> Comparison:
    """Compare two results files (or run directories) row by row; see the module doc.

    Args:
        baseline: the reference results.csv or run directory.
        new: the results to judge.
        tolerances: per-row tolerance by score name, overriding :data:`DEFAULT_TOLERANCES`
            (another metric: 0.05 when its unit is dB, else 0.001).
        strict: fail on any move beyond tolerance in either direction and on new rows.
        methods: fnmatch patterns; only rows of matching methods are compared.
        datasets: fnmatch patterns for the dataset label.

    Raises:
        InputError: a file is missing or not a results file, a tolerance names no score,
            or the filters leave no row in either file.
    """
    tolerances = dict(tolerances or {})
    if any(not v >= 0 for v in tolerances.values()):
        raise InputError("tolerances must be >= 0")
    base = _load(baseline, methods, datasets)
    cur = _load(new, methods, datasets)
    if (methods or datasets) and not base.rows and not cur.rows:
        raise InputError(f"no rows match --method {','.join(methods) or '*'} --dataset "
                         f"{','.join(datasets) or '*'} in {base.path} or {cur.path}")
    result = Comparison(base.path, cur.path, strict=strict)
    result.warnings += [*base.notes, *cur.notes]
    result.scores = _scores(base, cur, tolerances, result)
    result.invalid = {"baseline": base.invalid, "new": cur.invalid}
    pairs = []
    for key, old in base.rows.items():
        row = cur.rows.get(key)
        if row is None:
            result.missing.append(key)
            continue
        pairs.append((key, old, row))
        change = _judge(key, old, row, result.scores)
        if change is not None:
            (result.regressions if change.worse else result.improvements).append(change)
    result.matched = len(pairs)
    result.added = [k for k in cur.rows if k not in base.rows]
    _identity(base, cur, pairs, result)
    result.means = _means(base, cur, result.scores, result)
    result.regressions.sort(key=lambda c: -c.severity)
    result.improvements.sort(key=lambda c: -c.severity)
    return result
