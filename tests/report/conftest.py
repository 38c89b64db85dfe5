"""Fixtures of the report tests: run folders in tmp_path (see report_helpers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from report_helpers import scenario, write_run


@pytest.fixture
def make_run(tmp_path):
    """``make_run(name, rows, entries=(), metrics=...)``: a run folder in tmp_path."""

    def make(name: str, rows: Iterable[Mapping[str, Any]],
             entries: Iterable[Mapping[str, Any]] = (), **kw: Any) -> Path:
        return write_run(tmp_path / name, rows, entries, **kw)

    return make


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """The two-folder sweep of :func:`report_helpers.scenario` (shared by a module)."""
    return scenario(tmp_path_factory.mktemp("report"))
