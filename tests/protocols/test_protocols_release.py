"""div2krk-release: the public release folder layout, written by the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bsrbench.datasets import TestSet, resolve_dataset
from bsrbench.errors import InputError


def _release(root: Path, n: int = 2) -> Path:
    """gt/img_<i>_gt.png, lr_x{2,4}/im_<i>.png, gt_k_x{2,4}/kernel_<i>.mat (names differ)."""
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    for sub in ("gt", "lr_x2", "lr_x4", "gt_k_x2", "gt_k_x4"):
        (root / sub).mkdir(parents=True)
    for i in range(1, n + 1):
        hr = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
        Image.fromarray(hr).save(root / "gt" / f"img_{i}_gt.png")
        for s, k in ((2, 11), (4, 31)):
            Image.fromarray(hr[::s, ::s]).save(root / f"lr_x{s}" / f"im_{i}.png")
            ker = rng.random((k, k))
            savemat(root / f"gt_k_x{s}" / f"kernel_{i}.mat", {"Kernel": ker / ker.sum()})
    return root


@pytest.mark.parametrize(("scale", "size"), [(2, 11), (4, 31)])
def test_release_folder_pairs_by_image_number(registry, tmp_path, scale, size):
    root = _release(tmp_path / "DIV2KRK")
    path = resolve_dataset(registry, "div2krk-release", hr=root, scale=scale,
                           cache_dir=tmp_path / "c")
    with TestSet(path) as ts:
        assert ts.names == ["img_1_gt", "img_2_gt"] and ts.settings.downsampler == "release"
        im = ts.image("img_2_gt")
        want = np.asarray(Image.open(root / f"lr_x{scale}" / "im_2.png"))
        assert np.array_equal(im.lr[0], want) and im.hr.shape == (64, 48, 3)
        assert im.kernels.shape == (1, size, size)
        row = im.row_params(0)
        assert row["sigma"] is None and row["kernel_size"] == size and row["noise"] == 0.0


def test_release_errors_name_the_file(registry, tmp_path):
    root = _release(tmp_path / "R")
    (root / "lr_x4" / "im_2.png").unlink()
    with pytest.raises(InputError, match=r"kernel_2\.mat has no partner|img_2_gt\.png has no"):
        resolve_dataset(registry, "div2krk-release", hr=root, scale=4, cache_dir=tmp_path / "c")
    from scipy.io import savemat

    savemat(root / "gt_k_x2" / "kernel_1.mat", {"Kernel": np.ones((11, 11))})
    with pytest.raises(InputError, match=r"kernel_1\.mat: kernel sums to 121"):
        resolve_dataset(registry, "div2krk-release", hr=root, scale=2, cache_dir=tmp_path / "c")
    with pytest.raises(InputError, match="empty/gt is missing"):
        resolve_dataset(registry, "div2krk-release", hr=tmp_path / "empty", scale=2,
                        cache_dir=tmp_path / "c")
    with pytest.raises(InputError, match="pass it as --hr"):
        resolve_dataset(registry, "div2krk-release", scale=2, cache_dir=tmp_path / "c")
    cache = tmp_path / "c"
    assert not cache.exists() or not list(cache.iterdir())  # nothing half-written
