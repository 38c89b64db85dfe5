"""A scaffolded metric plugin becomes a results column and a report column; a metric whose
factory refuses does so in one line.

The scaffolded package is loaded from ``tmp_path`` and registered directly (the plugin
manager's ``extra``), as an installed entry point would be, so the environment is never
changed; ``test_scaffold.py`` covers the pip-installed path.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import re
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from bsrbench import MetricSpec, WeightsError, hookimpl
from bsrbench.plugin_dev import create_plugin
from bsrbench.registry import load_registry

NAME = "tinygmsd"


def _load(root: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"bsrbench_{name}", root / f"bsrbench_{name}" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _register(monkeypatch: pytest.MonkeyPatch, *plugins: object) -> None:
    """Every registry built from now on (the CLI's, the report's) includes ``plugins``."""
    import bsrbench.registry as registry_module

    real = registry_module.get_plugin_manager

    def with_plugins(*, autoload=None, extra=()):
        return real(autoload=autoload, extra=[*extra, *plugins])

    monkeypatch.setattr(registry_module, "get_plugin_manager", with_plugins)


@pytest.fixture
def scaffolded(tmp_path, monkeypatch) -> types.ModuleType:
    plugin = _load(create_plugin(NAME, "metric", tmp_path / "plugins"), NAME)
    _register(monkeypatch, plugin)
    monkeypatch.setenv("BSRBENCH_CACHE", str(tmp_path / "cache"))
    return plugin


def test_metric_e2e_scaffolded_metric_is_registered(scaffolded):
    spec = load_registry().get("metric", NAME)
    assert not spec.higher_better and not spec.default  # scored only when selected


def test_metric_e2e_scaffolded_metric_is_a_results_and_report_column(scaffolded, hr_dir,
                                                                      tmp_path):
    from bsrbench.cli import main

    out = tmp_path / "run"
    res = CliRunner().invoke(main, [
        "run", "--method", "bicubic", "--dataset", "gaussian8", "--hr", str(hr_dir),
        "--scale", "2", "--out", str(out), "--metrics", f"psnr,ssim,{NAME}", "-q"])
    assert res.exit_code == 0, res.output
    with open(out / "results.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert {"psnr", "ssim", NAME} <= set(reader.fieldnames)
    assert len(rows) == 2 * 8  # two HR images, the eight Gaussian8 kernels
    values = [float(r[NAME]) for r in rows]
    # GMSD is a standard deviation of similarities in [0, 1]; bicubic SR is never exact
    assert all(math.isfinite(v) and 0 < v < 0.5 for v in values), values
    html = (out / "report.html").read_text()
    headers = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th\b[^>]*>(.*?)</th>", html)]
    assert any(NAME in h.lower() for h in headers), headers


def _refusing_plugin() -> types.ModuleType:
    def factory():
        raise WeightsError("fakelpips needs fakelpips_alex.safetensors in ~/.cache/fakelpips: "
                           "download it from the release page")

    mod = types.ModuleType("fakelpips_plugin")
    mod.bsrbench_metrics = hookimpl(lambda: [
        MetricSpec("fakelpips", "an LPIPS-style metric without its weights", factory=factory,
                   higher_better=False, default=False)])
    return mod


def test_metric_e2e_refusing_factory_is_one_line_at_the_registry():
    reg = load_registry(autoload=False, extra=[_refusing_plugin()])
    spec = reg.get("metric", "fakelpips")  # registering it needs no weights
    with pytest.raises(WeightsError) as info:
        spec.build()
    assert str(info.value).count("\n") == 0
    assert "fakelpips_alex.safetensors" in str(info.value)


def test_metric_e2e_refusing_factory_stops_the_run_in_one_line(monkeypatch, hr_dir, tmp_path):
    from bsrbench.cli import main

    _register(monkeypatch, _refusing_plugin())
    monkeypatch.setenv("BSRBENCH_CACHE", str(tmp_path / "cache"))
    res = CliRunner().invoke(main, [
        "run", "--method", "bicubic", "--dataset", "gaussian8", "--hr", str(hr_dir),
        "--scale", "2", "--out", str(tmp_path / "run"), "--metrics", "psnr,fakelpips", "-q"])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and res.output.strip().count("\n") == 0
    assert "fakelpips_alex.safetensors" in res.output
