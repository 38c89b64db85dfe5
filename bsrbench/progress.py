"""Progress for long work: a bar on a terminal, plain periodic log lines otherwise (CI)."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

__all__ = ["Progress"]

log = logging.getLogger("bsrbench")


class Progress:
    """``with Progress(total, "run ikc") as p: p.update(1)``.

    On a terminal this is a tqdm bar with rate and ETA. Elsewhere it logs a line at most
    every ``every`` seconds (and at the end), so CI logs stay readable. ``quiet`` shows
    nothing.
    """

    def __init__(self, total: int, desc: str, *, unit: str = "img", quiet: bool = False,
                 every: float = 10.0) -> None:
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.n, self._bar, self._quiet = 0, None, quiet
        self.skipped = 0  # work already done (a resumed run): counted, never as throughput
        self._start = self._last = time.monotonic()
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def note(self, text: str) -> None:
        """Show what is being worked on now (e.g. the step of an iterative method): the bar's
        postfix on a terminal, a log line at most every ``every`` seconds elsewhere."""
        if self._quiet:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            log.info("%s: %s", self.desc, text)

    def skip(self, n: float) -> None:
        """Count ``n`` units done earlier (resumed): shown as skipped, not as a rate."""
        if n <= 0:
            return
        self.skipped += n
        self.n += n
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.initial = self.skipped
            self._bar.n = self.n
            self._bar.set_postfix_str(f"{self.skipped} skipped (done before)")
            self._bar.refresh()
        elif not self._quiet:
            log.info("%s: %g/%g %s already done, skipped", self.desc, round(n, 3),
                     round(self.total, 3), self.unit)

    def update(self, n: float = 1) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if not self._quiet and (now - self._last >= self.every or self.n >= self.total):
            self._last = now
            elapsed = now - self._start
            done_now = self.n - self.skipped
            rate = done_now / elapsed if elapsed > 0 else 0.0
            eta = (self.total - self.n) / rate if rate > 0 else float("nan")
            log.info("%s: %g/%g %s (%.3g %s/s, ETA %.0f s)", self.desc, round(self.n, 3),
                     round(self.total, 3), self.unit, rate, self.unit, eta)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
