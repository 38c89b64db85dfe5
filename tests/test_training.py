"""The shared training plumbing: kernels, pairs, schedules, checkpoints, the loop and the
typed settings (with every recorded ``bsrbench train`` command still building its own)."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shlex
import signal
from pathlib import Path
from types import MappingProxyType

import click
import numpy as np
import pytest
import torch
from PIL import Image

from bsrbench.degradations import degrade
from bsrbench.errors import InputError
from bsrbench.kernels import blur, gaussian_kernel
from bsrbench.training import (
    CHECKPOINT_NAME,
    LOG_NAME,
    SUMMARY_NAME,
    LoopConfig,
    PairSampler,
    TrainDevice,
    TrainSettings,
    blur_batch,
    load_checkpoint,
    load_hr_images,
    lr_lambda,
    make_pairs,
    random_kernels,
    run_training,
    save_checkpoint,
    setup_device,
    split_validation,
    validation_pairs,
)


def _write_images(folder: Path, sizes: list[tuple[int, int]], grey: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        shape = (h, w) if grey else (h, w, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"im{i}.png")
    return folder


def test_random_kernels_isotropic_match_gaussian_kernel() -> None:
    gen = torch.Generator().manual_seed(3)
    kernels, sigmas = random_kernels(6, size=21, sigma_range=(0.2, 4.0), generator=gen,
                                     device="cpu")
    assert kernels.shape == (6, 21, 21) and kernels.dtype == torch.float32
    for k, (sx, sy) in zip(kernels, sigmas.tolist(), strict=True):
        assert sx == sy and 0.2 <= sx <= 4.0
        torch.testing.assert_close(k, gaussian_kernel(sx, size=21), rtol=0, atol=1e-8)


def test_random_kernels_anisotropic_are_valid_and_seeded() -> None:
    def draw() -> torch.Tensor:
        gen = torch.Generator().manual_seed(5)
        k, _ = random_kernels(
            8, size=21, sigma_range=(0.2, 4.0), generator=gen, device="cpu", rate_iso=0.0
        )
        return k

    k = draw()
    torch.testing.assert_close(k.sum(dim=(1, 2)), torch.ones(8), rtol=0, atol=1e-5)
    assert (k >= 0).all()
    assert not torch.allclose(k, k.transpose(1, 2))  # rotated, so not all symmetric
    assert torch.equal(k, draw())


def test_blur_batch_matches_core_blur() -> None:
    x = torch.rand(3, 3, 30, 34)
    gen = torch.Generator().manual_seed(0)
    k, _ = random_kernels(3, size=21, sigma_range=(0.2, 4.0), generator=gen, device="cpu")
    assert torch.equal(blur_batch(x, k), blur(x, k))


def test_make_pairs_matches_degrade() -> None:
    hr_u8 = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    k = torch.stack([gaussian_kernel(1.3), gaussian_kernel(2.9)])
    pairs = make_pairs(hr_u8, k, 4, "matlab-bicubic")
    expected = degrade(hr_u8.float() / 255.0, k, 4, "matlab-bicubic")
    assert torch.equal((pairs.lr * 255).round().to(torch.uint8), expected)
    assert pairs.lr.shape == (2, 3, 8, 8) and pairs.hr.shape == (2, 3, 32, 32)


def test_make_pairs_with_noise_quantises() -> None:
    hr_u8 = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    k = torch.stack([gaussian_kernel(1.0)] * 2)
    noise = torch.tensor([0.0, 25.0])
    gen = torch.Generator().manual_seed(0)
    pairs = make_pairs(hr_u8, k, 2, "matlab-bicubic", noise, gen)
    clean = make_pairs(hr_u8, k, 2, "matlab-bicubic")
    assert torch.equal(pairs.lr[0], clean.lr[0])  # level 0 leaves the item untouched
    assert not torch.equal(pairs.lr[1], clean.lr[1])
    assert torch.equal(pairs.lr * 255, (pairs.lr * 255).round())


def test_pair_sampler_batches_are_seeded_and_resumable(tmp_path: Path) -> None:
    images = load_hr_images(_write_images(tmp_path, [(40, 48), (36, 36)]), device="cpu",
                            min_size=32)
    sampler = PairSampler(images, scale=4, lr_size=8, batch=3, seed=1)
    first = sampler.sample()
    assert first.lr.shape == (3, 3, 8, 8) and first.hr_u8.dtype == torch.uint8
    state = sampler.state_dict()
    second = sampler.sample()
    sampler.load_state_dict(state)
    again = sampler.sample()
    assert torch.equal(second.lr, again.lr) and torch.equal(second.kernels, again.kernels)
    other = PairSampler(images, scale=4, lr_size=8, batch=3, seed=1)
    assert torch.equal(other.sample().hr, first.hr)


def test_pair_sampler_noise_range(tmp_path: Path) -> None:
    images = load_hr_images(_write_images(tmp_path, [(32, 32)]), device="cpu", min_size=32)
    sampler = PairSampler(images, scale=2, lr_size=16, batch=8, noise_range=(10.0, 20.0),
                          noise_free_rate=0.0)
    noise = sampler.sample().noise
    assert noise is not None and ((noise >= 10) & (noise <= 20)).all()


def test_load_hr_images_skips_small_and_expands_grey(tmp_path: Path) -> None:
    folder = _write_images(tmp_path / "a", [(40, 40), (10, 40)], grey=True)
    images = load_hr_images(folder, device="cpu", min_size=32)
    assert len(images) == 1 and images[0].shape == (3, 40, 40)
    with pytest.raises(InputError, match="at least 64x64"):
        load_hr_images(folder, device="cpu", min_size=64)


def test_split_validation_holds_out_the_last_images() -> None:
    imgs = [torch.zeros(3, 8, 8) + i for i in range(5)]
    train, val = split_validation(imgs, None, hold_out=2)
    assert len(train) == 3 and len(val) == 2 and val[0] is imgs[3]
    train, val = split_validation(imgs[:1], None, hold_out=2)
    assert train == val == imgs[:1]


def test_validation_pairs_are_fixed(tmp_path: Path) -> None:
    images = load_hr_images(_write_images(tmp_path, [(48, 40)]), device="cpu", min_size=16)
    a = validation_pairs(images, count=3, scale=4, hr_size=32, downsampler="matlab-bicubic",
                         kernel_size=21, sigma_range=(0.2, 4.0))
    b = validation_pairs(images, count=3, scale=4, hr_size=32, downsampler="matlab-bicubic",
                         kernel_size=21, sigma_range=(0.2, 4.0))
    assert a.hr_u8.shape == (3, 3, 32, 32) and torch.equal(a.lr, b.lr)
    torch.testing.assert_close(a.kernels[-1], gaussian_kernel(4.0))


def test_lr_lambda_schemes() -> None:
    cos = lr_lambda("cosine-restart", period=100, eta_min_ratio=0.01)
    assert cos(0) == 1.0 and cos(100) == 1.0
    assert math.isclose(cos(50), 0.01 + 0.99 * 0.5)
    assert cos(99) < 0.02
    multi = lr_lambda("multistep", milestones=(10, 20), gamma=0.5)
    assert [multi(s) for s in (0, 9, 10, 19, 20)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert lr_lambda("constant")(12345) == 1.0
    with pytest.raises(InputError):
        lr_lambda("linear")


def test_scheduler_state_loads_weights_only(tmp_path: Path) -> None:
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda("cosine-restart", period=10))
    for _ in range(3):
        opt.step()
        sched.step()
    save_checkpoint(tmp_path / "c.pt", {"sched": sched.state_dict(), "opt": opt.state_dict()})
    state = load_checkpoint(tmp_path / "c.pt")
    opt2 = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lr_lambda("cosine-restart", period=10))
    opt2.load_state_dict(state["opt"])
    sched2.load_state_dict(state["sched"])
    sched.step()
    sched2.step()
    assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"]
    assert not (tmp_path / "c.pt.tmp").exists()


def test_load_checkpoint_rejects_junk(tmp_path: Path) -> None:
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a bsrbench training checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")


def test_load_checkpoint_refuses_pickled_objects_in_one_line(tmp_path: Path) -> None:
    """A checkpoint of another tool (pickled objects): one line, no weights_only=False."""
    torch.save({"opt": _Fake()}, tmp_path / "other.pt")
    with pytest.raises(InputError) as err:
        load_checkpoint(tmp_path / "other.pt")
    msg = str(err.value)
    assert "\n" not in msg and "weights_only=False" not in msg and "another --out" in msg


class _Fake:
    """A one-parameter task: fits w to 3 with plain gradient steps."""

    val_columns = ("val_w",)

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.w = torch.zeros(())
        self.steps = 0
        self.interrupt_at = interrupt_at
        self.exported: list[dict[str, str]] = []

    def train_step(self) -> torch.Tensor:
        self.steps += 1
        if self.steps == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)
        loss = (self.w - 3.0) ** 2
        self.w = self.w - 0.2 * 2 * (self.w - 3.0)
        return loss

    def current_lr(self) -> float:
        return 0.2

    def validate(self) -> dict[str, float]:
        return {"val_psnr": float(-((self.w - 3.0) ** 2)), "val_w": float(self.w)}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"w": self.w.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.w = state["w"].clone()

    def export(self, out: Path, metadata: dict[str, str]) -> list[Path]:
        self.exported.append(metadata)
        (out / "w.txt").write_text(str(float(self.w)))
        return [out / "w.txt"]


def _cfg(out: Path, steps: int, **kw: object) -> LoopConfig:
    base = dict(out=out, steps=steps, identity={"stage": "fake"}, command="cmd", data="d", seed=0,
                device="cpu", log_every=1, val_every=2, save_every=3, progress=False)
    base.update(kw)
    return LoopConfig(**base)  # type: ignore[arg-type]


def test_run_training_logs_checkpoints_and_summarises(tmp_path: Path) -> None:
    task = _Fake()
    result = run_training(task, _cfg(tmp_path, 5))
    assert result.stopped == "done" and result.step == 5
    rows = list(csv.DictReader((tmp_path / LOG_NAME).read_text().splitlines()))
    assert [r["step"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert rows[1]["val_psnr"] and rows[1]["val_w"] and not rows[0]["val_psnr"]
    summary = json.loads((tmp_path / SUMMARY_NAME).read_text())
    assert summary["steps"] == 5 and summary["device"] == "cpu" and summary["command"] == "cmd"
    assert summary["final_val_psnr"] == pytest.approx(result.val["val_psnr"])
    assert task.exported[-1]["steps"] == "5" and task.exported[-1]["seed"] == "0"
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 5


def test_run_training_resume_equals_uninterrupted(tmp_path: Path) -> None:
    straight = _Fake()
    run_training(straight, _cfg(tmp_path / "a", 6))
    first = _Fake()
    run_training(first, _cfg(tmp_path / "b", 4))
    second = _Fake()
    result = run_training(second, _cfg(tmp_path / "b", 6))
    assert result.step == 6 and second.steps == 2  # only the missing steps ran
    assert torch.equal(second.w, straight.w)
    rows = csv.DictReader((tmp_path / "b" / LOG_NAME).read_text().splitlines())
    steps = [r["step"] for r in rows]
    assert steps == ["1", "2", "3", "4", "5", "6"]


def test_run_training_refuses_another_configuration(tmp_path: Path) -> None:
    run_training(_Fake(), _cfg(tmp_path, 2))
    with pytest.raises(InputError, match="stage='fake'"):
        run_training(_Fake(), _cfg(tmp_path, 4, identity={"stage": "other"}))


def test_run_training_time_cap_checkpoints_and_exports(tmp_path: Path) -> None:
    task = _Fake()
    result = run_training(task, _cfg(tmp_path, 1000, max_minutes=0.0))
    assert result.stopped == "time-cap" and result.step == 0
    assert (tmp_path / "w.txt").exists() and (tmp_path / CHECKPOINT_NAME).exists()
    assert json.loads((tmp_path / SUMMARY_NAME).read_text())["stopped"] == "time-cap"


def test_run_training_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    task = _Fake(interrupt_at=3)
    result = run_training(task, _cfg(tmp_path, 100))
    assert result.stopped == "interrupted" and result.step == 3
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 3
    assert (tmp_path / "w.txt").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --------------------------------------------------------------------------- settings


def _command() -> click.Command:
    return click.Command("fake", params=[click.Option(["--lr"], default=1e-4),
                                         click.Option(["--width"], default=3)])


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Settings(TrainSettings):
    command = staticmethod(_command)
    sigma_ranges = MappingProxyType({2: (0.5, 2.0)})

    width: int  # a plugin's own option


def _options(**kw: object) -> dict[str, object]:
    base: dict[str, object] = dict(
        hr=Path("hr"), out=Path("out"), scale=2, steps=10, max_minutes=None, batch_size=4,
        lr=1e-4, beta1=0.9, beta2=0.99, warmup=0, loss="l1", kernel_size=21, sigma_min=None,
        sigma_max=None, rate_iso=1.0, downsampler="matlab-bicubic", augment=True,
        val_dir=None, val_count=2, log_every=1, val_every=5, save_every=5, seed=0,
        device="cpu", amp=None, channels_last=None, width=3)
    base.update(kw)
    return base


def test_train_settings_from_options_fill_check_and_never_mutate() -> None:
    options = _options()
    s = _Settings.from_options(options)
    assert s.sigma_range == (0.5, 2.0) and options["sigma_min"] is None  # input left alone
    assert s.sigma_identity() == {} and s.changed(("lr", "width")) == {}
    other = dataclasses.replace(s, sigma_max=1.5, lr=1e-3)
    assert other.sigma_identity() == {"sigma_range": [0.5, 1.5]}
    assert other.changed(("lr", "width")) == {"lr": 1e-3}
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.lr = 1.0  # type: ignore[misc]
    with pytest.raises(InputError, match="0 < --sigma-min <= --sigma-max"):
        _Settings.from_options(_options(sigma_min=3.0))


def test_train_settings_refuse_options_without_a_field_and_fields_without_an_option() -> None:
    with pytest.raises(TypeError, match=r"options without a field \['typo'\]"):
        _Settings.from_options(_options(typo=1))
    options = _options()
    del options["width"]
    with pytest.raises(TypeError, match=r"fields without an option \['width'\]"):
        _Settings.from_options(options)


def test_setup_device_resolves_the_flags_the_settings_leave_open() -> None:
    s = _Settings.from_options(_options())
    assert setup_device(s) == TrainDevice(name="cpu", amp=False, channels_last=False)
    forced = setup_device(dataclasses.replace(s, amp=True, channels_last=True))
    assert forced == TrainDevice(name="cpu", amp=True, channels_last=True)


def _recorded_commands() -> list[object]:
    """Every ``bsrbench train`` command the model cards quote and the training summaries in
    docs/training/ recorded, as ``(where, command)`` parameters."""
    root = Path(__file__).resolve().parents[1]
    found = []
    for card in sorted(root.glob("plugins/*/bsrbench_*/weights/MODEL_CARD.md")):
        text = card.read_text().replace("\\\n", " ")
        found += [(card.parent.parent.name, line.strip()) for line in text.splitlines()
                  if line.strip().startswith("bsrbench train ")]
    for summary in sorted((root / "docs" / "training").glob("*_train_summary.json")):
        found.append((summary.name, json.loads(summary.read_text())["command"]))
    return [pytest.param(w, c, id=f"{w}-{i}") for i, (w, c) in enumerate(found)]


@pytest.mark.parametrize(("where", "line"), _recorded_commands())
def test_recorded_commands_still_build_their_settings(
    where: str, line: str, tmp_path: Path
) -> None:
    """The commands that made the bundled weights still parse into settings (and a summary's
    recorded identity is what these settings give), with every path they name made here."""
    from bsrbench_ikc._train_settings import IKCTrainSettings
    from bsrbench_ikc.train import ikc_command
    from bsrbench_srmd._train_settings import SRMDTrainSettings
    from bsrbench_srmd.train import srmd_command

    words = shlex.split(line.replace("$W", "runs/w").replace("$HR", "data/hr"))
    assert words[:2] == ["bsrbench", "train"], line
    command, settings_type = {"ikc": (ikc_command(), IKCTrainSettings),
                              "srmd": (srmd_command(), SRMDTrainSettings)}[words[2]]
    args = words[3:]
    by_flag = {opt: p for p in command.params for opt in p.opts}
    for i, word in enumerate(args[:-1]):
        param = by_flag.get(word)
        if param is not None and isinstance(param.type, click.Path) and param.type.exists:
            path = tmp_path / args[i + 1].lstrip("/")
            if param.type.dir_okay:
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            args[i + 1] = str(path)
    settings = settings_type.from_options(command.make_context(words[2], args).params)
    if not where.endswith(".json"):
        return
    recorded = json.loads((Path(__file__).resolve().parents[1] / "docs" / "training"
                           / where).read_text())
    ours = (settings.identity(recorded.get("pca", "")) if words[2] == "ikc"
            else settings.identity())
    # Older summaries hold fewer keys (settings recorded since then); the shared ones agree.
    shared = sorted((set(recorded) & set(ours)) - {"init", "from_weights", "pca"})
    assert len(shared) >= 10
    assert {k: ours[k] for k in shared} == {k: recorded[k] for k in shared}


def test_loop_config_and_result_are_frozen(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 2  # type: ignore[misc]
