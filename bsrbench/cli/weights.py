"""``bsrbench weights``: list, fetch and check official releases (a click group).

A thin layer over :mod:`bsrbench.releases` (the library never imports the CLI): library
errors become one line and exit 2 via
the CLI's shared ``handle_errors``; ``verify`` exits 1 when a file fails its check.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bsrbench.cli.common import Command, handle_errors
from bsrbench.errors import InputError
from bsrbench.releases.cache import cache_root, cached_file
from bsrbench.releases.catalogue import catalogue, lookup
from bsrbench.releases.fetch import DEFAULT_TIMEOUT, fetch, verify_files

__all__ = ["weights_command"]

_CACHE_DIR = click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                          default=None, help="weights cache (default: $BSRBENCH_CACHE/weights)")


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def weights_command() -> click.Group:
    """Build the ``weights`` group (built per call, so tests get a fresh one)."""

    @click.group(name="weights")
    def weights() -> None:
        """Official weights releases: list them, fetch and verify them into a cache."""

    @weights.command(name="list", cls=Command)
    @_CACHE_DIR
    @handle_errors
    def list_(cache_dir: Path | None) -> None:
        """Every known release: method, scale, setting, size, pin, licence, cached or not."""
        click.echo(f"{'name':<26} {'method':<7} scale {'setting':<12} {'size':>9} cached pin")
        for spec in catalogue().values():
            cached = "yes" if cached_file(spec.name, cache_dir) else "no"
            click.echo(f"{spec.name:<26} {spec.method:<7} x{spec.scale:<4} {spec.setting:<12} "
                       f"{_size(spec.size):>9} {cached:<6} {spec.pin}")
            click.echo(f"{'':<26} source: {spec.source}; licence: {spec.license}")

    @weights.command(cls=Command)
    @click.argument("names", nargs=-1, required=True)
    @click.option("--sha256", default=None, help="expected sha256 (for unpinned releases)")
    @click.option("--trust-on-first-use", is_flag=True,
                  help="accept an unpinned release and record the hash of this download")
    @click.option("--url", default=None,
                  help="download from here (releases published only on a web page)")
    @click.option("--timeout", type=float, default=DEFAULT_TIMEOUT, show_default=True,
                  help="seconds without data before the download is abandoned")
    @_CACHE_DIR
    @click.option("--quiet", is_flag=True, help="no progress output")
    @handle_errors
    def get(names: tuple[str, ...], sha256: str | None, trust_on_first_use: bool,
            url: str | None, timeout: float, cache_dir: Path | None, quiet: bool) -> None:
        """Download releases NAMES into the cache and verify them (resumes partial files)."""
        if len(names) > 1 and (sha256 or url):
            raise InputError("--sha256 and --url apply to one release: give one NAME")
        releases = catalogue()
        specs = [lookup(name, releases) for name in names]  # all names checked first
        for spec in specs:
            path = fetch(spec, sha256=sha256, trust_on_first_use=trust_on_first_use,
                         cache_dir=cache_dir, url=url, timeout=timeout, quiet=quiet)
            click.echo(f"{spec.name}: {path}")

    @weights.command(cls=Command)
    @click.argument("path", required=False, type=click.Path(path_type=Path))
    @_CACHE_DIR
    @handle_errors
    def verify(path: Path | None, cache_dir: Path | None) -> None:
        """Check PATH (a file or folder) or, without it, every cached release."""
        results = verify_files([] if path is None else [path], catalogue(), cache_dir)
        if not results:
            click.echo(f"nothing to verify in {path or cache_root(cache_dir)}")
        for r in results:
            click.echo(f"{'OK  ' if r.ok else 'FAIL'} {r.path}: {r.message}")
        if any(not r.ok for r in results):
            sys.exit(1)

    return weights


def register(group: click.Group) -> None:
    group.add_command(weights_command())
