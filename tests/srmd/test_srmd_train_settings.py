"""`bsrbench train srmd`'s settings: built once from the options, frozen, checked, and the
resume identity older checkpoints recorded (no training runs here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from bsrbench_srmd._train_settings import SRMDTrainSettings
from bsrbench_srmd.train import MILESTONES, srmd_command
from click.testing import CliRunner

from bsrbench.errors import InputError


def _settings(tmp_path: Path, *args: str) -> SRMDTrainSettings:
    ctx = srmd_command().make_context(
        "srmd", ["--hr", str(tmp_path), "--out", str(tmp_path / "run"), *args]
    )
    return SRMDTrainSettings.from_options(ctx.params)


def test_srmd_settings_fill_the_scale_defaults_and_derive_the_rest(tmp_path: Path) -> None:
    s = _settings(tmp_path, "--scale", "3", "--hr-size", "48")
    assert s.scale == 3 and s.sigma_range == (0.2, 3.0)  # SIGMA_RANGE[3]
    assert s.milestones == MILESTONES and isinstance(s.milestones, tuple)
    assert (s.variant, s.in_nc, s.lr_size, s.noise_range, s.val_noise) == (
        "srmdnf", 18, 16, None, None)
    noisy = _settings(tmp_path, "--noise-min", "10", "--noise-max", "30", "--milestones", "5, 9")
    assert (noisy.variant, noisy.in_nc, noisy.noise_range, noisy.val_noise) == (
        "srmd", 19, (10.0, 30.0), 20.0)
    assert noisy.milestones == (5, 9)


def test_srmd_settings_are_frozen_and_derive_through_replace(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.noise_max = 50.0  # type: ignore[misc]
    noisy = dataclasses.replace(s, noise_max=50.0)
    assert s.variant == "srmdnf" and noisy.variant == "srmd" and noisy.in_nc == 19


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hr-size", "30"], "--hr-size 30 is not a multiple of --scale 4"),
        (["--noise-min", "20", "--noise-max", "10"], "--noise-max 10.0 is below --noise-min 20.0"),
        (["--milestones", "1000,soon"], "--milestones takes step numbers"),
        (["--sigma-min", "3", "--sigma-max", "2"], "0 < --sigma-min <= --sigma-max"),
        (["--sigma-min", "0"], "0 < --sigma-min <= --sigma-max"),
    ],
)
def test_srmd_settings_refuse_contradicting_options_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    with pytest.raises(InputError, match=message) as err:
        _settings(tmp_path, *args)
    assert "\n" not in str(err.value)
    # ... and the command says so in one error line with exit code 2, before any training
    result = CliRunner().invoke(
        srmd_command(), ["--hr", str(tmp_path), "--out", str(tmp_path / "run"), *args]
    )
    assert result.exit_code == InputError.exit_code
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert not (tmp_path / "run").exists()


def test_srmd_identity_is_what_checkpoints_have_recorded(tmp_path: Path) -> None:
    """Keys, order and values of the defaults' identity as HEAD's checkpoints hold them;
    optimiser and data settings join it only where changed."""
    assert list(_settings(tmp_path).identity().items()) == [
        ("variant", "srmdnf"), ("scale", 4), ("nc", 128), ("nb", 12), ("hr_size", 96),
        ("batch_size", 64), ("kernel_size", 21), ("loss", "l1"),
        ("downsampler", "matlab-bicubic"), ("seed", 0), ("init", "orthogonal"),
        ("from_weights", ""),
    ]
    changed = _settings(tmp_path, "--lr", "2e-3", "--no-augment", "--noise-max", "50",
                        "--milestones", "10,20", "--sigma-max", "3.5").identity()
    assert {k: changed[k] for k in list(changed)[12:]} == {
        "lr": 2e-3, "augment": False, "noise_max": 50.0, "milestones": [10, 20],
        "sigma_range": [0.2, 3.5]}
    assert changed["variant"] == "srmd"


def test_srmd_metadata_names_the_variant_and_ranges(tmp_path: Path) -> None:
    meta = _settings(tmp_path, "--noise-max", "50").metadata()
    assert meta["method"] == "srmd" and meta["noise_range"] == "0.0,50.0"
    assert meta["sigma_range"] == "0.2,4.0" and all(isinstance(v, str) for v in meta.values())
    assert _settings(tmp_path).metadata()["noise_range"] == ""
