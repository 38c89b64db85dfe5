"""What a known release is: :class:`ReleaseSpec`, and the hashes that pin one.

A release kept in a git repository is pinned by repository, commit, path and git blob id
(the hash git itself stores, so anyone can check it against the repository without
downloading it) and, where known, by sha256. A release on a drive whose hash nobody
published is "unpinned": :func:`bsrbench.releases.get` refuses it unless the user gives
the expected sha256 or asks to trust the first download.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from bsrbench.errors import PluginError

__all__ = ["ReleaseSpec", "file_hashes", "git_blob_id"]

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ReleaseSpec:
    """One officially released weights file."""

    name: str  # catalogue name, also the cache file stem: "ikc_sftmd_x4", "danv1_x4_setting1"
    method: str  # the bsrbench method (or estimator/model) that uses it
    scale: int  # SR factor it was trained for
    setting: str  # which degradation setting: "gaussian8", "setting1", "setting2", ...
    filename: str  # file name as upstream ships it (kept in the cache)
    source: str  # where a person finds it (repository or README with the drive links)
    license: str  # licence of the file as stated upstream ("none stated" when none is)
    url: str | None = None  # direct download URL; None when only a page links it
    size: int | None = None  # bytes, when known exactly
    repository: str | None = None  # "owner/name" of the git repository holding it
    commit: str | None = None  # full commit id of that repository
    path: str | None = None  # path of the file inside the repository at that commit
    git_blob: str | None = None  # git blob id of the file at that commit (40 hex)
    sha256: str | None = None  # sha256 of the file (64 hex)

    def __post_init__(self) -> None:
        if self.git_blob is not None and not _HEX40.match(self.git_blob):
            raise PluginError(f"release {self.name!r}: git_blob must be 40 lowercase hex digits")
        if self.sha256 is not None and not _HEX64.match(self.sha256):
            raise PluginError(f"release {self.name!r}: sha256 must be 64 lowercase hex digits")
        if self.git_blob is not None and not (self.repository and self.commit and self.path):
            raise PluginError(f"release {self.name!r}: a git blob pin needs repository, "
                              "commit and path")

    @property
    def pinned(self) -> bool:
        """True when a published hash (git blob id or sha256) identifies the file."""
        return self.git_blob is not None or self.sha256 is not None

    @property
    def pin(self) -> str:
        """One line saying how the file is pinned, for listings."""
        if not self.pinned:
            return "unpinned"
        parts = []
        if self.git_blob:
            parts.append(f"{self.repository}@{self.commit[:12]}:{self.path} "  # type: ignore[index]
                         f"blob {self.git_blob[:12]}")
        if self.sha256:
            parts.append(f"sha256 {self.sha256[:16]}")
        return "; ".join(parts)


def git_blob_id(data_or_path: bytes | str | Path) -> str:
    """The git blob id of a file's bytes: sha1 of ``b"blob <size>\\0" + bytes``."""
    return file_hashes(data_or_path)[0]


def file_hashes(data_or_path: bytes | str | Path) -> tuple[str, str]:
    """Return ``(git blob id, sha256)`` of bytes or of a file (read in 1 MiB chunks)."""
    if isinstance(data_or_path, bytes):
        size, chunks = len(data_or_path), iter([data_or_path])
        handle = None
    else:
        path = Path(data_or_path)
        size = path.stat().st_size
        handle = open(path, "rb")  # noqa: SIM115 (closed below)
        chunks = iter(lambda: handle.read(1 << 20), b"")
    sha1 = hashlib.sha1(f"blob {size}\0".encode())
    sha256 = hashlib.sha256()
    try:
        for chunk in chunks:
            sha1.update(chunk)
            sha256.update(chunk)
    finally:
        if handle is not None:
            handle.close()
    return sha1.hexdigest(), sha256.hexdigest()
