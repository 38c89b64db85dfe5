"""HDF5 test sets: build, cache reuse, grey handling, info and export."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from bsrbench.builtin import gaussian8_sigmas
from bsrbench.datasets import TestSet, describe, export_dataset, resolve_dataset
from bsrbench.errors import InputError, UnknownNameError
from bsrbench.images import read_image


def test_gaussian8_sigmas_match_the_protocol():
    assert np.allclose(gaussian8_sigmas(2), np.linspace(0.80, 1.60, 8))
    assert np.allclose(gaussian8_sigmas(3), np.linspace(1.35, 2.40, 8))
    assert np.allclose(gaussian8_sigmas(4), np.linspace(1.80, 3.20, 8))


def test_build_gaussian8_holds_hr_lr_kernels_and_settings(registry, hr_dir, tmp_path):
    path = resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=4, cache_dir=tmp_path)
    with TestSet(path) as ts:
        assert ts.settings.protocol == "gaussian8" and ts.settings.scale == 4
        assert ts.settings.downsampler == "matlab-bicubic"
        assert ts.names == ["colour", "grey"]
        colour, grey = ts.image("colour"), ts.image("grey")
        assert colour.hr.shape == (48, 40, 3) and colour.lr.shape == (8, 12, 10, 3)
        assert grey.hr.shape == (40, 44, 1) and grey.grey  # scored on its own channel
        assert grey.lr.shape == (8, 10, 11, 3)  # methods see RGB
        assert np.array_equal(grey.lr[..., 0], grey.lr[..., 2])
        assert colour.kernels.shape == (8, 21, 21)
        assert np.allclose(colour.kernels.sum(axis=(1, 2)), 1, atol=1e-5)
        assert np.allclose(colour.params[:, 0], gaussian8_sigmas(4))
        assert ts.verify()
        assert ts.attrs["bsrbench_version"]


def test_dataset_modcrops_hr_to_the_scale(registry, hr_dir, tmp_path):
    path = resolve_dataset(registry, "bicubic", hr=hr_dir, scale=3, cache_dir=tmp_path)
    with TestSet(path) as ts:
        im = ts.image("grey")
        assert im.hr.shape[:2] == (39, 42) and im.lr.shape == (1, 13, 14, 3)
        assert im.kernels is None


def test_dataset_cache_is_reused_and_rebuilt_when_tampered(registry, hr_dir, tmp_path):
    import h5py

    first = resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=2, cache_dir=tmp_path)
    mtime = first.stat().st_mtime_ns
    assert resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=2,
                           cache_dir=tmp_path) == first
    assert first.stat().st_mtime_ns == mtime
    with h5py.File(first, "r+") as f:
        f["images/colour/lr"][0, 0, 0, 0] ^= 1
    with pytest.raises(InputError, match="damaged"):
        TestSet(first)
    again = resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=2, cache_dir=tmp_path)
    with TestSet(again) as ts:
        assert ts.verify()


def test_dataset_settings_change_the_cache_file(registry, hr_dir, tmp_path):
    a = resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=4, cache_dir=tmp_path)
    b = resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=4, cache_dir=tmp_path,
                        downsampler="direct")
    c = resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=4, cache_dir=tmp_path,
                        noise=5.0, seed=1)
    assert len({a, b, c}) == 3
    with TestSet(b) as tb, TestSet(a) as ta:
        assert tb.settings.downsampler == "direct"
        assert not np.array_equal(tb.image("colour").lr, ta.image("colour").lr)


def test_dataset_noise_is_seeded(registry, hr_dir, tmp_path):
    a = resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=4, noise=10, seed=3,
                        cache_dir=tmp_path / "a")
    b = resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=4, noise=10, seed=3,
                        cache_dir=tmp_path / "b")
    with TestSet(a) as ta, TestSet(b) as tb:
        assert ta.content_hash == tb.content_hash


def test_dataset_errors_are_clear(registry, hr_dir, tmp_path):
    with pytest.raises(UnknownNameError, match="did you mean 'gaussian8'"):
        resolve_dataset(registry, "gausian8", hr=hr_dir, cache_dir=tmp_path)
    with pytest.raises(InputError, match="not found"):
        resolve_dataset(registry, str(tmp_path / "missing.h5"))
    with pytest.raises(InputError, match="no scale 5"):
        resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=5, cache_dir=tmp_path)
    with pytest.raises(UnknownNameError, match="degradation"):
        resolve_dataset(registry, "gaussian8", hr=hr_dir, downsampler="nearest",
                        cache_dir=tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        resolve_dataset(registry, "gaussian8", hr=tmp_path / "nope", cache_dir=tmp_path)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="not a readable HDF5"):
        TestSet(junk)


def test_images_alpha_dropped_16bit_scaled_float_rejected(tmp_path, caplog):
    from PIL import Image

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    im = read_image(tmp_path / "a.png")
    assert im.pixels.shape == (8, 8, 3)
    assert "alpha channel dropped" in caplog.text
    grey16 = np.full((8, 8), 257 * 200 + 129, np.uint16)  # 200.5x -> 201 by round(x/257)
    Image.fromarray(grey16).save(tmp_path / "b.png")
    im16 = read_image(tmp_path / "b.png")
    assert im16.grey and int(im16.pixels[0, 0, 0]) == 201
    Image.fromarray(np.zeros((8, 8), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(InputError, match="float or 32-bit"):
        read_image(tmp_path / "f.tif")
    (tmp_path / "c.png").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a readable image"):
        read_image(tmp_path / "c.png")


def test_info_and_export_write_the_conventional_layout(registry, hr_dir, tmp_path):
    path = resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=4, cache_dir=tmp_path)
    info = describe(path)
    assert info["protocol"] == "gaussian8" and info["lr_images"] == 16
    assert len(info["content_hash"]) == 64
    out = tmp_path / "export"
    assert export_dataset(path, out) == 16
    assert (out / "HR" / "colour.png").is_file() and (out / "LR" / "grey_k7.png").is_file()
    k = np.load(out / "kernels" / "colour_k0.npy")
    assert k.shape == (21, 21) and abs(k.sum() - 1) < 1e-5
    with open(out / "settings.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16 and float(rows[0]["sigma1"]) == pytest.approx(1.8)
    assert read_image(out / "HR" / "grey.png").grey


def test_embedded_default_set_is_available_offline():
    from bsrbench.images import EMBEDDED_CROP, embedded_images

    images = embedded_images()
    assert [im.name for im in images] == ["astronaut", "coffee", "chelsea", "rocket"]
    assert all(im.pixels.shape == (EMBEDDED_CROP, EMBEDDED_CROP, 3) for im in images)


def test_per_kernel_noise_levels_are_built_and_recorded(registry, hr_dir, tmp_path):
    """A protocol whose KernelSetting carries its own noise (a MANet/DASR-style grid)."""
    from bsrbench.datasets import build_dataset, dataset_settings
    from bsrbench.specs import KernelSetting, ProtocolSpec

    grid = ProtocolSpec("noisegrid", "test grid", scales=(2,), default_scale=2,
                        kernels=lambda s: (KernelSetting(1.2, 1.2, 0.0, noise=0.0),
                                           KernelSetting(1.2, 1.2, 0.0, noise=25.0)))

    class Stub:
        def __init__(self) -> None:
            self.protocols = {"noisegrid": grid}

        def get(self, kind, name):
            return grid if kind == "protocol" else registry.get(kind, name)

    settings, images = dataset_settings(Stub(), grid, hr=hr_dir, seed=2)
    path = build_dataset(Stub(), settings, images, tmp_path / "g.h5")
    with TestSet(path) as ts:
        im = ts.image("colour")
        assert [im.row_params(k)["noise"] for k in range(2)] == [0.0, 25.0]
        assert not np.array_equal(im.lr[0], im.lr[1])  # same kernel, only the noise differs


@pytest.mark.parametrize("protocol", ["div2krk", "aniso", "dipfkp"])
def test_generator_protocols_take_grey_hr_images(registry, hr_dir, tmp_path, protocol):
    path = resolve_dataset(registry, protocol, hr=hr_dir, scale=2, cache_dir=tmp_path)
    with TestSet(path) as ts:
        grey = ts.image("grey")
        assert grey.grey and grey.lr.shape[-1] == 3
        assert np.array_equal(grey.lr[..., 0], grey.lr[..., 2])
        assert set(grey.row_params(0)) == {"sigma", "sigma2", "theta", "noise", "jpeg",
                                           "kernel_size"}
