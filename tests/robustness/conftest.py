"""Fixtures of the robustness suite (issue #16): the CLI as a user runs it.

Every case asserts the promise of the issue: one ``error: ...`` line on stderr (no
traceback), exit 2 for bad input and 1 for failed work, and every earlier row, column and
run.json entry intact. Helpers live in ``robust_helpers.py``.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from robust_helpers import fake_plugin


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``cli(*args, plugin=None)``: ``bsrbench ARGS`` in ``tmp_path`` (the cache inside it);
    with ``plugin`` the command's registry also holds that plugin module."""
    from bsrbench.cli import main
    from bsrbench.registry import load_registry

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BSRBENCH_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()

    def invoke(*args: Any, plugin: types.ModuleType | None = None) -> Result:
        if plugin is not None:
            monkeypatch.setattr("bsrbench.cli.run.registry",
                                lambda: load_registry(extra=[plugin]))
        else:
            monkeypatch.setattr("bsrbench.cli.run.registry", load_registry)
        return runner.invoke(main, [str(a) for a in args])

    return invoke


@pytest.fixture
def base(hr_dir: Path) -> tuple[str, ...]:
    """``bsrbench run`` of the fake method on ``hr_dir`` (Gaussian8 x4) into ``r``."""
    return ("run", "-m", "fake", "-d", "gaussian8", "--hr", str(hr_dir), "-o", "r", "-q")


@pytest.fixture
def folder(cli: Callable[..., Result], base: tuple[str, ...], tmp_path: Path) -> Path:
    """A run folder holding one finished run of the fake method."""
    res = cli(*base, plugin=fake_plugin())
    assert res.exit_code == 0, res.output
    return tmp_path / "r"
