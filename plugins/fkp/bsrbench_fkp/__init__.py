"""FKP (Liang et al., CVPR 2021): USRNet, the flow kernel prior and zero-shot estimators.

Built-in plugin, registered through the ``bsrbench`` entry-point group. It provides the
non-blind model ``usrnet`` (KAIR's USRNet-tiny as released inside the FKP repository) and
the zero-shot kernel estimators ``dipfkp`` (DIP + flow kernel prior), ``kernelgan`` and
``kernelgan-fkp`` (KernelGAN, and KernelGAN with the flow prior as generator), which optimise
every LR image on its own (``needs_grad``) and report the kernel every ``step_every``
iterations.
Weights are the FKP authors' releases converted to safetensors (``weights/MODEL_CARD.md``).
Torch and the networks load lazily inside the factories.
"""

from __future__ import annotations

from typing import Any

from bsrbench import EstimatorSpec, ModelSpec, OptionSpec, hookimpl

__version__ = "0.1.0"

USRNET_PAPER = ("Zhang, Van Gool, Timofte, Deep Unfolding Network for Image Super-Resolution, "
                "CVPR 2020 (tiny model as released with FKP: Liang, Zhang, Van Gool, Timofte, "
                "Flow-based Kernel Prior with Application to Blind Super-Resolution, CVPR 2021)")
LICENSE = "Apache-2.0 (JingyunLiang/FKP code and released weights; bsrbench re-implementation)"
FKP_PAPER = ("Liang, Zhang, Gu, Van Gool, Timofte, Flow-based Kernel Prior with Application "
             "to Blind Super-Resolution, CVPR 2021")
SCALES = (2, 3, 4)


def _zero_shot_options(iterations: int, seed: int, step_every: int) -> tuple[OptionSpec, ...]:
    return (
        OptionSpec("iterations", int, iterations,
                   f"optimisation steps per image (upstream default {iterations})"),
        OptionSpec("step_every", int, step_every,
                   "report the current kernel every N iterations (the last one always)"),
        OptionSpec("seed", int, seed, f"random initialisation seed (upstream {seed})"),
        OptionSpec("recentre", bool, False,
                   "move estimates by (s-1)/2 px from FKP's alignment to bsrbench's centred "
                   "kernels (for centred protocols such as gaussian8 with --downsampler direct)"),
    )


def _prior_available(scale: int) -> bool:
    from bsrbench_fkp.weight_files import weights_available

    return weights_available(scale, "fkp")


def _build_dipfkp(ctx: Any) -> Any:
    from bsrbench_fkp.dipfkp import build_dipfkp

    return build_dipfkp(ctx)


def _build_kernelgan(ctx: Any) -> Any:
    from bsrbench_fkp.kernelgan import build_kernelgan

    return build_kernelgan(ctx)


def _build_kernelgan_fkp(ctx: Any) -> Any:
    from bsrbench_fkp.kernelgan_fkp import build_kernelgan_fkp

    return build_kernelgan_fkp(ctx)


def _x2_prior_available(scale: int) -> bool:
    from bsrbench_fkp.weight_files import weights_available

    return scale in (2, 4) and weights_available(2, "fkp")


KERNELGAN_PAPER = ("Bell-Kligler, Shocher, Irani, Blind Super-Resolution Kernel Estimation "
                   "using an Internal-GAN, NeurIPS 2019 (as run in the FKP repository)")


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
            kernel_size=None,  # any odd size: estimates reach it unconverted
            weights_available=_usrnet_available, uses_noise_level=True,
        ),
    ]


@hookimpl
def bsrbench_estimators() -> list[EstimatorSpec]:
    return [
        EstimatorSpec(
            name="dipfkp",
            summary="DIP-FKP: per-image DIP + flow-kernel-prior latent optimisation (zero-shot)",
            paper=FKP_PAPER, license=LICENSE, scales=SCALES, factory=_build_dipfkp,
            kernel_size=21, options=_zero_shot_options(1000, 1, 100),
            weights_available=_prior_available, iterative=True, needs_grad=True,
        ),
        EstimatorSpec(
            name="kernelgan",
            summary="KernelGAN: per-image internal GAN with a deep linear generator (zero-shot)",
            paper=KERNELGAN_PAPER, license=LICENSE, scales=(2, 4), factory=_build_kernelgan,
            kernel_size=21, options=_zero_shot_options(3000, 0, 100),
            iterative=True, needs_grad=True,
        ),
        EstimatorSpec(
            name="kernelgan-fkp",
            summary="KernelGAN-FKP: KernelGAN whose generator is the flow kernel prior's latent",
            paper=FKP_PAPER, license=LICENSE, scales=(2, 4), factory=_build_kernelgan_fkp,
            kernel_size=21,
            options=(OptionSpec("iterations", int, 0, "optimisation steps per image; 0 = "
                                "upstream default (1000 at x2, 4000 at x4)"),
                     *_zero_shot_options(1000, 1, 100)[1:]),
            weights_available=_x2_prior_available, iterative=True, needs_grad=True,
        ),
    ]
