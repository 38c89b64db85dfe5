"""Tools for plugin authors: the conformance suite, the scaffold, and a pytest plugin.

This package is the one door the rest of bsrbench (the CLI's ``check-plugin`` and
``new-plugin``, tests) uses; its modules are:

- :mod:`~bsrbench.plugin_dev.conformance`: the checks every method, composed model,
  estimator, degradation and metric is held to (docs/plugins.md, "The contract the checks
  enforce"), as functions returning :class:`CheckResult` rows;
- :mod:`~bsrbench.plugin_dev.scaffold` and its ``templates/``: ``bsrbench new-plugin``,
  an installable package of any :data:`KINDS`;
- :mod:`~bsrbench.plugin_dev.pytest_plugin`: the ``bsrbench_conformance`` fixture. It
  imports pytest, so it is not imported here: enable it with
  ``pytest_plugins = ["bsrbench.plugin_dev.pytest_plugin"]``.

Importing this package imports neither torch nor pytest; the checks import torch when
they run.
"""

from __future__ import annotations

from bsrbench.plugin_dev._checks import (
    FAIL,
    PASS,
    SKIP,
    CheckResult,
    device_available,
    format_results,
)
from bsrbench.plugin_dev.conformance import (
    check_degradation,
    check_estimator,
    check_method,
    check_metric,
    check_plugin,
)
from bsrbench.plugin_dev.scaffold import KINDS, check_plugin_name, create_plugin

__all__ = [
    "FAIL",
    "KINDS",
    "PASS",
    "SKIP",
    "CheckResult",
    "check_degradation",
    "check_estimator",
    "check_method",
    "check_metric",
    "check_plugin",
    "check_plugin_name",
    "create_plugin",
    "device_available",
    "format_results",
]
