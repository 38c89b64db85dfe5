"""``bsrbench published``: list the published results bsrbench ships, with their citations.

The rows are quoted from papers and official READMEs (:mod:`bsrbench.published`), never
measured here, and the output says so in its first line. Filters are fnmatch patterns
(case-insensitive). A filter that matches no row is not an error: the table is
deliberately incomplete (only numbers read from their source are listed), so the command
prints one line saying no published row matches and exits 0.
"""

from __future__ import annotations

import click

from bsrbench.cli.common import Command, handle_errors
from bsrbench.published import PublishedResult, load, select

__all__ = ["format_published", "published", "register"]

_HEAD = ["method", "protocol", "downsampler", "dataset", "scale", "noise", "PSNR", "SSIM"]


def _cells(row: PublishedResult) -> list[str]:
    ssim = "-" if row.ssim is None else f"{row.ssim:.4f}"
    return [row.method, row.protocol, row.downsampler or "-", row.dataset, f"x{row.scale}",
            f"{row.noise:g}", f"{row.psnr:.2f}", ssim]


def format_published(rows: list[PublishedResult]) -> list[str]:
    """Text lines: one block per (paper, table, source), each with its rows and citation.

    Grouping by citation keeps every number next to where it was read, so a row can never
    be copied out of the listing without its source in view.
    """
    groups: dict[tuple[str, str, str, str], list[PublishedResult]] = {}
    for row in rows:
        groups.setdefault((row.paper, row.table, row.source, row.convention), []).append(row)
    lines = ["Published results QUOTED from papers (not measured by bsrbench); "
             f"{len(rows)} row(s)."]
    for (paper, table, source, convention), members in groups.items():
        body = [_cells(r) for r in members]
        widths = [max(len(c) for c in col) for col in zip(_HEAD, *body)]
        lines += ["", f"{paper}", f"  {table}; read from {source}",
                  f"  metric convention: {convention}"]
        lines.append("  " + "  ".join(h.ljust(w) for h, w in zip(_HEAD, widths)).rstrip())
        marks: dict[str, int] = {}
        for row, cells in zip(members, body):
            text = "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
            alias = "" if row.published_as.lower() == row.method else f"  ({row.published_as})"
            mark = f"  [{marks.setdefault(row.note, len(marks) + 1)}]" if row.note else ""
            lines.append("  " + text + alias + mark)
        lines += [f"  [{n}] {note}" for note, n in marks.items()]
    return lines


@click.command(cls=Command)
@click.option("--method", "-m", default="*", show_default=True,
              help="method label pattern, e.g. ikc, dan*")
@click.option("--dataset", "-d", default="*", show_default=True,
              help="test set pattern, e.g. Set5, urban*, BSD100 (= B100)")
@click.option("--scale", "-s", default="*", show_default=True, help="scale pattern, e.g. 4 or x4")
@handle_errors
def published(method: str, dataset: str, scale: str) -> None:
    """List published PSNR/SSIM quoted from papers, with paper, table and source."""
    rows = select(method=method, dataset=dataset, scale=scale)
    if not rows:
        click.echo(f"no published row matches --method {method} --dataset {dataset} "
                   f"--scale {scale} ({len(load())} rows in all: run `bsrbench published`)")
        return
    for line in format_published(rows):
        click.echo(line)


def register(group: click.Group) -> None:
    group.add_command(published)
