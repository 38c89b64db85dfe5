"""bsrbench's pytest plugin: the ``bsrbench_conformance`` and ``bsrbench_registry`` fixtures.

Enable it in a plugin package's ``tests/conftest.py``::

    pytest_plugins = ["bsrbench.plugin_dev.pytest_plugin"]

then ask for the ``bsrbench_conformance`` fixture::

    def test_mymethod_conformance(bsrbench_conformance):
        bsrbench_conformance("mymethod")

The call runs :func:`~bsrbench.plugin_dev.check_plugin` on the name (a plugin, method,
``model+estimator``, model, estimator, degradation or metric), fails the test with the
table of failed checks, and skips it with the reasons when every check was skipped (no
weights, no such device, a metric whose factory refused). It returns the results, so a
test can look at them further. The registry comes from the ``bsrbench_registry`` fixture:
override it to check a plugin that is not installed, e.g.
``load_registry(autoload=False, extra=[my_plugin_module])``. ``--bsrbench-device``
(default ``cpu``) picks the device the fixture checks on.

Without pytest the same checks are the functions of :mod:`bsrbench.plugin_dev`. This is
the one module of the package that imports pytest, so :mod:`bsrbench.plugin_dev` never
does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bsrbench.errors import UnknownNameError
from bsrbench.plugin_dev import FAIL, SKIP, CheckResult, check_plugin, format_results

if TYPE_CHECKING:
    from bsrbench.registry import Registry

__all__ = ["assert_conformance", "bsrbench_conformance", "bsrbench_registry",
           "pytest_addoption"]


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
