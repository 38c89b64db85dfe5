"""Executors without Ray: the settings, the install hint when Ray is missing, and the
local executor (the sweep's behaviour before executors existed)."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from bsrbench.cli import main
from bsrbench.errors import InputError
from bsrbench.executors import ExecutorConfig, make_executor
from bsrbench.executors.local import LocalExecutor
from bsrbench.results import read_table
from bsrbench.sweep import SweepConfig, run_sweep


def test_executor_config_refuses_unknown_names_and_a_stray_address():
    with pytest.raises(InputError, match="unknown executor 'slurm'"):
        ExecutorConfig("slurm")
    with pytest.raises(InputError, match="--ray-address needs --executor ray"):
        ExecutorConfig("local", ray_address="auto")
    assert isinstance(make_executor(ExecutorConfig()), LocalExecutor)


def test_sweep_config_reads_executor_keys_from_toml(tmp_path):
    toml = tmp_path / "sweep.toml"
    toml.write_text('methods = "bicubic"\ndatasets = "gaussian8"\nexecutor = "ray"\n'
                    'ray_address = "127.0.0.1:6379"\n')
    cfg = SweepConfig.from_sources(toml, {}, {})
    assert (cfg.executor, cfg.ray_address) == ("ray", "127.0.0.1:6379")
    assert cfg.executor_config.ray_address == "127.0.0.1:6379"
    toml.write_text('methods = "bicubic"\ndatasets = "gaussian8"\nexecutor = 1\n')
    with pytest.raises(InputError, match="executor must be str"):
        SweepConfig.from_sources(toml, {}, {})


def test_executor_ray_without_ray_is_one_line_with_the_install_hint(monkeypatch, tmp_path,
                                                                    hr_dir):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "-m", "bicubic", "-d", "gaussian8", "--hr",
                                       str(hr_dir), "--cache-dir", str(tmp_path / "c"),
                                       "--out", str(out), "--executor", "ray", "-q"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "pip install bsrbench[ray]" in lines[0]
    assert not out.exists()  # refused before any work


def test_local_executor_runs_every_task_into_one_folder(registry, hr_dir, tmp_path):
    cfg = SweepConfig(("bicubic",), ("gaussian8", "bicubic"), hr=(str(hr_dir),),
                      out=tmp_path / "run", cache_dir=tmp_path / "c", metrics=("psnr",))
    result = run_sweep(cfg, registry, quiet=True)
    rows = read_table(result.results).rows
    assert result.failed == 0
    # 2 HR images: 8 Gaussian8 kernels each, and 1 LR each for the bicubic protocol
    assert sorted({r["dataset"] for r in rows}) == ["bicubic/hr", "gaussian8/hr"]
    assert len(rows) == 2 * 8 + 2
