"""``bsrbench train ikc``: train SFTMD, then the Predictor and the Corrector, as IKC does.

The recipe is the official one (``yuanjunchai/IKC``, ``codes/train_SFTMD.py``,
``codes/train_IKC.py``, ``codes/models/{F,P,C}_model.py`` and the three
``codes/options/train/train_*.yml``):

* ``--stage sftmd``: SFTMD learns SR from LR and the *true* kernel's PCA code; L1 loss,
  Adam(1e-4, β=(0.9, 0.99)), cosine annealing with restarts every 125k steps down to 1e-7,
  500k steps of batch 32 with 64² LR patches.
* ``--stage predictor``: the Predictor regresses the true code from the LR image; MSE,
  constant 1e-4, 5k steps.
* ``--stage corrector``: SFTMD frozen; from the Predictor's estimate, 7 times per batch:
  SR = SFTMD(LR, estimate), estimate ← Corrector(SR, estimate), one MSE step against the
  true code, so the Corrector learns on SFTMD outputs at *its own* estimates. The official
  script trains Predictor and Corrector in one loop; here the Corrector starts from a
  trained, frozen Predictor (``--predictor``), which gives it the estimates the Predictor
  makes at test time.

LR images are made on the training device with bsrbench's own degradation (default the
test protocol's ``matlab-bicubic``; the official training used ``pil-bicubic``).
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bsrbench.training import LoopResult, StageBase

if TYPE_CHECKING:
    import torch
    from torch import Tensor

__all__ = ["STAGE_DEFAULTS", "ikc_command"]

log = logging.getLogger(__name__)

STAGES = ("sftmd", "predictor", "corrector")
_YML = {
    "sftmd": "train_SFTMD.yml",
    "predictor": "train_Predictor.yml",
    "corrector": "train_Corrector.yml",
}
# Per-stage defaults, each from codes/options/train/<_YML[stage]> of yuanjunchai/IKC:
# niter, pixel_criterion, lr_scheme, logger.print_freq, train.val_freq,
# logger.save_checkpoint_freq.
STAGE_DEFAULTS: dict[str, dict[str, Any]] = {
    "sftmd": {
        "steps": 500_000,
        "loss": "l1",
        "lr_scheme": "cosine-restart",
        "log_every": 100,
        "val_every": 5000,
        "save_every": 50_000,
    },
    "predictor": {
        "steps": 5000,
        "loss": "l2",
        "lr_scheme": "constant",
        "log_every": 10,
        "val_every": 500,
        "save_every": 500,
    },
    "corrector": {
        "steps": 5000,
        "loss": "l2",
        "lr_scheme": "constant",
        "log_every": 10,
        "val_every": 5000,
        "save_every": 100,
    },
}


# --------------------------------------------------------------------------- weights


@functools.lru_cache(maxsize=4)
def _computed_pca(scale: int) -> Any:
    """``compute_pca`` takes seconds; a process that trains several stages computes it once."""
    from bsrbench_ikc.pca import compute_pca

    return compute_pca(scale)


def _resolve_pca(choice: str | None, scale: int, sftmd: Path | None) -> tuple[Any, str]:
    """Return the KernelPCA and a description of where it came from.

    ``official``: the released ``pca_matrix.pth`` (σ ∈ [0.2, 4], the only one IKC
    published), rebuilt bit for bit by ``compute_pca(4)``; ``computed``: the same recipe
    over this scale's σ range; a path: that file. Later stages default to the
    ``pca_x{s}.safetensors`` exported beside ``--sftmd``, so all stages share one code space.
    """
    from bsrbench_ikc import pca as pca_mod

    if choice is None and sftmd is not None:
        beside = sftmd.with_name(f"pca_x{scale}.safetensors")
        if beside.is_file():
            return pca_mod.load_pca(beside), str(beside)
    choice = choice or "official"
    if choice == "official":
        return _computed_pca(4), "official"
    if choice == "computed":
        return _computed_pca(scale), "computed"
    return pca_mod.load_pca(Path(choice)), str(choice)


# --------------------------------------------------------------------------- stages


class _Stage(StageBase):
    """What the three stages share: the options, the PCA, validation and export."""

    def __init__(
        self, net: torch.nn.Module, o: dict[str, Any], sampler: Any, val: Any, pca: Any
    ) -> None:
        import torch

        from bsrbench.training import lr_lambda

        schedule = lr_lambda(
            o["lr_scheme"], period=o["lr_period"], eta_min_ratio=o["eta_min"] / o["lr"]
        )
        super().__init__(
            net,
            sampler=sampler,
            device=o["device"],
            lr=o["lr"],
            betas=(o["beta1"], o["beta2"]),
            schedule=schedule,
            amp=o["amp"],
            channels_last=o["channels_last"],
        )
        self.o, self.val = o, val
        self.pca = torch.as_tensor(pca.matrix).to(self.device)
        self.crit = torch.nn.L1Loss() if o["loss"] == "l1" else torch.nn.MSELoss()

    def encode(self, kernels: Tensor) -> Tensor:
        """IKC's code: row-major flattened kernel times P, float32 (``PCAEncoder``)."""
        return kernels.reshape(kernels.shape[0], -1) @ self.pca

    def psnr(self, sr: Tensor) -> float:
        from bsrbench.metrics import score

        return float(
            score(sr.float().clamp(0, 1), self.val.hr_u8, scale=self.o["scale"])["psnr"].mean()
        )

    def export(self, out: Path, metadata: dict[str, str]) -> list[Path]:
        from bsrbench_ikc.checkpoints import save_weights

        parts = {self.o["stage"]: self.net, "pca": self.o["pca_obj"]}
        written = save_weights(out, self.o["scale"], metadata=metadata, **parts)
        return list(written.values())


class _SFTMDStage(_Stage):
    def train_step(self) -> Tensor:
        b = self.sampler.sample()
        with self.amp():
            sr = self.net(self.cl(b.lr), self.encode(b.kernels))
        loss = self.crit(sr.float(), b.hr)
        self.update(loss)
        self.sched.step()
        return loss.detach()

    def validate(self) -> dict[str, float]:
        import torch

        self.net.eval()
        with torch.no_grad(), self.amp():
            sr = self.net(self.cl(self.val.lr), self.encode(self.val.kernels))
        self.net.train()
        return {"val_psnr": self.psnr(sr)}


class _PredictorStage(_Stage):
    val_columns = ("val_code_l2",)

    def __init__(
        self, net: Any, o: dict[str, Any], sampler: Any, val: Any, pca: Any, sftmd: Any
    ) -> None:
        super().__init__(net, o, sampler, val, pca)
        self.sftmd = self.frozen(sftmd)

    def train_step(self) -> Tensor:
        b = self.sampler.sample()
        with self.amp():
            code = self.net(self.cl(b.lr))
        loss = self.crit(code.float(), self.encode(b.kernels))
        self.update(loss)
        self.sched.step()
        return loss.detach()

    def _estimate(self, lr: Tensor) -> Tensor:
        with self.amp():
            return self.net(self.cl(lr)).float()

    def validate(self) -> dict[str, float]:
        import torch

        self.net.eval()
        with torch.no_grad():
            code = self._estimate(self.val.lr)
            with self.amp():
                sr = self.sftmd(self.cl(self.val.lr), code)
        self.net.train()
        true = self.encode(self.val.kernels)
        return {"val_psnr": self.psnr(sr), "val_code_l2": float((code - true).norm(dim=1).mean())}


class _CorrectorStage(_Stage):
    val_columns = ("val_code_l2", "val_psnr_start", "val_code_l2_start")

    def __init__(
        self,
        net: Any,
        o: dict[str, Any],
        sampler: Any,
        val: Any,
        pca: Any,
        sftmd: Any,
        predictor: Any,
    ) -> None:
        super().__init__(net, o, sampler, val, pca)
        self.sftmd = self.frozen(sftmd)
        self.predictor = self.frozen(predictor)

    def _sr(self, lr: Tensor, code: Tensor) -> Tensor:
        import torch

        with torch.no_grad(), self.amp():
            return self.sftmd(self.cl(lr), code).float().clamp(0, 1)

    def _start(self, lr: Tensor) -> Tensor:
        import torch

        with torch.no_grad(), self.amp():
            return self.predictor(self.cl(lr)).float()

    def train_step(self) -> Tensor:
        import torch

        b = self.sampler.sample()
        true = self.encode(b.kernels)
        est = self._start(b.lr)
        losses = []
        for _ in range(self.o["corrector_steps"]):
            sr = self._sr(b.lr, est)
            with self.amp():
                new = self.net(self.cl(sr), est).float()
            loss = self.crit(new, true)
            self.update(loss)
            est = new.detach()
            losses.append(loss.detach())
        self.sched.step()
        return torch.stack(losses).mean()

    def validate(self) -> dict[str, float]:
        import torch

        true = self.encode(self.val.kernels)
        est = self._start(self.val.lr)
        sr = self._sr(self.val.lr, est)
        start = {
            "val_psnr_start": self.psnr(sr),
            "val_code_l2_start": float((est - true).norm(dim=1).mean()),
        }
        self.net.eval()
        for _ in range(self.o["corrector_steps"]):
            with torch.no_grad(), self.amp():
                est = self.net(self.cl(sr), est).float()
            sr = self._sr(self.val.lr, est)
        self.net.train()
        return {
            "val_psnr": self.psnr(sr),
            "val_code_l2": float((est - true).norm(dim=1).mean()),
            **start,
        }


# --------------------------------------------------------------------------- command


def _train(ctx: click.Context, o: dict[str, Any]) -> LoopResult:
    import torch

    from bsrbench.errors import InputError
    from bsrbench.training import (
        LoopConfig,
        PairSampler,
        command_line,
        load_hr_images,
        run_training,
        setup_device,
        split_validation,
        validation_pairs,
    )
    from bsrbench_ikc import pca as pca_mod
    from bsrbench_ikc.archs import SFTMD, Corrector, Predictor
    from bsrbench_ikc.checkpoints import load_predictor, load_sftmd

    stage, scale = o["stage"], o["scale"]
    for key, value in STAGE_DEFAULTS[stage].items():
        if o[key] is None:
            o[key] = value
    if stage != "sftmd" and o["sftmd"] is None:
        raise InputError(
            f"--stage {stage} needs --sftmd: the trained SFTMD weights (sftmd_x{scale}.safetensors)"
        )
    if stage == "corrector" and o["predictor"] is None:
        raise InputError(
            "--stage corrector needs --predictor: the trained Predictor "
            "weights, for the first estimates"
        )
    lo, hi = pca_mod.SIGMA_RANGE[scale]
    o["sigma_min"] = lo if o["sigma_min"] is None else o["sigma_min"]
    o["sigma_max"] = hi if o["sigma_max"] is None else o["sigma_max"]
    device, amp, channels_last = setup_device(
        o["device"], amp=o["amp"], channels_last=o["channels_last"]
    )
    o.update(device=device, amp=amp, channels_last=channels_last)

    pca, pca_source = _resolve_pca(o["pca"], scale, o["sftmd"])
    if pca.kernel_size != o["kernel_size"]:
        raise InputError(
            f"the PCA is for {pca.kernel_size}x{pca.kernel_size} kernels, "
            f"--kernel-size is {o['kernel_size']}"
        )
    o["pca_obj"] = pca
    code_len = pca.dim
    hr_size = o["lr_size"] * scale
    images = load_hr_images(o["hr"], device=device, min_size=hr_size)
    val_images = (
        load_hr_images(o["val_dir"], device=device, min_size=scale * 8) if o["val_dir"] else None
    )
    train_images, val_images = split_validation(images, val_images, hold_out=o["val_count"])
    sigma_range = (o["sigma_min"], o["sigma_max"])
    sampler = PairSampler(
        train_images,
        scale=scale,
        lr_size=o["lr_size"],
        batch=o["batch_size"],
        downsampler=o["downsampler"],
        kernel_size=o["kernel_size"],
        sigma_range=sigma_range,
        rate_iso=o["rate_iso"],
        augment=o["augment"],
        seed=o["seed"],
    )
    val = validation_pairs(
        val_images,
        count=o["val_count"],
        scale=scale,
        hr_size=hr_size,
        downsampler=o["downsampler"],
        kernel_size=o["kernel_size"],
        sigma_range=sigma_range,
    )

    torch.manual_seed(o["seed"])
    if stage == "sftmd":
        task: Any = _SFTMDStage(
            SFTMD(nf=o["nf"], nb=o["nb"], scale=scale, input_para=code_len), o, sampler, val, pca
        )
    else:
        sftmd = load_sftmd(o["sftmd"], scale)
        if stage == "predictor":
            task = _PredictorStage(
                Predictor(nf=o["nf"], code_len=code_len), o, sampler, val, pca, sftmd
            )
        else:
            predictor = load_predictor(o["predictor"])
            task = _CorrectorStage(
                Corrector(nf=o["nf"], code_len=code_len), o, sampler, val, pca, sftmd, predictor
            )

    if o["init"] is not None:  # fine-tune: start from existing weights of this stage's network
        from bsrbench.weights import load_state_dict
        from bsrbench_ikc.checkpoints import load_state_into

        load_state_into(task.net, load_state_dict(o["init"]), str(o["init"]))
    identity = {
        k: o[k]
        for k in (
            "stage",
            "scale",
            "nf",
            "nb",
            "lr_size",
            "batch_size",
            "kernel_size",
            "loss",
            "lr_scheme",
            "corrector_steps",
            "downsampler",
            "seed",
        )
    }
    identity["pca"] = pca_source
    identity["init"] = str(o["init"] or "")
    cfg = LoopConfig(
        out=Path(o["out"]),
        steps=o["steps"],
        identity=identity,
        command=command_line(ctx),
        data=str(o["hr"]),
        seed=o["seed"],
        device=device,
        max_minutes=o["max_minutes"],
        log_every=o["log_every"],
        val_every=o["val_every"],
        started=o["started"],
        save_every=o["save_every"],
        extra_metadata={
            "method": "ikc",
            "stage": stage,
            "scale": str(scale),
            "pca": pca_source,
            "downsampler": o["downsampler"],
            "sigma_range": f"{sigma_range[0]},{sigma_range[1]}",
            "sftmd": str(o["sftmd"] or ""),
            "predictor": str(o["predictor"] or ""),
        },
    )
    result = run_training(task, cfg)
    log.info(
        "%s: stopped (%s) at step %d after %.0f s; wrote %s",
        stage,
        result.stopped,
        result.step,
        result.seconds,
        ", ".join(p.name for p in result.files),
    )
    return result


def ikc_command() -> click.Command:
    """Build the ``ikc`` command for ``bsrbench train`` (torch is imported only when it runs)."""
    per_stage = "per stage, from train_{SFTMD,Predictor,Corrector}.yml of yuanjunchai/IKC"

    @click.command(
        "ikc",
        short_help="Train IKC: SFTMD, then Predictor, then Corrector (official recipe).",
        help="Train IKC's networks with the official recipe: first --stage sftmd with the true "
        "kernels' PCA codes, then --stage predictor and --stage corrector with that SFTMD "
        "frozen (the Corrector learns on SFTMD outputs at its own estimates). LR patches are "
        "made on the device from random HR crops and random Gaussian kernels. Rerun the same "
        "command to resume from --out/checkpoint.pt. Defaults are the official configs' "
        "(yuanjunchai/IKC codes/options/train/train_*.yml).",
    )
    @click.option(
        "--stage",
        type=click.Choice(STAGES),
        required=True,
        help="sftmd first, then predictor, then corrector.",
    )
    @click.option(
        "--hr",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        required=True,
        help="Folder of HR training images (PNG/JPG); all are loaded to the device once.",
    )
    @click.option(
        "--scale",
        type=click.Choice(["2", "3", "4"]),
        default="4",
        show_default=True,
        callback=lambda c, p, v: int(v),
        help="SR factor (scale: 4 in the official configs).",
    )
    @click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        required=True,
        help="Run folder: checkpoint.pt, train_log.csv, weights, "
        "train_summary.json. Rerun to resume.",
    )
    @click.option(
        "--sftmd",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Frozen SFTMD weights for --stage predictor/corrector (sftmd_x{s}.safetensors).",
    )
    @click.option(
        "--predictor",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Frozen Predictor weights giving the Corrector its first "
        "estimates (--stage corrector).",
    )
    @click.option(
        "--pca",
        default=None,
        metavar="official|computed|PATH",
        help="Kernel PCA: 'official' (the released pca_matrix.pth, "
        "rebuilt by its recipe), 'computed' "
        "(same recipe over this scale's sigma range) or a file. Default: official for sftmd; later "
        "stages use the pca_x{s}.safetensors beside --sftmd.",
    )
    @click.option(
        "--steps",
        type=click.IntRange(min=1),
        default=None,
        help=f"Total steps (batches). Default niter {per_stage}: 500000 / 5000 / 5000.",
    )
    @click.option(
        "--max-minutes",
        type=click.FloatRange(min=0),
        default=None,
        help="Wall-clock cap for this invocation: stop cleanly, checkpoint and export.",
    )
    @click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=32,
        show_default=True,
        help="batch_size of all three train_*.yml.",
    )
    @click.option(
        "--lr-size",
        type=click.IntRange(min=8),
        default=64,
        show_default=True,
        help="LR patch side (LR_size in train_*.yml; the HR crop is "
        "lr-size x scale, GT_size 256 at x4).",
    )
    @click.option(
        "--lr",
        type=click.FloatRange(min=0, min_open=True),
        default=1e-4,
        show_default=True,
        help="Adam learning rate (lr_G in train_*.yml).",
    )
    @click.option(
        "--beta1", type=float, default=0.9, show_default=True, help="Adam beta1 (train_*.yml)."
    )
    @click.option(
        "--beta2", type=float, default=0.99, show_default=True, help="Adam beta2 (train_*.yml)."
    )
    @click.option(
        "--lr-scheme",
        type=click.Choice(["constant", "cosine-restart", "multistep"]),
        default=None,
        help="Default: cosine-restart for sftmd "
        "(CosineAnnealingLR_Restart in train_SFTMD.yml), constant "
        "for predictor/corrector (lr_scheme: ~).",
    )
    @click.option(
        "--lr-period",
        type=click.IntRange(min=1),
        default=125_000,
        show_default=True,
        help="Cosine period, restarting after each (T_period/restarts of train_SFTMD.yml).",
    )
    @click.option(
        "--eta-min",
        type=float,
        default=1e-7,
        show_default=True,
        help="Cosine floor (eta_min, train_SFTMD.yml).",
    )
    @click.option(
        "--loss",
        type=click.Choice(["l1", "l2"]),
        default=None,
        help="Default: l1 for sftmd, l2 (MSE on codes) for predictor/corrector (pixel_criterion).",
    )
    @click.option(
        "--corrector-steps",
        type=click.IntRange(min=1),
        default=7,
        show_default=True,
        help="Corrector updates per batch, each on SFTMD's output at the current estimate "
        "(step: 7 in train_Corrector.yml; also the validation iterations).",
    )
    @click.option(
        "--nf",
        type=click.IntRange(min=1),
        default=64,
        show_default=True,
        help="Feature channels of the trained network (network_G nf). Use "
        "e.g. --nf 16 --nb 4 for a quick "
        "'small' variant; sizes of frozen networks are read from their files.",
    )
    @click.option(
        "--nb",
        type=click.IntRange(min=1),
        default=16,
        show_default=True,
        help="SFTMD residual blocks (network_G nb).",
    )
    @click.option(
        "--kernel-size",
        type=click.IntRange(min=3),
        default=21,
        show_default=True,
        help="Blur kernel side (kernel_size in train_*.yml).",
    )
    @click.option(
        "--sigma-min",
        type=float,
        default=None,
        help="Smallest kernel width (sig_min 0.2 in train_SFTMD.yml).",
    )
    @click.option(
        "--sigma-max",
        type=float,
        default=None,
        help="Largest kernel width: 4.0 at x4 (sig_max, train_SFTMD.yml); 2.0 / 3.0 at x2 / x3 "
        "(IKC paper, Sec. 4.1).",
    )
    @click.option(
        "--rate-iso",
        type=click.FloatRange(0, 1),
        default=1.0,
        show_default=True,
        help="Share of isotropic kernels (rate_iso=1.0 in train_SFTMD.py "
        "/ train_IKC.py); the rest are "
        "IKC's anisotropic kernels.",
    )
    @click.option(
        "--downsampler",
        type=click.Choice(["matlab-bicubic", "pil-bicubic", "direct"]),
        default="matlab-bicubic",
        show_default=True,
        help="How LR is made from the blurred HR; default the benchmark's test protocol "
        "(the official training used pil-bicubic).",
    )
    @click.option(
        "--augment/--no-augment",
        default=True,
        show_default=True,
        help="Random flips and transposes (use_flip/use_rot in train_*.yml).",
    )
    @click.option(
        "--val-dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="Validation HR images; default: hold out the last --val-count images of --hr.",
    )
    @click.option(
        "--val-count",
        type=click.IntRange(min=1),
        default=8,
        show_default=True,
        help="Fixed validation pairs (centre crops, sigma evenly over the range).",
    )
    @click.option(
        "--log-every",
        type=click.IntRange(min=1),
        default=None,
        help=f"Steps per log line and CSV row (print_freq {per_stage}: 100 / 10 / 10).",
    )
    @click.option(
        "--val-every",
        type=click.IntRange(min=1),
        default=None,
        help=f"Steps per validation (val_freq {per_stage}: 5000 / 500 / 5000).",
    )
    @click.option(
        "--save-every",
        type=click.IntRange(min=1),
        default=None,
        help=f"Steps per checkpoint (save_checkpoint_freq {per_stage}: 50000 / 500 / 100).",
    )
    @click.option(
        "--seed", type=int, default=0, show_default=True, help="Random seed (manual_seed: 0)."
    )
    @click.option(
        "--init",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Start from these weights of the trained network (fine-tuning); default: "
        "PyTorch's initialisation, as the official code.",
    )
    @click.option(
        "--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps."
    )
    @click.option("--amp/--no-amp", default=None, help="bf16 autocast; default on for CUDA only.")
    @click.option(
        "--channels-last/--no-channels-last",
        default=None,
        help="channels_last memory format; default on for CUDA only.",
    )
    @click.pass_context
    def command(ctx: click.Context, **o: Any) -> None:
        from bsrbench.training import run_command

        o["started"] = time.monotonic()
        run_command(ctx, lambda: _train(ctx, o))

    return command
