"""A run folder's stored results: the only package that reads or writes them.

- :mod:`~bsrbench.results.schema`: the columns of results.csv;
- :mod:`~bsrbench.results.table`: the one reader/writer of results.csv (append-only,
  invalid rows reported, later runs supersede earlier rows of the same LR image);
- :mod:`~bsrbench.results.provenance`: run.json, the record of every run;
- :mod:`~bsrbench.results.layout`: where files live in a run folder;
- :mod:`~bsrbench.results.lock`: one command at a time in a run folder.

The runner, the summary, the report and ``compare`` all read through here. This package
imports neither the runner nor the report.
"""

from __future__ import annotations

from bsrbench.results.aggregate import per_step
from bsrbench.results.layout import (
    IMAGES,
    REPORT,
    RESULTS,
    check_out_dir,
    image_dir,
    lr_stem,
    step_stem,
)
from bsrbench.results.lock import hold_run_folder
from bsrbench.results.provenance import (
    RUN_JSON,
    RunLog,
    git_commit,
    new_run_id,
    repair,
    resume_settings,
)
from bsrbench.results.schema import (
    BASE_COLUMNS,
    FLAG_COLUMNS,
    KEY,
    NUMERIC_COLUMNS,
    TAIL_COLUMNS,
    columns_for,
    row_key,
)
from bsrbench.results.table import (
    InvalidRow,
    ResultsFile,
    ResultsTable,
    load_frame,
    read_results,
    read_table,
)

__all__ = [
    "BASE_COLUMNS",
    "FLAG_COLUMNS",
    "IMAGES",
    "KEY",
    "NUMERIC_COLUMNS",
    "REPORT",
    "RESULTS",
    "RUN_JSON",
    "TAIL_COLUMNS",
    "InvalidRow",
    "ResultsFile",
    "ResultsTable",
    "RunLog",
    "check_out_dir",
    "columns_for",
    "git_commit",
    "hold_run_folder",
    "image_dir",
    "load_frame",
    "lr_stem",
    "new_run_id",
    "per_step",
    "read_results",
    "read_table",
    "repair",
    "resume_settings",
    "row_key",
    "step_stem",
]
