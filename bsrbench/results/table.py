"""The one reader and writer of results.csv.

The file is append-only history. Rows are appended one chunk of LR images at a time in a
single write, flushed to disk, so an interrupted run leaves a valid CSV (at worst a torn last
line, which readers ignore). Opening a file never changes it: nothing is written until a run
appends its first rows. The file is replaced (atomically) only to add a column a run needs,
and then every row and every column a user added is kept.

Reading resolves the history: for each LR image (:data:`~bsrbench.results.schema.KEY`) the
rows of the last run that wrote it stand (``run_id``), so a recomputed image supersedes an
earlier error or invalid row without deleting it. Rows that do not parse (a non-numeric
metric, a missing step) are *invalid*: reported, never averaged over, and recomputed by the
next run.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.errors import InputError
from bsrbench.results.schema import (
    BASE_COLUMNS,
    FLAG_COLUMNS,
    INT_COLUMNS,
    KEY,
    NUMERIC_COLUMNS,
    TAIL_COLUMNS,
    columns_for,
    format_value,
    row_key,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "InvalidRow",
    "ResultsFile",
    "ResultsTable",
    "load_frame",
    "read_results",
    "read_table",
]

_NUMPY_REPR = re.compile(r"^np\.\w+\((.*)\)$")  # "np.float64(1.8)" written by numpy 2 reprs
_REQUIRED = (*KEY, "step", "is_final")


@dataclass(frozen=True)
class InvalidRow:
    """A complete line of results.csv that cannot be used, and why."""

    line: int  # 1-based line number in the file (the header is line 1)
    key: tuple[str, ...]  # its LR image identity (may hold '' parts)
    reason: str
    run_id: str = ""  # the run that wrote it ('' when shifted: its run_id cell moved)
    # the row has more or fewer cells than the header (a hand edit): every value after the
    # edit sits in the wrong column. Its run cannot be told, so it is resolved only by a run
    # that wrote the image's step 0 after it (a run writes all steps of an image at once)
    shifted: bool = False


@dataclass
class ResultsTable:
    """A parsed results.csv: its header, every complete row (strings), and the verdicts."""

    path: Path
    header: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)  # every complete row, in order
    invalid: list[InvalidRow] = field(default_factory=list)
    torn: bool = False  # the file ends in a partial line (an interrupted write)
    # each row's cells as written (rows, above, are keyed by the header): what a rewrite
    # that adds a column copies, so a shifted row is never realigned into plausible values
    cells: list[list[str]] = field(default_factory=list, repr=False)
    lines: list[int] = field(default_factory=list, repr=False)  # each row's line number

    @property
    def metric_columns(self) -> list[str]:
        """Columns that are neither bsrbench's fixed ones: metrics and a user's additions."""
        fixed = set(BASE_COLUMNS) | set(TAIL_COLUMNS)
        return [c for c in self.header if c not in fixed]

    def _aligned(self) -> list[dict[str, str]]:
        """The rows whose cells line up with the header (shifted rows left out)."""
        if len(self.cells) != len(self.rows):  # a table built by hand, without cells
            return self.rows
        return [r for r, c in zip(self.rows, self.cells, strict=True)
                if len(c) == len(self.header)]

    def _rewritten_after(self, bad: InvalidRow, run_id: str | None) -> bool:
        """Whether run ``run_id`` wrote step 0 of ``bad``'s image on a later line."""
        if len(self.lines) != len(self.rows) or run_id is None:
            return False
        for row, cells, line in zip(self.rows, self.cells, self.lines, strict=True):
            if line > bad.line and len(cells) == len(self.header) \
                    and row.get("run_id", "") == run_id and row_key(row) == bad.key:
                try:
                    if _number(row.get("step", "")) == 0:
                        return True
                except ValueError:
                    continue
        return False

    def _last_runs(self) -> dict[tuple[str, ...], str]:
        last_run: dict[tuple[str, ...], str] = {}
        for row in self._aligned():
            last_run[row_key(row)] = row.get("run_id", "")
        return last_run

    def unresolved(self) -> list[InvalidRow]:
        """Invalid rows no later run has recomputed (their images are left out)."""
        last_run = self._last_runs()

        def stands(bad: InvalidRow) -> bool:
            if bad.shifted:
                return not self._rewritten_after(bad, last_run.get(bad.key))
            return last_run.get(bad.key) == bad.run_id

        return [r for r in self.invalid if stands(r)]

    def current(self) -> list[dict[str, str]]:
        """The rows that stand: per LR image, the rows of the last run that wrote it, with
        invalid rows (and the images they belong to) left out."""
        last_run = self._last_runs()
        bad = {r.key for r in self.unresolved()}
        return [r for r in self._aligned() if row_key(r) not in bad
                and r.get("run_id", "") == last_run[row_key(r)]]

    def done(self) -> set[tuple[str, ...]]:
        """LR images finished without error (their final step stands): a rerun skips them."""
        current = self.current()
        failed = {row_key(r) for r in current if r.get("error")}
        return {row_key(r) for r in current if r.get("is_final") == "True"} - failed


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


def _flag(value: str) -> str:
    return "True" if str(value).strip().lower() in _TRUE else "False"


def _number(value: str) -> float | None:
    """A cell as a float (numpy reprs accepted), None when empty; ValueError otherwise."""
    text = (value or "").strip()
    if not text:
        return None
    m = _NUMPY_REPR.match(text)
    return float(m.group(1) if m else text)


def _check_row(row: dict[str, str], metrics: Sequence[str],
               required: Iterable[str] | None = None) -> str | None:
    """Why a row cannot be used, or None. Every cell of ``metrics`` must parse; those in
    ``required`` (default: all of them) must also be filled on a row without an error."""
    required = set(metrics if required is None else required)
    for col in KEY:
        if not (row.get(col) or "").strip():
            return f"empty {col}"
    for col in INT_COLUMNS:
        try:
            value = _number(row.get(col, ""))
        except ValueError:
            return f"{col} {row.get(col)!r} is not a number"
        if value is None or value != int(value) or value < 0:
            return f"{col} {row.get(col)!r} is not a non-negative integer"
    if row.get("error"):
        return None
    for col in (*metrics, *(c for c in NUMERIC_COLUMNS if c not in INT_COLUMNS)):
        try:
            value = _number(row.get(col, ""))
        except ValueError:
            return f"{col} {row.get(col)!r} is not a number"
        if col in required and (value is None or math.isnan(value)):
            return f"{col} is empty on a row without an error"
    return None


def read_table(path: str | Path, metrics: Sequence[str] | None = None) -> ResultsTable:
    """Parse a results.csv (a missing file is an empty table).

    Args:
        path: the file.
        metrics: the metric columns a row without an error must have numbers in (default:
            ``psnr`` and ``ssim`` where the header has them; a run passes the metrics it
            scores).

    Raises:
        InputError: the path is a folder, unreadable, or not a bsrbench results file.
    """
    path = Path(path)
    table = ResultsTable(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a results file: pass another --out")
    if not path.exists():
        return table
    try:
        # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a BOM the header must not keep
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path} ({exc}): check the file or pass another "
                         "--out") from None
    if text and not text.endswith("\n"):
        table.torn = True
        text = text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text))
    table.header = next(reader, [])
    if not table.header and not text.strip():
        return table
    missing = [c for c in _REQUIRED if c not in table.header]
    if missing:
        raise InputError(f"{path} is not a bsrbench results file (no column "
                         f"{', '.join(missing)}): pass another --out")
    required = tuple(metrics) if metrics is not None else tuple(
        c for c in ("psnr", "ssim") if c in table.header)
    width = len(table.header)
    checked = [m for m in required if m in table.header]
    flagged: set[int] = set()  # rows with a flag that is neither true nor false
    for cells in reader:
        if not cells:  # a blank line
            continue
        row = {col: (cells[j] if j < len(cells) else "") for j, col in enumerate(table.header)}
        odd = next((f"{col} {row[col]!r} is neither True nor False" for col in FLAG_COLUMNS
                    if col in row and row[col].strip().lower() not in (*_TRUE, *_FALSE)), "")
        for col in FLAG_COLUMNS:
            if col in row:
                row[col] = _flag(row[col])
        table.rows.append(row)
        table.cells.append(cells)
        table.lines.append(reader.line_num)
        if len(cells) != width:  # a cell too many or too few shifts every value after it
            table.invalid.append(InvalidRow(reader.line_num, row_key(row),
                                            f"has {len(cells)} cells, the header {width}",
                                            shifted=True))
        elif odd:
            flagged.add(len(table.rows) - 1)
            table.invalid.append(InvalidRow(reader.line_num, row_key(row), odd,
                                            row.get("run_id", "")))
    # a metric must be filled only on rows of runs that scored it (an earlier run with
    # --metrics psnr left ssim empty on purpose): runs known by the metrics they filled
    scored: dict[str, set[str]] = {}
    for row, cells in zip(table.rows, table.cells, strict=True):
        if len(cells) == width:
            mine = scored.setdefault(row.get("run_id", ""), set())
            mine.update(m for m in checked if row.get(m, "").strip())
    for i, (row, cells, line) in enumerate(zip(table.rows, table.cells, table.lines,
                                               strict=True)):
        if len(cells) != width or i in flagged:
            continue
        run_id = row.get("run_id", "")
        reason = _check_row(row, checked, scored[run_id])
        if reason:
            table.invalid.append(InvalidRow(line, row_key(row), reason, run_id))
    table.invalid.sort(key=lambda r: r.line)
    return table


def read_results(path: str | Path) -> list[dict[str, str]]:
    """The rows of a results.csv that stand (see :meth:`ResultsTable.current`), as
    strings with the flags spelled ``True``/``False``."""
    return read_table(path).current()


def load_frame(source: str | Path | ResultsTable) -> pd.DataFrame:
    """The rows that stand (see :meth:`ResultsTable.current`) as a typed DataFrame:
    numbers as floats (ints for scale, kernel index and step), flags as bools, ``error``
    as '' when empty. Unknown columns are kept: numeric when they hold numbers (a cell that
    does not parse is NaN), as text when none does (a user's note column)."""
    import pandas as pd

    table = source if isinstance(source, ResultsTable) else read_table(source)
    frame = pd.DataFrame(table.current(), dtype=str)
    if frame.empty:
        return frame
    for col in [*NUMERIC_COLUMNS, *table.metric_columns]:
        if col in frame:
            clean = frame[col].fillna("").str.replace(_NUMPY_REPR, r"\1", regex=True)
            values = pd.to_numeric(clean, errors="coerce")
            if col in table.metric_columns and values.isna().all() \
                    and clean.str.strip().ne("").any():
                continue  # a user's text column (no number in it): kept as text
            frame[col] = values
    for col in INT_COLUMNS:
        if col in frame:
            frame[col] = frame[col].astype("int64")
    for col in FLAG_COLUMNS:
        frame[col] = frame[col] == "True" if col in frame else False
    frame["error"] = frame["error"].fillna("") if "error" in frame else ""
    return frame


class ResultsFile:
    """results.csv of one run folder, for a run that appends to it.

    Opening reads and checks the file and changes nothing. The first :meth:`append` makes
    the file ready: it cuts a torn last line (the remains of an interrupted write), and
    writes a new file, or replaces one that lacks a column this run needs (a metric,
    ``run_id`` in an older file), atomically with its first rows, every earlier row and
    column kept.
    """

    def __init__(self, path: str | Path, metrics: Sequence[str] = ("psnr", "ssim")) -> None:
        self.path = Path(path)
        self.metrics = tuple(metrics)
        self.table = read_table(self.path, self.metrics)
        self.done = self.table.done()
        self.kept = sum(1 for r in self.table.current() if row_key(r) in self.done)
        self.invalid = self.table.unresolved()
        self._ready = False

    @property
    def columns(self) -> tuple[str, ...]:
        if self.table.header:
            have = tuple(self.table.header)
            extra = tuple(c for c in columns_for(self.metrics) if c not in have)
            return (*have, *extra)
        return columns_for(self.metrics)

    def _prepare(self, first: str) -> bool:
        """Make the file ready for appends; return True when ``first`` (this run's first
        rows, as CSV text) went in with a replaced file.

        A new file, or one that lacks a column, is replaced atomically with the header and
        the first rows together, so a failure never leaves a header-only results.csv.
        """
        cols = self.columns
        if self.table.header and list(cols) == self.table.header:
            if self.table.torn:  # cut the remains of an interrupted write
                with open(self.path, "r+b") as f:
                    data = f.read()
                    f.truncate(data.rfind(b"\n") + 1)
            self._ready = True
            return False
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(cols)
        pad = [""] * (len(cols) - len(self.table.header))
        # every row's cells as they were (a shifted row stays shifted, so still invalid)
        writer.writerows([*cells, *pad] for cells in self.table.cells)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                f.write(buf.getvalue() + first)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self.table.header = list(cols)
        self._ready = True
        return True

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows in one write and flush them to disk."""
        cols = self.columns
        buf = io.StringIO()
        writer = csv.writer(buf)
        for row in rows:
            writer.writerow([format_value(row.get(c)) for c in cols])
        if not self._ready and self._prepare(buf.getvalue()):
            return
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
