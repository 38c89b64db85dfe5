"""The training loop: resume, time cap, CSV log, validation, progress and the final export.

The loop asks the host for numbers (``.item()``) only every ``log_every`` steps, so the
device runs ahead of Python between log lines.
"""

from __future__ import annotations

import csv
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bsrbench.errors import InputError
from bsrbench.training.checkpoint import load_checkpoint, save_checkpoint

if TYPE_CHECKING:
    from torch import Tensor


log = logging.getLogger("bsrbench.training")  # one logger for the whole package

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train_log.csv"
SUMMARY_NAME = "train_summary.json"


def _rng_state() -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- the loop


class TrainTask(Protocol):
    """What a plugin's training stage provides to :func:`run_training`."""

    val_columns: tuple[str, ...]  # keys of validate()'s result, CSV columns after val_psnr

    def train_step(self) -> Tensor:
        """Draw a batch, take one optimisation step, return the loss (0-dim, on device)."""
        ...

    def current_lr(self) -> float: ...

    def validate(self) -> dict[str, float]:
        """Return ``{"val_psnr": ..., **extra}`` on the fixed validation pairs."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Model, optimizer, scheduler and sampler states (tensors and plain containers)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def export(self, out: Path, metadata: dict[str, str]) -> list[Path]:
        """Write the weights in bsrbench's layout into ``out``; return the files written."""
        ...


@dataclass(frozen=True)
class LoopConfig:
    """How :func:`run_training` runs; every field comes from the command's settings
    (:func:`~bsrbench.training.command.train_stage` builds it)."""

    out: Path  # folder for checkpoint.pt, train_log.csv, weights and train_summary.json
    steps: int  # total optimisation steps (a resumed run continues up to this)
    identity: dict[str, Any]  # settings a resumed run must share (stage, scale, sizes...)
    command: str  # the command line, recorded in metadata and the summary
    data: str  # the HR folder, recorded likewise
    seed: int
    device: str
    max_minutes: float | None = None  # wall-clock cap of this invocation; None = no cap
    started: float | None = None  # time.monotonic() the cap counts from; None = loop start
    log_every: int = 100
    val_every: int = 5000
    save_every: int = 5000
    progress: bool | None = None  # tqdm bar; None = only when stderr is a terminal
    extra_metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoopResult:
    """What happened: where it stopped and why, and the files it exported."""

    step: int
    seconds: float  # training seconds over all invocations
    stopped: str  # "done", "time-cap" or "interrupted"
    val: dict[str, float]
    files: list[Path]


@contextmanager
def _sigint_flag() -> Iterator[threading.Event]:
    """Turn the first Ctrl-C into a flag checked between steps; a second one aborts."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: object) -> None:
        flag.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log.warning("Ctrl-C: stopping after this step (press again to abort without a checkpoint)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _trim_log(path: Path, step: int) -> None:
    """Drop log rows after ``step`` (written after the checkpoint a resume restarts from)."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= step]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(kept)


def _fmt_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def run_training(task: TrainTask, cfg: LoopConfig) -> LoopResult:
    """Train ``task`` for ``cfg.steps`` steps, resuming from ``cfg.out/checkpoint.pt``.

    A checkpoint holds the task's state (model, optimizer, scheduler, sampler RNG), the
    global torch RNG, the step and the training seconds so far. It is written every
    ``save_every`` steps, at the end, on the time cap and on Ctrl-C; rerunning the same
    command resumes from it. The weights are exported (``task.export``) whenever the loop
    stops, with the command, steps, seconds, data folder and seed in their metadata.

    Raises:
        InputError: The checkpoint in ``cfg.out`` belongs to a different configuration.
    """
    import torch

    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out / CHECKPOINT_NAME, out / LOG_NAME
    step, seconds_before = 0, 0.0
    val: dict[str, float] = {}
    if ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        saved = ckpt.get("identity", {})
        diff = sorted(
            k for k in set(saved) | set(cfg.identity) if saved.get(k) != cfg.identity.get(k)
        )
        if diff:
            k = diff[0]
            raise InputError(
                f"{ckpt_path} was made with {k}={saved.get(k)!r}, this run "
                f"has {k}={cfg.identity.get(k)!r}: "
                "rerun with the same settings to resume, or use another --out"
            )
        task.load_state_dict(ckpt["task"])
        _set_rng_state(ckpt["rng"])
        step, seconds_before = int(ckpt["step"]), float(ckpt["seconds"])
        val = dict(ckpt.get("val", {}))
        _trim_log(log_path, step)
        log.info("resuming from %s at step %d (%.0f s trained)", ckpt_path, step, seconds_before)

    columns = ["step", "loss", "lr", "seconds", "val_psnr", *task.val_columns]
    new_log = not log_path.exists()
    log_file = open(log_path, "a", newline="")  # noqa: SIM115 - closed in finally
    writer = csv.DictWriter(log_file, fieldnames=columns, restval="")
    if new_log:
        writer.writeheader()

    def checkpoint() -> None:
        state = {
            "identity": cfg.identity,
            "task": task.state_dict(),
            "rng": _rng_state(),
            "step": step,
            "seconds": seconds_before + (time.monotonic() - start),
            "val": val,
        }
        save_checkpoint(ckpt_path, state)

    show_bar = sys.stderr.isatty() if cfg.progress is None else cfg.progress
    bar = None
    if show_bar:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, unit="step", dynamic_ncols=True, smoothing=0.05)

    start = time.monotonic()
    cap = None if cfg.max_minutes is None else cfg.max_minutes * 60.0
    cap_start = start if cfg.started is None else cfg.started
    start_step = step
    loss_sum = torch.zeros((), device=cfg.device)
    window = 0
    stopped = "done"
    try:
        with _sigint_flag() as interrupted:
            while step < cfg.steps:
                if interrupted.is_set():
                    stopped = "interrupted"
                    break
                if cap is not None and time.monotonic() - cap_start >= cap:
                    stopped = "time-cap"
                    break
                loss = task.train_step()
                step += 1
                loss_sum += loss.detach().float()
                window += 1
                row: dict[str, Any] = {}
                if step % cfg.log_every == 0 or step == cfg.steps:
                    elapsed = time.monotonic() - start
                    mean = loss_sum.item() / window
                    loss_sum.zero_()
                    window = 0
                    row = {
                        "step": step,
                        "loss": f"{mean:.6g}",
                        "lr": f"{task.current_lr():.6g}",
                        "seconds": f"{seconds_before + elapsed:.1f}",
                    }
                    rate = (step - start_step) / max(elapsed, 1e-9)
                    if bar is not None:
                        bar.set_postfix(loss=f"{mean:.4g}", lr=f"{task.current_lr():.2e}")
                    else:
                        log.info(
                            "step %d/%d loss %.5g lr %.3g %.2f step/s ETA %s",
                            step,
                            cfg.steps,
                            mean,
                            task.current_lr(),
                            rate,
                            _fmt_eta((cfg.steps - step) / max(rate, 1e-9)),
                        )
                if step % cfg.val_every == 0 or step == cfg.steps:
                    val = task.validate()
                    row = row or {
                        "step": step,
                        "lr": f"{task.current_lr():.6g}",
                        "seconds": f"{seconds_before + time.monotonic() - start:.1f}",
                    }
                    row.update({k: f"{v:.6g}" for k, v in val.items()})
                    log.info(
                        "step %d validation: %s",
                        step,
                        ", ".join(f"{k} {v:.4f}" for k, v in val.items()),
                    )
                if row:
                    writer.writerow(row)
                    log_file.flush()
                if bar is not None:
                    bar.update(1)
                if step % cfg.save_every == 0 and step < cfg.steps:
                    checkpoint()
            if stopped != "done" and (window or step % cfg.val_every):
                row = {
                    "step": step,
                    "lr": f"{task.current_lr():.6g}",
                    "seconds": f"{seconds_before + time.monotonic() - start:.1f}",
                }
                if window:  # losses since the last log line
                    row["loss"] = f"{loss_sum.item() / window:.6g}"
                if step > start_step and step % cfg.val_every:
                    val = task.validate()
                    row.update({k: f"{v:.6g}" for k, v in val.items()})
                if step > start_step:
                    writer.writerow(row)
            checkpoint()
            log_file.close()
            seconds = seconds_before + (time.monotonic() - start)
            files = _finish(task, cfg, step, seconds, stopped, val)
    finally:
        log_file.close()
        if bar is not None:
            bar.close()
    return LoopResult(step=step, seconds=seconds, stopped=stopped, val=val, files=files)


def _finish(
    task: TrainTask,
    cfg: LoopConfig,
    step: int,
    seconds: float,
    stopped: str,
    val: dict[str, float],
) -> list[Path]:
    """Export the weights and write ``train_summary.json``; return the exported files."""
    if stopped == "time-cap":
        log.info(
            "time cap of %s min reached at step %d: checkpoint written, exporting weights",
            cfg.max_minutes,
            step,
        )
    metadata = {
        "command": cfg.command,
        "steps": str(step),
        "seconds": f"{seconds:.1f}",
        "data": cfg.data,
        "seed": str(cfg.seed),
        **cfg.extra_metadata,
    }
    files = task.export(cfg.out, metadata)
    summary = {
        "steps": step,
        "target_steps": cfg.steps,
        "stopped": stopped,
        "wall_seconds": round(seconds, 1),
        "final_val": val,
        "final_val_psnr": val.get("val_psnr"),
        "device": cfg.device,
        "command": cfg.command,
        "data": cfg.data,
        "seed": cfg.seed,
        "files": [p.name for p in files],
        **cfg.identity,
    }
    (cfg.out / SUMMARY_NAME).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return files
