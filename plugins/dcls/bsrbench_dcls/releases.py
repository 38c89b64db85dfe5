"""DCLS's releases for ``bsrbench weights``: the checkpoints (unpinned) and the PCA files.

The checkpoints are on the Google Drive folder the README of megvii-research/DCLS-SR
links; nobody published their hashes, so they are "unpinned" (``bsrbench weights get``
needs ``--url`` plus ``--sha256`` or ``--trust-on-first-use``). The PCA matrices (which
the DCLS network accepts but never uses) are in the repository, MIT-licensed, pinned by
git blob id and sha256 computed from byte-identical copies (reference bundle,
``dcls/official``).
"""

from __future__ import annotations

from typing import Any

from bsrbench_dcls.configs import DCLS_COMMIT, DCLS_PAGE, DCLS_REPO, OFFICIAL

__all__ = ["releases"]

LICENSE = "MIT (megvii-research/DCLS-SR LICENSE)"
# path in the repository -> (git blob id, sha256, size in bytes)
PCA_FILES = {
    "pca_matrix/DCLS/pca_matrix.pth": (
        "69b7995e6beba91908ddf00332452aa4d990fd97",
        "d9437eaf6b55a819797184998bdaeab81d42d91737a6bff8d29da230affa60ce", 17971),
    "pca_matrix/DCLS/pca_aniso_matrix_x2.pth": (
        "afe8a3af1a4c72ee3ba15c669aff98b8cbeebab6",
        "0eceb41f99e96335016db3898687d75a0da8485da425cf7334b7c47e221a4e93", 5170),
    "pca_matrix/DCLS/pca_aniso_matrix_x4.pth": (
        "972dca10427746642c102f0eb130258e4f3bdae2",
        "f3645e84a601e9ffed2f301e8d37a3676c8b03e89c79bd3e445f4fec5ebd0f62", 58354),
}


def releases() -> list[Any]:
    """ReleaseSpecs of every official DCLS checkpoint and PCA matrix."""
    from bsrbench.releases import ReleaseSpec
    from bsrbench.releases.known import raw_github_url

    out = [ReleaseSpec(
        name=cfg.name, method="dcls", scale=cfg.scale, setting=f"setting{cfg.setting}",
        filename=cfg.filename, source=f"{DCLS_PAGE} (README: Google Drive)", license=LICENSE,
    ) for cfg in OFFICIAL.values()]
    for path, (blob, sha, size) in PCA_FILES.items():
        stem = path.rsplit("/", 1)[1][:-4]
        out.append(ReleaseSpec(
            name=f"dcls_{stem}", method="dcls", scale=2 if stem.endswith("x2") else 4,
            setting="setting2" if "aniso" in stem else "setting1", filename=f"{stem}.pth",
            source=f"https://github.com/{DCLS_REPO}", license=LICENSE,
            url=raw_github_url(DCLS_REPO, DCLS_COMMIT, path), size=size, repository=DCLS_REPO,
            commit=DCLS_COMMIT, path=path, git_blob=blob, sha256=sha))
    return out
