"""What every command shares: logging set-up, error handling, ``-O NAME=VALUE`` parsing.

Library errors (:class:`~bsrbench.errors.BsrbenchError`) become one line on stderr and
their exit code; Ctrl-C exits 130 with the results so far kept.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

import click

from bsrbench.errors import BsrbenchError, InputError

__all__ = ["handle_errors", "parse_options", "registry", "setup_logging"]


def setup_logging(quiet: bool, verbose: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BsrbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            hint = getattr(exc, "hint", None) or (
                "results so far are saved; rerun the same command (same --out) to resume")
            click.echo(f"interrupted: {hint}", err=True)
            sys.exit(130)
        except OSError as exc:  # a path that is a file/folder, no permission, disk full
            where = f" ({exc.filename})" if exc.filename else ""
            click.echo(f"error: {exc.strerror or exc}{where}: check that path and the free "
                       "disk space, then rerun (results written so far are kept)", err=True)
            sys.exit(1)

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
