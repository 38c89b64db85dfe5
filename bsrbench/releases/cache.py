"""The weights cache: where fetched releases live and what was recorded about them.

Layout: ``<cache>/<method>/<upstream file name>``, so one method's files sit together as
upstream ships them (``--weights <cache>/ikc`` is IKC's official layout), plus a record
``<file name>.release.json`` beside each file, written only after the file passed its
check. The record holds the release name, the hashes seen and how the file was accepted
(``pinned``, ``sha256`` given by the user, or ``trust-on-first-use``), so later checks
hold the file to the same hash even for releases nobody pinned.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bsrbench.errors import WeightsError

__all__ = ["RECORD_SUFFIX", "cache_root", "cached_file", "read_record", "record_path",
           "recorded_sha256", "records", "write_record"]

RECORD_SUFFIX = ".release.json"


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The weights cache: ``cache_dir``, else ``$BSRBENCH_CACHE/weights``, else
    ``$XDG_CACHE_HOME/bsrbench/weights`` (``~/.cache/bsrbench/weights``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("BSRBENCH_CACHE"):
        return Path(os.environ["BSRBENCH_CACHE"]) / "weights"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bsrbench" / "weights"


def record_path(path: Path) -> Path:
    """The record beside a cached file."""
    return path.with_name(path.name + RECORD_SUFFIX)


def read_record(path: Path) -> dict[str, Any] | None:
    """The record of cached file ``path``, or None when there is none."""
    rec = record_path(path)
    if not rec.is_file():
        return None
    try:
        record = json.loads(rec.read_text())
    except ValueError as exc:
        raise WeightsError(f"{rec} is not valid JSON ({exc}): delete it and the file beside "
                           "it, then fetch the release again") from None
    if not isinstance(record, dict) or not isinstance(record.get("name"), str):
        raise WeightsError(f"{rec} is not a release record: delete it and the file beside it, "
                           "then fetch the release again")
    return record


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write the record of cached file ``path`` atomically (temporary file, then rename)."""
    rec = record_path(path)
    tmp = rec.with_name(rec.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, rec)


def records(cache_dir: str | Path | None = None) -> Iterator[tuple[Path, dict[str, Any]]]:
    """``(file, record)`` of every cached release (readable records only)."""
    root = cache_root(cache_dir)
    if not root.is_dir():
        return
    for rec in sorted(root.glob(f"*/*{RECORD_SUFFIX}")):
        path = rec.with_name(rec.name[: -len(RECORD_SUFFIX)])
        try:
            record = read_record(path)
        except WeightsError:
            continue
        if record is not None:
            yield path, record


def cached_file(name: str, cache_dir: str | Path | None = None) -> Path | None:
    """The cached file of release ``name`` (fetched and checked), or None.

    Cheap: it does not re-hash the file (``bsrbench weights verify`` does); loaders pass
    :func:`recorded_sha256` to the weights reader, which checks the hash on load.
    """
    for path, record in records(cache_dir):
        if record["name"] == name and path.is_file():
            return path
    return None


def recorded_sha256(path: str | Path) -> str | None:
    """The sha256 recorded when a cached release file was accepted, or None elsewhere."""
    try:
        record = read_record(Path(path))
    except WeightsError:
        return None
    value = record.get("sha256") if record else None
    return value if isinstance(value, str) else None
