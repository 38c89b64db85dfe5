"""``bsrbench datasets``: build, describe and export HDF5 test sets."""

from __future__ import annotations

from pathlib import Path

import click

from bsrbench.cli.common import PATH, SEED, Command, handle_errors, registry, setup_logging


@click.group()
def datasets() -> None:
    """Build, describe and export HDF5 test sets."""


@datasets.command("build", cls=Command)
@click.argument("protocol")
@click.option("--hr", type=PATH, default=None,
              help="Folder of HR images (default: the embedded scikit-image set).")
@click.option("--scale", "-s", type=click.IntRange(min=1), default=None,
              help="SR factor (default: the protocol's, 4).")
@click.option("--downsampler", default=None,
              help="matlab-bicubic (default), pil-bicubic or direct; protocols with their "
                   "own pipeline take none.")
@click.option("--noise", type=float, default=0.0, show_default=True,
              help="Additive Gaussian noise std, 0..255.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--jpeg", type=click.IntRange(1, 100), default=None, metavar="Q",
              help="JPEG-compress the LR images at quality Q (recorded per LR image).")
@click.option("--draws", type=PATH, default=None, metavar="FILE.json",
              help="Rebuild from recorded draws (schema: docs/protocols.md).")
@click.option("--out", type=PATH, default=None,
              help="Output .h5 (default: the cache file name under ./datasets).")
@handle_errors
def datasets_build(protocol: str, hr: Path | None, scale: int | None, downsampler: str | None,
                   noise: float, seed: int, jpeg: int | None, draws: Path | None,
                   out: Path | None) -> None:
    """Generate the test set of PROTOCOL (bicubic, gaussian8, ...) into one HDF5 file."""
    setup_logging(False, False)
    from bsrbench.datasets import (
        build_dataset,
        check_cache_dir,
        dataset_settings,
        default_cache_dir,
    )
    from bsrbench.errors import UnknownNameError
    from bsrbench.progress import Progress
    from bsrbench.results import check_out_dir
    from bsrbench.sweep import check_hr_folder

    reg = registry()
    if protocol not in reg.protocols:
        raise UnknownNameError("protocol", protocol, reg.protocols)
    if hr is not None and reg.protocols[protocol].reader is None:
        check_hr_folder(hr)  # a release protocol's --hr is the release folder itself
    if out is not None:
        check_out_dir(out, folder=False)
    settings, images = dataset_settings(reg, reg.protocols[protocol], hr=hr, scale=scale,
                                        downsampler=downsampler, noise=noise, seed=seed,
                                        jpeg=jpeg, draws=draws)
    out = out or check_cache_dir(default_cache_dir()) / settings.cache_name()
    with Progress(len(images), f"build {protocol}") as bar:
        path = build_dataset(reg, settings, images, out, progress=bar.update, draws=draws)
    click.echo(str(path))


@datasets.command("list", cls=Command)
@handle_errors
def datasets_list() -> None:
    """List the protocols: scales, LR images per HR image, kernel size, pipeline, source."""
    from bsrbench.datasets import describe_protocols

    for row in describe_protocols(registry()):
        click.echo(f"{row['name']:<20} x{row['scales']:<7} {row['lr_per_hr']:>3} LR/HR  "
                   f"k{row['kernel_size']:<3} {row['pipeline']:<22} {row['summary']}")
        if row.get("paper"):
            click.echo(f"{'':<20} {row['paper']}")


@datasets.command("export-draws", cls=Command)
@click.argument("file", type=PATH)
@click.argument("out", type=PATH)
@handle_errors
def datasets_export_draws(file: Path, out: Path) -> None:
    """Write the random draws recorded in a test set into OUT/draws.json (rebuild it with
    `datasets build PROTOCOL --draws OUT/draws.json`)."""
    from bsrbench.datasets import export_draws

    _test_set_file(file)
    click.echo(str(export_draws(file, out)))


@datasets.command("info", cls=Command)
@click.argument("file", type=PATH)
@handle_errors
def datasets_info(file: Path) -> None:
    """Print a test set's settings, provenance and content hash."""
    from bsrbench.datasets import describe

    _test_set_file(file)
    for key, value in describe(file).items():
        click.echo(f"{key}: {value}")


@datasets.command("export", cls=Command)
@click.argument("file", type=PATH)
@click.argument("out", type=PATH)
@handle_errors
def datasets_export(file: Path, out: Path) -> None:
    """Write HR/LR PNGs, kernels (.npy and .png) and settings.csv into OUT."""
    from bsrbench.datasets import export_dataset
    from bsrbench.results import check_out_dir

    _test_set_file(file)
    check_out_dir(out, "OUT")
    n = export_dataset(file, out)
    click.echo(f"wrote {n} LR images to {out}")


def _test_set_file(file: Path) -> None:
    """A folder given where a test-set file belongs is named as one, not "not found"."""
    from bsrbench.errors import InputError

    if file.is_dir():
        raise InputError(f"{file} is a folder, not a test-set file: pass FILE.h5 (build one "
                         "with `bsrbench datasets build PROTOCOL`)")


def register(group: click.Group) -> None:
    group.add_command(datasets)
