"""The former home of bsrbench's pytest plugin, kept so existing plugin packages work.

Packages generated before :mod:`bsrbench.plugin_dev` existed enable the plugin with
``pytest_plugins = ["bsrbench.testing"]`` and call ``bsrbench.testing.check_method``;
both keep working. New code uses ``pytest_plugins = ["bsrbench.plugin_dev.pytest_plugin"]``
and ``from bsrbench.plugin_dev import check_method``. Listing the real plugin here (not
re-exporting its fixtures) lets pytest register it once even when both names are used.
"""

from __future__ import annotations

from bsrbench.plugin_dev import (
    FAIL,
    PASS,
    SKIP,
    CheckResult,
    check_degradation,
    check_estimator,
    check_method,
    check_plugin,
    device_available,
    format_results,
)
from bsrbench.plugin_dev.pytest_plugin import assert_conformance

pytest_plugins = ["bsrbench.plugin_dev.pytest_plugin"]

__all__ = [
    "FAIL",
    "PASS",
    "SKIP",
    "CheckResult",
    "assert_conformance",
    "check_degradation",
    "check_estimator",
    "check_method",
    "check_plugin",
    "device_available",
    "format_results",
]
