"""The ``bsrbench`` command line: a thin layer over the library.

One module per command group; :mod:`bsrbench.cli.common` is the shared error and option
layer. Library errors (:class:`~bsrbench.errors.BsrbenchError`) become one line on stderr
and their exit code (2 for bad input and unknown names, 1 otherwise); a run with failed
images exits 1 after writing every row; Ctrl-C exits 130 with the results so far kept.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import click

from bsrbench.cli import (
    compare,
    datasets,
    listing,
    plugins,
    published,
    repair,
    report,
    run,
    train,
    weights,
)

__all__ = ["main"]


@click.group()
@click.version_option(package_name="bsrbench")
def main() -> None:
    """bsrbench: benchmark blind image super-resolution methods under one protocol."""


for _module in (run, listing, datasets, train, report, compare, plugins, repair, published,
                weights):
    _module.register(main)

if __name__ == "__main__":  # pragma: no cover
    main()
