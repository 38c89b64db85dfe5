"""Official weights releases: a catalogue, a verified download cache, and checks.

``bsrbench weights list|get|verify`` (:func:`weights_command`) is the user-facing side;
plugins add their releases through the ``bsrbench_releases`` hook and find fetched files
with :func:`cached_file`. Nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

from bsrbench.releases.cache import cache_root, cached_file, recorded_sha256
from bsrbench.releases.catalogue import catalogue, lookup
from bsrbench.releases.fetch import DEFAULT_TIMEOUT, Verified, fetch, verify_files
from bsrbench.releases.spec import ReleaseSpec, file_hashes, git_blob_id

__all__ = [
    "DEFAULT_TIMEOUT",
    "ReleaseSpec",
    "Verified",
    "cache_root",
    "cached_file",
    "catalogue",
    "fetch",
    "file_hashes",
    "get",
    "git_blob_id",
    "lookup",
    "recorded_sha256",
    "verify",
    "verify_files",
    "weights_command",
]


def get(name: str, **kwargs: object) -> Path:
    """Fetch release ``name`` of the full catalogue; ``kwargs`` as :func:`fetch`."""
    return fetch(lookup(name, catalogue()), **kwargs)  # type: ignore[arg-type]


def verify(path: str | Path | None = None, cache_dir: str | Path | None = None
           ) -> list[Verified]:
    """Check ``path`` (a file or folder) or, without one, every cached release."""
    return verify_files([] if path is None else [Path(path)], catalogue(), cache_dir)


def weights_command():
    """The ``bsrbench weights`` click group (``list``, ``get``, ``verify``)."""
    from bsrbench.releases.command import weights_command as build

    return build()
