"""``--corrector-data pool``: the Corrector learns from a fixed pool of SFTMD outputs.

The official recipe (``--corrector-data online``) runs SFTMD seven times per batch at the
Corrector's own estimates. Those estimates start at the Predictor's, which are already
close to the truth, so the training signal is weak (the Corrector can lower the loss by
staying near the identity) and every step pays for seven SFTMD forwards.

The pool instead holds, for ``size`` random training pairs, SFTMD's output at a *wrong*
kernel code and that code, made once before training: for a share of the items the
Predictor's estimate, for the rest the true kernel widened or narrowed by a random factor
``exp(ε)``, ε ~ U(-jitter, jitter) (a Gaussian kernel ``k`` with its covariance scaled by
``f²`` is ``k^(1/f²)``, renormalised, so this works for anisotropic kernels too; the factor
is clipped so that the kernel's width stays inside the sampled σ range). Training then
costs one Corrector step per batch: random ``crop``² crops of the stored SR images (with
flips/transposes when ``augment``), the stored codes, MSE to the true code.

A Corrector trained on one-step data alone overshoots when it is applied seven times, so
the pool follows the Corrector as it learns (as the official recipe does, at a fraction of
its cost): it is built before the first step (after ``--init`` or a resume) with each item
advanced by a random number of Corrector steps, every ``refresh_every`` steps a random
``refresh_share`` of the items is advanced by one more step (new code, SFTMD's new
output), and items that have had ``max_age`` steps are replaced by fresh pairs. The pool
thus holds estimates from every step of the loop. It is not saved with the checkpoints
(it would make each one gigabytes): a resumed run builds a new one, so it is not
bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bsrbench.errors import InputError

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from bsrbench.training import PairSampler

log = logging.getLogger("bsrbench_ikc.train")


def kernel_width(kernels: Tensor) -> Tensor:
    """σ of each (isotropic-equivalent) kernel from its second moment: ``sqrt(E|x|²/2)``."""
    import torch

    k = kernels.double()
    size = k.shape[-1]
    r = torch.arange(size, dtype=torch.float64, device=k.device) - (size - 1) / 2
    rr = r.view(1, -1) ** 2 + r.view(-1, 1) ** 2
    return ((k * rr).sum(dim=(-2, -1)) / 2.0).sqrt()


def rescale_kernels(kernels: Tensor, factors: Tensor) -> Tensor:
    """Gaussian kernels with every width multiplied by ``factors`` (same grid, renormalised)."""
    k = kernels.double().clamp_min(0.0) ** (1.0 / factors.double().view(-1, 1, 1) ** 2)
    return (k / k.sum(dim=(-2, -1), keepdim=True)).to(kernels.dtype)


class CorrectorPool:
    """A fixed set of (SR at a wrong code, that code, the true code) the Corrector trains on.

    It stands in for the :class:`~bsrbench.training.PairSampler` of the stage: ``sample()``
    draws a batch, ``state_dict()`` holds the random state of the draws.
    """

    def __init__(
        self,
        pairs: PairSampler,
        *,
        size: int,
        crop: int,
        jitter: float,
        predictor_share: float,
        sigma_range: tuple[float, float],
        encode: Callable[[Tensor], Tensor],
        predict: Callable[[Tensor], Tensor],
        restore: Callable[[Tensor, Tensor], Tensor],
        seed: int,
        refresh_every: int = 0,
        refresh_share: float = 0.0,
        max_age: int = 7,
    ) -> None:
        import torch

        if crop > pairs.hr_size:
            raise InputError(
                f"--pool-crop {crop} is larger than the SR patch ({pairs.hr_size} px = "
                "--lr-size x scale): use a smaller --pool-crop or a larger --lr-size"
            )
        self.pairs, self.batch, self.crop, self.augment = pairs, pairs.batch, crop, pairs.augment
        self.jitter, self.predictor_share, self.sigma_range = jitter, predictor_share, sigma_range
        self.encode, self.predict, self.restore = encode, predict, restore
        self.refresh_every, self.refresh_share, self.max_age = refresh_every, refresh_share, max_age
        self.generator = torch.Generator().manual_seed(seed + 2)
        self.size, self.steps = size, 0
        self.built = False

    def build(self, corrector: torch.nn.Module | None, amp: Callable[[], Any]) -> None:
        """Make the pool (the stage calls it before its first step, after any ``--init`` or
        resume). With refreshes on and a ``corrector``, each item is then advanced by a
        random number of its steps in ``[0, max_age)``, so the pool starts with estimates
        from every step of the loop instead of only the first."""
        import torch

        parts: list[tuple[Tensor, ...]] = []
        start, made = time.monotonic(), 0
        while made < self.size:
            parts.append(self._fresh())
            made += parts[-1][0].shape[0]
            if len(parts) % 16 == 0:
                log.info("corrector pool: %d / %d items", min(made, self.size), self.size)
        self.lr, self.sr, self.est, self.true = (torch.cat(t)[: self.size] for t in zip(*parts))
        self.age = torch.zeros(self.size, dtype=torch.long)
        if corrector is not None and self.refresh_every and self.refresh_share:
            target = torch.randint(0, self.max_age, (self.size,), generator=self.generator)
            for k in range(1, self.max_age):
                self._advance((target >= k).nonzero().flatten(), corrector, amp)
        self.built = True
        log.info(
            "corrector pool of %d SFTMD outputs (%d px, %.2f GiB) built in %.0f s; "
            "mean code L2 of its estimates %.4f",
            self.size,
            self.sr.shape[-1],
            self.sr.numel() / 2**30,
            time.monotonic() - start,
            float((self.est - self.true).norm(dim=1).mean()),
        )

    def _fresh(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One batch of new items: (LR u8, SR u8, wrong code, true code)."""
        import torch

        b = self.pairs.sample()
        n = b.lr.shape[0]
        lo, hi = self.sigma_range
        u = torch.rand(n, 2, generator=self.generator, dtype=torch.float64)
        width = kernel_width(b.kernels).cpu()
        factor = torch.exp((2.0 * u[:, 0] - 1.0) * self.jitter)
        factor = torch.minimum(torch.maximum(factor, lo / width), hi / width)
        wrong = self.encode(rescale_kernels(b.kernels, factor.to(b.kernels.device)))
        use_predictor = (u[:, 1] < self.predictor_share).to(b.lr.device).view(-1, 1)
        est = torch.where(use_predictor, self.predict(b.lr), wrong).float()
        sr = _to_u8(self.restore(b.lr, est))
        return _to_u8(b.lr), sr, est, self.encode(b.kernels).float()

    def _advance(self, idx: Tensor, corrector: torch.nn.Module, amp: Callable[[], Any]) -> None:
        """One Corrector step for the items ``idx``: new code, SFTMD's new output, age + 1."""
        import torch

        if idx.numel() == 0:
            return
        was_training = corrector.training
        corrector.eval()
        for chunk in idx.split(self.batch):
            dev = chunk.to(self.sr.device)
            lr = self.lr[dev].float() / 255.0
            with torch.no_grad(), amp():
                est = corrector(self.sr[dev].float() / 255.0, self.est[dev]).float()
            self.est[dev], self.sr[dev] = est, _to_u8(self.restore(lr, est))
            self.age[chunk] += 1
        corrector.train(was_training)

    def refresh(self, corrector: torch.nn.Module, amp: Callable[[], Any]) -> None:
        """Advance a random share of the items by one Corrector step; renew the oldest."""
        import torch

        n = max(1, round(self.refresh_share * self.size))
        idx = torch.randperm(self.size, generator=self.generator)[:n]
        old = self.age[idx] + 1 >= self.max_age
        self._advance(idx[~old], corrector, amp)
        for chunk in idx[old].split(self.batch) if bool(old.any()) else ():
            lr, sr, est, true = self._fresh()
            k, dev = chunk.shape[0], chunk.to(self.sr.device)
            self.lr[dev], self.sr[dev], self.est[dev], self.true[dev] = (
                lr[:k],
                sr[:k],
                est[:k],
                true[:k],
            )
            self.age[chunk] = 0

    def step(self, corrector: torch.nn.Module, amp: Callable[[], Any]) -> None:
        """Call after every training step: refreshes the pool every ``refresh_every`` steps."""
        self.steps += 1
        if self.refresh_every and self.refresh_share and self.steps % self.refresh_every == 0:
            self.refresh(corrector, amp)

    def state_dict(self) -> dict[str, Any]:
        return {
            "cpu": self.generator.get_state(),
            "pairs": self.pairs.state_dict(),
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["cpu"])
        self.pairs.load_state_dict(state["pairs"])
        self.steps = int(state["steps"])

    def sample(self) -> tuple[Tensor, Tensor, Tensor]:
        """A batch ``(sr, estimate, true)``: float SR crops in [0, 1] and their codes."""
        import torch

        from bsrbench.training import dihedral

        g = self.generator
        idx = torch.randint(0, self.sr.shape[0], (self.batch,), generator=g)
        room = self.sr.shape[-1] - self.crop + 1
        top, left = torch.randint(0, room, (2,), generator=g).tolist()
        aug = int(torch.randint(0, 8, (1,), generator=g)) if self.augment else 0
        dev_idx = idx.to(self.sr.device)
        sr = dihedral(self.sr[dev_idx, :, top : top + self.crop, left : left + self.crop], aug)
        return sr.float() / 255.0, self.est[dev_idx], self.true[dev_idx]


def _to_u8(x: Tensor) -> Tensor:
    """[0, 1] floats to uint8, rounding half up, in float32 (``degradations._round_u8``
    works in float64, which MPS devices lack; the pool lives on the training device)."""
    import torch

    return torch.floor(x.float().clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)
