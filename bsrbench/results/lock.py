"""One command at a time in a run folder: an advisory lock on the folder itself.

Two runs into the same ``--out`` would append to one results.csv in turns and each replace
run.json with its own view, dropping the other's entry. The lock is on the folder (no lock
file is left behind); where the system has no advisory locks, runs are not guarded.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bsrbench.errors import InputError

__all__ = ["hold_run_folder"]

log = logging.getLogger("bsrbench")


@contextmanager
def hold_run_folder(out: str | Path) -> Iterator[None]:
    """Hold the run folder for this command: an exclusive lock on the folder itself, so a
    second run into the same ``--out`` is refused instead of appending to the same files
    and replacing run.json without the first run's entry. A folder this command created
    and left empty (a run refused before writing) is removed again."""
    out = Path(out)
    missing = out
    while not missing.parent.exists() and missing.parent != missing:
        missing = missing.parent
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    fd = None
    try:
        try:
            import fcntl

            fd = os.open(out, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{out} is being written by another bsrbench run: wait for "
                             "it to finish, or pass another --out") from None
        except (ImportError, OSError):  # no advisory locks here (Windows, some NFS)
            log.debug("no lock on %s: concurrent runs into it are not detected", out)
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock
        if created:
            _remove_empty(out, missing)


def _remove_empty(folder: Path, top: Path) -> None:
    """Remove ``folder`` and its parents up to ``top`` while they are empty."""
    while True:
        try:
            folder.rmdir()
        except OSError:  # not empty (results written), or gone
            return
        if folder == top or folder.parent == folder:
            return
        folder = folder.parent
