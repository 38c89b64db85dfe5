"""`bsrbench train ikc`: the three stages train, resume, stop on time and export loadable files.

Tiny networks (``--nf 8 --nb 1``) on 32 px HR crops of synthetic images keep every run to a
few seconds on a 2-core CPU; the full-size defaults are the official configs'.
"""

from __future__ import annotations

import contextlib
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from bsrbench_ikc.archs import SFTMD
from bsrbench_ikc.checkpoints import load_corrector, load_predictor, load_sftmd
from bsrbench_ikc.pca import load_pca
from bsrbench_ikc.train import STAGE_DEFAULTS, ikc_command
from click.testing import CliRunner, Result
from PIL import Image
from safetensors import safe_open

from bsrbench.errors import InputError

TINY = ["--nf", "8", "--lr-size", "8", "--batch-size", "4", "--val-count", "3", "--log-every", "1"]
# Kernels of similar width have similar codes, so a tiny Predictor/Corrector visibly learns them
# within a few steps; over the full range the σ≈0.2 delta-like kernels dominate the error.
NARROW = ["--sigma-min", "1.5", "--sigma-max", "3.0"]


def _images(folder: Path) -> Path:
    """Three smooth, textured 48x48 images: structure a small net can learn quickly."""
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:48, 0:48].astype(np.float64)
    for i in range(3):
        img = np.stack([128 + 90 * np.sin(x / (4 + i)), 128 + 90 * np.cos(y / (5 + i)),
                        128 + 60 * np.sin((x + y) / (6 + i))], axis=-1)
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"im{i}.png")
    return folder


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(ikc_command(), list(args), catch_exceptions=False)


def _train(*args: str) -> None:
    result = _invoke(*args)
    assert result.exit_code == 0, result.output


def _column(out: Path, name: str) -> list[float]:
    rows = csv.DictReader((out / "train_log.csv").read_text().splitlines())
    return [float(r[name]) for r in rows if r[name]]


@pytest.fixture(scope="module")
def hr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _images(tmp_path_factory.mktemp("hr"))


@pytest.fixture(scope="module")
def sftmd_run(hr: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sftmd")
    _train("--stage", "sftmd", "--hr", str(hr), "--out", str(out), "--nb", "1", "--lr", "2e-3",
           "--steps", "24", "--val-every", "12", *TINY)
    return out


def test_sftmd_stage_reduces_loss_and_exports(sftmd_run: Path, hr: Path) -> None:
    losses = _column(sftmd_run, "loss")
    assert len(losses) == 24
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    net = load_sftmd(sftmd_run / "sftmd_x4.safetensors", 4)
    assert isinstance(net, SFTMD) and net.config["nf"] == 8 and net.config["nb"] == 1
    pca = load_pca(sftmd_run / "pca_x4.safetensors")
    assert pca.matrix.shape == (441, 10)
    with safe_open(str(sftmd_run / "sftmd_x4.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert meta["steps"] == "24" and meta["seed"] == "0" and meta["data"] == str(hr)
    assert "--stage" in meta["command"] and float(meta["seconds"]) > 0
    summary = json.loads((sftmd_run / "train_summary.json").read_text())
    assert summary["steps"] == 24 and summary["device"] == "cpu"
    assert summary["final_val_psnr"] == pytest.approx(_column(sftmd_run, "val_psnr")[-1], abs=1e-3)


@pytest.mark.parametrize("extra", [[], ["--warmup", "2"]], ids=["plain", "warmup"])
def test_sftmd_resume_matches_uninterrupted_run(hr: Path, tmp_path: Path,
                                                extra: list[str]) -> None:
    # (--warmup wraps the cosine schedule: its checkpoint must still load with weights_only)
    args = ["--stage", "sftmd", "--hr", str(hr), "--nb", "1", "--val-every", "99", *TINY, *extra]
    _train(*args, "--out", str(tmp_path / "a"), "--steps", "3")
    _train(*args, "--out", str(tmp_path / "b"), "--steps", "2")
    _train(*args, "--out", str(tmp_path / "b"), "--steps", "3")
    a = load_sftmd(tmp_path / "a" / "sftmd_x4.safetensors", 4).state_dict()
    b = load_sftmd(tmp_path / "b" / "sftmd_x4.safetensors", 4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _column(tmp_path / "a", "loss") == _column(tmp_path / "b", "loss")


def test_time_cap_stops_and_exports(hr: Path, tmp_path: Path) -> None:
    _train("--stage", "sftmd", "--hr", str(hr), "--out", str(tmp_path), "--nb", "1",
           "--steps", "100000", "--max-minutes", "0", *TINY)
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["stopped"] == "time-cap" and summary["steps"] == 0
    assert load_sftmd(tmp_path / "sftmd_x4.safetensors", 4) is not None
    assert (tmp_path / "checkpoint.pt").is_file()


def test_resume_refuses_other_settings(hr: Path, tmp_path: Path) -> None:
    _train("--stage", "sftmd", "--hr", str(hr), "--out", str(tmp_path), "--nb", "1",
           "--steps", "1", *TINY)
    result = _invoke("--stage", "sftmd", "--hr", str(hr), "--out", str(tmp_path), "--nb", "2",
                     "--steps", "2", *TINY)
    assert result.exit_code == InputError.exit_code
    assert "error:" in result.stderr and "nb=1" in result.stderr
    result = _invoke("--stage", "sftmd", "--hr", str(hr), "--out", str(tmp_path), "--nb", "1",
                     "--steps", "2", "--warmup", "5", *TINY)
    assert result.exit_code == InputError.exit_code and "warmup" in result.stderr
    for changed, name in ((["--lr", "5e-5"], "lr"), (["--sigma-max", "3.0"], "sigma_range"),
                          (["--no-augment"], "augment")):
        result = _invoke("--stage", "sftmd", "--hr", str(hr), "--out", str(tmp_path), "--nb",
                         "1", "--steps", "2", *changed, *TINY)
        assert result.exit_code == InputError.exit_code and name in result.stderr, changed


@pytest.fixture(scope="module")
def predictor_run(hr: Path, sftmd_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("predictor")
    _train("--stage", "predictor", "--hr", str(hr), "--out", str(out), "--sftmd",
           str(sftmd_run / "sftmd_x4.safetensors"), "--lr", "1e-3", "--steps", "20",
           "--val-every", "4", *NARROW, *TINY)
    return out


def test_predictor_stage_reduces_code_error(predictor_run: Path) -> None:
    losses = _column(predictor_run, "loss")
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    err = _column(predictor_run, "val_code_l2")  # on the fixed validation pairs
    assert len(err) == 5 and err[-1] < 0.8 * err[0]
    assert load_predictor(predictor_run / "predictor_x4.safetensors").config["nf"] == 8
    # The later stage reuses the PCA exported beside the SFTMD weights.
    summary = json.loads((predictor_run / "train_summary.json").read_text())
    assert summary["pca"].endswith("pca_x4.safetensors")


def test_corrector_stage_reduces_code_loss(hr: Path, sftmd_run: Path, predictor_run: Path,
                                           tmp_path: Path) -> None:
    _train("--stage", "corrector", "--hr", str(hr), "--out", str(tmp_path), "--sftmd",
           str(sftmd_run / "sftmd_x4.safetensors"), "--predictor",
           str(predictor_run / "predictor_x4.safetensors"), "--lr", "1e-3", "--steps", "10",
           "--corrector-steps", "2", "--val-every", "10", *NARROW, *TINY)
    losses = _column(tmp_path, "loss")
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert load_corrector(tmp_path / "corrector_x4.safetensors").config["nf"] == 8
    row = list(csv.DictReader((tmp_path / "train_log.csv").read_text().splitlines()))[-1]
    assert row["val_psnr"] and row["val_psnr_start"] and row["val_code_l2"]


def test_corrector_pool_stage_trains_on_a_fixed_pool(hr: Path, sftmd_run: Path,
                                                     predictor_run: Path, tmp_path: Path) -> None:
    args = ["--stage", "corrector", "--hr", str(hr), "--out", str(tmp_path), "--sftmd",
            str(sftmd_run / "sftmd_x4.safetensors"), "--predictor",
            str(predictor_run / "predictor_x4.safetensors"), "--lr", "1e-3",
            "--corrector-data", "pool", "--pool-size", "24", "--pool-crop", "24",
            "--pool-refresh-every", "0",
            "--val-every", "10", *NARROW, *TINY]
    _train(*args, "--steps", "30")
    losses = _column(tmp_path, "loss")
    assert len(losses) == 30 and np.mean(losses[-5:]) < np.mean(losses[:5])
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["corrector_data"] == "pool" and summary["pool_size"] == 24
    assert load_corrector(tmp_path / "corrector_x4.safetensors").config["nf"] == 8
    # A rerun resumes (building a new pool) and continues the same log.
    _train(*args, "--steps", "36")
    assert len(_column(tmp_path, "loss")) == 36
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["steps"] == 36
    # The pool's settings are part of the run: a resume with others is refused.
    result = _invoke(*args, "--steps", "40", "--pool-jitter", "0.2")
    assert result.exit_code != 0 and "pool_jitter" in result.output + result.stderr
    result = _invoke(*args, "--steps", "40", "--pool-crop", "64")
    assert result.exit_code == 2 and "--pool-crop 64 is larger" in result.stderr


def test_pool_refresh_advances_items_by_the_corrector_and_renews_old_ones(hr: Path) -> None:
    from bsrbench_ikc._corrector_pool import CorrectorPool
    from bsrbench_ikc.archs import Corrector

    from bsrbench.training import PairSampler, load_hr_images

    pairs = PairSampler(load_hr_images(hr, device="cpu", min_size=32), scale=4, lr_size=8,
                        batch=4, sigma_range=(1.0, 3.0), seed=0)
    pca = torch.as_tensor(load_pca(Path(__file__).parents[2] / "plugins/ikc/bsrbench_ikc/weights"
                                   / "pca_x4.safetensors").matrix).float()
    restored = []

    def restore(lr: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        restored.append(code)  # SR: the LR upscaled, brightened by the code's first entry
        up = torch.nn.functional.interpolate(lr, scale_factor=4, mode="nearest")
        return (up + code[:, :1, None, None]).clamp(0, 1)

    pool = CorrectorPool(pairs, size=6, crop=16, jitter=0.5, predictor_share=0.5,
                         sigma_range=(1.0, 3.0), encode=lambda k: k.reshape(len(k), -1) @ pca,
                         predict=lambda lr: torch.zeros(len(lr), 10), restore=restore, seed=0,
                         refresh_every=2, refresh_share=1.0, max_age=2)
    pool.build(None, contextlib.nullcontext)
    assert pool.sr.shape == (6, 3, 32, 32) and pool.lr.shape == (6, 3, 8, 8)
    true0, est0, sr0 = pool.true.clone(), pool.est.clone(), pool.sr.clone()
    # Half the items start at the Predictor's estimate (zeros here), the rest at rescaled truths.
    assert 0 < int((est0.abs().sum(1) == 0).sum()) < 6
    corrector = Corrector(nf=8).eval()
    pool.step(corrector, contextlib.nullcontext)  # step 1 of 2: no refresh yet
    assert torch.equal(pool.est, est0)
    pool.step(corrector, contextlib.nullcontext)  # step 2: every item advances once
    with torch.no_grad():
        expected = corrector(sr0.float() / 255, est0)
    torch.testing.assert_close(pool.est, expected)
    assert torch.equal(pool.true, true0) and not torch.equal(pool.sr, sr0)
    assert pool.age.tolist() == [1] * 6
    pool.step(corrector, contextlib.nullcontext)
    pool.step(corrector, contextlib.nullcontext)  # second advance reaches max_age: renewed
    assert pool.age.tolist() == [0] * 6 and not torch.equal(pool.true, true0)
    # Built with a Corrector, the pool starts spread over the loop's steps.
    spread = CorrectorPool(pairs, size=40, crop=16, jitter=0.5, predictor_share=0.5,
                           sigma_range=(1.0, 3.0), encode=lambda k: k.reshape(len(k), -1) @ pca,
                           predict=lambda lr: torch.zeros(len(lr), 10), restore=restore,
                           seed=0, refresh_every=2, refresh_share=0.5, max_age=3)
    spread.build(corrector, contextlib.nullcontext)
    assert set(spread.age.tolist()) == {0, 1, 2}


def test_pool_rescaled_kernels_are_the_wider_gaussians() -> None:
    from bsrbench_ikc._corrector_pool import kernel_width, rescale_kernels

    from bsrbench.kernels import gaussian_kernel

    sigmas = [0.8, 1.6, 2.4]
    kernels = torch.stack([gaussian_kernel(s, size=21) for s in sigmas]).float()
    factors = torch.tensor([1.5, 0.7, 1.2])
    wider = rescale_kernels(kernels, factors)
    for k, s, f in zip(wider, sigmas, factors.tolist(), strict=True):
        torch.testing.assert_close(k, gaussian_kernel(s * f, size=21).float(), atol=1e-6, rtol=0)
    torch.testing.assert_close(kernel_width(kernels[:2]).float(), torch.tensor(sigmas[:2]),
                               atol=1e-3, rtol=0)


def test_later_stages_need_their_frozen_networks(hr: Path, sftmd_run: Path, tmp_path: Path) -> None:
    result = _invoke("--stage", "predictor", "--hr", str(hr), "--out", str(tmp_path), *TINY)
    assert result.exit_code == 2 and "needs --sftmd" in result.stderr
    result = _invoke("--stage", "corrector", "--hr", str(hr), "--out", str(tmp_path), "--sftmd",
                     str(sftmd_run / "sftmd_x4.safetensors"), *TINY)
    assert result.exit_code == 2 and "needs --predictor" in result.stderr


def test_amp_and_channels_last_run_on_cpu(hr: Path, tmp_path: Path) -> None:
    _train("--stage", "sftmd", "--hr", str(hr), "--out", str(tmp_path), "--nb", "1",
           "--steps", "2", "--amp", "--channels-last", *TINY)
    assert all(np.isfinite(_column(tmp_path, "loss")))


def test_stage_defaults_are_the_official_configs() -> None:
    assert STAGE_DEFAULTS["sftmd"]["steps"] == 500_000 and STAGE_DEFAULTS["sftmd"]["loss"] == "l1"
    assert STAGE_DEFAULTS["predictor"]["loss"] == STAGE_DEFAULTS["corrector"]["loss"] == "l2"
    params = {p.name: p for p in ikc_command().params}
    assert params["batch_size"].default == 32 and params["lr"].default == 1e-4
    assert params["corrector_steps"].default == 7 and params["lr_size"].default == 64
    assert params["downsampler"].default == "matlab-bicubic"
    assert all(p.help for p in ikc_command().params if p.name != "help")
