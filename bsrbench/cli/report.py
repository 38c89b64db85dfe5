"""``bsrbench report``: a thin command over :func:`bsrbench.report.write_report`.

:func:`register` adds it to the main group (``register(main)`` in ``bsrbench.cli``).
Exit codes: 0, or 2 for a bad run directory.
"""

from __future__ import annotations

from pathlib import Path

import click

from bsrbench.cli.common import Command, handle_errors

__all__ = ["register", "report_command"]


@click.command("report", cls=Command)
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", "out", type=click.Path(path_type=Path), default=None,
              help="HTML file (default RUN_DIR/report.html for one run, else ./report.html).")
@click.option("--images", "max_images", type=click.IntRange(min=0), default=3,
              show_default=True, help="HR images in the visual comparison, per test set.")
@click.option("--kernel-index", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which LR image of each HR image (Gaussian8: kernel 0..7) to show.")
@handle_errors
def report_command(run_dirs: tuple[Path, ...], out: Path | None, max_images: int,
                   kernel_index: int) -> None:
    """Render a self-contained HTML report of one or more run directories."""
    from bsrbench.report import write_report
    from bsrbench.results import REPORT

    if out is None:
        out = run_dirs[0] / REPORT if len(run_dirs) == 1 else Path(REPORT)
    path = write_report(list(run_dirs), out, max_images=max_images, kernel_index=kernel_index)
    click.echo(str(path))


def register(group: click.Group) -> None:
    """Add ``report`` to ``group`` (the ``bsrbench`` main group)."""
    group.add_command(report_command, "report")
