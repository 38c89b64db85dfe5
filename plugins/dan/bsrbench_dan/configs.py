"""DAN's official test configurations, release files and where they are looked for.

Torch-free, so that listing methods (``weights_available``) and the release catalogue never
import torch. The configurations are those of the official test ymls of ``greatlog/DAN``
at commit ``4c4de00`` (FACTS.md §1); the released checkpoints are not in the repository
but on the drives its README links, so bsrbench cannot fetch them unpinned by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bsrbench.errors import InputError

__all__ = [
    "DAN_COMMIT",
    "DAN_REPO",
    "Official",
    "find_checkpoint",
    "official",
    "release_name",
    "weights_available",
]

DAN_REPO = "greatlog/DAN"
DAN_COMMIT = "4c4de00714e2a3ea541071da182a4e792128d128"
DAN_PAGE = "https://github.com/greatlog/DAN"
LOOP = 4  # alternations in every official test yml


@dataclass(frozen=True)
class Official:
    """One official test configuration (a yml of ``codes/config/DANv*/options``)."""

    version: int  # 1 or 2
    scale: int  # SR factor
    setting: int  # 1: isotropic Gaussian (Gaussian8); 2: anisotropic (DIV2KRK)
    kernel_size: int  # side of the kernels the PCA encodes
    para: int  # code length (PCA components)
    pca: str  # the yml's pca_matrix_path, relative to the repository root
    nf: int = 64
    nb: int = 40  # v1: CRBs; v2: blocks per group
    ng: int = 5  # v2: groups

    @property
    def name(self) -> str:
        """The release's name and the checkpoint's file stem, e.g. ``danv1_x4_setting1``."""
        return release_name(self.version, self.scale, self.setting)


def _table() -> dict[tuple[int, int, int], Official]:
    out = {}
    for v, nb in ((1, 40), (2, 10)):
        for s in (2, 3, 4):
            out[v, s, 1] = Official(v, s, 1, 21, 10, f"pca_matrix/DANv{v}/pca_matrix.pth", nb=nb)
        out[v, 2, 2] = Official(v, 2, 2, 11, 10, f"pca_matrix/DANv{v}/pca_aniso_matrix_x2.pth",
                                nb=nb)
        k, para = (21, 10) if v == 1 else (31, 15)  # DANv2 x4 setting 2: 31x31, 15 codes
        out[v, 4, 2] = Official(v, 4, 2, k, para, f"pca_matrix/DANv{v}/pca_aniso_matrix_x4.pth",
                                nb=nb)
    return out


OFFICIAL = _table()


def release_name(version: int, scale: int, setting: int) -> str:
    """``danv{version}_x{scale}_setting{setting}``: upstream's checkpoint file stem."""
    return f"danv{version}_x{scale}_setting{setting}"


def official(version: int, scale: int, setting: int) -> Official:
    """The official configuration, or an InputError naming the ones that exist."""
    try:
        return OFFICIAL[version, scale, setting]
    except KeyError:
        have = ", ".join(f"x{s} setting {t}" for (v, s, t) in sorted(OFFICIAL) if v == version)
        raise InputError(f"DANv{version} has no official x{scale} setting {setting} "
                         f"configuration (it has {have}): pick -O setting=1 or 2 "
                         "accordingly") from None


def find_checkpoint(path: str | Path | None, cfg: Official) -> Path:
    """Resolve ``--weights`` (a file, or a folder laid out like upstream) for ``cfg``.

    A folder is searched for ``danv1_x4_setting1.pth`` (or ``.pt``/``.safetensors``) in
    itself, ``DANv1/`` and ``checkpoints/DANv1/``, where upstream's test ymls expect it.
    Without a path the file fetched by ``bsrbench weights get`` is used.

    Raises:
        WeightsError: nothing found; the message names the file and where upstream
            publishes it.
    """
    from bsrbench.releases import find_release_weights

    where = (f"the checkpoint {cfg.name}.pth from the Google Drive / BaiduYun links in the "
             f"README of {DAN_PAGE}")
    sub = f"DANv{cfg.version}"
    return find_release_weights(
        path, cfg.name,
        needs=f"danv{cfg.version} x{cfg.scale} setting {cfg.setting} needs {where}",
        folders=("", sub, f"checkpoints/{sub}"), stems=(cfg.name,),
        missing=f"no {cfg.name}.pth in {path} (nor in {sub}/ under it): get {where}",
        pass_hint=f"{cfg.name}.pth")


def _cached(name: str) -> Path | None:
    from bsrbench.releases import cached_file

    return cached_file(name)


def weights_available(scale: int, version: int, setting: int = 1) -> bool:
    """True when ``bsrbench weights get`` has cached the default (setting 1) checkpoint."""
    cfg = OFFICIAL.get((version, scale, setting))
    return cfg is not None and _cached(cfg.name) is not None
