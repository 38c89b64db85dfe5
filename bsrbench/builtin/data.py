"""The core's built-in downsamplers and protocols (``bicubic``, ``gaussian8``)."""

from __future__ import annotations

from typing import Any

from bsrbench import hookimpl
from bsrbench.errors import InputError
from bsrbench.specs import DegradationSpec, KernelSetting, ProtocolSpec

# DEVELOPERS.md / IKC paper §4.1: Gaussian8 kernel widths per scale (8 each, inclusive).
GAUSSIAN8_RANGES = {2: (0.80, 1.60), 3: (1.35, 2.40), 4: (1.80, 3.20)}


def gaussian8_sigmas(scale: int) -> tuple[float, ...]:
    """The 8 kernel widths of Gaussian8 at ``scale``: linspace(lo, hi, 8), rounded to 1e-12."""
    if scale not in GAUSSIAN8_RANGES:
        raise InputError(f"gaussian8 is defined for scales 2, 3, 4, not {scale}")
    lo, hi = GAUSSIAN8_RANGES[scale]
    return tuple(round(lo + (hi - lo) * i / 7, 12) for i in range(8))


def _lazy(name: str, stage: str) -> Any:
    """A callable that imports the (torch) degradation code only when a build runs."""

    def call(blurred: Any, scale: int) -> Any:
        from bsrbench.degradations import builtin_degradation

        return getattr(builtin_degradation(name), stage)(blurred, scale)

    return call


# name -> (summary, has a float stage before quantisation, so noise is added before rounding)
BUILTIN_DOWNSAMPLERS = {
    "matlab-bicubic": ("MATLAB imresize bicubic with antialiasing on float, LR rounded to "
                       "uint8 (DAN, DCLS; the default)", True),
    "pil-bicubic": ("official IKC pipeline: blurred HR truncated to uint8, then PIL bicubic",
                    False),
    "direct": ("s-fold subsampling of the blurred HR, top-left sample (KernelGAN, MANet), "
               "LR rounded to uint8", True),
}


@hookimpl
def bsrbench_degradations() -> list[DegradationSpec]:
    """The built-in downsamplers, as specs like any plugin's: dataset building calls
    ``spec.downsample`` (and ``spec.float_downsample`` when noise is added)."""
    return [
        DegradationSpec(name, summary, _lazy(name, "downsample"),
                        _lazy(name, "float_downsample") if has_float else None)
        for name, (summary, has_float) in BUILTIN_DOWNSAMPLERS.items()
    ]


@hookimpl
def bsrbench_protocols() -> list[ProtocolSpec]:
    def no_blur(scale: int) -> tuple[KernelSetting, ...]:
        return ()

    def gaussian8(scale: int) -> tuple[KernelSetting, ...]:
        return tuple(KernelSetting(s, s, 0.0) for s in gaussian8_sigmas(scale))

    return [
        ProtocolSpec(
            "bicubic",
            "no blur: the classic bicubic-degradation benchmark (one LR per HR image)",
            scales=(2, 3, 4),
            kernels=no_blur,
        ),
        ProtocolSpec(
            "gaussian8",
            "8 isotropic 21x21 Gaussian kernels per HR image (IKC, CVPR 2019, Sec. 4.1)",
            scales=(2, 3, 4),
            kernels=gaussian8,
        ),
    ]
