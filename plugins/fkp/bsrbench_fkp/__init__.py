"""FKP (Liang et al., CVPR 2021): USRNet, the flow kernel prior and zero-shot estimators.

Built-in plugin, registered through the ``bsrbench`` entry-point group. It provides the
non-blind model ``usrnet`` (KAIR's USRNet-tiny as released inside the FKP repository).
Weights are the FKP authors' releases converted to safetensors (``weights/MODEL_CARD.md``).
Torch and the networks load lazily inside the factories.
"""

from __future__ import annotations

from typing import Any

from bsrbench import ModelSpec, hookimpl

__version__ = "0.1.0"

USRNET_PAPER = ("Zhang, Van Gool, Timofte, Deep Unfolding Network for Image Super-Resolution, "
                "CVPR 2020 (tiny model as released with FKP: Liang, Zhang, Van Gool, Timofte, "
                "Flow-based Kernel Prior with Application to Blind Super-Resolution, CVPR 2021)")
LICENSE = "Apache-2.0 (JingyunLiang/FKP code and released weights; bsrbench re-implementation)"
SCALES = (2, 3, 4)


def _usrnet_available(scale: int) -> bool:
    from bsrbench_fkp.weight_files import weights_available

    return weights_available(scale, "usrnet")


def _build_usrnet(ctx: Any) -> Any:
    from bsrbench_fkp.usrnet import build_usrnet

    return build_usrnet(ctx)


@hookimpl
def bsrbench_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="usrnet",
            summary="USRNet-tiny (deep unfolding, FFT data step): any kernel size, noise-aware",
            paper=USRNET_PAPER, license=LICENSE, scales=SCALES, factory=_build_usrnet,
            kernel_size=21, kernel_conversion="center-crop",
            weights_available=_usrnet_available, uses_noise_level=True,
        ),
    ]
