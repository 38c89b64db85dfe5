"""``bsrbench new-plugin`` and ``bsrbench check-plugin``: commands for plugin authors.

:func:`register` adds both to the main click group (``register(main)`` in
:mod:`bsrbench.cli`). Library errors become one line and an exit code, as in the rest of
the CLI: 2 for an invalid or unknown name, 1 when a conformance check fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bsrbench.cli.common import Command, handle_errors

__all__ = ["check_plugin", "new_plugin", "register"]


@click.command("new-plugin", cls=Command)
@click.argument("name")
@click.option("--kind", type=click.Choice(["method", "estimator", "degradation", "metric"]),
              default="method", show_default=True, help="What the plugin provides.")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("."),
              show_default=True, help="Where the package folder bsrbench-NAME is created.")
@handle_errors
def new_plugin(name: str, kind: str, directory: Path) -> None:
    """Create the installable plugin package bsrbench-NAME (code, pyproject, tests)."""
    from bsrbench.plugin_dev import KINDS, check_plugin_name, create_plugin
    from bsrbench.registry import load_registry

    check_plugin_name(name)
    registry = load_registry()
    taken = {n for k in KINDS[kind].registry_kinds for n in registry.list(k)}
    root = create_plugin(name, kind, directory, registered=taken)
    click.echo(f"created {root}")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        click.echo(f"  {path.relative_to(root)}")
    click.echo(f"next: pip install -e {root} && bsrbench check-plugin {name}")


@click.command("check-plugin", cls=Command)
@click.argument("name")
@click.option("--device", default="cpu", show_default=True,
              help="Device to check on (cpu, cuda, mps); unavailable devices are skipped.")
@click.option("--scale", "-s", "scales", type=int, multiple=True,
              help="Scale to check (repeatable; default: every declared scale).")
@click.option("--option", "-O", "options", multiple=True, metavar="NAME=VALUE",
              help="Method option, e.g. -O iterations=1 to keep IKC's check short.")
@click.option("--weights", type=click.Path(exists=True, path_type=Path), default=None,
              help="Weights file or folder to check with (default: the bundled weights).")
@handle_errors
def check_plugin(name: str, device: str, scales: tuple[int, ...], options: tuple[str, ...],
                 weights: Path | None) -> None:
    """Run the conformance checks on a plugin, method, model, estimator or degradation.

    Prints a PASS/FAIL/SKIP table; exits 1 when a check fails, 2 for an unknown name.
    """
    from bsrbench.cli.common import parse_options as _parse_options
    from bsrbench.plugin_dev import FAIL, check_plugin, format_results
    from bsrbench.registry import load_registry

    results = check_plugin(load_registry(), name, device=device, scales=scales or None,
                           options=_parse_options(options), weights=weights)
    click.echo(format_results(results))
    if any(r.status == FAIL for r in results):
        sys.exit(1)


def register(group: click.Group) -> None:
    """Add ``new-plugin`` and ``check-plugin`` to ``group`` (the ``bsrbench`` CLI)."""
    group.add_command(new_plugin)
    group.add_command(check_plugin)
