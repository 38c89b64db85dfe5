"""Running a plugin's ``bsrbench train`` command: its shared options, its settings, the
data and loop every stage shares, and how it reports errors and its exit code.

A command's body is one line: :func:`run_command` builds its frozen settings from the
options and hands them, with the :class:`~bsrbench.training.settings.Invocation`, to the
plugin's ``train`` function, which resolves the device (and whatever else it needs),
makes its stage, and calls :func:`train_stage` with the data of :func:`training_pairs`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bsrbench.training.settings import Invocation, TrainSettings

if TYPE_CHECKING:
    from bsrbench.training.data import PairSampler
    from bsrbench.training.degradation import PairBatch
    from bsrbench.training.loop import LoopResult, TrainTask

S = TypeVar("S", bound=TrainSettings)


def command_line(ctx: Any) -> str:
    """The command as typed, or (when not run from the ``bsrbench`` script) rebuilt from ``ctx``."""
    import shlex

    script = Path(sys.argv[0])
    if "bsrbench" in (script.name, script.parent.name) and len(sys.argv) > 1:
        return shlex.join(["bsrbench", *sys.argv[1:]])
    params = [
        f"--{k.replace('_', '-')}={v}" for k, v in sorted(ctx.params.items()) if v is not None
    ]
    return shlex.join(["bsrbench", "train", str(ctx.info_name), *params])


def run_command(
    ctx: Any, settings_type: type[S], train: Callable[[S, Invocation], LoopResult]
) -> None:
    """Run a train command the way ``bsrbench``'s own commands run.

    The settings are built from ``ctx.params`` (:meth:`TrainSettings.from_options`) and
    passed to ``train`` with the command line and the start time. INFO logging goes to
    stderr unless logging is configured already; a :class:`~bsrbench.errors.BsrbenchError`
    (bad options included) becomes one ``error:`` line and its exit code; a Ctrl-C stop
    (after its checkpoint and export) exits 130.
    """
    import click

    from bsrbench.errors import BsrbenchError

    invocation = Invocation(command=command_line(ctx), started=time.monotonic())
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        result = train(settings_type.from_options(ctx.params), invocation)
    except BsrbenchError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
    if result.stopped == "interrupted":
        click.echo(
            "interrupted: checkpoint and weights written; rerun the same command to resume",
            err=True,
        )
        ctx.exit(130)


def common_option(flag: str, **attrs: Any) -> Callable[[Any], Any]:
    """A click option that the ``bsrbench train`` commands share: one declaration, type and
    (where they agree) default here, so the same flag means the same thing in every command.

    ``--hr``, ``--out``, ``--max-minutes``, ``--val-dir``, ``--val-count``, ``--device``,
    ``--amp``, ``--channels-last`` and ``--warmup`` come with their help; the others
    (``--scale``, ``--steps``, ``--batch-size``, ``--lr``, ``--beta1``, ``--beta2``,
    ``--loss``, ``--kernel-size``, ``--sigma-min``, ``--sigma-max``, ``--rate-iso``,
    ``--downsampler``, ``--augment``, ``--log-every``, ``--val-every``, ``--save-every``,
    ``--seed``) take theirs from the command, which names the recipe each value comes from.
    ``attrs`` override or add click attributes (the command's ``default``, ``help``, a
    stricter ``type``); a default other than None is shown in ``--help``.
    """
    import click

    def positive() -> click.IntRange:
        return click.IntRange(min=1)

    specs: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
        "--hr": (("--hr",), dict(
            type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
            help="Folder of HR training images (PNG/JPG); all are loaded to the device once.")),
        "--out": (("--out",), dict(
            type=click.Path(file_okay=False, path_type=Path), required=True,
            help="Run folder: checkpoint.pt, train_log.csv, weights, "
            "train_summary.json. Rerun to resume.")),
        "--max-minutes": (("--max-minutes",), dict(
            type=click.FloatRange(min=0), default=None,
            help="Wall-clock cap for this invocation: stop cleanly, checkpoint and export.")),
        "--val-dir": (("--val-dir",), dict(
            type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
            help="Validation HR images; default: hold out the last --val-count images of --hr.")),
        "--val-count": (("--val-count",), dict(
            type=positive(), default=8,
            help="Fixed validation pairs (centre crops, sigma evenly over the range).")),
        "--device": (("--device",), dict(default="auto", help="auto, cpu, cuda, cuda:N or mps.")),
        "--amp": (("--amp/--no-amp",), dict(
            default=None, help="bf16 autocast; default on for CUDA only.")),
        "--channels-last": (("--channels-last/--no-channels-last",), dict(
            default=None, help="channels_last memory format; default on for CUDA only.")),
        "--warmup": (("--warmup",), dict(
            type=click.IntRange(min=0), default=0,
            help="Linear learning-rate warm-up over the first N steps (0: none, as the "
            "official configs). Use a few hundred when fine-tuning from existing weights: "
            "a fresh Adam's first steps move every weight by about the full learning rate.")),
        # help (and some defaults) from the command
        "--scale": (("--scale",), dict(
            type=click.Choice(["2", "3", "4"]), default="4", callback=lambda c, p, v: int(v))),
        "--steps": (("--steps",), dict(type=positive(), default=None)),
        "--batch-size": (("--batch-size",), dict(type=positive(), default=None)),
        "--lr": (("--lr",), dict(type=click.FloatRange(min=0, min_open=True), default=1e-4)),
        "--beta1": (("--beta1",), dict(type=float, default=0.9)),
        "--beta2": (("--beta2",), dict(type=float, default=None)),
        "--loss": (("--loss",), dict(type=click.Choice(["l1", "l2"]), default=None)),
        "--kernel-size": (("--kernel-size",), dict(default=21)),
        "--sigma-min": (("--sigma-min",), dict(type=float, default=None)),
        "--sigma-max": (("--sigma-max",), dict(type=float, default=None)),
        "--rate-iso": (("--rate-iso",), dict(type=click.FloatRange(0, 1), default=1.0)),
        "--downsampler": (("--downsampler",), dict(
            type=click.Choice(["matlab-bicubic", "pil-bicubic", "direct"]),
            default="matlab-bicubic")),
        "--augment": (("--augment/--no-augment",), dict(default=True)),
        "--log-every": (("--log-every",), dict(type=positive(), default=None)),
        "--val-every": (("--val-every",), dict(type=positive(), default=None)),
        "--save-every": (("--save-every",), dict(type=positive(), default=None)),
        "--seed": (("--seed",), dict(type=int, default=0)),
    }
    decls, shared = specs[flag]
    merged = {**shared, **attrs}
    if merged.get("default") is not None:
        merged.setdefault("show_default", True)
    return click.option(*decls, **merged)


def common_options(*flags: str) -> Callable[[Any], Any]:
    """Several :func:`common_option` s with their shared attributes, in the order given
    (as the same decorators stacked one per line)."""

    def decorate(f: Any) -> Any:
        for flag in reversed(flags):
            f = common_option(flag)(f)
        return f

    return decorate


def training_pairs(
    settings: TrainSettings,
    device: str,
    *,
    lr_size: int,
    noise_range: tuple[float, float] | None = None,
    noise_free_rate: float = 0.0,
    val_noise: float | None = None,
) -> tuple[PairSampler, PairBatch]:
    """The HR images on ``device``, split into the training pair sampler and the fixed
    validation pairs, as every train command makes them from its settings.

    Args:
        settings: The command's settings (images, kernels, downsampler, batch, seed).
        device: The resolved training device.
        lr_size: LR patch side; the HR crops are ``lr_size * scale``.
        noise_range: Noise levels (0..255) drawn per training item; None: noise-free.
        noise_free_rate: Share of noise-free items when ``noise_range`` is set.
        val_noise: The validation pairs' noise level; None: none.
    """
    from bsrbench.training.data import (
        PairSampler,
        load_hr_images,
        split_validation,
        validation_pairs,
    )

    scale, hr_size = settings.scale, lr_size * settings.scale
    images = load_hr_images(settings.hr, device=device, min_size=hr_size)
    val_images = (
        load_hr_images(settings.val_dir, device=device, min_size=scale * 8)
        if settings.val_dir
        else None
    )
    train_images, val_images = split_validation(images, val_images, hold_out=settings.val_count)
    sampler = PairSampler(
        train_images,
        scale=scale,
        lr_size=lr_size,
        batch=settings.batch_size,
        downsampler=settings.downsampler,
        kernel_size=settings.kernel_size,
        sigma_range=settings.sigma_range,
        rate_iso=settings.rate_iso,
        noise_range=noise_range,
        noise_free_rate=noise_free_rate,
        augment=settings.augment,
        seed=settings.seed,
    )
    val = validation_pairs(
        val_images,
        count=settings.val_count,
        scale=scale,
        hr_size=hr_size,
        downsampler=settings.downsampler,
        kernel_size=settings.kernel_size,
        sigma_range=settings.sigma_range,
        noise=val_noise,
    )
    return sampler, val


def train_stage(
    task: TrainTask,
    settings: TrainSettings,
    invocation: Invocation,
    *,
    name: str,
    identity: Mapping[str, Any],
    device: str,
    extra_metadata: Mapping[str, str],
    logger: logging.Logger,
) -> LoopResult:
    """Run ``task`` with the loop settings every train command shares (``--out``,
    ``--steps``, ``--hr``, ``--seed``, ``--max-minutes``, ``--log-every``,
    ``--val-every``, ``--save-every``), then log one line saying how it stopped."""
    from bsrbench.training.loop import LoopConfig, run_training

    cfg = LoopConfig(
        out=Path(settings.out),
        steps=settings.steps,
        identity=dict(identity),
        command=invocation.command,
        data=str(settings.hr),
        seed=settings.seed,
        device=device,
        max_minutes=settings.max_minutes,
        log_every=settings.log_every,
        val_every=settings.val_every,
        started=invocation.started,
        save_every=settings.save_every,
        extra_metadata=dict(extra_metadata),
    )
    result = run_training(task, cfg)
    logger.info(
        "%s: stopped (%s) at step %d after %.0f s; wrote %s",
        name,
        result.stopped,
        result.step,
        result.seconds,
        ", ".join(p.name for p in result.files),
    )
    return result
