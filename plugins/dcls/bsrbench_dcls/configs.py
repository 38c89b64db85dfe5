"""DCLS's official test configurations, release files and where they are looked for.

Torch-free, so listing methods and the release catalogue never import torch. The
configurations are those of the official test ymls of ``megvii-research/DCLS-SR`` at
commit ``3314f42`` (FACTS.md §1): the kernel size (21, 11 or 31) changes the Estimator's
filter generator, so setting 1 and setting 2 checkpoints differ in architecture. The
released checkpoints are on Google Drive, not in the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bsrbench.errors import InputError

__all__ = ["DCLS_COMMIT", "DCLS_PAGE", "DCLS_REPO", "OFFICIAL", "Official", "find_checkpoint",
           "official", "weights_available"]

DCLS_REPO = "megvii-research/DCLS-SR"
DCLS_COMMIT = "3314f42e5ffa60962406a9764838fb0c490d1e28"
DCLS_PAGE = "https://github.com/megvii-research/DCLS-SR"


@dataclass(frozen=True)
class Official:
    """One official test configuration."""

    scale: int  # SR factor
    setting: int  # 1: isotropic Gaussian (Gaussian8); 2: anisotropic (DIV2KRK)
    kernel_size: int  # 21 (setting 1), 11 (setting 2, x2) or 31 (setting 2, x4)
    para: int = 256  # Estimator latent length
    nf: int = 64
    nb: int = 10  # blocks per group
    ng: int = 5  # groups

    @property
    def name(self) -> str:
        """Release name, e.g. ``dcls_x4_setting1``."""
        return f"dcls_x{self.scale}_setting{self.setting}"

    @property
    def filename(self) -> str:
        """Upstream's file name, e.g. ``DCLSx4_setting1.pth``."""
        return f"DCLSx{self.scale}_setting{self.setting}.pth"


OFFICIAL = {(s, 1): Official(s, 1, 21) for s in (2, 3, 4)}
OFFICIAL.update({(2, 2): Official(2, 2, 11), (4, 2): Official(4, 2, 31)})


def official(scale: int, setting: int) -> Official:
    """The official configuration, or an InputError naming the ones that exist."""
    try:
        return OFFICIAL[scale, setting]
    except KeyError:
        have = ", ".join(f"x{s} setting {t}" for (s, t) in sorted(OFFICIAL))
        raise InputError(f"DCLS has no official x{scale} setting {setting} configuration "
                         f"(it has {have}): pick -O setting=1 or 2 accordingly") from None


def find_checkpoint(path: str | Path | None, cfg: Official) -> Path:
    """Resolve ``--weights`` (a file, or a folder as upstream lays it out) for ``cfg``.

    A folder is searched for ``DCLSx4_setting1.pth`` (or the release name with ``.pth``/
    ``.safetensors``) in itself and in ``pretrained_models/``. Without a path the file
    fetched by ``bsrbench weights get`` is used.

    Raises:
        WeightsError: nothing found; the message names the file and where it is published.
    """
    from bsrbench.releases import find_release_weights

    where = f"{cfg.filename} from the Google Drive link in the README of {DCLS_PAGE}"
    return find_release_weights(
        path, cfg.name, needs=f"dcls x{cfg.scale} setting {cfg.setting} needs {where}",
        folders=("", "pretrained_models"), stems=(cfg.filename[:-4], cfg.name),
        missing=f"no {cfg.filename} in {path} (nor in pretrained_models/): get {where}",
        pass_hint=cfg.filename)


def weights_available(scale: int, setting: int = 1) -> bool:
    """True when ``bsrbench weights get`` has cached the default (setting 1) checkpoint."""
    from bsrbench.releases import cached_file

    cfg = OFFICIAL.get((scale, setting))
    return cfg is not None and cached_file(cfg.name) is not None
