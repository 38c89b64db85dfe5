"""DAN / DCLS setting 2: anisotropic Gaussians with a multiplicative disturbance.

Facts from ``shared/reference/protocols/FACTS.md`` §4 (greatlog/DAN 4c4de00,
megvii-research/DCLS-SR 3314f42): σx, σy ~ U(0.6, 5) are *standard deviations*,
θ ~ U(-π, π), an (unused, ``rate_iso = 0``) isotropy draw, and a disturbance
u ~ U(0, 0.25) per tap: ``k = (g + u·g) / sum``. Blur with reflect padding and float32
correlation, MATLAB bicubic ×1/s, LR rounded to uint8. Kernel size per scale is where the
two papers differ: DAN 11 (×2) / 21 (×4), DCLS 11 / 31 (the ``aniso-dcls`` variant).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bsrbench.datasets import Rendered, load_array
from bsrbench.errors import InputError

KERNEL_PARAMS = ("sigma1, sigma2 = sigma_x, sigma_y: standard deviations in pixels before "
                 "the U(0, 0.25) multiplicative disturbance; theta in radians, U(-pi, pi)")
SIZES = {"dan": {2: 11, 4: 21}, "dcls": {2: 11, 4: 31}}  # FACTS.md §4 table


def setting2_kernel(l: int, sigma_x: float, sigma_y: float, theta: float,  # noqa: E741
                    disturb: Any) -> Any:
    """float64 (l, l) kernel: Σ = R diag(σx², σy²) Rᵀ on the grid -l//2+1 .. l//2."""
    import numpy as np

    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    inv = np.linalg.inv(rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T)
    ax = np.arange(-l // 2 + 1, l // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)  # first coordinate = column
    quad = inv[0, 0] * xx**2 + (inv[0, 1] + inv[1, 0]) * xx * yy + inv[1, 1] * yy**2
    g = np.exp(-0.5 * quad)
    k = g + disturb * g
    return k / k.sum()


@dataclass(frozen=True)
class AnisoGenerator:
    """One kernel per HR image (setting 2 is a per-image random draw)."""

    scale: int
    variant: str  # "dan" or "dcls": the kernel size per scale
    sig_range: tuple[float, float] = (0.6, 5.0)

    pipeline: str = "matlab-bicubic"
    kernel_params: str = KERNEL_PARAMS
    lr_per_hr: int = 1

    @property
    def kernel_size(self) -> int:
        return SIZES[self.variant][self.scale]

    def sample(self, rng: Any, lr_shape: tuple[int, int], noise: float) -> list[dict[str, Any]]:
        lo, hi = self.sig_range
        sx = float(rng.uniform(lo, hi, (1, 1, 1))[0, 0, 0])
        sy = float(rng.uniform(lo, hi, (1, 1, 1))[0, 0, 0])
        rad = float(rng.uniform(-math.pi, math.pi, (1,))[0])
        iso = float(rng.uniform(0, 1, (1,))[0])
        l = self.kernel_size  # noqa: E741
        disturb = rng.uniform(0, 0.25, (1, l, l))[0]
        draw = {"sigma_x": sx, "sigma_y": sy, "radians": rad, "mask_iso_uniform": iso,
                "disturb": disturb, "noise": float(noise)}
        if noise:  # the noise field's own seed, recorded (setting 2 itself is noise-free)
            draw["noise_seed"] = int(rng.randint(0, 2**31 - 1))
        return [draw]

    def from_record(self, record: Mapping[str, Any], base: Path, source: str,
                    noise: float) -> dict[str, Any]:
        """A params.json record: sigma_x, sigma_y, radians, disturb_file (ksize checked)."""
        out: dict[str, Any] = {}
        for key in ("sigma_x", "sigma_y", "radians"):
            value = record.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise InputError(f"{source}: record needs a number {key!r}, got {value!r}")
            out[key] = float(value)
        if min(out["sigma_x"], out["sigma_y"]) <= 0:
            raise InputError(f"{source}: sigma_x and sigma_y must be > 0")
        l = self.kernel_size  # noqa: E741
        if record.get("ksize", l) != l:
            raise InputError(f"{source}: ksize {record.get('ksize')} does not match the "
                             f"{self.variant} variant's {l} at x{self.scale}")
        out["mask_iso_uniform"] = float(record.get("mask_iso_uniform", 1.0))
        out["disturb"] = load_array(base, record.get("disturb_file"), source, shape=(l, l))
        out["noise"] = float(record.get("noise", noise))
        if out["noise"]:
            out["noise_seed"] = int(record.get("noise_seed", 0))
        return out

    def render(self, hr: Any, draw: Mapping[str, Any]) -> Rendered:
        import torch

        from bsrbench.degradations import degrade

        kernel = setting2_kernel(self.kernel_size, draw["sigma_x"], draw["sigma_y"],
                                 draw["radians"], draw["disturb"]).astype("float32")
        x = torch.from_numpy(hr.copy()).permute(2, 0, 1)[None].float().div(255)
        gen = None
        if draw["noise"]:
            gen = torch.Generator().manual_seed(int(draw.get("noise_seed", 0)))
        lr = degrade(x, torch.from_numpy(kernel)[None], self.scale, "matlab-bicubic",
                     noise_sigma=draw["noise"], generator=gen)
        return Rendered(lr[0].permute(1, 2, 0).contiguous().numpy(), kernel,
                        (draw["sigma_x"], draw["sigma_y"], draw["radians"], draw["noise"]))
