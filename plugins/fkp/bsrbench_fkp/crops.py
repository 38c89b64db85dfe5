"""KernelGAN's crop sampler, shared by KernelGAN and KernelGAN-FKP.

KernelGAN (Bell-Kligler, Shocher, Irani, NeurIPS 2019) trains its GAN on random crops of
the single LR image, drawn with probability proportional to the local gradient energy, so
that textured regions (which carry the blur's signature) dominate. The crop centres are
pre-drawn once (``np.random.choice`` over a probability map per crop size): big crops for G
sampled from the gradient map of the image downscaled by 2 (nearest-upsampled back), small
crops for D from the image's own map. Numbers follow ``KernelGANFKP/util.py`` and the
dataloaders of the FKP repository (FACTS.md §5); numpy float64 as upstream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.signal import convolve2d

__all__ = ["CropSampler", "fit", "gradient_map", "probability_map", "shave"]


def _pad_edges(im: np.ndarray, edge: int) -> np.ndarray:
    """Zero everything within ``edge`` pixels of the border (same size)."""
    out = np.zeros_like(im)
    out[edge:-edge, edge:-edge] = im[edge:-edge, edge:-edge]
    return out


def _clip_extreme(im: np.ndarray, percent: float) -> np.ndarray:
    """Values below the ``percent`` quantile become 0, the rest is clipped just above it."""
    ordered = np.sort(im.flatten())
    pivot = int(percent * len(ordered))
    v_min = ordered[pivot]
    v_max = ordered[pivot + 1] if ordered[pivot + 1] > v_min else v_min + 10e-6
    return np.clip(im, v_min, v_max) - v_min


def gradient_map(im: np.ndarray, window: int = 5, percent: float = 0.97) -> np.ndarray:
    """Edge-weighted loss map of an (H, W, 3) float image in [0, 1] (mean 1)."""
    grey = np.dot(im, [0.299, 0.587, 0.114])
    gx, gy = np.gradient(grey)
    gmag, gx, gy = np.sqrt(gx ** 2 + gy ** 2), np.abs(gx), np.abs(gy)
    gx, gy, gmag = _pad_edges(gx, window), _pad_edges(gy, window), _pad_edges(gmag, window)
    lm_x, lm_y = _clip_extreme(gx, percent), _clip_extreme(gy, percent)
    _clip_extreme(gmag, percent)  # computed but unused upstream (the raw gmag is summed)
    comb = _normalised(lm_x) + _normalised(lm_y) + _normalised(gmag)
    loss = convolve2d(comb, np.ones((window, window)), "same") / window ** 2
    mean = np.mean(loss)
    # a flat image (upstream: NaN and a crash) gets a flat map, i.e. uniform crops
    return loss / mean if mean > 0 else np.ones_like(loss)


def _normalised(m: np.ndarray) -> np.ndarray:
    total = m.sum()
    return m / total if total > 0 else np.zeros_like(m)


def probability_map(loss_map: np.ndarray, crop: int) -> np.ndarray:
    """Flat probabilities of crop centres: the loss summed over a crop/2 box, zero within
    crop/2 of the border."""
    blurred = convolve2d(loss_map, np.ones([crop // 2, crop // 2]), "same") / (crop // 2) ** 2
    prob = _pad_edges(blurred, crop // 2)
    total = prob.sum()
    flat = prob.flatten()
    return flat / total if total != 0 else np.ones_like(flat) / flat.shape[0]


def fit(im: np.ndarray, crop: int, border: int = 10) -> np.ndarray:
    """Edge-pad an (H, W, 3) image at the bottom/right so that a ``crop`` crop fits after
    shaving ``border`` px per side (upstream fails on such small images; images large
    enough are returned unchanged)."""
    need = crop + 2 + 2 * border
    h, w = im.shape[:2]
    if h >= need and w >= need:
        return im
    return np.pad(im, ((0, max(need - h, 0)), (0, max(need - w, 0)), (0, 0)), mode="edge")


def shave(im: np.ndarray, sf: int = 2, border: int = 10) -> np.ndarray:
    """Drop ``border`` px on each side (synthetic images), then crop to a multiple of sf."""
    im = im[border:-border, border:-border] if border else im
    h, w = im.shape[:2]
    return im[:h - h % sf, :w - w % sf]


@dataclass
class CropSampler:
    """Pre-drawn crop centres for G (``g_size`` crops) and D (``d_size`` crops).

    Args:
        image: (H, W, 3) float64 in [0, 1], already shaved.
        g_size, d_size: crop sizes (64 and G's output size).
        count: how many centres to draw for each.
        rng: numpy RandomState the centres are drawn from (upstream: the global state).
    """

    image: np.ndarray
    g_size: int
    d_size: int
    count: int
    rng: np.random.RandomState

    def __post_init__(self) -> None:
        from bsrbench.resize import imresize

        small = imresize(torch.from_numpy(np.ascontiguousarray(
            self.image.transpose(2, 0, 1))), 0.5).numpy().transpose(1, 2, 0)
        big = probability_map(gradient_map(self.image), self.d_size)
        sml_map = gradient_map(small).astype(np.float32).astype(np.float64)
        sml_map = sml_map.repeat(2, axis=0).repeat(2, axis=1)  # PIL NEAREST x2 (float32)
        sml = probability_map(sml_map, self.g_size)
        self.rows, self.cols = self.image.shape[:2]
        self.g_idx = self.rng.choice(a=len(sml), size=self.count, p=sml)
        self.d_idx = self.rng.choice(a=len(big), size=self.count, p=big)

    def top_left(self, idx: int, for_g: bool) -> tuple[int, int]:
        """Top-left corner (even) of crop ``idx``, clamped inside the image."""
        size = self.g_size if for_g else self.d_size
        centre = int((self.g_idx if for_g else self.d_idx)[idx])
        row, col = centre // self.cols, centre % self.cols
        top = min(max(0, row - size // 2), self.rows - size)
        left = min(max(0, col - size // 2), self.cols - size)
        return top - top % 2, left - left % 2

    def crop(self, idx: int, for_g: bool) -> np.ndarray:
        size = self.g_size if for_g else self.d_size
        top, left = self.top_left(idx, for_g)
        return self.image[top:top + size, left:left + size]
