"""Conformance testing for bsrbench plugins: a function API and a pytest plugin.

Function API (no pytest needed)::

    from bsrbench.registry import load_registry
    from bsrbench.testing import check_method, format_results

    results = check_method(load_registry(), "mymethod")
    print(format_results(results))

pytest plugin: enable it in your package's ``tests/conftest.py``::

    pytest_plugins = ["bsrbench.testing"]

then ask for the ``bsrbench_conformance`` fixture::

    def test_mymethod_conformance(bsrbench_conformance):
        bsrbench_conformance("mymethod")

The call runs :func:`check_plugin` on the name (a plugin, method, ``model+estimator``,
model, estimator or degradation), fails the test with the table of failed checks, and
skips it with the reasons when every check was skipped (no weights, no such device). It
returns the results, so a test can look at them further. The registry comes from the
``bsrbench_registry`` fixture: override it to check a plugin that is not installed, e.g.
``load_registry(autoload=False, extra=[my_plugin_module])``. ``--bsrbench-device``
(default ``cpu``) picks the device the fixture checks on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bsrbench._conformance import (
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
from bsrbench.errors import UnknownNameError

if TYPE_CHECKING:
    from bsrbench.registry import Registry

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


def assert_conformance(results: Sequence[CheckResult]) -> Sequence[CheckResult]:
    """Fail the current test on any FAIL; skip it when every check was skipped."""
    failed = [r for r in results if r.status == FAIL]
    if failed:
        pytest.fail(f"{len(failed)} conformance check(s) failed:\n{format_results(failed)}",
                    pytrace=False)
    if results and all(r.status == SKIP for r in results if r.check != "metadata"):
        reasons = sorted({r.detail for r in results if r.status == SKIP})
        pytest.skip("; ".join(reasons))
    return results


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bsrbench-device", default="cpu",
                     help="device the bsrbench_conformance fixture checks on (default cpu)")


@pytest.fixture
def bsrbench_registry() -> Registry:
    """A fresh registry of every installed plugin (override it to inject plugins)."""
    from bsrbench.registry import load_registry

    return load_registry()


@pytest.fixture
def bsrbench_conformance(
    bsrbench_registry: Registry, request: pytest.FixtureRequest
) -> Callable[..., Sequence[CheckResult]]:
    """``bsrbench_conformance(name, *, device=None, scales=None, options=None, weights=None)``."""
    default_device = request.config.getoption("--bsrbench-device", default="cpu")

    def run(name: str, *, device: str | None = None, scales: Sequence[int] | None = None,
            options: Mapping[str, Any] | None = None,
            weights: Path | None = None) -> Sequence[CheckResult]:
        try:
            results = check_plugin(bsrbench_registry, name, device=device or default_device,
                                   scales=scales, options=options, weights=weights)
        except UnknownNameError as exc:
            pytest.fail(f"{exc}; is the plugin installed (pip install -e .) and not disabled "
                        "by BSRBENCH_DISABLE_PLUGINS?", pytrace=False)
        return assert_conformance(results)

    return run
