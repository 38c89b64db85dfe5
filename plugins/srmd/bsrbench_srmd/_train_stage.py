"""One run of ``bsrbench train srmd``: the SRMD stage, and the options turned into a run of it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.training import StageBase
from bsrbench_srmd.train import MILESTONES, SIGMA_RANGE

if TYPE_CHECKING:
    import click
    import torch
    from torch import Tensor

    from bsrbench.training import LoopResult

log = logging.getLogger("bsrbench_srmd.train")  # the command's logger


def orthogonal_init(net: torch.nn.Module, gain: float) -> None:
    """KAIR's ``init_weights(init_type='orthogonal', gain)``: orthogonal weights, zero biases."""
    import torch

    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
            torch.nn.init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)


class _SRMDStage(StageBase):
    """One SRMD step: LR + degradation map in, L1 against the HR patch."""

    val_columns: tuple[str, ...] = ()

    def __init__(
        self, net: torch.nn.Module, o: dict[str, Any], sampler: Any, val: Any, pca: Tensor
    ) -> None:
        import torch

        from bsrbench.training import lr_lambda, optimizer_options

        schedule = lr_lambda("multistep", milestones=o["milestones"], gamma=o["gamma"])
        super().__init__(net, sampler=sampler, schedule=schedule, **optimizer_options(o))
        self.o, self.val = o, val
        self.noise_aware = o["noise_max"] > 0
        # float64 where the device has it, like kernel_map.project_kernel (KAIR's numpy).
        self.f64 = torch.float64 if not str(self.device).startswith("mps") else torch.float32
        self.pca = pca.to(self.device, self.f64)
        self.crit = torch.nn.L1Loss() if o["loss"] == "l1" else torch.nn.MSELoss()

    def vector(self, kernels: Tensor, noise: Tensor | None) -> Tensor:
        """``kernel_map.degradation_vector`` on the device: P · vec_F(crop15(k)) (+ noise/255)."""
        import torch

        start = (kernels.shape[-1] - 15) // 2  # center_crop_kernel without its host-side checks
        k = kernels[:, start : start + 15, start : start + 15]
        k = k / k.sum(dim=(-2, -1), keepdim=True)
        flat = k.to(self.f64).transpose(-2, -1).reshape(k.shape[0], -1)
        codes = flat @ self.pca.T
        if self.noise_aware:
            level = noise if noise is not None else torch.zeros(k.shape[0], device=k.device)
            codes = torch.cat([codes, (level.to(self.f64) / 255.0)[:, None]], dim=1)
        return codes.to(torch.float32)

    def forward(self, lr: Tensor, vector: Tensor) -> Tensor:
        from bsrbench_srmd.kernel_map import network_input

        with self.amp():
            return self.net(self.cl(network_input(lr, vector))).float()

    def train_step(self) -> Tensor:
        b = self.sampler.sample()
        sr = self.forward(b.lr, self.vector(b.kernels, b.noise))
        loss = self.crit(sr, b.hr)
        self.update(loss)
        self.sched.step()
        return loss.detach()

    def validate(self) -> dict[str, float]:
        import torch

        from bsrbench.metrics import score

        self.net.eval()
        with torch.no_grad():
            sr = self.forward(self.val.lr, self.vector(self.val.kernels, self.val.noise))
        self.net.train()
        psnr = score(sr.clamp(0, 1), self.val.hr_u8, scale=self.o["scale"])["psnr"]
        return {"val_psnr": float(psnr.mean())}

    def export(self, out: Path, metadata: dict[str, str]) -> list[Path]:
        from bsrbench.weights import save_state_dict

        path = out / f"{self.o['variant']}_x{self.o['scale']}.safetensors"
        save_state_dict(self.net.state_dict(), path, metadata)
        return [path]


def _train(ctx: click.Context, o: dict[str, Any]) -> LoopResult:
    import torch

    from bsrbench.errors import InputError
    from bsrbench.training import (
        PairSampler,
        changed_settings,
        load_hr_images,
        setup_device,
        split_validation,
        validation_pairs,
    )
    from bsrbench.training.command import train_from_options
    from bsrbench_srmd.arch import SRMD
    from bsrbench_srmd.kernel_map import load_pca

    scale = o["scale"]
    if o["hr_size"] % scale:
        raise InputError(f"--hr-size {o['hr_size']} is not a multiple of --scale {scale}")
    if o["kernel_size"] < 15:
        raise InputError(
            "--kernel-size must be at least 15 (SRMD's PCA is for 15x15 "
            f"kernels), got {o['kernel_size']}"
        )
    if o["noise_max"] < o["noise_min"]:
        raise InputError(f"--noise-max {o['noise_max']} is below --noise-min {o['noise_min']}")
    lo, hi = SIGMA_RANGE[scale]
    o["sigma_min"] = lo if o["sigma_min"] is None else o["sigma_min"]
    o["sigma_max"] = hi if o["sigma_max"] is None else o["sigma_max"]
    o["variant"] = "srmd" if o["noise_max"] > 0 else "srmdnf"
    o["milestones"] = tuple(int(m) for m in o["milestones"].split(",") if m.strip())
    device, amp, channels_last = setup_device(
        o["device"], amp=o["amp"], channels_last=o["channels_last"]
    )
    o.update(device=device, amp=amp, channels_last=channels_last)

    lr_size = o["hr_size"] // scale
    images = load_hr_images(o["hr"], device=device, min_size=o["hr_size"])
    val_images = (
        load_hr_images(o["val_dir"], device=device, min_size=scale * 8) if o["val_dir"] else None
    )
    train_images, val_images = split_validation(images, val_images, hold_out=o["val_count"])
    sigma_range = (o["sigma_min"], o["sigma_max"])
    noise_range = (o["noise_min"], o["noise_max"]) if o["variant"] == "srmd" else None
    sampler = PairSampler(
        train_images,
        scale=scale,
        lr_size=lr_size,
        batch=o["batch_size"],
        downsampler=o["downsampler"],
        kernel_size=o["kernel_size"],
        sigma_range=sigma_range,
        rate_iso=o["rate_iso"],
        noise_range=noise_range,
        noise_free_rate=o["noise_free_rate"],
        augment=o["augment"],
        seed=o["seed"],
    )
    val_noise = None if noise_range is None else (noise_range[0] + noise_range[1]) / 2
    val = validation_pairs(
        val_images,
        count=o["val_count"],
        scale=scale,
        hr_size=o["hr_size"],
        downsampler=o["downsampler"],
        kernel_size=o["kernel_size"],
        sigma_range=sigma_range,
        noise=val_noise,
    )

    torch.manual_seed(o["seed"])
    in_nc = 19 if o["variant"] == "srmd" else 18
    net = SRMD(in_nc=in_nc, nc=o["nc"], nb=o["nb"], scale=scale)
    if o["from_weights"] is not None:  # fine-tune from existing weights
        from bsrbench_srmd.model import load_weights_into

        load_weights_into(net, o["from_weights"], o["variant"])
    elif o["init"] == "orthogonal":
        orthogonal_init(net, o["init_gain"])
    task = _SRMDStage(net, o, sampler, val, load_pca())

    identity = {
        k: o[k]
        for k in (
            "variant",
            "scale",
            "nc",
            "nb",
            "hr_size",
            "batch_size",
            "kernel_size",
            "loss",
            "downsampler",
            "seed",
            "init",
        )
    }
    identity["from_weights"] = str(o["from_weights"] or "")
    # optimiser and data settings: only where changed (see changed_settings)
    identity.update(changed_settings(
        ctx, o, ("lr", "beta1", "beta2", "gamma", "rate_iso", "augment", "warmup", "noise_min",
                 "noise_max", "noise_free_rate", "init_gain")))
    if o["milestones"] != tuple(MILESTONES):
        identity["milestones"] = list(o["milestones"])
    if (o["sigma_min"], o["sigma_max"]) != (lo, hi):
        identity["sigma_range"] = [o["sigma_min"], o["sigma_max"]]
    return train_from_options(
        task,
        ctx,
        o,
        name=o["variant"],
        identity=identity,
        device=device,
        extra_metadata={
            "method": o["variant"],
            "scale": str(scale),
            "downsampler": o["downsampler"],
            "sigma_range": f"{sigma_range[0]},{sigma_range[1]}",
            "noise_range": "" if noise_range is None else f"{noise_range[0]},{noise_range[1]}",
            "kernel_map": "center-crop 15x15 of the blur kernel, KAIR srmd_pca_matlab.mat",
        },
        logger=log,
    )
