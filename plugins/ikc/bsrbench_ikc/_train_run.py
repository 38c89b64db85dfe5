"""One run of ``bsrbench train ikc``: settings to device, PCA, data, stage and loop."""

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
    _Stage,
)

if TYPE_CHECKING:
    from bsrbench.training import Invocation, LoopResult, TrainDevice
    from bsrbench_ikc._train_settings import IKCTrainSettings

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


def train(settings: IKCTrainSettings, invocation: Invocation) -> LoopResult:
    """Train the settings' stage: resolve the device and the PCA, make the data and the
    stage (with its frozen networks), start from ``--init`` if given, and run the loop."""
    import torch

    from bsrbench.errors import InputError
    from bsrbench.training import setup_device, train_stage, training_pairs

    device = setup_device(settings)
    pca, pca_source = _resolve_pca(settings.pca, settings.scale, settings.sftmd)
    if pca.kernel_size != settings.kernel_size:
        raise InputError(
            f"the PCA is for {pca.kernel_size}x{pca.kernel_size} kernels, "
            f"--kernel-size is {settings.kernel_size}"
        )
    sampler, val = training_pairs(settings, device.name, lr_size=settings.lr_size)
    torch.manual_seed(settings.seed)
    task = _make_stage(settings, device, sampler, val, pca)
    if settings.init is not None:  # fine-tune: start from existing weights of this stage's net
        from bsrbench.weights import load_state_dict
        from bsrbench_ikc.checkpoints import load_state_into

        load_state_into(task.net, load_state_dict(settings.init), str(settings.init))
    return train_stage(
        task,
        settings,
        invocation,
        name=settings.stage,
        identity=settings.identity(pca_source),
        device=device.name,
        extra_metadata=settings.metadata(pca_source),
        logger=log,
    )


def _make_stage(
    settings: IKCTrainSettings, device: TrainDevice, sampler: Any, val: Any, pca: Any
) -> _Stage:
    """The stage's network (fresh, ``--nf``/``--nb``) with the frozen ones it learns from."""
    from bsrbench_ikc.archs import SFTMD, Corrector, Predictor
    from bsrbench_ikc.checkpoints import load_predictor, load_sftmd

    common = dict(settings=settings, device=device, sampler=sampler, val=val, pca=pca)
    code_len = pca.dim
    if settings.stage == "sftmd":
        net = SFTMD(nf=settings.nf, nb=settings.nb, scale=settings.scale, input_para=code_len)
        return _SFTMDStage(net, **common)
    assert settings.sftmd is not None  # IKCTrainSettings.check
    sftmd = load_sftmd(settings.sftmd, settings.scale)
    if settings.stage == "predictor":
        return _PredictorStage(Predictor(nf=settings.nf, code_len=code_len), sftmd=sftmd, **common)
    assert settings.predictor is not None  # IKCTrainSettings.check
    predictor = load_predictor(settings.predictor)
    kind = _CorrectorPoolStage if settings.uses_pool else _CorrectorStage
    net = Corrector(nf=settings.nf, code_len=code_len)
    return kind(net, sftmd=sftmd, predictor=predictor, **common)
