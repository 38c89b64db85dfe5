"""The field's test protocols after IKC: DIV2KRK, anisotropic setting 2, MANet and DASR
grids, each generator-exact and rebuildable from recorded draws.

Built-in plugin, registered through the ``bsrbench`` entry-point group. Listing it imports
neither numpy nor torch: generators are built by ``ProtocolSpec.generator(scale)``.
"""

from __future__ import annotations

from typing import Any

from bsrbench import hookimpl
from bsrbench.specs import KernelSetting, ProtocolSpec

__version__ = "0.1.0"

KERNELGAN = ("Bell-Kligler, Shocher, Irani, Blind Super-Resolution Kernel Estimation using "
             "an Internal-GAN (KernelGAN), NeurIPS 2019; generator BlindSR_dataset_generator "
             "BSD100RK.ipynb")
DAN = ("Luo et al., Unfolding the Alternating Optimization for Blind Super Resolution (DAN), "
       "NeurIPS 2020, setting 2")
DCLS = ("Luo et al., Deep Constrained Least Squares for Blind Image Super-Resolution (DCLS), "
        "CVPR 2022, setting 2")


def _div2krk(compose: bool) -> Any:
    def make(scale: int) -> Any:
        from bsrbench_protocols.div2krk import Div2krkGenerator

        if compose:
            return Div2krkGenerator(scale, compose=scale == 4, k=11)
        return Div2krkGenerator(scale, compose=False, k=21)

    return make


def _aniso(variant: str) -> Any:
    def make(scale: int) -> Any:
        from bsrbench_protocols.aniso import AnisoGenerator

        return AnisoGenerator(scale, variant)

    return make


def _grid(kind: str) -> Any:
    def make(scale: int) -> Any:
        from bsrbench_protocols.grids import DasrGenerator, ManetGenerator

        return ManetGenerator(scale) if kind == "manet" else DasrGenerator(scale)

    return make


MANET = ("Liang et al., Mutual Affine Network for Spatially Variant Kernel Estimation in "
         "Blind Image Super-Resolution (MANet), ICCV 2021; prepare_testset.py grid")
DASR = ("Wang et al., Unsupervised Degradation Representation Learning for Blind "
        "Super-Resolution (DASR), CVPR 2021; the 9 kernels as listed in DSAT issue #2")


def _fkp(kernel_noise: float) -> Any:
    def make(scale: int) -> Any:
        from bsrbench_protocols.fkp import FkpGenerator

        return FkpGenerator(scale, kernel_noise)

    return make


FKP = ("Liang et al., Flow-based Kernel Prior with Application to Blind Super-Resolution "
       "(FKP), CVPR 2021; data/prepare_dataset.py, DIPFKP mode")


def _release(folder: Any, scale: int) -> Any:
    from bsrbench_protocols.release import read_div2krk_release

    return read_div2krk_release(folder, scale)


def _none(scale: int) -> tuple[KernelSetting, ...]:
    return ()


@hookimpl
def bsrbench_protocols() -> list[ProtocolSpec]:
    return [
        ProtocolSpec(
            "div2krk",
            "KernelGAN's random anisotropic kernel per HR image (DIV2KRK recipe): x2 11x11, "
            "x4 = the x2 kernel applied twice (31x31); phase-0 subsampling, LR truncated",
            scales=(2, 4), kernels=_none, kernel_size=11, default_scale=4,
            generator=_div2krk(True), paper=KERNELGAN),
        ProtocolSpec(
            "div2krk-native",
            "the KernelGAN notebook's defaults: one 21x21 kernel drawn at the target scale "
            "(variances U[0.175 s, 2.5 s]), not the released DIV2KRK recipe",
            scales=(2, 3, 4), kernels=_none, kernel_size=21, default_scale=4,
            generator=_div2krk(False), paper=KERNELGAN),
        ProtocolSpec(
            "aniso",
            "DAN setting 2: anisotropic Gaussian (std U(0.6,5), theta U(-pi,pi), x(1+U(0,0.25)) "
            "per tap), 11x11 at x2, 21x21 at x4, MATLAB bicubic",
            scales=(2, 4), kernels=_none, kernel_size=21, default_scale=4,
            generator=_aniso("dan"), paper=DAN),
        ProtocolSpec(
            "aniso-dcls",
            "DCLS setting 2: as aniso, with DCLS's kernel sizes (11x11 at x2, 31x31 at x4)",
            scales=(2, 4), kernels=_none, kernel_size=31, default_scale=4,
            generator=_aniso("dcls"), paper=DCLS),
        ProtocolSpec(
            "manet9",
            "MANet's nine x4 kernels (covariance eigenvalues 1/5/9, theta 0 or pi/4; 18x18 in "
            "21x21), direct subsampling, noise 15",
            scales=(4,), kernels=_none, kernel_size=21, default_scale=4,
            generator=_grid("manet"), paper=MANET),
        ProtocolSpec(
            "dasr9",
            "DASR's nine anisotropic 21x21 kernels (std devs, degrees) on DASR's bicubic with "
            "replicated edges; noise from --noise (DASR tests 0, 5, 10)",
            scales=(4,), kernels=_none, kernel_size=21, default_scale=4,
            generator=_grid("dasr"), paper=DASR),
        ProtocolSpec(
            "dipfkp",
            "FKP's synthetic set: random anisotropic kernel of size min(4s+3, 21), circular "
            "padding, LR truncated; image noise std U(0, --noise)",
            scales=(2, 3, 4), kernels=_none, kernel_size=19, default_scale=4,
            generator=_fkp(0.0), paper=FKP),
        ProtocolSpec(
            "dipfkp-kernelnoise",
            "dipfkp with FKP's multiplicative kernel noise U[-0.4, 0.4) (--noise_ker 0.4)",
            scales=(2, 3, 4), kernels=_none, kernel_size=19, default_scale=4,
            generator=_fkp(0.4), paper=FKP),
        ProtocolSpec(
            "div2krk-release",
            "the public DIV2KRK release folder (--hr DIR with gt/, lr_x2/, lr_x4/, gt_k_x2/, "
            "gt_k_x4/), paired by image number; LR and kernels as released",
            scales=(2, 4), kernels=_none, kernel_size=11, default_scale=4,
            reader=_release, paper=KERNELGAN + "; DIV2KRK release"),
    ]
