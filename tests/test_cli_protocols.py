"""The protocols from the command line: datasets list, --jpeg and --draws in run and
datasets build, export-draws round trip, per-LR parameters in results.csv."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from bsrbench.cli import main


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BSRBENCH_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args])


@pytest.fixture
def big_hr(tmp_path):
    """Two 96x88 HR images (div2krk and aniso need room for their kernels)."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "hr96"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        y, x = np.mgrid[0:96, 0:88]
        img = 127 + 60 * np.sin(x / (3.0 + i)) * np.cos(y / 5.0)
        rgb = np.stack([img, img[::-1], img[:, ::-1]], axis=2) + rng.normal(0, 6, (96, 88, 3))
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(folder / f"im{i}.png")
    return folder


def test_datasets_list_names_every_protocol(cli):
    res = cli("datasets", "list")
    assert res.exit_code == 0, res.output
    for name in ("gaussian8", "bicubic", "div2krk", "aniso", "manet9", "dasr9",
                 "div2krk-release"):
        assert name in res.output


def test_run_with_jpeg_records_the_quality_and_anisotropic_parameters(cli, big_hr, tmp_path):
    res = cli("run", "-m", "bicubic", "-d", "aniso", "--hr", big_hr, "--scale", "4",
              "--jpeg", "30", "-o", "r", "-q")
    assert res.exit_code == 0, res.output
    with open(tmp_path / "r" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and {r["jpeg"] for r in rows} == {"30"}
    assert all(float(r["sigma"]) > 0 and r["sigma2"] != "" and r["kernel_size"] == "21"
               for r in rows)


def test_export_draws_then_build_from_them_gives_the_same_set(cli, big_hr, tmp_path):
    res = cli("datasets", "build", "div2krk", "--hr", big_hr, "--scale", "2", "--seed", "3",
              "--out", "a.h5")
    assert res.exit_code == 0, res.output
    res = cli("datasets", "export-draws", "a.h5", "drawsdir")
    assert res.exit_code == 0, res.output
    draws = res.output.strip().splitlines()[-1]
    res = cli("datasets", "build", "div2krk", "--hr", big_hr, "--scale", "2", "--draws",
              draws, "--out", "b.h5")
    assert res.exit_code == 0, res.output
    info_a = cli("datasets", "info", "a.h5").output
    info_b = cli("datasets", "info", "b.h5").output
    hash_a = next(ln for ln in info_a.splitlines() if ln.startswith("content_hash"))
    hash_b = next(ln for ln in info_b.splitlines() if ln.startswith("content_hash"))
    assert hash_a == hash_b


def test_jpeg_out_of_range_and_missing_draws_are_one_line(cli, big_hr):
    for args in (("--jpeg", "0"), ("--draws", "nope.json")):
        res = cli("run", "-m", "bicubic", "-d", "aniso", "--hr", big_hr, *args, "-q")
        assert res.exit_code == 2 and res.output.startswith("error: ")
        assert res.output.strip().count("\n") == 0
