"""``bsrbench compare``: a thin command over :mod:`bsrbench.compare`.

:func:`register` adds it to the main group (``register(main)`` in ``bsrbench.cli``).
Exit codes: 0 when nothing got worse, 1 on a regression or a missing row, 2 for bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bsrbench.cli.common import handle_errors

__all__ = ["compare_command", "register"]


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
    """Add ``compare`` to ``group`` (the ``bsrbench`` main group)."""
    group.add_command(compare_command, "compare")
