"""One run of ``bsrbench train srmd``: the SRMD stage, and its settings turned into a run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bsrbench.training import StageBase

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from bsrbench.training import Invocation, LoopResult, PairBatch, PairSampler, TrainDevice
    from bsrbench_srmd._train_settings import SRMDTrainSettings

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
        self,
        net: torch.nn.Module,
        *,
        settings: SRMDTrainSettings,
        device: TrainDevice,
        sampler: PairSampler,
        val: PairBatch | None,
        pca: Tensor,
    ) -> None:
        import torch

        from bsrbench.training import lr_lambda

        schedule = lr_lambda("multistep", milestones=settings.milestones, gamma=settings.gamma)
        super().__init__(net, settings=settings, device=device, sampler=sampler, schedule=schedule)
        self.settings, self.val = settings, val
        self.noise_aware = settings.noise_aware
        # float64 where the device has it, like kernel_map.project_kernel (KAIR's numpy).
        self.f64 = torch.float64 if not str(self.device).startswith("mps") else torch.float32
        self.pca = pca.to(self.device, self.f64)

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
        psnr = score(sr.clamp(0, 1), self.val.hr_u8, scale=self.settings.scale)["psnr"]
        return {"val_psnr": float(psnr.mean())}

    def export(self, out: Path, metadata: dict[str, str]) -> list[Path]:
        from bsrbench.weights import save_state_dict

        path = out / f"{self.settings.variant}_x{self.settings.scale}.safetensors"
        save_state_dict(self.net.state_dict(), path, metadata)
        return [path]


def train(settings: SRMDTrainSettings, invocation: Invocation) -> LoopResult:
    """Train SRMD: resolve the device, make the data and the network (initialised, or
    loaded from ``--from-weights``), and run the loop."""
    import torch

    from bsrbench.training import setup_device, train_stage, training_pairs
    from bsrbench_srmd.arch import SRMD
    from bsrbench_srmd.kernel_map import load_pca

    device = setup_device(settings)
    sampler, val = training_pairs(
        settings,
        device.name,
        lr_size=settings.lr_size,
        noise_range=settings.noise_range,
        noise_free_rate=settings.noise_free_rate,
        val_noise=settings.val_noise,
    )
    torch.manual_seed(settings.seed)
    net = SRMD(in_nc=settings.in_nc, nc=settings.nc, nb=settings.nb, scale=settings.scale)
    if settings.from_weights is not None:  # fine-tune from existing weights
        from bsrbench_srmd.model import load_weights_into

        load_weights_into(net, settings.from_weights, settings.variant)
    elif settings.init == "orthogonal":
        orthogonal_init(net, settings.init_gain)
    task = _SRMDStage(
        net, settings=settings, device=device, sampler=sampler, val=val, pca=load_pca()
    )
    return train_stage(
        task,
        settings,
        invocation,
        name=settings.variant,
        identity=settings.identity(),
        device=device.name,
        extra_metadata=settings.metadata(),
        logger=log,
    )
