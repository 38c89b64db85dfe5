"""Speed of the core's hot paths (issue: foundation). Compare runs with
`--benchmark-compare`; the figures belong in closing notes, never in timed tests."""

from __future__ import annotations

import pytest
import torch

from bsrbench.degradations import degrade
from bsrbench.kernels import blur, gaussian_kernel
from bsrbench.metrics import prepare, psnr, ssim
from bsrbench.resize import imresize

torch.manual_seed(0)


def test_bench_matlab_resize_512_rgb_x4(benchmark):
    x = torch.rand(1, 3, 512, 512)
    out = benchmark(imresize, x, 1 / 4)
    assert out.shape == (1, 3, 128, 128)


def test_bench_blur_21x21_512_rgb(benchmark):
    x = torch.rand(1, 3, 512, 512)
    k = gaussian_kernel(2.6)
    out = benchmark(blur, x, k)
    assert out.shape == x.shape


def test_bench_psnr_ssim_40_pairs_256(benchmark):
    sr = torch.rand(40, 3, 256, 256)
    hr = (torch.rand(40, 3, 256, 256) * 255).round().to(torch.uint8)

    def both():
        x, y = prepare(sr, hr, border=4, convention="matlab-y")
        return psnr(x, y), ssim(x, y)

    p, s = benchmark(both)
    assert p.shape == s.shape == (40,)


def test_bench_build_gaussian8_x4_set5(benchmark, tmp_path):
    from conftest import shared_dir

    from bsrbench.datasets import DatasetSettings, build_dataset
    from bsrbench.images import hr_set_digest, load_hr_set
    from bsrbench.registry import load_registry

    reg = load_registry()
    name, images = load_hr_set(shared_dir("data", "Set5"))
    settings = DatasetSettings("gaussian8", 4, "matlab-bicubic", name, hr_set_digest(images))
    path = benchmark.pedantic(build_dataset, args=(reg, settings, images, tmp_path / "s.h5"),
                              rounds=3, iterations=1)
    assert path.is_file()


@pytest.mark.parametrize("n", [8])
def test_bench_degrade_8_kernels_256(benchmark, n):
    hr = torch.rand(1, 3, 256, 256)
    kernels = torch.stack([gaussian_kernel(1.8 + 0.2 * i) for i in range(n)])
    out = benchmark(degrade, hr, kernels, 4, "matlab-bicubic")
    assert out.shape == (n, 3, 64, 64)
