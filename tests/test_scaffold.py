"""``bsrbench new-plugin``: names, refusals, and a generated package that installs, lists,
benchmarks and passes its own tests.

The generated packages are installed with ``pip install --target`` into a temporary
folder and used through ``PYTHONPATH``, so the main environment is never changed:
``importlib.metadata`` finds their entry points in the dist-info folders there.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bsrbench.errors import InputError
from bsrbench.plugin_dev import KINDS, create_plugin

PACKAGES = {"method": "tinysr", "estimator": "tinyest", "degradation": "tinyarea",
            "metric": "tinygmsd"}


def plugin_env(site: Path, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BSRBENCH_DISABLE", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env["BSRBENCH_CACHE"] = str(tmp / "cache")
    return env


def pip_install_target(packages: list[Path], site: Path) -> None:
    """Install packages into ``site`` only (no deps, no index, the venv's setuptools)."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                    "--no-build-isolation", "--disable-pip-version-check", "-q",
                    "--target", str(site), *map(str, packages)],
                   check=True, capture_output=True, text=True, timeout=300)


def bsrbench(env: dict[str, str], cwd: Path, *args: object) -> subprocess.CompletedProcess:
    """Run the ``bsrbench`` CLI in a subprocess (with new-plugin/check-plugin registered)."""
    code = ("from bsrbench.cli import main\n"
            "from bsrbench.cli.plugins import register\n"
            "if 'check-plugin' not in main.commands: register(main)\n"
            "main()")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def cli(tmp_path):
    from bsrbench.cli.plugins import register

    group = click.Group("bsrbench")
    register(group)
    return lambda *args: CliRunner().invoke(group, [str(a) for a in args])


@pytest.mark.parametrize("name", ["MySR", "my-sr", "1sr", "my sr", "class", "bsr.x", ""])
def test_scaffold_invalid_name_is_one_line_exit_2(cli, tmp_path, name):
    res = cli("new-plugin", name, "--dir", tmp_path)
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and res.output.strip().count("\n") == 0
    assert "lowercase identifier" in res.output
    assert list(tmp_path.iterdir()) == []


def test_scaffold_refuses_to_overwrite(cli, tmp_path):
    first = cli("new-plugin", "mysr", "--dir", tmp_path)
    assert first.exit_code == 0, first.output
    init = tmp_path / "bsrbench-mysr" / "bsrbench_mysr" / "__init__.py"
    init.write_text("# edited\n")
    again = cli("new-plugin", "mysr", "--kind", "estimator", "--dir", tmp_path)
    assert again.exit_code == 2 and "already exists" in again.output
    assert init.read_text() == "# edited\n"


def test_scaffold_refuses_a_registered_name(cli, tmp_path):
    res = cli("new-plugin", "bicubic", "--dir", tmp_path)
    assert res.exit_code == 2 and "already registered" in res.output
    with pytest.raises(InputError, match="unknown plugin kind"):
        create_plugin("fine", "model", tmp_path)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_scaffold_writes_a_complete_package(tmp_path, kind):
    root = create_plugin("mine", kind, tmp_path)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["README.md", "bsrbench_mine/__init__.py", "pyproject.toml",
                     "tests/conftest.py", "tests/test_mine.py"]
    pyproject = (root / "pyproject.toml").read_text()
    assert 'name = "bsrbench-mine"' in pyproject
    assert '[project.entry-points.bsrbench]\nmine = "bsrbench_mine"' in pyproject
    conftest = (root / "tests/conftest.py").read_text()
    assert 'pytest_plugins = ["bsrbench.plugin_dev.pytest_plugin"]' in conftest
    for path in root.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "$" not in text, path  # every template variable was substituted
            if path.suffix == ".py":
                compile(text, str(path), "exec")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """One package of each kind, scaffolded and installed into a --target folder."""
    tmp = tmp_path_factory.mktemp("plugins")
    t0 = time.perf_counter()
    roots = {kind: create_plugin(name, kind, tmp) for kind, name in PACKAGES.items()}
    pip_install_target(list(roots.values()), tmp / "site")
    return tmp, roots, time.perf_counter() - t0


@pytest.mark.slow
def test_scaffold_method_is_listed_and_benchmarked(installed, hr_dir, tmp_path):
    tmp, _, setup_s = installed
    env = plugin_env(tmp / "site", tmp_path)
    t0 = time.perf_counter()
    methods = bsrbench(env, tmp_path, "methods")
    assert methods.returncode == 0, methods.stderr
    assert "tinysr" in methods.stdout and "tinyest" in methods.stdout
    assert "-O amount=0.5" in methods.stdout
    run = bsrbench(env, tmp_path, "run", "--method", "tinysr", "--dataset", "gaussian8",
                   "--hr", hr_dir, "--out", tmp_path / "r", "-q", "-O", "amount=0.8")
    assert run.returncode == 0, run.stderr
    with open(tmp_path / "r" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 8 and {r["method"] for r in rows} == {"tinysr"}
    assert all(r["error"] == "" and float(r["psnr"]) > 10 for r in rows)
    print(f"scaffold + install {setup_s:.1f}s, methods + run {time.perf_counter() - t0:.1f}s")


@pytest.mark.slow
def test_scaffold_generated_tests_pass(installed, tmp_path):
    tmp, roots, _ = installed
    method = roots["method"]
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", ".",
                          *(str(r) for k, r in roots.items() if k != "method")],
                         cwd=method, env=plugin_env(tmp / "site", tmp_path),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "12 passed" in res.stdout  # three tests per package, conformance included


def _load_generated(root: Path, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"bsrbench_{name}", root / f"bsrbench_{name}" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scaffold_degradation_is_usable_as_downsampler(tmp_path, hr_dir, monkeypatch):
    from bsrbench.cli import main
    from bsrbench.registry import load_registry

    plugin = _load_generated(create_plugin("tinyarea", "degradation", tmp_path), "tinyarea")
    monkeypatch.setattr("bsrbench.registry.load_registry",
                        lambda: load_registry(extra=[plugin]))
    monkeypatch.setenv("BSRBENCH_CACHE", str(tmp_path / "cache"))
    res = CliRunner().invoke(main, ["datasets", "build", "gaussian8", "--hr", str(hr_dir),
                                    "--downsampler", "tinyarea", "--out", str(tmp_path / "a.h5")])
    assert res.exit_code == 0, res.output


def test_scaffold_metric_passes_the_metric_checks(tmp_path):
    from bsrbench.plugin_dev import PASS, check_plugin, format_results
    from bsrbench.registry import load_registry

    plugin = _load_generated(create_plugin("tinygmsd", "metric", tmp_path), "tinygmsd")
    reg = load_registry(extra=[plugin])
    spec = reg.get("metric", "tinygmsd")
    assert spec.factory is not None and spec.fn is None and not spec.higher_better
    results = check_plugin(reg, "bsrbench_tinygmsd")  # the plugin, as registered directly
    assert {(r.kind, r.target) for r in results} == {("metric", "tinygmsd")}
    assert {r.status for r in results} == {PASS}, format_results(results)
