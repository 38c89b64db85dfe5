"""`bsrbench train srmd`: trains, exports strict-loading weights, builds KAIR's degradation map."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from bsrbench_srmd.arch import SRMD
from bsrbench_srmd.kernel_map import degradation_vector, load_pca
from bsrbench_srmd.train import srmd_command
from click.testing import CliRunner
from PIL import Image

from bsrbench.kernels import center_crop_kernel, gaussian_kernel
from bsrbench.weights import load_state_dict

TINY = ["--nc", "16", "--nb", "3", "--hr-size", "32", "--batch-size", "4", "--val-count", "2",
        "--log-every", "1"]


@pytest.fixture(scope="module")
def hr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hr")
    y, x = np.mgrid[0:48, 0:48].astype(np.float64)
    for i in range(3):
        img = np.stack([128 + 90 * np.sin(x / (4 + i)), 128 + 90 * np.cos(y / (5 + i)),
                        128 + 60 * np.sin((x + y) / (6 + i))], axis=-1)
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"im{i}.png")
    return folder


def _train(*args: str) -> None:
    result = CliRunner().invoke(srmd_command(), list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _losses(out: Path) -> list[float]:
    rows = csv.DictReader((out / "train_log.csv").read_text().splitlines())
    return [float(r["loss"]) for r in rows if r["loss"]]


def test_srmdnf_trains_and_exports(hr: Path, tmp_path: Path) -> None:
    _train("--hr", str(hr), "--out", str(tmp_path), "--lr", "2e-3", "--steps", "25",
           "--val-every", "25", *TINY)
    losses = _losses(tmp_path)
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    net = SRMD(in_nc=18, nc=16, nb=3, scale=4)
    net.load_state_dict(load_state_dict(tmp_path / "srmdnf_x4.safetensors"), strict=True)
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["variant"] == "srmdnf" and summary["steps"] == 25
    assert summary["final_val_psnr"] is not None


def test_noise_aware_srmd_exports_19_input_channels(hr: Path, tmp_path: Path) -> None:
    _train("--hr", str(hr), "--out", str(tmp_path), "--noise-max", "50", "--steps", "2", *TINY)
    state = load_state_dict(tmp_path / "srmd_x4.safetensors")
    assert state["model.0.weight"].shape == (16, 19, 3, 3)
    SRMD(in_nc=19, nc=16, nb=3, scale=4).load_state_dict(state, strict=True)


def test_srmd_time_cap_exports(hr: Path, tmp_path: Path) -> None:
    _train("--hr", str(hr), "--out", str(tmp_path), "--steps", "1000", "--max-minutes", "0", *TINY)
    assert (tmp_path / "srmdnf_x4.safetensors").is_file()
    assert json.loads((tmp_path / "train_summary.json").read_text())["stopped"] == "time-cap"


def test_degradation_vector_on_device_matches_kernel_map(hr: Path, tmp_path: Path) -> None:
    from bsrbench_srmd._train_settings import SRMDTrainSettings
    from bsrbench_srmd._train_stage import _SRMDStage

    from bsrbench.training import TrainDevice

    class _Sampler:
        def state_dict(self) -> dict[str, torch.Tensor]:
            return {}

    ctx = srmd_command().make_context(
        "srmd", ["--hr", str(hr), "--out", str(tmp_path), "--noise-max", "50"]
    )
    settings = SRMDTrainSettings.from_options(ctx.params)
    device = TrainDevice(name="cpu", amp=False, channels_last=False)
    pca = load_pca()
    stage = _SRMDStage(SRMD(in_nc=19, nc=8, nb=2), settings=settings, device=device,
                       sampler=_Sampler(), val=None, pca=pca)  # type: ignore[arg-type]
    k21 = torch.stack([gaussian_kernel(1.2), gaussian_kernel(2.0, 0.8, theta=0.7)])
    noise = torch.tensor([0.0, 30.0])
    ours = stage.vector(k21, noise)
    theirs = degradation_vector(center_crop_kernel(k21, 15), pca, noise)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-7)


def test_srmd_defaults_are_kairs() -> None:
    params = {p.name: p for p in srmd_command().params}
    assert params["batch_size"].default == 64 and params["hr_size"].default == 96
    assert params["loss"].default == "l1" and params["lr"].default == 1e-4
    assert params["noise_max"].default == 0.0  # noise-free srmdnf unless asked
    assert all(p.help for p in srmd_command().params if p.name != "help")


def test_from_weights_fine_tunes_from_a_file_and_rejects_another_size(
    hr: Path, tmp_path: Path
) -> None:
    first, tuned = tmp_path / "first", tmp_path / "tuned"
    _train("--hr", str(hr), "--out", str(first), "--lr", "2e-3", "--steps", "3", *TINY)
    src = first / "srmdnf_x4.safetensors"
    # One step at a negligible learning rate: the result is the file it started from,
    # not a fresh orthogonal initialisation.
    _train("--hr", str(hr), "--out", str(tuned), "--from-weights", str(src), "--lr", "1e-12",
           "--steps", "1", *TINY)
    start, end = load_state_dict(src), load_state_dict(tuned / "srmdnf_x4.safetensors")
    assert all(torch.allclose(start[k], end[k], atol=1e-8) for k in start)

    wrong = tmp_path / "wrong"
    result = CliRunner().invoke(
        srmd_command(),
        ["--hr", str(hr), "--out", str(wrong), "--from-weights", str(src), "--steps", "1",
         "--nc", "24", *TINY[2:]],
    )
    assert result.exit_code == 2
    assert "model.0.weight has shape" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_warmup_ramps_the_learning_rate_then_holds_it(hr: Path, tmp_path: Path) -> None:
    _train("--hr", str(hr), "--out", str(tmp_path), "--lr", "1e-3", "--warmup", "3",
           "--steps", "5", *TINY)
    rows = list(csv.DictReader((tmp_path / "train_log.csv").read_text().splitlines()))
    lrs = [float(r["lr"]) for r in rows if r["loss"]]
    # After step s the factor is min(1, (s + 1) / 4): 0.5, 0.75, then the full rate.
    assert lrs == pytest.approx([5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])


def test_resume_refuses_a_changed_learning_rate_or_schedule(hr: Path, tmp_path: Path) -> None:
    """A resumed optimiser would quietly keep its old rate: a new --lr, --milestones or
    --sigma-max on a rerun into the same --out is refused, the unchanged rerun resumes."""
    from bsrbench.errors import InputError

    _train("--hr", str(hr), "--out", str(tmp_path), "--lr", "2e-3", "--steps", "1", *TINY)
    for changed, name in ((["--lr", "1e-3"], "lr"), (["--lr", "2e-3", "--milestones", "5"],
                          "milestones"), (["--lr", "2e-3", "--sigma-max", "2.0"],
                                          "sigma_range")):
        result = CliRunner().invoke(srmd_command(), ["--hr", str(hr), "--out", str(tmp_path),
                                                     "--steps", "2", *changed, *TINY])
        assert result.exit_code == InputError.exit_code and name in result.stderr, changed
    _train("--hr", str(hr), "--out", str(tmp_path), "--lr", "2e-3", "--steps", "2", *TINY)
    assert json.loads((tmp_path / "train_summary.json").read_text())["steps"] == 2
