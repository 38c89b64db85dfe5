"""The metric checks: registered metrics pass, deliberately broken ones fail their check,
and a factory's refusal skips the checks with its one line."""

from __future__ import annotations

import types

import click
import pytest
import torch
from click.testing import CliRunner

from bsrbench import InputError, MetricSpec, WeightsError, hookimpl
from bsrbench.plugin_dev import FAIL, PASS, SKIP, check_metric, check_plugin, format_results
from bsrbench.plugin_dev.pytest_plugin import assert_conformance
from bsrbench.registry import load_registry


def _registered_metrics() -> list[str]:
    return load_registry().list("metric")


@pytest.mark.parametrize("name", _registered_metrics())
def test_metric_conformance_registered(registry, name):
    results = assert_conformance(check_metric(registry, name))
    assert {r.status for r in results} == {PASS}, format_results(results)


def _mse(x, y):
    return ((x - y) ** 2).mean(dim=(1, 2, 3))


def _plugin(*specs: MetricSpec) -> types.ModuleType:
    mod = types.ModuleType("fakemetrics")
    mod.bsrbench_metrics = hookimpl(lambda: list(specs))
    return mod


def _check(spec: MetricSpec):
    reg = load_registry(autoload=False, extra=[_plugin(spec)])
    return check_metric(reg, spec.name)


def _failed(results) -> set[str]:
    return {r.check for r in results if r.status == FAIL}


def _unshuffle(x):
    return torch.nn.functional.pixel_unshuffle(x, 2)  # needs even sizes


def _mutates(x, y):
    x -= y  # in place: the next metric would score a difference image
    return x.abs().mean(dim=(1, 2, 3))


class _Counter:
    calls = 0

    def __call__(self, x, y):
        self.calls += 1  # state that survives torch.manual_seed
        return _mse(x, y) + self.calls


BROKEN = {
    "scalar": (lambda x, y: _mse(x, y).mean(), "shape"),
    "integer": (lambda x, y: _mse(x, y).round().long(), "dtype"),
    "nan": (lambda x, y: _mse(x, y) * float("nan"), "finite"),
    "numpy": (lambda x, y: _mse(x, y).numpy(), "run"),
    "inplace": (_mutates, "inputs"),
    "stateful": (_Counter(), "deterministic"),
    "batchnorm": (lambda x, y: _mse(x, y) / _mse(x, y).mean(), "batch"),
    "even-only": (lambda x, y: _mse(_unshuffle(x), _unshuffle(y)), "odd-size"),
    "luma-only": (lambda x, y: ((x - y).squeeze(1) ** 2).mean(dim=(1, 2)), "channels"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_metric_conformance_broken_metric_fails_its_check(kind):
    fn, check = BROKEN[kind]
    results = _check(MetricSpec("fake", "a fake", fn, higher_better=False))
    assert check in _failed(results), format_results(results)


def test_metric_conformance_mse_passes_every_check():
    results = _check(MetricSpec("fake", "mean squared error", _mse, higher_better=False))
    assert {r.status for r in results} == {PASS}, format_results(results)
    assert {r.check for r in results} >= {"identical", "batch", "odd-size", "channels"}


def test_metric_conformance_wrong_direction_fails_identical():
    results = _check(MetricSpec("fake", "mean squared error", _mse, higher_better=True))
    assert _failed(results) == {"identical"}, format_results(results)
    detail = next(r.detail for r in results if r.check == "identical")
    assert "is higher_better right?" in detail


def test_metric_conformance_metadata_needs_one_of_fn_and_factory():
    both = _check(MetricSpec("fake", "s", _mse, higher_better=False, factory=lambda: _mse))
    assert "metadata" in _failed(both)
    neither = _check(MetricSpec("fake", "s"))
    assert {"metadata", "build"} <= _failed(neither)


def _refuse() -> None:
    raise WeightsError("fakelpips needs fakelpips_alex.safetensors in ~/.cache/fakelpips: "
                       "download it from the release page")


def test_metric_conformance_one_line_refusal_skips_with_that_line():
    results = _check(MetricSpec("fakelpips", "s", factory=_refuse, higher_better=False))
    assert {r.status for r in results if r.check != "metadata"} == {SKIP}
    assert {r.detail for r in results if r.status == SKIP} == {
        "the factory refused: fakelpips needs fakelpips_alex.safetensors in "
        "~/.cache/fakelpips: download it from the release page"}
    with pytest.raises(pytest.skip.Exception, match=r"fakelpips_alex\.safetensors"):
        assert_conformance(results)


def test_metric_conformance_multi_line_refusal_or_crash_fails_build():
    def multi() -> None:
        raise InputError("no weights\nsee the docs")

    def crash() -> None:
        raise RuntimeError("CUDA out of memory")

    for factory in (multi, crash):
        results = _check(MetricSpec("fake", "s", factory=factory))
        assert _failed(results) == {"build"}, format_results(results)
        assert {r.status for r in results if r.check not in ("metadata", "build")} == {SKIP}


def test_metric_conformance_unavailable_device_is_skipped():
    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    reg = load_registry(autoload=False, extra=[_plugin(MetricSpec("fake", "s", _mse))])
    results = check_metric(reg, "fake", device="cuda:7")
    assert all(r.status == SKIP and "not available" in r.detail
               for r in results if r.check != "metadata")


def test_check_plugin_finds_metrics_by_name_and_by_plugin(registry):
    assert {r.target for r in check_plugin(registry, "psnr")} == {"psnr"}
    core = check_plugin(registry, "bsrbench", scales=[2])
    assert {("metric", "psnr"), ("metric", "ssim")} <= {(r.kind, r.target) for r in core}


def test_check_plugin_cli_checks_a_metric(monkeypatch):
    from bsrbench.cli.plugins import register

    group = click.Group("bsrbench")
    register(group)
    broken = MetricSpec("fake", "s", lambda x, y: _mse(x, y).mean())
    monkeypatch.setattr("bsrbench.registry.load_registry",
                        lambda: load_registry(autoload=False, extra=[_plugin(broken)]))
    res = CliRunner().invoke(group, ["check-plugin", "fake"])
    assert res.exit_code == 1, res.output
    assert any(line.split()[3:5] == ["shape", "FAIL"] for line in res.output.splitlines())
    monkeypatch.setattr("bsrbench.registry.load_registry", lambda: load_registry(
        autoload=False, extra=[_plugin(MetricSpec("fakelpips", "s", factory=_refuse))]))
    res = CliRunner().invoke(group, ["check-plugin", "fakelpips"])
    assert res.exit_code == 0, res.output
    assert "the factory refused: fakelpips needs" in res.output and "0 failed" in res.output
