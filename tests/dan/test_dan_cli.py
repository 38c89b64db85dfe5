"""DANv1/DANv2 from the command line and under the conformance suite, with the seeded
golden weights written as upstream checkpoints (their PSNR is meaningless: the weights
are random; what is tested is the plumbing and per-iteration rows)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from dan_helpers import load_golden, write_checkpoint
from PIL import Image

from bsrbench.cli import main
from bsrbench.plugin_dev import check_plugin
from bsrbench.plugin_dev.conformance import FAIL


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for v in (1, 2):
        write_checkpoint(load_golden(f"golden_danv{v}_x4_s1.pt")["state_dict"],
                         folder / f"danv{v}_x4_setting1.pth")
    return folder


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BSRBENCH_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args])


def _hr(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:32, 0:40]
    base = 128 + 60 * np.sin(x / 4.0) * np.cos(y / 6.0)
    img = np.stack([base, base[::-1], base[:, ::-1]], axis=2) + rng.normal(0, 6, (32, 40, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / "tiny.png")
    return folder


@pytest.mark.parametrize("method", ["danv1", "danv2"])
def test_dan_run_from_cli_scores_every_iteration(cli, weights: Path, tmp_path: Path,
                                                 method: str) -> None:
    res = cli("run", "-m", method, "--weights", weights / f"{method}_x4_setting1.pth",
              "--dataset", "gaussian8", "--hr", _hr(tmp_path), "--scale", 4, "--out", "r", "-q")
    assert res.exit_code == 0, res.output
    with open(tmp_path / "r" / "results.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["method"] == method]
    assert len(rows) == 8 * 4  # 8 Gaussian8 kernels x 4 loop iterations
    for kernel_index in range(8):
        mine = sorted((r for r in rows if r["kernel_index"] == str(kernel_index)),
                      key=lambda r: int(r["step"]))
        assert [r["step"] for r in mine] == ["0", "1", "2", "3"]
        assert [r["is_final"] for r in mine] == ["False", "False", "False", "True"]
        assert all(r["kernel_psnr"] and r["code_l2"] and not r["error"] for r in mine)


def test_dan_run_without_weights_is_one_line_exit_2(cli, tmp_path: Path) -> None:
    """The core refuses before building anything (weights_available is False); the
    factory's own message, naming the file and where upstream publishes it, is tested in
    test_dan_weights."""
    res = cli("run", "-m", "danv1", "--dataset", "gaussian8", "--hr", _hr(tmp_path),
              "--scale", 4, "--out", "r", "-q")
    assert res.exit_code == 2, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "danv1" in errors[0] and "--weights" in errors[0]


def test_dan_plugin_conformance_with_golden_weights(registry, weights: Path) -> None:
    results = check_plugin(registry, "dan", scales=[4], weights=weights)
    failed = [r for r in results if r.status == FAIL]
    assert not failed, failed
    assert {r.target for r in results} >= {"danv1", "danv2"}
    assert sum(r.check == "batch" and r.status != "SKIP" for r in results) == 4  # all ran
