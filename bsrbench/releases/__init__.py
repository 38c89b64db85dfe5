"""Official weights releases: a catalogue, a verified download cache, and checks.

``bsrbench weights list|get|verify`` (:mod:`bsrbench.cli.weights`) is the user-facing side;
plugins add their releases through the ``bsrbench_releases`` hook and find fetched files
with :func:`cached_file`. Nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    "find_release_weights",
    "get",
    "git_blob_id",
    "lookup",
    "read_checkpoint",
    "recorded_sha256",
    "verify",
    "verify_files",
]


def get(name: str, *, sha256: str | None = None, trust_on_first_use: bool = False,
        cache_dir: str | Path | None = None, url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT, quiet: bool = False) -> Path:
    """Fetch release ``name`` of the full catalogue into the cache (see :func:`fetch`)."""
    return fetch(lookup(name, catalogue()), sha256=sha256,
                 trust_on_first_use=trust_on_first_use, cache_dir=cache_dir, url=url,
                 timeout=timeout, quiet=quiet)


def verify(path: str | Path | None = None, cache_dir: str | Path | None = None
           ) -> list[Verified]:
    """Check ``path`` (a file or folder) or, without one, every cached release."""
    return verify_files([] if path is None else [Path(path)], catalogue(), cache_dir)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A released checkpoint's state dict, read without unpickling code
    (:func:`bsrbench.weights.load_state_dict`), hash-checked against the record of the
    weights cache when it came from there, with a ``DataParallel`` ``module.`` prefix on
    every key removed (as upstream training scripts save them)."""
    from bsrbench.weights import load_state_dict

    state = load_state_dict(path, sha256=recorded_sha256(path))
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors")


def find_release_weights(path: str | Path | None, name: str, *, needs: str,
                         folders: tuple[str, ...], stems: tuple[str, ...], missing: str,
                         pass_hint: str) -> Path:
    """Resolve a method's ``--weights`` for the released checkpoint of release ``name``.

    ``None``: the file ``bsrbench weights get NAME`` cached, else an error saying ``needs``
    (which file, where upstream publishes it). A file: itself. The release name: its
    cached file. A folder: the first ``<folder>/<stem><suffix>`` found (``folders``
    relative to it, "" for itself; suffixes ``.pth``, ``.pt``, ``.safetensors``), else the
    ``missing`` message. ``pass_hint`` ends the error for a path that does not exist.

    Raises:
        WeightsError: nothing found; every message is one line.
    """
    from bsrbench.errors import WeightsError

    if path is None:
        cached = cached_file(name)
        if cached is not None:
            return cached
        raise WeightsError(f"{needs}: pass --weights FILE_OR_DIR (or `bsrbench weights get "
                           f"{name}`)")
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists() and str(path) == name:  # a release name
        cached = cached_file(name)
        if cached is None:
            raise WeightsError(f"release {path} is not in the weights cache: run `bsrbench "
                               f"weights get {path}` first")
        return cached
    if path.is_dir():
        for folder in folders:
            for stem in stems:
                for suffix in CHECKPOINT_SUFFIXES:
                    if (path / folder / f"{stem}{suffix}").is_file():
                        return path / folder / f"{stem}{suffix}"
        raise WeightsError(missing)
    raise WeightsError(f"weights path {path} does not exist: pass {pass_hint} or its folder")
