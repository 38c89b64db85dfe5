"""The conformance suite from the outside: ``bsrbench check-plugin`` (table, exit codes)
and the pytest plugin's ``bsrbench_conformance`` fixture, under its new and former names."""

from __future__ import annotations

import types

import click
import pytest
from click.testing import CliRunner

from bsrbench import MethodSpec, Step, hookimpl
from bsrbench.registry import load_registry

pytest_plugins = ["pytester"]


class WrongSize:
    """A method that forgets to upsample by one row."""

    def run(self, batch):
        s = batch.scale
        sr = batch.lr.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1)
        yield Step(sr=sr[..., 1:, :])


def _plugin(*specs: MethodSpec) -> types.ModuleType:
    mod = types.ModuleType("fakes")
    mod.bsrbench_methods = hookimpl(lambda: list(specs))
    return mod


def _method(name, cls) -> MethodSpec:
    return MethodSpec(name, "a fake", "A, B, C, 2024", "MIT", (2, 3), factory=lambda c: cls())


@pytest.fixture
def cli(monkeypatch):
    from bsrbench.cli.plugins import register

    group = click.Group("bsrbench")
    register(group)

    def invoke(*args, plugin=None):
        if plugin is not None:
            monkeypatch.setattr("bsrbench.registry.load_registry",
                                lambda: load_registry(autoload=False, extra=[plugin]))
        return CliRunner().invoke(group, [str(a) for a in args])

    return invoke


def test_check_plugin_cli_prints_a_table_and_exit_codes(cli):
    ok = cli("check-plugin", "bicubic", "--scale", "2")
    assert ok.exit_code == 0, ok.output
    assert "PASS" in ok.output and "0 failed" in ok.output and "odd-size" in ok.output
    unknown = cli("check-plugin", "bicubik")
    assert unknown.exit_code == 2
    assert unknown.output.startswith("error: ") and "did you mean 'bicubic'" in unknown.output
    broken = cli("check-plugin", "fake", plugin=_plugin(_method("fake", WrongSize)))
    assert broken.exit_code == 1
    assert any(line.split()[3:5] == ["shape", "FAIL"] for line in broken.output.splitlines())


def test_check_plugin_cli_rejects_an_option_nobody_declares(cli):
    res = cli("check-plugin", "ikc", "-O", "iteratons=1")
    assert res.exit_code == 2 and "iteratons" in res.output


def test_conformance_fixture_fails_a_broken_plugin(pytester):
    pytester.makepyfile(fakeplug="""
        import torch
        from bsrbench import MethodSpec, Step, hookimpl

        class Wrong:
            def run(self, batch):
                yield Step(sr=batch.lr)  # forgot to upsample

        @hookimpl
        def bsrbench_methods():
            return [MethodSpec("wrong", "s", "p", "MIT", (2,), factory=lambda c: Wrong())]
    """)
    pytester.makeconftest("""
        import pytest
        pytest_plugins = ["bsrbench.plugin_dev.pytest_plugin"]

        @pytest.fixture
        def bsrbench_registry():
            import fakeplug
            from bsrbench.registry import load_registry
            return load_registry(autoload=False, extra=[fakeplug])
    """)
    pytester.makepyfile(test_wrong="""
        def test_wrong(bsrbench_conformance):
            bsrbench_conformance("wrong")

        def test_unknown(bsrbench_conformance):
            bsrbench_conformance("nothing")

        def test_oracle(bsrbench_conformance):
            results = bsrbench_conformance("oracle", scales=[2])
            assert all(r.status == "PASS" for r in results)
    """)
    pytester.syspathinsert()
    result = pytester.runpytest("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*conformance check(s) failed*", "*shape*FAIL*",
                                 "*unknown plugin, method, model, estimator, degradation or "
                                 "metric 'nothing'*"])


@pytest.mark.parametrize("plugins", [["bsrbench.testing"],
                                     ["bsrbench.testing", "bsrbench.plugin_dev.pytest_plugin"]])
def test_conformance_fixture_under_its_former_name(pytester, plugins):
    """Packages generated before bsrbench.plugin_dev enable ``bsrbench.testing``; it still
    works, also beside the new name (the plugin is registered once)."""
    pytester.makeconftest(f"pytest_plugins = {plugins!r}")
    pytester.makepyfile(test_alias="""
        from bsrbench.testing import check_plugin, format_results

        def test_oracle(bsrbench_conformance, bsrbench_registry):
            bsrbench_conformance("oracle", scales=[2])
            assert "PASS" in format_results(check_plugin(bsrbench_registry, "oracle",
                                                         scales=[2]))
    """)
    result = pytester.runpytest("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
