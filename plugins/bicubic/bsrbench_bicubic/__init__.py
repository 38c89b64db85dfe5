"""bicubic: MATLAB-style bicubic interpolation, the baseline every SR paper reports.

Registered through the ``bsrbench`` entry-point group like any third-party plugin.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from bsrbench import BuildContext, MethodSpec, Step, hookimpl

if TYPE_CHECKING:
    from bsrbench import LRBatch

__version__ = "0.1.0"


class Bicubic:
    """Upsamples with MATLAB ``imresize(lr, scale, 'bicubic')``; one step, no kernel."""

    def run(self, batch: LRBatch) -> Iterator[Step]:
        from bsrbench.resize import imresize

        yield Step(sr=imresize(batch.lr, batch.scale).clamp(0, 1))


def _build(ctx: BuildContext) -> Bicubic:
    return Bicubic()


@hookimpl
def bsrbench_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            name="bicubic",
            summary="MATLAB-style bicubic interpolation (a = -0.5); the non-learned baseline",
            paper="Keys, Cubic convolution interpolation for digital image processing, "
                  "IEEE TASSP 1981",
            license="MIT",
            scales=(2, 3, 4),
            factory=_build,
        )
    ]
