"""Releases the core lists itself until the ikc and fkp plugins declare theirs.

Every pin below was checked: the IKC blob ids are those the official repository stores at
the commit (the Predictor, Corrector and PCA files are verified against byte-identical
copies in the reference bundle by ``tests/releases``); the FKP files' blob ids, sha256 and
sizes were computed from byte-identical copies of ``data/pretrained_models/`` at the commit.
"""

from __future__ import annotations

from bsrbench.releases.spec import ReleaseSpec

__all__ = ["CORE_RELEASES", "raw_github_url"]

IKC_REPO = "yuanjunchai/IKC"
IKC_COMMIT = "2a846cf1194cd9bace08973d55ecd8fd3179fe48"
FKP_REPO = "JingyunLiang/FKP"
FKP_COMMIT = "127c12103ebbfca7b4a6cf4f03c0c44dd24c10bb"


def raw_github_url(repository: str, commit: str, path: str) -> str:
    """The raw-file URL of ``path`` in ``repository`` at ``commit``."""
    return f"https://raw.githubusercontent.com/{repository}/{commit}/{path}"


def _git(name: str, method: str, scale: int, setting: str, repository: str, commit: str,
         path: str, blob: str, license: str, sha256: str | None = None,
         size: int | None = None) -> ReleaseSpec:
    return ReleaseSpec(
        name=name, method=method, scale=scale, setting=setting,
        filename=path.rsplit("/", 1)[-1], source=f"https://github.com/{repository}",
        license=license, url=raw_github_url(repository, commit, path), size=size,
        repository=repository, commit=commit, path=path, git_blob=blob, sha256=sha256)


_IKC_LICENSE = "none stated (no licence file in yuanjunchai/IKC)"
_FKP_LICENSE = "Apache-2.0"

CORE_RELEASES: tuple[ReleaseSpec, ...] = (
    _git("ikc_sftmd_x4", "ikc", 4, "gaussian8", IKC_REPO, IKC_COMMIT,
         "checkpoints/SFTMD_latest_G.pth", "38b4893f83b01d15eb6f7ece40f4a5898c72d9cd",
         _IKC_LICENSE),
    _git("ikc_predictor_x4", "ikc", 4, "gaussian8", IKC_REPO, IKC_COMMIT,
         "checkpoints/Predictor_latest_G.pth", "650a2a2589ea48c005bcd55f49e5033ba8728d61",
         _IKC_LICENSE, "76dab4120c53e849afa8ccf2e37ee354ff230ed5a5d9e47736ad29881d497a33",
         1725043),
    _git("ikc_corrector_x4", "ikc", 4, "gaussian8", IKC_REPO, IKC_COMMIT,
         "checkpoints/Corrector_latest_G.pth", "9a6e0cf02fc8dd0eab865e0217bec6551982cc0b",
         _IKC_LICENSE, "2b498926fbec6fe84a21124a7d359fc1bbdb1cb179e97a90636bd119d0fecd93",
         2603691),
    _git("ikc_pca", "ikc", 4, "gaussian8", IKC_REPO, IKC_COMMIT,
         "codes/pca_matrix.pth", "bae7398bcdda59a65afea3da45164d932c761d01",
         _IKC_LICENSE, "0352064a3fc86bf037f336af4a0bb81d3412f26f3522c7c7fa27c96e25375b36",
         17983),
    _git("fkp_x2", "fkp", 2, "kernel prior", FKP_REPO, FKP_COMMIT,
         "data/pretrained_models/FKP_x2.pt", "67c3fbadc46e6ef64ae885f8da1850bbc7b59161",
         _FKP_LICENSE, "6e361944816c35b8e8ed62772b3bad37c3fbaf2f1cb3976ffbcbe64789b3d794",
         203225),
    _git("fkp_x3", "fkp", 3, "kernel prior", FKP_REPO, FKP_COMMIT,
         "data/pretrained_models/FKP_x3.pt", "0fa1969ad984193d0693af0acb63e4c4fc9571db",
         _FKP_LICENSE, "6b06812400da0bd90e2584fac98031261001907c11a51be3b4692e2fd1bae27d",
         441881),
    _git("fkp_x4", "fkp", 4, "kernel prior", FKP_REPO, FKP_COMMIT,
         "data/pretrained_models/FKP_x4.pt", "a1c84d4d61d88f12a0d735adc0f4f7d69d02b97e",
         _FKP_LICENSE, "ec52371cba7a8bdad6e1ac21cce9a55773cbb3356de29bf001353fac338a268e",
         832153),
    _git("fkp_usrnet_tiny", "fkp", 4, "non-blind", FKP_REPO, FKP_COMMIT,
         "data/pretrained_models/usrnet_tiny.pth", "4f3faa246533b045031f0b7df5a43dd4b752d94a",
         _FKP_LICENSE, "d82929fc053d6bbe181adba9e2be3d23548eeca8b7b4232eb122f020352295cf",
         2371002),
)
