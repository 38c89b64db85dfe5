"""DAN (Luo et al., NeurIPS 2020) and DANv2 (2021): alternating Restorer/Estimator.

Provides the blind, iterative methods ``danv1`` and ``danv2`` (one step per loop
iteration, the official 4 by default) and the same loops as ``--kernel`` estimators. Both
need the released checkpoints (``--weights``, or ``bsrbench weights get``); the official
configurations are chosen with ``-O setting=1|2``. Built-in plugin, registered through the
``bsrbench`` entry-point group; torch and the networks load lazily in the factories.
"""

from __future__ import annotations

from typing import Any

from bsrbench import EstimatorSpec, MethodSpec, OptionSpec, hookimpl

__version__ = "0.1.0"

PAPERS = {
    1: "Luo, Huang, Li, Wang, Tan, Unfolding the Alternating Optimization for Blind Super "
       "Resolution, NeurIPS 2020",
    2: "Luo, Huang, Li, Wang, Tan, End-to-end Alternating Optimization for Real-World Blind "
       "Super Resolution, arXiv:2105.06878, 2021",
}
LICENSE = ("bsrbench implementation: MIT; official code and checkpoints (greatlog/DAN): no "
           "licence stated")
SCALES = (2, 3, 4)
SETTING = OptionSpec("setting", int, 1, "official configuration: 1 = isotropic Gaussian "
                     "(x2, x3, x4), 2 = anisotropic DIV2KRK (x2, x4)")
LOOP = OptionSpec("loop", int, 4, "Restorer/Estimator alternations (4 in every official yml)")


def _available(version: int) -> Any:
    def available(scale: int) -> bool:
        from bsrbench_dan.configs import weights_available

        return weights_available(scale, version)

    return available


def _hint(version: int) -> Any:
    def hint(scale: int) -> str:
        """The checkpoint a scale needs and where upstream publishes it (torch-free)."""
        from bsrbench.errors import WeightsError
        from bsrbench_dan.configs import find_checkpoint, official

        try:
            find_checkpoint(None, official(version, scale, 1))
        except WeightsError as exc:
            return str(exc)
        return ""

    return hint


def _factory(name: str, version: int) -> Any:
    def build(ctx: Any) -> Any:
        from bsrbench_dan import method

        return getattr(method, name)(ctx, version)

    build.__name__ = f"{name}_v{version}"
    return build


@hookimpl
def bsrbench_methods() -> list[MethodSpec]:
    return [MethodSpec(
        name=f"danv{v}",
        summary=(f"DANv{v}: Restorer and Estimator alternate ({'code' if v == 1 else 'kernel'} "
                 "estimate), one step per iteration; needs the released checkpoint"),
        paper=PAPERS[v], license=LICENSE, scales=SCALES, factory=_factory("build_method", v),
        options=(SETTING, LOOP), weights_available=_available(v), weights_hint=_hint(v),
        iterative=True,
    ) for v in (1, 2)]


@hookimpl
def bsrbench_estimators() -> list[EstimatorSpec]:
    return [EstimatorSpec(
        name=f"danv{v}",
        summary=(f"DANv{v}'s loop, setting 1 (its Estimator needs the SR of its own "
                 "Restorer, so both run); one 21x21 estimate per iteration"),
        paper=PAPERS[v], license=LICENSE, scales=SCALES,
        factory=_factory("build_estimator", v), kernel_size=21, options=(LOOP,),
        weights_available=_available(v), weights_hint=_hint(v), iterative=True,
    ) for v in (1, 2)]


@hookimpl
def bsrbench_releases() -> list[Any]:
    from bsrbench_dan.releases import releases

    return releases()
