"""DIV2KRK: KernelGAN's random anisotropic kernels (BSD100RK notebook), generator-exact.

Facts from ``shared/reference/protocols/FACTS.md`` §2 (BlindSR_dataset_generator
``BSD100RK.ipynb`` at 8014cb2): eigenvalues (variances) λ1, λ2 ~ U[min_var, max_var],
θ ~ U[0, π), a multiplicative noise field U[-0.4, 0.4) per tap, mean at
``k//2 + 0.5(sf - k%2)``, centre-of-mass shift with ``scipy.ndimage.shift`` (cubic spline,
constant 0), normalisation after the shift, per-channel ``scipy.ndimage.correlate``
(reflect) on the float32 image, phase-0 subsampling and ``floor(255·x)`` (matplotlib
``imsave``; clipped to [0, 1] first where upstream would raise). ×4 is made as the
released DIV2KRK was ("the ×2 kernels applied twice",
KernelGAN issue #59): an 11×11 ×2 kernel composed with itself at stride 2 (31×31).
numpy and scipy are imported inside the functions, never when plugins are listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bsrbench.datasets import Rendered, load_array
from bsrbench.errors import InputError

KERNEL_PARAMS = ("sigma1, sigma2 = lambda_1, lambda_2: covariance eigenvalues (variances, "
                 "pixels^2) of the KernelGAN generator before its multiplicative noise; "
                 "theta in radians, U[0, pi)")


def raw_kernel(k: int, sf: int, lambda_1: float, lambda_2: float, theta: float,
               noise_uniform: Any, noise_level: float) -> Any:
    """The anisotropic Gaussian of KernelGAN's notebook (and FKP's ``gen_kernel_fixed``,
    which copies it) given its draws, with its multiplicative noise, before the shift that
    places its centre of mass: float64 (k, k), not normalised."""
    import numpy as np

    lam = np.diag([lambda_1, lambda_2])
    c, s = np.cos(theta), np.sin(theta)
    q = np.array([[c, -s], [s, c]])
    inv_sigma = np.linalg.inv(q @ lam @ q.T)[None, None, :, :]
    k_size = np.array([k, k])
    sf_v = np.array([sf, sf])
    mu = (k_size // 2 + 0.5 * (sf_v - k_size % 2))[None, None, :, None]
    x, y = np.meshgrid(range(k), range(k))
    z = np.stack([x, y], 2)[:, :, :, None]
    zz = z - mu
    zz_t = zz.transpose(0, 1, 3, 2)
    noise = -noise_level + noise_uniform * noise_level * 2
    return np.exp(-0.5 * np.squeeze(zz_t @ inv_sigma @ zz)) * (1 + noise)


def shift_to(raw: Any, wanted: Any) -> Any:
    """Move a kernel's centre of mass to ``wanted`` (scipy's spline shift) and renormalise."""
    import numpy as np
    from scipy import ndimage

    shifted = ndimage.shift(raw, wanted - np.array(ndimage.center_of_mass(raw)))
    return shifted / np.sum(shifted)


def notebook_kernel(k: int, sf: int, lambda_1: float, lambda_2: float, theta: float,
                    noise_uniform: Any, noise_level: float) -> Any:
    """The notebook's ``gen_kernel`` given its draws: float64 (k, k), sums to 1."""
    import numpy as np

    raw = raw_kernel(k, sf, lambda_1, lambda_2, theta, noise_uniform, noise_level)
    wanted = np.array(raw.shape) / 2 + 0.5 * (np.array([sf, sf]) - raw.shape[0] % 2)
    return shift_to(raw, wanted)


def compose_x2(kernel: Any) -> Any:
    """The ×2 kernel applied twice: ``big[2r:2r+k, 2c:2c+k] += k[r,c]·k``, then /sum."""
    import numpy as np

    k = kernel.shape[0]
    big = np.zeros((3 * k - 2, 3 * k - 2))
    for r in range(k):
        for c in range(k):
            big[2 * r:2 * r + k, 2 * c:2 * c + k] += kernel[r, c] * kernel
    return big / big.sum()


def notebook_downscale(hr_u8: Any, kernel: Any, sf: int) -> Any:
    """Correlate each channel (reflect) in float32, keep pixels 0, sf, 2sf, ...; uint8 by
    truncation ``floor(255·x)`` as ``plt.imsave`` stores it."""
    import numpy as np
    from scipy import ndimage

    im = hr_u8.astype(np.float32) / np.float32(255)
    out = np.zeros_like(im)
    for ch in range(im.shape[2]):
        out[:, :, ch] = ndimage.correlate(im[:, :, ch], kernel, mode="reflect")
    lr = out[::sf, ::sf, :]
    # The notebook's plt.imsave raises when a value leaves [0, 1], which the kernels' tiny
    # negative taps (about -1e-5) can cause next to pure black or white pixels (BSD68 has
    # them; the goldens do not). bsrbench clips to [0, 1] first: an explicit choice, and a
    # no-op wherever upstream succeeds.
    return (np.clip(lr, np.float32(0), np.float32(1)) * np.float32(255)).astype(np.uint8)


@dataclass(frozen=True)
class Div2krkGenerator:
    """One kernel per HR image, drawn as the notebook does (see the module docstring)."""

    scale: int
    compose: bool  # x4 by composing a x2 kernel with itself (the release); False: native
    k: int = 11  # size of the drawn kernel (11 for x2 / composed x4, 21 natively)
    noise_level: float = 0.4
    var_factors: tuple[float, float] = (0.175, 2.5)  # var range = factors x avg_sf

    pipeline: str = "kernelgan-notebook"
    kernel_params: str = KERNEL_PARAMS
    lr_per_hr: int = 1

    @property
    def draw_sf(self) -> int:
        return 2 if self.compose else self.scale

    @property
    def kernel_size(self) -> int:
        return 3 * self.k - 2 if self.compose else self.k

    def sample(self, rng: Any, lr_shape: tuple[int, int], noise: float) -> list[dict[str, Any]]:
        lo, hi = (f * self.draw_sf for f in self.var_factors)
        u = [rng.rand(), rng.rand(), rng.rand()]
        field = rng.rand(self.k, self.k)
        return [{"lambda_1": lo + u[0] * (hi - lo), "lambda_2": lo + u[1] * (hi - lo),
                 "theta": u[2] * 3.141592653589793, "noise_field": field,
                 "k_size": self.k, "draw_scale": self.draw_sf,
                 "noise_level": self.noise_level}]

    def from_record(self, record: Mapping[str, Any], base: Path, source: str,
                    noise: float) -> dict[str, Any]:
        """A params.json ``kernels`` entry (``x2``, ``x4_intermediate_x2`` for the composed
        ×4, ``x4_notebook_native``): lambda_1, lambda_2, theta, noise_field_file."""
        out: dict[str, Any] = {}
        for key in ("lambda_1", "lambda_2", "theta"):
            value = record.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"{source}: record needs a number {key!r}, got {value!r}")
            out[key] = float(value)
        if min(out["lambda_1"], out["lambda_2"]) <= 0:
            raise InputError(f"{source}: lambda_1 and lambda_2 (variances) must be > 0")
        k_size = record.get("k_size", self.k)
        k_size = [k_size, k_size] if isinstance(k_size, int) else k_size
        if not isinstance(k_size, list) or k_size != [self.k, self.k]:
            raise InputError(f"{source}: k_size {k_size} does not match this protocol's "
                             f"{self.k}x{self.k} kernels at x{self.scale}")
        out["noise_field"] = load_array(base, record.get("noise_field_file"), source,
                                        shape=(self.k, self.k))
        out.update(k_size=self.k, draw_scale=self.draw_sf,
                   noise_level=float(record.get("noise_level", self.noise_level)))
        return out

    def render(self, hr: Any, draw: Mapping[str, Any]) -> Rendered:
        kernel = notebook_kernel(self.k, self.draw_sf, draw["lambda_1"], draw["lambda_2"],
                                 draw["theta"], draw["noise_field"], draw["noise_level"])
        if self.compose:
            kernel = compose_x2(kernel)
        lr = notebook_downscale(hr, kernel, self.scale)
        return Rendered(lr, kernel.astype("float32"),
                        (draw["lambda_1"], draw["lambda_2"], draw["theta"], 0.0))
