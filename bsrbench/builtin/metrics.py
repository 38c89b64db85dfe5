"""The core's built-in metrics: PSNR and SSIM as MATLAB computes them."""

from __future__ import annotations

from typing import Any

from bsrbench import hookimpl
from bsrbench.specs import MetricSpec


def _psnr(x: Any, y: Any) -> Any:
    from bsrbench.metrics import psnr

    return psnr(x, y)


def _ssim(x: Any, y: Any) -> Any:
    from bsrbench.metrics import ssim

    return ssim(x, y)


@hookimpl
def bsrbench_metrics() -> list[MetricSpec]:
    return [
        MetricSpec("psnr", "PSNR in dB, peak 255", _psnr, unit="dB"),
        MetricSpec("ssim", "SSIM, 11x11 Gaussian window sigma 1.5 (Wang et al. 2004)", _ssim),
    ]
