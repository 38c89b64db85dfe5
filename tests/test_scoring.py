"""The scorer: every selected metric on one prepared pair, in cache-sized pieces on a CPU."""

from __future__ import annotations

import pytest
import torch

import bsrbench.scoring
from bsrbench.errors import InputError
from bsrbench.metrics import score
from bsrbench.registry import load_registry
from bsrbench.scoring import Scorer, select_metrics


def _pair(batch=5, size=40):
    g = torch.Generator().manual_seed(1)
    hr = torch.randint(0, 256, (1, 3, size, size + 3), generator=g, dtype=torch.uint8)
    sr = (hr.float() / 255 + 0.05 * torch.randn(batch, 3, size, size + 3, generator=g))
    return sr.clamp(0, 1), hr


@pytest.mark.parametrize("piece_pixels", [1, 2 * 40 * 43, 1 << 40])
def test_scores_are_the_same_in_any_pieces(monkeypatch, piece_pixels):
    sr, hr = _pair()
    monkeypatch.setattr(bsrbench.scoring, "CPU_PIECE_PIXELS", piece_pixels)
    scorer = Scorer(select_metrics(load_registry(), ["psnr", "ssim"]),
                    convention="matlab-y", scale=4)
    got = scorer.score(sr, hr)
    want = score(sr, hr.expand(5, -1, -1, -1).contiguous(), scale=4)
    assert got["psnr"] == pytest.approx(want["psnr"].tolist(), abs=1e-12)
    assert got["ssim"] == pytest.approx(want["ssim"].tolist(), abs=1e-12)
    assert len(set(got["psnr"])) == 5


def test_pieces_cover_the_batch_in_order():
    sr = torch.zeros(7, 3, 512, 512)
    pieces = Scorer._pieces(sr)
    assert pieces == [(i, i + 1) for i in range(7)]  # one 512x512 image per piece
    small = Scorer._pieces(torch.zeros(7, 3, 64, 64))
    assert small == [(0, 7)]


def test_select_metrics_refuses_unknown_and_repeated_names():
    reg = load_registry()
    with pytest.raises(InputError, match="twice"):
        select_metrics(reg, ["psnr", "psnr"])
    with pytest.raises(InputError):
        select_metrics(reg, ["nope"])
