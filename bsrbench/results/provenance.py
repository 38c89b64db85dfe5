"""run.json: the provenance of every run that wrote into a run folder.

run.json holds ``{"runs": [...]}``, one entry per run (a resumed run adds its own entry):
versions, device, git commit, command, method, options, weights with sha256, metric
convention and metrics, and the test set with its content hash. The file is only ever
replaced atomically with one more entry (or the last entry completed); it is never
re-created from a partial parse. A missing or corrupt run.json next to existing results is
an error that names the ways out, never a silent fresh start, because it is what tells a
resumed run whether the old rows were made with the same settings.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bsrbench.errors import InputError

__all__ = ["RUN_JSON", "RunLog", "git_commit", "new_run_id", "resume_settings"]

RUN_JSON = "run.json"

log = logging.getLogger("bsrbench")


def new_run_id() -> str:
    """A run's id: its start time (UTC, sortable) and a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def git_commit() -> str | None:
    """The commit of the bsrbench checkout, when it is one (None otherwise)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def resume_settings(meta: Mapping[str, Any]) -> dict[str, Any]:
    """What must not change when a run resumes into the same folder (weights by hash)."""
    return {
        "test set content": (meta.get("dataset") or {}).get("content_hash"),
        "metric convention": meta.get("convention"),
        "options": meta.get("options"),
        "weights": sorted((meta.get("weights_sha256") or {}).values()) or None,
        "batch size": meta.get("batch_size"),
    }


# the fields the resume check reads, and the JSON types they must have when present
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "run_id": str, "method": str, "convention": str, "dataset": dict, "options": dict,
    "weights_sha256": dict, "batch_size": (int, str),
}


def _wrong_field(entry: Mapping[str, Any]) -> str | None:
    """Why a run.json entry cannot be read by the resume check (a hand edit), or None."""
    for name, types in _FIELD_TYPES.items():
        value = entry.get(name)
        if value is not None and not isinstance(value, types):
            return f"{name!r} is {type(value).__name__} {value!r}"[:120]
    dataset = entry.get("dataset") or {}
    if not isinstance(dataset.get("scale", 0), int | None):
        return f"'dataset.scale' is {dataset.get('scale')!r}"
    return None


def _rows_identity(meta: Mapping[str, Any]) -> tuple[Any, ...]:
    """What results.csv keys a run's rows on: method label, dataset label, scale."""
    ds = meta.get("dataset") or {}
    return meta.get("method"), ds.get("label"), ds.get("scale")


class RunLog:
    """run.json of one run folder (read at construction; written only by its methods)."""

    def __init__(self, folder: str | Path, *, has_rows: bool = False) -> None:
        """Read ``folder/run.json``.

        Args:
            folder: the run folder.
            has_rows: results.csv in the folder already holds rows; then a missing run.json
                is an error (their settings could not be checked).

        Raises:
            InputError: run.json is missing beside existing rows, unreadable or corrupt.
        """
        self.folder = Path(folder)
        self.path = self.folder / RUN_JSON
        self.runs: list[dict[str, Any]] = []
        ways_out = (f"pass another --out, or run `bsrbench repair {self.folder}` to rebuild "
                    f"{RUN_JSON} from results.csv")
        if not self.path.exists():
            if has_rows:
                raise InputError(f"{self.path} is missing but results.csv has rows, so their "
                                 f"settings cannot be checked: {ways_out}")
            return
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{self.path} is corrupt ({type(exc).__name__}): "
                             f"{ways_out}") from None
        runs = loaded.get("runs") if isinstance(loaded, dict) else None
        if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
            raise InputError(f"{self.path} is not a bsrbench run record (no list 'runs'): "
                             f"{ways_out}")
        for i, entry in enumerate(runs):
            wrong = _wrong_field(entry)
            if wrong:
                raise InputError(f"{self.path} entry {i + 1} is malformed ({wrong}): "
                                 f"{ways_out}")
        self.runs = runs

    def check_resume(self, meta: Mapping[str, Any], wrote_rows: Iterable[str]) -> None:
        """Refuse to resume rows made with other settings under the same method, dataset
        label and scale: their images would be skipped as done and old numbers reported
        as new. Only entries that wrote rows count (``wrote_rows``: the run ids found in
        results.csv; entries of older versions without a run id always count), so a run
        that was refused or failed before writing cannot block the correct command."""
        wrote = set(wrote_rows)
        mine = resume_settings(meta)
        method, label, scale = _rows_identity(meta)
        unchecked: set[str] = set()
        for old in self.runs:
            rid = old.get("run_id")
            if rid is not None and rid not in wrote:
                continue
            if _rows_identity(old) != _rows_identity(meta):
                continue
            theirs = resume_settings(old)
            changed = [k for k in mine if theirs.get(k) is not None and mine[k] is not None
                       and theirs[k] != mine[k]]
            if changed:
                raise InputError(
                    f"{self.folder} already has {method} on {label} x{scale} made with other "
                    f"{', '.join(changed)}: rerun with the same settings to resume, or pass "
                    "another --out")
            if "repaired" in old:
                unchecked.update(k for k in mine if theirs.get(k) is None
                                 and mine[k] is not None)
        if unchecked:  # a repaired run.json lost them: say so rather than imply a check
            log.warning("%s: earlier rows of %s on %s x%s come from a repaired %s; their %s "
                        "cannot be checked against this run", self.folder, method, label,
                        scale, RUN_JSON, ", ".join(sorted(unchecked)))

    def _write(self, runs: list[dict[str, Any]]) -> None:
        """Replace run.json in one step: a full disk never leaves it truncated."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(json.dumps({"runs": runs}, indent=2, default=str))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self.runs = runs

    def record(self, meta: Mapping[str, Any]) -> None:
        """Add this run's entry, or replace the entry with the same ``run_id``."""
        rid = meta.get("run_id")
        runs = [r for r in self.runs if rid is None or r.get("run_id") != rid]
        index = next((i for i, r in enumerate(self.runs) if rid is not None
                      and r.get("run_id") == rid), len(runs))
        runs.insert(index, dict(meta))
        self._write(runs)


def repair(folder: str | Path) -> tuple[Path, list[str]]:
    """Rebuild run.json from results.csv; return its path and what could not be recovered.

    The rebuilt entries (one per run id and method/dataset/scale found in the rows) hold the
    method, model, estimator, dataset label, scale, downsampler and convention the rows
    record. Test-set content hash, options and weights cannot be recovered, so a resumed run
    cannot check them; each entry says so under ``repaired``.

    Raises:
        InputError: no results.csv, or a run.json that is readable (nothing to repair).
    """
    from bsrbench.results.table import read_table

    folder = Path(folder)
    path = folder / RUN_JSON
    if path.exists():
        try:
            RunLog(folder)
        except InputError:
            pass
        else:
            raise InputError(f"{path} is readable: nothing to repair")
    table = read_table(folder / "results.csv")
    if not table.rows:
        raise InputError(f"{folder / 'results.csv'} has no rows to rebuild {RUN_JSON} from")
    lost = ["test set content hash", "options", "weights", "versions and command"]
    seen: dict[tuple[str, ...], dict[str, Any]] = {}
    bad = {r.line for r in table.invalid}  # a shifted or hand-broken row names no run
    for row, line in zip(table.rows, table.lines, strict=True):
        if line in bad:
            continue
        key = (row.get("run_id", ""), row["method"], row["dataset"], row["scale"])
        if key in seen:
            continue
        seen[key] = {
            "run_id": row.get("run_id") or None, "method": row["method"],
            "model": row.get("model"), "estimator": row.get("estimator") or None,
            "convention": row.get("convention"),
            "dataset": {"label": row["dataset"], "scale": int(float(row["scale"])),
                        "downsampler": row.get("downsampler")},
            "repaired": {"from": "results.csv", "not recovered": lost},
        }
    if not seen:
        raise InputError(f"{folder / 'results.csv'} has no valid rows to rebuild {RUN_JSON} "
                         "from")
    if path.exists():  # kept for the user, never over an earlier kept copy
        keep = path.with_name(path.name + ".corrupt")
        n = 1
        while keep.exists():
            keep, n = path.with_name(f"{path.name}.corrupt.{n}"), n + 1
        path.replace(keep)
    RunLog(folder)._write(list(seen.values()))
    return path, lost
