"""``bsrbench repair RUN_DIR``: rebuild a missing or corrupt run.json from results.csv."""

from __future__ import annotations

from pathlib import Path

import click

from bsrbench.cli.common import Command, handle_errors


@click.command(cls=Command)
@click.argument("run_dir", type=click.Path(path_type=Path))
@handle_errors
def repair(run_dir: Path) -> None:
    """Rebuild RUN_DIR/run.json from RUN_DIR/results.csv (a corrupt one is kept as
    run.json.corrupt) and say what could not be recovered."""
    from bsrbench.results import hold_run_folder
    from bsrbench.results import repair as rebuild

    with hold_run_folder(run_dir):  # not while a run writes run.json there
        path, lost = rebuild(run_dir)
    click.echo(f"rebuilt {path} from results.csv; not recovered: {', '.join(lost)} "
               "(a resumed run cannot check those)")


def register(group: click.Group) -> None:
    group.add_command(repair)
