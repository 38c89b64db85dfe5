"""Errors raised by bsrbench.

Every error a user can cause derives from :class:`BsrbenchError` and carries a one-line
message that says what is wrong and what to do. The CLI turns these into that line and an
exit code; anything else is a bug and keeps its traceback.

Exception tree::

    BsrbenchError                 exit code 1
    ├── InputError                bad image, kernel, file or option value (exit 2)
    │   └── UnknownNameError      unknown method/estimator/dataset..., with "did you mean"
    ├── PluginError               a plugin failed to load or broke the contract
    ├── WeightsError              weights missing, wrong format, or sha256 mismatch
    └── RunError                  a run finished but some rows failed
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BsrbenchError",
    "InputError",
    "Interrupted",
    "PluginError",
    "RunError",
    "UnknownNameError",
    "WeightsError",
]


class BsrbenchError(Exception):
    """Base class of every error a user can cause; its message is one line."""

    exit_code = 1


class InputError(BsrbenchError):
    """Bad input: an image, kernel, file, or option value that cannot be used."""

    exit_code = 2


class UnknownNameError(InputError):
    """A name (method, estimator, dataset, ...) that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(known) if known else "none"
        super().__init__(f"unknown {kind} {name!r}{hint} (known: {listing})")
        self.kind, self.name, self.known = kind, name, known


class PluginError(BsrbenchError):
    """A plugin could not be loaded or does not follow the plugin contract."""


class WeightsError(BsrbenchError):
    """Weights are missing, of an unknown format, or fail their sha256 check."""

    exit_code = 2


class RunError(BsrbenchError):
    """A run completed but some of its rows recorded an error."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with a one-line ``hint`` saying where the results are and how to resume."""

    def __init__(self, hint: str) -> None:
        super().__init__(hint)
        self.hint = hint
