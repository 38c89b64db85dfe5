"""bsrbench: a plugin-based benchmark for blind image super-resolution.

``import bsrbench`` stays light: it imports neither torch, h5py nor pandas. The plugin
manager is built on demand by :func:`bsrbench.registry.load_registry`.
"""

from __future__ import annotations

import pluggy

from bsrbench.errors import (
    BsrbenchError,
    InputError,
    PluginError,
    RunError,
    UnknownNameError,
    WeightsError,
)
from bsrbench.interfaces import (
    KernelCoder,
    KernelEstimate,
    KernelEstimator,
    LRBatch,
    Method,
    NonBlindModel,
    Step,
)
from bsrbench.specs import (
    BuildContext,
    DegradationSpec,
    EstimatorSpec,
    KernelSetting,
    MethodSpec,
    MetricSpec,
    ModelSpec,
    OptionSpec,
    ProtocolSpec,
)

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("bsrbench")

__all__ = [
    "BsrbenchError",
    "BuildContext",
    "DegradationSpec",
    "EstimatorSpec",
    "InputError",
    "KernelCoder",
    "KernelEstimate",
    "KernelEstimator",
    "KernelSetting",
    "LRBatch",
    "Method",
    "MethodSpec",
    "MetricSpec",
    "ModelSpec",
    "NonBlindModel",
    "OptionSpec",
    "PluginError",
    "ProtocolSpec",
    "RunError",
    "Step",
    "UnknownNameError",
    "WeightsError",
    "__version__",
    "hookimpl",
]
