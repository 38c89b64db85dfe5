"""The core's built-in estimator: ``oracle``, the ground-truth kernel (an upper bound)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from bsrbench import hookimpl
from bsrbench.errors import InputError
from bsrbench.specs import BuildContext, EstimatorSpec

if TYPE_CHECKING:
    from bsrbench.interfaces import KernelEstimate, LRBatch


class OracleEstimator:
    """Returns the ground-truth kernel: an upper bound, never a blind result."""

    def estimate(self, batch: LRBatch) -> Iterator[KernelEstimate]:
        from bsrbench.interfaces import KernelEstimate

        if batch.kernels is None:
            raise InputError(
                "the oracle estimator needs ground-truth kernels, and this dataset has none "
                "(protocol 'bicubic' or real LR images): choose another --kernel"
            )
        yield KernelEstimate(kernel=batch.kernels)


def _build_oracle(ctx: BuildContext) -> OracleEstimator:
    return OracleEstimator()


@hookimpl
def bsrbench_estimators() -> list[EstimatorSpec]:
    return [
        EstimatorSpec(
            name="oracle",
            summary="ground-truth kernel of the dataset (upper bound, not a blind method)",
            paper="-",
            license="MIT",
            scales=(2, 3, 4),
            factory=_build_oracle,
            uses_ground_truth=True,
        )
    ]
