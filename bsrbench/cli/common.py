"""What every command shares: logging set-up, error handling, option types and parsing.

Library errors (:class:`~bsrbench.errors.BsrbenchError`) become one line on stderr and
their exit code; Ctrl-C exits 130 with the results so far kept. An ``OSError`` is one line
too: exit 2 when the path the user named is the cause (a file where a folder is needed, no
permission, a read-only disk), 1 when work failed (disk full, I/O error). Click's own usage
errors (``--seed abc``) are one line as well: commands here use :class:`Command`. Output
cut short by a closed pipe (``bsrbench methods | head -1``) ends quietly with 141, the
status a shell gives any tool stopped by a closed pipe.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bsrbench.errors import BsrbenchError, InputError

__all__ = [
    "PATH",
    "SEED",
    "Command",
    "OneLineUsageError",
    "handle_errors",
    "parse_options",
    "registry",
    "setup_logging",
]

# errnos whose cause is a path the user named: bad input (exit 2), not failed work
_USER_PATH = {errno.ENOTDIR, errno.EEXIST, errno.EACCES, errno.EPERM, errno.EROFS,
              errno.ENOENT, errno.ENAMETOOLONG, errno.ELOOP, errno.EISDIR}
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE: what `set -o pipefail` reports for `yes | head -1`

# numpy's RandomState (the noise draws) accepts seeds 0..2**32-1
SEED = click.IntRange(0, 2**32 - 1)


class _PathGiven(click.Path):
    """A path option that refuses '' (an unset shell variable): pathlib reads it as '.',
    which would silently mean the current folder."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("is empty: give a path", param, ctx)
        return super().convert(value, param, ctx)


PATH = _PathGiven(path_type=Path)


class OneLineUsageError(click.UsageError):
    """A click usage error shown as one line, as every other error is."""

    def show(self, file: Any = None) -> None:
        hint = f" (see `{self.ctx.command_path} --help`)" if self.ctx else ""
        click.echo(f"error: {self.format_message()}{hint}", err=True)


class Command(click.Command):
    """A click command whose usage errors (bad option values, unknown options) are one
    line on stderr with exit 2, instead of click's usage block."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise OneLineUsageError(exc.format_message(), exc.ctx or ctx) from None


def setup_logging(quiet: bool, verbose: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)


def _os_error(exc: OSError) -> tuple[str, int]:
    """One line and an exit code for an OSError that reached the command line."""
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in _DISK_FULL:
        return (f"disk full writing {where or 'a file'}: free some space, then rerun the same "
                "command (results written so far are kept; a run resumes)"), 1
    if exc.errno in _USER_PATH and where:
        return f"cannot use {where}: {reason.lower()}: pass another path", 2
    at = f" ({where})" if where else ""
    return (f"{reason}{at}: check that path and the free disk space, then rerun (results "
            "written so far are kept)"), 1


def _silence_stdout() -> None:
    """After a closed pipe, send what is left for stdout to /dev/null so the interpreter's
    final flush does not report the broken pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests), already closed
        pass


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            out = fn(*args, **kwargs)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
            return out
        except BsrbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            hint = getattr(exc, "hint", None) or (
                "results so far are saved; rerun the same command (same --out) to resume")
            click.echo(f"interrupted: {hint}", err=True)
            sys.exit(130)
        except BrokenPipeError:  # the reader stopped early (`| head`): nothing to report
            _silence_stdout()
            sys.exit(BROKEN_PIPE_EXIT)
        except OSError as exc:  # a path that is a file/folder, no permission, disk full
            message, code = _os_error(exc)
            click.echo(f"error: {message}", err=True)
            sys.exit(code)

    return wrapper


def parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputError(f"option {pair!r} must be NAME=VALUE (e.g. -O iterations=7)")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def registry() -> Any:
    """A fresh plugin registry for this command (built on demand, never at import)."""
    from bsrbench.registry import load_registry

    return load_registry()
