"""What every plugin's training stage shares: the schedule, the device and :class:`StageBase`."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bsrbench.errors import InputError

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from bsrbench.training.data import PairSampler
    from bsrbench.training.settings import TrainDevice, TrainSettings


log = logging.getLogger("bsrbench.training")  # one logger for the whole package


# --------------------------------------------------------------------------- schedules


def lr_lambda(
    scheme: str,
    *,
    period: int = 0,
    eta_min_ratio: float = 0.0,
    milestones: Sequence[int] = (),
    gamma: float = 0.5,
) -> Callable[[int], float]:
    """The learning-rate factor as a function of the step, for ``LambdaLR``.

    ``constant``; ``cosine-restart`` (BasicSR's ``CosineAnnealingLR_Restart`` with equal
    periods of ``period`` steps, restart weights 1, floor ``eta_min``); ``multistep``
    (multiply by ``gamma`` at each milestone, KAIR's ``MultiStepLR``).
    """
    if scheme == "constant":
        return _Constant()
    if scheme == "cosine-restart":
        if period < 1:
            raise InputError(f"--lr-period must be >= 1, got {period}")
        return _CosineRestart(period, eta_min_ratio)
    if scheme == "multistep":
        return _MultiStep(tuple(sorted(int(m) for m in milestones)), gamma)
    raise InputError(
        f"unknown learning-rate scheme {scheme!r}: use constant, cosine-restart or multistep"
    )


class _Constant:
    def __call__(self, step: int) -> float:
        return 1.0


@dataclass(frozen=True)
class _CosineRestart:
    period: int
    floor: float

    def __call__(self, step: int) -> float:
        t = step % self.period
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * t / self.period))


@dataclass(frozen=True)
class _Warmup:
    """``inner`` scaled by a linear ramp ``(step + 1) / (steps + 1)`` over the first steps."""

    inner: Callable[[int], float]
    steps: int

    def __call__(self, step: int) -> float:
        return self.inner(step) * min(1.0, (step + 1) / (self.steps + 1))


@dataclass(frozen=True)
class _MultiStep:
    milestones: tuple[int, ...]
    gamma: float

    def __call__(self, step: int) -> float:
        return self.gamma ** sum(step >= m for m in self.milestones)


# --------------------------------------------------------------------------- device


def setup_device(settings: TrainSettings) -> TrainDevice:
    """Pick the settings' device and resolve their speed flags (None = on for CUDA only).

    Turns on ``cudnn.benchmark`` for CUDA: training shapes never change.
    """
    import torch

    from bsrbench.device import pick_device
    from bsrbench.training.settings import TrainDevice

    device = pick_device(settings.device)
    cuda = device.startswith("cuda")
    if cuda:
        torch.backends.cudnn.benchmark = True
    amp = cuda if settings.amp is None else settings.amp
    channels_last = cuda if settings.channels_last is None else settings.channels_last
    if amp and not cuda:
        log.warning(
            "--amp (bf16 autocast) on %s is tested loosely; on a CPU it pays only with bf16 "
            "instructions (SFTMD training forward, 16x48², 2.1x faster on this project's CI "
            "machine; inference there is slower in bf16)",
            device,
        )
    return TrainDevice(name=device, amp=amp, channels_last=channels_last)


def autocast(device: str, enabled: bool) -> Any:
    """bf16 autocast on ``device`` when ``enabled`` (a no-op context otherwise)."""
    import torch

    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=enabled)


class StageBase:
    """A network with its Adam optimizer, ``LambdaLR`` schedule, loss and pair sampler.

    Implements the bookkeeping half of :class:`TrainTask` (state, learning rate, the
    optimiser update, autocast and memory format); a plugin's stage adds ``train_step``,
    ``validate`` and ``export``. The optimiser (``lr``, ``beta1``/``beta2``, ``warmup``)
    and the loss (``l1`` or ``l2``) come from the settings every train command shares;
    the schedule is the plugin's.
    """

    val_columns: tuple[str, ...] = ()

    def __init__(
        self,
        net: torch.nn.Module,
        *,
        settings: TrainSettings,
        device: TrainDevice,
        sampler: PairSampler,
        schedule: Callable[[int], float],
    ) -> None:
        import torch

        self.device, self.use_amp = device.name, device.amp
        self.memory = torch.channels_last if device.channels_last else torch.contiguous_format
        self.net = net.to(self.device, memory_format=self.memory).train()
        self.sampler = sampler
        self.opt = torch.optim.Adam(
            self.net.parameters(), lr=settings.lr, betas=(settings.beta1, settings.beta2)
        )
        if settings.warmup:
            schedule = _Warmup(schedule, settings.warmup)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, schedule)
        self.crit = torch.nn.L1Loss() if settings.loss == "l1" else torch.nn.MSELoss()

    def frozen(self, net: torch.nn.Module) -> torch.nn.Module:
        """Move a helper network to the device, in eval mode with gradients off."""
        return net.to(self.device, memory_format=self.memory).eval().requires_grad_(False)

    def cl(self, x: Tensor) -> Tensor:
        """``x`` in the stage's memory format (channels_last when enabled)."""
        return x.contiguous(memory_format=self.memory)

    def amp(self) -> Any:
        """The stage's autocast context."""
        return autocast(self.device, self.use_amp)

    def update(self, loss: Tensor) -> None:
        """One optimiser step on ``loss`` (gradients reset with ``set_to_none``)."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def current_lr(self) -> float:
        return float(self.opt.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        sched = self.sched.state_dict()
        # LambdaLR saves a callable object's __dict__; a _Warmup's holds the inner schedule
        # object, which weights_only=True cannot load. The schedule is rebuilt from the
        # options on resume, so its step count (last_epoch) is all a checkpoint needs.
        sched["lr_lambdas"] = [None] * len(sched.get("lr_lambdas", [None]))
        return {
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "sched": sched,
            "sampler": self.sampler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.sampler.load_state_dict(state["sampler"])
