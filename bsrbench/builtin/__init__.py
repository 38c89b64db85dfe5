"""The core's own plugin: the oracle estimator, downsamplers, protocols and metrics.

Written as an ordinary plugin so that third-party plugins are first-class: they use the
same hooks and the same spec objects. Heavy modules are imported inside the callables.
The registry registers this package as the plugin ``bsrbench``; its hook implementations
live in one module per concern and are gathered here.
"""

from __future__ import annotations

from bsrbench.builtin.data import (
    GAUSSIAN8_RANGES,
    bsrbench_degradations,
    bsrbench_protocols,
    gaussian8_sigmas,
)
from bsrbench.builtin.estimators import OracleEstimator, bsrbench_estimators
from bsrbench.builtin.metrics import bsrbench_metrics

__all__ = [
    "GAUSSIAN8_RANGES",
    "OracleEstimator",
    "bsrbench_degradations",
    "bsrbench_estimators",
    "bsrbench_metrics",
    "bsrbench_protocols",
    "gaussian8_sigmas",
]
