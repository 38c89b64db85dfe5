"""Benchmarks run apart from the tests: `pytest benchmarks --benchmark-only`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# Reuse the tests' ../shared locator (skip, or fail under BSRBENCH_REQUIRE_SHARED=1).
_spec = importlib.util.spec_from_file_location(
    "bsrbench_tests_conftest", Path(__file__).resolve().parents[1] / "tests" / "conftest.py")
_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tests)
shared_dir = _tests.shared_dir
