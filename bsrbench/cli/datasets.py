"""``bsrbench datasets``: build, describe and export HDF5 test sets."""

from __future__ import annotations

from pathlib import Path

import click

from bsrbench.cli.common import handle_errors, registry, setup_logging


@click.group()
def datasets() -> None:
    """Build, describe and export HDF5 test sets."""


@datasets.command("build")
@click.argument("protocol")
@click.option("--hr", type=click.Path(path_type=Path), default=None,
              help="Folder of HR images (default: the embedded scikit-image set).")
@click.option("--scale", "-s", type=int, default=4, show_default=True)
@click.option("--downsampler", default="matlab-bicubic", show_default=True)
@click.option("--noise", type=float, default=0.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output .h5 (default: the cache file name under ./datasets).")
@handle_errors
def datasets_build(protocol: str, hr: Path | None, scale: int, downsampler: str, noise: float,
                   seed: int, out: Path | None) -> None:
    """Generate the test set of PROTOCOL (bicubic, gaussian8) into one HDF5 file."""
    setup_logging(False, False)
    from bsrbench.datasets import DatasetSettings, build_dataset, default_cache_dir
    from bsrbench.errors import UnknownNameError
    from bsrbench.images import hr_set_digest, load_hr_set
    from bsrbench.progress import Progress

    reg = registry()
    if protocol not in reg.protocols:
        raise UnknownNameError("protocol", protocol, reg.protocols)
    reg.get("degradation", downsampler)
    hr_name, images = load_hr_set(hr)
    settings = DatasetSettings(protocol, scale, downsampler, hr_name, hr_set_digest(images),
                               reg.protocols[protocol].kernel_size, noise, seed)
    out = out or default_cache_dir() / settings.cache_name()
    with Progress(len(images), f"build {protocol}") as bar:
        path = build_dataset(reg, settings, images, out, progress=bar.update)
    click.echo(str(path))


@datasets.command("info")
@click.argument("file", type=click.Path(path_type=Path))
@handle_errors
def datasets_info(file: Path) -> None:
    """Print a test set's settings, provenance and content hash."""
    from bsrbench.datasets import describe

    for key, value in describe(file).items():
        click.echo(f"{key}: {value}")


@datasets.command("export")
@click.argument("file", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@handle_errors
def datasets_export(file: Path, out: Path) -> None:
    """Write HR/LR PNGs, kernels (.npy and .png) and settings.csv into OUT."""
    from bsrbench.datasets import export_dataset

    n = export_dataset(file, out)
    click.echo(f"wrote {n} LR images to {out}")




def register(group: click.Group) -> None:
    group.add_command(datasets)
