"""`bsrbench train ikc`'s settings: per-stage defaults filled once, frozen, checked before any
data is loaded, and the resume identity older checkpoints recorded (no training runs here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from bsrbench_ikc._train_settings import IKCTrainSettings
from bsrbench_ikc.train import STAGE_DEFAULTS, ikc_command
from click.testing import CliRunner

from bsrbench.errors import InputError


def _args(tmp_path: Path, stage: str, *args: str) -> list[str]:
    weights = tmp_path / "w.safetensors"
    weights.touch()  # --sftmd/--predictor must exist; nothing reads them here
    frozen = {"sftmd": [], "predictor": ["--sftmd", str(weights)],
              "corrector": ["--sftmd", str(weights), "--predictor", str(weights)]}[stage]
    return ["--stage", stage, "--hr", str(tmp_path), "--out", str(tmp_path / "run"),
            *frozen, *args]


def _settings(tmp_path: Path, stage: str, *args: str) -> IKCTrainSettings:
    ctx = ikc_command().make_context("ikc", _args(tmp_path, stage, *args))
    return IKCTrainSettings.from_options(ctx.params)


@pytest.mark.parametrize("stage", sorted(STAGE_DEFAULTS))
def test_ikc_settings_take_the_stage_defaults_unless_given(tmp_path: Path, stage: str) -> None:
    s = _settings(tmp_path, stage)
    assert {k: getattr(s, k) for k in STAGE_DEFAULTS[stage]} == STAGE_DEFAULTS[stage]
    assert s.sigma_range == (0.2, 4.0) and s.hr_size == 256  # x4: 64 px LR patches
    given = _settings(tmp_path, stage, "--steps", "7", "--loss", "l1", "--log-every", "3",
                      "--lr-scheme", "cosine-restart", "--scale", "2")
    assert (given.steps, given.loss, given.log_every, given.lr_scheme) == (
        7, "l1", 3, "cosine-restart")
    assert given.sigma_range == (0.2, 2.0)  # the scale's range (IKC paper, Sec. 4.1)


def test_ikc_settings_are_frozen_and_derive_through_replace(tmp_path: Path) -> None:
    s = _settings(tmp_path, "corrector")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.steps = 3  # type: ignore[misc]
    assert not s.uses_pool
    pooled = dataclasses.replace(s, corrector_data="pool", lr_size=32)
    assert pooled.uses_pool and pooled.hr_size == 128 and s.hr_size == 256


@pytest.mark.parametrize(
    ("stage", "args", "message"),
    [
        ("corrector", ["--corrector-data", "pool", "--lr-size", "16", "--pool-crop", "65"],
         "--pool-crop 65 is larger than the SR patch (64 px"),
        ("sftmd", ["--sigma-min", "2.5", "--sigma-max", "1.0"], "0 < --sigma-min <= --sigma-max"),
    ],
)
def test_ikc_settings_refuse_contradicting_options_before_loading_anything(
    tmp_path: Path, stage: str, args: list[str], message: str
) -> None:
    with pytest.raises(InputError) as err:
        _settings(tmp_path, stage, *args)
    assert message in str(err.value) and "\n" not in str(err.value)
    # The folder holds no images: the command fails on the options, not on the data.
    result = CliRunner().invoke(ikc_command(), _args(tmp_path, stage, *args))
    assert result.exit_code == InputError.exit_code and message in result.stderr


def test_ikc_later_stages_need_their_frozen_networks(tmp_path: Path) -> None:
    ctx = ikc_command().make_context(
        "ikc", ["--stage", "predictor", "--hr", str(tmp_path), "--out", str(tmp_path)])
    with pytest.raises(InputError, match="--stage predictor needs --sftmd"):
        IKCTrainSettings.from_options(ctx.params)


def test_ikc_identity_is_what_checkpoints_have_recorded(tmp_path: Path) -> None:
    """Keys, order and values as HEAD's checkpoints hold them; the pool's settings only for
    --corrector-data pool; optimiser and data settings only where changed."""
    assert list(_settings(tmp_path, "sftmd").identity("official").items()) == [
        ("stage", "sftmd"), ("scale", 4), ("nf", 64), ("nb", 16), ("lr_size", 64),
        ("batch_size", 32), ("kernel_size", 21), ("loss", "l1"),
        ("lr_scheme", "cosine-restart"), ("corrector_steps", 7),
        ("downsampler", "matlab-bicubic"), ("seed", 0), ("pca", "official"), ("init", ""),
    ]
    pooled = _settings(tmp_path, "corrector", "--corrector-data", "pool", "--pool-size", "24",
                       "--warmup", "5", "--sigma-min", "1.5", "--sigma-max", "3")
    identity = pooled.identity("p.safetensors")
    assert list(identity)[12:] == [
        "corrector_data", "pool_size", "pool_crop", "pool_jitter", "pool_predictor_share",
        "pool_refresh_every", "pool_refresh_share", "warmup", "sigma_range", "pca", "init"]
    assert identity["pool_size"] == 24 and identity["warmup"] == 5
    assert identity["sigma_range"] == [1.5, 3.0] and identity["pca"] == "p.safetensors"


def test_ikc_metadata_names_stage_pca_and_frozen_networks(tmp_path: Path) -> None:
    meta = _settings(tmp_path, "predictor").metadata("computed")
    assert meta["stage"] == "predictor" and meta["pca"] == "computed"
    assert meta["sftmd"].endswith("w.safetensors") and meta["predictor"] == ""
    assert all(isinstance(v, str) for v in meta.values())
