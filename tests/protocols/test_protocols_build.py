"""Building generator protocols into HDF5: seeds, draws files, row parameters, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shared_bundle import shared_dir

from bsrbench.datasets import TestSet, build_dataset, dataset_settings, describe, resolve_dataset
from bsrbench.errors import InputError

ROW_KEYS = {"sigma", "sigma2", "theta", "noise", "jpeg", "kernel_size"}


@pytest.fixture
def crops(tmp_path: Path) -> Path:
    """The goldens' two 96x96 HR crops as an HR folder."""
    ref = shared_dir("reference", "protocols", "hr")
    folder = tmp_path / "crops"
    folder.mkdir()
    for name in ("crop_A", "crop_B"):
        shutil.copy(ref / f"{name}.png", folder / f"{name}.png")
    return folder


def _draws_file(tmp_path: Path, scale: int) -> Path:
    """A draws file pointing at the goldens' DIV2KRK records (absolute .npy paths)."""
    ref = shared_dir("reference", "protocols", "div2krk")
    tag = "x2" if scale == 2 else "x4_intermediate_x2"
    images = {}
    for crop, case in (("crop_A", "case_A_seed0"), ("crop_B", "case_B_seed1")):
        rec = dict(json.loads((ref / case / "params.json").read_text())["kernels"][tag])
        rec["noise_field_file"] = str(ref / case / rec["noise_field_file"].split()[0])
        images[crop] = [rec]
    path = tmp_path / f"draws_x{scale}.json"
    path.write_text(json.dumps({"protocol": "div2krk", "scale": scale, "images": images}))
    return path


@pytest.mark.parametrize("scale", [2, 4])
def test_div2krk_rebuilt_from_draws_matches_the_goldens(registry, crops, tmp_path, scale):
    ref = shared_dir("reference", "protocols", "div2krk")
    draws = _draws_file(tmp_path, scale)
    settings, images = dataset_settings(registry, registry.protocols["div2krk"], hr=crops,
                                        scale=scale, draws=draws)
    path = build_dataset(registry, settings, images, tmp_path / "d.h5", draws=draws)
    name = "x2" if scale == 2 else "x4"
    with TestSet(path) as ts:
        assert ts.settings.downsampler == "kernelgan-notebook"
        for crop, case in (("crop_A", "case_A_seed0"), ("crop_B", "case_B_seed1")):
            im = ts.image(crop)
            want = np.asarray(Image.open(ref / case / f"lr_{name}.png").convert("RGB"))
            assert np.array_equal(im.lr[0], want)
            assert im.kernels.shape == ((1, 11, 11) if scale == 2 else (1, 31, 31))
            row = im.row_params(0)
            assert set(row) == ROW_KEYS and row["jpeg"] is None
            assert row["kernel_size"] == im.kernels.shape[-1]
            assert im.draws[0]["noise_field"].shape == (11, 11)  # every draw is stored
    info = describe(path)
    assert "lambda" in info["kernel_params"] and "sigma2=" in info["image crop_A"]


def test_generator_seed_fixes_the_content_hash(registry, crops, tmp_path):
    def build(seed: int, sub: str) -> str:
        path = resolve_dataset(registry, "aniso", hr=crops, scale=2, seed=seed,
                               cache_dir=tmp_path / sub)
        with TestSet(path) as ts:
            return ts.content_hash

    assert build(3, "a") == build(3, "b")
    assert build(3, "a") != build(4, "c")


def test_dcls_x4_kernel_size_and_jpeg_quality_are_recorded(registry, crops, tmp_path):
    """DCLS's 31x31 kernels at x4, and the JPEG stage recorded per LR image."""
    path = resolve_dataset(registry, "aniso-dcls", hr=crops, scale=4, jpeg=40,
                           cache_dir=tmp_path)
    with TestSet(path) as ts:
        im = ts.image("crop_A")
        assert im.kernels.shape == (1, 31, 31) and int(im.jpeg[0]) == 40
        assert im.row_params(0)["jpeg"] == 40 and ts.settings.jpeg == 40


def test_bad_draws_files_are_one_line_errors(registry, crops, tmp_path):
    protocol = registry.protocols["div2krk"]
    bad = tmp_path / "bad.json"
    cases = {
        "not valid JSON": "{",
        "needs an \"images\" object": json.dumps({"images": []}),
        "has no draws for HR image 'crop_B'": json.dumps(
            {"images": {"crop_A": [{"lambda_1": 1, "lambda_2": 1, "theta": 0,
                                    "noise_field_file": "x.npy"}]}}),
    }
    for message, text in cases.items():
        bad.write_text(text)
        with pytest.raises(InputError, match=message) as err:
            settings, images = dataset_settings(registry, protocol, hr=crops, scale=2,
                                                draws=bad)
            build_dataset(registry, settings, images, tmp_path / "o.h5", draws=bad)
        assert "\n" not in str(err.value) and "bad.json" in str(err.value)
    rec = {"lambda_1": "big", "lambda_2": 1, "theta": 0, "noise_field_file": "x.npy"}
    bad.write_text(json.dumps({"images": {"crop_A": rec, "crop_B": rec}}))
    with pytest.raises(InputError, match="number 'lambda_1'"):
        settings, images = dataset_settings(registry, protocol, hr=crops, scale=2, draws=bad)
        build_dataset(registry, settings, images, tmp_path / "o.h5", draws=bad)
    assert not list(tmp_path.glob("o.h5*"))  # nothing half-written


def test_generator_protocols_refuse_a_downsampler(registry, crops, tmp_path):
    with pytest.raises(InputError, match="own downsampling pipeline"):
        resolve_dataset(registry, "div2krk", hr=crops, downsampler="direct",
                        cache_dir=tmp_path)


def test_manet9_and_dasr9_record_nine_kernels_with_noise(registry, crops, tmp_path):
    manet = resolve_dataset(registry, "manet9", hr=crops, cache_dir=tmp_path)
    dasr = resolve_dataset(registry, "dasr9", hr=crops, noise=5, seed=1, cache_dir=tmp_path)
    with TestSet(manet) as tm, TestSet(dasr) as td:
        m, d = tm.image("crop_A"), td.image("crop_A")
        assert m.lr.shape == (9, 24, 24, 3) and d.kernels.shape == (9, 21, 21)
        assert {m.row_params(k)["noise"] for k in range(9)} == {15.0}
        assert d.row_params(3)["theta"] == pytest.approx(np.pi / 4)
        assert d.draws[0]["noise_field"].shape == (1, 3, 24, 24)
    with pytest.raises(InputError, match="manet9 is MANet's noise-15 set"):
        resolve_dataset(registry, "manet9", hr=crops, noise=5, cache_dir=tmp_path)


@pytest.mark.parametrize(("protocol", "scale", "noise"), [
    ("div2krk", 4, None), ("div2krk-native", 2, None), ("aniso", 2, 5.0), ("manet9", 4, None),
    ("dasr9", 4, 10.0), ("dipfkp", 2, 5.0)])
def test_a_set_rebuilt_from_its_exported_draws_is_identical(registry, crops, tmp_path,
                                                            protocol, scale, noise):
    from bsrbench.datasets import export_draws

    first = resolve_dataset(registry, protocol, hr=crops, scale=scale, noise=noise, seed=7,
                            cache_dir=tmp_path / "a")
    draws = export_draws(first, tmp_path / "draws")
    again = resolve_dataset(registry, protocol, hr=crops, scale=scale, noise=noise,
                            draws=draws, cache_dir=tmp_path / "b")
    with TestSet(first) as a, TestSet(again) as b:
        assert b.settings.draws and a.settings.draws is None
        assert a.content_hash == b.content_hash
        assert np.array_equal(a.image("crop_B").lr, b.image("crop_B").lr)


def test_export_draws_refuses_a_set_without_draws(registry, crops, tmp_path):
    from bsrbench.datasets import export_draws

    path = resolve_dataset(registry, "gaussian8", hr=crops, scale=4, cache_dir=tmp_path)
    with pytest.raises(InputError, match="no recorded draws"):
        export_draws(path, tmp_path / "d")


def test_describe_protocols_lists_every_protocol_without_torch(registry):
    import subprocess
    import sys

    from bsrbench.datasets import describe_protocols

    rows = {r["name"]: r for r in describe_protocols(registry)}
    assert {"div2krk", "aniso", "manet9", "dasr9", "dipfkp", "div2krk-release",
            "gaussian8"} <= set(rows)
    assert rows["manet9"]["lr_per_hr"] == 9 and rows["gaussian8"]["lr_per_hr"] == 8
    assert rows["div2krk"]["kernel_size"] == 31 and rows["div2krk"]["pipeline"] == \
        "kernelgan-notebook"
    assert all(r["summary"] for r in rows.values())
    code = ("import sys\nfrom bsrbench.registry import load_registry\n"
            "from bsrbench.datasets import describe_protocols\n"
            "describe_protocols(load_registry())\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
