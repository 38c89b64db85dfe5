"""Tests for bsrbench.resize: MATLAB-compatible imresize and PIL bicubic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from shared_bundle import shared_dir

from bsrbench.errors import InputError
from bsrbench.resize import imresize, pil_bicubic


def _matlab_cubic(x: float) -> float:
    ax = abs(x)
    if ax <= 1:
        return 1.5 * ax**3 - 2.5 * ax**2 + 1
    if ax <= 2:
        return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
    return 0.0


def _reference_1d(signal: np.ndarray, scale: float) -> np.ndarray:
    """Plain-loop re-derivation of MATLAB imresize along one axis (independent of bsrbench)."""
    n = len(signal)
    out_len = math.ceil(n * scale)
    shrink = scale < 1
    width = 4.0 / scale if shrink else 4.0
    out = np.zeros(out_len)
    for i in range(out_len):
        u = (i + 1) / scale + 0.5 * (1 - 1 / scale)
        first = math.floor(u - width / 2)
        total, acc = 0.0, 0.0
        for j in range(first, first + math.ceil(width) + 2):
            d = u - j
            w = scale * _matlab_cubic(scale * d) if shrink else _matlab_cubic(d)
            # Mirror 1-based index j into 1..n, repeating the edge pixel.
            k = (j - 1) % (2 * n)
            src = k if k < n else 2 * n - 1 - k
            total += w
            acc += w * signal[src]
        out[i] = acc / total
    return out


def _reference_2d(img: np.ndarray, scale: float) -> np.ndarray:
    rows = np.stack([_reference_1d(col, scale) for col in img.T], axis=1)
    return np.stack([_reference_1d(row, scale) for row in rows])


@pytest.mark.parametrize(
    ("shape", "scale"),
    [
        ((9, 7), 0.5),
        ((12, 15), 1 / 3),
        ((16, 11), 0.25),
        ((5, 6), 2.0),
        ((4, 7), 3.0),
        ((7, 7), 4.0),
    ],
)
def test_imresize_matches_loop_reference(shape: tuple[int, int], scale: float) -> None:
    rng = np.random.default_rng(0)
    img = rng.random(shape)
    got = imresize(torch.from_numpy(img), scale).numpy()
    np.testing.assert_allclose(got, _reference_2d(img, scale), rtol=0, atol=1e-12)


def test_imresize_upsample_x2_hand_computed_weights() -> None:
    # MATLAB's x2 taps are (-0.0234375, 0.2265625, 0.8671875, -0.0703125); at the left edge
    # the mirrored taps fold onto pixels 1 and 2 (1-based), e.g. out(1) = 1.09375 a - 0.09375 b.
    row = torch.tensor([10.0, 20.0, 40.0, 80.0], dtype=torch.float64)
    img = row.expand(3, 4)  # constant down the columns, so the result is 1-D
    out = imresize(img, 2.0)
    a, b, c = row[:3].tolist()
    expected = [1.09375 * a - 0.09375 * b, 0.796875 * a + 0.2265625 * b - 0.0234375 * c]
    assert out.shape == (6, 8)
    torch.testing.assert_close(out[:, 0], torch.full((6,), expected[0], dtype=torch.float64))
    torch.testing.assert_close(out[:, 1], torch.full((6,), expected[1], dtype=torch.float64))


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2.0, 3.0])
def test_imresize_keeps_constant_image_constant(scale: float) -> None:
    img = torch.full((2, 3, 13, 17), 0.37, dtype=torch.float32)
    out = imresize(img, scale)
    torch.testing.assert_close(out, torch.full_like(out, 0.37))


@pytest.mark.parametrize(
    ("size", "scale", "expected"),
    [
        ((7, 9), 0.5, (4, 5)),
        ((255, 96), 1 / 3, (85, 32)),
        ((17, 33), 0.25, (5, 9)),
        ((5, 3), 3.0, (15, 9)),
    ],
)
def test_imresize_output_size_is_ceil(
    size: tuple[int, int], scale: float, expected: tuple[int, int]
) -> None:
    assert imresize(torch.zeros(size), scale).shape == expected


def test_imresize_roundtrip_shape_for_multiples_of_scale() -> None:
    for s in (2, 3, 4):
        img = torch.rand(1, 3, 12 * s, 10 * s)
        small = imresize(img, 1 / s)
        assert small.shape == (1, 3, 12, 10)
        assert imresize(small, s).shape == img.shape


def test_imresize_accepts_hw_chw_and_bchw_consistently() -> None:
    img = torch.rand(2, 3, 10, 14, dtype=torch.float64)
    full = imresize(img, 0.5)
    torch.testing.assert_close(imresize(img[1], 0.5), full[1])
    torch.testing.assert_close(imresize(img[1, 2], 0.5), full[1, 2])


def test_imresize_returns_input_dtype_computed_in_float64() -> None:
    img = torch.rand(1, 1, 9, 9)
    out = imresize(img, 1 / 3)
    assert out.dtype == torch.float32
    expected = imresize(img.double(), 1 / 3).float()
    assert torch.equal(out, expected)


def test_imresize_antialias_only_affects_shrinking() -> None:
    img = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    assert not torch.allclose(imresize(img, 0.5), imresize(img, 0.5, antialias=False))
    torch.testing.assert_close(imresize(img, 2.0), imresize(img, 2.0, antialias=False))
    # Without antialiasing, shrinking samples the plain cubic kernel (as MATLAB does).
    expected = _reference_1d_no_aa(img[0, 0, :, 3].numpy(), 0.5)
    col = imresize(img[0, 0, :, 3:4], 0.5, antialias=False)[:, 0].numpy()
    np.testing.assert_allclose(col, expected, atol=1e-12)


def _reference_1d_no_aa(signal: np.ndarray, scale: float) -> np.ndarray:
    n = len(signal)
    out = []
    for i in range(math.ceil(n * scale)):
        u = (i + 1) / scale + 0.5 * (1 - 1 / scale)
        taps = range(math.floor(u - 2), math.floor(u - 2) + 6)
        w = np.array([_matlab_cubic(u - j) for j in taps])
        src = [(j - 1) % (2 * n) for j in taps]
        src = [k if k < n else 2 * n - 1 - k for k in src]
        out.append(float(w @ signal[src] / w.sum()))
    return np.array(out)


def test_imresize_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="float image"):
        imresize(torch.zeros(4, 4, dtype=torch.uint8), 0.5)
    with pytest.raises(InputError, match="positive finite"):
        imresize(torch.zeros(4, 4), 0.0)
    with pytest.raises(InputError, match="shape"):
        imresize(torch.zeros(1, 1, 1, 4, 4), 0.5)


def test_pil_bicubic_matches_pil_rgb_resize() -> None:
    rng = np.random.default_rng(1)
    hwc = rng.integers(0, 256, (23, 31, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(hwc, "RGB").resize((13, 9), Image.BICUBIC))
    got = pil_bicubic(torch.from_numpy(hwc).permute(2, 0, 1)[None], (9, 13))
    assert got.dtype == torch.uint8 and got.shape == (1, 3, 9, 13)
    assert torch.equal(got[0].permute(1, 2, 0), torch.from_numpy(expected.copy()))


def test_pil_bicubic_batches_and_any_channel_count() -> None:
    x = torch.randint(0, 256, (2, 4, 16, 12), dtype=torch.uint8)
    out = pil_bicubic(x, (8, 6))
    assert out.shape == (2, 4, 8, 6)
    assert torch.equal(out[1, 3:4][None], pil_bicubic(x[1:2, 3:4], (8, 6)))


def test_pil_bicubic_reproduces_ikc_golden_upscale() -> None:
    golden = torch.load(
        shared_dir() / "reference/ikc/golden_predictor_corrector.pt", weights_only=True
    )
    assert torch.equal(pil_bicubic(golden["lr_u8"][None], (512, 512))[0], golden["sr_u8"])


def test_pil_bicubic_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="uint8"):
        pil_bicubic(torch.zeros(1, 3, 8, 8), (4, 4))
    with pytest.raises(InputError, match="uint8"):
        pil_bicubic(torch.zeros(3, 8, 8, dtype=torch.uint8), (4, 4))
    with pytest.raises(InputError, match="positive"):
        pil_bicubic(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), (0, 4))


def test_imresize_replicate_edges_differ_only_near_the_border() -> None:
    import torch

    from bsrbench.errors import InputError
    from bsrbench.resize import imresize

    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sym, rep = imresize(x, 0.25), imresize(x, 0.25, edge="replicate")
    assert torch.equal(sym[..., 2:-2, 2:-2], rep[..., 2:-2, 2:-2])
    assert not torch.equal(sym, rep)
    with pytest.raises(InputError, match="edge"):
        imresize(x, 0.25, edge="wrap")
