"""The report's data: run folders read through :mod:`bsrbench.results`, labelled for display.

Every run folder's ``results.csv`` (the rows that stand) and ``run.json`` are read through
:mod:`bsrbench.results` and nothing else. The rows of all runs are then named for the page:

- ``label`` (a table row): the method; plus the weights (``ikc [official]``) when that
  method ran with different weights, so two different models never look the same; plus the
  run folder when two folders hold the same method on the same test set; plus
  ``(noise known)`` when the same label also has blind rows.
- ``set`` (a table column): the dataset, plus downsampler or convention where those vary
  between runs, plus the noise level.
- ``bound``: ground truth a blind method never has reached it (``upper_bound``: the true
  kernel; ``noise_known``: the true noise level); such rows are grouped as upper bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.errors import InputError
from bsrbench.report.formatting import MetricInfo, metric_infos
from bsrbench.results import (
    BASE_COLUMNS,
    RESULTS,
    TAIL_COLUMNS,
    ResultsTable,
    RunLog,
    load_frame,
    read_table,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ReportData", "check_runs", "load", "run_names"]

_ADDED = ("run", "label", "set", "bound")  # columns the report adds to the rows
_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("downsampler", ""), ("convention", ""), ("weights", ""), ("kernel_index", 0),
    ("sigma", float("nan")), ("kernel_psnr", float("nan")), ("code_l2", float("nan")),
    ("seconds", float("nan")), ("noise", 0.0), ("upper_bound", False), ("noise_known", False),
    ("sigma2", float("nan")), ("theta", float("nan")), ("jpeg", float("nan")))


@dataclass(frozen=True)
class RunRecord:
    """One run folder's provenance: its run.json entries, or why they are unknown."""

    path: Path
    name: str
    entries: tuple[dict[str, Any], ...]
    problem: str = ""  # run.json missing or unreadable: said on the page
    invalid: tuple[str, ...] = ()  # results.csv lines that did not parse, and why


@dataclass(frozen=True)
class ReportData:
    """All rows of all runs, labelled, with the metric columns and the runs' provenance."""

    frame: pd.DataFrame
    metrics: tuple[MetricInfo, ...]
    runs: tuple[RunRecord, ...]


def run_names(runs: Sequence[Path]) -> list[str]:
    """Short names of run folders: the folder name, or the path where names clash."""
    names = [r.name or str(r) for r in runs]
    return [str(r) if names.count(n) > 1 else n for r, n in zip(runs, names)]


def check_runs(run_dirs: Sequence[str | Path]) -> list[Path]:
    """The run folders as paths.

    Raises:
        InputError: none given, or one is missing or has no results.csv.
    """
    if not run_dirs:
        raise InputError("no run directory given")
    runs = [Path(r) for r in run_dirs]
    for r in runs:
        if not (r / RESULTS).is_file():
            what = "not found" if not r.exists() else f"has no {RESULTS}"
            raise InputError(f"run directory {r} {what}: give directories written by "
                             "`bsrbench run --out DIR`")
    return runs


def _record(run: Path, name: str, table: ResultsTable) -> RunRecord:
    invalid = tuple(f"line {r.line}: {r.reason}" for r in table.invalid)
    try:
        entries = RunLog(run).runs
    except InputError as exc:
        return RunRecord(run, name, (), f"run.json unreadable, provenance unknown: {exc}",
                         invalid)
    if not entries:
        return RunRecord(run, name, (), "No run.json: provenance unknown.", invalid)
    return RunRecord(run, name, tuple(entries), "", invalid)


def _labels(frame: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """Row labels (see the module docstring)."""
    weights = frame.groupby("method")["weights"].agg(lambda w: len(set(w) - {""}))
    base = [f"{m} [{w}]" if w and weights[m] > 1 else str(m)
            for m, w in zip(frame["method"], frame["weights"])]
    frame = frame.assign(base=base)
    owners = frame.groupby(["base", "dataset", "scale"])["run"].nunique()
    shared = {k for k, n in owners.items() if n > 1}
    labels = [f"{b} ({names[r]})" if (b, d, s) in shared else b
              for b, d, s, r in zip(frame["base"], frame["dataset"], frame["scale"],
                                    frame["run"])]
    mixed = {lb for lb, n in frame.assign(lb=labels).groupby("lb")["noise_known"].nunique()
             .items() if n > 1}
    return [f"{lb} (noise known)" if lb in mixed and nk else lb
            for lb, nk in zip(labels, frame["noise_known"])]


def _sets(frame: pd.DataFrame) -> list[str]:
    varying = {col: frame.groupby("dataset")[col].nunique() for col in
               ("downsampler", "convention")}
    sets = []
    jpegs = frame["jpeg"] if "jpeg" in frame else [float("nan")] * len(frame)
    for d, ds, conv, noise, jpeg in zip(frame["dataset"], frame["downsampler"],
                                        frame["convention"], frame["noise"], jpegs):
        extra = [v for col, v in (("downsampler", ds), ("convention", conv))
                 if varying[col].get(d, 1) > 1]
        if noise == noise and noise > 0:
            extra.append(f"noise {noise:g}")
        if jpeg == jpeg and jpeg:
            extra.append(f"JPEG q{int(jpeg)}")
        sets.append(f"{d} ({', '.join(extra)})" if extra else str(d))
    return sets


def load(runs: Sequence[Path]) -> ReportData:
    """Read and label every run folder (see the module docstring).

    Raises:
        InputError: a results.csv is not a bsrbench results file.
    """
    import pandas as pd

    names = run_names(runs)
    tables = [read_table(r / RESULTS) for r in runs]
    records = tuple(_record(r, n, t) for r, n, t in zip(runs, names, tables))
    frames, columns = [], []
    for i, table in enumerate(tables):
        f = load_frame(table)
        if f.empty:
            continue
        columns += [c for c in f.columns if c not in BASE_COLUMNS and c not in TAIL_COLUMNS
                    and c not in _ADDED and c not in columns]
        frames.append(f.assign(run=i))
    entries = [e for r in records for e in r.entries]
    if not frames:
        return ReportData(pd.DataFrame(), (), records)
    frame = pd.concat(frames, ignore_index=True)
    for col, default in _DEFAULTS:
        if col not in frame:
            frame[col] = default
        elif isinstance(default, str):
            frame[col] = frame[col].fillna(default)
        elif isinstance(default, bool):
            frame[col] = frame[col].fillna(False).astype(bool)
    numeric = {c: bool(pd.to_numeric(frame[c], errors="coerce").notna().any())
               for c in columns}
    metrics = tuple(metric_infos(columns, numeric, entries))
    for m in metrics:
        frame[m.name] = pd.to_numeric(frame[m.name], errors="coerce")
    frame["label"] = _labels(frame, names)
    frame["set"] = _sets(frame)
    frame["bound"] = frame["upper_bound"] | frame["noise_known"]
    return ReportData(frame, metrics, records)
