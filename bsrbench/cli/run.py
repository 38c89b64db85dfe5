"""``bsrbench run`` (test sets, scored) and ``bsrbench sr`` (real photos, no ground truth)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click

from bsrbench.cli.common import (
    PATH,
    SEED,
    Command,
    handle_errors,
    parse_options,
    registry,
    setup_logging,
)


@click.command(cls=Command)
@click.option("--method", "-m", default=None,
              help="Method or non-blind model name; a comma list sweeps several.")
@click.option("--kernel", "-k", default=None,
              help="Kernel estimator(s) for non-blind models (oracle, ikc.predictor, ikc...).")
@click.option("--dataset", "-d", default=None,
              help="Protocol name(s) (gaussian8, bicubic) or FILE.h5; comma list to sweep.")
@click.option("--hr", default=None,
              help="Folder(s) of HR images, comma-separated (default: the embedded set).")
@click.option("--scale", "-s", default=None, help="SR factor(s), e.g. 4 or 2,3,4 (default 4).")
@click.option("--config", "config", type=PATH, default=None,
              help="TOML file naming methods, kernels, datasets, hr, scales and options.")
@click.option("--downsampler", default=None,
              help="matlab-bicubic (default), pil-bicubic (official IKC) or direct.")
@click.option("--noise", type=float, default=None,
              help="Additive Gaussian noise std (0..255) when building the test set.")
@click.option("--seed", type=SEED, default=None, help="Noise seed, 0..2**32-1 (default 0).")
@click.option("--jpeg", type=click.IntRange(1, 100), default=None, metavar="Q",
              help="JPEG-compress the LR images at quality Q (recorded per LR image).")
@click.option("--draws", type=PATH, default=None, metavar="FILE.json",
              help="Rebuild a generator protocol (div2krk, aniso, ...) from recorded draws.")
@click.option("--device", default=None, help="auto (default), cpu, cuda or mps.")
@click.option("--out", "-o", "out", type=PATH, default=None,
              help="Run directory (default results/<time>-<method>-<dataset>); reuse to resume.")
@click.option("--weights", type=PATH, default=None,
              help="Weights file or folder of the method or model (default: the plugin's "
                   "bundled weights).")
@click.option("--kernel-weights", type=PATH, default=None,
              help="Weights file or folder of the --kernel estimator (default: bundled).")
@click.option("--iterations", type=int, default=None,
              help="Sets the option 'iterations' of the parts that declare it (zero-shot "
                   "estimators; same as -O iterations=N). IKC counts SR steps: -O steps=N.")
@click.option("--option", "-O", "options", multiple=True, metavar="NAME=VALUE",
              help="Method-specific option (see `bsrbench methods`).")
@click.option("--convention", default=None,
              help="Metric convention: matlab-y (default), basicsr-y or rgb.")
@click.option("--batch-size", default=None, metavar="N|auto",
              help="LR images per forward pass: auto (default: grows while the time per "
                   "image falls, per device and LR size) or N (bit-reproducible rows); "
                   "part of the resume check.")
@click.option("--cache-dir", type=PATH, default=None,
              help="Where generated test sets are cached (default ./datasets).")
@click.option("--save-images", is_flag=True, default=None,
              help="Store HR, LR, every step's SR and kernels under OUT/images (for reports).")
@click.option("--metrics", default=None,
              help="Metrics to score, comma-separated (default: every default metric, "
                   "psnr,ssim built in; plugins add more: bsrbench plugins).")
@click.option("--tile", type=click.IntRange(min=8), default=None, metavar="SIZE",
              help="Run networks that declare a receptive field on LR tiles of SIZE pixels "
                   "(exact with the default overlap; bounds memory on large images).")
@click.option("--tile-overlap", type=click.IntRange(min=0), default=None, metavar="PIXELS",
              help="LR context around each tile (default: each network's receptive field).")
@click.option("--max-memory-mb", type=click.FloatRange(min=0, min_open=True),
              default=None, metavar="MB",
              help="Memory cap: a batch estimated above it is retried smaller, then tiled.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default=None,
              help="Where the runs execute: local (default, this process) or ray (tasks "
                   "over a Ray cluster; pip install bsrbench[ray]; docs/cluster.md).")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="Ray cluster to use with --executor ray (auto, HOST:6379); default: "
                   "start a local Ray instance.")
@click.option("--ray-shard", type=int, default=None, metavar="N",
              help="With --executor ray: at most N HR images of a test set per Ray task "
                   "(default: about two tasks per worker slot).")
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
    result = run_sweep(sweep, registry(), quiet=quiet)
    click.echo(result.summary)
    click.echo(f"results: {result.results}")
    if result.report is not None:
        click.echo(f"report: {result.report}")
    if result.failed:
        click.echo(f"error: {result.failed} LR images failed (see the error column)", err=True)
        sys.exit(1)


@click.command(cls=Command)
@click.option("--method", "-m", required=True, help="Blind method, or model with --kernel.")
@click.option("--kernel", "-k", default=None, help="Blind kernel estimator for a model.")
@click.option("--input", "-i", "inputs", required=True, multiple=True,
              type=PATH, help="LR image file or folder (repeatable).")
@click.option("--scale", "-s", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--out", "-o", "out", required=True, type=PATH)
@click.option("--save-steps", is_flag=True, help="Also write every step's SR and kernel.")
@click.option("--device", default="auto", show_default=True)
@click.option("--weights", type=PATH, default=None,
              help="Weights of the method or model (default: bundled).")
@click.option("--kernel-weights", type=PATH, default=None,
              help="Weights of the --kernel estimator (default: bundled).")
@click.option("--iterations", type=int, default=None,
              help="Same as -O iterations=N (zero-shot estimators); IKC: -O steps=N.")
@click.option("--option", "-O", "options", multiple=True, metavar="NAME=VALUE")
@click.option("--tile", type=click.IntRange(min=8), default=None, metavar="SIZE",
              help="Run networks that declare a receptive field on LR tiles of SIZE pixels "
                   "(exact with the default overlap; bounds memory on large images).")
@click.option("--tile-overlap", type=click.IntRange(min=0), default=None, metavar="PIXELS",
              help="LR context around each tile (default: each network's receptive field).")
@click.option("--quiet", "-q", is_flag=True)
@handle_errors
def sr(method: str, kernel: str | None, inputs: tuple[Path, ...], scale: int, out: Path,
       save_steps: bool, device: str, weights: Path | None, kernel_weights: Path | None,
       iterations: int | None, options: tuple[str, ...], quiet: bool, tile: int | None,
       tile_overlap: int | None) -> None:
    """Restore real LR images (no ground truth) and write the SR PNGs into OUT."""
    setup_logging(quiet, False)
    from bsrbench.apply import apply_method, collect_inputs
    from bsrbench.compose import plan_method
    from bsrbench.device import pick_device

    opts: dict[str, Any] = parse_options(options)
    if iterations is not None:
        opts["iterations"] = iterations
    plan = plan_method(registry(), method, kernel, opts, scale)
    files = collect_inputs(inputs)
    written = apply_method(plan, files, scale=scale, device=pick_device(device), out=out,
                           weights=weights, kernel_weights=kernel_weights,
                           save_steps=save_steps, quiet=quiet, tile=tile,
                           tile_overlap=tile_overlap)
    click.echo(f"wrote {len(written)} SR images to {out}")


def register(group: click.Group) -> None:
    group.add_command(run)
    group.add_command(sr)
