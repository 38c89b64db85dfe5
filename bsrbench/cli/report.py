"""``bsrbench report`` and ``bsrbench compare``: thin commands over report.py and compare.py.

:func:`register` adds both to the main group (``register(main)`` in ``bsrbench.cli``).
Exit codes: ``report`` 0, or 2 for a bad run directory; ``compare`` 0 when nothing got
worse, 1 on a regression or a missing row, 2 for bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bsrbench.cli.common import handle_errors

__all__ = ["compare_command", "register", "report_command"]


@click.command("report")
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

    if out is None:
        out = run_dirs[0] / "report.html" if len(run_dirs) == 1 else Path("report.html")
    path = write_report(list(run_dirs), out, max_images=max_images, kernel_index=kernel_index)
    click.echo(str(path))


@click.command("compare")
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--max-psnr-drop", type=click.FloatRange(min=0), default=0.05,
              show_default=True, help="Largest PSNR drop (dB) per row that still passes.")
@click.option("--max-ssim-drop", type=click.FloatRange(min=0), default=0.001,
              show_default=True, help="Largest SSIM drop per row that still passes.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Rows listed per section.")
@handle_errors
def compare_command(baseline: Path, new: Path, max_psnr_drop: float, max_ssim_drop: float,
                    limit: int) -> None:
    """Compare NEW results against BASELINE (results.csv files or run directories).

    Exits 1 when a row got worse beyond tolerance, now fails, or is missing.
    """
    from bsrbench.compare import compare, format_comparison

    result = compare(baseline, new, max_psnr_drop=max_psnr_drop, max_ssim_drop=max_ssim_drop)
    click.echo(format_comparison(result, limit=limit))
    if not result.ok:
        sys.exit(1)


def register(group: click.Group) -> None:
    """Add ``report`` and ``compare`` to ``group`` (the ``bsrbench`` main group)."""
    group.add_command(report_command, "report")
    group.add_command(compare_command, "compare")
