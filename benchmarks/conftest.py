"""Benchmarks run apart from the tests: `pytest benchmarks --benchmark-only`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# Reuse the tests' ../shared locator (skip, or fail under BSRBENCH_REQUIRE_SHARED=1).
_spec = importlib.util.spec_from_file_location(
    "bsrbench_shared_bundle", Path(__file__).resolve().parents[1] / "tests" / "shared_bundle.py")
_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tests)
shared_dir = _tests.shared_dir


def pytest_terminal_summary(terminalreporter, config):
    """Each benchmark group as ratios of medians to the group's first variant: the figures
    issue notes quote (one run on a shared machine: ratios, not seconds, are what holds)."""
    session = getattr(config, "_benchmarksession", None)
    groups: dict[str, list] = {}
    for bench in getattr(session, "benchmarks", []) or []:
        if bench:
            groups.setdefault(bench.group or "", []).append(bench)
    if not groups:
        return
    terminalreporter.section("ratios of medians to each group's first variant")
    for group, benches in groups.items():
        base = benches[0].stats.median
        for bench in benches:
            terminalreporter.write_line(
                f"{group:>10}  {bench.name:<60} {bench.stats.median:9.3f} s  "
                f"{bench.stats.median / base:6.2f}x")
