"""Fixed kernel grids with noise: MANet's nine x4 kernels and DASR's nine anisotropic ones.

Facts from ``shared/reference/protocols/FACTS.md`` §5 (JingyunLiang/MANet 34f90ba,
``prepare_testset.py``) and §6 (LAVA DASR 51524af). MANet: covariance *eigenvalues*
(sig1, sig2) and θ in radians, ``multivariate_normal.pdf`` on an 18x18 grid placed top-left
in 21x21, replicate padding, ``[::4, ::4]``, noise 15/255 (float32), LR rounded. DASR:
λ1, λ2 are *standard deviations*, θ in degrees; reflect padding, DASR's own bicubic (edges
replicated), noise in 0..255 units, rounded and clamped. The nine DASR triples are not in
the DASR repository: they are the list the DSAT authors give (I2-Multimedia-Lab/DSAT issue
#2), second-hand, as FACTS.md says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bsrbench.datasets import Rendered, load_array
from bsrbench.errors import InputError

# FACTS.md §5: the x4 grid (sig1, sig2, theta) of MANet's prepare_testset.py
MANET9 = ((1, 1, 0.0), (5, 1, 0.0), (5, 1, math.pi / 4), (5, 5, 0.0), (9, 1, 0.0),
          (9, 1, math.pi / 4), (9, 5, 0.0), (9, 5, math.pi / 4), (9, 9, 0.0))
MANET_NOISE = 15.0
# FACTS.md §6: (lambda1, lambda2, theta in degrees), from DSAT issue #2 (second-hand)
DASR9 = ((2.0, 0.2, 0), (2.0, 1.0, 10), (3.5, 1.5, 30), (3.5, 2.0, 45), (3.5, 2.0, 90),
         (4.0, 1.5, 120), (4.0, 2.0, 135), (4.0, 3.0, 165), (4.0, 4.0, 180))


def manet_kernel(sig1: float, sig2: float, theta: float, size: int = 21,
                 inner: int = 18) -> Any:
    """MANet's kernel: float64 (size, size), the pdf at ``inner``x``inner`` top-left."""
    import numpy as np
    from scipy.stats import multivariate_normal

    c, s = math.cos(theta), math.sin(theta)
    cov = np.array([[sig1 * c**2 + sig2 * s**2, (sig1 - sig2) * c * s],
                    [(sig1 - sig2) * c * s, sig1 * s**2 + sig2 * c**2]])
    centre = inner / 2 - 0.5
    grid = np.mgrid[-centre:-centre + inner, -centre:-centre + inner]
    k = multivariate_normal.pdf(np.dstack((grid[1], grid[0])), [0, 0], cov)
    k[k < np.finfo(float).eps * k.max()] = 0
    out = np.zeros((size, size))
    out[:inner, :inner] = k / k.sum()
    return out


def _record_noise(record: Mapping[str, Any], base: Path, source: str,
                  shape: tuple[int, ...], key: str = "noise_file") -> Any:
    ref = record.get(key)
    return None if ref is None else load_array(base, ref, source, shape=shape)


@dataclass(frozen=True)
class ManetGenerator:
    """Nine LR images per HR image, noise 15 (MANet's x4 test setting)."""

    scale: int = 4
    pipeline: str = "manet-direct"
    kernel_size: int = 21
    lr_per_hr: int = len(MANET9)
    kernel_params: str = ("sigma1, sigma2: covariance eigenvalues (variances, pixels^2) of "
                          "MANet's grid; theta in radians")

    def _noise(self, noise: float) -> float:
        if noise not in (0.0, MANET_NOISE):
            raise InputError(f"manet9 is MANet's noise-{MANET_NOISE:g} set: --noise must be "
                             f"left out or {MANET_NOISE:g}, got {noise:g}")
        return MANET_NOISE

    def sample(self, rng: Any, lr_shape: tuple[int, int], noise: float) -> list[dict[str, Any]]:
        level = self._noise(noise)
        out = []
        for sig1, sig2, theta in MANET9:
            iso = float(rng.random_sample())  # MANet's isotropy test draw, then the normal
            field = rng.normal(0, 1, size=(1, 3, *lr_shape))
            out.append({"sig1_cov_eigenvalue": float(sig1), "sig2_cov_eigenvalue": float(sig2),
                        "theta_rad": theta, "noise_level_255": level,
                        "uniform_iso_draw": iso, "noise": field})
        return out

    def from_record(self, record: Mapping[str, Any], base: Path, source: str,
                    noise: float) -> dict[str, Any]:
        """A manet_si params.json record (sig1/sig2_cov_eigenvalue, theta_rad,
        noise_level_255, noise_file)."""
        out: dict[str, Any] = {}
        for key in ("sig1_cov_eigenvalue", "sig2_cov_eigenvalue", "theta_rad"):
            value = record.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"{source}: record needs a number {key!r}, got {value!r}")
            out[key] = float(value)
        out["noise_level_255"] = float(record.get("noise_level_255", MANET_NOISE))
        field = _record_noise(record, base, source, None)  # type: ignore[arg-type]
        if field is None and out["noise_level_255"]:
            raise InputError(f"{source}: a noisy record needs its noise_file")
        out["noise"] = field
        out["uniform_iso_draw"] = float(record.get("uniform_iso_draw", 0.0))
        return {k: v for k, v in out.items() if v is not None}

    def render(self, hr: Any, draw: Mapping[str, Any]) -> Rendered:
        import torch
        import torch.nn.functional as F

        kernel = manet_kernel(draw["sig1_cov_eigenvalue"], draw["sig2_cov_eigenvalue"],
                              draw["theta_rad"]).astype("float32")
        x = torch.from_numpy(hr.transpose(2, 0, 1)[None] / 255.0).float()
        weight = torch.from_numpy(kernel)[None, None].repeat(3, 1, 1, 1)
        lr = F.conv2d(F.pad(x, (10,) * 4, mode="replicate"), weight, groups=3)
        lr = lr[..., ::self.scale, ::self.scale]
        level = draw["noise_level_255"]
        if level:
            field = torch.from_numpy(draw["noise"]).float()
            if field.numel() == lr.numel():  # (3,h,w) and (1,3,h,w) files both occur
                field = field.reshape(lr.shape)
            else:
                raise InputError(f"manet9: noise field {tuple(field.shape)} does not fit the "
                                 f"LR {tuple(lr.shape)}")
            lr = lr + field * (level / 255)
        lr_u8 = torch.round(lr.clamp(0, 1) * 255).to(torch.uint8)
        return Rendered(lr_u8[0].permute(1, 2, 0).contiguous().numpy(), kernel,
                        (draw["sig1_cov_eigenvalue"], draw["sig2_cov_eigenvalue"],
                         draw["theta_rad"], float(level)))


def dasr_kernel(lambda_1: float, lambda_2: float, theta_deg: float, size: int = 21) -> Any:
    """DASR's anisotropic kernel (λ standard deviations, θ degrees): float64 (size, size)."""
    import numpy as np

    from bsrbench_protocols.aniso import setting2_kernel

    return setting2_kernel(size, lambda_1, lambda_2, theta_deg / 180 * math.pi,
                           np.zeros((size, size)))


@dataclass(frozen=True)
class DasrGenerator:
    """DASR's nine anisotropic kernels; the noise level is the build's ``--noise``."""

    scale: int = 4
    pipeline: str = "dasr-bicubic"
    kernel_size: int = 21
    lr_per_hr: int = len(DASR9)
    kernel_params: str = ("sigma1, sigma2 = lambda_1, lambda_2: standard deviations in "
                          "pixels; theta in radians (DASR gives degrees: theta_deg)")

    def sample(self, rng: Any, lr_shape: tuple[int, int], noise: float) -> list[dict[str, Any]]:
        out = []
        for l1, l2, deg in DASR9:
            draw: dict[str, Any] = {"lambda_1": l1, "lambda_2": l2, "theta_deg": float(deg),
                                    "noise": float(noise)}
            if noise:
                draw["noise_field"] = rng.standard_normal((1, 3, *lr_shape)).astype("float32")
            out.append(draw)
        return out

    def from_record(self, record: Mapping[str, Any], base: Path, source: str,
                    noise: float) -> dict[str, Any]:
        """A dasr_aniso record: lambda_1, lambda_2, theta_deg, and for noise > 0 the
        ``noise_file`` (or ``noise_field_file``: a standard-normal float32 field,
        multiplied by the level)."""
        out: dict[str, Any] = {}
        for key in ("lambda_1", "lambda_2", "theta_deg"):
            value = record.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"{source}: record needs a number {key!r}, got {value!r}")
            out[key] = float(value)
        out["noise"] = float(record.get("noise", noise))
        if out["noise"]:
            key = "noise_file" if "noise_file" in record else "noise_field_file"
            out["noise_field"] = _record_noise(record, base, source, None,  # type: ignore[arg-type]
                                               key)
            if out["noise_field"] is None:
                raise InputError(f"{source}: a noisy record needs its noise_file")
        return out

    def render(self, hr: Any, draw: Mapping[str, Any]) -> Rendered:
        import torch

        from bsrbench.kernels import blur
        from bsrbench.resize import imresize

        kernel = dasr_kernel(draw["lambda_1"], draw["lambda_2"],
                             draw["theta_deg"]).astype("float32")
        x = torch.from_numpy(hr.copy()).permute(2, 0, 1)[None].float()  # 0..255, as DASR
        lr = imresize(blur(x, torch.from_numpy(kernel)).double(), 1 / self.scale,
                      edge="replicate")
        if draw["noise"]:
            field = torch.from_numpy(draw["noise_field"]).double()
            if field.numel() == lr.numel():  # (3,h,w) and (1,3,h,w) files both occur
                field = field.reshape(lr.shape)
            else:
                raise InputError(f"dasr9: noise field {tuple(field.shape)} does not fit the "
                                 f"LR {tuple(lr.shape)}")
            lr = lr + field * draw["noise"]
        lr_u8 = torch.floor(lr + 0.5).clamp(0, 255).to(torch.uint8)
        return Rendered(lr_u8[0].permute(1, 2, 0).contiguous().numpy(), kernel,
                        (draw["lambda_1"], draw["lambda_2"],
                         draw["theta_deg"] / 180 * math.pi, draw["noise"]))
