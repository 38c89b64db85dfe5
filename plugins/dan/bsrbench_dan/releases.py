"""DAN's releases for ``bsrbench weights``: the checkpoints (unpinned) and the PCA files.

The checkpoints live on the Google Drive / BaiduYun folders the README of greatlog/DAN
links; nobody published their hashes, so they are listed "unpinned" and ``bsrbench weights
get`` needs ``--url`` plus ``--sha256`` or ``--trust-on-first-use``. The PCA matrices are
in the repository and pinned by git blob id and sha256, computed from byte-identical
copies (reference bundle, ``dan/official``). The repository states no licence.
"""

from __future__ import annotations

from typing import Any

from bsrbench_dan.configs import DAN_COMMIT, DAN_PAGE, DAN_REPO, OFFICIAL

__all__ = ["PCA_FILES", "releases"]

LICENSE = "none stated (no licence file in greatlog/DAN)"
# path in the repository -> (git blob id, sha256, size in bytes)
PCA_FILES = {
    "pca_matrix/DANv1/pca_matrix.pth": (
        "69b7995e6beba91908ddf00332452aa4d990fd97",
        "d9437eaf6b55a819797184998bdaeab81d42d91737a6bff8d29da230affa60ce", 17971),
    "pca_matrix/DANv1/pca_aniso_matrix_x2.pth": (
        "afe8a3af1a4c72ee3ba15c669aff98b8cbeebab6",
        "0eceb41f99e96335016db3898687d75a0da8485da425cf7334b7c47e221a4e93", 5170),
    "pca_matrix/DANv1/pca_aniso_matrix_x4.pth": (
        "69b7995e6beba91908ddf00332452aa4d990fd97",
        "d9437eaf6b55a819797184998bdaeab81d42d91737a6bff8d29da230affa60ce", 17971),
    "pca_matrix/DANv2/pca_matrix.pth": (
        "69b7995e6beba91908ddf00332452aa4d990fd97",
        "d9437eaf6b55a819797184998bdaeab81d42d91737a6bff8d29da230affa60ce", 17971),
    "pca_matrix/DANv2/pca_aniso_matrix_x2.pth": (
        "afe8a3af1a4c72ee3ba15c669aff98b8cbeebab6",
        "0eceb41f99e96335016db3898687d75a0da8485da425cf7334b7c47e221a4e93", 5170),
    "pca_matrix/DANv2/pca_aniso_matrix_x4.pth": (
        "972dca10427746642c102f0eb130258e4f3bdae2",
        "f3645e84a601e9ffed2f301e8d37a3676c8b03e89c79bd3e445f4fec5ebd0f62", 58354),
}


def releases() -> list[Any]:
    """ReleaseSpecs of every official DAN checkpoint and PCA matrix."""
    from bsrbench.releases import ReleaseSpec
    from bsrbench.releases.known import raw_github_url

    out = [ReleaseSpec(
        name=cfg.name, method=f"danv{cfg.version}", scale=cfg.scale,
        setting=f"setting{cfg.setting}", filename=f"{cfg.name}.pth",
        source=f"{DAN_PAGE} (README: Google Drive / BaiduYun)", license=LICENSE,
    ) for cfg in OFFICIAL.values()]
    for path, (blob, sha, size) in PCA_FILES.items():
        version, stem = path.split("/")[1].lower(), path.rsplit("/", 1)[1][:-4]
        out.append(ReleaseSpec(
            name=f"{version}_{stem}", method=version, scale=2 if stem.endswith("x2") else 4,
            setting="setting2" if "aniso" in stem else "setting1", filename=f"{stem}.pth",
            source=f"https://github.com/{DAN_REPO}", license=LICENSE,
            url=raw_github_url(DAN_REPO, DAN_COMMIT, path), size=size, repository=DAN_REPO,
            commit=DAN_COMMIT, path=path, git_blob=blob, sha256=sha))
    return out
