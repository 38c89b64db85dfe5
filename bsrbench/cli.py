"""The ``bsrbench`` command line: a thin layer over the library.

Library errors (:class:`~bsrbench.errors.BsrbenchError`) become one line on stderr and
their exit code (2 for bad input and unknown names, 1 otherwise); a run with failed images
exits 1 after writing every row; Ctrl-C exits 130 with the results so far kept. Anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from bsrbench._cli_common import handle_errors, parse_options, setup_logging

log = logging.getLogger("bsrbench")


def _registry() -> Any:
    from bsrbench.registry import load_registry

    return load_registry()


class _TrainGroup(click.Group):
    """``bsrbench train NAME``: commands contributed by plugins, loaded on demand."""

    def _commands(self) -> dict[str, click.Command]:
        return {c.name: c for c in _registry().train_commands}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._commands())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._commands().get(name)


@click.group()
@click.version_option(package_name="bsrbench")
def main() -> None:
    """bsrbench: benchmark blind image super-resolution methods under one protocol."""


@main.command()
@click.option("--method", "-m", default=None,
              help="Method or non-blind model name; a comma list sweeps several.")
@click.option("--kernel", "-k", default=None,
              help="Kernel estimator(s) for non-blind models (oracle, ikc.predictor, ikc...).")
@click.option("--dataset", "-d", default=None,
              help="Protocol name(s) (gaussian8, bicubic) or FILE.h5; comma list to sweep.")
@click.option("--hr", default=None,
              help="Folder(s) of HR images, comma-separated (default: the embedded set).")
@click.option("--scale", "-s", default=None, help="SR factor(s), e.g. 4 or 2,3,4 (default 4).")
@click.option("--config", "config", type=click.Path(path_type=Path), default=None,
              help="TOML file naming methods, kernels, datasets, hr, scales and options.")
@click.option("--downsampler", default=None,
              help="matlab-bicubic (default), pil-bicubic (official IKC) or direct.")
@click.option("--noise", type=float, default=None,
              help="Additive Gaussian noise std (0..255) when building the test set.")
@click.option("--seed", type=int, default=None, help="Noise seed (default 0).")
@click.option("--device", default=None, help="auto (default), cpu, cuda or mps.")
@click.option("--out", "-o", "out", type=click.Path(path_type=Path), default=None,
              help="Run directory (default results/<time>-<method>-<dataset>); reuse to resume.")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="Weights file or folder of the method or model (default: the plugin's "
                   "bundled weights).")
@click.option("--kernel-weights", type=click.Path(path_type=Path), default=None,
              help="Weights file or folder of the --kernel estimator (default: bundled).")
@click.option("--iterations", type=int, default=None,
              help="Iterations of an iterative method (same as -O iterations=N).")
@click.option("--option", "-O", "options", multiple=True, metavar="NAME=VALUE",
              help="Method-specific option (see `bsrbench methods`).")
@click.option("--convention", default=None,
              help="Metric convention: matlab-y (default), basicsr-y or rgb.")
@click.option("--batch-size", type=int, default=None, help="LR images per forward pass (8).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Where generated test sets are cached (default ./datasets).")
@click.option("--save-images", is_flag=True, default=None,
              help="Store HR, LR, every step's SR and kernels under OUT/images (for reports).")
@click.option("--quiet", "-q", is_flag=True, help="Only errors and the summary.")
@click.option("--verbose", "-v", is_flag=True, help="Debug logging.")
@handle_errors
def run(config: Path | None, options: tuple[str, ...], quiet: bool, verbose: bool,
        **given: Any) -> None:
    """Run methods on test sets and score every step (results.csv, run.json, report.html).

    Comma lists (or --config) run every combination into one run directory.
    """
    setup_logging(quiet, verbose)
    from bsrbench.sweep import SweepConfig, run_sweep

    opts: dict[str, Any] = parse_options(options)
    sweep = SweepConfig.from_sources(config, given, opts)
    sweep = sweep.with_command(shlex.join(["bsrbench", *sys.argv[1:]]))
    result = run_sweep(sweep, _registry(), quiet=quiet)
    click.echo(result.summary)
    click.echo(f"results: {result.results}")
    if result.report is not None:
        click.echo(f"report: {result.report}")
    if result.failed:
        click.echo(f"error: {result.failed} LR images failed (see the error column)", err=True)
        sys.exit(1)


@main.command()
@click.option("--method", "-m", required=True, help="Blind method, or model with --kernel.")
@click.option("--kernel", "-k", default=None, help="Blind kernel estimator for a model.")
@click.option("--input", "-i", "inputs", required=True, multiple=True,
              type=click.Path(path_type=Path), help="LR image file or folder (repeatable).")
@click.option("--scale", "-s", type=int, default=4, show_default=True)
@click.option("--out", "-o", "out", required=True, type=click.Path(path_type=Path))
@click.option("--save-steps", is_flag=True, help="Also write every step's SR and kernel.")
@click.option("--device", default="auto", show_default=True)
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="Weights of the method or model (default: bundled).")
@click.option("--kernel-weights", type=click.Path(path_type=Path), default=None,
              help="Weights of the --kernel estimator (default: bundled).")
@click.option("--iterations", type=int, default=None)
@click.option("--option", "-O", "options", multiple=True, metavar="NAME=VALUE")
@click.option("--quiet", "-q", is_flag=True)
@handle_errors
def sr(method: str, kernel: str | None, inputs: tuple[Path, ...], scale: int, out: Path,
       save_steps: bool, device: str, weights: Path | None, kernel_weights: Path | None,
       iterations: int | None, options: tuple[str, ...], quiet: bool) -> None:
    """Restore real LR images (no ground truth) and write the SR PNGs into OUT."""
    setup_logging(quiet, False)
    from bsrbench.apply import apply_method, collect_inputs
    from bsrbench.compose import plan_method
    from bsrbench.device import pick_device

    opts: dict[str, Any] = parse_options(options)
    if iterations is not None:
        opts["iterations"] = iterations
    plan = plan_method(_registry(), method, kernel, opts, scale)
    files = collect_inputs(inputs)
    written = apply_method(plan, files, scale=scale, device=pick_device(device), out=out,
                           weights=weights, kernel_weights=kernel_weights,
                           save_steps=save_steps, quiet=quiet)
    click.echo(f"wrote {len(written)} SR images to {out}")


@main.command()
@handle_errors
def methods() -> None:
    """List methods, non-blind models and kernel estimators."""
    registry = _registry()
    for title, kind in (("methods", "method"), ("models (use with --kernel)", "model"),
                        ("kernel estimators (--kernel)", "estimator")):
        click.echo(f"{title}:")
        for name in registry.list(kind):
            spec = registry.get(kind, name)
            avail = spec.weights_available
            if avail is None:
                weights = "no weights needed"
            else:
                have = [s for s in spec.scales if avail(s)]
                weights = f"weights: x{',x'.join(map(str, have))}" if have else "no bundled weights"
            extra = " [upper bound]" if getattr(spec, "uses_ground_truth", False) else ""
            click.echo(f"  {name:<16} x{',x'.join(map(str, spec.scales)):<9} {weights:<20} "
                       f"{spec.summary}{extra}")
            if spec.paper and spec.paper != "-":
                click.echo(f"  {'':<16} paper: {spec.paper}; licence: {spec.license}")
            for opt in spec.options:
                click.echo(f"  {'':<16} -O {opt.name}={opt.default!r}: {opt.help}")


@main.command()
@handle_errors
def plugins() -> None:
    """List loaded plugins (name, distribution, version, what they provide)."""
    registry = _registry()
    for p in registry.plugins:
        status = f"FAILED: {p.error}" if p.error else ", ".join(p.provides) or "-"
        click.echo(f"{p.name:<10} {p.distribution} {p.version}: {status}")


@main.group()
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

    registry = _registry()
    if protocol not in registry.protocols:
        raise UnknownNameError("protocol", protocol, registry.protocols)
    registry.get("degradation", downsampler)
    hr_name, images = load_hr_set(hr)
    settings = DatasetSettings(protocol, scale, downsampler, hr_name, hr_set_digest(images),
                               registry.protocols[protocol].kernel_size, noise, seed)
    out = out or default_cache_dir() / settings.cache_name()
    with Progress(len(images), f"build {protocol}") as bar:
        path = build_dataset(registry, settings, images, out, progress=bar.update)
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


@main.group(cls=_TrainGroup)
def train() -> None:
    """Train a method's networks (commands come from plugins: ikc, srmd...)."""


def _register_commands() -> None:
    from bsrbench import cli_plugins, cli_report

    cli_report.register(main)
    cli_plugins.register(main)


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
