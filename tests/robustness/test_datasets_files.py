"""Damaged, incomplete and foreign test-set files: bounded, one-line failures (issue #16)."""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from bsrbench.datasets import TestSet, describe, export_dataset, open_dataset, resolve_dataset
from bsrbench.errors import InputError


@pytest.fixture
def built(registry, hr_dir: Path, tmp_path: Path) -> Path:
    return resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=4, cache_dir=tmp_path / "c")


def _legacy_copy(src: Path, dst: Path) -> Path:
    """The same set written without the userblock checksum (files from before it)."""
    with h5py.File(src, "r") as a, h5py.File(dst, "w") as b:
        b.attrs.update(dict(a.attrs))
        a.copy("images", b)
    return dst


def _one_line(exc: pytest.ExceptionInfo, path: Path) -> None:
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


def test_zeroed_tail_is_refused_before_h5py_reads_it(built: Path, tmp_path: Path) -> None:
    bad = tmp_path / "user.h5"
    data = bytearray(built.read_bytes())
    data[-4096:] = bytes(4096)
    bad.write_bytes(bytes(data))
    start = time.perf_counter()
    with pytest.raises(InputError, match="damaged") as exc:
        open_dataset(bad)
    assert time.perf_counter() - start < 5
    _one_line(exc, bad)


def test_damaged_cache_file_is_rebuilt(registry, hr_dir: Path, built: Path) -> None:
    data = bytearray(built.read_bytes())
    data[-4096:] = bytes(4096)
    built.write_bytes(bytes(data))
    again = resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=4, cache_dir=built.parent)
    assert again == built
    with TestSet(again) as ts:
        assert ts.verify()


def test_corrupted_pixels_in_a_user_file_are_never_scored(built: Path, tmp_path: Path) -> None:
    for legacy in (False, True):
        user = tmp_path / f"user{int(legacy)}.h5"
        if legacy:
            _legacy_copy(built, user)
        else:
            user.write_bytes(built.read_bytes())
        with h5py.File(user, "r+") as f:  # flips one LR value, keeps the file valid HDF5
            f["images/colour/lr"][3, 2, 1, 0] ^= 0x10
        with pytest.raises(InputError, match="damaged") as exc:
            resolve_dataset(None, str(user))  # type: ignore[arg-type]
        _one_line(exc, user)


def test_legacy_file_without_checksum_still_opens(built: Path, tmp_path: Path) -> None:
    user = _legacy_copy(built, tmp_path / "old.h5")
    with TestSet(user) as ts:
        assert ts.verify() and len(ts) == 2


def test_file_without_lr_is_one_line_error_everywhere(built: Path, tmp_path: Path,
                                                      registry, hr_dir: Path) -> None:
    user = _legacy_copy(built, tmp_path / "nolr.h5")
    with h5py.File(user, "r+") as f:
        del f["images/grey/lr"]
    for call in (open_dataset, describe, lambda p: export_dataset(p, tmp_path / "x")):
        with pytest.raises(InputError, match="missing images/grey/lr") as exc:
            call(user)
        _one_line(exc, user)
    # as a cache file it is simply rebuilt
    cached = built
    with h5py.File(cached, "r+") as f:
        del f["images/grey/lr"]
    again = resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=4, cache_dir=built.parent)
    with TestSet(again) as ts:
        assert ts.image("grey").lr.shape[0] == 8


def test_build_options_with_a_file_are_refused(built: Path, hr_dir: Path) -> None:
    with pytest.raises(InputError, match="--hr cannot be used"):
        resolve_dataset(None, str(built), hr=hr_dir)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="--downsampler direct contradicts"):
        resolve_dataset(None, str(built), downsampler="direct")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="--jpeg cannot be used"):
        resolve_dataset(None, str(built), jpeg=50)  # type: ignore[arg-type]
    # the file's own settings (what the CLI passes by default) are accepted
    assert resolve_dataset(None, str(built), downsampler="matlab-bicubic",  # type: ignore[arg-type]
                           noise=0.0, seed=0) == built


def test_failed_build_leaves_nothing_half_written(registry, hr_dir: Path,
                                                  tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(hr_dir / "zz_tiny.png")
    with pytest.raises(InputError, match="too small"):
        resolve_dataset(registry, "gaussian8", hr=hr_dir, scale=4, cache_dir=tmp_path / "c")
    cache = tmp_path / "c"  # found before the build: nothing made at all, or nothing left
    assert not cache.exists() or not [p.name for p in cache.iterdir()]
