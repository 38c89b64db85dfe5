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
  makes at test time. ``--corrector-data pool`` is bsrbench's cheaper alternative
  (:mod:`bsrbench_ikc._corrector_pool`): one Corrector step per batch on a pool of SFTMD
  outputs that the Corrector itself keeps advancing.

LR images are made on the training device with bsrbench's own degradation (default the
test protocol's ``matlab-bicubic``; the official training used ``pil-bicubic``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bsrbench.training.command import common_option, common_options

__all__ = ["STAGE_DEFAULTS", "ikc_command"]

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


# --------------------------------------------------------------------------- command


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
    @common_option("--hr")
    @common_option("--scale", help="SR factor (scale: 4 in the official configs).")
    @common_option("--out")
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
    @common_option(
        "--steps",
        help=f"Total steps (batches). Default niter {per_stage}: 500000 / 5000 / 5000.",
    )
    @common_option("--max-minutes")
    @common_option("--batch-size", default=32, help="batch_size of all three train_*.yml.")
    @click.option(
        "--lr-size",
        type=click.IntRange(min=8),
        default=64,
        show_default=True,
        help="LR patch side (LR_size in train_*.yml; the HR crop is "
        "lr-size x scale, GT_size 256 at x4).",
    )
    @common_option("--lr", help="Adam learning rate (lr_G in train_*.yml).")
    @common_option("--beta1", help="Adam beta1 (train_*.yml).")
    @common_option("--beta2", default=0.99, help="Adam beta2 (train_*.yml).")
    @click.option(
        "--lr-scheme",
        type=click.Choice(["constant", "cosine-restart"]),
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
    @common_option(
        "--loss",
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
        "--corrector-data",
        type=click.Choice(["online", "pool"]),
        default="online",
        show_default=True,
        help="Corrector training data. online: the official recipe (SFTMD outputs at the "
        "Corrector's own estimates, --corrector-steps per batch). pool: a fixed pool of "
        "SFTMD outputs at wrong codes (the Predictor's, or the true kernel rescaled), built "
        "once and then advanced by the Corrector as it learns, one cheap Corrector step per "
        "batch; see --pool-*.",
    )
    @click.option(
        "--pool-size",
        type=click.IntRange(min=1),
        default=4096,
        show_default=True,
        help="SFTMD outputs in the pool (--corrector-data pool), each --lr-size x scale px.",
    )
    @click.option(
        "--pool-crop",
        type=click.IntRange(min=16),
        default=128,
        show_default=True,
        help="SR crop side the Corrector trains on (--corrector-data pool).",
    )
    @click.option(
        "--pool-jitter",
        type=click.FloatRange(min=0),
        default=0.5,
        show_default=True,
        help="Wrong kernels of the pool: the true kernel's width times exp(U(-j, j)).",
    )
    @click.option(
        "--pool-predictor-share",
        type=click.FloatRange(0, 1),
        default=0.5,
        show_default=True,
        help="Share of pool items whose code is the Predictor's estimate (the rest are "
        "rescaled true kernels).",
    )
    @click.option(
        "--pool-refresh-every",
        type=click.IntRange(min=0),
        default=100,
        show_default=True,
        help="Steps between pool refreshes, which advance items by one step of the current "
        "Corrector (new code, new SFTMD output); items advanced --corrector-steps times are "
        "replaced by fresh ones. 0: a fixed pool.",
    )
    @click.option(
        "--pool-refresh-share",
        type=click.FloatRange(0, 1),
        default=0.05,
        show_default=True,
        help="Share of the pool advanced at each refresh.",
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
    @common_option(
        "--kernel-size",
        type=click.IntRange(min=3),
        help="Blur kernel side (kernel_size in train_*.yml).",
    )
    @common_option("--sigma-min", help="Smallest kernel width (sig_min 0.2 in train_SFTMD.yml).")
    @common_option(
        "--sigma-max",
        help="Largest kernel width: 4.0 at x4 (sig_max, train_SFTMD.yml); 2.0 / 3.0 at x2 / x3 "
        "(IKC paper, Sec. 4.1).",
    )
    @common_option(
        "--rate-iso",
        help="Share of isotropic kernels (rate_iso=1.0 in train_SFTMD.py "
        "/ train_IKC.py); the rest are "
        "IKC's anisotropic kernels.",
    )
    @common_option(
        "--downsampler",
        help="How LR is made from the blurred HR; default the benchmark's test protocol "
        "(the official training used pil-bicubic).",
    )
    @common_option(
        "--augment",
        help="Random flips and transposes (use_flip/use_rot in train_*.yml).",
    )
    @common_options("--val-dir", "--val-count")
    @common_option(
        "--log-every",
        help=f"Steps per log line and CSV row (print_freq {per_stage}: 100 / 10 / 10).",
    )
    @common_option(
        "--val-every",
        help=f"Steps per validation (val_freq {per_stage}: 5000 / 500 / 5000).",
    )
    @common_option(
        "--save-every",
        help=f"Steps per checkpoint (save_checkpoint_freq {per_stage}: 50000 / 500 / 100).",
    )
    @common_option("--seed", help="Random seed (manual_seed: 0).")
    @click.option(
        "--init",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Start from these weights of the trained network (fine-tuning); default: "
        "PyTorch's initialisation, as the official code.",
    )
    @common_options("--device", "--amp", "--channels-last", "--warmup")
    @click.pass_context
    def command(ctx: click.Context, **options: Any) -> None:
        from bsrbench.training import run_command
        from bsrbench_ikc._train_run import train
        from bsrbench_ikc._train_settings import IKCTrainSettings

        run_command(ctx, IKCTrainSettings, train)

    return command
