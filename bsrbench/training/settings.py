"""Typed, frozen settings of a ``bsrbench train`` command, built once from its options.

A train command's click options become one frozen :class:`TrainSettings` (a plugin
subclass adds its own fields) through :meth:`TrainSettings.from_options`: defaults that
depend on other options (a stage's step count, a scale's kernel widths) are filled in and
the options are checked there, once, with one-line :class:`~bsrbench.errors.InputError`\\ s.
After that nothing is mutated: values derived from the settings are properties, and
objects resolved at run time (the device, a PCA) are passed beside the settings, never
stored in them. That keeps a run's inputs in one typed place, so the resume identity and
the metadata are read from the same values the training used.

This module imports neither torch nor click: building settings is plain Python.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Self

from bsrbench.errors import InputError


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """What every ``bsrbench train`` command is given: data, optimiser, kernels, loop, device.

    Field names are the click options' parameter names, so :meth:`from_options` maps one
    to the other and a resumed run's identity keeps the keys older checkpoints recorded.
    A subclass names its command and its kernel widths in the two class variables.
    """

    command: ClassVar[Callable[[], Any]]  # builds the click command the options come from
    sigma_ranges: ClassVar[Mapping[int, tuple[float, float]]]  # default widths per scale

    hr: Path  # folder of HR training images (--hr)
    out: Path  # run folder: checkpoint, log, weights, summary (--out)
    scale: int  # SR factor
    steps: int  # total optimisation steps; a resumed run continues up to this
    max_minutes: float | None  # wall-clock cap of this invocation; None: no cap
    batch_size: int  # pairs per optimisation step
    lr: float  # Adam learning rate
    beta1: float  # Adam beta1
    beta2: float  # Adam beta2
    warmup: int  # steps of linear learning-rate warm-up; 0: none
    loss: str  # "l1" or "l2"
    kernel_size: int  # side of the random blur kernels
    sigma_min: float  # smallest kernel width (the scale's default filled in)
    sigma_max: float  # largest kernel width (likewise)
    rate_iso: float  # share of isotropic kernels; the rest are anisotropic
    downsampler: str  # how the blurred HR becomes LR ("matlab-bicubic", ...)
    augment: bool  # random flips and transposes of the crops
    val_dir: Path | None  # validation HR images; None: hold out the last val_count of hr
    val_count: int  # fixed validation pairs
    log_every: int  # steps per log line and CSV row
    val_every: int  # steps per validation
    save_every: int  # steps per checkpoint
    seed: int  # seeds the sampler and the network initialisation
    device: str  # as asked: "auto", "cpu", "cuda", "cuda:N" or "mps"
    amp: bool | None  # bf16 autocast; None: on for CUDA only (resolved by setup_device)
    channels_last: bool | None  # channels_last memory format; None: as amp

    # ------------------------------------------------------------------ building

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Self:
        """Build the settings from a train command's click options (``ctx.params``).

        Raises:
            InputError: The options contradict each other (see :meth:`check`).
            TypeError: The options and the fields disagree (a programming error).
        """
        values = cls.resolve_options(dict(options))
        names = {f.name for f in fields(cls)}
        unknown, missing = sorted(set(values) - names), sorted(names - set(values))
        if unknown or missing:
            raise TypeError(
                f"{cls.__name__}: options without a field {unknown}, fields without an "
                f"option {missing}"
            )
        settings = cls(**values)
        settings.check()
        return settings

    @classmethod
    def resolve_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Return the options with the defaults that depend on other options filled in.

        Here: an unset ``sigma_min``/``sigma_max`` takes :meth:`default_sigma_range` of the
        scale. Subclasses add theirs and call this.
        """
        lo, hi = cls.default_sigma_range(options["scale"])
        return {
            **options,
            "sigma_min": lo if options["sigma_min"] is None else options["sigma_min"],
            "sigma_max": hi if options["sigma_max"] is None else options["sigma_max"],
        }

    def check(self) -> None:
        """Refuse settings that contradict each other (one line saying what to change).

        Raises:
            InputError: The kernel widths are not ``0 < --sigma-min <= --sigma-max``.
        """
        if not 0 < self.sigma_min <= self.sigma_max:
            raise InputError(
                f"kernel widths need 0 < --sigma-min <= --sigma-max, got {self.sigma_min} "
                f"and {self.sigma_max}"
            )

    # ------------------------------------------------------------------ per command

    @classmethod
    def default_sigma_range(cls, scale: int) -> tuple[float, float]:
        """The kernel widths trained on at ``scale`` when the options do not say."""
        return cls.sigma_ranges[scale]

    @classmethod
    def option_defaults(cls) -> Mapping[str, Any]:
        """The command's option defaults, which :meth:`changed` compares against."""
        return _option_defaults(cls.command)

    # ------------------------------------------------------------------ derived

    @property
    def sigma_range(self) -> tuple[float, float]:
        """``(sigma_min, sigma_max)``."""
        return (self.sigma_min, self.sigma_max)

    def values(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The settings ``names``, in that order (for a resume identity)."""
        return {name: getattr(self, name) for name in names}

    def changed(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The settings among ``names`` whose value differs from the command's default.

        For a run's resume identity: settings recorded only where changed let checkpoints
        made before they were recorded still resume, while a change either way is still
        refused.
        """
        defaults = self.option_defaults()
        return {
            name: value
            for name in names
            if (value := getattr(self, name)) != defaults.get(name)
        }

    def sigma_identity(self) -> dict[str, list[float]]:
        """``{"sigma_range": [lo, hi]}`` when the widths are not the scale's default, else ``{}``
        (so checkpoints made before the range was recorded still resume)."""
        if self.sigma_range == tuple(self.default_sigma_range(self.scale)):
            return {}
        return {"sigma_range": [self.sigma_min, self.sigma_max]}


@functools.cache
def _option_defaults(command: Callable[[], Any]) -> Mapping[str, Any]:
    """A click command's option defaults by parameter name (built once per command)."""
    return MappingProxyType({p.name: p.default for p in command().params})


@dataclass(frozen=True)
class TrainDevice:
    """The device a run trains on, with the speed flags the settings left to it resolved."""

    name: str  # a torch device: "cpu", "cuda", "cuda:1", "mps"
    amp: bool  # bf16 autocast
    channels_last: bool  # channels_last memory format


@dataclass(frozen=True)
class Invocation:
    """How a train command was started: recorded with the run, not part of its settings."""

    command: str  # the command line, for the metadata and the summary
    started: float  # time.monotonic() at the start: --max-minutes counts from here
