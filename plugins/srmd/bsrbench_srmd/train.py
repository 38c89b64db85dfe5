"""``bsrbench train srmd``: train SRMD (noise-free ``srmdnf`` or noise-aware ``srmd``).

Hyper-parameters follow KAIR's ``options/train_srmd.json`` and ``data/dataset_srmd.py``
(``cszn/KAIR``): L1 loss, Adam(1e-4), MultiStepLR halving at 200k, 400k, 600k, 800k, 1M and
2M steps, batch 64 of 96² HR patches, random flips/rotations, orthogonal init with gain 0.2,
noise σ ~ U(0, 50) with 10 % noise-free items for the noise-aware model.

Kernels: KAIR's dataset samples anisotropic 15×15 kernels directly (lengths up to 10 px).
bsrbench's protocols instead blur with 21×21 Gaussian kernels and give SRMD their centre
15×15 crop (the ``center-crop`` conversion of its model spec), so this command trains on
exactly that: 21×21 kernels (isotropic, σ over the SRMD/IKC per-scale range) blur the HR
image, and the degradation map is built from ``center_crop_kernel(k, 15)``. The map uses
KAIR's test PCA (``srmd_pca_matlab.mat``, column-major flattening), the one the released
models and :mod:`bsrbench_srmd.kernel_map` use; KAIR's training file
``srmd_pca_pytorch.mat`` is not in its repository. Unlike KAIR, the LR is quantised to
8 bits (noise added first), as in bsrbench's test sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bsrbench.training.command import common_option, common_options

__all__ = ["SIGMA_RANGE", "srmd_command"]

# Isotropic kernel widths per scale (SRMD's training ranges, reused by the IKC paper, Sec. 4.1).
SIGMA_RANGE = {2: (0.2, 2.0), 3: (0.2, 3.0), 4: (0.2, 4.0)}
MILESTONES = (200_000, 400_000, 600_000, 800_000, 1_000_000, 2_000_000)  # train_srmd.json


def srmd_command() -> click.Command:
    """Build the ``srmd`` command for ``bsrbench train`` (torch is imported only when it runs)."""
    kair = "options/train_srmd.json of cszn/KAIR"

    @click.command(
        "srmd",
        short_help="Train SRMD (noise-free srmdnf, or noise-aware srmd with --noise-max).",
        help="Train SRMD with KAIR's recipe (options/train_srmd.json): L1, Adam, MultiStepLR. "
        "LR patches are made on the device from random HR crops blurred with random 21x21 "
        "Gaussian kernels; the degradation map is built from their centre 15x15 crop, as "
        "bsrbench's protocols feed SRMD. --noise-max 0 (default) trains srmdnf, > 0 the "
        "noise-aware srmd. Rerun the same command to resume from --out/checkpoint.pt.",
    )
    @common_option("--hr")
    @common_option("--scale", help=f"SR factor (scale: 4 in {kair}).")
    @common_option("--out")
    @click.option(
        "--noise-max",
        type=click.FloatRange(min=0),
        default=0.0,
        show_default=True,
        help="0 trains the noise-free srmdnf (18 inputs); > 0 the "
        "noise-aware srmd (19 inputs) with "
        f"noise sigma ~ U(--noise-min, --noise-max) in 0..255 units (KAIR: 50, 'sigma' in {kair}).",
    )
    @click.option(
        "--noise-min",
        type=click.FloatRange(min=0),
        default=0.0,
        show_default=True,
        help="Lowest noise level (KAIR: 0).",
    )
    @click.option(
        "--noise-free-rate",
        type=click.FloatRange(0, 1),
        default=0.1,
        show_default=True,
        help="Share of noise-free items in noise-aware training (data/dataset_srmd.py of KAIR).",
    )
    @common_option(
        "--steps",
        default=2_000_000,
        help=f"Total steps; KAIR runs until stopped, its last LR milestone is 2M ({kair}).",
    )
    @common_option("--max-minutes")
    @common_option("--batch-size", default=64, help=f"dataloader_batch_size in {kair}.")
    @click.option(
        "--hr-size",
        type=click.IntRange(min=8),
        default=96,
        show_default=True,
        help=f"HR patch side (H_size in {kair}); the LR patch is hr-size / scale.",
    )
    @common_option("--lr", help=f"Adam learning rate (G_optimizer_lr in {kair}).")
    @common_option("--beta1", help="Adam beta1 (KAIR default).")
    @common_option("--beta2", default=0.999, help="Adam beta2 (KAIR default).")
    @click.option(
        "--milestones",
        default=",".join(str(m) for m in MILESTONES),
        show_default=True,
        help="Steps where the learning rate is multiplied by --gamma "
        f"(G_scheduler_milestones in {kair}).",
    )
    @click.option(
        "--gamma", type=float, default=0.5, show_default=True, help=f"G_scheduler_gamma in {kair}."
    )
    @common_option("--loss", default="l1", help=f"G_lossfn_type in {kair}.")
    @click.option(
        "--init",
        type=click.Choice(["orthogonal", "default"]),
        default="orthogonal",
        show_default=True,
        help=f"Weight init (init_type in {kair}); 'default' keeps PyTorch's.",
    )
    @click.option(
        "--init-gain", type=float, default=0.2, show_default=True, help=f"init_gain in {kair}."
    )
    @click.option(
        "--from-weights",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Fine-tune: start from these weights (KAIR's srmd*_x*.pth or a bsrbench "
        "safetensors of the same variant, scale and size) instead of --init.",
    )
    @click.option(
        "--nc",
        type=click.IntRange(min=1),
        default=128,
        show_default=True,
        help=f"Feature channels (nc in {kair}). Use e.g. --nc 32 --nb 6 "
        "for a quick 'small' variant.",
    )
    @click.option(
        "--nb",
        type=click.IntRange(min=2),
        default=12,
        show_default=True,
        help=f"Convolutions in total (nb in {kair}).",
    )
    @common_option(
        "--kernel-size",
        type=click.IntRange(min=15),
        help="Blur kernel side (21, bsrbench's protocols); the map uses its centre 15x15 crop.",
    )
    @common_option("--sigma-min", help="Smallest kernel width (0.2; SRMD / IKC paper Sec. 4.1).")
    @common_option(
        "--sigma-max",
        help="Largest kernel width: 2.0 / 3.0 / 4.0 at x2 / x3 / x4 (SRMD / IKC paper Sec. 4.1).",
    )
    @common_option(
        "--rate-iso",
        help="Share of isotropic kernels; the rest are IKC-style anisotropic Gaussians.",
    )
    @common_option(
        "--downsampler",
        help="How LR is made from the blurred HR (KAIR: MATLAB bicubic, as the default).",
    )
    @common_option(
        "--augment",
        help="Random flips and rotations (augment_img in KAIR's dataset_srmd.py).",
    )
    @common_options("--val-dir", "--val-count")
    @common_option(
        "--log-every",
        default=200,
        help=f"Steps per log line and CSV row (checkpoint_print in {kair}).",
    )
    @common_option(
        "--val-every",
        default=5000,
        help=f"Steps per validation (checkpoint_test in {kair}).",
    )
    @common_option(
        "--save-every",
        default=5000,
        help=f"Steps per checkpoint (checkpoint_save in {kair}).",
    )
    @common_option("--seed", help="Random seed (KAIR draws one when manual_seed is unset).")
    @common_options("--device", "--amp", "--channels-last", "--warmup")
    @click.pass_context
    def command(ctx: click.Context, **options: Any) -> None:
        from bsrbench.training import run_command
        from bsrbench_srmd._train_settings import SRMDTrainSettings
        from bsrbench_srmd._train_stage import train

        run_command(ctx, SRMDTrainSettings, train)

    return command
