"""One run of ``bsrbench train ikc``: options to PCA, data, stage and loop, then train."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bsrbench_ikc._train_stages import (
    _CorrectorPoolStage,
    _CorrectorStage,
    _PredictorStage,
    _SFTMDStage,
)
from bsrbench_ikc.train import STAGE_DEFAULTS

if TYPE_CHECKING:
    import click

    from bsrbench.training import LoopResult

log = logging.getLogger("bsrbench_ikc.train")  # the command's logger


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


# --------------------------------------------------------------------------- run


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
            kind = _CorrectorPoolStage if o["corrector_data"] == "pool" else _CorrectorStage
            task = kind(
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
    if stage == "corrector" and o["corrector_data"] == "pool":  # absent keys keep old resumes
        identity.update(
            {
                k: o[k]
                for k in (
                    "corrector_data",
                    "pool_size",
                    "pool_crop",
                    "pool_jitter",
                    "pool_predictor_share",
                    "pool_refresh_every",
                    "pool_refresh_share",
                )
            }
        )
    # Optimiser and data settings a resume must keep too (a resumed optimiser would quietly
    # keep the old --lr; a new --sigma-max would change the data mid-run). Recorded only
    # where they differ from the defaults, so checkpoints made before they were recorded
    # still resume; a change either way is still refused.
    identity.update(changed_settings(
        ctx, o, ("lr", "beta1", "beta2", "lr_period", "eta_min", "rate_iso", "augment", "warmup")))
    if (o["sigma_min"], o["sigma_max"]) != (lo, hi):
        identity["sigma_range"] = [o["sigma_min"], o["sigma_max"]]
    identity["pca"] = pca_source
    identity["init"] = str(o["init"] or "")
    return train_from_options(
        task,
        ctx,
        o,
        name=stage,
        identity=identity,
        device=device,
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
        logger=log,
    )
