"""DCLS (Luo et al., CVPR 2022): deep constrained least squares for blind SR.

Provides the blind method ``dcls`` (Estimator -> kernel, Restorer with the deconvolution
in feature space -> SR; one step) and its Estimator as the ``--kernel`` estimator
``dcls``. Both need the released checkpoints (``--weights``, or ``bsrbench weights
get``); ``-O setting=1|2`` chooses the official configuration. Built-in plugin,
registered through the ``bsrbench`` entry-point group; torch loads lazily in factories.
"""

from __future__ import annotations

from typing import Any

from bsrbench import EstimatorSpec, MethodSpec, OptionSpec, hookimpl

__version__ = "0.1.0"

PAPER = ("Luo, Huang, Yu, Li, Fan, Liu, Deep Constrained Least Squares for Blind Image "
         "Super-Resolution, CVPR 2022")
LICENSE = ("bsrbench implementation: MIT; official code (megvii-research/DCLS-SR): MIT; "
           "checkpoints: as the repository")
SCALES = (2, 3, 4)
SETTING = OptionSpec("setting", int, 1, "official configuration: 1 = isotropic Gaussian "
                     "(x2, x3, x4; 21x21), 2 = anisotropic DIV2KRK (x2: 11x11, x4: 31x31)")


def _available(scale: int) -> bool:
    from bsrbench_dcls.configs import weights_available

    return weights_available(scale)


def _hint(scale: int) -> str:
    """The checkpoint a scale needs and where upstream publishes it (torch-free)."""
    from bsrbench.errors import WeightsError
    from bsrbench_dcls.configs import find_checkpoint, official

    try:
        find_checkpoint(None, official(scale, 1))
    except WeightsError as exc:
        return str(exc)
    return ""


def _factory(name: str) -> Any:
    def build(ctx: Any) -> Any:
        from bsrbench_dcls import method

        return getattr(method, name)(ctx)

    build.__name__ = name
    return build


@hookimpl
def bsrbench_methods() -> list[MethodSpec]:
    return [MethodSpec(
        name="dcls",
        summary="DCLS: estimated kernel, deep constrained least-squares deconvolution of "
                "features, SR; needs the released checkpoint",
        paper=PAPER, license=LICENSE, scales=SCALES, factory=_factory("build_method"),
        options=(SETTING,), weights_available=_available, weights_hint=_hint,
    )]


@hookimpl
def bsrbench_estimators() -> list[EstimatorSpec]:
    return [EstimatorSpec(
        name="dcls",
        summary="DCLS's Estimator alone (setting 1): a 21x21 kernel from the LR image, "
                "negative entries clipped",
        paper=PAPER, license=LICENSE, scales=SCALES, factory=_factory("build_estimator"),
        kernel_size=21, weights_available=_available, weights_hint=_hint,
    )]


@hookimpl
def bsrbench_releases() -> list[Any]:
    from bsrbench_dcls.releases import releases

    return releases()
