"""The local executor: a sweep's tasks one after the other in this process."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bsrbench.registry import Registry
    from bsrbench.runner import RunConfig

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """Runs each task in turn; the runner appends each chunk's rows as it goes, so an
    interrupted sweep keeps every finished chunk."""

    def run(self, tasks: Iterable[RunConfig], registry: Registry, out: Path) -> int:
        """Run ``tasks`` in order (taken lazily: a test set is built just before its
        first task) and return the failed LR images."""
        from bsrbench.runner import run

        return sum(run(task, registry).failed for task in tasks)
