"""The weights cache: where fetched releases live and what was recorded about them.

Layout: ``<cache>/<release name>/<upstream file name>`` plus ``release.json`` beside it,
written only after the file passed its check. The record holds the hashes seen and how
the file was accepted (``pinned``, ``sha256`` given by the user, or
``trust-on-first-use``), so later checks compare against the same hash even for releases
nobody pinned.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bsrbench.errors import WeightsError

__all__ = ["RECORD", "cache_root", "cached_file", "read_record", "recorded_sha256",
           "write_record"]

RECORD = "release.json"


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The weights cache: ``cache_dir``, else ``$BSRBENCH_CACHE/weights``, else
    ``$XDG_CACHE_HOME/bsrbench/weights`` (``~/.cache/bsrbench/weights``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("BSRBENCH_CACHE"):
        return Path(os.environ["BSRBENCH_CACHE"]) / "weights"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bsrbench" / "weights"


def read_record(folder: Path) -> dict[str, Any] | None:
    """The ``release.json`` of a cached release folder, or None when there is none."""
    path = folder / RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except ValueError as exc:
        raise WeightsError(f"{path} is not valid JSON ({exc}): delete the folder and "
                           "fetch the release again") from None
    if not isinstance(record, dict) or not isinstance(record.get("filename"), str):
        raise WeightsError(f"{path} is not a release record: delete the folder and fetch "
                           "the release again")
    return record


def write_record(folder: Path, record: dict[str, Any]) -> None:
    """Write ``release.json`` atomically (temporary file, then rename)."""
    tmp = folder / (RECORD + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / RECORD)


def cached_file(name: str, cache_dir: str | Path | None = None) -> Path | None:
    """The cached file of release ``name`` (fetched and checked), or None.

    Cheap: it does not re-hash the file (``bsrbench weights verify`` does); loaders pass
    :func:`recorded_sha256` to the weights reader, which checks the hash on load.
    """
    folder = cache_root(cache_dir) / name
    try:
        record = read_record(folder)
    except WeightsError:
        return None
    if record is None:
        return None
    path = folder / record["filename"]
    return path if path.is_file() else None


def recorded_sha256(path: str | Path) -> str | None:
    """The sha256 recorded when a cached release file was accepted, or None elsewhere."""
    path = Path(path)
    try:
        record = read_record(path.parent)
    except WeightsError:
        return None
    if record is None or record.get("filename") != path.name:
        return None
    value = record.get("sha256")
    return value if isinstance(value, str) else None
