"""The settings of ``bsrbench train srmd``: its options, typed and frozen, checked once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bsrbench.errors import InputError
from bsrbench.training.settings import TrainSettings
from bsrbench_srmd.train import MILESTONES, SIGMA_RANGE, srmd_command

__all__ = ["SRMDTrainSettings"]

# Always part of a run's resume identity, in the order checkpoints record them.
_IDENTITY = (
    "variant",
    "scale",
    "nc",
    "nb",
    "hr_size",
    "batch_size",
    "kernel_size",
    "loss",
    "downsampler",
    "seed",
    "init",
)
# Part of it only where changed from the option's default (see TrainSettings.changed).
_IDENTITY_IF_CHANGED = (
    "lr",
    "beta1",
    "beta2",
    "gamma",
    "rate_iso",
    "augment",
    "warmup",
    "noise_min",
    "noise_max",
    "noise_free_rate",
    "init_gain",
)


def _milestones(text: str) -> tuple[int, ...]:
    """``--milestones`` as step numbers (commas; blanks ignored)."""
    try:
        return tuple(int(m) for m in text.split(",") if m.strip())
    except ValueError:
        raise InputError(
            f"--milestones takes step numbers separated by commas (e.g. 200000,400000), "
            f"got {text!r}"
        ) from None


@dataclass(frozen=True, kw_only=True)
class SRMDTrainSettings(TrainSettings):
    """``bsrbench train srmd``: the shared settings plus SRMD's noise, schedule and network.

    ``--noise-max 0`` trains the noise-free ``srmdnf``, above 0 the noise-aware ``srmd``
    (:attr:`variant`).
    """

    command = staticmethod(srmd_command)
    sigma_ranges = SIGMA_RANGE  # SRMD / IKC paper Sec. 4.1

    noise_max: float  # highest training noise level (0..255); 0: the noise-free srmdnf
    noise_min: float  # lowest training noise level
    noise_free_rate: float  # share of noise-free items in noise-aware training
    hr_size: int  # HR patch side; the LR patch is hr_size / scale
    milestones: tuple[int, ...]  # steps where the learning rate is multiplied by gamma
    gamma: float  # the MultiStepLR factor
    init: str  # "orthogonal" (KAIR) or "default" (PyTorch's)
    init_gain: float  # gain of the orthogonal initialisation
    from_weights: Path | None  # weights to fine-tune from instead of init
    nc: int  # feature channels
    nb: int  # convolutions in total

    @classmethod
    def resolve_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Parse ``--milestones`` and fill the scale's kernel widths.

        Raises:
            InputError: ``--milestones`` is not a list of step numbers.
        """
        return super().resolve_options(
            {**options, "milestones": _milestones(options["milestones"])}
        )

    def check(self) -> None:
        """Refuse patch sizes, kernels and noise ranges SRMD cannot train on.

        Raises:
            InputError: What is wrong, and what to pass instead.
        """
        if self.hr_size % self.scale:
            raise InputError(f"--hr-size {self.hr_size} is not a multiple of --scale {self.scale}")
        if self.kernel_size < 15:
            raise InputError(
                "--kernel-size must be at least 15 (SRMD's PCA is for 15x15 "
                f"kernels), got {self.kernel_size}"
            )
        if self.noise_max < self.noise_min:
            raise InputError(f"--noise-max {self.noise_max} is below --noise-min {self.noise_min}")
        super().check()

    # ------------------------------------------------------------------ derived

    @property
    def variant(self) -> str:
        """``srmd`` (noise-aware) when ``noise_max > 0``, else ``srmdnf``."""
        return "srmd" if self.noise_max > 0 else "srmdnf"

    @property
    def noise_aware(self) -> bool:
        """The network gets a noise-level plane (19 inputs instead of 18)."""
        return self.variant == "srmd"

    @property
    def in_nc(self) -> int:
        """Input channels: 3 LR + 15 kernel code (+ 1 noise level)."""
        return 19 if self.noise_aware else 18

    @property
    def lr_size(self) -> int:
        """LR patch side."""
        return self.hr_size // self.scale

    @property
    def noise_range(self) -> tuple[float, float] | None:
        """Training noise levels; None for ``srmdnf``."""
        return (self.noise_min, self.noise_max) if self.noise_aware else None

    @property
    def val_noise(self) -> float | None:
        """The validation pairs' noise level: the middle of the range (None for ``srmdnf``)."""
        return None if self.noise_range is None else sum(self.noise_range) / 2

    def identity(self) -> dict[str, Any]:
        """The settings a resumed run must share, as checkpoints have always recorded them."""
        identity = self.values(_IDENTITY)
        identity["from_weights"] = str(self.from_weights or "")
        identity.update(self.changed(_IDENTITY_IF_CHANGED))
        if self.milestones != MILESTONES:
            identity["milestones"] = list(self.milestones)
        identity.update(self.sigma_identity())
        return identity

    def metadata(self) -> dict[str, str]:
        """What the exported weights record about the run besides the loop's fields."""
        noise = self.noise_range
        return {
            "method": self.variant,
            "scale": str(self.scale),
            "downsampler": self.downsampler,
            "sigma_range": f"{self.sigma_min},{self.sigma_max}",
            "noise_range": "" if noise is None else f"{noise[0]},{noise[1]}",
            "kernel_map": "center-crop 15x15 of the blur kernel, KAIR srmd_pca_matlab.mat",
        }
