"""The settings of ``bsrbench train ikc``: its options, typed and frozen, checked once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bsrbench.errors import InputError
from bsrbench.training.settings import TrainSettings
from bsrbench_ikc.train import STAGE_DEFAULTS, ikc_command

__all__ = ["IKCTrainSettings"]

# Always part of a run's resume identity, in the order checkpoints record them.
_IDENTITY = (
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
# Part of it for --corrector-data pool only (absent keys keep older resumes working).
_POOL_IDENTITY = (
    "corrector_data",
    "pool_size",
    "pool_crop",
    "pool_jitter",
    "pool_predictor_share",
    "pool_refresh_every",
    "pool_refresh_share",
)
# Part of it only where changed from the option's default: a resumed optimiser would
# quietly keep the old --lr; a new --rate-iso would change the data mid-run.
_IDENTITY_IF_CHANGED = (
    "lr",
    "beta1",
    "beta2",
    "lr_period",
    "eta_min",
    "rate_iso",
    "augment",
    "warmup",
)


@dataclass(frozen=True, kw_only=True)
class IKCTrainSettings(TrainSettings):
    """``bsrbench train ikc``: the shared settings plus IKC's stage, networks and pool.

    The per-stage defaults (``steps``, ``loss``, ``lr_scheme``, ``log_every``,
    ``val_every``, ``save_every``) are filled in from :data:`~bsrbench_ikc.train.STAGE_DEFAULTS`
    where the options leave them unset.
    """

    command = staticmethod(ikc_command)

    stage: str  # "sftmd", "predictor" or "corrector"
    sftmd: Path | None  # frozen SFTMD weights (predictor and corrector stages)
    predictor: Path | None  # frozen Predictor weights (corrector stage)
    pca: str | None  # "official", "computed", a file; None: beside --sftmd, else official
    lr_size: int  # LR patch side; the HR crop is lr_size * scale
    lr_scheme: str  # "constant" or "cosine-restart"
    lr_period: int  # cosine period in steps
    eta_min: float  # cosine floor (an absolute learning rate)
    corrector_steps: int  # Corrector updates per batch (online), iterations in validation
    corrector_data: str  # "online" (official) or "pool"
    pool_size: int  # SFTMD outputs in the pool
    pool_crop: int  # SR crop side the pooled Corrector trains on
    pool_jitter: float  # wrong kernels: width times exp(U(-j, j))
    pool_predictor_share: float  # share of pool items starting at the Predictor's estimate
    pool_refresh_every: int  # steps between pool refreshes; 0: a fixed pool
    pool_refresh_share: float  # share of the pool advanced at each refresh
    nf: int  # feature channels of the trained network
    nb: int  # SFTMD residual blocks
    init: Path | None  # weights to fine-tune from; None: PyTorch's initialisation

    @classmethod
    def resolve_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Fill the stage's defaults (official configs) and the scale's kernel widths."""
        stage_defaults = STAGE_DEFAULTS[options["stage"]]
        filled = {k: v if options[k] is None else options[k] for k, v in stage_defaults.items()}
        return super().resolve_options({**options, **filled})

    def check(self) -> None:
        """Refuse a later stage without its frozen networks, and a pool crop too large.

        Raises:
            InputError: What is missing or too large, and what to pass instead.
        """
        if self.stage != "sftmd" and self.sftmd is None:
            raise InputError(
                f"--stage {self.stage} needs --sftmd: the trained SFTMD weights "
                f"(sftmd_x{self.scale}.safetensors)"
            )
        if self.stage == "corrector" and self.predictor is None:
            raise InputError(
                "--stage corrector needs --predictor: the trained Predictor "
                "weights, for the first estimates"
            )
        super().check()
        if self.uses_pool and self.pool_crop > self.hr_size:
            raise InputError(
                f"--pool-crop {self.pool_crop} is larger than the SR patch ({self.hr_size} px "
                "= --lr-size x scale): use a smaller --pool-crop or a larger --lr-size"
            )

    @classmethod
    def default_sigma_range(cls, scale: int) -> tuple[float, float]:
        """IKC's per-scale widths (:data:`bsrbench_ikc.pca.SIGMA_RANGE`; read when needed,
        as that module imports torch)."""
        from bsrbench_ikc.pca import SIGMA_RANGE

        return SIGMA_RANGE[scale]

    # ------------------------------------------------------------------ derived

    @property
    def hr_size(self) -> int:
        """HR (and SR) patch side."""
        return self.lr_size * self.scale

    @property
    def uses_pool(self) -> bool:
        """The Corrector trains on a pool of SFTMD outputs (``--corrector-data pool``)."""
        return self.stage == "corrector" and self.corrector_data == "pool"

    def identity(self, pca_source: str) -> dict[str, Any]:
        """The settings a resumed run must share, as checkpoints have always recorded them.

        Args:
            pca_source: Where the run's PCA came from (``official``, ``computed``, a file).
        """
        identity = self.values(_IDENTITY)
        if self.uses_pool:
            identity.update(self.values(_POOL_IDENTITY))
        identity.update(self.changed(_IDENTITY_IF_CHANGED))
        identity.update(self.sigma_identity())
        identity["pca"] = pca_source
        identity["init"] = str(self.init or "")
        return identity

    def metadata(self, pca_source: str) -> dict[str, str]:
        """What the exported weights record about the run besides the loop's fields."""
        return {
            "method": "ikc",
            "stage": self.stage,
            "scale": str(self.scale),
            "pca": pca_source,
            "downsampler": self.downsampler,
            "sigma_range": f"{self.sigma_min},{self.sigma_max}",
            "sftmd": str(self.sftmd or ""),
            "predictor": str(self.predictor or ""),
        }
