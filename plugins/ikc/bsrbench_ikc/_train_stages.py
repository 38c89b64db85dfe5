"""The three stages of ``bsrbench train ikc``: SFTMD, the Predictor and the Corrector.

Each is a :class:`~bsrbench.training.StageBase` with IKC's loss, validation and export;
:mod:`bsrbench_ikc.train` has the recipe they follow.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench.training import StageBase

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from bsrbench.training import PairBatch, PairSampler, TrainDevice
    from bsrbench_ikc._train_settings import IKCTrainSettings
    from bsrbench_ikc.pca import KernelPCA


class _Stage(StageBase):
    """What the three stages share: the settings, the PCA, validation and export.

    Args:
        net: The network this stage trains.
        settings: The run's settings.
        device: The resolved device.
        sampler: Training pairs.
        val: The fixed validation pairs.
        pca: The kernel PCA giving the codes (exported beside the weights).
    """

    def __init__(
        self,
        net: torch.nn.Module,
        *,
        settings: IKCTrainSettings,
        device: TrainDevice,
        sampler: PairSampler,
        val: PairBatch,
        pca: KernelPCA,
    ) -> None:
        import torch

        from bsrbench.training import lr_lambda

        schedule = lr_lambda(
            settings.lr_scheme,
            period=settings.lr_period,
            eta_min_ratio=settings.eta_min / settings.lr,
        )
        super().__init__(net, settings=settings, device=device, sampler=sampler, schedule=schedule)
        self.settings, self.val, self.kernel_pca = settings, val, pca
        self.pca = torch.as_tensor(pca.matrix).to(self.device)

    def encode(self, kernels: Tensor) -> Tensor:
        """IKC's code: row-major flattened kernel times P, float32 (``PCAEncoder``)."""
        return kernels.reshape(kernels.shape[0], -1) @ self.pca

    def psnr(self, sr: Tensor) -> float:
        from bsrbench.metrics import score

        return float(
            score(sr.float().clamp(0, 1), self.val.hr_u8, scale=self.settings.scale)["psnr"].mean()
        )

    def export(self, out: Path, metadata: dict[str, str]) -> list[Path]:
        from bsrbench_ikc.checkpoints import save_weights

        parts = {self.settings.stage: self.net, "pca": self.kernel_pca}
        written = save_weights(out, self.settings.scale, metadata=metadata, **parts)
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

    def __init__(self, net: torch.nn.Module, *, sftmd: torch.nn.Module, **common: Any) -> None:
        super().__init__(net, **common)
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
        net: torch.nn.Module,
        *,
        sftmd: torch.nn.Module,
        predictor: torch.nn.Module,
        **common: Any,
    ) -> None:
        super().__init__(net, **common)
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
        for _ in range(self.settings.corrector_steps):
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
        for _ in range(self.settings.corrector_steps):
            with torch.no_grad(), self.amp():
                est = self.net(self.cl(sr), est).float()
            sr = self._sr(self.val.lr, est)
        self.net.train()
        return {
            "val_psnr": self.psnr(sr),
            "val_code_l2": float((est - true).norm(dim=1).mean()),
            **start,
        }


class _CorrectorPoolStage(_CorrectorStage):
    """``--corrector-data pool``: one Corrector step per batch on a pool of SFTMD outputs that
    follows the Corrector (:mod:`bsrbench_ikc._corrector_pool`); validation is the online
    stage's loop of ``--corrector-steps`` steps."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from bsrbench_ikc._corrector_pool import CorrectorPool

        super().__init__(*args, **kwargs)
        s = self.settings
        self.sampler = CorrectorPool(
            self.sampler,
            size=s.pool_size,
            crop=s.pool_crop,
            jitter=s.pool_jitter,
            predictor_share=s.pool_predictor_share,
            sigma_range=s.sigma_range,
            encode=self.encode,
            predict=self._start,
            restore=self._sr,
            seed=s.seed,
            refresh_every=s.pool_refresh_every,
            refresh_share=s.pool_refresh_share,
            max_age=s.corrector_steps,
        )

    def train_step(self) -> Tensor:
        if not self.sampler.built:  # here, so that --init and a resume come first
            self.sampler.build(self.net, self.amp)
        sr, est, true = self.sampler.sample()
        with self.amp():
            new = self.net(self.cl(sr), est).float()
        loss = self.crit(new, true)
        self.update(loss)
        self.sched.step()
        self.sampler.step(self.net, self.amp)
        return loss.detach()
