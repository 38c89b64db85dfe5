"""Helpers of the robustness suite (issue #16): a fake fast plugin method, one-line error
checks, and before/after snapshots of a run folder. Imported by the tests of this folder as
``robust_helpers`` (pytest puts this folder on sys.path)."""

from __future__ import annotations

import csv
import io
import json
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result

from bsrbench import MethodSpec, OptionSpec, Step, hookimpl
from bsrbench.errors import InputError

__all__ = [
    "ROWS",
    "FakeMethod",
    "assert_no_debris",
    "fake_plugin",
    "one_line_error",
    "rewrite_csv",
    "run_entries",
    "snapshot",
]

ROWS = 32  # a fake run on hr_dir: 2 HR images x 8 kernels (Gaussian8) x 2 steps

GREY_LR_WIDTH = 11  # width of hr_dir's grey image (40x44) at x4: the fake fails on it


class FakeMethod:
    """Bicubic in ``steps`` steps, each a little brighter; on the grey image of ``hr_dir``
    it raises when ``fail`` is set and is interrupted (Ctrl-C) when ``interrupt`` is."""

    def __init__(self, steps: int, fail: bool = False, interrupt: bool = False) -> None:
        self.steps, self.fail, self.interrupt = steps, fail, interrupt

    def run(self, batch: Any) -> Any:
        from bsrbench.resize import imresize

        if batch.lr.shape[-1] == GREY_LR_WIDTH:
            if self.interrupt:
                raise KeyboardInterrupt
            if self.fail:
                raise RuntimeError("boom on grey")
        up = imresize(batch.lr, batch.scale)
        for i in range(self.steps):
            yield Step(sr=up * (1 + 0.01 * i))


def fake_plugin(**flags: bool) -> types.ModuleType:
    """A plugin module registering ``fake``: an iterative method with an int option
    ``steps`` whose factory refuses values below 1 (as IKC's does)."""
    mod = types.ModuleType("robustfake")

    def factory(ctx: Any) -> FakeMethod:
        steps = ctx.option("steps")
        if steps < 1:
            raise InputError(f"fake steps must be >= 1, got {steps}")
        return FakeMethod(steps, **flags)

    @hookimpl
    def bsrbench_methods() -> list[MethodSpec]:
        return [MethodSpec("fake", "bicubic in steps", "-", "MIT", (2, 3, 4), factory=factory,
                           options=(OptionSpec("steps", int, 2, "SR steps"),),
                           iterative=True)]

    mod.bsrbench_methods = bsrbench_methods
    return mod


def one_line_error(res: Result, code: int, *needles: str) -> str:
    """Assert exit ``code`` with exactly one ``error: ...`` line on stderr and no traceback;
    return that line (each of ``needles`` must be in it)."""
    assert res.exit_code == code, (res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_no_debris(root: Path) -> None:
    """No ``.tmp``/``.partial`` file and no header-only results.csv anywhere under root."""
    for p in root.rglob("*"):
        assert not p.name.endswith((".tmp", ".partial")), p
        if p.name == "results.csv" and p.is_file():
            assert len(p.read_text().strip().splitlines()) > 1, f"header-only {p}"


def rewrite_csv(path: Path, edit: Callable[[list[str], list[dict[str, str]]],
                                            tuple[list[str], list[dict[str, str]]]]) -> None:
    """Rewrite a results.csv the way a user's script or spreadsheet would:
    ``edit(header, rows)`` returns the new header and rows."""
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    header, rows = edit(list(rows[0]), rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue())


def run_entries(folder: Path) -> list[dict[str, Any]]:
    """The entries of ``folder/run.json``."""
    return json.loads((folder / "run.json").read_text())["runs"]
