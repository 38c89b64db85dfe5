"""How a plugin's ``bsrbench train`` command reports its command line, errors and exit code."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bsrbench.training.loop import LoopResult


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


def run_command(ctx: Any, train: Callable[[], LoopResult]) -> None:
    """Run a train command the way ``bsrbench``'s own commands run.

    INFO logging goes to stderr unless logging is configured already; a
    :class:`~bsrbench.errors.BsrbenchError` becomes one ``error:`` line and its exit code;
    a Ctrl-C stop (after its checkpoint and export) exits 130.
    """
    import click

    from bsrbench.errors import BsrbenchError

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        result = train()
    except BsrbenchError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
    if result.stopped == "interrupted":
        click.echo(
            "interrupted: checkpoint and weights written; rerun the same command to resume",
            err=True,
        )
        ctx.exit(130)


def common_option(flag: str) -> Callable[[Any], Any]:
    """A click option that every ``bsrbench train`` command shares, with the same meaning,
    default and help: ``--hr``, ``--out``, ``--max-minutes``, ``--val-dir``,
    ``--val-count``, ``--device``, ``--amp``, ``--channels-last`` and ``--warmup``.
    """
    import click

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
            type=click.IntRange(min=1), default=8, show_default=True,
            help="Fixed validation pairs (centre crops, sigma evenly over the range).")),
        "--device": (("--device",), dict(
            default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")),
        "--amp": (("--amp/--no-amp",), dict(
            default=None, help="bf16 autocast; default on for CUDA only.")),
        "--channels-last": (("--channels-last/--no-channels-last",), dict(
            default=None, help="channels_last memory format; default on for CUDA only.")),
        "--warmup": (("--warmup",), dict(
            type=click.IntRange(min=0), default=0, show_default=True,
            help="Linear learning-rate warm-up over the first N steps (0: none, as the "
            "official configs). Use a few hundred when fine-tuning from existing weights: "
            "a fresh Adam's first steps move every weight by about the full learning rate.")),
    }
    decls, attrs = specs[flag]
    return click.option(*decls, **attrs)


def changed_settings(ctx: Any, o: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The options among ``keys`` whose value differs from the command's default.

    For a run's resume identity: settings recorded only where changed let checkpoints made
    before they were recorded still resume, while a change either way is still refused.
    """
    defaults = {p.name: p.default for p in ctx.command.params}
    return {k: o[k] for k in keys if o[k] != defaults.get(k)}


def train_from_options(
    task: Any,
    ctx: Any,
    o: dict[str, Any],
    *,
    name: str,
    identity: dict[str, Any],
    device: str,
    extra_metadata: dict[str, str],
    logger: logging.Logger,
) -> LoopResult:
    """Run ``task`` with the loop settings of the options every train command shares
    (``--out``, ``--steps``, ``--hr``, ``--seed``, ``--max-minutes``, ``--log-every``,
    ``--val-every``, ``--save-every``), then log one line saying how it stopped."""
    from bsrbench.training.loop import LoopConfig, run_training

    cfg = LoopConfig(
        out=Path(o["out"]),
        steps=o["steps"],
        identity=identity,
        command=command_line(ctx),
        data=str(o["hr"]),
        seed=o["seed"],
        device=device,
        max_minutes=o["max_minutes"],
        log_every=o["log_every"],
        val_every=o["val_every"],
        started=o["started"],
        save_every=o["save_every"],
        extra_metadata=extra_metadata,
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
