"""FKP's synthetic test protocol (``data/prepare_dataset.py``, DIPFKP mode), generator-exact.

Facts from ``shared/reference/fkp/FACTS.md`` §6 (JingyunLiang/FKP 127c121): kernel size
``min(4s+3, 21)``; covariance eigenvalues (variances) λ1, λ2 ~ U[0.175 s, min(2.5 s, 10)],
θ ~ U[0, π); a multiplicative kernel noise ``U[-n, n)`` per tap (n = 0, or 0.4 for the
``dipfkp-kernelnoise`` variant); the KernelGAN-notebook Gaussian shifted so its centre of
mass is ``(k - s)/2``, then /sum; blur with **circular** padding and float32 correlation,
pixels 0, s, 2s, ...; image noise N(0, σ²) with σ ~ U(0, noise_im) drawn per image (always
drawn, so the stream matches upstream's), clip to [0, 1] and ``floor(255·x)``.
``--noise N`` sets ``noise_im = N/255`` (the goldens' "noise_im 10" is 10/255: measured);
the σ actually drawn is each LR's recorded noise level (0..255).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bsrbench.datasets import Rendered, load_array
from bsrbench.errors import InputError
from bsrbench_protocols.div2krk import raw_kernel, shift_to

KERNEL_PARAMS = ("sigma1, sigma2 = lambda_1, lambda_2: covariance eigenvalues (variances, "
                 "pixels^2) before the kernel noise; theta in radians, U[0, pi); noise = "
                 "the image noise std drawn from U(0, --noise)")


def fkp_kernel(k: int, sf: int, lambda_1: float, lambda_2: float, theta: float,
               noise_uniform: Any, noise_level: float) -> Any:
    """``gen_kernel_fixed`` given its draws: float64 (k, k), centre of mass (k - sf)/2.

    The same Gaussian as KernelGAN's notebook kernel; only where its centre of mass goes
    differs.
    """
    import numpy as np

    raw = raw_kernel(k, sf, lambda_1, lambda_2, theta, noise_uniform, noise_level)
    return shift_to(raw, (np.array(raw.shape) - sf) / 2)


@dataclass(frozen=True)
class FkpGenerator:
    """One kernel and one noise image per HR image, in upstream's draw order."""

    scale: int
    kernel_noise: float = 0.0

    pipeline: str = "fkp-circular"
    kernel_params: str = KERNEL_PARAMS
    lr_per_hr: int = 1

    @property
    def kernel_size(self) -> int:
        return min(4 * self.scale + 3, 21)

    def sample(self, rng: Any, lr_shape: tuple[int, int], noise: float) -> list[dict[str, Any]]:
        lo, hi = 0.175 * self.scale, min(2.5 * self.scale, 10)
        l1 = lo + rng.rand() * (hi - lo)
        l2 = lo + rng.rand() * (hi - lo)
        theta = rng.rand() * math.pi
        field = rng.rand(self.kernel_size, self.kernel_size)
        std = rng.uniform(0, noise / 255)
        image_noise = rng.normal(0, std, (*lr_shape, 3))
        return [{"lambda_1": l1, "lambda_2": l2, "theta": theta, "noise_field": field,
                 "kernel_noise": self.kernel_noise, "noise_std": float(std),
                 "image_noise": image_noise}]

    def from_record(self, record: Mapping[str, Any], base: Path, source: str,
                    noise: float) -> dict[str, Any]:
        """lambda_1, lambda_2, theta, noise_field_file (k x k uniform); for a noisy set
        noise_std (0..1) and image_noise_file ((h, w, 3) noise already scaled)."""
        out: dict[str, Any] = {}
        for key in ("lambda_1", "lambda_2", "theta"):
            value = record.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"{source}: record needs a number {key!r}, got {value!r}")
            out[key] = float(value)
        k = self.kernel_size
        out["noise_field"] = load_array(base, record.get("noise_field_file"), source,
                                        shape=(k, k))
        out["kernel_noise"] = float(record.get("kernel_noise", self.kernel_noise))
        out["noise_std"] = float(record.get("noise_std", 0.0))
        if out["noise_std"] or record.get("image_noise_file") is not None:
            out["image_noise"] = load_array(base, record.get("image_noise_file"), source)
        return out

    def render(self, hr: Any, draw: Mapping[str, Any]) -> Rendered:
        import numpy as np
        import torch
        import torch.nn.functional as F

        s, k = self.scale, self.kernel_size
        kernel = fkp_kernel(k, s, draw["lambda_1"], draw["lambda_2"], draw["theta"],
                            draw["noise_field"], draw["kernel_noise"])
        x = torch.from_numpy(hr.astype(np.float32) / np.float32(255)).permute(2, 0, 1)[None]
        weight = torch.from_numpy(kernel).float()[None, None].repeat(3, 1, 1, 1)
        pad = k // 2
        lr = F.conv2d(F.pad(x, (pad,) * 4, mode="circular"), weight, groups=3)
        lr = lr[..., ::s, ::s][0].permute(1, 2, 0).numpy()
        if "image_noise" in draw:
            if draw["image_noise"].shape != lr.shape:
                raise InputError(f"fkp: noise image {draw['image_noise'].shape} does not fit "
                                 f"the LR {lr.shape}")
            lr = lr + draw["image_noise"]
        lr_u8 = (np.clip(lr, 0, 1) * 255).astype(np.uint8)
        return Rendered(lr_u8, kernel.astype(np.float32),
                        (draw["lambda_1"], draw["lambda_2"], draw["theta"],
                         draw["noise_std"] * 255))
