"""Spec objects that plugins return from their ``bsrbench_*`` hooks.

Each spec is a small frozen dataclass: metadata a user can list, plus a *factory* that
builds the heavy object (network, weights) only when a run needs it, so listing plugins
never imports torch. Every field carries a comment; the registry validates them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.errors import InputError, PluginError

if TYPE_CHECKING:
    from bsrbench.interfaces import KernelEstimator, Method, NonBlindModel

__all__ = [
    "BuildContext",
    "DegradationSpec",
    "EstimatorSpec",
    "KernelSetting",
    "MethodSpec",
    "MetricSpec",
    "ModelSpec",
    "OptionSpec",
    "ProtocolSpec",
    "check_metadata",
    "check_name",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


def check_name(name: str, what: str) -> str:
    """Return ``name`` if it is a valid registry name, else raise :class:`PluginError`."""
    if not _NAME.match(name):
        raise PluginError(f"{what} name {name!r} is invalid: use lowercase [a-z0-9_.-]")
    return name


def check_metadata(spec: Any, what: str) -> None:
    """Raise :class:`PluginError` unless a method, model or estimator spec has a summary,
    cites its paper and licence, declares its scales and has a factory."""
    for name in ("summary", "paper", "license"):
        value = getattr(spec, name)
        if not isinstance(value, str) or not value.strip():
            raise PluginError(f"{what} {spec.name!r} has an empty {name}: cite the paper and "
                              "the licence (paper '-' only when nothing was published)")
    scales = spec.scales
    if not (isinstance(scales, tuple) and scales and all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in scales)):
        raise PluginError(f"{what} {spec.name!r} must declare its scales as a non-empty "
                          f"tuple of positive ints, got {scales!r}")
    if not callable(spec.factory):
        raise PluginError(f"{what} {spec.name!r} has no factory")


@dataclass(frozen=True)
class OptionSpec:
    """A method-specific option (``-O NAME=VALUE`` on the CLI)."""

    name: str  # option name, e.g. "iterations"
    type: type  # int, float, str or bool; values from the CLI are converted with it
    default: Any  # the value used when the user gives none (the paper's setting)
    help: str  # one line shown by `bsrbench methods`


@dataclass(frozen=True)
class BuildContext:
    """What a factory gets to build a method, model or estimator for one run."""

    scale: int  # SR factor of the run
    device: str  # torch device string chosen by the runner ("cpu", "cuda", "mps")
    weights: Path | None = None  # user-given weights (file or folder); None = bundled default
    options: Mapping[str, Any] = field(default_factory=dict)  # validated against the spec
    # --tile: LR tile side for the parts that declare a ``receptive_field`` (read it with
    # bsrbench.tiling.tiling_from(ctx)); None: whole images. The runner may also set a
    # built part's ``tiling`` attribute later (its out-of-memory fallback).
    tile: int | None = None
    tile_overlap: int | None = None  # --tile-overlap; None: each part's receptive field

    def option(self, name: str) -> Any:
        """Return a declared option's value (already defaulted and typed)."""
        return self.options[name]


def resolve_options(
    declared: Sequence[OptionSpec], given: Mapping[str, Any], owner: str
) -> dict[str, Any]:
    """Validate user options against ``declared``, convert types and fill defaults."""
    by_name = {o.name: o for o in declared}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        known = ", ".join(sorted(by_name)) or "none"
        raise InputError(f"{owner} has no option {unknown[0]!r} (its options: {known})")
    out = {o.name: o.default for o in declared}
    for name, value in given.items():
        typ = by_name[name].type
        try:
            if typ is bool and isinstance(value, str):
                if value.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                    raise ValueError(value)
                value = value.lower() in {"1", "true", "yes"}
            out[name] = typ(value)
        except (TypeError, ValueError):
            raise InputError(
                f"option {name}={value!r} of {owner} is not a valid {typ.__name__}"
            ) from None
    return out


@dataclass(frozen=True)
class _Entry:
    name: str  # registry name, lowercase [a-z0-9_.-]
    summary: str  # one line for listings
    paper: str  # citation of the method's paper (authors, title, venue, year)
    license: str  # licence of the implementation and its weights
    scales: tuple[int, ...]  # SR factors (or protocol scales) supported


@dataclass(frozen=True)
class MethodSpec(_Entry):
    """A blind SR method: ``factory(ctx)`` returns a :class:`~bsrbench.interfaces.Method`."""

    factory: Callable[[BuildContext], Method] = field(default=None, repr=False)  # type: ignore[assignment]
    options: tuple[OptionSpec, ...] = ()  # method-specific options with defaults
    # weights_available(scale) -> True/False; None when the method needs no weights
    weights_available: Callable[[int], bool] | None = field(default=None, repr=False)
    # bundled_pins(scale) -> {file label: sha256} of the bundled weights this part loads
    # (recorded in run.json); None when it has none
    bundled_pins: Callable[[int], Mapping[str, str]] | None = field(default=None, repr=False)
    # one line shown beside every result made with the bundled weights: what they are and
    # how far from the paper (e.g. a short CPU training budget); "" for release weights
    bundled_note: str = ""
    # weights_hint(scale) -> one line saying which file the part needs and where its
    # authors publish it (shown when no bundled or cached weights exist); None: generic
    weights_hint: Callable[[int], str] | None = field(default=None, repr=False)
    iterative: bool = False  # True when runs yield several steps (reports plot them)
    # True for methods that optimise per image (autograd): the runner runs them with grad
    # enabled instead of under inference_mode. Plugins never toggle grad modes themselves.
    needs_grad: bool = False
    # True when the method reads the known noise level (LRBatch.noise): its rows get
    # noise_known and the report groups them with the upper bounds.
    uses_noise_level: bool = False


@dataclass(frozen=True)
class ModelSpec(_Entry):
    """A non-blind SR model, composed with a kernel estimator to make a method."""

    factory: Callable[[BuildContext], NonBlindModel] = field(default=None, repr=False)  # type: ignore[assignment]
    kernel_size: int | None = 21  # kernel size the model consumes; None: any odd size
    # Named explicit conversion applied to estimates of another size ("center-crop" crops or
    # zero-pads and renormalises); None means such estimates are an error.
    kernel_conversion: str | None = None
    options: tuple[OptionSpec, ...] = ()
    weights_available: Callable[[int], bool] | None = field(default=None, repr=False)
    # bundled_pins(scale) -> {file label: sha256} of the bundled weights this part loads
    # (recorded in run.json); None when it has none
    bundled_pins: Callable[[int], Mapping[str, str]] | None = field(default=None, repr=False)
    # one line shown beside every result made with the bundled weights: what they are and
    # how far from the paper (e.g. a short CPU training budget); "" for release weights
    bundled_note: str = ""
    # weights_hint(scale) -> one line saying which file the part needs and where its
    # authors publish it (shown when no bundled or cached weights exist); None: generic
    weights_hint: Callable[[int], str] | None = field(default=None, repr=False)
    # True when restore() reads the known noise level (noise-aware models such as srmd):
    # the true level then reaches the model and its rows get noise_known.
    uses_noise_level: bool = False


@dataclass(frozen=True)
class EstimatorSpec(_Entry):
    """A kernel estimator: ``factory(ctx)`` returns a KernelEstimator."""

    factory: Callable[[BuildContext], KernelEstimator] = field(default=None, repr=False)  # type: ignore[assignment]
    kernel_size: int = 21  # size of the kernels it yields
    # True only for estimators that read the ground truth (oracle): an upper bound, never a
    # blind result; the runner passes ground-truth kernels to these alone.
    uses_ground_truth: bool = False
    options: tuple[OptionSpec, ...] = ()
    weights_available: Callable[[int], bool] | None = field(default=None, repr=False)
    # bundled_pins(scale) -> {file label: sha256} of the bundled weights this part loads
    # (recorded in run.json); None when it has none
    bundled_pins: Callable[[int], Mapping[str, str]] | None = field(default=None, repr=False)
    # one line shown beside every result made with the bundled weights: what they are and
    # how far from the paper (e.g. a short CPU training budget); "" for release weights
    bundled_note: str = ""
    # weights_hint(scale) -> one line saying which file the part needs and where its
    # authors publish it (shown when no bundled or cached weights exist); None: generic
    weights_hint: Callable[[int], str] | None = field(default=None, repr=False)
    iterative: bool = False
    needs_grad: bool = False  # per-image optimisation (zero-shot): run with grad enabled
    uses_noise_level: bool = False  # reads LRBatch.noise (the true level): rows noise_known


@dataclass(frozen=True)
class DegradationSpec:
    """A named downsampler: float blurred HR ``(B,C,H,W)`` to uint8 LR."""

    name: str  # e.g. "matlab-bicubic"
    summary: str  # what it does and which papers use it
    downsample: Callable[[Any, int], Any] = field(repr=False)  # (blurred, scale) -> uint8 LR
    # (blurred, scale) -> the float64 LR in [0,1] *before* quantisation. When given, noise is
    # added to it and the sum is rounded once (MATLAB rounding), as a stored noisy LR PNG is
    # made; when None, noise is added to the uint8 output of ``downsample`` and rounded again.
    float_downsample: Callable[[Any, int], Any] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class KernelSetting:
    """One blur of a protocol; sigma2 = sigma1 and theta = 0 for isotropic kernels.

    For anisotropic kernels ``sigma1, sigma2, theta`` are the protocol's own parameters
    (standard deviations or covariance eigenvalues, radians: the protocol's summary says
    which); ``noise`` overrides the run's noise level for this LR image (MANet, DASR grids).
    """

    sigma1: float
    sigma2: float
    theta: float = 0.0
    noise: float | None = None  # 0..255 units; None: the run's --noise


@dataclass(frozen=True)
class ProtocolSpec:
    """A test-set protocol: which kernels (if any) blur each HR image at each scale."""

    name: str  # e.g. "gaussian8"
    summary: str
    scales: tuple[int, ...]
    # kernels(scale) -> the settings, one LR image each; an empty tuple means no blur
    kernels: Callable[[int], tuple[KernelSetting, ...]] = field(repr=False)
    kernel_size: int = 21
    default_scale: int = 4
    # generator(scale) -> a bsrbench.datasets.ProtocolGenerator for protocols with their own
    # pipeline (random draws, blur, downsampling, quantisation of one paper); None: the
    # ``kernels`` settings go through the run's downsampler.
    generator: Callable[[int], Any] | None = field(default=None, repr=False)
    paper: str = ""  # whose protocol it is (paper, and where the grid comes from)
    # reader(folder, scale) -> list of bsrbench.datasets.DatasetImage: a released test set
    # read from a folder given as --hr (HR, LR and kernels as distributed); None: built here
    reader: Callable[[Path, int], Any] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class MetricSpec:
    """An image-quality metric, scored by the runner on every step as one results column.

    The runner prepares each (SR, HR) pair once per step under the run's convention
    (SR rounded to uint8, Y channel or RGB, border of ``scale`` pixels cropped, float64 in
    0..255) and calls every selected metric on it. A metric that needs something the machine
    may lack (LPIPS-style weights) gives a ``factory`` that raises a one-line
    :class:`~bsrbench.errors.InputError` or :class:`~bsrbench.errors.WeightsError`.
    """

    name: str  # column name in results.csv, e.g. "psnr"
    summary: str
    fn: Callable[[Any, Any], Any] | None = field(default=None, repr=False)  # (x, y) -> (B,)
    higher_better: bool = True  # drives the report's bolding and compare's direction
    # builds ``fn`` when a run selects the metric (may load weights, or refuse in one line);
    # give either fn or factory
    factory: Callable[[], Callable[[Any, Any], Any]] | None = field(default=None, repr=False)
    default: bool = True  # scored when --metrics is not given
    unit: str = ""  # shown in reports, e.g. "dB"

    def build(self) -> Callable[[Any, Any], Any]:
        """Return the scoring function (calls the factory when there is one)."""
        if self.factory is not None:
            return self.factory()
        if self.fn is None:
            raise PluginError(f"metric {self.name!r} has neither fn nor factory")
        return self.fn
