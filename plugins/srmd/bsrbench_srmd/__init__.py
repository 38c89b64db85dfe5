"""SRMD: Learning a Single Convolutional Super-Resolution Network for Multiple
Degradations (Zhang, Zuo, Zhang, CVPR 2018), as released in KAIR.

Provides the non-blind models ``srmd`` (noise-aware, 19 input channels) and ``srmdnf``
(noise-free, 18). They consume 15x15 kernels; 21x21 estimates are converted with the
explicit, recorded ``center-crop`` conversion. Torch loads lazily in the factories.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from bsrbench import ModelSpec, hookimpl

__version__ = "0.1.0"

PAPER = ("Zhang, Zuo, Zhang, Learning a Single Convolutional Super-Resolution Network for "
         "Multiple Degradations, CVPR 2018")
LICENSE = "MIT (KAIR architecture and PCA basis; bsrbench bundled weights)"
SCALES = (2, 3, 4)


def _bundled(variant: str) -> Any:
    from bsrbench_srmd.weight_files import weights_available

    return partial(weights_available, variant=variant)


# Shown beside every result made with the bundled weights (summary, report, run.json).
BUNDLED_NOTE = ("bundled SRMD x4 weights are bsrbench's own short CPU training, not KAIR's "
                "release: with the true kernel they score below bicubic on Set5 Gaussian8 x4 "
                "(model card: plugins/srmd/bsrbench_srmd/weights/MODEL_CARD.md); KAIR's "
                "srmd_x4.pth loads with --weights")


def _pins(variant: str) -> Any:
    def pins(scale: int) -> dict[str, str]:
        from pathlib import Path

        from bsrbench.weights import bundled_pins

        return bundled_pins(Path(__file__).parent / "weights",
                            [f"{variant}_x{scale}.safetensors"], "bsrbench_srmd/weights")

    return pins


def _factory(name: str) -> Any:
    def build(ctx: Any) -> Any:
        from bsrbench_srmd import model

        return getattr(model, name)(ctx)

    build.__name__ = name
    return build


@hookimpl
def bsrbench_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="srmd",
            summary="SRMD, noise-aware (LR + 15 kernel PCA channels + noise level)",
            paper=PAPER, license=LICENSE, scales=SCALES, factory=_factory("build_srmd"),
            kernel_size=15, kernel_conversion="center-crop", weights_available=_bundled("srmd"),
            bundled_pins=_pins("srmd"), uses_noise_level=True, bundled_note=BUNDLED_NOTE,
        ),
        ModelSpec(
            name="srmdnf",
            summary="SRMD, noise-free variant (LR + 15 kernel PCA channels)",
            paper=PAPER, license=LICENSE, scales=SCALES, factory=_factory("build_srmdnf"),
            kernel_size=15, kernel_conversion="center-crop",
            weights_available=_bundled("srmdnf"), bundled_pins=_pins("srmdnf"),
            bundled_note=BUNDLED_NOTE,
        ),
    ]


@hookimpl
def bsrbench_train_commands() -> list[Any]:
    from bsrbench_srmd.train import srmd_command

    return [srmd_command()]
